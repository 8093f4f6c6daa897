package tokensource_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/tokensource"
)

const (
	secretID = "mightycall/test"
	apiKey   = "canary-api-key-5d1e"
	userKey  = "canary-user-key-0b7c"
	refresh  = "canary-refresh-token-a4f2"
)

// clock is a settable clock shared by the Source and the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeSM is a Secrets Manager holding one secret's AWSCURRENT value.
type fakeSM struct {
	mu     sync.Mutex
	value  *string
	binary []byte
	err    error
	delay  time.Duration
	calls  atomic.Int64
	inputs []secretsmanager.GetSecretValueInput
}

func (f *fakeSM) set(v string) { f.mu.Lock(); f.value = &v; f.err = nil; f.mu.Unlock() }
func (f *fakeSM) fail(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *fakeSM) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.calls.Add(1)
	f.mu.Lock()
	f.inputs = append(f.inputs, *in)
	value, binary, err, delay := f.value, f.binary, f.err, f.delay
	f.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	return &secretsmanager.GetSecretValueOutput{Name: in.SecretId, SecretString: value, SecretBinary: binary, VersionStages: []string{"AWSCURRENT"}}, nil
}

// doc is a token secret as the refresher writes it.
func doc(access string, expires time.Time) string {
	return fmt.Sprintf(`{"api_key":%q,"user_key":%q,"access_token":%q,"token_type":"bearer","refresh_token":%q,`+
		`"expires_at":%q,"issued_at":%q,"grant":"refresh_token","owner":"team-a"}`,
		apiKey, userKey, access, refresh, expires.UTC().Format(time.RFC3339), expires.Add(-24*time.Hour).UTC().Format(time.RFC3339))
}

func setup(t *testing.T, opts ...tokensource.Option) (*fakeSM, *clock, *tokensource.Source) {
	t.Helper()
	sm, c := &fakeSM{}, newClock()
	return sm, c, tokensource.New(sm, secretID, append([]tokensource.Option{tokensource.WithClock(c.Now)}, opts...)...)
}

func mustToken(t *testing.T, src *tokensource.Source) string {
	t.Helper()
	tok, err := src.Token()
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	return tok.AccessToken
}

// noSecrets fails the test if err's text holds a key or token.
func noSecrets(t *testing.T, err error, tokens ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range append([]string{apiKey, userKey, refresh}, tokens...) {
		if strings.Contains(err.Error(), s) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), s) {
			t.Fatalf("error reveals a secret value: %v", err)
		}
	}
}

func TestReadsAWSCURRENTAndCachesUntilMargin(t *testing.T) {
	sm, c, src := setup(t)
	expires := c.Now().Add(10 * time.Hour)
	sm.set(doc("AT-1", expires))

	tok, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken != "AT-1" || tok.Type() != "Bearer" || !tok.Expiry.Equal(expires) || tok.RefreshToken != "" {
		t.Fatalf("token: %+v", tok)
	}
	if in := sm.inputs[0]; aws.ToString(in.SecretId) != secretID || aws.ToString(in.VersionStage) != "AWSCURRENT" || in.VersionId != nil {
		t.Fatalf("read without an explicit AWSCURRENT stage: %+v", in)
	}
	if key, err := src.APIKey(context.Background()); err != nil || key != apiKey {
		t.Fatalf("APIKey: %q %v", key, err)
	}

	// Cached until expires_at - margin (5 minutes by default).
	sm.set(doc("AT-2", expires.Add(24*time.Hour)))
	c.Add(10*time.Hour - tokensource.DefaultMargin - time.Second)
	if got := mustToken(t, src); got != "AT-1" || sm.calls.Load() != 1 {
		t.Fatalf("before the margin: %s after %d reads", got, sm.calls.Load())
	}
	c.Add(time.Second)
	if got := mustToken(t, src); got != "AT-2" || sm.calls.Load() != 2 {
		t.Fatalf("at the margin: %s after %d reads", got, sm.calls.Load())
	}
	// The new token is fresh: no read for a while.
	for range 10 {
		mustToken(t, src)
		c.Add(time.Hour)
	}
	if sm.calls.Load() != 2 {
		t.Fatalf("fresh token re-read: %d reads", sm.calls.Load())
	}
}

