// Package tokensource gives Go programs running on AWS the MightyCall bearer
// token that mightycall-token-refresher keeps fresh in a Secrets Manager
// secret, so that no workload ever logs in with the account's keys itself.
//
// A Source reads the secret's AWSCURRENT version, caches the token until
// shortly before it expires (expires_at minus WithMargin, 5 minutes by
// default) and is an oauth2.TokenSource. NewClient and NewTransport add the
// two headers every MightyCall API call needs, Authorization: Bearer and
// x-api-key, and recover from a token that was replaced under them: on a 401
// they re-read the secret once and retry once with the newer token.
//
//	cfg, _ := config.LoadDefaultConfig(ctx)
//	src := tokensource.New(secretsmanager.NewFromConfig(cfg), "mightycall/main")
//	client := tokensource.NewClient(src, nil)
//	resp, err := client.Get("https://ccapi.mightycall.com/v4/api/profile")
//
// The workload needs only secretsmanager:GetSecretValue on the token secret
// (and kms:Decrypt for a customer managed key). The package never reads or
// exposes the User key or the refresh token: a consumer that used the refresh
// token would consume it (MightyCall's refresh tokens may be single-use) and
// break the refresher.
//
// Secrets Manager is protected from stampedes: at most one read is in flight
// per Source, concurrent callers share it, and a read that brought no newer
// token (the refresher has not run yet, the secret is unreadable, a 401 was
// answered to the token just read) is not repeated before WithMinReread (30
// seconds by default). Create one Source per secret and share it; in a
// Lambda function, create it outside the handler so that the cache survives
// between invocations.
//
// Errors never contain a token or key. ErrNotBootstrapped, ErrExpired and
// ErrMalformed tell the usual problems apart with errors.Is.
package tokensource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/sensitive"
)

// Defaults of the options.
const (
	DefaultMargin    = 5 * time.Minute
	DefaultMinReread = 30 * time.Second
)

// readTimeout bounds one read of the secret. The read is shared by every
// caller waiting for it, so it does not end when the first caller's context
// does; each caller still stops waiting when its own context ends.
const readTimeout = 30 * time.Second

// Errors a caller can test with errors.Is.
var (
	// ErrNotBootstrapped: the secret holds keys but no token yet.
	ErrNotBootstrapped = errors.New("the secret has no access_token yet (not bootstrapped: run the refresher)")
	// ErrExpired: the token in the secret has expired, and reading it again
	// brought no newer one.
	ErrExpired = errors.New("the token in the secret has expired (is the refresher running?)")
	// ErrMalformed: the secret is not a token secret of the documented
	// shape. It is secrets.ErrMalformed.
	ErrMalformed = secrets.ErrMalformed
	// ErrNoAPIKey: the secret has no api_key, which every MightyCall call
	// sends as x-api-key.
	ErrNoAPIKey = errors.New("the secret has no api_key (in the split layout the refresher copies it there on its first run)")
)

// SecretsAPI is the one Secrets Manager call a Source makes;
// *secretsmanager.Client satisfies it.
type SecretsAPI interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Option configures a Source.
type Option func(*Source)

// WithMargin sets how long before expires_at a cached token stops being
// used without reading the secret again (default 5 minutes). The refresher
// replaces tokens hours before they expire, so a re-read normally finds the
// new one. A token inside the margin is still handed out, while it has not
// expired, when a re-read brings no newer one.
func WithMargin(d time.Duration) Option {
	return func(s *Source) {
		if d >= 0 {
			s.margin = d
		}
	}
}

// WithMinReread sets the shortest time between a read of the secret that
// brought no newer token and the next read (default 30 seconds). It bounds
// the reads a busy workload makes while the secret is unreadable, not
// bootstrapped or stale, and after a token was refused (Invalidate).
func WithMinReread(d time.Duration) Option {
	return func(s *Source) {
		if d >= 0 {
			s.minReread = d
		}
	}
}

// WithClock sets the clock (default time.Now), for tests.
func WithClock(now func() time.Time) Option {
	return func(s *Source) {
		if now != nil {
			s.now = now
		}
	}
}

// Source supplies the token held in one secret. It is safe for concurrent
// use.
type Source struct {
	api       SecretsAPI
	secretID  string
	margin    time.Duration
	minReread time.Duration
	now       func() time.Time

	group singleflight.Group

	mu          sync.Mutex
	snap        *snapshot // what the last successful read found; nil before one
	readErr     error     // why the last read failed; nil after a successful one
	invalidated bool      // Invalidate was called for snap's token
	holdUntil   time.Time // no read before this
}

