package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/localenv"
)

// RIEOptions configures StartRIE.
type RIEOptions struct {
	// Env is added to the emulator's environment, which the emulator passes
	// on to the function; normally Moto.Env() plus the function's own
	// settings. The test process's environment is NOT inherited.
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

	r *localenv.RIE
}

// Invocation is the emulator's answer to one invocation; see
// localenv.Invocation for how each field is derived from this emulator
// version's answers.
type Invocation = localenv.Invocation

// StartRIE runs aws-lambda-rie with bootstrap as the function, its invoke
// endpoint and its Runtime API each on a free loopback port (so several can
// run at once), and waits until both accept connections. The process's
// stdout and stderr (the function's logs and the emulator's START/END/REPORT
// lines) are captured for Logs; if the test fails they are logged. The
// emulator is stopped in t.Cleanup. A missing aws-lambda-rie fails the test.
//
// The function's environment is RIEOptions.Env plus PATH, a fresh HOME and
// AWS_LAMBDA_FUNCTION_TIMEOUT (and the variables the emulator adds itself,
// such as AWS_LAMBDA_RUNTIME_API and AWS_LAMBDA_FUNCTION_NAME=test_function).
// Its working directory is the bootstrap's directory.
func StartRIE(t testing.TB, bootstrap string, opts RIEOptions) *RIE {
	t.Helper()
	r, err := localenv.StartRIE(bootstrap, localenv.RIEOptions(opts))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Stop lets a running invocation finish (or fail) first.
		if err := r.Stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("aws-lambda-rie (%s) printed:\n%s", r.Addr, r.LogTail())
		}
	})
	return &RIE{URL: r.URL, Addr: r.Addr, RuntimeAPIAddr: r.RuntimeAPIAddr, Timeout: r.Timeout, r: r}
}

// Invoke POSTs payload to the function and returns the emulator's answer.
// Calls on one RIE are serialised: the emulator serves one invocation at a
// time (in this version a concurrent second one makes it panic). The first
// call also runs the function's init.
//
// Invoke fails the test if the request fails, or if the invocation's START
// line does not appear in this emulator's output (the port would then belong
// to another process). It returns once the invocation's REPORT line has been
// captured (for a 200 answer), so Logs and InitDuration see it. From a
// goroutine other than the test's, use TryInvoke (t.Fatal must not be called
// there).
func (r *RIE) Invoke(t testing.TB, payload []byte) Invocation {
	t.Helper()
	inv, err := r.TryInvoke(payload)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// TryInvoke is Invoke returning its failure as an error instead of failing
// the test, for use from goroutines.
func (r *RIE) TryInvoke(payload []byte) (Invocation, error) {
	inv, err := r.r.Invoke(context.Background(), payload)
	return inv, err
}

// Logs returns everything the emulator process printed so far: its own log,
// the START/END/REPORT lines, and the function's stdout and stderr.
func (r *RIE) Logs() string { return r.r.Logs() }

// InitDuration parses "Init Duration: X ms" from the first REPORT line. It
// returns an error if no invocation has finished yet or that line has none.
//
// In this emulator version the figure only times the emulator's hand-off of
// the init request, not the runtime's own start-up; see RuntimeInitDuration.
func (r *RIE) InitDuration() (time.Duration, error) { return r.r.InitDuration() }

// RuntimeInitDuration parses the emulator's first "INIT REPORT(durationMs: X)"
// log line: the time from starting the runtime process to its first request
// for work, i.e. the function's init phase. It returns an error if the
// emulator has not logged one (no invocation yet, or LOG_LEVEL above info).
func (r *RIE) RuntimeInitDuration() (time.Duration, error) { return r.r.RuntimeInitDuration() }
