package emulator_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall/emulator"
)

const (
	apiKey  = "ak-alpha-0123456789"
	userKey = "uk-alpha-secret-98765"
	apiKeyB = "ak-bravo-0123456789"
	userKeB = "uk-bravo-secret-98765"
	formCT  = "application/x-www-form-urlencoded"
)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 25, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	em    *emulator.Server
	srv   *httptest.Server
	clock *clock
	base  string // http://127.0.0.1:PORT/v4
}

func newFixture(t *testing.T, opts emulator.Options) *fixture {
	t.Helper()
	c := newClock()
	if opts.Now == nil {
		opts.Now = c.Now
	}
	em := emulator.New(opts)
	em.AddAccount(emulator.Account{APIKey: apiKey, UserKey: userKey})
	em.AddAccount(emulator.Account{APIKey: apiKeyB, UserKey: userKeB})
	srv := httptest.NewServer(em)
	t.Cleanup(srv.Close)
	return &fixture{em: em, srv: srv, clock: c, base: srv.URL + emulator.BasePath}
}

type reply struct {
	status int
	header http.Header
	body   []byte
	fields map[string]json.RawMessage // nil unless the body is a JSON object
}

func (r reply) str(field string) string {
	var s string
	if raw, ok := r.fields[field]; ok {
		json.Unmarshal(raw, &s)
	}
	return s
}

func (r reply) has(field string) bool { _, ok := r.fields[field]; return ok }

func do(t *testing.T, client *http.Client, req *http.Request) reply {
	t.Helper()
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	r := reply{status: resp.StatusCode, header: resp.Header, body: b}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) == nil {
		r.fields = m
	}
	return r
}

// tokenRequest builds a token request; an empty key or content type leaves
// the header out.
func tokenRequest(t *testing.T, base, method, key, ct, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, base+"/auth/token", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	return req
}

func ccBody(id, secret string) string {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}.Encode()
}

func rtBody(tok string) string {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok}}.Encode()
}

func (f *fixture) token(t *testing.T, key, body string) reply {
	t.Helper()
	return do(t, nil, tokenRequest(t, f.base, http.MethodPost, key, formCT, body))
}

// login does a client_credentials exchange for account A and requires 200.
func (f *fixture) login(t *testing.T, key, secret string) (access, refresh string) {
	t.Helper()
	r := f.token(t, key, ccBody(key, secret))
	if r.status != http.StatusOK {
		t.Fatalf("client_credentials: status %d body %s", r.status, r.body)
	}
	return r.str("access_token"), r.str("refresh_token")
}

func (f *fixture) profile(t *testing.T, key, authz string) reply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.base+"/api/profile", nil)
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	return do(t, nil, req)
}

func wantError(t *testing.T, r reply, status int, code string) {
	t.Helper()
	if r.status != status || r.str("error") != code {
		t.Fatalf("got status %d body %s; want %d with error %q", r.status, r.body, status, code)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type %q", ct)
	}
	if r.has("access_token") || r.has("refresh_token") {
		t.Fatalf("error body carries a token: %s", r.body)
	}
}

var tokenShape = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

