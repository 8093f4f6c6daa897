// Package mightycall is the HTTP edge to MightyCall's token endpoint,
// POST {base}/auth/token, exactly as MightyCall publishes it: the x-api-key
// header and a form body, grant_type=client_credentials with client_id and
// client_secret, or grant_type=refresh_token with only the refresh token.
//
// Transient failures (network errors, timeouts, 429, 5xx) are retried with
// capped exponential backoff and full jitter, honouring Retry-After, within
// the context's deadline. Permanent failures come back at once as *Error,
// a typed error in the manner of golang.org/x/oauth2's RetrieveError.
package mightycall

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/sensitive"
)

// Grant is an OAuth grant type MightyCall accepts.
type Grant string

// The two grants of the token endpoint.
const (
	ClientCredentials Grant = "client_credentials"
	RefreshToken      Grant = "refresh_token"
)

// DocumentedLifetime is how long MightyCall says a bearer token lives.
const DocumentedLifetime = 24 * time.Hour

// MinPlausibleLifetime: an expires_in below this is taken as garbage (it
// would replace a valid token with one already expired), like zero.
const MinPlausibleLifetime = time.Minute

// Defaults of Client.
const (
	DefaultMaxResponseBytes = 64 << 10
	DefaultMaxAttempts      = 5
	DefaultBaseDelay        = 250 * time.Millisecond
	DefaultMaxDelay         = 8 * time.Second
)

// Request is one token exchange.
type Request struct {
	BaseURL string // e.g. https://ccapi.mightycall.com/v4, already checked
	APIKey  sensitive.String
	Grant   Grant
	// ClientSecret is the User key (or, on Classic, the extension), for
	// ClientCredentials.
	ClientSecret sensitive.String
	// RefreshToken is the token to exchange, for RefreshToken.
	RefreshToken sensitive.String
}

// Token is a successful answer.
type Token struct {
	AccessToken  sensitive.String
	TokenType    string
	RefreshToken sensitive.String // empty when the response carried none
	Lifetime     time.Duration    // from expires_in, normalised (see ParseTokenResponse)
	// LifetimeNote says why Lifetime is not what expires_in said, if it is not.
	LifetimeNote string
}