func TestWithMargin(t *testing.T) {
	sm, c, src := setup(t, tokensource.WithMargin(time.Hour))
	sm.set(doc("AT-1", c.Now().Add(2*time.Hour)))
	mustToken(t, src)
	c.Add(59 * time.Minute)
	mustToken(t, src)
	if sm.calls.Load() != 1 {
		t.Fatal("re-read before the margin")
	}
	c.Add(2 * time.Minute)
	mustToken(t, src)
	if sm.calls.Load() != 2 {
		t.Fatal("no re-read inside the margin")
	}
}

// A refresher that lags: the token in the secret is inside the margin but
// valid. It is used, and the secret is read at most once per MinReread.
func TestStaleTokenIsUsedAndRereadsAreBounded(t *testing.T) {
	sm, c, src := setup(t, tokensource.WithMinReread(time.Minute))
	expires := c.Now().Add(3 * time.Minute)
	sm.set(doc("AT-1", expires))
	for range 50 {
		if got := mustToken(t, src); got != "AT-1" {
			t.Fatal(got)
		}
		c.Add(time.Second) // 50s in all
	}
	if n := sm.calls.Load(); n != 1 {
		t.Fatalf("%d reads within MinReread", n)
	}
	c.Add(10 * time.Second)
	mustToken(t, src)
	if n := sm.calls.Load(); n != 2 {
		t.Fatalf("%d reads after MinReread", n)
	}
	// Expired and still not replaced: a clear error, and no read storm.
	c.Add(3 * time.Minute)
	for range 20 {
		_, err := src.Token()
		if !errors.Is(err, tokensource.ErrExpired) || !strings.Contains(err.Error(), secretID) ||
			!strings.Contains(err.Error(), expires.Format(time.RFC3339)) {
			t.Fatalf("want ErrExpired naming the secret and the time, got %v", err)
		}
		noSecrets(t, err, "AT-1")
	}
	if n := sm.calls.Load(); n != 3 {
		t.Fatalf("%d reads", n)
	}
	// The refresher catches up: the next read after MinReread finds it.
	sm.set(doc("AT-2", c.Now().Add(24*time.Hour)))
	c.Add(time.Minute)
	if got := mustToken(t, src); got != "AT-2" {
		t.Fatal(got)
	}
}

func TestConcurrentColdCacheMakesOneRead(t *testing.T) {
	sm, c, src := setup(t)
	sm.set(doc("AT-1", c.Now().Add(24*time.Hour)))
	sm.delay = 50 * time.Millisecond
	const n = 200
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			var err error
			if i%2 == 0 {
				tok, e := src.Token()
				err = e
				if err == nil && (!tok.Valid() || tok.AccessToken != "AT-1") {
					err = fmt.Errorf("unexpected token %+v", tok)
				}
			} else {
				var key string
				key, err = src.APIKey(context.Background())
				if err == nil && key != apiKey {
					err = errors.New("wrong api key")
				}
			}
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := sm.calls.Load(); got != 1 {
		t.Fatalf("%d concurrent calls on a cold cache made %d reads, want 1", n, got)
	}
}

// Concurrent use while the cache turns over and tokens are invalidated:
// for the race detector, and reads stay bounded.
func TestConcurrentUseWithTurnover(t *testing.T) {
	sm, c, src := setup(t, tokensource.WithMinReread(time.Second))
	sm.set(doc("AT-0", c.Now().Add(time.Hour)))
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				tok, err := src.Token()
				if err != nil {
					t.Error(err)
					return
				}
				if i%10 == 0 {
					src.Invalidate(tok.AccessToken)
				}
				if g == 0 && i%50 == 0 {
					sm.set(doc(fmt.Sprintf("AT-%d", i+1), c.Now().Add(time.Hour)))
					c.Add(2 * time.Second)
				}
			}
		})
	}
	wg.Wait()
	if n := sm.calls.Load(); n > 10 {
		t.Fatalf("%d reads: not bounded by MinReread", n)
	}
}