func TestClientCredentialsSuccess(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	r := f.token(t, apiKey, ccBody(apiKey, userKey))
	if r.status != http.StatusOK {
		t.Fatalf("status %d body %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	access, refresh := r.str("access_token"), r.str("refresh_token")
	if r.str("token_type") != "bearer" || string(r.fields["expires_in"]) != "86400" {
		t.Errorf("body %s", r.body)
	}
	if len(r.fields) != 4 {
		t.Errorf("want exactly 4 fields, got %s", r.body)
	}
	want := fmt.Sprintf(`{"access_token":%q,"token_type":"bearer","expires_in":86400,"refresh_token":%q}`, access, refresh)
	if string(r.body) != want {
		t.Errorf("body\n%s\nwant\n%s", r.body, want)
	}
	for _, tok := range []string{access, refresh} {
		if !tokenShape.MatchString(tok) {
			t.Errorf("token %q is not 32 random bytes in base64url", tok)
		}
		if strings.Contains(tok, apiKey) || strings.Contains(tok, userKey) {
			t.Errorf("token contains a key")
		}
	}
	if access == refresh {
		t.Error("access and refresh token are equal")
	}
	if !f.em.TokenValid(access) || !f.em.RefreshTokenValid(refresh) {
		t.Error("issued tokens not valid")
	}
	if f.em.TokenValid(refresh) || f.em.RefreshTokenValid(access) {
		t.Error("access and refresh tokens are interchangeable")
	}
	// A second exchange issues different tokens and keeps the first valid.
	a2, r2 := f.login(t, apiKey, userKey)
	if a2 == access || r2 == refresh {
		t.Error("tokens repeat")
	}
	if !f.em.TokenValid(access) || !f.em.TokenValid(a2) {
		t.Error("a new token invalidated the previous one")
	}

	st := f.em.Stats()
	if st.TokenRequests != 2 || st.ClientCredentials != 2 || st.Success != 2 || st.RefreshToken != 0 || len(st.Errors) != 0 {
		t.Errorf("stats %+v", st)
	}
	reqs := f.em.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests logged", len(reqs))
	}
	q := reqs[0]
	if q.Method != "POST" || q.Path != "/v4/auth/token" || q.ContentType != formCT || q.Grant != "client_credentials" ||
		q.Status != 200 || q.Fault || q.Header.Get("X-Api-Key") != apiKey ||
		q.Form.Get("client_id") != apiKey || q.Body != ccBody(apiKey, userKey) || q.Form.Get("client_secret") != userKey || !q.Time.Equal(f.clock.Now()) {
		t.Errorf("request record %+v", q)
	}
	// Requests returns a copy.
	q.Header.Set("X-Api-Key", "changed")
	q.Form.Set("client_id", "changed")
	if again := f.em.Requests()[0]; again.Header.Get("X-Api-Key") != apiKey || again.Form.Get("client_id") != apiKey {
		t.Error("Requests does not return a copy")
	}
}

func TestClientCredentialsWireRules(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	good := ccBody(apiKey, userKey)
	cases := []struct {
		name         string
		method, key  string
		ct, body     string
		status       int
		code         string
		wantAllowHdr bool
	}{
		{"missing x-api-key", "POST", "", formCT, good, 401, "invalid_client", false},
		{"unknown x-api-key", "POST", "ak-unknown", formCT, ccBody("ak-unknown", userKey), 401, "invalid_client", false},
		{"x-api-key of another account", "POST", apiKeyB, formCT, good, 400, "invalid_client", false},
		{"json content type", "POST", apiKey, "application/json", good, 400, "invalid_request", false},
		{"no content type", "POST", apiKey, "", good, 400, "invalid_request", false},
		{"multipart content type", "POST", apiKey, "multipart/form-data; boundary=x", good, 400, "invalid_request", false},
		{"GET", "GET", apiKey, formCT, good, 405, "invalid_request", true},
		{"client_id mismatch", "POST", apiKey, formCT, ccBody(apiKeyB, userKey), 400, "invalid_client", false},
		{"wrong user key", "POST", apiKey, formCT, ccBody(apiKey, userKeB), 400, "invalid_client", false},
		{"user key with different case", "POST", apiKey, formCT, ccBody(apiKey, strings.ToUpper(userKey)), 400, "invalid_client", false},
		{"missing client_secret", "POST", apiKey, formCT, "grant_type=client_credentials&client_id=" + apiKey, 400, "invalid_request", false},
		{"missing client_id", "POST", apiKey, formCT, "grant_type=client_credentials&client_secret=" + userKey, 400, "invalid_request", false},
		{"missing grant_type", "POST", apiKey, formCT, "client_id=" + apiKey + "&client_secret=" + userKey, 400, "invalid_request", false},
		{"unsupported grant", "POST", apiKey, formCT, "grant_type=password&username=a&password=b", 400, "unsupported_grant_type", false},
		{"repeated parameter", "POST", apiKey, formCT, good + "&client_secret=" + userKey, 400, "invalid_request", false},
		{"malformed form", "POST", apiKey, formCT, "grant_type=client_credentials&%zz", 400, "invalid_request", false},
		{"params in query only", "POST", apiKey, formCT, "", 400, "invalid_request", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, nil, tokenRequest(t, f.base, c.method, c.key, c.ct, c.body))
			wantError(t, r, c.status, c.code)
			if c.wantAllowHdr && r.header.Get("Allow") != "POST" {
				t.Errorf("Allow %q", r.header.Get("Allow"))
			}
		})
	}
	st := f.em.Stats()
	if st.Success != 0 {
		t.Errorf("a bad request issued a token: %+v", st)
	}
	wantErrs := map[string]int{"invalid_client": 6, "invalid_request": 9, "unsupported_grant_type": 1, "method_not_allowed": 1}
	for k, v := range wantErrs {
		if st.Errors[k] != v {
			t.Errorf("Errors[%s] = %d, want %d (all %v)", k, st.Errors[k], v, st.Errors)
		}
	}

	// A charset parameter on the right media type is fine.
	r := do(t, nil, tokenRequest(t, f.base, "POST", apiKey, formCT+"; charset=UTF-8", good))
	if r.status != 200 {
		t.Errorf("with charset: %d %s", r.status, r.body)
	}
	// Unknown extra parameters are ignored on client_credentials (scope).
	r = f.token(t, apiKey, good+"&scope=all")
	if r.status != 200 {
		t.Errorf("with scope: %d %s", r.status, r.body)
	}
}

func TestExtensionOnlyOnClassic(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	f.em.AddAccount(emulator.Account{APIKey: "ak-cc", UserKey: "uk-cc", Extension: "101"})
	f.em.AddAccount(emulator.Account{APIKey: "ak-classic", UserKey: "uk-classic", Extension: "102", Platform: "classic"})
	f.em.AddAccount(emulator.Account{APIKey: "ak-classic-ext", Extension: "103", Platform: "classic"})

	wantError(t, f.token(t, "ak-cc", ccBody("ak-cc", "101")), 400, "invalid_client")
	f.login(t, "ak-cc", "uk-cc")
	f.login(t, "ak-classic", "102")
	f.login(t, "ak-classic", "uk-classic")
	wantError(t, f.token(t, "ak-classic", ccBody("ak-classic", "103")), 400, "invalid_client")
	f.login(t, "ak-classic-ext", "103")
	// No User key on that account: an empty secret is not a match.
	wantError(t, f.token(t, "ak-classic-ext", ccBody("ak-classic-ext", "")), 400, "invalid_request")
}

