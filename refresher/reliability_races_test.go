//go:build integration

package refresher_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher"
	fp "github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/faultproxy"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
)

// The user changing user_key while a refresh is in flight is covered by
// TestUserEditDuringScheduledRefreshSurvivesAgainstMoto and
// TestUserEditDuringRotationSurvivesAgainstMoto (moto_integration_test.go).

// TestReliabilityConcurrentScheduledRefreshes: several Lambda instances
// refresh one due secret at once (single-use refresh tokens). Exactly one
// new version becomes current, it holds a live token and a refresh token
// MightyCall still accepts, and nobody fails.
//
// The proxy forwards one request at a time: moto's label move is not
// atomic across its threads, while Secrets Manager's compare-and-swap is.
func TestReliabilityConcurrentScheduledRefreshes(t *testing.T) {
	t.Parallel()
	g := newRig(t, rigOptions{})
	g.proxy.SetSerial(true)
	id := g.bootstrapped()
	g.due()
	before := g.state(id)
	const n = 6
	instances := make([]*refresher.Refresher, n)
	for i := range instances {
		instances[i] = g.another()
	}
	entries := make([]refresher.SummaryEntry, n)
	var wg sync.WaitGroup
	for i, r := range instances {
		wg.Go(func() { entries[i] = g.refreshWith(context.Background(), r, id, false) })
	}
	wg.Wait()
	refreshed := 0
	for _, e := range entries {
		switch e.Outcome {
		case refresher.Refreshed:
			refreshed++
		case refresher.Skipped:
		default:
			t.Errorf("a concurrent run failed: %+v", e)
		}
	}
	if refreshed < 1 {
		t.Errorf("no run refreshed: %+v", entries)
	}
	after := g.checkInvariants(id, before, moved)
	if !g.mc.RefreshTokenValid(after.current.Doc.RefreshToken.Reveal()) {
		t.Errorf("the current refresh token is not one MightyCall accepts")
	}
	// Fresh now: another round writes nothing.
	for _, r := range instances[:2] {
		wg.Go(func() { g.refreshWith(context.Background(), r, id, false) })
	}
	wg.Wait()
	g.checkInvariants(id, after, nothingNew)
}

