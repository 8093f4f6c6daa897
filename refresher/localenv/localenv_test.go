//go:build integration && linux

package localenv_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/localenv"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall/emulator"
)

const echoPkg = "./refresher/testenv/testdata/echo"

// gone reports whether no live process has pid (a reaped child, or a zombie
// nobody waited for yet, counts as gone).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i > 0 && strings.HasPrefix(string(stat[i+1:]), " Z")
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(stat), ')')
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			p, _ := strconv.Atoi(e.Name())
			out = append(out, p)
		}
	}
	return out
}

func TestEmulatorProcess(t *testing.T) {
	t.Parallel()
	const apiKey, userKey = "localenv-api-key-5c1e", "localenv-user-key-0b7d"
	em, err := localenv.StartEmulator(apiKey + ":" + userKey)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			em.Stop()
		}
	}()
	if !strings.HasPrefix(em.URL, "http://127.0.0.1:") || !strings.HasSuffix(em.URL, "/v4") ||
		em.ControlURL != strings.TrimSuffix(em.URL, "/v4")+"/_emulator/" {
		t.Fatalf("URL = %q, ControlURL = %q", em.URL, em.ControlURL)
	}
	ctx := t.Context()
	if err := em.InjectFault(ctx, emulator.Fault{Grant: "refresh_token", Status: 400, Body: `{"error":"invalid_grant"}`}); err != nil {
		t.Fatalf("InjectFault: %v", err)
	}
	if err := em.InjectFault(ctx, emulator.Fault{Status: 1000}); err == nil || !strings.Contains(err.Error(), "400 Bad Request") {
		t.Fatalf("InjectFault of an invalid fault: %v", err)
	}
	if err := em.ClearFaults(ctx); err != nil {
		t.Fatalf("ClearFaults: %v", err)
	}
	s, err := em.Stats(ctx)
	if err != nil || s.TokenRequests != 0 {
		t.Fatalf("Stats = %+v, %v", s, err)
	}
	if !strings.Contains(em.Logs(), "1 account(s) loaded") {
		t.Errorf("Logs lack the start line:\n%s", em.Logs())
	}
	if strings.Contains(em.Logs(), apiKey) || strings.Contains(em.Logs(), userKey) {
		t.Errorf("the emulator's output shows a key")
	}

	pid := em.Pid()
	if err := em.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	if !gone(pid) {
		t.Fatalf("mightycall-emulator (pid %d) still runs after Stop", pid)
	}
	if err := em.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestEmulatorBadAccountsIsAnErrorWithoutTheKeys(t *testing.T) {
	t.Parallel()
	em, err := localenv.StartEmulator("only-one-part-secret-4f2a")
	if err == nil {
		em.Stop()
		t.Fatal("StartEmulator accepted a malformed account")
	}
	if strings.Contains(err.Error(), "secret-4f2a") || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("error = %v", err)
	}
}

func TestRIEInvocationLogAndStop(t *testing.T) {
	t.Parallel()
	bootstrap := filepath.Join(t.TempDir(), "bootstrap")
	if err := localenv.BuildBootstrap(echoPkg, bootstrap); err != nil {
		t.Fatal(err)
	}
	r, err := localenv.StartRIE(bootstrap, localenv.RIEOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	ctx := t.Context()
	first, err := r.Invoke(ctx, []byte(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	second, err := r.Invoke(ctx, []byte(`{"fail":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if !second.FunctionError || second.ErrorMessage != "echo: asked to fail" {
		t.Fatalf("second = %+v", second)
	}
	lines := r.InvocationLog(second.RequestID)
	text := strings.Join(lines, "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "START RequestId: "+second.RequestID) ||
		!strings.HasPrefix(lines[len(lines)-1], "REPORT RequestId: "+second.RequestID) ||
		!strings.Contains(text, "echo: failing on request") || strings.Contains(text, first.RequestID) ||
		strings.Contains(text, "echo: 7 bytes") {
		t.Fatalf("InvocationLog(second):\n%s\n--- all:\n%s", text, r.Logs())
	}
	if got := r.InvocationLog("no-such-request"); got != nil {
		t.Errorf("InvocationLog of an unknown id = %q", got)
	}

	// A slow invocation is abandoned when its context is cancelled.
	slowCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := r.Invoke(slowCtx, []byte(`{"sleepMs":5000}`)); err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("cancelled invocation: %v after %v", err, time.Since(start))
	}

	// Stop leaves neither the emulator nor the function's runtime process
	// (which the emulator starts in a process group of its own).
	pid := r.Pid()
	runtimePids := childrenOf(pid)
	if len(runtimePids) == 0 {
		t.Fatalf("aws-lambda-rie (pid %d) has no runtime process", pid)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if !gone(pid) {
		t.Fatalf("aws-lambda-rie (pid %d) still runs after Stop", pid)
	}
	if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("a process of aws-lambda-rie's group %d still runs after Stop (%v)", pid, err)
	}
	for _, p := range runtimePids {
		if !gone(p) {
			t.Fatalf("the function's runtime process %d still runs after Stop", p)
		}
	}
}

func TestMotoStop(t *testing.T) {
	t.Parallel()
	m, err := localenv.StartMoto()
	if err != nil {
		t.Fatal(err)
	}
	pid := m.Pid()
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if !gone(pid) {
		t.Fatalf("moto_server (pid %d) still runs after Stop", pid)
	}
}
