package refresher

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// Summary is what a refresh invocation returns (SPEC section 3).
type Summary struct {
	Results []SummaryEntry `json:"results"`
}

// SummaryEntry is one secret's line in the summary.
type SummaryEntry struct {
	SecretID  string  `json:"secret_id"`
	Outcome   Outcome `json:"outcome"`
	Grant     string  `json:"grant,omitempty"`
	ExpiresAt string  `json:"expires_at,omitempty"`
	Error     string  `json:"error,omitempty"`
}

// RotationResult is what a successful rotation step returns.
type RotationResult struct {
	SecretID string `json:"secret_id"`
	Step     string `json:"step"`
	Outcome  string `json:"outcome"`
}

// RunError is returned when any secret of a refresh failed, so that Lambda
// counts a function error (metrics, retries, failure destinations). Its
// message names each failed secret, up to a bound; the Summary is kept for
// callers in the same process.
type RunError struct {
	Summary Summary
	Failed  int
}

// maxErrorNames bounds how many failed secrets the error message names.
const maxErrorNames = 20

func (e *RunError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d secrets failed: ", e.Failed, len(e.Summary.Results))
	named := 0
	for _, r := range e.Summary.Results {
		if r.Outcome != Failed {
			continue
		}
		if named == maxErrorNames {
			fmt.Fprintf(&b, "; and %d more (see the logs)", e.Failed-named)
			break
		}
		if named > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", r.SecretID, shorten(r.Error, 300))
		named++
	}
	return b.String()
}

// EventRejected is Handle's error for an event it does not accept. Lambda
// reports an error's type name as errorType, so the error types Handle
// returns are named for what happened.
type EventRejected struct{ Err error }

func (e *EventRejected) Error() string { return e.Err.Error() }
func (e *EventRejected) Unwrap() error { return e.Err }

// RotationStepFailed is Handle's error for a failed rotation step.
type RotationStepFailed struct {
	Step string
	Err  error
}

func (e *RotationStepFailed) Error() string { return e.Step + ": " + e.Err.Error() }
func (e *RotationStepFailed) Unwrap() error { return e.Err }

// finishReserve is kept back from the invocation's deadline (at most a tenth
// of the time left) for logging the outcome, emitting the metrics and
// returning: a call that is still running then is cut short by the function
// itself, which fails cleanly, instead of by Lambda, which would kill it at
// the deadline with nothing logged.
const finishReserve = 500 * time.Millisecond

// Handle is the Lambda handler: it dispatches an event by its shape.
func (r *Refresher) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	ev, err := ParseEvent(raw)
	if err != nil {
		r.deps.Logger.ErrorContext(ctx, "event rejected", "error", err.Error())
		return nil, &EventRejected{Err: err}
	}
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-min(finishReserve, time.Until(dl)/10)))
		defer cancel()
	}
	switch ev := ev.(type) {
	case *RotationEvent:
		start := time.Now()
		err := r.Rotate(ctx, ev)
		attrs := []any{"secret_id", ev.SecretID, "step", ev.Step, "version_id", ev.ClientRequestToken, "duration_ms", time.Since(start).Milliseconds()}
		if err != nil {
			r.deps.Logger.ErrorContext(ctx, "rotation step failed", append(attrs, "error", err.Error())...)
			return nil, &RotationStepFailed{Step: ev.Step, Err: err}
		}
		r.deps.Logger.InfoContext(ctx, "rotation step done", attrs...)
		return RotationResult{SecretID: ev.SecretID, Step: ev.Step, Outcome: "ok"}, nil
	case *RefreshEvent:
		sum, err := r.Refresh(ctx, ev)
		if err != nil {
			return nil, err
		}
		return sum, nil
	}
	return nil, fmt.Errorf("%w: unhandled event", ErrBadEvent)
}

// Refresh refreshes the event's secrets (default: the configured ones) with
// bounded concurrency. One secret's failure does not stop the others; any
// failure makes the returned error a *RunError.
func (r *Refresher) Refresh(ctx context.Context, ev *RefreshEvent) (Summary, error) {
	ids := dedupe(ev.SecretIDs)
	if len(ids) == 0 {
		ids = r.cfg.SecretIDs
	}
	if len(ids) == 0 {
		r.deps.Logger.WarnContext(ctx, "no secrets to refresh: SECRET_IDS is empty (a rotation-only deployment)")
		return Summary{Results: []SummaryEntry{}}, nil
	}
	results := make([]Result, len(ids))
	var g errgroup.Group
	g.SetLimit(r.cfg.Concurrency)
	for i, id := range ids {
		g.Go(func() error {
			results[i] = r.RefreshSecret(ctx, id, ev.Force)
			return nil
		})
	}
	_ = g.Wait()

	now := r.now()
	sum := Summary{Results: make([]SummaryEntry, len(results))}
	failed := 0
	for i, res := range results {
		sum.Results[i] = res.entry()
		r.logResult(ctx, res)
		if res.Outcome == Failed {
			failed++
		}
	}
	r.logRun(ctx, results, failed)
	r.emitMetrics(results, now)
	if failed > 0 {
		return sum, &RunError{Summary: sum, Failed: failed}
	}
	return sum, nil
}

func (res Result) entry() SummaryEntry {
	e := SummaryEntry{SecretID: res.SecretID, Outcome: res.Outcome, Grant: res.Grant}
	if !res.ExpiresAt.IsZero() {
		e.ExpiresAt = res.ExpiresAt.UTC().Format(time.RFC3339)
	}
	if res.Err != nil {
		e.Error = res.Err.Error()
	}
	return e
}

func (r *Refresher) logResult(ctx context.Context, res Result) {
	attrs := []slog.Attr{
		slog.String("secret_id", res.SecretID),
		slog.String("outcome", string(res.Outcome)),
		slog.String("grant", res.Grant),
		slog.String("reason", res.Reason),
		slog.Int("attempts", res.Attempts),
		slog.Int64("exchange_ms", res.Exchange.Milliseconds()),
		slog.Int64("duration_ms", res.Duration.Milliseconds()),
	}
	if !res.ExpiresAt.IsZero() {
		attrs = append(attrs, slog.String("expires_at", res.ExpiresAt.UTC().Format(time.RFC3339)))
	}
	level := slog.LevelInfo
	if res.Err != nil {
		level = slog.LevelError
		attrs = append(attrs, slog.String("error", res.Err.Error()))
	}
	r.deps.Logger.LogAttrs(ctx, level, "secret "+string(res.Outcome), attrs...)
}

// maxLoggedFailures bounds the failed ids in the run line, which must stay
// far below CloudWatch's 256 KB event limit for thousands of secrets.
const maxLoggedFailures = 50

func (r *Refresher) logRun(ctx context.Context, results []Result, failed int) {
	counts := map[Outcome]int{}
	var names []string
	for _, res := range results {
		counts[res.Outcome]++
		if res.Outcome == Failed && len(names) < maxLoggedFailures {
			names = append(names, res.SecretID)
		}
	}
	level := slog.LevelInfo
	if failed > 0 {
		level = slog.LevelError
	}
	r.deps.Logger.LogAttrs(ctx, level, "refresh run",
		slog.Int("secrets", len(results)),
		slog.Int("refreshed", counts[Refreshed]),
		slog.Int("skipped", counts[Skipped]),
		slog.Int("failed", failed),
		slog.Any("failed_secrets", names),
		slog.Int("failed_not_listed", failed-len(names)),
	)
}

func shorten(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
