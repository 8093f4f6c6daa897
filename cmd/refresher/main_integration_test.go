//go:build integration

package main_test

import (
	"context"
	"encoding/json"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall/emulator"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/testenv"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
)

var (
	moto       *testenv.Moto
	bootstraps = testenv.NewBootstrapCache()
)

func TestMain(m *testing.M) {
	code := testenv.RunWithMoto(m, func(mo *testenv.Moto) int {
		moto = mo
		return m.Run()
	})
	bootstraps.Close()
	os.Exit(code)
}

const (
	apiKey  = "rie-api-key-4b2d"
	userKey = "rie-user-key-8e6f"
)

type fixture struct {
	t    *testing.T
	mc   *emulator.Server
	base string
	sm   *secretsmanager.Client
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, mc: emulator.New(emulator.Options{})}
	f.mc.AddAccount(emulator.Account{APIKey: apiKey, UserKey: userKey})
	srv := httptest.NewServer(f.mc)
	t.Cleanup(srv.Close)
	f.base = srv.URL + "/v4"
	f.sm = moto.Client(t)
	return f
}

func (f *fixture) secret(value string) string {
	f.t.Helper()
	name := testenv.UniqueName(f.t)
	if _, err := f.sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)}); err != nil {
		f.t.Fatal(err)
	}
	return name
}

func (f *fixture) start(env ...string) *testenv.RIE {
	f.t.Helper()
	env = append(append(moto.Env(), "MIGHTYCALL_BASE_URL="+f.base, "AWS_LAMBDA_LOG_FORMAT=JSON"), env...)
	return testenv.StartRIE(f.t, bootstraps.Build(f.t, "./cmd/refresher"), testenv.RIEOptions{Env: env})
}

type summary = refresher.Summary

func invokeSummary(t *testing.T, r *testenv.RIE, payload string) summary {
	t.Helper()
	inv := r.Invoke(t, []byte(payload))
	if inv.FunctionError || inv.Status != 200 {
		t.Fatalf("%s: function error %d %s", payload, inv.Status, inv.Body)
	}
	var s summary
	if err := json.Unmarshal(inv.Body, &s); err != nil {
		t.Fatalf("%s: %v: %s", payload, err, inv.Body)
	}
	return s
}

