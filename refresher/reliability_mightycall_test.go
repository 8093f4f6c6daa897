//go:build integration

package refresher_test

import (
	"slices"
	"testing"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall/emulator"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
)

const htmlPage = "<html><head><title>Service Unavailable</title></head><body><h1>Sorry</h1></body></html>"

// TestReliabilityMightyCallFaults injects each MightyCall fault into a due
// refresh (AWSCURRENT holds a token and a refresh token), checks the
// outcome and the invariants, and, after a failure, that the next run
// without the fault recovers.
func TestReliabilityMightyCallFaults(t *testing.T) {
	t.Parallel()
	const forever = 100
	for _, c := range []struct {
		name  string
		fault emulator.Fault
		late  int32 // answers lost after MightyCall acted (see rig.serveMightyCall)
		// short makes the client's per-attempt timeout 500ms (for slow answers).
		short    bool
		outcome  string
		grant    string   // of a refresh
		errParts []string // of a failure
		requests int      // token requests of the faulted run
		minTime  time.Duration
		// lifetime, if set, is the stored expires_at - issued_at.
		lifetime time.Duration
		// recoverGrant is the grant of the next run after a failure.
		recoverGrant string
	}{
		// Transient: retried with backoff, honouring Retry-After.
		{name: "500 once", fault: emulator.Fault{Status: 500}, outcome: "refreshed", grant: "refresh_token", requests: 2},
		{name: "502 html page once", fault: emulator.Fault{Status: 502}, outcome: "refreshed", grant: "refresh_token", requests: 2},
		{name: "503 with Retry-After", fault: emulator.Fault{Status: 503, RetryAfter: "1"}, outcome: "refreshed", grant: "refresh_token", requests: 2, minTime: time.Second},
		{name: "429 with Retry-After", fault: emulator.Fault{Status: 429, RetryAfter: "1", Body: `{"error":"rate_limited"}`}, outcome: "refreshed", grant: "refresh_token", requests: 2, minTime: time.Second},
		{name: "429 without Retry-After", fault: emulator.Fault{Status: 429, Count: 2}, outcome: "refreshed", grant: "refresh_token", requests: 3},
		{name: "slower than the client timeout once", fault: emulator.Fault{Delay: 3 * time.Second}, short: true, outcome: "refreshed", grant: "refresh_token", requests: 2},
		{name: "connection reset once", fault: emulator.Fault{Reset: true}, outcome: "refreshed", grant: "refresh_token", requests: 2},
		// Persistent transient failures: a bounded number of attempts, then a clear failure.
		{name: "500 always", fault: emulator.Fault{Status: 500, Count: forever}, outcome: "failed", errParts: []string{"HTTP 500", "after 4 attempts"}, requests: 4, recoverGrant: "refresh_token"},
		{name: "slower than the client timeout always", fault: emulator.Fault{Delay: 3 * time.Second, Count: forever}, short: true, outcome: "failed", errParts: []string{"Timeout", "after 4 attempts"}, requests: 4, recoverGrant: "refresh_token"},
		{name: "connection reset always", fault: emulator.Fault{Reset: true, Count: forever}, outcome: "failed", errParts: []string{"after 4 attempts"}, requests: 4, recoverGrant: "refresh_token"},
		// The refresh token consumed but the answer lost: the retry's
		// refresh token is a replay, rejected, and the keys take over.
		{name: "answer lost after the refresh", late: 1, short: true, outcome: "refreshed", grant: "client_credentials", requests: 3},
		// Not a token: a clear error, no retry loop, nothing written.
		{name: "html error page with 200", fault: emulator.Fault{Status: 200, Body: htmlPage, ContentType: "text/html"}, outcome: "failed", errParts: []string{"not a JSON object"}, requests: 1, recoverGrant: "refresh_token"},
		{name: "html 403 from a proxy", fault: emulator.Fault{Status: 403, Body: htmlPage, ContentType: "text/html"}, outcome: "failed", errParts: []string{"HTTP 403", "non-JSON error body (text/html"}, requests: 1, recoverGrant: "refresh_token"},
		{name: "empty body", fault: emulator.Fault{Status: 200}, outcome: "failed", errParts: []string{"not a JSON object (0 bytes)"}, requests: 1, recoverGrant: "refresh_token"},
		// MightyCall issued a token (and consumed the refresh token) but its
		// answer is unusable: nothing is stored; the next run falls back to the keys.
		{name: "truncated json", fault: emulator.Fault{Truncate: true}, outcome: "failed", errParts: []string{"not a JSON object"}, requests: 1, recoverGrant: "client_credentials"},
		{name: "oversized body", fault: emulator.Fault{OversizeBytes: 1 << 20}, outcome: "failed", errParts: []string{"larger than 65536 bytes"}, requests: 1, recoverGrant: "client_credentials"},
		{name: "200 without access_token", fault: emulator.Fault{OmitAccessToken: true}, outcome: "failed", errParts: []string{"no access_token"}, requests: 1, recoverGrant: "client_credentials"},
		// expires_in: only a plausible value is trusted; otherwise the documented 24h.
		{name: "expires_in zero", fault: emulator.Fault{ExpiresIn: 0}, outcome: "refreshed", grant: "refresh_token", requests: 1, lifetime: 24 * time.Hour},
		{name: "expires_in negative", fault: emulator.Fault{ExpiresIn: -5}, outcome: "refreshed", grant: "refresh_token", requests: 1, lifetime: 24 * time.Hour},
		{name: "expires_in numeric string", fault: emulator.Fault{ExpiresIn: "7200"}, outcome: "refreshed", grant: "refresh_token", requests: 1, lifetime: 2 * time.Hour},
		{name: "expires_in word", fault: emulator.Fault{ExpiresIn: "soon"}, outcome: "refreshed", grant: "refresh_token", requests: 1, lifetime: 24 * time.Hour},
		{name: "expires_in absurdly large", fault: emulator.Fault{ExpiresIn: 1e12}, outcome: "refreshed", grant: "refresh_token", requests: 1, lifetime: 24 * time.Hour},
		{name: "expires_in plausible", fault: emulator.Fault{ExpiresIn: 43200}, outcome: "refreshed", grant: "refresh_token", requests: 1, lifetime: 12 * time.Hour},
		// The refresh token refused: the keys, in the same invocation.
		{name: "invalid_grant on refresh", fault: emulator.Fault{Grant: "refresh_token", Status: 400, Body: `{"error":"invalid_grant"}`}, outcome: "refreshed", grant: "client_credentials", requests: 2},
		{name: "401 on refresh", fault: emulator.Fault{Grant: "refresh_token", Status: 401}, outcome: "refreshed", grant: "client_credentials", requests: 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			g := newRig(t, rigOptions{})
			id := g.bootstrapped()
			g.due()
			before := g.state(id)
			n0 := g.tokenRequests()
			if c.short {
				g.client.HTTPClient.Timeout = 500 * time.Millisecond
			}
			if c.fault != (emulator.Fault{}) {
				g.mc.InjectFault(c.fault)
			}
			g.late.Store(c.late)
			start := time.Now()
			e := g.refresh(id, false)
			took := time.Since(start)
			g.mc.ClearFaults()
			if n := g.tokenRequests() - n0; n != c.requests {
				t.Errorf("%d token requests, want %d", n, c.requests)
			}
			if took < c.minTime {
				t.Errorf("took %v, less than Retry-After %v", took, c.minTime)
			}
			if c.outcome == "refreshed" {
				wantOutcome(t, e, "refreshed", c.grant)
				after := g.checkInvariants(id, before, moved)
				if c.lifetime != 0 {
					if d := after.current.Doc.ExpiresAt.Sub(after.current.Doc.IssuedAt); d != c.lifetime {
						t.Errorf("stored lifetime %v, want %v", d, c.lifetime)
					}
				}
				return
			}
			wantErr(t, e, c.errParts...)
			after := g.checkInvariants(id, before, nothingNew)
			// The next scheduled run, without the fault, recovers.
			wantOutcome(t, g.refresh(id, false), "refreshed", c.recoverGrant)
			g.checkInvariants(id, after, moved)
		})
	}
}

