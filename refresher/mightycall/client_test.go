package mightycall_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall/emulator"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/sensitive"
)

const (
	apiKey  = "wire-api-key"
	userKey = "wire-user-key"
)

type captured struct {
	method, path, contentType, apiKey string
	form                              url.Values
	rawBody                           string
}

// recorder answers every token request with a fixed response and records it.
func recorder(t *testing.T, status int, body string, header map[string]string) (*httptest.Server, func() []captured) {
	var mu sync.Mutex
	var reqs []captured
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(b))
		mu.Lock()
		reqs = append(reqs, captured{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("x-api-key"), form, string(b)})
		mu.Unlock()
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []captured { mu.Lock(); defer mu.Unlock(); return append([]captured(nil), reqs...) }
}

const okBody = `{"access_token":"AT1","token_type":"bearer","expires_in":86400,"refresh_token":"RT1","extra":"ignored"}`

func TestWireFormatClientCredentials(t *testing.T) {
	srv, reqs := recorder(t, 200, okBody, nil)
	c := &mightycall.Client{}
	tok, n, err := c.Exchange(context.Background(), mightycall.Request{BaseURL: srv.URL + "/v4", APIKey: sensitive.New(apiKey),
		Grant: mightycall.ClientCredentials, ClientSecret: sensitive.New(userKey)})
	if err != nil || n != 1 {
		t.Fatal(err, n)
	}
	r := reqs()[0]
	if r.method != "POST" || r.path != "/v4/auth/token" || r.contentType != "application/x-www-form-urlencoded" || r.apiKey != apiKey {
		t.Fatalf("request: %+v", r)
	}
	want := url.Values{"grant_type": {"client_credentials"}, "client_id": {apiKey}, "client_secret": {userKey}}
	if r.form.Encode() != want.Encode() {
		t.Fatalf("form %q, want exactly %q", r.form.Encode(), want.Encode())
	}
	if tok.AccessToken.Reveal() != "AT1" || tok.RefreshToken.Reveal() != "RT1" || tok.Lifetime != 24*time.Hour || tok.TokenType != "bearer" {
		t.Fatalf("token %+v", tok)
	}
}

func TestWireFormatRefreshCarriesOnlyTwoFields(t *testing.T) {
	srv, reqs := recorder(t, 200, okBody, nil)
	c := &mightycall.Client{}
	_, _, err := c.Exchange(context.Background(), mightycall.Request{BaseURL: srv.URL + "/v4", APIKey: sensitive.New(apiKey),
		Grant: mightycall.RefreshToken, RefreshToken: sensitive.New("RT0"), ClientSecret: sensitive.New(userKey)})
	if err != nil {
		t.Fatal(err)
	}
	r := reqs()[0]
	want := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"RT0"}}
	if r.form.Encode() != want.Encode() || r.apiKey != apiKey || strings.Contains(r.rawBody, userKey) {
		t.Fatalf("refresh body %q (x-api-key %q)", r.rawBody, r.apiKey)
	}
}

func TestAgainstEmulatorBothGrantsAndPlatforms(t *testing.T) {
	mc := emulator.New(emulator.Options{})
	mc.AddAccount(emulator.Account{APIKey: apiKey, UserKey: userKey})
	mc.AddAccount(emulator.Account{APIKey: "classic-key", UserKey: "classic-user", Extension: "101", Platform: "classic"})
	srv := httptest.NewServer(mc)
	defer srv.Close()
	c := &mightycall.Client{}
	ctx := context.Background()
	base := srv.URL + "/v4"
	tok, _, err := c.Exchange(ctx, mightycall.Request{BaseURL: base, APIKey: sensitive.New(apiKey), Grant: mightycall.ClientCredentials, ClientSecret: sensitive.New(userKey)})
	if err != nil || !mc.TokenValid(tok.AccessToken.Reveal()) {
		t.Fatalf("client_credentials: %v", err)
	}
	tok2, _, err := c.Exchange(ctx, mightycall.Request{BaseURL: base, APIKey: sensitive.New(apiKey), Grant: mightycall.RefreshToken, RefreshToken: tok.RefreshToken})
	if err != nil || !mc.TokenValid(tok2.AccessToken.Reveal()) {
		t.Fatalf("refresh_token: %v", err)
	}
	// A used refresh token is rejected: Rejected() tells the caller to use the keys.
	_, n, err := c.Exchange(ctx, mightycall.Request{BaseURL: base, APIKey: sensitive.New(apiKey), Grant: mightycall.RefreshToken, RefreshToken: tok.RefreshToken})
	var me *mightycall.Error
	if !errors.As(err, &me) || me.Code != "invalid_grant" || !me.Rejected() || me.Temporary || n != 1 {
		t.Fatalf("replayed refresh token: %v (attempts %d)", err, n)
	}
	// Classic: the extension stands in for the User key.
	if _, _, err := c.Exchange(ctx, mightycall.Request{BaseURL: base, APIKey: sensitive.New("classic-key"), Grant: mightycall.ClientCredentials, ClientSecret: sensitive.New("101")}); err != nil {
		t.Fatalf("classic extension: %v", err)
	}
	// Bad keys: invalid_client, once, no retry.
	_, n, err = c.Exchange(ctx, mightycall.Request{BaseURL: base, APIKey: sensitive.New(apiKey), Grant: mightycall.ClientCredentials, ClientSecret: sensitive.New("nope")})
	if !errors.As(err, &me) || me.Code != "invalid_client" || n != 1 || strings.Contains(err.Error(), "nope") {
		t.Fatalf("bad keys: %v (attempts %d)", err, n)
	}
}

