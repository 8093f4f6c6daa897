// Package faultproxy is a fault-injecting HTTP proxy for a local Secrets
// Manager (moto_server), for reliability tests and benchmarks.
//
// A Proxy listens on a loopback port and forwards every request to the
// target. Rules, matched on the Secrets Manager operation (the
// X-Amz-Target header, e.g. "secretsmanager.GetSecretValue") and optionally
// on the SecretId of the JSON request body, make matching requests:
//
//   - wait (Latency; the wait ends early when the client goes away), then
//   - answer an AWS JSON error instead of forwarding (Error: Throttling,
//     InternalServiceError, AccessDenied, DecryptionFailure or your own), or
//   - close the connection without an answer, before forwarding (Drop) or
//     after the target has carried the request out (DropAfterForward: the
//     write happened but the client cannot know), or
//   - just forward (a Rule with only Latency).
//
// A fixed Latency applies to every request on top of the rules (a round trip
// L for benchmarks). Counters per operation say what the client sent.
// Serial makes the proxy forward one request at a time, which gives
// moto_server the atomic compare-and-swap of the real service under
// concurrent writers (moto's label moves are not atomic across threads).
//
// Clients reach the proxy through the SDK's standard endpoint override:
// Env gives a child process AWS_ENDPOINT_URL_SECRETS_MANAGER and static
// test credentials, and Client builds an in-process client the same way
// (config.LoadDefaultConfig with the endpoint found through the config
// sources, as AWS_ENDPOINT_URL_SECRETS_MANAGER is found).
//
// A Proxy is safe for concurrent use.
package faultproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/localenv"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Secrets Manager operations, as named in X-Amz-Target after "secretsmanager.".
const (
	OpGetSecretValue           = "GetSecretValue"
	OpPutSecretValue           = "PutSecretValue"
	OpUpdateSecretVersionStage = "UpdateSecretVersionStage"
	OpDescribeSecret           = "DescribeSecret"
	OpListSecretVersionIds     = "ListSecretVersionIds"
	OpCreateSecret             = "CreateSecret"
	OpRotateSecret             = "RotateSecret"
	OpDeleteSecret             = "DeleteSecret"
)

// The region and static credentials of Env and Client: those testenv uses
// for moto_server, which accepts any.
const (
	Region          = "us-east-1"
	AccessKeyID     = "test"
	SecretAccessKey = "test"
)

// maxRequestBytes bounds a request body the proxy reads (Secrets Manager
// takes at most 64 KiB of secret plus the JSON around it).
const maxRequestBytes = 1 << 20

// AWSError is an error answer in the AWS JSON 1.1 protocol.
type AWSError struct {
	Status  int    // HTTP status
	Type    string // the error code, "__type"
	Message string
}

// Errors Secrets Manager answers, as the SDK sees them.
var (
	// Throttling is a rate limit; the SDK retries it with backoff.
	Throttling = AWSError{Status: 400, Type: "ThrottlingException", Message: "Rate exceeded"}
	// InternalError is a service-side failure; the SDK retries it.
	InternalError = AWSError{Status: 500, Type: "InternalServiceError", Message: "An error occurred on the server side."}
	// AccessDenied is an IAM denial; never retried.
	AccessDenied = AWSError{Status: 400, Type: "AccessDeniedException",
		Message: "User: arn:aws:sts::123456789012:assumed-role/refresher-role/refresher is not authorized to perform this action on this secret because no identity-based policy allows it"}
	// DecryptionFailure is KMS refusing to decrypt the secret (a key policy
	// without kms:Decrypt for the function's role, or a disabled key).
	DecryptionFailure = AWSError{Status: 400, Type: "DecryptionFailure",
		Message: "Secrets Manager can't decrypt the protected secret text using the provided KMS key."}
)

// Rule says how to treat matching requests. The zero Rule matches every
// request and forwards it unchanged.
type Rule struct {
	// Op is the operation to match (OpGetSecretValue, ...); empty matches all.
	Op string
	// SecretID matches the request's SecretId field exactly; empty matches
	// all (including operations without a SecretId).
	SecretID string
	// BodyContains, when set, matches only requests whose JSON body holds
	// this text, e.g. `"VersionStage":"AWSPENDING"`.
	BodyContains string
	// Latency is waited before acting.
	Latency time.Duration
	// Error, when set, is answered instead of forwarding.
	Error *AWSError
	// Drop closes the connection (a TCP reset) without forwarding.
	Drop bool
	// DropAfterForward forwards the request, waits for the target's answer,
	// then closes the connection without passing the answer on.
	DropAfterForward bool
	// Count is how many matching requests the rule applies to; 0 means
	// every one until the rule is removed.
	Count int
}

