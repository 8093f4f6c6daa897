package refresher

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Canary is the leak check of this package's test binary (SPEC 5.8). Test
// keys, tokens the MightyCall emulator issued, and rotation tokens are
// registered as canaries; every log, metric, error and summary the code
// produces under test is routed through (or recorded in) the registry.
// Each test's own outputs are scanned when it ends, and TestMain scans every
// output against every canary once all tests have run (CanaryMain), so a
// token issued in one test and printed in another is caught too.
//
// Exported so that the external test package (refresher_test) shares the
// same registry; it exists only in test builds.
var Canary = &CanaryRegistry{values: map[string]string{}}

// minCanaryLen keeps short, common strings out of the canaries.
const minCanaryLen = 6

// CanaryRegistry holds the canaries and the outputs to scan.
type CanaryRegistry struct {
	mu      sync.Mutex
	values  map[string]string // value -> what it is
	outputs []canarySource
}

type canarySource struct {
	name string
	text func() string
}

// CanaryOutput is a writer whose content the registry scans.
type CanaryOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (o *CanaryOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

// String returns what was written.
func (o *CanaryOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// Secret registers values that must never appear in any output.
func (c *CanaryRegistry) Secret(what string, values ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range values {
		if len(v) >= minCanaryLen {
			c.values[v] = what
		}
	}
}

// Output returns a new writer whose content is scanned at the end of t and
// of the test binary.
func (c *CanaryRegistry) Output(t testing.TB, name string) *CanaryOutput {
	o := &CanaryOutput{}
	c.Track(t, name, o)
	return o
}

// Logger returns a JSON logger (debug level) writing to a scanned Output.
func (c *CanaryRegistry) Logger(t testing.TB, name string) (*slog.Logger, *CanaryOutput) {
	o := c.Output(t, name)
	return slog.New(slog.NewJSONHandler(o, &slog.HandlerOptions{Level: slog.LevelDebug})), o
}

// Track scans src (anything with a String method, read when scanned) at the
// end of t and of the test binary.
func (c *CanaryRegistry) Track(t testing.TB, name string, src fmt.Stringer) {
	t.Helper()
	full := t.Name() + ": " + name
	c.mu.Lock()
	c.outputs = append(c.outputs, canarySource{name: full, text: src.String})
	c.mu.Unlock()
	t.Cleanup(func() {
		for _, leak := range c.scan([]canarySource{{name: full, text: src.String}}) {
			t.Errorf("canary: %s", leak)
		}
	})
}

// Text records text the code produced (an error message, a summary, a
// runtime emulator's log) for scanning.
func (c *CanaryRegistry) Text(t testing.TB, name, s string) {
	t.Helper()
	c.Track(t, name, constString(s))
}

// Err records err's message, if any, and returns err.
func (c *CanaryRegistry) Err(t testing.TB, name string, err error) error {
	t.Helper()
	if err != nil {
		c.Text(t, name, err.Error())
	}
	return err
}

type constString string

func (s constString) String() string { return string(s) }

// Leaks scans every output recorded so far against every canary.
func (c *CanaryRegistry) Leaks() []string {
	c.mu.Lock()
	srcs := append([]canarySource(nil), c.outputs...)
	c.mu.Unlock()
	return c.scan(srcs)
}

func (c *CanaryRegistry) scan(srcs []canarySource) []string {
	c.mu.Lock()
	values := make([]string, 0, len(c.values))
	for v := range c.values {
		values = append(values, v)
	}
	what := make(map[string]string, len(c.values))
	for k, v := range c.values {
		what[k] = v
	}
	c.mu.Unlock()
	sort.Strings(values)
	var leaks []string
	for _, src := range srcs {
		text := src.text()
		for _, v := range values {
			if i := strings.Index(text, v); i >= 0 {
				leaks = append(leaks, fmt.Sprintf("%s contains %s (%d bytes in): ...%s...", src.name, what[v], i,
					text[max(0, i-80):i]))
			}
		}
	}
	return leaks
}

// CanaryMain is the end-of-binary check TestMain runs after m.Run: it
// prints every leak and turns code into a failure if there is one.
func CanaryMain(code int) int {
	leaks := Canary.Leaks()
	for _, l := range leaks {
		fmt.Fprintf(os.Stderr, "FAIL: canary: %s\n", l)
	}
	if len(leaks) > 0 && code == 0 {
		return 1
	}
	return code
}

var tokenField = regexp.MustCompile(`"(access_token|refresh_token)"\s*:\s*"([^"]+)`)

// Issued wraps a MightyCall emulator (or any token endpoint) so that every
// access and refresh token it sends back is registered as a canary, whether
// the response is whole, truncated or padded.
func (c *CanaryRegistry) Issued(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &captureWriter{ResponseWriter: w}
		defer func() {
			for _, m := range tokenField.FindAllSubmatch(cw.buf.Bytes(), -1) {
				c.Secret("a token the MightyCall emulator issued ("+string(m[1])+")", string(m[2]))
			}
		}()
		h.ServeHTTP(cw, r)
	})
}

// captureWriter keeps a copy of the response body (up to a bound) and
// lets the emulator reach Hijack through Unwrap.
type captureWriter struct {
	http.ResponseWriter
	buf bytes.Buffer
}

const maxCapture = 4 << 20

func (w *captureWriter) Write(p []byte) (int, error) {
	if w.buf.Len() < maxCapture {
		w.buf.Write(p[:min(len(p), maxCapture-w.buf.Len())])
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach Hijack and Flush.
func (w *captureWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var _ io.Writer = (*CanaryOutput)(nil)
