package localenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/invocation"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	rieTool          = "aws-lambda-rie"
	rieInvokePath    = "/2015-03-31/functions/function/invocations"
	rieStartTimeout  = 30 * time.Second
	defaultTimeout   = 30 * time.Second
	logLineTimeout   = 10 * time.Second
	invokeHTTPMargin = 30 * time.Second // on top of the function timeout, for init and the emulator
)

// RIEOptions configures StartRIE.
type RIEOptions struct {
	// Env is added to the emulator's environment, which the emulator passes
	// on to the function; normally Moto.Env() plus the function's own
	// settings. The calling process's environment is NOT inherited.
	Env []string
	// Timeout is the function's timeout, given to the emulator as
	// AWS_LAMBDA_FUNCTION_TIMEOUT (overriding any value in Env). The
	// emulator takes whole seconds: Timeout is rounded up, to at least one
	// second. Zero means 30s.
	Timeout time.Duration
}

// RIE is a running aws-lambda-rie with one function.
type RIE struct {
	// URL is the invoke endpoint,
	// http://127.0.0.1:PORT/2015-03-31/functions/function/invocations.
	URL string
	// Addr is the emulator's listen address (127.0.0.1:PORT of URL).
	Addr string
	// RuntimeAPIAddr is the Lambda Runtime API address the function talks to.
	RuntimeAPIAddr string
	// Timeout is the function timeout the emulator enforces.
	Timeout time.Duration

	proc   *process
	logs   *logBuffer
	home   string // the function's HOME, removed by Stop
	client *http.Client
	mu     sync.Mutex // one invocation at a time
}

// Invocation is the emulator's answer to one invocation.
type Invocation struct {
	// Status is the HTTP status code: 200 for a result, a handler error and
	// a timeout; 502 when the runtime process exited or panicked.
	Status int
	// Body is the response body: the handler's result, or the error.
	Body []byte
	// FunctionError reports that the function failed. This emulator version
	// sets no X-Amz-Function-Error header (real Lambda does; Invoke honours
	// it if present), so it is derived from the answer:
	//   - status 502 (runtime exited or panicked; body is an error object);
	//   - a body "Task timed out after N.00 seconds" (TimedOut);
	//   - a body that is exactly an error object: a JSON object with string
	//     "errorType" (non-empty) and "errorMessage", and no keys besides
	//     those, "stackTrace", "requestId" and "cause". A handler whose
	//     successful result has that shape would be misread as failing.
	FunctionError bool
	// ErrorType and ErrorMessage are the error object's fields when
	// FunctionError is set ("Sandbox.Timedout" and the text for a timeout).
	ErrorType, ErrorMessage string
	// TimedOut reports that the function ran past its timeout.
	TimedOut bool
	// RequestID is the invocation's request id, as in the emulator's
	// START/END/REPORT lines.
	RequestID string
}

// StartRIE runs aws-lambda-rie with bootstrap as the function, its invoke
// endpoint and its Runtime API each on a free loopback port (so several can
// run at once), and waits until both accept connections. The process's
// stdout and stderr (the function's logs and the emulator's START/END/REPORT
// lines) are captured for Logs. The caller must Stop it. A missing
// aws-lambda-rie is an error naming the tool.
//
// The function's environment is RIEOptions.Env plus PATH, a fresh HOME and
// AWS_LAMBDA_FUNCTION_TIMEOUT (and the variables the emulator adds itself,
// such as AWS_LAMBDA_RUNTIME_API and AWS_LAMBDA_FUNCTION_NAME=test_function).
// Its working directory is the bootstrap's directory.
func StartRIE(bootstrap string, opts RIEOptions) (*RIE, error) {
	return startRIE(bootstrap, opts, freeAddrs)
}

