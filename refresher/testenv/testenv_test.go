//go:build integration

package testenv_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	// testdata/echo imports it; go mod tidy does not look into testdata,
	// so this import keeps the requirement in go.mod.
	_ "github.com/aws/aws-lambda-go/lambda"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/testenv"
)

// echoPkg is the test handler, relative to the module root.
const echoPkg = "./refresher/testenv/testdata/echo"

var (
	moto       *testenv.Moto // one moto_server for the whole package
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

func token(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b) // 32 characters, as ClientRequestToken needs
}

func TestFreeAddr(t *testing.T) {
	a, b := testenv.FreeAddr(t), testenv.FreeAddr(t)
	for _, addr := range []string{a, b} {
		if !strings.HasPrefix(addr, "127.0.0.1:") {
			t.Fatalf("FreeAddr = %q, want 127.0.0.1:PORT", addr)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("FreeAddr gave %s, which cannot be listened on: %v", addr, err)
		}
		l.Close()
	}
}

func TestUniqueName(t *testing.T) {
	valid := regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]{1,512}$`)
	t.Run("odd chars: ü*", func(t *testing.T) {
		a, b := testenv.UniqueName(t), testenv.UniqueName(t)
		if a == b {
			t.Fatalf("UniqueName repeated %q", a)
		}
		for _, n := range []string{a, b} {
			if !valid.MatchString(n) {
				t.Errorf("UniqueName = %q: not a valid secret name", n)
			}
			if !strings.HasPrefix(n, "TestUniqueName/odd_chars-") {
				t.Errorf("UniqueName = %q: does not start with the sanitised test name", n)
			}
		}
	})
}

func TestMotoEnv(t *testing.T) {
	env := strings.Join(moto.Env(), "\n") + "\n"
	for _, want := range []string{
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + moto.URL + "\n",
		"AWS_REGION=us-east-1\n",
		"AWS_ACCESS_KEY_ID=test\n",
		"AWS_SECRET_ACCESS_KEY=test\n",
		"AWS_EC2_METADATA_DISABLED=true\n",
	} {
		if !strings.Contains(env, want) {
			t.Errorf("Env() lacks %q:\n%s", want, env)
		}
	}
}

func TestMotoSecretRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	sm := moto.Client(t)
	if got := aws.ToString(sm.Options().BaseEndpoint); got != moto.URL {
		t.Fatalf("client endpoint = %q, want %q", got, moto.URL)
	}
	name := testenv.UniqueName(t)
	v1 := token(t)
	if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:               aws.String(name),
		SecretString:       aws.String(`{"token":"one"}`),
		ClientRequestToken: aws.String(v1),
	}); err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	got, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId:     aws.String(name),
		VersionStage: aws.String("AWSCURRENT"),
	})
	if err != nil {
		t.Fatalf("GetSecretValue(AWSCURRENT): %v", err)
	}
	if aws.ToString(got.SecretString) != `{"token":"one"}` || aws.ToString(got.VersionId) != v1 {
		t.Fatalf("AWSCURRENT = %q version %q, want the created value, version %q",
			aws.ToString(got.SecretString), aws.ToString(got.VersionId), v1)
	}

	v2 := token(t)
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(name),
		SecretString:       aws.String(`{"token":"two"}`),
		ClientRequestToken: aws.String(v2),
		VersionStages:      []string{"AWSPENDING"},
	}); err != nil {
		t.Fatalf("PutSecretValue(AWSPENDING): %v", err)
	}
	pending, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId:     aws.String(name),
		VersionStage: aws.String("AWSPENDING"),
	})
	if err != nil {
		t.Fatalf("GetSecretValue(AWSPENDING): %v", err)
	}
	if aws.ToString(pending.SecretString) != `{"token":"two"}` || aws.ToString(pending.VersionId) != v2 {
		t.Fatalf("AWSPENDING = %q version %q, want the put value, version %q",
			aws.ToString(pending.SecretString), aws.ToString(pending.VersionId), v2)
	}
	current, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId:     aws.String(name),
		VersionStage: aws.String("AWSCURRENT"),
	})
	if err != nil {
		t.Fatalf("GetSecretValue(AWSCURRENT): %v", err)
	}
	if aws.ToString(current.VersionId) != v1 {
		t.Fatalf("AWSCURRENT moved to %q after a put with VersionStages=[AWSPENDING]", aws.ToString(current.VersionId))
	}
}

func TestStartMotoIsSeparate(t *testing.T) {
	t.Parallel()
	own := testenv.StartMoto(t)
	if own.URL == moto.URL || !strings.HasPrefix(own.URL, "http://127.0.0.1:") {
		t.Fatalf("StartMoto URL = %q (shared one is %q)", own.URL, moto.URL)
	}
	ctx := t.Context()
	name := testenv.UniqueName(t)
	if _, err := moto.Client(t).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String("x"),
	}); err != nil {
		t.Fatalf("CreateSecret on the shared moto: %v", err)
	}
	if _, err := own.Client(t).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{
		SecretId: aws.String(name),
	}); err == nil {
		t.Fatalf("a secret created on the shared moto_server is visible on the test's own one")
	}
	// The readiness probe is logged before StartMoto returns (later request
	// lines may still be on their way when a response arrives).
	if !strings.Contains(own.Logs(), "GET /moto-api/?testenv-probe=") {
		t.Errorf("the test's own moto_server's Logs() lack the readiness probe:\n%s", own.Logs())
	}
}

func jsonEqual(t *testing.T, got []byte, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		return false
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return bytes.Equal(gb, wb)
}

func TestRIEInvoke(t *testing.T) {
	t.Parallel()
	bootstrap := testenv.BuildBootstrap(t, echoPkg)
	r := testenv.StartRIE(t, bootstrap, testenv.RIEOptions{Env: moto.Env()})
	if !strings.HasSuffix(r.URL, "/2015-03-31/functions/function/invocations") {
		t.Errorf("URL = %q", r.URL)
	}
	if _, err := r.InitDuration(); err == nil {
		t.Errorf("InitDuration before any invocation: no error")
	}

	ok := r.Invoke(t, []byte(`{"hello":"world"}`))
	if ok.Status != 200 || ok.FunctionError || !jsonEqual(t, ok.Body, `{"hello":"world"}`) {
		t.Fatalf("good invocation = %+v (body %s)", ok, ok.Body)
	}
	d, err := r.InitDuration()
	if err != nil || d < 0 {
		t.Fatalf("InitDuration = %v, %v", d, err)
	}
	rd, err := r.RuntimeInitDuration()
	if err != nil || rd <= 0 {
		t.Fatalf("RuntimeInitDuration = %v, %v", rd, err)
	}
	t.Logf("REPORT Init Duration %v; runtime INIT REPORT %v", d, rd)
	logs := r.Logs()
	for _, want := range []string{
		"START RequestId: " + ok.RequestID,
		"echo: 17 bytes",
		"REPORT RequestId: " + ok.RequestID,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("Logs() lack %q:\n%s", want, logs)
		}
	}

	bad := r.Invoke(t, []byte(`{"fail":true}`))
	if bad.Status != 200 || !bad.FunctionError || bad.TimedOut ||
		bad.ErrorMessage != "echo: asked to fail" || bad.ErrorType != "errorString" {
		t.Fatalf("failing invocation = %+v (body %s)", bad, bad.Body)
	}
	if !strings.Contains(r.Logs(), "echo: failing on request") {
		t.Errorf("Logs() lack the failing invocation's output")
	}

	// The function reaches moto through Moto.Env, as the refresher will.
	sm := moto.Client(t)
	name := testenv.UniqueName(t)
	if _, err := sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String("s3cr3t"),
	}); err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	read := r.Invoke(t, []byte(`{"readSecret":"`+name+`"}`))
	if read.Status != 200 || read.FunctionError || !jsonEqual(t, read.Body, `{"value":"s3cr3t"}`) {
		t.Fatalf("readSecret invocation = %+v (body %s)", read, read.Body)
	}
}

func TestRIETimeout(t *testing.T) {
	t.Parallel()
	r := testenv.StartRIE(t, bootstraps.Build(t, echoPkg), testenv.RIEOptions{
		Env:     moto.Env(),
		Timeout: 300 * time.Millisecond, // rounded up to the emulator's 1s
	})
	if r.Timeout != time.Second {
		t.Errorf("Timeout = %v, want 1s", r.Timeout)
	}
	slow := r.Invoke(t, []byte(`{"sleepMs":3000}`))
	if !slow.FunctionError || !slow.TimedOut {
		t.Fatalf("slow invocation = %+v (body %s), want a timeout", slow, slow.Body)
	}
	// The emulator starts a new runtime after a timeout.
	again := r.Invoke(t, []byte(`[1,2]`))
	if again.Status != 200 || again.FunctionError || !jsonEqual(t, again.Body, `[1,2]`) {
		t.Fatalf("invocation after the timeout = %+v (body %s)", again, again.Body)
	}
}

func TestTwoRIEsAtOnce(t *testing.T) {
	t.Parallel()
	bootstrap := bootstraps.Build(t, echoPkg)
	if again := bootstraps.Build(t, echoPkg); again != bootstrap {
		t.Fatalf("BootstrapCache built %s twice (%s, %s)", echoPkg, bootstrap, again)
	}
	rs := []*testenv.RIE{
		testenv.StartRIE(t, bootstrap, testenv.RIEOptions{Env: moto.Env()}),
		testenv.StartRIE(t, bootstrap, testenv.RIEOptions{Env: moto.Env()}),
	}
	seen := map[string]bool{}
	for _, r := range rs {
		for _, a := range []string{r.Addr, r.RuntimeAPIAddr} {
			if seen[a] {
				t.Fatalf("address %s used twice", a)
			}
			seen[a] = true
		}
	}

	invs := make([]testenv.Invocation, len(rs))
	errs := make([]error, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Go(func() {
			invs[i], errs[i] = r.TryInvoke([]byte(`{"sleepMs":200,"n":` + string(rune('0'+i)) + `}`))
		})
	}
	wg.Wait()
	for i, r := range rs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		want := `{"sleepMs":200,"n":` + string(rune('0'+i)) + `}`
		if invs[i].Status != 200 || invs[i].FunctionError || !jsonEqual(t, invs[i].Body, want) {
			t.Fatalf("emulator %d answered %+v (body %s)", i, invs[i], invs[i].Body)
		}
		other := invs[1-i].RequestID
		if logs := r.Logs(); !strings.Contains(logs, invs[i].RequestID) || strings.Contains(logs, other) {
			t.Errorf("emulator %d's logs do not hold exactly its own invocation:\n%s", i, logs)
		}
	}
}

func TestInvokeSerialised(t *testing.T) {
	t.Parallel()
	r := testenv.StartRIE(t, bootstraps.Build(t, echoPkg), testenv.RIEOptions{Env: moto.Env()})
	const n = 4
	invs := make([]testenv.Invocation, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { invs[i], errs[i] = r.TryInvoke([]byte(`{"sleepMs":100}`)) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if invs[i].Status != 200 || invs[i].FunctionError {
			t.Fatalf("concurrent invocation %d = %+v (body %s)", i, invs[i], invs[i].Body)
		}
	}
}
