//go:build integration

package refresher_test

// The reliability suite's rig and invariant checker. The scenarios are in
// reliability_*_test.go beside this file; see docs-failure-modes.md for
// the table they prove.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/faultproxy"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall/emulator"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/testenv"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
)

// Keys of the reliability suite: canaries, like every token the emulator
// issues.
const (
	relAPIKey  = "rel-canary-api-key-3f9b61"
	relUserKey = "rel-canary-user-key-c28e04"
)

// bootstraps builds ./cmd/refresher once for the runtime-emulator tests.
var bootstraps = testenv.NewBootstrapCache()

// reliabilityTeardown runs after m.Run in TestMain: it removes the built
// bootstraps and fails the package if any canary leaked anywhere.
func reliabilityTeardown(code int) int {
	bootstraps.Close()
	return refresher.CanaryMain(code)
}

// rig is the real edges with faults on both: secrets.Store over the fault
// proxy in front of moto_server (with production's SDK retry policy and a
// short backoff), and mightycall.Client over the MightyCall emulator (short
// per-attempt timeout and backoff). Both share one test clock with the
// refresher; the SDK and HTTP timeouts use real time.
type rig struct {
	t       *testing.T
	late    atomic.Int32 // token answers still to send late (see serveMightyCall)
	clock   *clock
	mc      *emulator.Server
	base    string
	proxy   *faultproxy.Proxy
	sm      *secretsmanager.Client // through the proxy
	direct  *secretsmanager.Client // straight to moto: setup and inspection
	store   *secrets.Store         // through the proxy
	inspect *secrets.Store         // straight to moto
	client  *mightycall.Client
	logs    *refresher.CanaryOutput
	metrics *refresher.CanaryOutput
	r       *refresher.Refresher
	cfg     refresher.Config
}

type rigOptions struct {
	cfg refresher.Config
	emu emulator.Options
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	g := &rig{t: t, clock: &clock{t: time.Now().UTC().Truncate(time.Second)}}
	o.emu.Now = g.clock.Now
	g.mc = emulator.New(o.emu)
	g.mc.AddAccount(emulator.Account{APIKey: relAPIKey, UserKey: relUserKey})
	refresher.Canary.Secret("a reliability test key", relAPIKey, relUserKey)
	srv := httptest.NewServer(refresher.Canary.Issued(http.HandlerFunc(g.serveMightyCall)))
	t.Cleanup(srv.Close)
	g.base = srv.URL + "/v4"

	p, err := faultproxy.New(moto.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	g.proxy = p
	// Production's retry policy (cmd/refresher: standard, 5 attempts) with
	// a short backoff so that tests stay fast.
	g.sm, err = p.Client(context.Background(), config.WithRetryer(func() aws.Retryer {
		return retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 5
			so.Backoff = retry.NewExponentialJitterBackoff(20 * time.Millisecond)
		})
	}))
	if err != nil {
		t.Fatal(err)
	}
	g.direct = moto.Client(t)
	g.store = secrets.NewStore(g.sm)
	g.inspect = secrets.NewStore(g.direct)
	g.client = &mightycall.Client{
		HTTPClient:  &http.Client{Timeout: 2 * time.Second}, // tests of slow answers shorten it
		MaxAttempts: 4,
		BaseDelay:   10 * time.Millisecond,
		MaxDelay:    50 * time.Millisecond,
	}
	o.cfg.DefaultBaseURL = g.base
	g.cfg = o.cfg
	lg, logs := refresher.Canary.Logger(t, "refresher logs")
	g.logs = logs
	g.metrics = refresher.Canary.Output(t, "refresher metrics")
	g.r = refresher.New(o.cfg, refresher.Deps{Store: g.store, Exchanger: g.client, Checker: g.client,
		Now: g.clock.Now, Logger: lg, Metrics: g.metrics})
	return g
}

// serveMightyCall is the emulator, except that while g.late is positive a
// token request is carried out (a token issued, a refresh token consumed)
// and its answer held back for lateHold, longer than the client waits: an
// answer lost after MightyCall acted on the request.
func (g *rig) serveMightyCall(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != emulator.TokenPath || g.late.Add(-1) < 0 {
		g.late.Store(0)
		g.mc.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	g.mc.ServeHTTP(rec, r)
	select {
	case <-time.After(lateHold):
	case <-r.Context().Done():
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// lateHold is how long serveMightyCall holds a late answer back.
const lateHold = 2 * time.Second

// another returns a second Refresher (another Lambda instance) on the same
// edges, logging to its own scanned output.
func (g *rig) another() *refresher.Refresher {
	lg, _ := refresher.Canary.Logger(g.t, "another refresher's logs")
	return refresher.New(g.cfg, refresher.Deps{Store: g.store, Exchanger: g.client, Checker: g.client,
		Now: g.clock.Now, Logger: lg, Metrics: refresher.Canary.Output(g.t, "another refresher's metrics")})
}

func keysDoc(extra string) string {
	return `{"api_key":"` + relAPIKey + `","user_key":"` + relUserKey + `","owner":"team-r"` + extra + `}`
}

// create makes a secret straight in moto (no faults) and returns its name.
func (g *rig) create(value string) string {
	g.t.Helper()
	name := testenv.UniqueName(g.t)
	if _, err := g.direct.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)}); err != nil {
		g.t.Fatal(err)
	}
	return name
}

