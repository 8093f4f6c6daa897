package refresher_test

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
)

// benchDoc is a token secret as the refresher leaves it after a refresh.
func benchDoc(b *testing.B, expires time.Time) secrets.Document {
	b.Helper()
	raw := `{"api_key":"bench-api-key-0123456789","user_key":"bench-user-key-0123456789",` +
		`"access_token":"YWNjZXNzLXRva2VuLWJlbmNoLTAxMjM0NTY3ODlhYmNkZWY","token_type":"bearer",` +
		`"refresh_token":"cmVmcmVzaC10b2tlbi1iZW5jaC0wMTIzNDU2Nzg5YWJjZGVm",` +
		`"expires_at":"` + expires.UTC().Format(time.RFC3339) + `","issued_at":"2026-01-01T00:00:00Z",` +
		`"grant":"refresh_token","owner":"team-a"}`
	doc, err := secrets.ParseDocument([]byte(raw))
	if err != nil {
		b.Fatal(err)
	}
	return doc
}

func BenchmarkDecide(b *testing.B) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, bc := range []struct {
		name    string
		expires time.Time
	}{
		{"fresh", now.Add(20 * time.Hour)},
		{"due", now.Add(time.Hour)}, // within the 6h margin: formats its reason
	} {
		b.Run(bc.name, func(b *testing.B) {
			doc := benchDoc(b, bc.expires)
			b.ReportAllocs()
			for b.Loop() {
				_ = refresher.Decide(doc, now, refresher.DefaultMargin, false)
			}
		})
	}
}

func BenchmarkParseEvent(b *testing.B) {
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = "mightycall/account-" + strconv.Itoa(i)
	}
	many, _ := json.Marshal(map[string]any{"secret_ids": ids, "force": true})
	for _, bc := range []struct {
		name  string
		event []byte
	}{
		{"scheduled", []byte(`{"version":"0","id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa","detail-type":"Scheduled Event",` +
			`"source":"aws.events","account":"123456789012","time":"2026-01-01T00:00:00Z","region":"us-east-1",` +
			`"resources":["arn:aws:events:us-east-1:123456789012:rule/refresh"],"detail":{}}`)},
		{"empty", []byte(`{}`)},
		{"rotation", []byte(`{"Step":"createSecret","SecretId":"arn:aws:secretsmanager:us-east-1:123456789012:secret:mightycall/acct-AbCdEf",` +
			`"ClientRequestToken":"6f1b3c2e-8a7d-4e5f-9b0a-1c2d3e4f5a6b","RotationToken":"0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"}`)},
		{"refresh_1000_ids", many},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.event)))
			for b.Loop() {
				if _, err := refresher.ParseEvent(bc.event); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