func TestCallerContextDoesNotCancelTheSharedRead(t *testing.T) {
	sm, c, src := setup(t)
	sm.set(doc("AT-1", c.Now().Add(24*time.Hour)))
	sm.delay = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := src.TokenContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the caller's deadline, got %v", err)
	}
	// The read went on and filled the cache for everyone else.
	if got := mustToken(t, src); got != "AT-1" || sm.calls.Load() != 1 {
		t.Fatalf("%s after %d reads", got, sm.calls.Load())
	}
}

func TestNotBootstrapped(t *testing.T) {
	sm, _, src := setup(t)
	sm.set(`{"api_key":"` + apiKey + `","user_key":"` + userKey + `"}`)
	_, err := src.Token()
	if !errors.Is(err, tokensource.ErrNotBootstrapped) || !strings.Contains(err.Error(), "not bootstrapped: run the refresher") ||
		!strings.Contains(err.Error(), secretID) {
		t.Fatalf("got %v", err)
	}
	noSecrets(t, err)
	// The API key is there all the same.
	if key, err := src.APIKey(context.Background()); err != nil || key != apiKey {
		t.Fatalf("APIKey: %v", err)
	}
	// Asking again at once does not read again (MinReread).
	for range 5 {
		src.Token()
	}
	if sm.calls.Load() != 1 {
		t.Fatalf("%d reads", sm.calls.Load())
	}
}

func TestMalformedSecrets(t *testing.T) {
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for name, value := range map[string]string{
		"not JSON":           `api_key=` + apiKey,
		"truncated":          `{"api_key":"` + apiKey + `","access_token":"canary-tok`,
		"wrong type":         `{"api_key":"` + apiKey + `","access_token":12345,"expires_at":"` + future + `"}`,
		"bad expires_at":     `{"api_key":"` + apiKey + `","access_token":"canary-tok","expires_at":"tomorrow"}`,
		"missing expires_at": `{"api_key":"` + apiKey + `","access_token":"canary-tok"}`,
		"empty":              ``,
	} {
		t.Run(name, func(t *testing.T) {
			sm, _, src := setup(t)
			sm.set(value)
			_, err := src.Token()
			if !errors.Is(err, tokensource.ErrMalformed) || !strings.Contains(err.Error(), secretID) {
				t.Fatalf("want ErrMalformed naming the secret, got %v", err)
			}
			noSecrets(t, err, "canary-tok")
		})
	}
	t.Run("binary", func(t *testing.T) {
		sm, _, src := setup(t)
		sm.binary = []byte(`{"access_token":"canary-tok"}`)
		if _, err := src.Token(); !errors.Is(err, tokensource.ErrMalformed) || !strings.Contains(err.Error(), "SecretBinary") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("no api_key", func(t *testing.T) {
		sm, c, src := setup(t)
		sm.set(`{"credentials_secret_id":"creds","access_token":"canary-tok","expires_at":"` + c.Now().Add(time.Hour).Format(time.RFC3339) + `"}`)
		if _, err := src.APIKey(context.Background()); !errors.Is(err, tokensource.ErrNoAPIKey) {
			t.Fatalf("got %v", err)
		}
		_, err := tokensource.NewClient(src, nil).Get("http://127.0.0.1:1/")
		if !errors.Is(err, tokensource.ErrNoAPIKey) {
			t.Fatalf("got %v", err)
		}
		noSecrets(t, err, "canary-tok")
	})
}

func TestReadErrors(t *testing.T) {
	sm, c, src := setup(t)
	sm.fail(&types.ResourceNotFoundException{Message: aws.String("Secrets Manager can't find the specified secret.")})
	_, err := src.Token()
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), secretID) {
		t.Fatalf("got %v", err)
	}
	// Remembered for MinReread, then read again.
	src.Token()
	if sm.calls.Load() != 1 {
		t.Fatal("a failed read was repeated at once")
	}
	sm.set(doc("AT-1", c.Now().Add(24*time.Hour)))
	c.Add(tokensource.DefaultMinReread)
	if got := mustToken(t, src); got != "AT-1" {
		t.Fatal(got)
	}

	// A failed re-read keeps the cached token while it is valid.
	c.Add(24*time.Hour - 2*time.Minute)
	sm.fail(errors.New("throttled"))
	if got := mustToken(t, src); got != "AT-1" {
		t.Fatal(got)
	}
	c.Add(3 * time.Minute)
	if _, err := src.Token(); err == nil || !strings.Contains(err.Error(), "throttled") {
		t.Fatalf("got %v", err)
	}
}

