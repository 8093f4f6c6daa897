package refresher

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/memstore"
)

// hangingWrites is a store whose writes never answer before the context ends.
type hangingWrites struct{ *memstore.Store }

func (s hangingWrites) Put(ctx context.Context, id string, v secrets.NewVersion) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestReliabilityHandlerReturnsBeforeTheDeadline: a call still running near
// the invocation's deadline is cut short by the function itself, so that
// Handle returns (the outcome logged, the metrics written) before Lambda
// would kill it.
func TestReliabilityHandlerReturnsBeforeTheDeadline(t *testing.T) {
	h := newHarness(t, Config{})
	h.store.Create("acct", []byte(keysOnly))
	r := New(Config{DefaultBaseURL: "https://ccapi.mightycall.com/v4"}, Deps{Store: hangingWrites{h.store}, Exchanger: h.mc,
		Now: h.clock.Now, Logger: slog.New(slog.NewJSONHandler(h.logs, nil)), Metrics: h.metrics})
	deadline := time.Now().Add(1500 * time.Millisecond) // 150ms kept back to finish
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	_, err := r.Handle(ctx, json.RawMessage(`{"secret_ids":["acct"],"force":true}`))
	if !time.Now().Before(deadline) {
		t.Fatalf("Handle returned after the deadline: %v", err)
	}
	var re *RunError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "token obtained but not stored") {
		t.Fatalf("want a clean failure: %v", err)
	}
	if !strings.Contains(h.logs.String(), `"msg":"refresh run"`) || !strings.Contains(h.metrics.String(), MetricFailed) {
		t.Fatal("the outcome was not logged or the metrics not written")
	}
}
