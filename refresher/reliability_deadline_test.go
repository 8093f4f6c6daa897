//go:build integration

package refresher_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher"
	fp "github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/faultproxy"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall/emulator"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/testenv"
)

// startFunction runs the real bootstrap under the Lambda runtime emulator
// with a short function timeout, reaching Secrets Manager through the rig's
// proxy and MightyCall through the rig's emulator. Its logs are scanned for
// canaries when the test ends.
func (g *rig) startFunction(timeout time.Duration, env ...string) *testenv.RIE {
	g.t.Helper()
	env = append(append(g.proxy.Env(), "MIGHTYCALL_BASE_URL="+g.base, "AWS_LAMBDA_LOG_FORMAT=JSON"), env...)
	rie := testenv.StartRIE(g.t, bootstraps.Build(g.t, "./cmd/refresher"), testenv.RIEOptions{Env: env, Timeout: timeout})
	refresher.Canary.Track(g.t, "runtime emulator logs", stringer(rie.Logs))
	return rie
}

type stringer func() string

func (s stringer) String() string { return s() }

// invoke invokes the function and records its answer for the canary.
func (g *rig) invoke(rie *testenv.RIE, payload string) (testenv.Invocation, time.Duration) {
	g.t.Helper()
	g.catchUp()
	start := time.Now()
	inv := rie.Invoke(g.t, []byte(payload))
	refresher.Canary.Text(g.t, "invocation answer", string(inv.Body))
	took := time.Since(start)
	g.catchUp()
	return inv, took
}

// catchUp sets the rig's clock (the emulator's) to the real time the
// bootstrap under the runtime emulator goes by.
func (g *rig) catchUp() {
	if d := time.Since(g.clock.Now()); d > 0 {
		g.clock.Add(d)
	}
}

// TestReliabilityDeadline: under a 3s function timeout, with WRITE_RESERVE
// 1s and an HTTP_TIMEOUT longer than the function's whole life, the
// function stops waiting for MightyCall in time to fail cleanly (a function
// error with the outcome logged and the metrics emitted, never a timeout),
// writes when MightyCall is slow but in time, and fails cleanly too when
// Secrets Manager is too slow to take the write.
func TestReliabilityDeadline(t *testing.T) {
	t.Parallel()
	const timeout = 3 * time.Second
	g := newRig(t, rigOptions{})
	id := g.create(keysDoc(""))
	rie := g.startFunction(timeout, "SECRET_IDS="+id, "WRITE_RESERVE=1s", "HTTP_TIMEOUT=30s")
	if inv, _ := g.invoke(rie, `{}`); inv.FunctionError {
		t.Fatalf("first run: %s", inv.Body)
	}
	force := `{"force":true}`

	failsCleanly := func(name string, inv testenv.Invocation, took time.Duration, parts ...string) {
		t.Helper()
		if inv.TimedOut || !inv.FunctionError {
			t.Fatalf("%s: want a clean function error before the %v timeout, got %+v after %v: %s", name, timeout, inv, took, inv.Body)
		}
		for _, p := range append([]string{"1 of 1 secrets failed", id}, parts...) {
			if !strings.Contains(inv.ErrorMessage, p) {
				t.Errorf("%s: error %q does not mention %q", name, inv.ErrorMessage, p)
			}
		}
		logs := rie.Logs()
		if !strings.Contains(logs, `"secret failed"`) || !strings.Contains(logs, `"refresh run"`) {
			t.Errorf("%s: the outcome is not logged:\n%s", name, logs)
		}
	}

	t.Run("mightycall slower than the function", func(t *testing.T) {
		before := g.state(id)
		g.mc.InjectFault(emulator.Fault{Delay: 20 * time.Second, Count: 10})
		defer g.mc.ClearFaults()
		metricsBefore := strings.Count(rie.Logs(), `"MinSecondsToExpiry"`)
		inv, took := g.invoke(rie, force)
		failsCleanly("slow MightyCall", inv, took, "deadline")
		if strings.Count(rie.Logs(), `"MinSecondsToExpiry"`) == metricsBefore {
			t.Error("no expiry metric emitted on the failed run")
		}
		g.checkInvariants(id, before, nothingNew)
	})

	t.Run("retry-after beyond the deadline", func(t *testing.T) {
		before := g.state(id)
		g.mc.InjectFault(emulator.Fault{Status: 503, RetryAfter: "120"})
		defer g.mc.ClearFaults()
		inv, took := g.invoke(rie, force)
		failsCleanly("Retry-After 120", inv, took, "HTTP 503", "no time left to retry")
		if took > timeout/2 {
			t.Errorf("waited %v instead of giving up at once", took)
		}
		g.checkInvariants(id, before, nothingNew)
	})

	t.Run("mightycall slow but in time", func(t *testing.T) {
		before := g.state(id)
		g.mc.InjectFault(emulator.Fault{Delay: time.Second})
		inv, _ := g.invoke(rie, force)
		var sum refresher.Summary
		if inv.FunctionError || json.Unmarshal(inv.Body, &sum) != nil || len(sum.Results) != 1 || sum.Results[0].Outcome != refresher.Refreshed {
			t.Fatalf("want refreshed: %+v %s", inv, inv.Body)
		}
		g.checkInvariants(id, before, moved)
	})

	t.Run("secrets manager too slow to take the write", func(t *testing.T) {
		before := g.state(id)
		h := g.proxy.Add(fp.Rule{Op: fp.OpPutSecretValue, SecretID: id, Latency: 20 * time.Second})
		defer h.Remove()
		inv, took := g.invoke(rie, force)
		failsCleanly("slow write", inv, took, "token obtained but not stored")
		g.checkInvariants(id, before, unchanged)
	})

	// After all that, a plain run works.
	before := g.state(id)
	if inv, _ := g.invoke(rie, force); inv.FunctionError {
		t.Fatalf("recovery: %s", inv.Body)
	}
	g.checkInvariants(id, before, moved)
}

// TestReliabilityDeadlineInProcess: the same deadline rule without the
// runtime emulator, for the rotation path: createSecret stops waiting for a
// slow MightyCall in time and fails cleanly, writing nothing.
func TestReliabilityDeadlineInProcess(t *testing.T) {
	t.Parallel()
	g := newRig(t, rigOptions{cfg: refresher.Config{WriteReserve: 300 * time.Millisecond}})
	g.client.HTTPClient.Timeout = 10 * time.Second
	id := g.bootstrapped()
	token := g.startRotation(id)
	before := g.state(id)
	g.mc.InjectFault(emulator.Fault{Delay: 10 * time.Second, Count: 10})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	ev, _ := json.Marshal(map[string]string{"Step": "createSecret", "SecretId": id, "ClientRequestToken": token})
	start := time.Now()
	_, err := g.r.Handle(ctx, ev)
	refresher.Canary.Err(t, "createSecret error", err)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("want createSecret to give up before the deadline: %v after %v", err, time.Since(start))
	}
	s := g.checkInvariants(id, before, nothingNew)
	if s.pendDoc != "" {
		t.Fatal("a pending value was written")
	}
}