// TestReliabilityInvalidClientFailsWithoutALoop: bad or revoked keys are a
// permanent failure: one attempt per grant, a clear error, nothing written.
func TestReliabilityInvalidClientFailsWithoutALoop(t *testing.T) {
	t.Parallel()
	t.Run("wrong user key", func(t *testing.T) {
		t.Parallel()
		g := newRig(t, rigOptions{})
		id := g.create(`{"api_key":"` + relAPIKey + `","user_key":"rel-canary-wrong-user-key-0d1"}`)
		refresher.Canary.Secret("a wrong user key", "rel-canary-wrong-user-key-0d1")
		before := g.state(id)
		wantErr(t, g.refresh(id, false), "invalid_client", "HTTP 400")
		if n := g.tokenRequests(); n != 1 {
			t.Errorf("%d token requests, want 1", n)
		}
		g.checkInvariants(id, before, nothingNew)
	})
	t.Run("account removed", func(t *testing.T) {
		t.Parallel()
		g := newRig(t, rigOptions{})
		id := g.bootstrapped()
		g.due()
		before := g.state(id)
		n0 := g.tokenRequests()
		g.mc.RemoveAccount(relAPIKey) // keys revoked: both grants answer 401 invalid_client
		wantErr(t, g.refresh(id, false), "invalid_client", "HTTP 401")
		if n := g.tokenRequests() - n0; n != 2 {
			t.Errorf("%d token requests, want 2 (refresh, then the keys once)", n)
		}
		g.checkInvariants(id, before, nothingNew)
		// Still failing clearly, still no loop, on the next run.
		wantErr(t, g.refresh(id, false), "invalid_client")
		if n := g.tokenRequests() - n0; n != 4 {
			t.Errorf("%d token requests over two runs, want 4", n)
		}
	})
}

