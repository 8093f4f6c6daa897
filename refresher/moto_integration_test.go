//go:build integration

package refresher_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall/emulator"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/testenv"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
)

var moto *testenv.Moto

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithMoto(m, func(mo *testenv.Moto) int {
		moto = mo
		return reliabilityTeardown(m.Run())
	}))
}

const (
	testAPIKey  = "it-api-key-7f3a"
	testUserKey = "it-user-key-9c1e"
)

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

// env is the real edges: secrets.Store over moto_server, mightycall.Client
// over the MightyCall emulator, with one clock for both.
type env struct {
	t     *testing.T
	clock *clock
	mc    *emulator.Server
	base  string
	sm    *secretsmanager.Client
	store *secrets.Store
	r     *refresher.Refresher
}

func newEnv(t *testing.T, cfg refresher.Config) *env {
	t.Helper()
	e := &env{t: t, clock: &clock{t: time.Now().UTC().Truncate(time.Second)}}
	e.mc = emulator.New(emulator.Options{Now: e.clock.Now})
	e.mc.AddAccount(emulator.Account{APIKey: testAPIKey, UserKey: testUserKey})
	refresher.Canary.Secret("an integration test key", testAPIKey, testUserKey)
	srv := httptest.NewServer(refresher.Canary.Issued(e.mc))
	t.Cleanup(srv.Close)
	e.base = srv.URL + "/v4"
	e.sm = moto.Client(t)
	e.store = secrets.NewStore(e.sm)
	cfg.DefaultBaseURL = e.base
	client := &mightycall.Client{HTTPClient: &http.Client{Timeout: 5 * time.Second}, Now: e.clock.Now}
	logger, _ := refresher.Canary.Logger(t, "refresher logs")
	e.r = refresher.New(cfg, refresher.Deps{Store: e.store, Exchanger: client, Checker: client, Now: e.clock.Now,
		Logger: logger, Metrics: refresher.Canary.Output(t, "refresher metrics")})
	return e
}

func (e *env) create(value string) string {
	e.t.Helper()
	name := testenv.UniqueName(e.t)
	if _, err := e.sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)}); err != nil {
		e.t.Fatal(err)
	}
	return name
}

func (e *env) current(id string) secrets.Version {
	e.t.Helper()
	v, err := e.store.Read(context.Background(), id, secrets.StageCurrent)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// startRotation leaves the secret as Secrets Manager leaves it before it
// calls createSecret: rotation enabled and an AWSPENDING version without a
// value. moto's RotateSecret does that (and fails to invoke the unknown
// function); the placeholder's id is moto's own, so it is the token.
func (e *env) startRotation(id string) string {
	e.t.Helper()
	ctx := context.Background()
	_, _ = e.sm.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId:          aws.String(id),
		RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:123456789012:function:refresher"),
		RotationRules:     &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(7)},
	})
	desc, err := e.store.Describe(ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	token := desc.VersionWithStage(secrets.StagePending)
	if token == "" || token == desc.VersionWithStage(secrets.StageCurrent) || !desc.RotationEnabled {
		e.t.Fatalf("moto did not leave a pending placeholder: %+v", desc)
	}
	return token
}

func (e *env) step(id, token, step string) error {
	return e.r.Rotate(context.Background(), &refresher.RotationEvent{Step: step, SecretID: id, ClientRequestToken: token})
}

func keysJSON() string {
	return `{"api_key":"` + testAPIKey + `","user_key":"` + testUserKey + `","owner":"team-a"}`
}

