//go:build integration

package refresher_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	fp "github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/faultproxy"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
)

// TestReliabilitySecretsManagerFaults injects Secrets Manager faults through
// the proxy in front of moto_server into a due refresh, with the SDK's retry
// policy of production, and checks the outcome and the invariants; after a
// failure, the next run without the fault recovers.
func TestReliabilitySecretsManagerFaults(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		rules    []fp.Rule
		latency  time.Duration
		outcome  string
		grant    string
		errParts []string
		// mcCalls is whether MightyCall was asked for a token.
		mcCalls bool
		// attempts[op] is how many requests of op the proxy must have seen.
		attempts map[string]int
		// want is what AWSCURRENT must show (unchanged or moved).
		want expect
		// recoverGrant is the grant of the next, fault-free run.
		recoverGrant string
	}{
		// Retried by the SDK: the run succeeds.
		{name: "throttled reads", rules: []fp.Rule{{Op: fp.OpGetSecretValue, Error: &fp.Throttling, Count: 2}},
			outcome: "refreshed", grant: "refresh_token", mcCalls: true, attempts: map[string]int{fp.OpGetSecretValue: 3}, want: moved},
		{name: "500 on the write", rules: []fp.Rule{{Op: fp.OpPutSecretValue, Error: &fp.InternalError, Count: 2}},
			outcome: "refreshed", grant: "refresh_token", mcCalls: true, attempts: map[string]int{fp.OpPutSecretValue: 3}, want: moved},
		{name: "connection dropped before the write", rules: []fp.Rule{{Op: fp.OpPutSecretValue, Drop: true, Count: 1}},
			outcome: "refreshed", grant: "refresh_token", mcCalls: true, attempts: map[string]int{fp.OpPutSecretValue: 2}, want: moved},
		{name: "connection dropped after the write landed", rules: []fp.Rule{{Op: fp.OpPutSecretValue, DropAfterForward: true, Count: 1}},
			outcome: "refreshed", grant: "refresh_token", mcCalls: true, attempts: map[string]int{fp.OpPutSecretValue: 2}, want: moved},
		{name: "connection dropped after the label moved", rules: []fp.Rule{{Op: fp.OpUpdateSecretVersionStage, DropAfterForward: true, Count: 1}},
			outcome: "refreshed", grant: "refresh_token", mcCalls: true, attempts: map[string]int{fp.OpUpdateSecretVersionStage: 2}, want: moved},
		{name: "throttled label move", rules: []fp.Rule{{Op: fp.OpUpdateSecretVersionStage, Error: &fp.Throttling, Count: 3}},
			outcome: "refreshed", grant: "refresh_token", mcCalls: true, attempts: map[string]int{fp.OpUpdateSecretVersionStage: 4}, want: moved},
		{name: "latency on every call", latency: 30 * time.Millisecond,
			outcome: "refreshed", grant: "refresh_token", mcCalls: true, want: moved},
		// Not retried, or retried to the end: a clear failure, nothing changed.
		{name: "throttled until the SDK gives up", rules: []fp.Rule{{Op: fp.OpGetSecretValue, Error: &fp.Throttling}},
			outcome: "failed", errParts: []string{"ThrottlingException", "AWSCURRENT"}, attempts: map[string]int{fp.OpGetSecretValue: 5}, want: nothingNew, recoverGrant: "refresh_token"},
		{name: "access denied on read", rules: []fp.Rule{{Op: fp.OpGetSecretValue, Error: &fp.AccessDenied}},
			outcome: "failed", errParts: []string{"AccessDeniedException"}, attempts: map[string]int{fp.OpGetSecretValue: 1}, want: nothingNew, recoverGrant: "refresh_token"},
		{name: "kms decrypt failure", rules: []fp.Rule{{Op: fp.OpGetSecretValue, Error: &fp.DecryptionFailure}},
			outcome: "failed", errParts: []string{"DecryptionFailure", "KMS"}, attempts: map[string]int{fp.OpGetSecretValue: 1}, want: nothingNew, recoverGrant: "refresh_token"},
		// The write fails after MightyCall issued a token (and consumed the
		// refresh token): retried with the same ClientRequestToken, then a
		// clear failure; AWSCURRENT stays; the next run recovers with the keys.
		{name: "write fails after the token was obtained", rules: []fp.Rule{{Op: fp.OpPutSecretValue, Error: &fp.InternalError}},
			outcome: "failed", errParts: []string{"token obtained but not stored, AWSCURRENT unchanged", "InternalServiceError"}, mcCalls: true,
			attempts: map[string]int{fp.OpPutSecretValue: 5}, want: nothingNew, recoverGrant: "client_credentials"},
		{name: "write denied", rules: []fp.Rule{{Op: fp.OpPutSecretValue, Error: &fp.AccessDenied}},
			outcome: "failed", errParts: []string{"token obtained but not stored", "AccessDeniedException"}, mcCalls: true,
			attempts: map[string]int{fp.OpPutSecretValue: 1}, want: nothingNew, recoverGrant: "client_credentials"},
		{name: "label move fails after the write", rules: []fp.Rule{{Op: fp.OpUpdateSecretVersionStage, Error: &fp.InternalError}},
			outcome: "failed", errParts: []string{"not made current; AWSCURRENT still holds the previous token"}, mcCalls: true,
			attempts: map[string]int{fp.OpUpdateSecretVersionStage: 5}, want: unchanged, recoverGrant: "client_credentials"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			g := newRig(t, rigOptions{})
			id := g.bootstrapped()
			g.due()
			before := g.state(id)
			n0 := g.tokenRequests()
			g.proxy.ResetCounts()
			g.proxy.SetLatency(c.latency)
			for _, r := range c.rules {
				r.SecretID = id
				g.proxy.Add(r)
			}
			e := g.refresh(id, false)
			for op, n := range c.attempts {
				if got := g.proxy.Count(op); got != n {
					t.Errorf("%s sent %d times, want %d", op, got, n)
				}
			}
			if mc := g.tokenRequests() > n0; mc != c.mcCalls {
				t.Errorf("MightyCall asked for a token: %v, want %v", mc, c.mcCalls)
			}
			// Every write of the run carried the same ClientRequestToken.
			tokens := map[string]bool{}
			for _, r := range g.proxy.Requests() {
				if r.Op == fp.OpPutSecretValue {
					var in struct{ ClientRequestToken string }
					_ = json.Unmarshal(r.Body, &in)
					tokens[in.ClientRequestToken] = true
				}
			}
			if len(tokens) > 1 {
				t.Errorf("the write was retried with %d different ClientRequestTokens", len(tokens))
			}
			g.proxy.Clear()
			g.proxy.SetLatency(0)
			if c.outcome == "refreshed" {
				wantOutcome(t, e, "refreshed", c.grant)
				after := g.checkInvariants(id, before, moved)
				if len(after.versions) != len(before.versions)+1 {
					t.Errorf("%d new versions, want exactly 1", len(after.versions)-len(before.versions))
				}
				return
			}
			wantErr(t, e, c.errParts...)
			after := g.checkInvariants(id, before, c.want)
			wantOutcome(t, g.refresh(id, false), "refreshed", c.recoverGrant)
			g.checkInvariants(id, after, moved)
		})
	}
}