// TestReliabilityScheduledRefreshDuringRotation: scheduled (forced)
// refreshes run concurrently with each rotation step. They never touch the
// pending version, the rotation finishes on its version, and afterwards a
// refresh leaves the rotation finished (AWSPENDING on AWSCURRENT or on none)
// so that the next rotation can start.
func TestReliabilityScheduledRefreshDuringRotation(t *testing.T) {
	t.Parallel()
	g := newRig(t, rigOptions{})
	g.proxy.SetSerial(true)
	id := g.bootstrapped()
	token := g.startRotation(id)
	others := []*refresher.Refresher{g.another(), g.another()}

	// during runs step (retried as Secrets Manager retries a failed step)
	// while the other instances force a refresh.
	during := func(step string) {
		t.Helper()
		var wg sync.WaitGroup
		for _, r := range others {
			wg.Go(func() { g.refreshWith(context.Background(), r, id, true) })
		}
		var err error
		for range 3 {
			if err = g.rotate(id, token, step); err == nil {
				break
			}
		}
		wg.Wait()
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	during(refresher.StepCreate)
	s := g.state(id)
	if s.pending != token || s.pendDoc == "" {
		t.Fatalf("AWSPENDING after createSecret: %+v", s.versions)
	}
	for _, step := range []string{refresher.StepSet, refresher.StepTest} {
		during(step)
		s = g.checkInvariants(id, s, either)
	}
	during(refresher.StepFinish)
	s = g.state(id)
	if s.current.VersionID != token {
		// A refresh forced after finishSecret may have moved AWSCURRENT on;
		// then it must have kept the rotation finished.
		if s.pending != "" && s.pending != s.current.VersionID {
			t.Fatalf("rotation left looking unfinished: %v", s.versions)
		}
	}
	g.due()
	wantOutcome(t, g.refresh(id, false), "refreshed", "refresh_token")
	g.checkInvariants(id, s, moved)
	// The next rotation starts and finishes (AWS refuses to start one while
	// AWSPENDING sits on a version other than AWSCURRENT; moto does not
	// check, so checkInvariants does).
	next := g.startRotation(id)
	for _, step := range []string{refresher.StepCreate, refresher.StepSet, refresher.StepTest, refresher.StepFinish} {
		if err := g.rotate(id, next, step); err != nil {
			t.Fatalf("next rotation %s: %v", step, err)
		}
	}
	if g.state(id).current.VersionID != next {
		t.Fatal("the next rotation did not finish on its version")
	}
}

// TestReliabilityRotationStepsReplayed: each step replayed after the next
// one ran is a no-op: no token request, no write, no label move.
func TestReliabilityRotationStepsReplayed(t *testing.T) {
	t.Parallel()
	g := newRig(t, rigOptions{cfg: refresher.Config{TokenCheck: true}})
	id := g.bootstrapped()
	token := g.startRotation(id)
	sequence := []string{
		refresher.StepCreate, refresher.StepSet, refresher.StepCreate, // create replayed after set
		refresher.StepTest, refresher.StepSet, refresher.StepCreate, // set, create replayed after test
		refresher.StepFinish, refresher.StepTest, refresher.StepSet, refresher.StepCreate, refresher.StepFinish,
	}
	var s state
	for i, step := range sequence {
		n0, w0 := g.tokenRequests(), g.proxy.Count(fp.OpPutSecretValue)+g.proxy.Count(fp.OpUpdateSecretVersionStage)
		if err := g.rotate(id, token, step); err != nil {
			t.Fatalf("step %d %s: %v", i, step, err)
		}
		replay := false
		for _, prev := range sequence[:i] {
			replay = replay || prev == step
		}
		if replay {
			if g.tokenRequests() != n0 || g.proxy.Count(fp.OpPutSecretValue)+g.proxy.Count(fp.OpUpdateSecretVersionStage) != w0 {
				t.Errorf("replayed %s (step %d) made a token request or a write", step, i)
			}
			s = g.checkInvariants(id, s, nothingNew)
		} else {
			s = g.state(id)
		}
	}
	// A finished rotation leaves AWSPENDING on no version (or, after a merge,
	// on the current one): never on another, which would block the next.
	if s.current.VersionID != token || (s.pending != "" && s.pending != token) {
		t.Fatalf("after the rotation: %v", s.versions)
	}
}

// TestReliabilityHalfDoneRotation: a rotation that timed out after
// createSecret leaves AWSPENDING on its own version. Scheduled refreshes go
// on working and leave it alone; a rotation step for any other token is
// refused, as AWS's own rotation functions refuse it; clearing the stale
// AWSPENDING (the runbook) lets a new rotation finish.
func TestReliabilityHalfDoneRotation(t *testing.T) {
	t.Parallel()
	g := newRig(t, rigOptions{})
	ctx := context.Background()
	id := g.bootstrapped()
	stale := g.startRotation(id)
	if err := g.rotate(id, stale, refresher.StepCreate); err != nil {
		t.Fatal(err)
	}
	// Abandoned here. Scheduled refreshes over the next days.
	s := g.state(id)
	for range 3 {
		g.due()
		wantOutcome(t, g.refresh(id, false), "refreshed", "refresh_token")
		s = g.checkInvariants(id, s, moved)
	}
	// A rotation step for a token that is not a version of the secret, and
	// for one that is a version without AWSPENDING (AWSPREVIOUS).
	prev, err := g.inspect.Read(ctx, id, secrets.StagePrevious)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"6e0f4c1d-1111-4222-8333-944455556666", prev.VersionID} {
		for _, step := range []string{refresher.StepCreate, refresher.StepFinish} {
			err := g.rotate(id, tok, step)
			if !errors.Is(err, refresher.ErrRotation) {
				t.Errorf("%s for token %s: want a refusal, got %v", step, tok, err)
			}
		}
	}
	g.checkInvariants(id, s, nothingNew)

	// Runbook: remove AWSPENDING from the stale version, start again.
	if _, err := g.direct.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(id), VersionStage: aws.String(secrets.StagePending), RemoveFromVersionId: aws.String(stale)}); err != nil {
		t.Fatal(err)
	}
	next := g.startRotation(id)
	for _, step := range []string{refresher.StepCreate, refresher.StepSet, refresher.StepTest, refresher.StepFinish} {
		if err := g.rotate(id, next, step); err != nil {
			t.Fatalf("rotation after the runbook, %s: %v", step, err)
		}
	}
	s = g.state(id)
	if s.current.VersionID != next || !g.mc.TokenValid(s.current.Doc.AccessToken.Reveal()) {
		t.Fatalf("the new rotation did not finish: %v", s.versions)
	}
}

// TestReliabilityFinishInterruptedAfterMerge: the user edited the secret
// during a rotation, so finishSecret writes a merged version on top and then
// moves AWSPENDING onto it. If that last move fails, Secrets Manager retries
// finishSecret: the retry must complete the move, or the rotation looks
// unfinished forever and the next one is refused.
func TestReliabilityFinishInterruptedAfterMerge(t *testing.T) {
	t.Parallel()
	g := newRig(t, rigOptions{})
	// Keys only (the rotation bootstraps it): after a label move, moto can
	// leave two versions AWSCURRENT on a console-style write.
	id := g.create(keysDoc(""))
	token := g.startRotation(id)
	if err := g.rotate(id, token, refresher.StepCreate); err != nil {
		t.Fatal(err)
	}
	(&env{t: t, sm: g.direct}).consolePut(id, keysDoc(`,"note":"edited during the rotation"`))
	for _, step := range []string{refresher.StepSet, refresher.StepTest} {
		if err := g.rotate(id, token, step); err != nil {
			t.Fatal(err)
		}
	}
	h := g.proxy.Add(fp.Rule{Op: fp.OpUpdateSecretVersionStage, SecretID: id, BodyContains: `"VersionStage":"AWSPENDING"`, Error: &fp.AccessDenied, Count: 1})
	err := g.rotate(id, token, refresher.StepFinish)
	if h.Hits() != 1 || err == nil || !strings.Contains(err.Error(), "AWSPENDING") {
		t.Fatalf("want the AWSPENDING move to fail once: hits %d, %v", h.Hits(), err)
	}
	// Secrets Manager retries the step.
	if err := g.rotate(id, token, refresher.StepFinish); err != nil {
		t.Fatalf("retried finishSecret: %v", err)
	}
	s := g.state(id)
	if !strings.Contains(mustJSON(t, s.current.Doc), "edited during the rotation") {
		t.Fatal("the edit was lost")
	}
	if s.pending != "" && s.pending != s.current.VersionID {
		t.Fatalf("AWSPENDING left on %s, AWSCURRENT on %s: the next rotation would be refused", s.pending, s.current.VersionID)
	}
}
