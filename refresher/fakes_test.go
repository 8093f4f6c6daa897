package refresher

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/memstore"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/sensitive"
)

// fakeMC is a minimal MightyCall for unit tests of the decision flow: one
// account, single-use refresh tokens, scripted failures.
type fakeMC struct {
	mu       sync.Mutex
	apiKey   string
	userKey  string
	n        int
	refresh  map[string]bool // valid refresh tokens
	requests []mightycall.Request
	fail     []error // returned by the next calls, FIFO
	lifetime time.Duration
}

func newFakeMC() *fakeMC {
	return &fakeMC{apiKey: "AK-test", userKey: "UK-test", refresh: map[string]bool{}, lifetime: 24 * time.Hour}
}

func (f *fakeMC) Exchange(ctx context.Context, req mightycall.Request) (mightycall.Token, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, req)
	if len(f.fail) > 0 {
		err := f.fail[0]
		f.fail = f.fail[1:]
		return mightycall.Token{}, 1, err
	}
	if req.APIKey.Reveal() != f.apiKey {
		return mightycall.Token{}, 1, &mightycall.Error{Grant: req.Grant, StatusCode: 401, Code: "invalid_client"}
	}
	switch req.Grant {
	case mightycall.ClientCredentials:
		if req.ClientSecret.Reveal() != f.userKey {
			return mightycall.Token{}, 1, &mightycall.Error{Grant: req.Grant, StatusCode: 400, Code: "invalid_client"}
		}
	case mightycall.RefreshToken:
		if !f.refresh[req.RefreshToken.Reveal()] {
			return mightycall.Token{}, 1, &mightycall.Error{Grant: req.Grant, StatusCode: 400, Code: "invalid_grant"}
		}
		delete(f.refresh, req.RefreshToken.Reveal())
	}
	f.n++
	rt := fmt.Sprintf("RT-%d", f.n)
	f.refresh[rt] = true
	return mightycall.Token{AccessToken: sensitive.New(fmt.Sprintf("AT-%d", f.n)), TokenType: "bearer",
		RefreshToken: sensitive.New(rt), Lifetime: f.lifetime}, 1, nil
}

func (f *fakeMC) grants() []mightycall.Grant {
	f.mu.Lock()
	defer f.mu.Unlock()
	var g []mightycall.Grant
	for _, r := range f.requests {
		g = append(g, r.Grant)
	}
	return g
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

type harness struct {
	store   *memstore.Store
	mc      *fakeMC
	clock   *clock
	logs    *lockedBuffer
	metrics *lockedBuffer
	r       *Refresher
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{mc: newFakeMC(), clock: &clock{t: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}, logs: &lockedBuffer{}, metrics: &lockedBuffer{}}
	h.store = memstore.New(h.clock.Now)
	if cfg.DefaultBaseURL == "" {
		cfg.DefaultBaseURL = "https://ccapi.mightycall.com/v4"
	}
	h.r = New(cfg, Deps{Store: h.store, Exchanger: h.mc, Now: h.clock.Now,
		Logger: slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Metrics: h.metrics})
	Canary.Secret("a unit test key", "AK-test", "UK-test")
	Canary.Track(t, "harness logs", h.logs)
	Canary.Track(t, "harness metrics", h.metrics)
	t.Cleanup(func() {
		// No test key or token may appear in any log or metric line.
		for _, s := range []string{h.logs.String(), h.metrics.String()} {
			for _, canary := range []string{"AK-test", "UK-test", "AT-", "RT-"} {
				if bytes.Contains([]byte(s), []byte(canary)) {
					t.Errorf("output contains %q:\n%s", canary, s)
				}
			}
		}
	})
	return h
}
