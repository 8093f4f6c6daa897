package secrets_test

import (
	"testing"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
)

// benchSecret is a token secret as the refresher leaves it, with one field
// the product does not know (kept verbatim).
var benchSecret = []byte(`{"api_key":"bench-api-key-0123456789","user_key":"bench-user-key-0123456789",` +
	`"access_token":"YWNjZXNzLXRva2VuLWJlbmNoLTAxMjM0NTY3ODlhYmNkZWY","token_type":"bearer",` +
	`"refresh_token":"cmVmcmVzaC10b2tlbi1iZW5jaC0wMTIzNDU2Nzg5YWJjZGVm",` +
	`"expires_at":"2026-01-02T00:00:00Z","issued_at":"2026-01-01T00:00:00Z",` +
	`"grant":"refresh_token","owner":"team-a"}`)

func BenchmarkParseDocument(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchSecret)))
	for b.Loop() {
		if _, err := secrets.ParseDocument(benchSecret); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDocumentEncode(b *testing.B) {
	doc, err := secrets.ParseDocument(benchSecret)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchSecret)))
	for b.Loop() {
		if _, err := doc.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}
