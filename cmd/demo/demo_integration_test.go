//go:build integration

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// section returns the part of the demo's output under the heading that
// starts with title ("== 5." …), up to the next heading.
func section(t *testing.T, out, title string) string {
	t.Helper()
	i := strings.Index(out, "\n== "+title)
	if i < 0 {
		t.Fatalf("no section %q in the output:\n%s", title, out)
	}
	s := out[i+1:]
	if j := strings.Index(s, "\n== "); j >= 0 {
		s = s[:j]
	}
	return s
}

func mustContain(t *testing.T, where, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", where, w, text)
		}
	}
}

var (
	pidRE = regexp.MustCompile(`\(pid (\d+)\)`)
	// Nothing that looks like a whole key (32 hex digits) or token (43
	// base64url characters) may be printed, known to the demo or not.
	longSecretRE = regexp.MustCompile(`[A-Za-z0-9_-]{40,}|[0-9a-f]{32}`)
)

// checkNoSecrets fails if text holds any value the demo knew as a secret, or
// anything shaped like a key or token.
func checkNoSecrets(t *testing.T, where, text string, known []string) {
	t.Helper()
	if len(known) < 6 {
		t.Fatalf("the demo knew only %d secret values; want the 4 keys, the extension, the rotation token and the tokens", len(known))
	}
	for _, v := range known {
		if len(v) >= minMaskLen && strings.Contains(text, v) {
			t.Errorf("%s shows the secret value %s in full", where, maskValue(v))
		}
		if len(v) < minMaskLen && strings.Contains(text, `"`+v+`"`) {
			t.Errorf("%s shows the short secret value %s as a JSON string", where, maskValue(v))
		}
	}
	if m := longSecretRE.FindString(text); m != "" {
		t.Errorf("%s holds something shaped like a key or token: %s", where, maskValue(m))
	}
}

// checkStopped fails if a process whose pid the output names still runs.
func checkStopped(t *testing.T, out string) {
	t.Helper()
	pids := pidRE.FindAllStringSubmatch(out, -1)
	if len(pids) < 3 {
		t.Fatalf("the output names %d processes, want at least 3:\n%s", len(pids), out)
	}
	for _, m := range pids {
		pid, _ := strconv.Atoi(m[1])
		if p, err := os.FindProcess(pid); err == nil && p.Signal(syscall.Signal(0)) == nil {
			t.Errorf("process %d still runs after the demo", pid)
		}
	}
}