func TestBootstrapUnderRuntimeEmulator(t *testing.T) {
	f := newFixture(t)
	good := `{"api_key":"` + apiKey + `","user_key":"` + userKey + `"}`
	a, b := f.secret(good), f.secret(good)
	rie := f.start("SECRET_IDS=" + a + "," + b)

	// {}: the configured secrets, bootstrapped.
	s := invokeSummary(t, rie, `{}`)
	if len(s.Results) != 2 || s.Results[0].Outcome != "refreshed" || s.Results[1].Outcome != "refreshed" || s.Results[0].Grant != "client_credentials" {
		t.Fatalf("{}: %+v", s)
	}
	// EventBridge scheduled event: fresh now, so skipped.
	sched := `{"version":"0","id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa","detail-type":"Scheduled Event","source":"aws.events",` +
		`"account":"123456789012","time":"2026-12-03T12:00:00Z","region":"us-east-1","resources":["arn:aws:events:us-east-1:123456789012:rule/r"],"detail":{}}`
	s = invokeSummary(t, rie, sched)
	if len(s.Results) != 2 || s.Results[0].Outcome != "skipped" || s.Results[1].Outcome != "skipped" {
		t.Fatalf("scheduled: %+v", s)
	}
	// Manual, forced, one secret: the refresh token is used.
	s = invokeSummary(t, rie, `{"secret_ids":["`+b+`"],"force":true}`)
	if len(s.Results) != 1 || s.Results[0].SecretID != b || s.Results[0].Outcome != "refreshed" || s.Results[0].Grant != "refresh_token" {
		t.Fatalf("manual: %+v", s)
	}

	// Rotation: the four steps on a, as Secrets Manager would drive them.
	_, _ = f.sm.RotateSecret(context.Background(), &secretsmanager.RotateSecretInput{SecretId: aws.String(a),
		RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:123456789012:function:x"),
		RotationRules:     &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(7)}})
	desc, err := f.sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(a)})
	if err != nil {
		t.Fatal(err)
	}
	token := ""
	for id, stages := range desc.VersionIdsToStages {
		for _, st := range stages {
			if st == secrets.StagePending {
				token = id
			}
		}
	}
	const rotationToken = "rotation-token-canary-3d9a"
	for _, step := range []string{"createSecret", "setSecret", "testSecret", "finishSecret"} {
		ev := `{"Step":"` + step + `","SecretId":"` + a + `","ClientRequestToken":"` + token + `","RotationToken":"` + rotationToken + `"}`
		inv := rie.Invoke(t, []byte(ev))
		if inv.FunctionError {
			t.Fatalf("%s: %s", step, inv.Body)
		}
	}
	cur, err := f.sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(a), VersionStage: aws.String(secrets.StageCurrent)})
	if err != nil || aws.ToString(cur.VersionId) != token {
		t.Fatalf("rotation did not finish: %v %v", aws.ToString(cur.VersionId), err)
	}

	// A rejected event: a function error, before any call.
	before := f.mc.Stats().TokenRequests
	inv := rie.Invoke(t, []byte(`{"hello":"world"}`))
	if !inv.FunctionError || inv.ErrorType != "EventRejected" || !strings.Contains(inv.ErrorMessage, "unsupported event") || !strings.Contains(inv.ErrorMessage, `"hello"`) {
		t.Fatalf("rejected event: %+v %s", inv, inv.Body)
	}
	if f.mc.Stats().TokenRequests != before {
		t.Fatal("a rejected event reached MightyCall")
	}

	logs := rie.Logs()
	for _, secret := range []string{apiKey, userKey, rotationToken} {
		if strings.Contains(logs, secret) {
			t.Fatalf("logs contain a secret value %q", secret)
		}
	}
	if !strings.Contains(logs, `"message":"secret refreshed"`) || !strings.Contains(logs, `"_aws"`) {
		t.Fatalf("want JSON log lines and EMF metrics:\n%s", logs)
	}
	// Every per-secret line has the fields an operator filters on, in
	// Lambda's JSON log format (timestamp, level, message, requestId).
	perSecret, runs := 0, 0
	for _, line := range strings.Split(logs, "\n") {
		var m map[string]any
		if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &m) != nil || m["_aws"] != nil {
			continue
		}
		for _, k := range []string{"timestamp", "level", "message", "requestId"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("log line without %q: %s", k, line)
			}
		}
		switch m["message"] {
		case "secret refreshed", "secret skipped", "secret failed":
			perSecret++
			for _, k := range []string{"secret_id", "outcome", "grant", "reason", "attempts", "exchange_ms", "duration_ms", "expires_at"} {
				if _, ok := m[k]; !ok {
					t.Fatalf("secret line without %q: %s", k, line)
				}
			}
		case "refresh run":
			runs++
			for _, k := range []string{"secrets", "refreshed", "skipped", "failed", "failed_secrets"} {
				if _, ok := m[k]; !ok {
					t.Fatalf("run line without %q: %s", k, line)
				}
			}
		}
	}
	if perSecret != 5 || runs != 3 {
		t.Fatalf("want 5 per-secret lines over 3 refresh runs, got %d and %d:\n%s", perSecret, runs, logs)
	}
}

func TestFailedSecretIsAFunctionError(t *testing.T) {
	f := newFixture(t)
	good := f.secret(`{"api_key":"` + apiKey + `","user_key":"` + userKey + `"}`)
	bad := f.secret(`{"api_key":"` + apiKey + `","user_key":"wrong-key"}`)
	rie := f.start("SECRET_IDS=" + good + "," + bad)
	inv := rie.Invoke(t, []byte(`{}`))
	if !inv.FunctionError || inv.ErrorType != "RunError" || !strings.Contains(inv.ErrorMessage, "1 of 2 secrets failed") || !strings.Contains(inv.ErrorMessage, bad) ||
		!strings.Contains(inv.ErrorMessage, "invalid_client") {
		t.Fatalf("%+v %s", inv, inv.Body)
	}
	if strings.Contains(string(inv.Body), "wrong-key") {
		t.Fatal("the error reveals a key")
	}
	// The good secret was refreshed all the same.
	cur, err := f.sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(good), VersionStage: aws.String(secrets.StageCurrent)})
	if err != nil || !strings.Contains(aws.ToString(cur.SecretString), "access_token") {
		t.Fatalf("good secret not refreshed: %v", err)
	}
}

func TestInvalidConfigurationFailsAtStartNamingTheVariable(t *testing.T) {
	f := newFixture(t)
	rie := f.start("REFRESH_MARGIN=soon", "SECRET_IDS=x")
	inv := rie.Invoke(t, []byte(`{}`))
	if !inv.FunctionError {
		t.Fatalf("want a failed init: %+v %s", inv, inv.Body)
	}
	if !strings.Contains(rie.Logs(), "REFRESH_MARGIN") {
		t.Fatalf("the error does not name the variable:\n%s", rie.Logs())
	}
	http := f.start("MIGHTYCALL_BASE_URL=http://ccapi.example.com/v4")
	if inv := http.Invoke(t, []byte(`{}`)); !inv.FunctionError || !strings.Contains(http.Logs(), "MIGHTYCALL_BASE_URL") {
		t.Fatalf("plain http on a public host must be refused at start: %s\n%s", inv.Body, http.Logs())
	}
}