func TestRefreshGrant(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	access, refresh := f.login(t, apiKey, userKey)

	// Extra parameters are rejected and do not consume the token.
	for _, extra := range []string{"client_id=" + apiKey, "client_secret=" + userKey, "scope=x"} {
		wantError(t, f.token(t, apiKey, rtBody(refresh)+"&"+extra), 400, "invalid_request")
	}
	if !f.em.RefreshTokenValid(refresh) {
		t.Fatal("a rejected request consumed the refresh token")
	}
	wantError(t, f.token(t, apiKey, "grant_type=refresh_token"), 400, "invalid_request")
	wantError(t, f.token(t, apiKey, rtBody("no-such-token")), 400, "invalid_grant")
	wantError(t, f.token(t, apiKey, rtBody(access)), 400, "invalid_grant")
	wantError(t, do(t, nil, tokenRequest(t, f.base, "POST", "", formCT, rtBody(refresh))), 401, "invalid_client")
	wantError(t, do(t, nil, tokenRequest(t, f.base, "POST", apiKey, "application/json", rtBody(refresh))), 400, "invalid_request")
	if q := f.em.Requests()[len(f.em.Requests())-1]; q.Form != nil || q.Grant != "" || q.Body != rtBody(refresh) || q.ContentType != "application/json" {
		t.Errorf("record of a JSON-typed request %+v", q)
	}

	r := f.token(t, apiKey, rtBody(refresh))
	if r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	a2, r2 := r.str("access_token"), r.str("refresh_token")
	if !tokenShape.MatchString(a2) || !tokenShape.MatchString(r2) || a2 == access || r2 == refresh ||
		string(r.fields["expires_in"]) != "86400" || r.str("token_type") != "bearer" {
		t.Fatalf("refresh body %s", r.body)
	}
	if !f.em.TokenValid(access) || !f.em.TokenValid(a2) {
		t.Error("refresh invalidated an access token")
	}
	// Single-use: replay is rejected.
	if f.em.RefreshTokenValid(refresh) {
		t.Error("used refresh token still valid")
	}
	wantError(t, f.token(t, apiKey, rtBody(refresh)), 400, "invalid_grant")
	if !f.em.RefreshTokenValid(r2) {
		t.Fatal("new refresh token not valid")
	}

	// Another account's refresh token is rejected and not consumed.
	_, refreshB := f.login(t, apiKeyB, userKeB)
	wantError(t, f.token(t, apiKey, rtBody(refreshB)), 400, "invalid_grant")
	if !f.em.RefreshTokenValid(refreshB) {
		t.Error("foreign use consumed the refresh token")
	}

	// Refresh tokens live 30 days.
	f.clock.Advance(30*24*time.Hour - time.Second)
	if !f.em.RefreshTokenValid(r2) {
		t.Error("refresh token expired early")
	}
	f.clock.Advance(time.Second)
	if f.em.RefreshTokenValid(r2) {
		t.Error("refresh token outlived 30 days")
	}
	wantError(t, f.token(t, apiKey, rtBody(r2)), 400, "invalid_grant")

	st := f.em.Stats()
	if st.RefreshToken != 11 || st.ClientCredentials != 2 || st.Success != 3 || st.Errors["invalid_grant"] != 5 || st.Errors["invalid_request"] != 5 {
		t.Errorf("stats %+v", st)
	}
}

func TestRefreshTokenSingleUseUnderConcurrency(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	_, refresh := f.login(t, apiKey, userKey)
	const n = 16
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", f.base+"/auth/token", strings.NewReader(rtBody(refresh)))
			req.Header.Set("x-api-key", apiKey)
			req.Header.Set("Content-Type", formCT)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(statuses)
	ok := 0
	for s := range statuses {
		switch s {
		case 200:
			ok++
		case 400:
		default:
			t.Errorf("status %d", s)
		}
	}
	if ok != 1 {
		t.Errorf("%d concurrent refreshes with one token succeeded, want 1", ok)
	}
}

func TestReusableRefreshTokens(t *testing.T) {
	f := newFixture(t, emulator.Options{ReusableRefreshTokens: true})
	_, refresh := f.login(t, apiKey, userKey)
	seen := map[string]bool{}
	for i := range 3 {
		r := f.token(t, apiKey, rtBody(refresh))
		if r.status != 200 {
			t.Fatalf("refresh #%d: %d %s", i, r.status, r.body)
		}
		if seen[r.str("access_token")] || r.str("refresh_token") == "" {
			t.Fatalf("body %s", r.body)
		}
		seen[r.str("access_token")] = true
	}
	if !f.em.RefreshTokenValid(refresh) {
		t.Error("reusable refresh token invalid after use")
	}
	wantError(t, f.token(t, apiKeyB, rtBody(refresh)), 400, "invalid_grant")
}