func TestDemo(t *testing.T) {
	var buf bytes.Buffer
	known, err := runDemo(t.Context(), &buf)
	out := buf.String()
	if err != nil {
		t.Fatalf("the demo failed: %v\n%s", err, out)
	}
	t.Logf("the demo printed %d lines", strings.Count(out, "\n"))

	mustContain(t, "step 1", section(t, out, "1."),
		`"api_key":"`, `"user_key":"…(4 chars)","platform":"classic"`)
	first := section(t, out, "2.")
	mustContain(t, "the first run", first,
		"demo/mightycall/callcenter  refreshed grant=client_credentials",
		"demo/mightycall/classic     refreshed grant=client_credentials",
		"MightyCall token endpoint: 2 (client_credentials 2)",
		`"message":"secret refreshed"`, `"reason":"no token yet; logged in with the keys"`,
		"access_token   ", "(43 chars)", "grant          client_credentials")
	mustContain(t, "the second run", section(t, out, "3."),
		"demo/mightycall/callcenter  skipped", "demo/mightycall/classic     skipped",
		"MightyCall token endpoint: none; Secrets Manager: GetSecretValue 2\n", `"reason":"fresh"`)
	mustContain(t, "the forced refresh", section(t, out, "4."),
		"demo/mightycall/callcenter  refreshed grant=refresh_token",
		"demo/mightycall/classic     refreshed grant=refresh_token",
		"MightyCall token endpoint: 2 (refresh_token 2)", `"reason":"forced; refresh token accepted"`)

	rotation := section(t, out, "5.")
	before := regexp.MustCompile(`labels before:\s+AWSCURRENT=([0-9a-f]{8})  AWSPENDING=([0-9a-f]{8})\(rotation\)`).FindStringSubmatch(rotation)
	after := regexp.MustCompile(`labels after finish:\s+AWSCURRENT=([0-9a-f]{8})\(rotation\).*AWSPREVIOUS=([0-9a-f]{8})`).FindStringSubmatch(rotation)
	if before == nil || after == nil || after[1] != before[2] || after[2] != before[1] {
		t.Errorf("rotation: want AWSCURRENT on the pending version and AWSPREVIOUS on the old current one:\n%s", rotation)
	}
	for _, st := range []string{"createSecret", "setSecret", "testSecret", "finishSecret"} {
		mustContain(t, "the rotation", rotation, `"Step":"`+st+`"`, `"step":"`+st+`"`)
	}
	mustContain(t, "the rotation", rotation, `"RotationToken":"demo…(36 chars)"`,
		`"message":"rotation finished: AWSCURRENT moved"`)

	mustContain(t, "the fallback", section(t, out, "6."),
		`POST /_emulator/faults {"Grant":"refresh_token","Status":400,"Body":"{\"error\":\"invalid_grant\"}","ContentType":"application/json"}`,
		"demo/mightycall/callcenter  refreshed grant=client_credentials",
		"MightyCall token endpoint: 2 (client_credentials 1, refresh_token 1)",
		"refresh token rejected (invalid_grant), fell back to the keys")
	mustContain(t, "the rejected event", section(t, out, "7."),
		`→ invoke {"hello":1}`, "← function error", `unsupported event`, `unknown field(s) "hello"`,
		"MightyCall token endpoint: none; Secrets Manager: none", `"message":"event rejected"`)
	mustContain(t, "the end", out, "== Where to look", "== What you just saw",
		"checked: none of them, nor any process they started, is still running")

	checkNoSecrets(t, "the output", out, known)
	checkStopped(t, out)

	// The log files it points at exist, hold the function's output, and
	// are masked too.
	m := regexp.MustCompile(`in (\S+mightycall-demo-logs-\S+):\n`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the output does not say where the logs are:\n%s", out)
	}
	defer os.RemoveAll(m[1])
	for _, f := range logFiles {
		data, err := os.ReadFile(filepath.Join(m[1], f[0]))
		if err != nil {
			t.Fatal(err)
		}
		checkNoSecrets(t, f[0], string(data), known)
		if f[0] == "function.log" {
			mustContain(t, f[0], string(data), `"message":"secret refreshed"`, "REPORT RequestId: ", `"_aws"`)
		}
	}
}

// cancelAt is a writer that cancels a context once the text written to it
// contains a marker, as Ctrl-C would in the middle of the demo.
type cancelAt struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	marker string
	cancel context.CancelFunc
}

func (c *cancelAt) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, err := c.buf.Write(p)
	if strings.Contains(c.buf.String(), c.marker) {
		c.cancel()
	}
	return n, err
}

func TestDemoInterruptedStopsEverything(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w := &cancelAt{marker: "== 3.", cancel: cancel}
	known, err := runDemo(ctx, w)
	out := w.buf.String()
	if err == nil || ctx.Err() == nil {
		t.Fatalf("an interrupted demo returned %v:\n%s", err, out)
	}
	if strings.Contains(out, "== 4.") {
		t.Errorf("the demo went on after the interruption:\n%s", out)
	}
	mustContain(t, "the interrupted demo", out, "== Stopping",
		"checked: none of them, nor any process they started, is still running", "logs (masked): ")
	checkNoSecrets(t, "the output", out, known)
	checkStopped(t, out)
	if m := regexp.MustCompile(`logs \(masked\): (\S+)`).FindStringSubmatch(out); m != nil {
		os.RemoveAll(m[1])
	}
}
