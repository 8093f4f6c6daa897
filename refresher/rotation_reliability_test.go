package refresher

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
)

// TestReliabilityAbandonedRotationOnAWSSemantics: a rotation abandoned after
// createSecret for longer than a token lives cannot be resumed on AWS (the
// pending version's value cannot be replaced under the same token, which
// moto allows): createSecret then releases its AWSPENDING label and fails
// clearly, the schedule keeps AWSCURRENT fresh meanwhile, and the next
// rotation finishes. memstore has AWS's semantics here.
func TestReliabilityAbandonedRotationOnAWSSemantics(t *testing.T) {
	h := newHarness(t, Config{})
	ctx := context.Background()
	h.store.Create("acct", []byte(keysOnly))
	h.r.RefreshSecret(ctx, "acct", false)
	stale := h.store.StartRotation("acct")
	if err := rotate(t, h, "acct", stale, StepCreate); err != nil {
		t.Fatal(err)
	}
	// Abandoned for 25h; the schedule keeps AWSCURRENT fresh meanwhile.
	for range 5 {
		h.clock.Add(5 * time.Hour)
		if res := h.r.RefreshSecret(ctx, "acct", false); res.Err != nil {
			t.Fatalf("scheduled refresh during the abandoned rotation: %v", res.Err)
		}
	}
	if cur := currentDoc(t, h.store, "acct"); !cur.ExpiresAt.After(h.clock.Now()) {
		t.Fatal("AWSCURRENT expired while the rotation was stuck")
	}
	if pend, _ := h.store.ValueAt("acct", secrets.StagePending); pend != stale {
		t.Fatal("a scheduled refresh moved the stuck AWSPENDING")
	}
	// Secrets Manager reattempts the rotation with the same token: the
	// pending token has expired and can never be replaced under that token,
	// so createSecret releases the label (no login spent) and fails clearly.
	logins := len(h.mc.grants())
	err := rotate(t, h, "acct", stale, StepCreate)
	if !errors.Is(err, ErrRotation) || !strings.Contains(err.Error(), stale) || !strings.Contains(err.Error(), "AWSPENDING label was removed") {
		t.Fatalf("createSecret on the stale rotation: want a refusal naming the version, got %v", err)
	}
	if len(h.mc.grants()) != logins {
		t.Fatal("the stale rotation spent a MightyCall login it could never store")
	}
	for _, step := range []string{StepCreate, StepTest, StepFinish} {
		if err := rotate(t, h, "acct", stale, step); err == nil || !strings.Contains(err.Error(), stale) {
			t.Fatalf("%s on the released rotation: want a failure naming the version, got %v", step, err)
		}
	}
	if pend, _ := h.store.ValueAt("acct", secrets.StagePending); pend != "" {
		t.Fatal("AWSPENDING still blocks the next rotation")
	}
	next := h.store.StartRotation("acct")
	for _, step := range []string{StepCreate, StepSet, StepTest, StepFinish} {
		if err := rotate(t, h, "acct", next, step); err != nil {
			t.Fatalf("rotation after the runbook, %s: %v", step, err)
		}
	}
	if vid, _ := h.store.ValueAt("acct", secrets.StageCurrent); vid != next {
		t.Fatal("the new rotation did not finish")
	}
}