// Error is a failed exchange. It never holds a key or token.
type Error struct {
	Grant       Grant
	StatusCode  int    // 0 when no HTTP response arrived
	Code        string // OAuth "error" field, e.g. invalid_client, invalid_grant
	Description string // OAuth "error_description", scrubbed and shortened
	RetryAfter  time.Duration
	Temporary   bool  // worth retrying: network error, timeout, 429, 5xx
	Attempts    int   // attempts made before giving up
	Err         error // underlying cause, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mightycall %s grant", e.Grant)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.StatusCode)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, ": %s", e.Code)
	}
	if e.Description != "" {
		fmt.Fprintf(&b, " (%s)", e.Description)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Rejected reports whether MightyCall refused the grant itself (as opposed
// to failing to answer): for a refresh token, invalid_grant or HTTP 400/401,
// after which the keys should be used instead.
func (e *Error) Rejected() bool {
	if e.Temporary {
		return false
	}
	return e.Code == "invalid_grant" || e.StatusCode == http.StatusBadRequest || e.StatusCode == http.StatusUnauthorized
}

// Client exchanges credentials for tokens. The zero value is usable; set
// HTTPClient (with a Timeout per attempt) in production.
type Client struct {
	HTTPClient       *http.Client
	MaxResponseBytes int64
	MaxAttempts      int
	BaseDelay        time.Duration
	MaxDelay         time.Duration
	// Now and Sleep are the clock; tests may replace them.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// httpClient is the configured client with redirects disabled: a redirect
// would carry the x-api-key header (and on 307/308 the form with the keys)
// to wherever it points, past the base URL check. A 3xx answer fails.
func (c *Client) httpClient() *http.Client {
	hc := http.Client{}
	if c.HTTPClient != nil {
		hc = *c.HTTPClient
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &hc
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func orDefault[T int | int64 | time.Duration](v, d T) T {
	if v > 0 {
		return v
	}
	return d
}

// Exchange performs the grant, retrying transient failures while the
// context's deadline allows. On failure the error is an *Error.
func (c *Client) Exchange(ctx context.Context, req Request) (Token, int, error) {
	form, err := req.form()
	if err != nil {
		return Token{}, 0, &Error{Grant: req.Grant, Err: err}
	}
	maxAttempts := orDefault(c.MaxAttempts, DefaultMaxAttempts)
	for attempt := 1; ; attempt++ {
		tok, e := c.once(ctx, req, form)
		if e == nil {
			return tok, attempt, nil
		}
		e.Attempts = attempt
		if !e.Temporary || attempt >= maxAttempts || ctx.Err() != nil {
			return Token{}, attempt, e
		}
		delay := c.backoff(attempt)
		if e.RetryAfter > 0 {
			delay = e.RetryAfter
		}
		if dl, ok := ctx.Deadline(); ok && !c.now().Add(delay).Before(dl) {
			e.Err = errors.Join(e.Err, fmt.Errorf("no time left to retry before the deadline"))
			return Token{}, attempt, e
		}
		if err := c.sleep(ctx, delay); err != nil {
			e.Err = errors.Join(e.Err, err)
			return Token{}, attempt, e
		}
	}
}

// backoff is capped exponential backoff with full jitter.
func (c *Client) backoff(attempt int) time.Duration {
	base := orDefault(c.BaseDelay, DefaultBaseDelay)
	maxDelay := orDefault(c.MaxDelay, DefaultMaxDelay)
	d := base << min(attempt-1, 20)
	if d <= 0 || d > maxDelay {
		d = maxDelay
	}
	return time.Duration(rand.Int64N(int64(d))) + 1
}

func (r Request) form() (url.Values, error) {
	if r.APIKey.IsZero() {
		return nil, fmt.Errorf("no API key")
	}
	switch r.Grant {
	case ClientCredentials:
		if r.ClientSecret.IsZero() {
			return nil, fmt.Errorf("no User key")
		}
		return url.Values{
			"grant_type":    {string(ClientCredentials)},
			"client_id":     {r.APIKey.Reveal()},
			"client_secret": {r.ClientSecret.Reveal()},
		}, nil
	case RefreshToken:
		if r.RefreshToken.IsZero() {
			return nil, fmt.Errorf("no refresh token")
		}
		// Only these two parameters: MightyCall's docs say to remove the others.
		return url.Values{
			"grant_type":    {string(RefreshToken)},
			"refresh_token": {r.RefreshToken.Reveal()},
		}, nil
	}
	return nil, fmt.Errorf("unknown grant %q", r.Grant)
}

func (c *Client) once(ctx context.Context, req Request, form url.Values) (Token, *Error) {
	fail := func(status int, temporary bool, err error) (Token, *Error) {
		return Token{}, &Error{Grant: req.Grant, StatusCode: status, Temporary: temporary, Err: err}
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, req.BaseURL+"/auth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return fail(0, false, fmt.Errorf("build request: %w", err))
	}
	hreq.Header.Set("x-api-key", req.APIKey.Reveal())
	hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hreq.Header.Set("Accept", "application/json")
	resp, err := c.httpClient().Do(hreq)
	if err != nil {
		// url.Error quotes only the URL (base URL + /auth/token), no credential.
		return fail(0, ctx.Err() == nil, err)
	}
	defer resp.Body.Close()
	limit := orDefault(c.MaxResponseBytes, DefaultMaxResponseBytes)
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fail(resp.StatusCode, ctx.Err() == nil, fmt.Errorf("read response: %w", err))
	}
	temporary := resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return fail(resp.StatusCode, false, fmt.Errorf("MightyCall answered a redirect, which is not followed so the keys never leave the base URL"))
	}
	if int64(len(body)) > limit {
		return fail(resp.StatusCode, temporary, fmt.Errorf("response body larger than %d bytes", limit))
	}
	if resp.StatusCode == http.StatusOK {
		tok, err := ParseTokenResponse(body)
		if err != nil {
			return fail(resp.StatusCode, false, err)
		}
		return tok, nil
	}
	e := &Error{Grant: req.Grant, StatusCode: resp.StatusCode, Temporary: temporary}
	e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	var oe struct {
		Error            any    `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	if json.Unmarshal(body, &oe) == nil {
		if s, ok := oe.Error.(string); ok {
			e.Code = shorten(scrub(s, req), 64)
		}
		e.Description = shorten(describe(oe.ErrorDescription, req), 200)
	} else if len(bytes.TrimSpace(body)) > 0 {
		e.Err = fmt.Errorf("non-JSON error body (%s, %d bytes)", shorten(resp.Header.Get("Content-Type"), 60), len(body))
	}
	return Token{}, e
}

// ParseTokenResponse reads a 200 answer tolerantly: unknown fields are
// ignored; expires_in may be a number or a numeric string; a missing, zero,
// negative or unreadable expires_in means the documented 24 hours, and a
// longer one is capped at 24 hours, because MightyCall documents that
// lifetime and trusting more could let a stored token expire unnoticed.
func ParseTokenResponse(body []byte) (Token, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return Token{}, fmt.Errorf("response is not a JSON object (%d bytes)", len(body))
	}
	str := func(name string) (string, error) {
		v, ok := raw[name]
		if !ok || string(v) == "null" {
			return "", nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", fmt.Errorf("response field %q is not a string", name)
		}
		return s, nil
	}
	access, err := str("access_token")
	if err != nil {
		return Token{}, err
	}
	if access == "" {
		return Token{}, fmt.Errorf("response has no access_token")
	}
	refresh, err := str("refresh_token")
	if err != nil {
		return Token{}, err
	}
	typ, err := str("token_type")
	if err != nil {
		return Token{}, err
	}
	if typ == "" {
		typ = "bearer"
	}
	t := Token{AccessToken: sensitive.New(access), TokenType: typ, RefreshToken: sensitive.New(refresh)}
	t.Lifetime, t.LifetimeNote = lifetime(raw["expires_in"])
	return t, nil
}

func lifetime(v json.RawMessage) (time.Duration, string) {
	if len(v) == 0 || string(v) == "null" {
		return DocumentedLifetime, "expires_in missing: assumed the documented 24h"
	}
	var secs float64
	if err := json.Unmarshal(v, &secs); err != nil {
		var s string
		if json.Unmarshal(v, &s) != nil {
			return DocumentedLifetime, "expires_in unreadable: assumed the documented 24h"
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return DocumentedLifetime, "expires_in unreadable: assumed the documented 24h"
		}
		secs = f
	}
	switch {
	case secs <= 0 || secs != secs: // zero, negative, NaN
		return DocumentedLifetime, "expires_in not positive: assumed the documented 24h"
	case secs < MinPlausibleLifetime.Seconds():
		return DocumentedLifetime, "expires_in under a minute is not plausible: assumed the documented 24h"
	case secs > DocumentedLifetime.Seconds():
		return DocumentedLifetime, "expires_in above 24h: capped at the documented 24h"
	}
	return time.Duration(secs * float64(time.Second)), ""
}

func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(min(n, 3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, time.Hour)
		}
	}
	return 0
}

// scrub removes any credential of the request from text a server sent back,
// as it is and URL-encoded (a server or proxy may echo the form body).
func scrub(s string, req Request) string {
	for _, v := range []sensitive.String{req.APIKey, req.ClientSecret, req.RefreshToken} {
		if v.IsZero() {
			continue
		}
		for _, form := range []string{v.Reveal(), url.QueryEscape(v.Reveal()), url.PathEscape(v.Reveal())} {
			s = strings.ReplaceAll(s, form, sensitive.Redacted)
		}
	}
	return s
}

// describe keeps an error_description for the logs unless it echoes the
// request (a form parameter name, or any credential even in part), which
// would put keys or tokens into logs and errors.
func describe(s string, req Request) string {
	lower := strings.ToLower(s)
	for _, p := range []string{"client_secret", "client_id", "refresh_token=", "x-api-key"} {
		if strings.Contains(lower, p) {
			return "[description withheld: it echoes the request]"
		}
	}
	for _, v := range []sensitive.String{req.APIKey, req.ClientSecret, req.RefreshToken} {
		if r := v.Reveal(); len(r) >= 8 && (strings.Contains(s, r[:8]) || strings.Contains(s, url.QueryEscape(r)[:8])) {
			return "[description withheld: it echoes the request]"
		}
	}
	return scrub(s, req)
}

func shorten(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
