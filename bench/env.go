package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/faultproxy"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/localenv"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall/emulator"
)

// env is what every measurement runs against: moto_server behind the
// latency proxy, the MightyCall emulator (in this process) behind a handler
// that adds the same latency, and the two bootstraps.
type env struct {
	latency atomic.Int64 // the emulator's, as a time.Duration

	moto  *localenv.Moto
	proxy *faultproxy.Proxy
	// setup talks to moto directly (no latency, not counted): it prepares
	// secrets between measurements.
	setup *secretsmanager.Client
	// sm talks to moto through the proxy: the benchmark's own direct calls.
	sm *secretsmanager.Client
	// smSrv serves the proxy (the clients' endpoint), counting connections.
	smSrv            *httptest.Server
	smConns, mcConns connCounter

	em     *emulator.Server
	emSrv  *httptest.Server
	emURL  string // base URL through the latency handler, …/v4
	mcHTTP *http.Client

	bootstrap, hello string // host builds, under dir
	dir              string
}

// maxConns is the most connections the benchmark's own clients keep per
// host: the floor must not pay for reconnecting.
const maxConns = 256

func startEnv(ctx context.Context, latency time.Duration) (*env, error) {
	e := &env{}
	e.latency.Store(int64(latency))
	ok := false
	defer func() {
		if !ok {
			e.stop()
		}
	}()
	var err error
	if e.dir, err = os.MkdirTemp("", "mctoken-bench-"); err != nil {
		return nil, err
	}
	for _, b := range []struct {
		pkg string
		dst *string
	}{{"./cmd/refresher", &e.bootstrap}, {"./bench/testdata/hello", &e.hello}} {
		out := filepath.Join(e.dir, filepath.Base(b.pkg), "bootstrap")
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return nil, err
		}
		if err := localenv.BuildBootstrap(b.pkg, out); err != nil {
			return nil, err
		}
		*b.dst = out
	}
	if e.moto, err = localenv.StartMoto(); err != nil {
		return nil, err
	}
	if e.setup, err = e.moto.Client(ctx); err != nil {
		return nil, err
	}
	if e.proxy, err = faultproxy.New(e.moto.URL); err != nil {
		return nil, err
	}
	e.proxy.SetLatency(latency)
	// The proxy's handler, served again by a server of ours that counts the
	// connections its clients open.
	e.smSrv = httptest.NewUnstartedServer(e.proxy)
	e.smSrv.Config.ConnState = e.smConns.track
	e.smSrv.Start()
	if e.sm, err = e.directClient(ctx); err != nil {
		return nil, err
	}

	e.em = emulator.New(emulator.Options{})
	e.emSrv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := time.Duration(e.latency.Load()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		e.em.ServeHTTP(w, r)
	}))
	e.emSrv.Config.ConnState = e.mcConns.track
	e.emSrv.Start()
	e.emURL = e.emSrv.URL + emulator.BasePath
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = maxConns, maxConns
	e.mcHTTP = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	ok = true
	return e, nil
}

func (e *env) stop() {
	if e.emSrv != nil {
		e.emSrv.Close()
	}
	if e.smSrv != nil {
		e.smSrv.Close()
	}
	if e.proxy != nil {
		_ = e.proxy.Close()
	}
	if e.moto != nil {
		if err := e.moto.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
	}
	if e.dir != "" {
		_ = os.RemoveAll(e.dir)
	}
}

// setLatency sets the round trip added to every call, at the proxy and at
// the emulator.
func (e *env) setLatency(d time.Duration) {
	e.proxy.SetLatency(d)
	e.latency.Store(int64(d))
}

// functionEnv is the environment of the refresher under the runtime
// emulator: Secrets Manager through the proxy, MightyCall through the
// latency handler, plus extra settings.
func (e *env) functionEnv(extra ...string) []string {
	var out []string
	for _, kv := range e.proxy.Env() {
		if strings.HasPrefix(kv, "AWS_ENDPOINT_URL_SECRETS_MANAGER=") {
			kv = "AWS_ENDPOINT_URL_SECRETS_MANAGER=" + e.smSrv.URL
		}
		out = append(out, kv)
	}
	return append(append(out, "MIGHTYCALL_BASE_URL="+e.emURL), extra...)
}

