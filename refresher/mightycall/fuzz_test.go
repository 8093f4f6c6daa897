package mightycall_test

import (
	"testing"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall"
)

// FuzzParseTokenResponse: never panics; a parsed token always has an access
// token and a lifetime within (0, 24h].
func FuzzParseTokenResponse(f *testing.F) {
	f.Add([]byte(`{"access_token":"a","token_type":"bearer","expires_in":86400,"refresh_token":"r"}`))
	f.Add([]byte(`{"access_token":"a","expires_in":"3600"}`))
	f.Add([]byte(`{"access_token":"a","expires_in":-1}`))
	f.Add([]byte(`{"access_token":"a","expires_in":1e308}`))
	f.Add([]byte(`<html><body>502 Bad Gateway</body></html>`))
	f.Add([]byte(`{"error":"invalid_grant"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := mightycall.ParseTokenResponse(b)
		if err != nil {
			return
		}
		if tok.AccessToken.IsZero() || tok.Lifetime <= 0 || tok.Lifetime > 24*time.Hour || tok.TokenType == "" {
			t.Fatalf("bad token from %q: lifetime %v type %q", b, tok.Lifetime, tok.TokenType)
		}
	})
}