// Handle is an added rule.
type Handle struct {
	p    *Proxy
	rule Rule
	left int // remaining applications when Count > 0 (guarded by p.mu)
	hits int // guarded by p.mu
}

// Remove takes the rule out; requests already acting on it are unaffected.
func (h *Handle) Remove() {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	for i, r := range h.p.rules {
		if r == h {
			h.p.rules = append(h.p.rules[:i:i], h.p.rules[i+1:]...)
			return
		}
	}
}

// Hits is how many requests the rule has applied to.
func (h *Handle) Hits() int {
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	return h.hits
}

// Request is the record of one request the proxy received. Body holds the
// request as sent, secret values included: keep it in memory, never print it.
type Request struct {
	Op       string
	SecretID string
	Body     []byte
	// Faulted reports that a rule with an Error or a drop applied.
	Faulted bool
}

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	// URL is the proxy's base URL, http://127.0.0.1:PORT.
	URL string

	target    *url.URL
	ln        net.Listener
	srv       *http.Server
	transport *http.Transport
	serialMu  sync.Mutex // held while forwarding when serial

	mu       sync.Mutex
	rules    []*Handle
	latency  time.Duration
	serial   bool
	requests []Request
	counts   map[string]int
	faulted  map[string]int
}

// New starts a proxy for target (e.g. moto's http://127.0.0.1:PORT) on a
// free loopback port. Close stops it.
func New(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("faultproxy: target %q is not an absolute URL", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p := &Proxy{
		URL:       "http://" + ln.Addr().String(),
		target:    u,
		ln:        ln,
		transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second},
		counts:    map[string]int{},
		faulted:   map[string]int{},
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() error {
	err := p.srv.Close()
	p.transport.CloseIdleConnections()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// SetLatency sets the fixed latency added to every request (0: none).
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latency = d
}

// SetSerial makes the proxy forward one request at a time (true) or
// concurrently (false, the default).
func (p *Proxy) SetSerial(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.serial = on
}

// Add adds a rule, after those already there. The first rule that matches a
// request (and has applications left) applies to it.
func (p *Proxy) Add(r Rule) *Handle {
	h := &Handle{p: p, rule: r, left: r.Count}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, h)
	return h
}

// Clear removes every rule.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
}

// Count is how many requests of op the proxy received (faulted included);
// an empty op counts all.
func (p *Proxy) Count(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return count(p.counts, op)
}

// Faulted is how many requests of op got an error answer or a dropped
// connection; an empty op counts all.
func (p *Proxy) Faulted(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return count(p.faulted, op)
}

// count is m[op], or the sum of m for an empty op.
func count(m map[string]int, op string) int {
	if op != "" {
		return m[op]
	}
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

// Requests returns a copy of the log of requests, oldest first.
func (p *Proxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Request, len(p.requests))
	for i, r := range p.requests {
		r.Body = bytes.Clone(r.Body)
		out[i] = r
	}
	return out
}

// ResetCounts zeroes the counters and empties the request log.
func (p *Proxy) ResetCounts() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts = map[string]int{}
	p.faulted = map[string]int{}
	p.requests = nil
}

// Env returns the environment a child process (the Lambda bootstrap under
// the runtime emulator) needs to reach Secrets Manager through this proxy:
// the standard endpoint override, region, static credentials, no instance
// metadata, and empty shared config files.
func (p *Proxy) Env() []string { return localenv.EndpointEnv(p.URL) }

// Client returns a Secrets Manager client that talks to this proxy, built
// as production builds one (config.LoadDefaultConfig, NewFromConfig) with
// the endpoint resolved the way AWS_ENDPOINT_URL_SECRETS_MANAGER is resolved,
// without setting the variable in this process. optFns are passed to
// LoadDefaultConfig (e.g. config.WithRetryer to mirror production's retries).
// It fails if the client did not end up on the proxy (AWS_ENDPOINT_URL or
// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS in the environment can do that).
func (p *Proxy) Client(ctx context.Context, optFns ...func(*config.LoadOptions) error) (*secretsmanager.Client, error) {
	opts := append([]func(*config.LoadOptions) error{
		config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")),
	}, optFns...)
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: loading the AWS SDK config: %w", err)
	}
	cfg.ConfigSources = append([]any{endpointSource(p.URL)}, cfg.ConfigSources...)
	c := secretsmanager.NewFromConfig(cfg)
	if ep := c.Options().BaseEndpoint; ep == nil || *ep != p.URL {
		return nil, fmt.Errorf("faultproxy: the Secrets Manager client's endpoint is not the proxy %s; "+
			"unset AWS_ENDPOINT_URL / AWS_IGNORE_CONFIGURED_ENDPOINT_URLS in the environment", p.URL)
	}
	return c, nil
}