// startRIE is StartRIE taking its addresses from pickAddrs (freeAddrs; tests
// substitute taken ones).
func startRIE(bootstrap string, opts RIEOptions, pickAddrs func(n int) ([]string, error)) (*RIE, error) {
	tool, err := FindTool(rieTool)
	if err != nil {
		return nil, err
	}
	bootstrap, err = filepath.Abs(bootstrap)
	if err != nil {
		return nil, fmt.Errorf("localenv: %w", err)
	}
	if fi, err := os.Stat(bootstrap); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("localenv: bootstrap %s is not an executable file (%v)", bootstrap, err)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	secs := max(1, int(math.Ceil(timeout.Seconds())))
	timeout = time.Duration(secs) * time.Second

	home, err := os.MkdirTemp("", "localenv-lambda-home-")
	if err != nil {
		return nil, fmt.Errorf("localenv: %w", err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}
	env = append(env, opts.Env...)
	env = append(env, "AWS_LAMBDA_FUNCTION_TIMEOUT="+strconv.Itoa(secs))

	for attempt := 1; ; attempt++ {
		addrs, err := pickAddrs(2)
		if err != nil {
			os.RemoveAll(home)
			return nil, fmt.Errorf("localenv: finding free ports for %s: %w", rieTool, err)
		}
		logs := newLogBuffer()
		p, err := startProcess(tool, []string{
			"--runtime-interface-emulator-address", addrs[0],
			"--runtime-api-address", addrs[1],
			bootstrap,
		}, env, filepath.Dir(bootstrap), logs)
		if err != nil {
			os.RemoveAll(home)
			return nil, fmt.Errorf("localenv: starting %s: %w", tool, err)
		}
		r := &RIE{
			URL:            "http://" + addrs[0] + rieInvokePath,
			Addr:           addrs[0],
			RuntimeAPIAddr: addrs[1],
			Timeout:        timeout,
			proc:           p,
			logs:           logs,
			home:           home,
			client: &http.Client{
				Transport: &http.Transport{Proxy: nil},
				Timeout:   timeout + invokeHTTPMargin,
			},
		}
		err = r.waitReady(rieStartTimeout)
		if err == nil {
			return r, nil
		}
		_ = p.stop()
		if attempt < startAttempts && addrInUse(logs.String()) {
			continue
		}
		os.RemoveAll(home)
		return nil, fmt.Errorf("%w\n%s printed:\n%s", err, rieTool, logs.tail(logTailBytes))
	}
}

// Stop waits for a running invocation to end (Invoke's context cancels it),
// then terminates the emulator, which stops the function's runtime process
// (SIGTERM; SIGKILL of its process group after a grace period), and removes
// the function's HOME. It returns an error only if a process of the group is
// still running afterwards. It may be called more than once.
func (r *RIE) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.client.CloseIdleConnections()
	err := r.proc.stop()
	if r.home != "" {
		_ = os.RemoveAll(r.home)
		r.home = ""
	}
	return err
}

// Pid is the aws-lambda-rie process id.
func (r *RIE) Pid() int { return r.proc.pid() }