// account adds a MightyCall account to the emulator and logs in with its
// keys in process (no latency, not counted), as a first refresh would.
func (e *env) account(apiKey, userKey string) (tokenAnswer, error) {
	e.em.AddAccount(emulator.Account{APIKey: apiKey, UserKey: userKey})
	req := httptest.NewRequest(http.MethodPost, emulator.TokenPath,
		strings.NewReader("grant_type=client_credentials&client_id="+apiKey+"&client_secret="+userKey))
	req.Header.Set("x-api-key", apiKey)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	e.em.ServeHTTP(rec, req)
	var t tokenAnswer
	if rec.Code != http.StatusOK {
		return t, fmt.Errorf("emulator login: HTTP %d", rec.Code)
	}
	return t, json.Unmarshal(rec.Body.Bytes(), &t)
}

// tokenAnswer is the token endpoint's success body.
type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// connCounter counts the connections a server accepted.
type connCounter struct{ n atomic.Int64 }

func (c *connCounter) track(_ net.Conn, s http.ConnState) {
	if s == http.StateNew {
		c.n.Add(1)
	}
}

// directClient is the benchmark's own Secrets Manager client through the
// proxy: production's settings (retryer), with a connection pool large
// enough for any concurrency measured. A new one starts without
// connections, as a new function process does.
func (e *env) directClient(ctx context.Context) (*secretsmanager.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(faultproxy.Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(faultproxy.AccessKeyID, faultproxy.SecretAccessKey, "")),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 5 })
		}),
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.Proxy = nil
			t.MaxIdleConns, t.MaxIdleConnsPerHost = maxConns, maxConns
		})),
	)
	if err != nil {
		return nil, err
	}
	return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(e.smSrv.URL) }), nil
}

// freshClients replaces the benchmark's own clients with new ones, without
// connections, so that a direct run opens its own as the function does.
func (e *env) freshClients(ctx context.Context) error {
	e.mcHTTP.CloseIdleConnections()
	sm, err := e.directClient(ctx)
	if err != nil {
		return err
	}
	e.sm = sm
	return nil
}

// calls is what one measured run sent: Secrets Manager operations (from the
// proxy) and token requests (from the emulator).
type calls struct {
	SM    map[string]int `json:"secretsmanager"`
	Token int            `json:"token"`
	Total int            `json:"total"`
	// New connections the clients opened to the proxy and to the emulator.
	SMConns int64 `json:"secretsmanager_connections"`
	MCConns int64 `json:"mightycall_connections"`
}

func (c calls) String() string {
	var parts []string
	for _, op := range []string{faultproxy.OpGetSecretValue, faultproxy.OpDescribeSecret, faultproxy.OpPutSecretValue, faultproxy.OpUpdateSecretVersionStage} {
		if n := c.SM[op]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", shortOp(op), n))
		}
	}
	if c.Token > 0 {
		parts = append(parts, fmt.Sprintf("token %d", c.Token))
	}
	return strings.Join(parts, ", ")
}

func shortOp(op string) string {
	switch op {
	case faultproxy.OpGetSecretValue:
		return "get"
	case faultproxy.OpDescribeSecret:
		return "describe"
	case faultproxy.OpPutSecretValue:
		return "put"
	case faultproxy.OpUpdateSecretVersionStage:
		return "stage"
	}
	return op
}

// counter snapshots the call counters around a measured run.
type counter struct {
	e              *env
	tokens         int
	smConn, mcConn int64
}

func (e *env) count() *counter {
	e.proxy.ResetCounts()
	return &counter{e: e, tokens: e.em.Stats().TokenRequests, smConn: e.smConns.n.Load(), mcConn: e.mcConns.n.Load()}
}

