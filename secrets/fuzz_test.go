package secrets

import (
	"bytes"
	"testing"
)

// FuzzParseDocument: parsing never panics, and whatever parses encodes to a
// document that parses back to the same encoding (nothing lost or invented).
func FuzzParseDocument(f *testing.F) {
	f.Add([]byte(`{"api_key":"a","user_key":"u"}`))
	f.Add([]byte(`{"api_key":"a","user_key":"u","access_token":"t","expires_at":"2026-12-04T10:00:00Z","x":{"y":[1,2]}}`))
	f.Add([]byte(`{"platform":"classic","base_url":"https://api.mightycall.com/v4","credentials_secret_id":"c"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"expires_at":"tomorrow"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDocument(b)
		if err != nil {
			return
		}
		out, err := d.Encode()
		if err != nil {
			if len(b) > MaxDocumentBytes/2 {
				return // near the size limit the encoding may grow past it
			}
			t.Fatalf("encode of a parsed document failed: %v", err)
		}
		d2, err := ParseDocument(out)
		if err != nil {
			t.Fatalf("re-parse of %q failed: %v", out, err)
		}
		out2, err := d2.Encode()
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("encoding not stable:\n%s\n%s", out, out2)
		}
		_ = d.CheckKeys()
	})
}
