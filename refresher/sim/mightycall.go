package sim

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall/emulator"
)

// MightyCall fault kinds, drawn uniformly when a token request faults.
const (
	Fault500          = "500"
	Fault502          = "502"
	Fault503          = "503+Retry-After"
	Fault429          = "429+Retry-After"
	FaultResetBefore  = "reset before MightyCall saw it"
	FaultResetAfter   = "reset after MightyCall answered"
	FaultHTMLPage     = "200 with an HTML page"
	FaultTimeout      = "timeout, not processed"
	FaultTimeoutAfter = "timeout after MightyCall answered"
	FaultOutage       = "outage 503"
)

var faultKinds = []string{Fault500, Fault502, Fault503, Fault429, FaultResetBefore, FaultResetAfter,
	FaultHTMLPage, FaultTimeout, FaultTimeoutAfter}

// Modelled round trips (uniform in [min, max)).
var (
	mcLatency = [2]time.Duration{80 * time.Millisecond, 400 * time.Millisecond}
	smLatency = [2]time.Duration{10 * time.Millisecond, 60 * time.Millisecond}
)

func between(r *rand.Rand, span [2]time.Duration) time.Duration {
	return span[0] + time.Duration(r.Int64N(int64(span[1]-span[0])))
}

// mcTransport serves the real emulator in process: the real
// mightycall.Client sends its requests here. It costs virtual time (a round
// trip per request, the HTTP timeout on a timeout fault) and injects the
// faults: status faults through the emulator's own InjectFault, resets and
// timeouts here, since they have no HTTP answer.
type mcTransport struct {
	cfg     Config
	clock   *Clock
	em      *emulator.Server
	rng     *rand.Rand // faults
	lat     *rand.Rand // latencies
	timeout time.Duration
	faults  map[string]int
}

func (t *mcTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	rtt := between(t.lat, mcLatency)
	t.clock.Advance(rtt / 2)

	fault := ""
	if req.Method == http.MethodPost && req.URL.Path == emulator.TokenPath {
		switch {
		case t.cfg.inOutage(t.clock.Now()):
			fault = FaultOutage
		case t.rng.Float64() < t.cfg.MCFaultRate:
			fault = faultKinds[t.rng.IntN(len(faultKinds))]
		}
	}
	if fault != "" {
		t.faults[fault]++
	}
	switch fault {
	case Fault500:
		t.em.InjectFault(emulator.Fault{Status: http.StatusInternalServerError})
	case Fault502:
		t.em.InjectFault(emulator.Fault{Status: http.StatusBadGateway})
	case Fault503:
		t.em.InjectFault(emulator.Fault{Status: http.StatusServiceUnavailable, RetryAfter: strconv.Itoa(1 + t.rng.IntN(20))})
	case Fault429:
		t.em.InjectFault(emulator.Fault{Status: http.StatusTooManyRequests, RetryAfter: strconv.Itoa(1 + t.rng.IntN(10))})
	case FaultHTMLPage:
		t.em.InjectFault(emulator.Fault{Status: http.StatusOK, ContentType: "text/html",
			Body: "<html><head><title>Maintenance</title></head><body><h1>We'll be back soon</h1></body></html>"})
	case FaultOutage:
		t.em.InjectFault(emulator.Fault{Status: http.StatusServiceUnavailable})
	case FaultResetBefore:
		return nil, resetError()
	case FaultTimeout:
		t.clock.Advance(t.timeout - rtt/2)
		return nil, timeoutError{}
	}

	sreq := req.Clone(req.Context())
	sreq.Body = io.NopCloser(bytes.NewReader(body))
	sreq.ContentLength = int64(len(body))
	sreq.RequestURI = req.URL.RequestURI()
	sreq.Host = req.URL.Host
	sreq.RemoteAddr = "192.0.2.1:40000"
	rec := httptest.NewRecorder()
	t.em.ServeHTTP(rec, sreq)

	switch fault {
	case FaultResetAfter:
		t.clock.Advance(rtt / 2)
		return nil, resetError()
	case FaultTimeoutAfter:
		t.clock.Advance(t.timeout - rtt/2)
		return nil, timeoutError{}
	}
	t.clock.Advance(rtt - rtt/2)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

func resetError() error {
	return &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
}

// timeoutError is what an http.Client with a Timeout reports when no
// answer arrives in time.
type timeoutError struct{}

func (timeoutError) Error() string   { return "simulated: no answer within the HTTP timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