// waitReady waits until both of the emulator's addresses accept connections
// and (where the system tells, see listensOn) are held by this emulator
// process, not by someone who took a port after freeAddrs released it. Such
// an emulator fails to bind and exits, and StartRIE retries on new ports.
func (r *RIE) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	wait := 10 * time.Millisecond
	for {
		var err error
		for _, addr := range []string{r.Addr, r.RuntimeAPIAddr} {
			var c net.Conn
			if c, err = net.DialTimeout("tcp", addr, time.Second); err != nil {
				break
			}
			c.Close()
			if owned, known := listensOn(r.proc.pid(), addr); known && !owned {
				err = fmt.Errorf("%s answers, but not from this %s process", addr, rieTool)
				break
			}
		}
		if r.proc.exited() {
			return fmt.Errorf("localenv: %s exited before accepting connections: %s", rieTool, r.proc.exitMessage())
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("localenv: %s did not accept connections within %v: %v", rieTool, timeout, err)
		}
		select {
		case <-r.proc.done:
		case <-time.After(wait):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// Invoke POSTs payload to the function and returns the emulator's answer.
// Calls on one RIE are serialised: the emulator serves one invocation at a
// time (in this version a concurrent second one makes it panic). The first
// call also runs the function's init. Cancelling ctx abandons the request.
//
// Invoke fails if the request fails, or if the invocation's START line does
// not appear in this emulator's output (the port would then belong to another
// process). It returns once the invocation's REPORT line has been captured
// (for a 200 answer), so Logs, InvocationLog and InitDuration see it.
func (r *RIE) Invoke(ctx context.Context, payload []byte) (Invocation, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc.exited() {
		return Invocation{}, fmt.Errorf("localenv: %s is not running: %s\n%s", rieTool, r.proc.exitMessage(), r.logs.tail(logTailBytes))
	}
	id := NewUUID()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(payload))
	if err != nil {
		return Invocation{}, fmt.Errorf("localenv: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amzn-RequestId", id)
	resp, err := r.client.Do(req)
	if err != nil {
		return Invocation{}, fmt.Errorf("localenv: invoking the function at %s: %w", r.URL, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return Invocation{}, fmt.Errorf("localenv: reading the invocation response: %w", err)
	}

	if !r.logs.waitFor("START RequestId: "+id, logLineTimeout, r.proc.done) {
		return Invocation{}, fmt.Errorf("localenv: invocation %s (HTTP %d) is not in %s's output: "+
			"another process may be listening on %s", id, resp.StatusCode, rieTool, r.Addr)
	}
	if resp.StatusCode == http.StatusOK {
		// The emulator prints END/REPORT before it answers; wait until
		// the copy of its output has caught up. Best effort: a path
		// without a REPORT line just costs this wait.
		r.logs.waitFor("REPORT RequestId: "+id, logLineTimeout, r.proc.done)
	}

	inv := Invocation{Status: resp.StatusCode, Body: body, RequestID: id}
	classify(&inv, resp.Header.Get("X-Amz-Function-Error"))
	return inv, nil
}

// timeoutPrefix starts this emulator's answer to a function that timed out.
const timeoutPrefix = "Task timed out after "

func classify(inv *Invocation, functionErrorHeader string) {
	typ, msg, isErrorObject := invocation.ErrorObject(inv.Body)
	switch {
	case functionErrorHeader != "", inv.Status == http.StatusBadGateway:
		inv.FunctionError = true
	case inv.Status == http.StatusOK && bytes.HasPrefix(inv.Body, []byte(timeoutPrefix)):
		inv.FunctionError, inv.TimedOut = true, true
		typ, msg = "Sandbox.Timedout", string(inv.Body)
	case inv.Status == http.StatusOK && isErrorObject:
		inv.FunctionError = true
	}
	if inv.FunctionError {
		inv.ErrorType, inv.ErrorMessage = typ, msg
		if !inv.TimedOut && strings.Contains(msg, "Task timed out") {
			inv.TimedOut = true
		}
	}
}

// Logs returns everything the emulator process printed so far: its own log,
// the START/END/REPORT lines, and the function's stdout and stderr.
func (r *RIE) Logs() string { return r.logs.String() }

// LogTail returns the last 16 KiB of Logs, for failure messages.
func (r *RIE) LogTail() string { return r.logs.tail(logTailBytes) }

// InvocationLog returns the lines the emulator printed for one invocation:
// from its "START RequestId: id" line to its "REPORT RequestId: id" line
// (or to the end of the output so far, without a REPORT line), both
// included. The emulator serves one invocation at a time, so every line in
// between, the function's own output included, belongs to it. The first
// invocation's init output comes before its START line and is not included.
func (r *RIE) InvocationLog(requestID string) []string {
	var lines []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(r.logs.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !in {
			if strings.Contains(line, "START RequestId: "+requestID) {
				in = true
				lines = append(lines, line)
			}
			continue
		}
		lines = append(lines, line)
		if strings.Contains(line, "REPORT RequestId: "+requestID) {
			break
		}
	}
	return lines
}

var (
	reportInitRE  = regexp.MustCompile(`Init Duration: ([0-9.]+) ms`)
	runtimeInitRE = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
)

// InitDuration parses "Init Duration: X ms" from the first REPORT line. It
// returns an error if no invocation has finished yet or that line has none.
//
// In this emulator version the figure only times the emulator's hand-off of
// the init request, not the runtime's own start-up; see RuntimeInitDuration.
func (r *RIE) InitDuration() (time.Duration, error) {
	sc := bufio.NewScanner(strings.NewReader(r.logs.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "REPORT RequestId: ") {
			continue
		}
		m := reportInitRE.FindStringSubmatch(line)
		if m == nil {
			return 0, fmt.Errorf("localenv: the first REPORT line has no Init Duration: %q", line)
		}
		return parseMillis(m[1])
	}
	return 0, errors.New("localenv: no REPORT line in the emulator's output yet (no invocation has finished)")
}

// RuntimeInitDuration parses the emulator's first "INIT REPORT(durationMs: X)"
// log line: the time from starting the runtime process to its first request
// for work, i.e. the function's init phase. It returns an error if the
// emulator has not logged one (no invocation yet, or LOG_LEVEL above info).
func (r *RIE) RuntimeInitDuration() (time.Duration, error) {
	m := runtimeInitRE.FindStringSubmatch(r.logs.String())
	if m == nil {
		return 0, errors.New("localenv: no \"INIT REPORT(durationMs: …)\" line in the emulator's output yet")
	}
	return parseMillis(m[1])
}

func parseMillis(s string) (time.Duration, error) {
	ms, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("localenv: parsing duration %q ms: %w", s, err)
	}
	return time.Duration(ms * float64(time.Millisecond)), nil
}