func TestScheduledPathAgainstMoto(t *testing.T) {
	e := newEnv(t, refresher.Config{})
	ctx := context.Background()
	id := e.create(keysJSON())

	res := e.r.RefreshSecret(ctx, id, false)
	if res.Outcome != refresher.Refreshed || res.Grant != "client_credentials" {
		t.Fatalf("bootstrap: %+v", res)
	}
	v1 := e.current(id)
	if !e.mc.TokenValid(v1.Doc.AccessToken.Reveal()) || !e.mc.RefreshTokenValid(v1.Doc.RefreshToken.Reveal()) {
		t.Fatal("stored tokens are not the ones MightyCall issued")
	}
	if !strings.Contains(mustJSON(t, v1.Doc), `"owner":"team-a"`) {
		t.Fatal("unknown field lost")
	}

	// Fresh: skipped, nothing written, no token call.
	statsBefore := e.mc.Stats().TokenRequests
	if res := e.r.RefreshSecret(ctx, id, false); res.Outcome != refresher.Skipped {
		t.Fatalf("fresh: %+v", res)
	}
	if e.current(id).VersionID != v1.VersionID || e.mc.Stats().TokenRequests != statsBefore {
		t.Fatal("a fresh token caused a write or a token call")
	}

	// Due: the refresh token is used, and the newest one is stored.
	e.clock.Add(19 * time.Hour)
	if res := e.r.RefreshSecret(ctx, id, false); res.Outcome != refresher.Refreshed || res.Grant != "refresh_token" {
		t.Fatalf("due: %+v", res)
	}
	v2 := e.current(id)
	if v2.VersionID == v1.VersionID || e.mc.RefreshTokenValid(v1.Doc.RefreshToken.Reveal()) || !e.mc.RefreshTokenValid(v2.Doc.RefreshToken.Reveal()) {
		t.Fatal("the newest refresh token is not the stored one")
	}
	if prev, err := e.store.Read(ctx, id, secrets.StagePrevious); err != nil || prev.VersionID != v1.VersionID {
		t.Fatalf("AWSPREVIOUS: %v %v", prev.VersionID, err)
	}

	// A rejected refresh token falls back to the keys in the same run.
	e.mc.ExpireAll()
	e.mc.InjectFault(emulator.Fault{Grant: "refresh_token", Status: 400, Body: `{"error":"invalid_grant"}`, ContentType: "application/json"})
	res = e.r.RefreshSecret(ctx, id, true)
	if res.Outcome != refresher.Refreshed || res.Grant != "client_credentials" || !strings.Contains(res.Reason, "invalid_grant") {
		t.Fatalf("fallback: %+v", res)
	}
	if !e.mc.TokenValid(e.current(id).Doc.AccessToken.Reveal()) {
		t.Fatal("fallback token not stored")
	}
}