// TestReliabilitySingleUseRefreshTokens: a refresh token works once; a
// replayed one (here: the user restores the previous version) is rejected
// and the keys take over in the same run.
func TestReliabilitySingleUseRefreshTokens(t *testing.T) {
	t.Parallel()
	g := newRig(t, rigOptions{})
	id := g.bootstrapped()
	v1 := g.state(id).current
	g.due()
	wantOutcome(t, g.refresh(id, false), "refreshed", "refresh_token")
	if g.mc.RefreshTokenValid(v1.Doc.RefreshToken.Reveal()) {
		t.Fatal("the used refresh token is still accepted: the emulator is not single-use")
	}
	// The operator rolls back to the previous version, as AWS documents it:
	// AWSCURRENT moved back to the version AWSPREVIOUS names.
	prev, err := g.inspect.Read(t.Context(), id, secrets.StagePrevious)
	if err != nil || prev.VersionID != v1.VersionID {
		t.Fatalf("AWSPREVIOUS: %v %v", prev.VersionID, err)
	}
	if err := g.inspect.MoveCurrent(t.Context(), id, prev.VersionID, g.state(id).current.VersionID); err != nil {
		t.Fatal(err)
	}
	g.due()
	before := g.state(id)
	n0 := len(g.mc.Requests())
	wantOutcome(t, g.refresh(id, false), "refreshed", "client_credentials")
	reqs := g.mc.Requests()[n0:]
	if len(reqs) != 2 || reqs[0].Grant != "refresh_token" || reqs[0].Error != "invalid_grant" || reqs[1].Grant != "client_credentials" {
		t.Fatalf("want a rejected replay then the keys: %+v", grants(reqs))
	}
	g.checkInvariants(id, before, moved)
}

func grants(reqs []emulator.Request) []string {
	var out []string
	for _, r := range reqs {
		out = append(out, r.Grant+":"+r.Error)
	}
	return slices.Clip(out)
}