// bootstrapped creates a keys-only secret and runs a first refresh, so that
// AWSCURRENT holds a token and a refresh token.
func (g *rig) bootstrapped() string {
	g.t.Helper()
	id := g.create(keysDoc(""))
	if e := g.refresh(id, false); e.Outcome != "refreshed" {
		g.t.Fatalf("bootstrap: %+v", e)
	}
	return id
}

// due makes every token in the rig due (19h later: 5h left, inside 6h).
func (g *rig) due() { g.clock.Add(19 * time.Hour) }

// refresh runs Handle with a refresh event for one secret, as Lambda would,
// records the error and summary for the canary, and returns the entry.
func (g *rig) refresh(id string, force bool) refresher.SummaryEntry {
	g.t.Helper()
	return g.refreshWith(context.Background(), g.r, id, force)
}

func (g *rig) refreshWith(ctx context.Context, r *refresher.Refresher, id string, force bool) refresher.SummaryEntry {
	ev, _ := json.Marshal(map[string]any{"secret_ids": []string{id}, "force": force})
	out, err := r.Handle(ctx, ev)
	refresher.Canary.Err(g.t, "Handle error", err)
	var sum refresher.Summary
	switch {
	case err == nil:
		sum = out.(refresher.Summary)
	default:
		re, ok := err.(*refresher.RunError)
		if !ok {
			g.t.Errorf("refresh %s: not a RunError: %v", id, err)
			return refresher.SummaryEntry{Outcome: "failed", Error: err.Error()}
		}
		sum = re.Summary
	}
	b, _ := json.Marshal(sum)
	refresher.Canary.Text(g.t, "summary", string(b))
	if len(sum.Results) != 1 {
		g.t.Errorf("summary has %d results", len(sum.Results))
		return refresher.SummaryEntry{}
	}
	if (sum.Results[0].Outcome == "failed") != (err != nil) {
		g.t.Errorf("a failed secret must make the invocation fail: %+v, %v", sum.Results[0], err)
	}
	return sum.Results[0]
}

// rotate runs one rotation step through Handle.
func (g *rig) rotate(id, token, step string) error {
	g.t.Helper()
	ev, _ := json.Marshal(map[string]string{"Step": step, "SecretId": id, "ClientRequestToken": token, "RotationToken": rotationTokenCanary})
	_, err := g.r.Handle(context.Background(), ev)
	return refresher.Canary.Err(g.t, "rotation error", err)
}

const rotationTokenCanary = "rel-rotation-token-canary-6a1f0e"

// startRotation leaves the secret as RotateSecret leaves it before
// createSecret (see env.startRotation): rotation enabled, an empty
// AWSPENDING placeholder whose id is the token.
func (g *rig) startRotation(id string) string {
	g.t.Helper()
	e := &env{t: g.t, sm: g.direct, store: g.inspect}
	return e.startRotation(id)
}

// state is what the invariants compare before and after a run.
type state struct {
	versions map[string][]string // every version's labels, unlabelled ones included
	current  secrets.Version
	pending  string // the version carrying AWSPENDING, or ""
	pendDoc  string // its value, or ""
}

func (g *rig) state(id string) state {
	g.t.Helper()
	ctx := context.Background()
	s := state{versions: map[string][]string{}}
	in := &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(id), IncludeDeprecated: aws.Bool(true), MaxResults: aws.Int32(100)}
	for page := 0; ; page++ {
		if page > 50 {
			g.t.Fatal("ListSecretVersionIds: too many pages")
		}
		out, err := g.direct.ListSecretVersionIds(ctx, in)
		if err != nil {
			g.t.Fatal(err)
		}
		for _, v := range out.Versions {
			s.versions[aws.ToString(v.VersionId)] = v.VersionStages
		}
		// moto answers NextToken "" on its last page.
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	cur, err := g.inspect.Read(ctx, id, secrets.StageCurrent)
	if err != nil {
		g.t.Fatalf("read AWSCURRENT: %v", err)
	}
	s.current = cur
	for vid, stages := range s.versions {
		if slices.Contains(stages, secrets.StagePending) {
			s.pending = vid
			if p, err := g.inspect.ReadVersion(ctx, id, vid, secrets.StagePending); err == nil {
				b, _ := p.Doc.Encode()
				s.pendDoc = string(b)
			}
		}
	}
	return s
}