func TestTransientFailuresRetriedHonouringRetryAfter(t *testing.T) {
	mc := emulator.New(emulator.Options{})
	mc.AddAccount(emulator.Account{APIKey: apiKey, UserKey: userKey})
	srv := httptest.NewServer(mc)
	defer srv.Close()
	var slept []time.Duration
	var mu sync.Mutex
	c := &mightycall.Client{Sleep: func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		slept = append(slept, d)
		return nil
	}}
	mc.InjectFault(emulator.Fault{Status: 503, RetryAfter: "7"})
	mc.InjectFault(emulator.Fault{Status: 429})
	mc.InjectFault(emulator.Fault{Status: 502})
	tok, n, err := c.Exchange(context.Background(), mightycall.Request{BaseURL: srv.URL + "/v4", APIKey: sensitive.New(apiKey), Grant: mightycall.ClientCredentials, ClientSecret: sensitive.New(userKey)})
	if err != nil || n != 4 || tok.AccessToken.IsZero() {
		t.Fatalf("err %v attempts %d", err, n)
	}
	if len(slept) != 3 || slept[0] != 7*time.Second || slept[1] <= 0 || slept[1] > mightycall.DefaultMaxDelay {
		t.Fatalf("waits %v: want Retry-After 7s first, then jittered backoff", slept)
	}
}

func TestRetryStopsBeforeTheDeadline(t *testing.T) {
	srv, reqs := recorder(t, 503, "<html>down</html>", map[string]string{"Retry-After": "30", "Content-Type": "text/html"})
	c := &mightycall.Client{Sleep: func(ctx context.Context, d time.Duration) error {
		t.Fatal("must not wait past the deadline")
		return nil
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, n, err := c.Exchange(ctx, mightycall.Request{BaseURL: srv.URL, APIKey: sensitive.New(apiKey), Grant: mightycall.ClientCredentials, ClientSecret: sensitive.New(userKey)})
	var me *mightycall.Error
	if !errors.As(err, &me) || me.StatusCode != 503 || !me.Temporary || n != 1 || len(reqs()) != 1 {
		t.Fatalf("err %v attempts %d", err, n)
	}
	if !strings.Contains(err.Error(), "non-JSON") || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("error should say what came back and why it stopped: %v", err)
	}
}

func TestParseTokenResponseTolerance(t *testing.T) {
	cases := []struct {
		body    string
		life    time.Duration
		refresh string
		wantErr string
	}{
		{`{"access_token":"a","expires_in":3600,"refresh_token":"r"}`, time.Hour, "r", ""},
		{`{"access_token":"a"}`, 24 * time.Hour, "", ""},
		{`{"access_token":"a","expires_in":0}`, 24 * time.Hour, "", ""},
		{`{"access_token":"a","expires_in":-5}`, 24 * time.Hour, "", ""},
		{`{"access_token":"a","expires_in":"7200"}`, 2 * time.Hour, "", ""},
		{`{"access_token":"a","expires_in":"soon"}`, 24 * time.Hour, "", ""},
		{`{"access_token":"a","expires_in":1e12}`, 24 * time.Hour, "", ""},
		{`{"access_token":"a","expires_in":0.4}`, 24 * time.Hour, "", ""},
		{`{"access_token":"a","expires_in":60}`, time.Minute, "", ""},
		{`{"access_token":"a","expires_in":null,"refresh_token":null}`, 24 * time.Hour, "", ""},
		{`{"token_type":"bearer"}`, 0, "", "no access_token"},
		{`{"access_token":5}`, 0, "", `"access_token" is not a string`},
		{`<html>oops</html>`, 0, "", "not a JSON object"},
		{``, 0, "", "not a JSON object"},
		{`{"access_token":"a"`, 0, "", "not a JSON object"},
	}
	for _, c := range cases {
		tok, err := mightycall.ParseTokenResponse([]byte(c.body))
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: err %v, want %q", c.body, err, c.wantErr)
			}
			continue
		}
		if err != nil || tok.Lifetime != c.life || tok.RefreshToken.Reveal() != c.refresh || tok.TokenType != "bearer" {
			t.Errorf("%s: %+v %v", c.body, tok, err)
		}
	}
}