func TestRotationAgainstMotoWithReplays(t *testing.T) {
	e := newEnv(t, refresher.Config{TokenCheck: true})
	ctx := context.Background()
	id := e.create(keysJSON())
	e.r.RefreshSecret(ctx, id, false)
	before := e.current(id)
	token := e.startRotation(id)

	for _, step := range []string{refresher.StepCreate, refresher.StepCreate, refresher.StepSet, refresher.StepSet, refresher.StepTest, refresher.StepTest} {
		if err := e.step(id, token, step); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	pending, err := e.store.ReadVersion(ctx, id, token, secrets.StagePending)
	if err != nil || pending.Doc.Grant != "client_credentials" || !e.mc.TokenValid(pending.Doc.AccessToken.Reveal()) {
		t.Fatalf("pending: %+v %v", pending, err)
	}
	if e.current(id).VersionID != before.VersionID {
		t.Fatal("AWSCURRENT moved before finishSecret")
	}
	if !e.mc.RefreshTokenValid(before.Doc.RefreshToken.Reveal()) {
		t.Fatal("createSecret consumed AWSCURRENT's refresh token")
	}
	if st := e.mc.Stats(); st.ClientCredentials != 2 || st.RefreshToken != 0 {
		t.Fatalf("replayed createSecret must not log in again: %+v", st)
	}
	for _, step := range []string{refresher.StepFinish, refresher.StepFinish, refresher.StepTest, refresher.StepCreate} {
		if err := e.step(id, token, step); err != nil {
			t.Fatalf("%s after finish: %v", step, err)
		}
	}
	after := e.current(id)
	if after.VersionID != token || !after.Doc.AccessToken.Equal(pending.Doc.AccessToken) {
		t.Fatalf("AWSCURRENT not on the rotated version: %s", after.VersionID)
	}
	if prev, err := e.store.Read(ctx, id, secrets.StagePrevious); err != nil || prev.VersionID != before.VersionID {
		t.Fatalf("AWSPREVIOUS: %v %v", prev.VersionID, err)
	}
	// The next scheduled refresh must not leave AWSPENDING stranded on the
	// rotated version (moto leaves it there after finishSecret): that would
	// look like an unfinished rotation and block the next one.
	if res := e.r.RefreshSecret(ctx, id, true); res.Outcome != refresher.Refreshed {
		t.Fatalf("refresh after rotation: %+v", res)
	}
	desc, err := e.store.Describe(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if p := desc.VersionWithStage(secrets.StagePending); p != "" && p != desc.VersionWithStage(secrets.StageCurrent) {
		t.Fatalf("AWSPENDING stranded on %s: %v", p, desc.VersionIDsToStages)
	}
	if token := e.startRotation(id); token == "" {
		t.Fatal("the next rotation could not start")
	}
}

func TestRotationInterruptedThenResumed(t *testing.T) {
	e := newEnv(t, refresher.Config{})
	ctx := context.Background()
	id := e.create(keysJSON()) // keys only: the rotation bootstraps it
	token := e.startRotation(id)
	if err := e.step(id, token, refresher.StepCreate); err != nil {
		t.Fatal(err)
	}
	// Interrupted here. Scheduled refreshes run meanwhile and leave AWSPENDING alone.
	pendingBefore, err := e.store.ReadVersion(ctx, id, token, secrets.StagePending)
	if err != nil {
		t.Fatal(err)
	}
	if res := e.r.RefreshSecret(ctx, id, false); res.Outcome != refresher.Refreshed {
		t.Fatalf("scheduled during rotation: %+v", res)
	}
	pendingAfter, err := e.store.ReadVersion(ctx, id, token, secrets.StagePending)
	if err != nil || !pendingAfter.Doc.AccessToken.Equal(pendingBefore.Doc.AccessToken) {
		t.Fatalf("scheduled refresh touched AWSPENDING: %v", err)
	}
	// Resumed: Secrets Manager retries from createSecret.
	for _, step := range []string{refresher.StepCreate, refresher.StepSet, refresher.StepTest, refresher.StepFinish} {
		if err := e.step(id, token, step); err != nil {
			t.Fatalf("resumed %s: %v", step, err)
		}
	}
	cur := e.current(id)
	if cur.VersionID != token || !e.mc.TokenValid(cur.Doc.AccessToken.Reveal()) {
		t.Fatal("rotation did not finish consistently")
	}
	if !strings.Contains(mustJSON(t, cur.Doc), `"owner":"team-a"`) {
		t.Fatal("unknown field lost in rotation")
	}
}

func TestRotationRefusals(t *testing.T) {
	e := newEnv(t, refresher.Config{})
	id := e.create(keysJSON())
	// Rotation not enabled.
	desc, _ := e.store.Describe(context.Background(), id)
	cur := desc.VersionWithStage(secrets.StageCurrent)
	if err := e.step(id, cur, refresher.StepCreate); err == nil || !strings.Contains(err.Error(), "rotation enabled") {
		t.Fatalf("rotation disabled: %v", err)
	}
	token := e.startRotation(id)
	// A token that is not a version of the secret.
	if err := e.step(id, "00000000-0000-4000-8000-000000000000", refresher.StepCreate); err == nil || !strings.Contains(err.Error(), "not a version") {
		t.Fatalf("unknown token: %v", err)
	}
	// testSecret before createSecret: nothing pending to test.
	if err := e.step(id, token, refresher.StepTest); err == nil {
		t.Fatal("testSecret passed on an empty pending version")
	}
}

func mustJSON(t *testing.T, d secrets.Document) string {
	t.Helper()
	b, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// hookStore runs before() ahead of the first MoveCurrent: a user edit lands
// exactly between the refresher's write and its label move.
type hookStore struct {
	*secrets.Store
	once   sync.Once
	before func()
}

func (h *hookStore) MoveCurrent(ctx context.Context, id, to, from string) error {
	h.once.Do(h.before)
	return h.Store.MoveCurrent(ctx, id, to, from)
}

// consolePut writes a new value the way the console or
// `aws secretsmanager put-secret-value` does: no stages, AWSCURRENT moves.
func (e *env) consolePut(id, value string) {
	e.t.Helper()
	if _, err := e.sm.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), SecretString: aws.String(value)}); err != nil {
		e.t.Fatal(err)
	}
}

func TestUserEditDuringScheduledRefreshSurvivesAgainstMoto(t *testing.T) {
	e := newEnv(t, refresher.Config{})
	id := e.create(keysJSON())
	edited := `{"api_key":"` + testAPIKey + `","user_key":"` + testUserKey + `","owner":"team-b"}`
	hs := &hookStore{Store: e.store, before: func() { e.consolePut(id, edited) }}
	client := &mightycall.Client{Now: e.clock.Now}
	r := refresher.New(refresher.Config{DefaultBaseURL: e.base}, refresher.Deps{Store: hs, Exchanger: client, Now: e.clock.Now})
	res := r.RefreshSecret(context.Background(), id, false)
	if res.Outcome != refresher.Refreshed {
		t.Fatalf("%+v", res)
	}
	cur := e.current(id)
	if got := mustJSON(t, cur.Doc); !strings.Contains(got, `"owner":"team-b"`) || !e.mc.TokenValid(cur.Doc.AccessToken.Reveal()) {
		t.Fatal("the user's edit or the new token was lost")
	}
	if e.mc.Stats().Success != 1 {
		t.Fatal("re-basing the write must not exchange again")
	}
}