// expect says what a run should have done to AWSCURRENT.
type expect int

const (
	// unchanged: AWSCURRENT stays where it was (skipped or failed).
	unchanged expect = iota
	// nothingNew: unchanged, and no version was written at all.
	nothingNew
	// moved: AWSCURRENT moved to a new, valid token.
	moved
	// either: a race; AWSCURRENT may or may not have moved.
	either
)

// checkInvariants asserts the promises of SPEC section 5 between two
// states of secret id:
//   - exactly one version carries AWSCURRENT;
//   - the keys and every other user field are unchanged;
//   - AWSCURRENT holds the previous token, or a token MightyCall issued that
//     is live and not expired;
//   - the refresh token AWSCURRENT holds is one MightyCall still accepts, or
//     the keys are there to recover;
//   - no new version when nothing changed; the AWSPENDING of an unfinished
//     rotation is never moved or rewritten by a refresh, and a finished
//     rotation stays finished (AWSPENDING on AWSCURRENT or on none).
func (g *rig) checkInvariants(id string, before state, want expect) state {
	g.t.Helper()
	after := g.state(id)
	var current []string
	for vid, stages := range after.versions {
		if slices.Contains(stages, secrets.StageCurrent) {
			current = append(current, vid)
		}
	}
	if len(current) != 1 {
		g.t.Errorf("invariant: %d versions carry AWSCURRENT: %v", len(current), after.versions)
	}
	cur, prev := after.current.Doc, before.current.Doc
	if !cur.SameUserFields(prev) {
		g.t.Errorf("invariant: the keys or user fields changed")
	}
	sameToken := cur.AccessToken.Equal(prev.AccessToken)
	if !sameToken {
		switch {
		case !g.mc.TokenValid(cur.AccessToken.Reveal()):
			g.t.Errorf("invariant: AWSCURRENT holds a new token MightyCall does not know as live")
		case !cur.ExpiresAt.After(g.clock.Now()):
			g.t.Errorf("invariant: AWSCURRENT's token expired at %s", cur.ExpiresAt)
		case cur.ExpiresAt.After(g.clock.Now().Add(24 * time.Hour)):
			g.t.Errorf("invariant: expires_at %s is later than MightyCall's 24h", cur.ExpiresAt)
		}
	}
	if !cur.RefreshToken.IsZero() && !g.mc.RefreshTokenValid(cur.RefreshToken.Reveal()) && cur.CheckKeys() != nil {
		g.t.Errorf("invariant: AWSCURRENT's refresh token is rejected and the keys are gone")
	}
	switch want {
	case unchanged, nothingNew:
		if after.current.VersionID != before.current.VersionID || !sameToken {
			g.t.Errorf("invariant: AWSCURRENT moved from %s to %s", before.current.VersionID, after.current.VersionID)
		}
		if want == nothingNew && len(after.versions) != len(before.versions) {
			g.t.Errorf("invariant: %d new version(s) though nothing changed", len(after.versions)-len(before.versions))
		}
	case moved:
		if after.current.VersionID == before.current.VersionID || sameToken {
			g.t.Errorf("invariant: AWSCURRENT did not move to a new token")
		}
	}
	// AWS refuses to start a rotation while AWSPENDING sits on a version
	// other than AWSCURRENT: a finished rotation must stay finished.
	finished := func(s state) bool { return s.pending == "" || s.pending == s.current.VersionID }
	if finished(before) && !finished(after) {
		g.t.Errorf("invariant: AWSPENDING left on %s while AWSCURRENT is on %s: the next rotation would be refused", after.pending, after.current.VersionID)
	}
	if before.pending != "" && before.pending != before.current.VersionID &&
		(after.pending != before.pending || after.pendDoc != before.pendDoc) {
		g.t.Errorf("invariant: AWSPENDING moved or was rewritten (%s -> %s)", before.pending, after.pending)
	}
	return after
}

// tokenRequests is how many token requests the emulator received.
func (g *rig) tokenRequests() int { return g.mc.Stats().TokenRequests }

func wantErr(t *testing.T, e refresher.SummaryEntry, parts ...string) {
	t.Helper()
	if e.Outcome != "failed" {
		t.Fatalf("want a failure, got %+v", e)
	}
	for _, p := range parts {
		if !strings.Contains(e.Error, p) {
			t.Errorf("error %q does not mention %q", e.Error, p)
		}
	}
}

func wantOutcome(t *testing.T, e refresher.SummaryEntry, outcome, grant string) {
	t.Helper()
	if string(e.Outcome) != outcome || (grant != "" && e.Grant != grant) {
		t.Fatalf("want %s (grant %q), got %+v", outcome, grant, e)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func testName(t *testing.T) string { return testenv.UniqueName(t) }