func TestInvalidate(t *testing.T) {
	sm, c, src := setup(t)
	sm.set(doc("AT-1", c.Now().Add(24*time.Hour)))
	mustToken(t, src)

	// Another token than the cached one: nothing happens.
	src.Invalidate("AT-0")
	mustToken(t, src)
	if sm.calls.Load() != 1 {
		t.Fatal("invalidating another token made a read")
	}
	// The cached one: the next call reads again.
	sm.set(doc("AT-2", c.Now().Add(24*time.Hour)))
	src.Invalidate("AT-1")
	if got := mustToken(t, src); got != "AT-2" || sm.calls.Load() != 2 {
		t.Fatalf("%s after %d reads", got, sm.calls.Load())
	}
	// The re-read brought a newer token, so a second invalidation at once
	// reads again; it brings the same token, so a third waits MinReread.
	src.Invalidate("AT-2")
	mustToken(t, src)
	src.Invalidate("AT-2")
	mustToken(t, src)
	if sm.calls.Load() != 3 {
		t.Fatalf("%d reads, want 3", sm.calls.Load())
	}
	c.Add(tokensource.DefaultMinReread)
	mustToken(t, src)
	if sm.calls.Load() != 4 {
		t.Fatalf("%d reads after MinReread, want 4", sm.calls.Load())
	}
}

// mightyCall is a stand-in API accepting one token at a time.
type mightyCall struct {
	mu       sync.Mutex
	accept   string
	requests []*http.Request
	bodies   []string
}