// endpointSource answers the SDK's service endpoint lookup for Secrets
// Manager, as config.EnvConfig answers it from
// AWS_ENDPOINT_URL_SECRETS_MANAGER.
type endpointSource string

// GetServiceBaseEndpoint implements the SDK's
// configsources.ServiceBaseEndpointProvider.
func (e endpointSource) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	if sdkID == "Secrets Manager" {
		return string(e), true, nil
	}
	return "", false, nil
}

// match records the request and returns the rule that applies to it, if
// any, and the fixed latency.
func (p *Proxy) match(op, secretID string, body []byte) (*Rule, time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts[op]++
	var applied *Rule
	for _, h := range p.rules {
		if (h.rule.Op != "" && h.rule.Op != op) || (h.rule.SecretID != "" && h.rule.SecretID != secretID) ||
			(h.rule.BodyContains != "" && !bytes.Contains(body, []byte(h.rule.BodyContains))) {
			continue
		}
		if h.rule.Count > 0 && h.left <= 0 {
			continue
		}
		if h.rule.Count > 0 {
			h.left--
		}
		h.hits++
		r := h.rule
		applied = &r
		break
	}
	faulted := applied != nil && (applied.Error != nil || applied.Drop || applied.DropAfterForward)
	if faulted {
		p.faulted[op]++
	}
	p.requests = append(p.requests, Request{Op: op, SecretID: secretID, Body: body, Faulted: faulted})
	return applied, p.latency, p.serial
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := r.Header.Get("X-Amz-Target")
	if i := strings.LastIndexByte(op, '.'); i >= 0 {
		op = op[i+1:]
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes))
	if err != nil {
		return // the client went away
	}
	var ids struct {
		SecretID string `json:"SecretId"`
	}
	_ = json.Unmarshal(body, &ids)
	rule, latency, serial := p.match(op, ids.SecretID, body)
	if rule != nil {
		latency += rule.Latency
	}
	if !wait(r.Context(), latency) {
		return
	}
	switch {
	case rule != nil && rule.Error != nil:
		writeAWSError(w, *rule.Error)
	case rule != nil && rule.Drop:
		drop(w)
	case rule != nil && rule.DropAfterForward:
		resp, err := p.forward(r, body, serial)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		drop(w)
	default:
		resp, err := p.forward(r, body, serial)
		if err != nil {
			writeAWSError(w, AWSError{Status: http.StatusBadGateway, Type: "ServiceUnavailable", Message: "faultproxy: target unreachable"})
			return
		}
		defer resp.Body.Close()
		for k, vs := range resp.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}
}

// forward sends the request to the target; with serial, one at a time (the
// whole exchange, body included, happens under the lock).
func (p *Proxy) forward(r *http.Request, body []byte, serial bool) (*http.Response, error) {
	u := *p.target
	u.Path = strings.TrimRight(u.Path, "/") + r.URL.Path
	u.RawQuery = r.URL.RawQuery
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, vs := range r.Header {
		if k == "Connection" || k == "Keep-Alive" || k == "Te" || k == "Trailer" || k == "Upgrade" || k == "Proxy-Connection" {
			continue
		}
		out.Header[k] = append([]string(nil), vs...)
	}
	out.Host = r.Host // the SDK signed this host; moto does not check
	if !serial {
		return p.transport.RoundTrip(out)
	}
	p.serialMu.Lock()
	defer p.serialMu.Unlock()
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// wait sleeps d unless ctx ends first; it reports whether to go on.
func wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func writeAWSError(w http.ResponseWriter, e AWSError) {
	body, _ := json.Marshal(map[string]string{"__type": e.Type, "message": e.Message})
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.1")
	h.Set("X-Amzn-ErrorType", e.Type)
	h.Set("X-Amzn-RequestId", "faultproxy-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

// drop closes the client's connection without an answer, with a TCP reset
// where possible.
func drop(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