func TestResponseOptions(t *testing.T) {
	t.Run("OmitExpiresIn", func(t *testing.T) {
		f := newFixture(t, emulator.Options{OmitExpiresIn: true})
		r := f.token(t, apiKey, ccBody(apiKey, userKey))
		if r.status != 200 || r.has("expires_in") || !r.has("refresh_token") {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if !f.em.TokenValid(r.str("access_token")) {
			t.Error("token not valid")
		}
	})
	t.Run("OmitRefreshToken", func(t *testing.T) {
		f := newFixture(t, emulator.Options{OmitRefreshToken: true})
		r := f.token(t, apiKey, ccBody(apiKey, userKey))
		if r.status != 200 || r.has("refresh_token") || !r.has("access_token") || string(r.fields["expires_in"]) != "86400" {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("TokenTTL", func(t *testing.T) {
		f := newFixture(t, emulator.Options{TokenTTL: 90 * time.Second})
		r := f.token(t, apiKey, ccBody(apiKey, userKey))
		if string(r.fields["expires_in"]) != "90" {
			t.Fatalf("body %s", r.body)
		}
		tok := r.str("access_token")
		f.clock.Advance(89 * time.Second)
		if !f.em.TokenValid(tok) {
			t.Error("expired early")
		}
		f.clock.Advance(time.Second)
		if f.em.TokenValid(tok) {
			t.Error("outlived its TTL")
		}
	})
	t.Run("DefaultTTL", func(t *testing.T) {
		f := newFixture(t, emulator.Options{})
		tok, _ := f.login(t, apiKey, userKey)
		f.clock.Advance(24*time.Hour - time.Nanosecond)
		if !f.em.TokenValid(tok) {
			t.Error("expired before 24h")
		}
		f.clock.Advance(time.Nanosecond)
		if f.em.TokenValid(tok) {
			t.Error("valid after 24h")
		}
	})
}

func TestProfile(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	access, _ := f.login(t, apiKey, userKey)
	accessB, _ := f.login(t, apiKeyB, userKeB)

	r := f.profile(t, apiKey, "Bearer "+access)
	var env struct {
		Data      map[string]any `json:"data"`
		IsSuccess *bool          `json:"isSuccess"`
	}
	if err := json.Unmarshal(r.body, &env); err != nil || r.status != 200 || env.IsSuccess == nil || !*env.IsSuccess || len(env.Data) == 0 {
		t.Fatalf("good token: %d %s", r.status, r.body)
	}
	if bytes.Contains(r.body, []byte(apiKey)) || bytes.Contains(r.body, []byte(userKey)) || bytes.Contains(r.body, []byte(access)) {
		t.Error("profile leaks a key or token")
	}
	if r := f.profile(t, apiKey, "bearer "+access); r.status != 200 {
		t.Errorf("lowercase scheme: %d", r.status)
	}

	unauthorized := func(name string, r reply) {
		t.Helper()
		var env struct {
			IsSuccess *bool          `json:"isSuccess"`
			Error     map[string]any `json:"error"`
		}
		if err := json.Unmarshal(r.body, &env); err != nil || r.status != 401 || env.IsSuccess == nil || *env.IsSuccess || env.Error == nil {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	unauthorized("foreign token", f.profile(t, apiKey, "Bearer "+accessB))
	unauthorized("no x-api-key", f.profile(t, "", "Bearer "+access))
	unauthorized("no Authorization", f.profile(t, apiKey, ""))
	unauthorized("Basic scheme", f.profile(t, apiKey, "Basic "+access))
	unauthorized("unknown token", f.profile(t, apiKey, "Bearer not-a-token"))
	unauthorized("bare token", f.profile(t, apiKey, access))

	f.clock.Advance(24 * time.Hour)
	unauthorized("expired token", f.profile(t, apiKey, "Bearer "+access))

	// ExpireAll with a fresh token.
	fresh, _ := f.login(t, apiKey, userKey)
	if r := f.profile(t, apiKey, "Bearer "+fresh); r.status != 200 {
		t.Fatalf("fresh token: %d", r.status)
	}
	f.em.ExpireAll()
	unauthorized("after ExpireAll", f.profile(t, apiKey, "Bearer "+fresh))
	if f.em.TokenValid(fresh) {
		t.Error("TokenValid after ExpireAll")
	}
	st := f.em.Stats()
	if st.ProfileOK != 3 || st.ProfileUnauthorized != 8 {
		t.Errorf("profile stats %+v", st)
	}
}

func TestPing(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	req, _ := http.NewRequest("GET", f.base+"/ping", nil)
	r := do(t, nil, req)
	if r.status != 200 || string(r.body) != `{"data":"pong","isSuccess":true}` || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	req, _ = http.NewRequest("POST", f.base+"/ping", nil)
	if r := do(t, nil, req); r.status != 405 {
		t.Errorf("POST ping: %d", r.status)
	}
	req, _ = http.NewRequest("GET", f.srv.URL+"/v4/nope", nil)
	if r := do(t, nil, req); r.status != 404 {
		t.Errorf("unknown route: %d", r.status)
	}
	if st := f.em.Stats(); st.TokenRequests != 0 {
		t.Errorf("ping counted as token request: %+v", st)
	}
}

func TestRemoveAndRegenerate(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	access, refresh := f.login(t, apiKey, userKey)

	f.em.RegenerateUserKey(apiKey, "uk-alpha-new")
	wantError(t, f.token(t, apiKey, ccBody(apiKey, userKey)), 400, "invalid_client")
	a2, _ := f.login(t, apiKey, "uk-alpha-new")
	if !f.em.TokenValid(access) || !f.em.RefreshTokenValid(refresh) {
		t.Error("regenerating the User key revoked issued tokens")
	}

	f.em.RemoveAccount(apiKey)
	wantError(t, f.token(t, apiKey, ccBody(apiKey, "uk-alpha-new")), 401, "invalid_client")
	wantError(t, f.token(t, apiKey, rtBody(refresh)), 401, "invalid_client")
	for _, tok := range []string{access, a2} {
		if f.em.TokenValid(tok) {
			t.Error("token of a removed account still valid")
		}
		if r := f.profile(t, apiKey, "Bearer "+tok); r.status != 401 {
			t.Errorf("profile with a removed account's token: %d", r.status)
		}
	}
	if f.em.RefreshTokenValid(refresh) {
		t.Error("refresh token of a removed account still valid")
	}
	// Re-adding the same API key does not bring old tokens back.
	f.em.AddAccount(emulator.Account{APIKey: apiKey, UserKey: userKey})
	if f.em.TokenValid(access) || f.em.RefreshTokenValid(refresh) {
		t.Error("old tokens revived")
	}
	f.login(t, apiKey, userKey)
	// The other account was not affected.
	f.login(t, apiKeyB, userKeB)
}

// ---- faults ----

func TestFaultStatus(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	f.em.InjectFault(emulator.Fault{Status: 503, RetryAfter: "7"})
	r := f.token(t, apiKey, ccBody(apiKey, userKey))
	if r.status != 503 || r.header.Get("Retry-After") != "7" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") ||
		!bytes.Contains(r.body, []byte("<html")) || r.fields != nil {
		t.Fatalf("503 fault: %d %v %s", r.status, r.header, r.body)
	}
	if st := f.em.Stats(); st.Success != 0 || st.Faults != 1 || st.TokenRequests != 1 {
		t.Errorf("a status fault issued a token or was not counted: %+v", st)
	}
	if q := f.em.Requests()[0]; !q.Fault || q.Status != 503 {
		t.Errorf("record %+v", q)
	}
	// Consumed: the next request is normal.
	f.login(t, apiKey, userKey)

	// 429 also gets the HTML page; other statuses use Body and guess its type.
	f.em.InjectFault(emulator.Fault{Status: 429})
	f.em.InjectFault(emulator.Fault{Status: 401, Body: `{"error":"invalid_client"}`})
	f.em.InjectFault(emulator.Fault{Status: 500, Body: "oops", ContentType: "text/x-custom"})
	f.em.InjectFault(emulator.Fault{Status: 400})
	if r := f.token(t, apiKey, ccBody(apiKey, userKey)); r.status != 429 || !bytes.Contains(r.body, []byte("429")) {
		t.Errorf("429: %d %s", r.status, r.body)
	}
	if r := f.token(t, apiKey, ccBody(apiKey, userKey)); r.status != 401 || r.str("error") != "invalid_client" ||
		r.header.Get("Content-Type") != "application/json" {
		t.Errorf("401: %d %s", r.status, r.body)
	}
	if r := f.token(t, apiKey, ccBody(apiKey, userKey)); r.status != 500 || string(r.body) != "oops" ||
		r.header.Get("Content-Type") != "text/x-custom" {
		t.Errorf("500: %d %s", r.status, r.body)
	}
	if r := f.token(t, apiKey, ccBody(apiKey, userKey)); r.status != 400 || len(r.body) != 0 {
		t.Errorf("400: %d %q", r.status, r.body)
	}
	if f.em.PendingFaults() != 0 {
		t.Error("faults left")
	}
}

func TestFaultCountGrantAndOrder(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	_, refresh := f.login(t, apiKey, userKey)

	f.em.InjectFault(emulator.Fault{Status: 502, Count: 2})
	for i := range 2 {
		if r := f.token(t, apiKey, ccBody(apiKey, userKey)); r.status != 502 {
			t.Fatalf("request %d: %d", i, r.status)
		}
	}
	f.login(t, apiKey, userKey)

	// Grant filter: a client_credentials request passes a refresh-only fault.
	f.em.InjectFault(emulator.Fault{Status: 500, Grant: "refresh_token"})
	f.login(t, apiKey, userKey)
	if f.em.PendingFaults() != 1 {
		t.Fatal("a non-matching request consumed the fault")
	}
	if r := f.token(t, apiKey, rtBody(refresh)); r.status != 500 {
		t.Fatalf("refresh under fault: %d", r.status)
	}
	if !f.em.RefreshTokenValid(refresh) {
		t.Error("a status fault consumed the refresh token")
	}
	if r := f.token(t, apiKey, rtBody(refresh)); r.status != 200 {
		t.Fatalf("refresh after fault: %d %s", r.status, r.body)
	}

	// FIFO among matching faults.
	f.em.InjectFault(emulator.Fault{Status: 429, RetryAfter: "1"})
	f.em.InjectFault(emulator.Fault{Status: 503, Grant: "client_credentials"})
	f.em.InjectFault(emulator.Fault{Status: 504})
	var got []int
	for range 4 {
		got = append(got, f.token(t, apiKey, ccBody(apiKey, userKey)).status)
	}
	if fmt.Sprint(got) != "[429 503 504 200]" {
		t.Errorf("order %v", got)
	}

	// ClearFaults.
	f.em.InjectFault(emulator.Fault{Status: 500, Count: 5})
	f.em.ClearFaults()
	f.login(t, apiKey, userKey)

	if st := f.em.Stats(); st.Faults != 6 {
		t.Errorf("Faults = %d, want 6", st.Faults)
	}
}

func TestFaultShapesSuccess(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	for _, c := range []struct {
		v    any
		want string
	}{{0, "0"}, {-5, "-5"}, {"86400", `"86400"`}, {"abc", `"abc"`}, {1e12, "1000000000000"}, {json.Number("1e12"), "1e12"}} {
		f.em.InjectFault(emulator.Fault{ExpiresIn: c.v})
		r := f.token(t, apiKey, ccBody(apiKey, userKey))
		if r.status != 200 || string(r.fields["expires_in"]) != c.want {
			t.Errorf("ExpiresIn %v: %d %s", c.v, r.status, r.body)
		}
		if !f.em.TokenValid(r.str("access_token")) || !f.em.RefreshTokenValid(r.str("refresh_token")) {
			t.Errorf("ExpiresIn %v: tokens not real", c.v)
		}
	}

	f.em.InjectFault(emulator.Fault{OmitAccessToken: true})
	before := f.em.Stats().Success
	r := f.token(t, apiKey, ccBody(apiKey, userKey))
	if r.status != 200 || r.has("access_token") || !r.has("refresh_token") {
		t.Errorf("OmitAccessToken: %s", r.body)
	}
	if f.em.Stats().Success != before+1 || !f.em.RefreshTokenValid(r.str("refresh_token")) {
		t.Error("OmitAccessToken did not issue a real token")
	}

	f.em.InjectFault(emulator.Fault{Truncate: true})
	r = f.token(t, apiKey, ccBody(apiKey, userKey))
	if r.status != 200 || json.Valid(r.body) || !bytes.HasPrefix(r.body, []byte(`{"access_token":"`)) || len(r.body) < 40 {
		t.Errorf("Truncate: %d %q", r.status, r.body)
	}
	if r.header.Get("Content-Type") != "application/json" {
		t.Errorf("Truncate Content-Type %q", r.header.Get("Content-Type"))
	}
	// The server holds the token whose response was cut.
	last := f.em.Requests()
	if q := last[len(last)-1]; !q.Fault || q.Status != 200 {
		t.Errorf("record %+v", q)
	}

	const size = 1 << 20
	f.em.InjectFault(emulator.Fault{OversizeBytes: size})
	r = f.token(t, apiKey, ccBody(apiKey, userKey))
	if r.status != 200 || len(r.body) != size || !json.Valid(r.body) || r.header.Get("Content-Length") != fmt.Sprint(size) {
		t.Fatalf("Oversize: %d len %d valid %v", r.status, len(r.body), json.Valid(r.body))
	}
	if !f.em.TokenValid(r.str("access_token")) {
		t.Error("Oversize: token not real")
	}

	f.em.InjectFault(emulator.Fault{OversizeBytes: size, Truncate: true})
	r = f.token(t, apiKey, ccBody(apiKey, userKey))
	if r.status != 200 || len(r.body) != size/2 || json.Valid(r.body) {
		t.Errorf("Oversize+Truncate: %d len %d", r.status, len(r.body))
	}

	// A shaping fault does not turn an error into a success.
	f.em.InjectFault(emulator.Fault{ExpiresIn: 5})
	wantError(t, f.token(t, apiKey, ccBody(apiKey, "wrong")), 400, "invalid_client")
}

func TestFaultReset(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	f.em.InjectFault(emulator.Fault{Reset: true})
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	req := tokenRequest(t, f.base, "POST", apiKey, formCT, ccBody(apiKey, userKey))
	resp, err := client.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("Reset: got a response %d", resp.StatusCode)
	}
	q := f.em.Requests()[0]
	if !q.Fault || q.Status != 0 {
		t.Errorf("record %+v", q)
	}
	if st := f.em.Stats(); st.Success != 0 || st.Faults != 1 {
		t.Errorf("stats %+v", st)
	}
	f.login(t, apiKey, userKey)
}

func TestFaultDelay(t *testing.T) {
	f := newFixture(t, emulator.Options{})
	const d = 50 * time.Millisecond
	f.em.InjectFault(emulator.Fault{Delay: d})
	start := time.Now()
	f.login(t, apiKey, userKey)
	if took := time.Since(start); took < d {
		t.Errorf("answered after %v, before the %v delay", took, d)
	}

	f.em.InjectFault(emulator.Fault{Delay: 20 * time.Millisecond, Status: 503})
	if r := f.token(t, apiKey, ccBody(apiKey, userKey)); r.status != 503 {
		t.Errorf("delay+status: %d", r.status)
	}
}

func TestFaultDelayEndsWhenClientGoesAway(t *testing.T) {
	em := emulator.New(emulator.Options{})
	em.AddAccount(emulator.Account{APIKey: apiKey, UserKey: userKey})
	srv := httptest.NewServer(em)
	em.InjectFault(emulator.Fault{Delay: time.Hour})

	client := &http.Client{Timeout: 100 * time.Millisecond, Transport: &http.Transport{}}
	req := tokenRequest(t, srv.URL+"/v4", "POST", apiKey, formCT, ccBody(apiKey, userKey))
	resp, err := client.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("expected a client timeout")
	}
	client.CloseIdleConnections()

	// httptest.Server.Close waits for every handler to return: it would hang
	// for the hour if the delay ignored the request context.
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("handler still sleeping after the client went away")
	}
	q := em.Requests()[0]
	if q.Status != 0 || !q.Fault {
		t.Errorf("record %+v", q)
	}
	if st := em.Stats(); st.Success != 0 {
		t.Errorf("a token was issued to a client that left: %+v", st)
	}
}

func TestFaultDelayInProcessContext(t *testing.T) {
	em := emulator.New(emulator.Options{})
	em.AddAccount(emulator.Account{APIKey: apiKey, UserKey: userKey})
	em.InjectFault(emulator.Fault{Delay: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, "POST", "/v4/auth/token", strings.NewReader(ccBody(apiKey, userKey)))
	req.Header.Set("x-api-key", apiKey)
	req.Header.Set("Content-Type", formCT)
	done := make(chan struct{})
	go func() {
		em.ServeHTTP(httptest.NewRecorder(), req)
		close(done)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("ServeHTTP did not return after the context was cancelled")
	}
}

func TestInvalidFaultPanics(t *testing.T) {
	for _, f := range []emulator.Fault{{Status: 42}, {Status: 600}, {Delay: -1}, {Count: -1}, {OversizeBytes: -1}, {RetryAfter: "1\r\nX: y"}, {ExpiresIn: func() {}}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("InjectFault(%+v) did not panic", f)
				}
			}()
			emulator.New(emulator.Options{}).InjectFault(f)
		}()
	}
}

func TestFaultJSON(t *testing.T) {
	in := emulator.Fault{Status: 503, RetryAfter: "3", Delay: 2 * time.Second, Grant: "refresh_token", Count: 2}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"Delay":"2s"`)) {
		t.Errorf("marshal: %s", b)
	}
	var out emulator.Fault
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out.Status != 503 || out.RetryAfter != "3" || out.Delay != 2*time.Second || out.Grant != "refresh_token" || out.Count != 2 || out.ExpiresIn != nil {
		t.Errorf("round trip: %+v", out)
	}
	if err := json.Unmarshal([]byte(`{"ExpiresIn":1e12,"Delay":"150ms"}`), &out); err != nil {
		t.Fatal(err)
	}
	if out.ExpiresIn != json.Number("1e12") || out.Delay != 150*time.Millisecond || out.Status != 0 {
		t.Errorf("decode: %+v", out)
	}
	for _, bad := range []string{`{"Delay":"soon"}`, `{"Delay":5}`, `{"Stauts":503}`} {
		if err := json.Unmarshal([]byte(bad), &out); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// ---- control API ----

func ctl(t *testing.T, f *fixture, method, path, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return do(t, nil, req)
}

func TestControlAPI(t *testing.T) {
	f := newFixture(t, emulator.Options{})

	if r := ctl(t, f, "POST", "/_emulator/accounts", `{"APIKey":"ak-ctl","UserKey":"uk-ctl"}`); r.status != 200 {
		t.Fatalf("add account: %d %s", r.status, r.body)
	}
	access, _ := f.login(t, "ak-ctl", "uk-ctl")
	if r := ctl(t, f, "POST", "/_emulator/accounts", `{"APIKey":"ak-cl","Extension":"205","Platform":"classic"}`); r.status != 200 {
		t.Fatalf("add classic account: %d %s", r.status, r.body)
	}
	f.login(t, "ak-cl", "205")
	for _, bad := range []string{`{"APIKey":""}`, `{"APIKey":"x"}`, `{"APIKey":"x","Extension":"1"}`,
		`{"APIKey":"x","UserKey":"y","Platform":"mars"}`, `{"APIKey":"x","UserKey":"y","Bogus":1}`, `not json`} {
		if r := ctl(t, f, "POST", "/_emulator/accounts", bad); r.status != 400 || r.str("error") == "" {
			t.Errorf("add %s: %d %s", bad, r.status, r.body)
		}
	}

	if r := ctl(t, f, "DELETE", "/_emulator/accounts/ak-ctl", ""); r.status != 200 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	wantError(t, f.token(t, "ak-ctl", ccBody("ak-ctl", "uk-ctl")), 401, "invalid_client")
	if f.em.TokenValid(access) {
		t.Error("token of deleted account valid")
	}
	if r := ctl(t, f, "DELETE", "/_emulator/accounts/ak-ctl", ""); r.status != 404 {
		t.Errorf("delete unknown: %d", r.status)
	}

	r := ctl(t, f, "POST", "/_emulator/faults", `{"Status":503,"RetryAfter":"1","Delay":"10ms","Count":2,"Grant":"client_credentials"}`)
	if r.status != 200 || string(r.fields["pending"]) != "2" {
		t.Fatalf("inject: %d %s", r.status, r.body)
	}
	for range 2 {
		if r := f.token(t, apiKey, ccBody(apiKey, userKey)); r.status != 503 || r.header.Get("Retry-After") != "1" {
			t.Errorf("under injected fault: %d", r.status)
		}
	}
	f.login(t, apiKey, userKey)

	if r := ctl(t, f, "POST", "/_emulator/faults", `{"ExpiresIn":1e12}`); r.status != 200 {
		t.Fatal(r.status)
	}
	if r := f.token(t, apiKey, ccBody(apiKey, userKey)); string(r.fields["expires_in"]) != "1e12" {
		t.Errorf("ExpiresIn via control API: %s", r.body)
	}
	for _, bad := range []string{`{"Status":42}`, `{"Delay":"x"}`, `{"Unknown":true}`, `[]`} {
		if r := ctl(t, f, "POST", "/_emulator/faults", bad); r.status != 400 {
			t.Errorf("fault %s: %d", bad, r.status)
		}
	}
	ctl(t, f, "POST", "/_emulator/faults", `{"Status":500,"Count":3}`)
	if r := ctl(t, f, "DELETE", "/_emulator/faults", ""); r.status != 200 {
		t.Fatal(r.status)
	}
	if f.em.PendingFaults() != 0 {
		t.Error("faults not cleared")
	}

	tok, _ := f.login(t, apiKey, userKey)
	if r := ctl(t, f, "POST", "/_emulator/expire", ""); r.status != 200 {
		t.Fatal(r.status)
	}
	if f.em.TokenValid(tok) {
		t.Error("expire did not expire")
	}

	r = ctl(t, f, "GET", "/_emulator/stats", "")
	var st emulator.Stats
	if err := json.Unmarshal(r.body, &st); err != nil || r.status != 200 {
		t.Fatalf("stats: %d %s", r.status, r.body)
	}
	if want := f.em.Stats(); fmt.Sprint(st) != fmt.Sprint(want) {
		t.Errorf("stats over HTTP %+v, want %+v", st, want)
	}
	if st.Faults != 3 || st.Success != 5 || st.Errors["invalid_client"] != 1 {
		t.Errorf("stats %+v", st)
	}
	if r := ctl(t, f, "GET", "/_emulator/expire", ""); r.status == 200 {
		t.Error("GET on a POST control route succeeded")
	}
}

func TestLogNeverShowsSecrets(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	f := newFixture(t, emulator.Options{Logf: func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, fmt.Sprintf(format, args...))
	}})
	access, refresh := f.login(t, apiKey, userKey)
	f.token(t, apiKey, rtBody(refresh))
	f.token(t, apiKey, rtBody(refresh))
	f.profile(t, apiKey, "Bearer "+access)
	f.token(t, apiKey, "grant_type="+userKey)
	do(t, nil, mustReq(t, "GET", f.srv.URL+"/v4/"+userKey, nil))
	ctl(t, f, "DELETE", "/_emulator/accounts/"+apiKeyB, "")

	mu.Lock()
	defer mu.Unlock()
	all := strings.Join(lines, "\n")
	for _, secret := range []string{apiKey, userKey, apiKeyB, access, refresh} {
		if strings.Contains(all, secret) {
			t.Errorf("log shows a secret:\n%s", all)
		}
	}
	for _, want := range []string{
		"POST /v4/auth/token grant=client_credentials status=200",
		"POST /v4/auth/token grant=refresh_token status=400 (invalid_grant)",
		"GET /v4/api/profile status=200",
		"DELETE /_emulator/accounts/{apiKey} status=200",
		"GET /v4/* status=404",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("log lacks %q:\n%s", want, all)
		}
	}
}

func mustReq(t *testing.T, method, u string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// ---- the command ----

func buildCommand(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "mightycall-emulator")
	cmd := exec.Command(gobin, "build", "-o", bin,
		"github.com/mightycall-token-refresher/mightycall-token-refresher/cmd/mightycall-emulator")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startCommand runs the emulator and returns its base URL once it listens.
func startCommand(t *testing.T, bin string, env []string, args ...string) (cmd *exec.Cmd, base string, stderr *syncBuffer, exited chan error) {
	t.Helper()
	cmd = exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stderr = &syncBuffer{}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited = make(chan error, 1)
	lineCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lineCh <- sc.Text()
		} else {
			lineCh <- ""
		}
		io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	select {
	case line := <-lineCh:
		const prefix = "mightycall-emulator listening on "
		if !strings.HasPrefix(line, prefix) {
			t.Fatalf("stdout line %q; stderr:\n%s", line, stderr.String())
		}
		base = strings.TrimPrefix(line, prefix)
	case <-time.After(10 * time.Second):
		t.Fatalf("no listening line; stderr:\n%s", stderr.String())
	}
	if !regexp.MustCompile(`^http://127\.0\.0\.1:[0-9]+/v4$`).MatchString(base) {
		t.Fatalf("base URL %q", base)
	}
	return cmd, base, stderr, exited
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitExit(t *testing.T, exited chan error) error {
	t.Helper()
	select {
	case err := <-exited:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("process did not exit")
		return nil
	}
}

func TestCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	bin := buildCommand(t)

	t.Run("serves and shuts down on SIGTERM", func(t *testing.T) {
		ready := filepath.Join(t.TempDir(), "ready")
		cmd, base, stderr, exited := startCommand(t, bin,
			[]string{"MIGHTYCALL_EMULATOR_ACCOUNTS=" + apiKeyB + ":" + userKeB + " , ak-cl::301:classic"},
			"-account", apiKey+":"+userKey, "-ready-file", ready, "-ttl", "1h")

		b, err := os.ReadFile(ready)
		if err != nil || string(b) != base {
			t.Fatalf("ready file %q (%v), want %q", b, err, base)
		}
		leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(ready), ".*"))
		if len(leftovers) != 0 {
			t.Errorf("temp files left: %v", leftovers)
		}

		f := &fixture{base: base}
		r := f.token(t, apiKey, ccBody(apiKey, userKey))
		if r.status != 200 || string(r.fields["expires_in"]) != "3600" {
			t.Fatalf("token over HTTP: %d %s", r.status, r.body)
		}
		access, refresh := r.str("access_token"), r.str("refresh_token")
		if r := f.profile(t, apiKey, "Bearer "+access); r.status != 200 {
			t.Errorf("profile: %d", r.status)
		}
		if r := f.token(t, apiKey, rtBody(refresh)); r.status != 200 {
			t.Errorf("refresh: %d %s", r.status, r.body)
		}
		wantError(t, f.token(t, apiKey, rtBody(refresh)), 400, "invalid_grant")
		f.login(t, apiKeyB, userKeB) // from the environment
		f.login(t, "ak-cl", "301")

		// Control API on the same address.
		root := strings.TrimSuffix(base, "/v4")
		req := mustReq(t, "POST", root+"/_emulator/faults", strings.NewReader(`{"Status":503,"Grant":"client_credentials"}`))
		if r := do(t, nil, req); r.status != 200 {
			t.Fatalf("inject over HTTP: %d %s", r.status, r.body)
		}
		if r := f.token(t, apiKey, ccBody(apiKey, userKey)); r.status != 503 {
			t.Errorf("fault over HTTP: %d", r.status)
		}
		r = do(t, nil, mustReq(t, "GET", root+"/_emulator/stats", nil))
		var st emulator.Stats
		if err := json.Unmarshal(r.body, &st); err != nil || st.Success != 4 || st.Faults != 1 || st.Errors["invalid_grant"] != 1 {
			t.Errorf("stats over HTTP: %s", r.body)
		}

		// A request stuck in an injected delay does not hold up shutdown.
		do(t, nil, mustReq(t, "POST", root+"/_emulator/faults", strings.NewReader(`{"Delay":"1h"}`)))
		stuck := make(chan struct{})
		go func() {
			defer close(stuck)
			req := tokenRequest(t, base, "POST", apiKey, formCT, ccBody(apiKey, userKey))
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		deadline := time.Now().Add(5 * time.Second)
		for {
			r := do(t, nil, mustReq(t, "GET", root+"/_emulator/stats", nil))
			var st emulator.Stats
			json.Unmarshal(r.body, &st)
			if st.Faults == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("delayed request never arrived")
			}
			runtime.Gosched()
		}

		// A connection that never sends a request does not hold up shutdown.
		u, _ := url.Parse(base)
		idle, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer idle.Close()

		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := waitExit(t, exited); err != nil {
			t.Fatalf("exit: %v; stderr:\n%s", err, stderr.String())
		}
		<-stuck
		if _, err := os.Stat(ready); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("ready file left after shutdown: %v", err)
		}
		logs := stderr.String()
		for _, secret := range []string{apiKey, userKey, apiKeyB, userKeB, "301", access, refresh} {
			if strings.Contains(logs, secret) {
				t.Errorf("stderr shows a secret %q:\n%s", secret, logs)
			}
		}
		if !strings.Contains(logs, "POST /v4/auth/token grant=client_credentials status=200") {
			t.Errorf("stderr lacks request log:\n%s", logs)
		}
	})

	t.Run("refuses a non-loopback address", func(t *testing.T) {
		for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0"} {
			cmd := exec.Command(bin, "-addr", addr, "-account", apiKey+":"+userKey)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(stderr.String(), "loopback") {
				t.Errorf("-addr %s: %v, stderr %q", addr, err, stderr.String())
			}
		}
	})

	t.Run("rejects a bad account without echoing it", func(t *testing.T) {
		for _, spec := range []string{"only-a-key-" + userKey, "k:" + userKey + ":1:mars", ":" + userKey} {
			cmd := exec.Command(bin, "-account", spec)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Errorf("%s: %v", spec, err)
			}
			if strings.Contains(stderr.String(), userKey) {
				t.Errorf("stderr echoes the key: %s", stderr.String())
			}
		}
	})
}