func TestOversizedResponseRejected(t *testing.T) {
	srv, _ := recorder(t, 200, `{"access_token":"a","pad":"`+strings.Repeat("x", 100<<10)+`"}`, nil)
	c := &mightycall.Client{}
	_, _, err := c.Exchange(context.Background(), mightycall.Request{BaseURL: srv.URL, APIKey: sensitive.New(apiKey), Grant: mightycall.ClientCredentials, ClientSecret: sensitive.New(userKey)})
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err %v", err)
	}
}

func TestCheckBaseURL(t *testing.T) {
	ok := []string{"https://ccapi.mightycall.com/v4", "https://api.mightycall.com/v4/", "http://127.0.0.1:8080/v4", "http://localhost/v4", "http://[::1]:9/v4", "http://127.9.9.9/v4"}
	for _, u := range ok {
		if _, err := mightycall.CheckBaseURL(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	bad := []string{"http://ccapi.mightycall.com/v4", "ftp://x/v4", "ccapi.mightycall.com/v4", "https://user:pw@x/v4", "http://10.0.0.1/v4", "http://localhost.evil.com/v4", "https://x/v4?k=1"}
	for _, u := range bad {
		if _, err := mightycall.CheckBaseURL(u); err == nil {
			t.Errorf("%s accepted", u)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("%s: error shows the password: %v", u, err)
		}
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	var leaked sync.Map
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store("hit", r.Header.Get("x-api-key"))
		_, _ = io.WriteString(w, okBody)
	}))
	defer other.Close()
	for _, status := range []int{301, 302, 307, 308} {
		srv, _ := recorder(t, status, "", map[string]string{"Location": other.URL + "/steal"})
		c := &mightycall.Client{HTTPClient: &http.Client{}}
		_, n, err := c.Exchange(context.Background(), mightycall.Request{BaseURL: srv.URL, APIKey: sensitive.New(apiKey), Grant: mightycall.ClientCredentials, ClientSecret: sensitive.New(userKey)})
		var me *mightycall.Error
		if !errors.As(err, &me) || me.StatusCode != status || me.Temporary || n != 1 || !strings.Contains(err.Error(), "redirect") {
			t.Fatalf("%d: err %v attempts %d", status, err, n)
		}
		if _, hit := leaked.Load("hit"); hit {
			t.Fatalf("%d: the redirect target received the request", status)
		}
		if err := c.CheckToken(context.Background(), srv.URL, sensitive.New(apiKey), sensitive.New("tok")); err == nil {
			t.Fatalf("%d: token check followed a redirect", status)
		}
	}
}

func TestErrorDescriptionThatEchoesTheRequestIsWithheld(t *testing.T) {
	const key = "UK+with/odd=chars-123"
	for _, desc := range []string{
		"bad form: client_id=x&client_secret=" + url.QueryEscape(key),
		"unknown secret " + key[:10],
		"unknown secret " + url.QueryEscape(key),
	} {
		body := `{"error":"invalid_client","error_description":` + strconvQuote(desc) + `}`
		srv, _ := recorder(t, 400, body, map[string]string{"Content-Type": "application/json"})
		c := &mightycall.Client{}
		_, _, err := c.Exchange(context.Background(), mightycall.Request{BaseURL: srv.URL, APIKey: sensitive.New(apiKey), Grant: mightycall.ClientCredentials, ClientSecret: sensitive.New(key)})
		if err == nil || strings.Contains(err.Error(), key[:8]) || strings.Contains(err.Error(), url.QueryEscape(key)[:8]) || !strings.Contains(err.Error(), "invalid_client") {
			t.Fatalf("%q: %v", desc, err)
		}
	}
	// A plain description is kept.
	srv, _ := recorder(t, 400, `{"error":"invalid_client","error_description":"The API key is disabled"}`, nil)
	_, _, err := (&mightycall.Client{}).Exchange(context.Background(), mightycall.Request{BaseURL: srv.URL, APIKey: sensitive.New(apiKey), Grant: mightycall.ClientCredentials, ClientSecret: sensitive.New(key)})
	if err == nil || !strings.Contains(err.Error(), "The API key is disabled") {
		t.Fatalf("plain description lost: %v", err)
	}
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }
