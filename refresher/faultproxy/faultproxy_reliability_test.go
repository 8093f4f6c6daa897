//go:build integration

package faultproxy_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/faultproxy"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/testenv"
)

var moto *testenv.Moto

// The secret value written by these tests; no error may ever quote it.
const canaryValue = `{"api_key":"fp-canary-api-key-51d0","user_key":"fp-canary-user-key-77ab"}`

var (
	canaryMu   sync.Mutex
	canaryText []string // every error message the tests saw
)

func noteErr(err error) {
	if err == nil {
		return
	}
	canaryMu.Lock()
	defer canaryMu.Unlock()
	canaryText = append(canaryText, err.Error())
}

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithMoto(m, func(mo *testenv.Moto) int {
		moto = mo
		code := m.Run()
		canaryMu.Lock()
		defer canaryMu.Unlock()
		for _, s := range canaryText {
			for _, v := range []string{"fp-canary-api-key-51d0", "fp-canary-user-key-77ab"} {
				if strings.Contains(s, v) {
					fmt.Fprintf(os.Stderr, "FAIL: canary %q appeared in an error: %s\n", v, s)
					code = 1
				}
			}
		}
		return code
	}))
}

// fixture is a proxy in front of the shared moto_server and a client of it
// with production's retry policy (5 attempts) and a short backoff.
func fixture(t *testing.T) (*faultproxy.Proxy, *secretsmanager.Client) {
	t.Helper()
	p, err := faultproxy.New(moto.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c, err := p.Client(context.Background(), config.WithRetryer(func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 5
			o.Backoff = retry.NewExponentialJitterBackoff(20 * time.Millisecond)
		})
	}))
	if err != nil {
		t.Fatal(err)
	}
	return p, c
}

func create(t *testing.T, c *secretsmanager.Client) string {
	t.Helper()
	name := testenv.UniqueName(t)
	if _, err := c.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(canaryValue)}); err != nil {
		t.Fatal(err)
	}
	return name
}

func get(c *secretsmanager.Client, id string) error {
	_, err := c.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id), VersionStage: aws.String("AWSCURRENT")})
	noteErr(err)
	return err
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestForwardsAndCounts(t *testing.T) {
	t.Parallel()
	p, c := fixture(t)
	id := create(t, c)
	if err := get(c, id); err != nil {
		t.Fatal(err)
	}
	if p.Count(faultproxy.OpCreateSecret) != 1 || p.Count(faultproxy.OpGetSecretValue) != 1 || p.Count("") != 2 || p.Faulted("") != 0 {
		t.Fatalf("counts: create %d get %d all %d faulted %d", p.Count(faultproxy.OpCreateSecret), p.Count(faultproxy.OpGetSecretValue), p.Count(""), p.Faulted(""))
	}
	reqs := p.Requests()
	if len(reqs) != 2 || reqs[1].Op != faultproxy.OpGetSecretValue || reqs[1].SecretID != id {
		t.Fatalf("request log: %+v", reqs)
	}
	env := strings.Join(p.Env(), "\n")
	if !strings.Contains(env, "AWS_ENDPOINT_URL_SECRETS_MANAGER="+p.URL) {
		t.Fatalf("Env lacks the endpoint: %s", env)
	}
}