func (c *counter) done() calls {
	out := calls{SM: map[string]int{}}
	for _, op := range []string{faultproxy.OpGetSecretValue, faultproxy.OpPutSecretValue, faultproxy.OpUpdateSecretVersionStage,
		faultproxy.OpDescribeSecret, faultproxy.OpListSecretVersionIds, faultproxy.OpCreateSecret} {
		if n := c.e.proxy.Count(op); n > 0 {
			out.SM[op] = n
		}
	}
	out.Token = c.e.em.Stats().TokenRequests - c.tokens
	out.Total = c.e.proxy.Count("") + out.Token
	out.SMConns, out.MCConns = c.e.smConns.n.Load()-c.smConn, c.e.mcConns.n.Load()-c.mcConn
	return out
}

// function is the refresher (or the hello-world baseline) under a runtime
// emulator.
type function struct {
	rie *localenv.RIE
}

func startFunction(bootstrap string, env []string, timeout time.Duration) (*function, error) {
	rie, err := localenv.StartRIE(bootstrap, localenv.RIEOptions{Env: env, Timeout: timeout})
	if err != nil {
		return nil, err
	}
	return &function{rie: rie}, nil
}

func (f *function) stop() {
	if err := f.rie.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
}

// invocation is one measured invocation.
type invocation struct {
	Duration time.Duration // the function's own, from the REPORT line
	Wall     time.Duration // around the HTTP invoke, in this process
	Body     []byte
}

var reportDurationRE = regexp.MustCompile(`\tDuration: ([0-9.]+) ms`)

// invoke invokes the function and fails on a function error.
func (f *function) invoke(ctx context.Context, payload []byte) (invocation, error) {
	start := time.Now()
	inv, err := f.rie.Invoke(ctx, payload)
	wall := time.Since(start)
	if err != nil {
		return invocation{}, err
	}
	if inv.FunctionError {
		return invocation{}, fmt.Errorf("function error %s: %.500s", inv.ErrorType, inv.ErrorMessage)
	}
	lines := f.rie.InvocationLog(inv.RequestID)
	if len(lines) == 0 {
		return invocation{}, fmt.Errorf("no log lines for invocation %s", inv.RequestID)
	}
	m := reportDurationRE.FindStringSubmatch(lines[len(lines)-1])
	if m == nil {
		return invocation{}, fmt.Errorf("no Duration in the REPORT line %q", lines[len(lines)-1])
	}
	ms, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return invocation{}, err
	}
	return invocation{Duration: time.Duration(ms * float64(time.Millisecond)), Wall: wall, Body: inv.Body}, nil
}

// bootstrapPid finds the function's runtime process: the child of the
// emulator process.
func (f *function) bootstrapPid() (int, error) {
	rie := f.rie.Pid()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, de := range entries {
		pid, err := strconv.Atoi(de.Name())
		if err != nil {
			continue
		}
		st, err := readStat(pid)
		if err == nil && st.ppid == rie && st.comm == "bootstrap" {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no bootstrap process under aws-lambda-rie (pid %d)", rie)
}

// procStat is what the benchmark reads from /proc/PID/stat.
type procStat struct {
	comm string
	ppid int
	cpu  time.Duration // user + system time
}

// clockTick is USER_HZ, 100 on every Linux the benchmark runs on.
const clockTick = 10 * time.Millisecond

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	s := string(b)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[closing+1:]) // f[0] is the state (field 3)
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ppid, _ := strconv.Atoi(f[1])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return procStat{comm: s[open+1 : closing], ppid: ppid, cpu: time.Duration(utime+stime) * clockTick}, nil
}

// peakRSS is VmHWM of a process, in bytes.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmHWM", pid)
}

// cpuTime is the CPU time a process has used so far (0 when unknown).
func cpuTime(pid int) time.Duration {
	st, err := readStat(pid)
	if err != nil {
		return 0
	}
	return st.cpu
}