func (m *mightyCall) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	m.mu.Lock()
	m.requests = append(m.requests, r)
	m.bodies = append(m.bodies, string(body))
	ok := r.Header.Get("Authorization") == "Bearer "+m.accept && r.Header.Get("X-Api-Key") == apiKey
	m.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"isSuccess":false}`)
		return
	}
	io.WriteString(w, `{"isSuccess":true,"echo":`+fmt.Sprintf("%q", body)+`}`)
}

func (m *mightyCall) count() int { m.mu.Lock(); defer m.mu.Unlock(); return len(m.requests) }

func serve(t *testing.T, accept string) (*mightyCall, string) {
	m := &mightyCall{accept: accept}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return m, srv.URL
}

func TestTransportAddsHeadersWithoutTouchingTheRequest(t *testing.T) {
	sm, c, src := setup(t)
	sm.set(doc("AT-1", c.Now().Add(24*time.Hour)))
	mc, url := serve(t, "AT-1")
	req, _ := http.NewRequest(http.MethodGet, url+"/v4/api/profile", nil)
	req.Header.Set("Accept", "application/json")
	resp, err := tokensource.NewClient(src, nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || mc.count() != 1 {
		t.Fatalf("status %d after %d requests", resp.StatusCode, mc.count())
	}
	if got := mc.requests[0].Header.Get("Accept"); got != "application/json" {
		t.Fatalf("caller's header lost: %q", got)
	}
	if req.Header.Get("Authorization") != "" || req.Header.Get("x-api-key") != "" {
		t.Fatal("the caller's request was modified")
	}
}

func TestRetryOnceAfter401WithTheNewToken(t *testing.T) {
	sm, c, src := setup(t)
	sm.set(doc("AT-1", c.Now().Add(24*time.Hour)))
	mustToken(t, src) // cached: AT-1
	// The refresher replaced the token, and MightyCall no longer takes AT-1.
	c.Add(time.Hour)
	sm.set(doc("AT-2", c.Now().Add(24*time.Hour)))
	mc, url := serve(t, "AT-2")

	req, _ := http.NewRequest(http.MethodPost, url+"/v4/api/calls", strings.NewReader(`{"to":"+15550100"}`))
	resp, err := tokensource.NewClient(src, nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || mc.count() != 2 || sm.calls.Load() != 2 {
		t.Fatalf("status %d, %d requests, %d reads", resp.StatusCode, mc.count(), sm.calls.Load())
	}
	if mc.bodies[0] != `{"to":"+15550100"}` || mc.bodies[1] != mc.bodies[0] || !strings.Contains(string(body), "15550100") {
		t.Fatalf("body not replayed: %q", mc.bodies)
	}
	if got := mustToken(t, src); got != "AT-2" {
		t.Fatal(got)
	}
}

func TestNoInfiniteRetry(t *testing.T) {
	t.Run("new token refused too", func(t *testing.T) {
		sm, c, src := setup(t)
		sm.set(doc("AT-1", c.Now().Add(24*time.Hour)))
		mustToken(t, src)
		c.Add(time.Hour)
		sm.set(doc("AT-2", c.Now().Add(24*time.Hour)))
		mc, url := serve(t, "nothing-is-accepted")
		resp, err := tokensource.NewClient(src, nil).Get(url + "/v4/api/profile")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || mc.count() != 2 || sm.calls.Load() != 2 || !strings.Contains(string(body), "isSuccess") {
			t.Fatalf("status %d, %d requests, %d reads", resp.StatusCode, mc.count(), sm.calls.Load())
		}
	})
	t.Run("same token after re-read", func(t *testing.T) {
		sm, c, src := setup(t)
		sm.set(doc("AT-1", c.Now().Add(24*time.Hour)))
		mc, url := serve(t, "nothing-is-accepted")
		client := tokensource.NewClient(src, nil)
		for i := 1; i <= 5; i++ {
			resp, err := client.Get(url + "/v4/api/profile")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 || mc.count() != i {
				t.Fatalf("request %d: status %d, %d requests", i, resp.StatusCode, mc.count())
			}
		}
		// The first 401 re-read once (same token); the others wait MinReread.
		if n := sm.calls.Load(); n != 2 {
			t.Fatalf("%d reads", n)
		}
	})
	t.Run("body not replayable", func(t *testing.T) {
		sm, c, src := setup(t)
		sm.set(doc("AT-1", c.Now().Add(24*time.Hour)))
		mustToken(t, src)
		sm.set(doc("AT-2", c.Now().Add(24*time.Hour)))
		mc, url := serve(t, "AT-2")
		req, _ := http.NewRequest(http.MethodPost, url+"/v4/api/calls", io.NopCloser(bytes.NewBufferString("x")))
		req.GetBody = nil
		resp, err := tokensource.NewClient(src, nil).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 || mc.count() != 1 || sm.calls.Load() != 1 {
			t.Fatalf("status %d, %d requests, %d reads", resp.StatusCode, mc.count(), sm.calls.Load())
		}
	})
}

func TestNoRedirectToAnotherHost(t *testing.T) {
	sm, c, src := setup(t)
	sm.set(doc("AT-1", c.Now().Add(24*time.Hour)))
	other, otherURL := serve(t, "AT-1")
	redirect := httptest.NewServer(http.RedirectHandler(otherURL+"/steal", http.StatusFound))
	defer redirect.Close()
	resp, err := tokensource.NewClient(src, nil).Get(redirect.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || other.count() != 0 {
		t.Fatalf("followed a cross-host redirect with the credentials: %d, %d", resp.StatusCode, other.count())
	}
}

func TestErrorsNeverRevealValues(t *testing.T) {
	sm, c, src := setup(t, tokensource.WithMinReread(0))
	check := func(err error) {
		t.Helper()
		if err == nil {
			t.Fatal("want an error")
		}
		noSecrets(t, err, "AT-secret-1")
	}
	sm.set(doc("AT-secret-1", c.Now().Add(-time.Hour)))
	_, err := src.Token()
	check(err)
	_, err = tokensource.NewClient(src, nil).Get("http://127.0.0.1:1/")
	check(err)
	sm.set(`{"api_key":"` + apiKey + `","access_token":"AT-secret-1","expires_at":5}`)
	_, err = src.Token()
	check(err)
	sm2, _, src2 := setup(t)
	sm2.fail(errors.New("network down"))
	_, err = src2.APIKey(context.Background())
	check(err)
}
