package secrets

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/sensitive"
)

func TestParseEncodeRoundTripKeepsUnknownFields(t *testing.T) {
	in := `{"api_key":"AK","user_key":"UK","platform":"classic","team":{"name":"ops","n":[1,2]},"note":"keep me",
	        "access_token":"AT","token_type":"bearer","refresh_token":"RT","expires_at":"2026-12-04T10:00:00+02:00",
	        "issued_at":"2026-12-03T08:00:00Z","grant":"refresh_token"}`
	d, err := ParseDocument([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if d.APIKey.Reveal() != "AK" || d.UserKey.Reveal() != "UK" || d.Platform != "classic" || d.AccessToken.Reveal() != "AT" ||
		d.RefreshToken.Reveal() != "RT" || d.Grant != GrantRefreshToken || d.TokenType != "bearer" {
		t.Fatalf("fields not parsed: %+v", d)
	}
	if want := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC); !d.ExpiresAt.Equal(want) || d.ExpiresAt.Location() != time.UTC {
		t.Fatalf("expires_at = %v, want %v in UTC", d.ExpiresAt, want)
	}
	out, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got["note"] != "keep me" || got["team"].(map[string]any)["name"] != "ops" {
		t.Fatalf("unknown fields lost: %s", out)
	}
	if got["expires_at"] != "2026-12-04T08:00:00Z" {
		t.Fatalf("expires_at not UTC RFC 3339: %v", got["expires_at"])
	}
	again, err := ParseDocument(out)
	if err != nil {
		t.Fatal(err)
	}
	out2, _ := again.Encode()
	if string(out2) != string(out) {
		t.Fatalf("encode is not stable:\n%s\n%s", out, out2)
	}
}

func TestWithTokenKeepsUserFields(t *testing.T) {
	d, err := ParseDocument([]byte(`{"api_key":"AK","user_key":"UK","x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	n := d.WithToken(Token{AccessToken: sensitive.New("AT"), TokenType: "bearer", RefreshToken: sensitive.New("RT"),
		ExpiresAt: now.Add(24 * time.Hour), IssuedAt: now, Grant: GrantClientCredentials})
	if !n.SameUserFields(d) {
		t.Fatal("WithToken changed a user field")
	}
	if d.AccessToken.Reveal() != "" {
		t.Fatal("WithToken modified its receiver")
	}
	out, _ := n.Encode()
	want := `{"api_key":"AK","user_key":"UK","access_token":"AT","token_type":"bearer","refresh_token":"RT",` +
		`"expires_at":"2026-12-04T12:00:00Z","issued_at":"2026-12-03T12:00:00Z","grant":"client_credentials","x":1}`
	if string(out) != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
	changed, _ := ParseDocument([]byte(`{"api_key":"AK","user_key":"UK2","x":1}`))
	if changed.SameUserFields(d) {
		t.Fatal("a changed user_key must not count as the same user fields")
	}
	extra, _ := ParseDocument([]byte(`{"api_key":"AK","user_key":"UK","x":2}`))
	if extra.SameUserFields(d) {
		t.Fatal("a changed unknown field must not count as the same user fields")
	}
}

func TestParseRejectsBadInputNamingTheField(t *testing.T) {
	const secretValue = "SUPERSECRETVALUE"
	cases := map[string]struct{ in, want string }{
		"empty":            {``, "empty"},
		"not object":       {`["a"]`, "not a JSON object"},
		"string":           {`"` + secretValue + `"`, "not a JSON object"},
		"truncated":        {`{"api_key":"` + secretValue, "invalid JSON"},
		"number key":       {`{"api_key":123,"user_key":"u"}`, `"api_key": must be a string`},
		"object user_key":  {`{"api_key":"a","user_key":{"v":"` + secretValue + `"}}`, `"user_key": must be a string`},
		"bad expires_at":   {`{"api_key":"a","user_key":"u","expires_at":"tomorrow"}`, `"expires_at": must be an RFC 3339`},
		"unknown platform": {`{"api_key":"a","user_key":"u","platform":"mars"}`, `"platform"`},
		"unknown grant":    {`{"api_key":"a","user_key":"u","grant":"password"}`, `"grant"`},
		"oversized":        {`{"x":"` + strings.Repeat("a", MaxDocumentBytes) + `"}`, "more than"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseDocument([]byte(c.in))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err does not wrap ErrMalformed: %v", err)
			}
			if strings.Contains(err.Error(), secretValue) {
				t.Fatalf("error quotes the secret's value: %v", err)
			}
		})
	}
}

func TestCheckKeys(t *testing.T) {
	cases := map[string]string{
		`{"api_key":"a","user_key":"u"}`:                   "",
		`{"user_key":"u"}`:                                 `"api_key": is required`,
		`{"api_key":"a"}`:                                  `"user_key": is required`,
		`{"credentials_secret_id":"creds"}`:                "",
		`{"credentials_secret_id":"creds","api_key":"a"}`:  "",
		`{"credentials_secret_id":"creds","user_key":"u"}`: `"user_key": must not be in a token secret`,
		`{"api_key":null,"user_key":"u"}`:                  `"api_key": is required`,
	}
	for in, want := range cases {
		d, err := ParseDocument([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		err = d.CheckKeys()
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: err = %v, want %q", in, err, want)
		}
	}
}

func TestVersionIDForIsStableDistinctAndUUIDShaped(t *testing.T) {
	a := VersionIDFor([]byte("v1"), []byte("body"))
	if a != VersionIDFor([]byte("v1"), []byte("body")) {
		t.Fatal("not stable")
	}
	if a == VersionIDFor([]byte("v1"), []byte("body2")) || a == VersionIDFor([]byte("v1b"), []byte("ody")) {
		t.Fatal("different writes share an id")
	}
	if len(a) != 36 || strings.Count(a, "-") != 4 || a[14] != '5' {
		t.Fatalf("not a UUID shape: %s", a)
	}
}