// snapshot is what one read of the secret found.
type snapshot struct {
	access    sensitive.String
	tokenType string
	expiresAt time.Time
	apiKey    sensitive.String
	// problem makes the token unusable whatever the time: not bootstrapped,
	// or a token without an expiry.
	problem error
}

func (p *snapshot) usable(now time.Time) bool {
	return p.problem == nil && now.Before(p.expiresAt)
}

func (p *snapshot) fresh(now time.Time, margin time.Duration) bool {
	return p.problem == nil && now.Before(p.expiresAt.Add(-margin))
}

// New returns a Source for the secret secretID (a name or ARN) read through
// api, normally a *secretsmanager.Client. It makes no call until a token is
// asked for.
func New(api SecretsAPI, secretID string, opts ...Option) *Source {
	s := &Source{api: api, secretID: secretID, margin: DefaultMargin, minReread: DefaultMinReread, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// SecretID returns the secret the Source reads.
func (s *Source) SecretID() string { return s.secretID }

// Token returns the current token; it implements oauth2.TokenSource. See
// TokenContext.
func (s *Source) Token() (*oauth2.Token, error) { return s.TokenContext(context.Background()) }

// TokenContext returns the current token: the cached one while it is fresh,
// otherwise what the secret's AWSCURRENT version holds. The token carries
// the access token, its type and its expiry, never the refresh token. It
// fails, without revealing any value, when the secret cannot be read, is
// malformed, has no token yet, or holds an expired one.
func (s *Source) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	snap, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	typ := snap.tokenType
	if typ == "" {
		typ = "Bearer"
	}
	return &oauth2.Token{AccessToken: snap.access.Reveal(), TokenType: typ, Expiry: snap.expiresAt}, nil
}

// APIKey returns the secret's api_key, which MightyCall expects as the
// x-api-key header of every call. It is available as soon as the secret is
// readable, even before the refresher stored a token.
func (s *Source) APIKey(ctx context.Context) (string, error) {
	snap, err := s.load(ctx)
	if snap != nil && !snap.apiKey.IsZero() {
		return snap.apiKey.Reveal(), nil
	}
	if err != nil {
		return "", err
	}
	return "", s.errorf("%w", ErrNoAPIKey)
}

// Invalidate tells the Source that MightyCall refused accessToken (a 401):
// if it is still the cached token, the next call reads the secret again,
// since the refresher may just have replaced it. A read that brought no newer
// token less than MinReread ago postpones that read, so a token refused for
// another reason cannot make every call read the secret.
func (s *Source) Invalidate(accessToken string) {
	s.invalidate(sensitive.New(accessToken))
}

func (s *Source) invalidate(seen sensitive.String) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.snap != nil && !seen.IsZero() && s.snap.access.Equal(seen) {
		s.invalidated = true
	}
}

// credentials returns a snapshot with a usable token and an API key.
func (s *Source) credentials(ctx context.Context) (*snapshot, error) {
	snap, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	if snap.apiKey.IsZero() {
		return nil, s.errorf("%w", ErrNoAPIKey)
	}
	return snap, nil
}

