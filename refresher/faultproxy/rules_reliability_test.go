package faultproxy_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/faultproxy"
)

// A proxy in front of a stub target (no moto): rule matching, counts, the
// error answers' shape, drops and latency.
func TestRulesAgainstAStubTarget(t *testing.T) {
	var forwarded atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		forwarded.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		io.WriteString(w, `{"ok":true}`)
	}))
	defer target.Close()
	p, err := faultproxy.New(target.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	call := func(op, body string) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPost, p.URL+"/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "secretsmanager."+op)
		return http.DefaultTransport.RoundTrip(req)
	}
	status := func(op, body string) int {
		t.Helper()
		resp, err := call(op, body)
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		return resp.StatusCode
	}

	h := p.Add(faultproxy.Rule{Op: faultproxy.OpGetSecretValue, SecretID: "a", Error: &faultproxy.Throttling, Count: 2})
	p.Add(faultproxy.Rule{Op: faultproxy.OpUpdateSecretVersionStage, BodyContains: `"VersionStage":"AWSPENDING"`, Error: &faultproxy.AccessDenied})
	for i, c := range []struct {
		op, body string
		want     int
	}{
		{faultproxy.OpGetSecretValue, `{"SecretId":"b"}`, 200}, // other secret
		{faultproxy.OpGetSecretValue, `{"SecretId":"a"}`, 400},
		{faultproxy.OpDescribeSecret, `{"SecretId":"a"}`, 200}, // other operation
		{faultproxy.OpGetSecretValue, `{"SecretId":"a"}`, 400},
		{faultproxy.OpGetSecretValue, `{"SecretId":"a"}`, 200}, // Count used up
		{faultproxy.OpUpdateSecretVersionStage, `{"SecretId":"a","VersionStage":"AWSCURRENT"}`, 200},
		{faultproxy.OpUpdateSecretVersionStage, `{"SecretId":"a","VersionStage":"AWSPENDING"}`, 400},
	} {
		if got := status(c.op, c.body); got != c.want {
			t.Errorf("request %d (%s %s): status %d, want %d", i, c.op, c.body, got, c.want)
		}
	}
	if h.Hits() != 2 || p.Count(faultproxy.OpGetSecretValue) != 4 || p.Faulted("") != 3 || forwarded.Load() != 4 {
		t.Fatalf("hits %d, gets %d, faulted %d, forwarded %d", h.Hits(), p.Count(faultproxy.OpGetSecretValue), p.Faulted(""), forwarded.Load())
	}

	// The error answer is AWS JSON 1.1.
	p.Clear()
	p.Add(faultproxy.Rule{Error: &faultproxy.DecryptionFailure, Count: 1})
	resp, err := call(faultproxy.OpGetSecretValue, `{}`)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 400 || body["__type"] != "DecryptionFailure" || resp.Header.Get("X-Amzn-ErrorType") != "DecryptionFailure" {
		t.Fatalf("error answer: %d %v %v", resp.StatusCode, body, resp.Header)
	}

	// Drops: before forwarding (not forwarded) and after (forwarded).
	n := forwarded.Load()
	p.Add(faultproxy.Rule{Drop: true, Count: 1})
	if _, err := call(faultproxy.OpPutSecretValue, `{}`); err == nil || forwarded.Load() != n {
		t.Fatalf("drop: %v, forwarded %d", err, forwarded.Load()-n)
	}
	p.Add(faultproxy.Rule{DropAfterForward: true, Count: 1})
	if _, err := call(faultproxy.OpPutSecretValue, `{}`); err == nil || forwarded.Load() != n+1 {
		t.Fatalf("drop after forward: %v, forwarded %d", err, forwarded.Load()-n)
	}

	// Latency ends when the client gives up.
	p.Add(faultproxy.Rule{Latency: time.Minute, Count: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.URL+"/", strings.NewReader(`{}`))
	start := time.Now()
	if _, err := http.DefaultClient.Do(req); err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("latency: %v after %v", err, time.Since(start))
	}
}
