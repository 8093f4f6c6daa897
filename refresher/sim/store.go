package sim

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/memstore"
)

// ThrottlingError is the fault injected into Secrets Manager calls, shaped
// like the API's ThrottlingException. A throttled call did nothing.
type ThrottlingError struct{ Op string }

func (e *ThrottlingError) Error() string {
	return "simulated " + e.Op + ": ThrottlingException: Rate exceeded"
}

// LostAnswerError is the other injected fault: the call was carried out,
// but its answer was lost (a timeout or a 5xx after the fact), so the
// caller cannot tell it from a failure.
type LostAnswerError struct{ Op string }

func (e *LostAnswerError) Error() string {
	return "simulated " + e.Op + ": InternalServiceError (the request may have been applied)"
}

func retryable(err error) bool {
	var te *ThrottlingError
	var le *LostAnswerError
	return errors.As(err, &te) || errors.As(err, &le)
}

// sdkAttempts is the AWS SDK retryer's MaxAttempts in cmd/refresher.
const sdkAttempts = 5

// smStore stands between the refresher and memstore where production has
// secrets.Store and the AWS SDK: each call costs a modelled round trip and
// may fail, half the time throttled (queued with memstore.Fail just before
// the call, so memstore counts it and does nothing), half the time carried
// out with its answer lost. With sdkRetry it retries both as the SDK's
// standard retryer does (exponential backoff with jitter, capped at 20 s,
// within the invocation's deadline), relying on Secrets Manager's
// idempotency as production does.
type smStore struct {
	mem      *memstore.Store
	clock    *Clock
	rate     float64
	sdkRetry bool
	rng      *rand.Rand // faults and backoff
	lat      *rand.Rand // latencies

	throttled int // calls throttled
	lost      int // calls whose answer was lost
	surfaced  int // injected faults the refresher saw
}

func (s *smStore) call(ctx context.Context, op string, f func() error) error {
	for attempt := 1; ; attempt++ {
		s.clock.Advance(between(s.lat, smLatency))
		fault, lose := s.rng.Float64() < s.rate, false
		if fault {
			if lose = s.rng.IntN(2) == 0; lose {
				s.lost++
			} else {
				s.mem.Fail(op, &ThrottlingError{Op: op})
				s.throttled++
			}
		}
		err := f()
		if lose {
			err = &LostAnswerError{Op: op}
		}
		if !retryable(err) {
			return err
		}
		if !s.sdkRetry || attempt >= sdkAttempts {
			s.surfaced++
			return err
		}
		delay := time.Duration(s.rng.Float64() * float64(min(time.Duration(1<<attempt)*time.Second, 20*time.Second)))
		if dl, ok := ctx.Deadline(); ok && !s.clock.Now().Add(delay).Before(dl) {
			s.surfaced++
			return err
		}
		s.clock.Advance(delay)
	}
}

func (s *smStore) Read(ctx context.Context, secretID, stage string) (v secrets.Version, err error) {
	err = s.call(ctx, memstore.OpGet, func() (e error) { v, e = s.mem.Read(ctx, secretID, stage); return e })
	return v, err
}

func (s *smStore) ReadVersion(ctx context.Context, secretID, versionID, stage string) (v secrets.Version, err error) {
	err = s.call(ctx, memstore.OpGet, func() (e error) { v, e = s.mem.ReadVersion(ctx, secretID, versionID, stage); return e })
	return v, err
}

func (s *smStore) Describe(ctx context.Context, secretID string) (d secrets.Description, err error) {
	err = s.call(ctx, memstore.OpDescribe, func() (e error) { d, e = s.mem.Describe(ctx, secretID); return e })
	return d, err
}

func (s *smStore) Put(ctx context.Context, secretID string, v secrets.NewVersion) error {
	return s.call(ctx, memstore.OpPut, func() error { return s.mem.Put(ctx, secretID, v) })
}

func (s *smStore) MoveCurrent(ctx context.Context, secretID, to, from string) error {
	return s.call(ctx, memstore.OpMove, func() error { return s.mem.MoveCurrent(ctx, secretID, to, from) })
}

func (s *smStore) MoveStage(ctx context.Context, secretID, stage, to, from string) error {
	return s.call(ctx, memstore.OpMove, func() error { return s.mem.MoveStage(ctx, secretID, stage, to, from) })
}