// TestReliabilityDeletedOrMissingSecret: a secret scheduled for deletion and
// one that does not exist fail clearly, naming the secret and the cause,
// before any call to MightyCall; restoring the secret recovers.
func TestReliabilityDeletedOrMissingSecret(t *testing.T) {
	t.Parallel()
	g := newRig(t, rigOptions{})
	ctx := context.Background()
	id := g.bootstrapped()
	g.due()
	n0 := g.tokenRequests()
	if _, err := g.direct.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(id), RecoveryWindowInDays: aws.Int64(7)}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, g.refresh(id, false), id, secrets.ErrDeleted.Error())
	token := "0b8f3a4e-0000-4000-8000-00000000d31e"
	if err := g.rotate(id, token, "createSecret"); err == nil || !contains(err.Error(), secrets.ErrDeleted.Error()) {
		t.Errorf("rotation of a deleted secret: %v", err)
	}
	if _, err := g.direct.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	before := g.state(id)
	wantOutcome(t, g.refresh(id, false), "refreshed", "refresh_token")
	g.checkInvariants(id, before, moved)

	missing := testName(t) + "-does-not-exist"
	wantErr(t, g.refresh(missing, false), missing, "not found")
	if g.tokenRequests() != n0+1 {
		t.Errorf("MightyCall was called for a deleted or missing secret")
	}
}
