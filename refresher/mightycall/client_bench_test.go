package mightycall_test

import (
	"testing"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall"
)

func BenchmarkParseTokenResponse(b *testing.B) {
	for _, bc := range []struct {
		name string
		body []byte
	}{
		{"number", []byte(`{"access_token":"YWNjZXNzLXRva2VuLWJlbmNoLTAxMjM0NTY3ODlhYmNkZWY","token_type":"bearer",` +
			`"expires_in":86400,"refresh_token":"cmVmcmVzaC10b2tlbi1iZW5jaC0wMTIzNDU2Nzg5YWJjZGVm"}`)},
		{"string_expiry", []byte(`{"access_token":"YWNjZXNzLXRva2VuLWJlbmNoLTAxMjM0NTY3ODlhYmNkZWY","token_type":"bearer",` +
			`"expires_in":"86400","refresh_token":"cmVmcmVzaC10b2tlbi1iZW5jaC0wMTIzNDU2Nzg5YWJjZGVm",".issued":"x"}`)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.body)))
			for b.Loop() {
				if _, err := mightycall.ParseTokenResponse(bc.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
