package refresher

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/memstore"
)

const keysOnly = `{"api_key":"AK-test","user_key":"UK-test","team":"ops"}`

func currentDoc(t *testing.T, s *memstore.Store, id string) secrets.Document {
	t.Helper()
	_, v := s.ValueAt(id, secrets.StageCurrent)
	d, err := secrets.ParseDocument(v)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestFirstRunBootstrapsThenSkipsWithOneRead(t *testing.T) {
	h := newHarness(t, Config{})
	h.store.Create("acct", []byte(keysOnly))
	ctx := context.Background()

	res := h.r.RefreshSecret(ctx, "acct", false)
	if res.Outcome != Refreshed || res.Grant != "client_credentials" || res.Err != nil {
		t.Fatalf("first run: %+v", res)
	}
	d := currentDoc(t, h.store, "acct")
	if d.AccessToken.Reveal() != "AT-1" || d.RefreshToken.Reveal() != "RT-1" || d.Grant != "client_credentials" {
		t.Fatalf("token not stored: %+v", d)
	}
	if !d.ExpiresAt.Equal(h.clock.Now().Add(24*time.Hour)) || !d.IssuedAt.Equal(h.clock.Now()) {
		t.Fatalf("expiry %v issued %v", d.ExpiresAt, d.IssuedAt)
	}
	if _, v := h.store.ValueAt("acct", secrets.StageCurrent); !strings.Contains(string(v), `"team":"ops"`) {
		t.Fatalf("unknown field lost: %s", v)
	}

	h.store.ResetCalls()
	h.clock.Add(2 * time.Hour)
	res = h.r.RefreshSecret(ctx, "acct", false)
	if res.Outcome != Skipped || res.Reason != "fresh" {
		t.Fatalf("fresh token: %+v", res)
	}
	if h.store.TotalCalls() != 1 || h.store.Calls(memstore.OpGet) != 1 || len(h.mc.grants()) != 1 {
		t.Fatalf("fresh token must cost one read and no MightyCall call: sm=%d mc=%v", h.store.TotalCalls(), h.mc.grants())
	}
}

func TestDueTokenUsesRefreshTokenWithMinimalCalls(t *testing.T) {
	h := newHarness(t, Config{})
	h.store.Create("acct", []byte(keysOnly))
	ctx := context.Background()
	h.r.RefreshSecret(ctx, "acct", false)
	before := h.store.VersionCount("acct")

	h.clock.Add(19 * time.Hour) // 5h left, inside the 6h margin
	h.store.ResetCalls()
	res := h.r.RefreshSecret(ctx, "acct", false)
	if res.Outcome != Refreshed || res.Grant != "refresh_token" {
		t.Fatalf("%+v", res)
	}
	if got := h.store.TotalCalls(); got != 3 {
		t.Fatalf("due refresh made %d Secrets Manager calls, want 3 (read, put, move)", got)
	}
	d := currentDoc(t, h.store, "acct")
	if d.RefreshToken.Reveal() != "RT-2" || d.Grant != "refresh_token" {
		t.Fatalf("newest refresh token not stored: %+v", d)
	}
	if h.store.VersionCount("acct") != before+1 {
		t.Fatal("exactly one version must be written")
	}
	if g := h.mc.grants(); len(g) != 2 || g[1] != mightycall.RefreshToken {
		t.Fatalf("grants %v", g)
	}
	// The refresh body carries only the refresh token, never the User key.
	last := h.mc.requests[1]
	if !last.ClientSecret.IsZero() || last.RefreshToken.Reveal() != "RT-1" {
		t.Fatalf("refresh request carried %+v", last)
	}
}

func TestRejectedRefreshTokenFallsBackToKeys(t *testing.T) {
	h := newHarness(t, Config{})
	h.store.Create("acct", []byte(keysOnly))
	ctx := context.Background()
	h.r.RefreshSecret(ctx, "acct", false)
	h.mc.mu.Lock()
	h.mc.refresh = map[string]bool{} // MightyCall forgot every refresh token
	h.mc.mu.Unlock()

	res := h.r.RefreshSecret(ctx, "acct", true)
	if res.Outcome != Refreshed || res.Grant != "client_credentials" || !strings.Contains(res.Reason, "invalid_grant") {
		t.Fatalf("%+v", res)
	}
	if g := h.mc.grants(); len(g) != 3 || g[1] != mightycall.RefreshToken || g[2] != mightycall.ClientCredentials {
		t.Fatalf("grants %v", g)
	}
	if d := currentDoc(t, h.store, "acct"); d.RefreshToken.Reveal() != "RT-2" {
		t.Fatalf("refresh token after fallback: %v", d.RefreshToken.Reveal())
	}
}

func TestPermanentFailureChangesNothing(t *testing.T) {
	h := newHarness(t, Config{})
	h.store.Create("acct", []byte(`{"api_key":"AK-test","user_key":"wrong"}`))
	vid, _ := h.store.ValueAt("acct", secrets.StageCurrent)
	res := h.r.RefreshSecret(context.Background(), "acct", false)
	if res.Outcome != Failed || !strings.Contains(res.Err.Error(), "invalid_client") {
		t.Fatalf("%+v", res)
	}
	if got, _ := h.store.ValueAt("acct", secrets.StageCurrent); got != vid || h.store.VersionCount("acct") != 1 {
		t.Fatal("a failed refresh changed the secret")
	}
	if len(h.mc.grants()) != 1 {
		t.Fatalf("invalid_client must not be retried: %v", h.mc.grants())
	}
}

func TestMalformedSecretFailsWithoutCalls(t *testing.T) {
	h := newHarness(t, Config{})
	h.store.Create("bad", []byte(`{"api_key":"AK-test","user_key":42}`))
	res := h.r.RefreshSecret(context.Background(), "bad", false)
	if res.Outcome != Failed || !strings.Contains(res.Err.Error(), `"user_key"`) || strings.Contains(res.Err.Error(), "AK-test") {
		t.Fatalf("%+v", res)
	}
	if len(h.mc.grants()) != 0 || h.store.Calls(memstore.OpPut) != 0 {
		t.Fatal("a malformed secret must cause no exchange and no write")
	}
}

func TestConcurrentUserEditIsKeptByRebase(t *testing.T) {
	h := newHarness(t, Config{})
	h.store.Create("acct", []byte(keysOnly))
	edited := false
	h.store.BeforeOp = func(op, id string) {
		// Between our write and our label move, the user saves a new User key.
		if op == memstore.OpMove && !edited {
			edited = true
			h.store.UserPut("acct", []byte(`{"api_key":"AK-test","user_key":"UK-test","team":"new-team"}`))
		}
	}
	res := h.r.RefreshSecret(context.Background(), "acct", false)
	if res.Outcome != Refreshed || res.Err != nil {
		t.Fatalf("%+v", res)
	}
	_, v := h.store.ValueAt("acct", secrets.StageCurrent)
	if !strings.Contains(string(v), `"team":"new-team"`) || !strings.Contains(string(v), `"access_token":"AT-1"`) {
		t.Fatalf("user edit or token lost: %s", v)
	}
	if len(h.mc.grants()) != 1 {
		t.Fatal("a rebase must not exchange again")
	}
}

func TestHandleSummaryAndFunctionError(t *testing.T) {
	h := newHarness(t, Config{SecretIDs: []string{"good", "bad", "missing"}, Concurrency: 2})
	h.store.Create("good", []byte(keysOnly))
	h.store.Create("bad", []byte(`not json`))
	out, err := h.r.Handle(context.Background(), json.RawMessage(`{}`))
	var re *RunError
	if !errors.As(err, &re) || re.Failed != 2 || out != nil {
		t.Fatalf("want RunError with 2 failures, got %v %v", out, err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "2 of 3 secrets failed") || !strings.Contains(msg, "bad:") || !strings.Contains(msg, "missing:") {
		t.Fatalf("error message: %s", msg)
	}
	if re.Summary.Results[0].Outcome != Refreshed || re.Summary.Results[0].ExpiresAt == "" {
		t.Fatalf("summary: %+v", re.Summary)
	}
	logs := h.logs.String()
	if strings.Count(logs, `"secret_id"`) < 3 || !strings.Contains(logs, `"msg":"refresh run"`) {
		t.Fatalf("want one line per secret and a run line:\n%s", logs)
	}
	// Fresh now: the next run succeeds and returns the summary.
	h.r.cfg.SecretIDs = []string{"good"}
	out, err = h.r.Handle(context.Background(), json.RawMessage(`{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(out)
	if !strings.Contains(string(b), `"outcome":"skipped"`) {
		t.Fatalf("summary %s", b)
	}
}

func TestEmptySecretIDsIsAValidRotationOnlyDeployment(t *testing.T) {
	h := newHarness(t, Config{})
	out, err := h.r.Handle(context.Background(), json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(out)
	if string(b) != `{"results":[]}` || !strings.Contains(h.logs.String(), "SECRET_IDS is empty") {
		t.Fatalf("summary %s logs %s", b, h.logs.String())
	}
}

func TestUnknownEventRejectedBeforeAnyCall(t *testing.T) {
	h := newHarness(t, Config{SecretIDs: []string{"x"}})
	for _, ev := range []string{`{"hello":1}`, `[]`, `"x"`, `{"Step":"dance","SecretId":"x","ClientRequestToken":"` + strings.Repeat("a", 36) + `"}`, `{"source":"aws.s3"}`} {
		if _, err := h.r.Handle(context.Background(), json.RawMessage(ev)); !errors.Is(err, ErrBadEvent) {
			t.Errorf("%s: err = %v", ev, err)
		}
	}
	if h.store.TotalCalls() != 0 || len(h.mc.grants()) != 0 {
		t.Fatal("a rejected event made a call")
	}
}

func rotate(t *testing.T, h *harness, id, token, step string) error {
	t.Helper()
	return h.r.Rotate(context.Background(), &RotationEvent{Step: step, SecretID: id, ClientRequestToken: token})
}

func TestRotationFourStepsWithReplays(t *testing.T) {
	h := newHarness(t, Config{})
	h.store.Create("acct", []byte(keysOnly))
	h.r.RefreshSecret(context.Background(), "acct", false) // AWSCURRENT has AT-1 / RT-1
	token := h.store.StartRotation("acct")

	for _, step := range []string{StepCreate, StepCreate, StepSet, StepTest, StepCreate, StepTest} {
		if err := rotate(t, h, "acct", token, step); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	if g := h.mc.grants(); len(g) != 2 || g[1] != mightycall.ClientCredentials {
		t.Fatalf("createSecret must log in once with the keys, never consume the refresh token: %v", g)
	}
	h.mc.mu.Lock()
	stillValid := h.mc.refresh["RT-1"]
	h.mc.mu.Unlock()
	if !stillValid {
		t.Fatal("createSecret consumed AWSCURRENT's refresh token")
	}
	if cur := currentDoc(t, h.store, "acct"); cur.AccessToken.Reveal() != "AT-1" {
		t.Fatal("AWSCURRENT changed before finishSecret")
	}
	for _, step := range []string{StepFinish, StepFinish, StepCreate, StepSet, StepTest} {
		if err := rotate(t, h, "acct", token, step); err != nil {
			t.Fatalf("replayed %s after finish: %v", step, err)
		}
	}
	cur := currentDoc(t, h.store, "acct")
	if cur.AccessToken.Reveal() != "AT-2" || cur.Grant != "client_credentials" || !strings.Contains(string(mustValue(h, "acct")), `"team":"ops"`) {
		t.Fatalf("after rotation: %+v", cur)
	}
	if vid, _ := h.store.ValueAt("acct", secrets.StageCurrent); vid != token {
		t.Fatal("AWSCURRENT is not on the rotation's version")
	}
	if len(h.mc.grants()) != 2 {
		t.Fatal("replays made token calls")
	}
}

func mustValue(h *harness, id string) []byte {
	_, v := h.store.ValueAt(id, secrets.StageCurrent)
	return v
}

func TestRotationBootstrapsSecretWithKeysOnly(t *testing.T) {
	h := newHarness(t, Config{})
	h.store.Create("acct", []byte(keysOnly))
	token := h.store.StartRotation("acct")
	for _, step := range []string{StepCreate, StepSet, StepTest, StepFinish} {
		if err := rotate(t, h, "acct", token, step); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	if d := currentDoc(t, h.store, "acct"); d.AccessToken.Reveal() != "AT-1" {
		t.Fatalf("not bootstrapped: %+v", d)
	}
}

func TestRotationChecks(t *testing.T) {
	h := newHarness(t, Config{})
	h.store.Create("acct", []byte(keysOnly))
	token := h.store.StartRotation("acct")
	if err := rotate(t, h, "acct", strings.Repeat("b", 36), StepCreate); !errors.Is(err, ErrRotation) || !strings.Contains(err.Error(), "not a version") {
		t.Fatalf("unknown token: %v", err)
	}
	// A half-done rotation: AWSPENDING on another version. A new token is refused.
	other := h.store.StartRotation("acct") // moves AWSPENDING to other
	if err := rotate(t, h, "acct", token, StepCreate); !errors.Is(err, ErrRotation) {
		t.Fatalf("stale token: %v", err)
	}
	// A token that names the current version is a finished rotation: a no-op.
	cur, _ := h.store.ValueAt("acct", secrets.StageCurrent)
	if err := rotate(t, h, "acct", cur, StepCreate); err != nil {
		t.Fatalf("token of AWSCURRENT: %v", err)
	}
	h.store.SetRotationEnabled("acct", false)
	if err := rotate(t, h, "acct", other, StepCreate); !errors.Is(err, ErrRotation) || !strings.Contains(err.Error(), "rotation enabled") {
		t.Fatalf("rotation disabled: %v", err)
	}
	// testSecret before createSecret: the pending version has no value.
	h.store.SetRotationEnabled("acct", true)
	if err := rotate(t, h, "acct", other, StepTest); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("testSecret on empty pending: %v", err)
	}
}

func TestScheduledRefreshDuringRotationLeavesPendingAlone(t *testing.T) {
	h := newHarness(t, Config{})
	h.store.Create("acct", []byte(keysOnly))
	token := h.store.StartRotation("acct")
	if err := rotate(t, h, "acct", token, StepCreate); err != nil {
		t.Fatal(err)
	}
	_, pendingBefore := h.store.ValueAt("acct", secrets.StagePending)
	if res := h.r.RefreshSecret(context.Background(), "acct", true); res.Outcome != Refreshed {
		t.Fatalf("%+v", res)
	}
	pid, pendingAfter := h.store.ValueAt("acct", secrets.StagePending)
	if pid != token || string(pendingAfter) != string(pendingBefore) {
		t.Fatal("a scheduled refresh touched AWSPENDING")
	}
	for _, step := range []string{StepSet, StepTest, StepFinish} {
		if err := rotate(t, h, "acct", token, step); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	if vid, _ := h.store.ValueAt("acct", secrets.StageCurrent); vid != token {
		t.Fatal("rotation did not finish on its version")
	}
}

func TestUserEditDuringRotationIsKept(t *testing.T) {
	h := newHarness(t, Config{})
	h.store.Create("acct", []byte(keysOnly))
	token := h.store.StartRotation("acct")
	if err := rotate(t, h, "acct", token, StepCreate); err != nil {
		t.Fatal(err)
	}
	// The user saves a new User key between createSecret and finishSecret.
	h.store.UserPut("acct", []byte(`{"api_key":"AK-test","user_key":"UK-test","team":"edited"}`))
	for _, step := range []string{StepSet, StepTest, StepFinish, StepFinish} {
		if err := rotate(t, h, "acct", token, step); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	v := string(mustValue(h, "acct"))
	if !strings.Contains(v, `"team":"edited"`) || !strings.Contains(v, `"access_token":"AT-1"`) {
		t.Fatalf("edit or rotated token lost: %s", v)
	}
	stages := h.store.Stages("acct")
	current := 0
	for _, st := range stages {
		for _, s := range st {
			if s == secrets.StageCurrent {
				current++
			}
		}
	}
	if current != 1 {
		t.Fatalf("want exactly one AWSCURRENT: %v", stages)
	}
}

func TestRotationAfterAMergedRotationCanStart(t *testing.T) {
	h := newHarness(t, Config{})
	h.store.Create("acct", []byte(keysOnly))
	token := h.store.StartRotation("acct")
	if err := rotate(t, h, "acct", token, StepCreate); err != nil {
		t.Fatal(err)
	}
	h.store.UserPut("acct", []byte(`{"api_key":"AK-test","user_key":"UK-test","team":"edited"}`))
	if err := rotate(t, h, "acct", token, StepFinish); err != nil {
		t.Fatal(err)
	}
	// AWSPENDING now sits on the current version: a finished rotation.
	cur, _ := h.store.ValueAt("acct", secrets.StageCurrent)
	if pend, _ := h.store.ValueAt("acct", secrets.StagePending); pend != cur {
		t.Fatalf("AWSPENDING on %s, AWSCURRENT on %s", pend, cur)
	}
	// Replays of every step still succeed.
	for _, step := range []string{StepCreate, StepSet, StepTest, StepFinish} {
		if err := rotate(t, h, "acct", token, step); err != nil {
			t.Fatalf("replayed %s: %v", step, err)
		}
	}
	if !strings.Contains(string(mustValue(h, "acct")), `"team":"edited"`) {
		t.Fatal("a replay undid the edit")
	}
	next := h.store.StartRotation("acct")
	for _, step := range []string{StepCreate, StepSet, StepTest, StepFinish} {
		if err := rotate(t, h, "acct", next, step); err != nil {
			t.Fatalf("next rotation %s: %v", step, err)
		}
	}
}

func TestRefreshAfterRotationClearsTheFinishedPendingLabel(t *testing.T) {
	h := newHarness(t, Config{})
	h.store.Create("acct", []byte(keysOnly))
	token := h.store.StartRotation("acct")
	for _, step := range []string{StepCreate, StepSet, StepTest, StepFinish} {
		if err := rotate(t, h, "acct", token, step); err != nil {
			t.Fatal(err)
		}
	}
	// moto (and the state after finishSecret) leaves AWSPENDING on the current version.
	h.store.MoveStage(context.Background(), "acct", secrets.StagePending, token, "")
	if res := h.r.RefreshSecret(context.Background(), "acct", true); res.Outcome != Refreshed {
		t.Fatalf("%+v", res)
	}
	if pend, _ := h.store.ValueAt("acct", secrets.StagePending); pend != "" {
		t.Fatalf("AWSPENDING left on the old version %s: the next rotation would be refused", pend)
	}
	// A rotation in progress is never touched: AWSPENDING on a placeholder stays.
	next := h.store.StartRotation("acct")
	if res := h.r.RefreshSecret(context.Background(), "acct", true); res.Outcome != Refreshed {
		t.Fatalf("%+v", res)
	}
	if pend, _ := h.store.ValueAt("acct", secrets.StagePending); pend != next {
		t.Fatal("a scheduled refresh moved an in-progress rotation's AWSPENDING")
	}
}

func TestStaleUnfinishedRotationIsReleased(t *testing.T) {
	h := newHarness(t, Config{})
	h.store.Create("acct", []byte(keysOnly))
	token := h.store.StartRotation("acct")
	if err := rotate(t, h, "acct", token, StepCreate); err != nil {
		t.Fatal(err)
	}
	// The rotation times out and is left for two days: its pending token expired.
	h.clock.Add(48 * time.Hour)
	calls := len(h.mc.grants())
	err := rotate(t, h, "acct", token, StepCreate)
	if !errors.Is(err, ErrRotation) || !strings.Contains(err.Error(), "unfinished rotation") {
		t.Fatalf("err = %v", err)
	}
	if len(h.mc.grants()) != calls {
		t.Fatal("a stale rotation spent a login it could never store")
	}
	if pend, _ := h.store.ValueAt("acct", secrets.StagePending); pend != "" {
		t.Fatal("AWSPENDING still blocks the next rotation")
	}
	next := h.store.StartRotation("acct")
	for _, step := range []string{StepCreate, StepSet, StepTest, StepFinish} {
		if err := rotate(t, h, "acct", next, step); err != nil {
			t.Fatalf("next rotation %s: %v", step, err)
		}
	}
}

func TestKeysChangedDuringRefreshLogsInWithTheNewKeys(t *testing.T) {
	h := newHarness(t, Config{})
	h.store.Create("acct", []byte(`{"api_key":"AK-old","user_key":"UK-old"}`))
	h.mc.mu.Lock()
	h.mc.apiKey, h.mc.userKey = "AK-old", "UK-old"
	h.mc.mu.Unlock()
	swapped := false
	h.store.BeforeOp = func(op, id string) {
		// The user moves the secret to another account between our write and our move.
		if op == memstore.OpMove && !swapped {
			swapped = true
			h.mc.mu.Lock()
			h.mc.apiKey, h.mc.userKey = "AK-test", "UK-test"
			h.mc.mu.Unlock()
			h.store.UserPut("acct", []byte(keysOnly))
		}
	}
	res := h.r.RefreshSecret(context.Background(), "acct", false)
	if res.Outcome != Refreshed || !strings.Contains(res.Reason, "keys changed") {
		t.Fatalf("%+v", res)
	}
	g := h.mc.grants()
	last := h.mc.requests[len(h.mc.requests)-1]
	if len(g) != 2 || last.APIKey.Reveal() != "AK-test" || last.Grant != mightycall.ClientCredentials {
		t.Fatalf("want a second login with the new keys: %v", g)
	}
	d := currentDoc(t, h.store, "acct")
	if d.APIKey.Reveal() != "AK-test" || d.AccessToken.Reveal() != "AT-2" || !strings.Contains(string(mustValue(h, "acct")), `"team":"ops"`) {
		t.Fatalf("the new keys must be stored with a token of the new keys: %+v", d)
	}
}

func TestFarFutureExpiryIsNotTrusted(t *testing.T) {
	h := newHarness(t, Config{})
	h.store.Create("acct", []byte(`{"api_key":"AK-test","user_key":"UK-test","access_token":"old","issued_at":"2020-01-01T00:00:00Z","expires_at":"9999-12-31T00:00:00Z"}`))
	res := h.r.RefreshSecret(context.Background(), "acct", false)
	if res.Outcome != Refreshed || !strings.Contains(res.Reason, "not trusted") {
		t.Fatalf("%+v", res)
	}
	if d := currentDoc(t, h.store, "acct"); d.ExpiresAt.After(h.clock.Now().Add(24 * time.Hour)) {
		t.Fatalf("expires_at %v", d.ExpiresAt)
	}
}

func TestSecretWithoutRoomForATokenFailsBeforeAnyExchange(t *testing.T) {
	h := newHarness(t, Config{})
	pad := strings.Repeat("p", secrets.MaxDocumentBytes-200)
	h.store.Create("acct", []byte(`{"api_key":"AK-test","user_key":"UK-test","notes":"`+pad+`"}`))
	res := h.r.RefreshSecret(context.Background(), "acct", false)
	if res.Outcome != Failed || !strings.Contains(res.Err.Error(), "no room for a token") {
		t.Fatalf("%+v", res)
	}
	if len(h.mc.grants()) != 0 {
		t.Fatal("a login was spent on a secret that cannot hold its token")
	}
}