func TestErrorsAsTheSDKSeesThem(t *testing.T) {
	t.Parallel()
	p, c := fixture(t)
	id, other := create(t, c), create(t, c)

	// Throttling twice: the SDK retries, the third attempt passes.
	h := p.Add(faultproxy.Rule{Op: faultproxy.OpGetSecretValue, Error: &faultproxy.Throttling, Count: 2})
	if err := get(c, id); err != nil {
		t.Fatalf("throttled twice: %v", err)
	}
	if h.Hits() != 2 || p.Faulted(faultproxy.OpGetSecretValue) != 2 {
		t.Fatalf("hits %d", h.Hits())
	}

	// Rules match on SecretId: only that secret is denied, once, not retried.
	p.ResetCounts()
	h = p.Add(faultproxy.Rule{Op: faultproxy.OpGetSecretValue, SecretID: id, Error: &faultproxy.AccessDenied})
	if err := get(c, id); apiCode(err) != "AccessDeniedException" {
		t.Fatalf("denied: %v", err)
	}
	if err := get(c, other); err != nil {
		t.Fatalf("other secret: %v", err)
	}
	if p.Count(faultproxy.OpGetSecretValue) != 2 {
		t.Fatalf("AccessDenied was retried: %d requests", p.Count(faultproxy.OpGetSecretValue))
	}
	h.Remove()

	h = p.Add(faultproxy.Rule{Op: faultproxy.OpGetSecretValue, Error: &faultproxy.DecryptionFailure})
	var df *types.DecryptionFailure
	if err := get(c, id); !errors.As(err, &df) {
		t.Fatalf("decryption failure: %v", err)
	}
	h.Remove()

	// A persistent 500: five attempts, then the error.
	p.ResetCounts()
	h = p.Add(faultproxy.Rule{Op: faultproxy.OpGetSecretValue, Error: &faultproxy.InternalError})
	var ise *types.InternalServiceError
	if err := get(c, id); !errors.As(err, &ise) {
		t.Fatalf("internal error: %v", err)
	}
	if n := p.Count(faultproxy.OpGetSecretValue); n != 5 {
		t.Fatalf("%d attempts, want 5", n)
	}
	h.Remove()
	if err := get(c, id); err != nil {
		t.Fatalf("after Remove: %v", err)
	}
}

func TestDroppedConnections(t *testing.T) {
	t.Parallel()
	p, c := fixture(t)
	id := create(t, c)
	ctx := context.Background()

	// Dropped before reaching moto: retried.
	p.Add(faultproxy.Rule{Op: faultproxy.OpGetSecretValue, Drop: true, Count: 1})
	if err := get(c, id); err != nil {
		t.Fatalf("drop before: %v", err)
	}

	// Dropped after moto stored the write: the SDK retries with the same
	// ClientRequestToken, which moto (like AWS) answers as a no-op.
	token := "5f0c7a52-6d4b-4b7e-9d1e-000000000001"
	p.Add(faultproxy.Rule{Op: faultproxy.OpPutSecretValue, DropAfterForward: true, Count: 1})
	_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(id), ClientRequestToken: aws.String(token),
		SecretString: aws.String(canaryValue + " "), VersionStages: []string{"MCREFRESH_STAGED"}})
	noteErr(err)
	if err != nil {
		t.Fatalf("drop after forward: %v", err)
	}
	if p.Count(faultproxy.OpPutSecretValue) != 2 {
		t.Fatalf("want the write sent twice, got %d", p.Count(faultproxy.OpPutSecretValue))
	}
	out, err := c.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(id), IncludeDeprecated: aws.Bool(true)})
	if err != nil || len(out.Versions) != 2 {
		t.Fatalf("want 2 versions: %v %v", out, err)
	}
}

func TestLatencyRespectsTheClientsContext(t *testing.T) {
	t.Parallel()
	p, c := fixture(t)
	id := create(t, c)

	p.SetLatency(50 * time.Millisecond)
	start := time.Now()
	if err := get(c, id); err != nil || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("fixed latency: %v after %v", err, time.Since(start))
	}
	p.SetLatency(0)

	p.Add(faultproxy.Rule{Op: faultproxy.OpGetSecretValue, Latency: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id), VersionStage: aws.String("AWSCURRENT")})
	noteErr(err)
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("slow rule: %v after %v", err, time.Since(start))
	}
}

func TestSerialForwardsOneAtATime(t *testing.T) {
	t.Parallel()
	p, c := fixture(t)
	id := create(t, c)
	p.SetSerial(true)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- get(c, id) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if p.Count(faultproxy.OpGetSecretValue) != 8 {
		t.Fatalf("count %d", p.Count(faultproxy.OpGetSecretValue))
	}
}