func TestUserEditDuringRotationSurvivesAgainstMoto(t *testing.T) {
	e := newEnv(t, refresher.Config{})
	id := e.create(keysJSON())
	token := e.startRotation(id)
	if err := e.step(id, token, refresher.StepCreate); err != nil {
		t.Fatal(err)
	}
	e.consolePut(id, `{"api_key":"`+testAPIKey+`","user_key":"`+testUserKey+`","owner":"team-c"}`)
	for _, step := range []string{refresher.StepSet, refresher.StepTest, refresher.StepFinish, refresher.StepFinish, refresher.StepCreate} {
		if err := e.step(id, token, step); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	cur := e.current(id)
	pending, err := e.store.ReadVersion(context.Background(), id, token, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(mustJSON(t, cur.Doc), `"owner":"team-c"`) || !cur.Doc.AccessToken.Equal(pending.Doc.AccessToken) {
		t.Fatal("edit or rotated token lost")
	}
	desc, _ := e.store.Describe(context.Background(), id)
	if desc.VersionWithStage(secrets.StagePending) != cur.VersionID {
		t.Fatalf("AWSPENDING must end on the current version: %+v", desc.VersionIDsToStages)
	}
}

// The split layout: the keys live in a credentials secret the function only
// reads; the token secret names it and carries a copy of api_key only.
func TestSplitLayoutAgainstMoto(t *testing.T) {
	e := newEnv(t, refresher.Config{})
	ctx := context.Background()
	creds := e.create(`{"api_key":"` + testAPIKey + `","user_key":"` + testUserKey + `"}`)
	credsBefore, err := e.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(creds), VersionStage: aws.String(secrets.StageCurrent)})
	if err != nil {
		t.Fatal(err)
	}
	id := e.create(`{"credentials_secret_id":"` + creds + `","owner":"team-s"}`)

	res := e.r.RefreshSecret(ctx, id, false)
	if res.Outcome != refresher.Refreshed || res.Grant != "client_credentials" {
		t.Fatalf("bootstrap: %+v", res)
	}
	cur := e.current(id)
	raw := mustJSON(t, cur.Doc)
	if cur.Doc.APIKey.Reveal() != testAPIKey || strings.Contains(raw, testUserKey) || !strings.Contains(raw, `"owner":"team-s"`) {
		t.Fatalf("token secret must carry the api_key copy, never the user_key: %v", cur.Doc.Extra())
	}
	if !e.mc.TokenValid(cur.Doc.AccessToken.Reveal()) {
		t.Fatal("token not stored")
	}
	e.clock.Add(19 * time.Hour)
	if res := e.r.RefreshSecret(ctx, id, false); res.Outcome != refresher.Refreshed || res.Grant != "refresh_token" {
		t.Fatalf("due: %+v", res)
	}
	// Rotation in the split layout.
	token := e.startRotation(id)
	for _, step := range []string{refresher.StepCreate, refresher.StepSet, refresher.StepTest, refresher.StepFinish} {
		if err := e.step(id, token, step); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	if e.current(id).VersionID != token {
		t.Fatal("rotation did not finish")
	}
	// The credentials secret was only read: still one version, unchanged.
	credsAfter, err := e.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(creds), VersionStage: aws.String(secrets.StageCurrent)})
	if err != nil || aws.ToString(credsAfter.VersionId) != aws.ToString(credsBefore.VersionId) || aws.ToString(credsAfter.SecretString) != aws.ToString(credsBefore.SecretString) {
		t.Fatal("the function wrote the credentials secret")
	}
	// A user_key in the token secret is refused (consumers would see it).
	bad := e.create(`{"credentials_secret_id":"` + creds + `","user_key":"` + testUserKey + `"}`)
	if res := e.r.RefreshSecret(ctx, bad, false); res.Outcome != refresher.Failed || !strings.Contains(res.Err.Error(), `"user_key"`) {
		t.Fatalf("user_key beside credentials_secret_id: %+v", res)
	}
}