// load returns the snapshot to use, reading the secret when the cache is
// not fresh and no hold is in force. The snapshot may be non-nil together
// with an error that says why its token cannot be used.
func (s *Source) load(ctx context.Context) (*snapshot, error) {
	s.mu.Lock()
	if !s.needRead(s.now()) {
		defer s.mu.Unlock()
		return s.result(s.now())
	}
	s.mu.Unlock()

	ch := s.group.DoChan("read", func() (any, error) {
		s.refresh(context.WithoutCancel(ctx))
		return nil, nil
	})
	select {
	case <-ch:
	case <-ctx.Done():
		return nil, s.errorf("waiting for the secret to be read: %w", ctx.Err())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.result(s.now())
}

// needRead reports whether the secret should be read now. s.mu is held.
func (s *Source) needRead(now time.Time) bool {
	if s.snap != nil && !s.invalidated && s.snap.fresh(now, s.margin) {
		return false
	}
	return !now.Before(s.holdUntil)
}

// result is the outcome of the state as it is. s.mu is held.
func (s *Source) result(now time.Time) (*snapshot, error) {
	switch {
	case s.snap != nil && s.snap.usable(now):
		return s.snap, nil
	case s.readErr != nil:
		return s.snap, s.readErr
	case s.snap == nil:
		return nil, s.errorf("the secret has not been read") // not reached: a read sets snap or readErr
	case s.snap.problem != nil:
		return s.snap, s.snap.problem
	}
	return s.snap, s.errorf("%w: it expired at %s", ErrExpired, s.snap.expiresAt.UTC().Format(time.RFC3339))
}

// refresh reads the secret, unless another read made that unnecessary
// meanwhile, and records the outcome. Calls are serialised by s.group.
func (s *Source) refresh(ctx context.Context) {
	s.mu.Lock()
	if !s.needRead(s.now()) {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	snap, err := s.read(ctx)

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if err != nil {
		// Keep the previous token: it is used while it lasts.
		s.readErr = err
		s.holdUntil = now.Add(s.minReread)
		return
	}
	prev := s.snap
	s.snap, s.readErr, s.invalidated = snap, nil, false
	newer := prev == nil || !prev.access.Equal(snap.access)
	if !newer || !snap.fresh(now, s.margin) {
		s.holdUntil = now.Add(s.minReread)
	}
}

// read makes one GetSecretValue call for AWSCURRENT, naming the stage
// explicitly (an unstaged read may lag after a label move on some
// implementations), and decodes the document.
func (s *Source) read(ctx context.Context) (*snapshot, error) {
	out, err := s.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId:     aws.String(s.secretID),
		VersionStage: aws.String(secrets.StageCurrent),
	})
	if err != nil {
		return nil, s.errorf("read: %w", err)
	}
	if out.SecretString == nil {
		if out.SecretBinary != nil {
			return nil, s.errorf("%w: the value is SecretBinary; a JSON SecretString is required", ErrMalformed)
		}
		return nil, s.errorf("%w: the AWSCURRENT version has no value", ErrMalformed)
	}
	doc, err := secrets.ParseDocument([]byte(*out.SecretString))
	if err != nil {
		return nil, s.errorf("%w", err)
	}
	snap := &snapshot{access: doc.AccessToken, tokenType: doc.TokenType, expiresAt: doc.ExpiresAt, apiKey: doc.APIKey}
	switch {
	case doc.AccessToken.IsZero():
		snap.problem = s.errorf("%w", ErrNotBootstrapped)
	case doc.ExpiresAt.IsZero():
		snap.problem = s.errorf("%w: field %q is missing beside %q (the refresher always writes it)",
			ErrMalformed, secrets.FieldExpiresAt, secrets.FieldAccessToken)
	}
	return snap, nil
}

func (s *Source) errorf(format string, args ...any) error {
	return fmt.Errorf("tokensource: secret %s: "+format, append([]any{s.secretID}, args...)...)
}

// NewTransport returns an http.RoundTripper that sends every request through
// base (http.DefaultTransport when nil) with the headers MightyCall expects:
// Authorization: Bearer <access token> and x-api-key: <api_key>. The
// caller's request is never modified.
//
// When MightyCall answers 401, the token may just have been replaced by the
// refresher: the transport re-reads the secret once (Invalidate, subject to
// MinReread) and, if that brought a different token, retries the request
// once with it. A request whose body cannot be replayed (a body without
// GetBody) is not retried. The second answer is returned as it is, so a
// refused token never causes a loop.
//
// Every request the transport carries gets the credentials: use it only for
// requests to MightyCall.
func NewTransport(src *Source, base http.RoundTripper) http.RoundTripper {
	return &transport{src: src, base: base}
}

// NewClient returns an http.Client using NewTransport(src, base). It does
// not follow a redirect to another host, which would carry the credentials
// there; the redirect response is returned instead.
func NewClient(src *Source, base http.RoundTripper) *http.Client {
	return &http.Client{
		Transport: NewTransport(src, base),
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			if req.URL.Host != via[0].URL.Host || req.URL.Scheme != via[0].URL.Scheme {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
}

type transport struct {
	src  *Source
	base http.RoundTripper
}

func (t *transport) next() http.RoundTripper {
	if t.base != nil {
		return t.base
	}
	return http.DefaultTransport
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	cred, err := t.src.credentials(ctx)
	if err != nil {
		if req.Body != nil {
			req.Body.Close() // a RoundTripper closes the body, even on errors
		}
		return nil, err
	}
	resp, err := t.next().RoundTrip(authorize(req, cred, req.Body))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	if !replayable {
		return resp, nil
	}
	t.src.invalidate(cred.access)
	newer, err := t.src.credentials(ctx)
	if err != nil || newer.access.Equal(cred.access) {
		return resp, nil // nothing better to try: MightyCall's answer stands
	}
	body := req.Body
	if body != nil && body != http.NoBody {
		if body, err = req.GetBody(); err != nil {
			return resp, nil
		}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return t.next().RoundTrip(authorize(req, newer, body))
}

// authorize returns a copy of req with body and the credentials.
func authorize(req *http.Request, cred *snapshot, body io.ReadCloser) *http.Request {
	r := req.Clone(req.Context())
	r.Body = body
	r.Header.Set("Authorization", "Bearer "+cred.access.Reveal())
	r.Header.Set("x-api-key", cred.apiKey.Reveal())
	return r
}
