package sim

import (
	"context"
	"sync"
	"time"
)

// DefaultStart is where the virtual clock starts. It lies far in the real
// future on purpose: the refresher derives context deadlines from virtual
// instants (the Lambda deadline, its exchange deadline), and Go arms real
// timers for them; a deadline in the real past would cancel every call at
// once, one in the real future never fires during a run of a few seconds,
// so only the virtual checks (mightycall.Client's "time left to retry")
// enforce deadlines, as they should.
var DefaultStart = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)

// Clock is the virtual clock of a simulation. Nothing ever sleeps: Sleep
// and the modelled latencies advance it. It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock set at start.
func NewClock(start time.Time) *Clock { return &Clock{t: start} }

// Now returns the virtual time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d (a negative d is ignored).
func (c *Clock) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// AdvanceTo moves the clock forward to t; it never goes back.
func (c *Clock) AdvanceTo(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.t) {
		c.t = t
	}
}

// Sleep is mightycall.Client's Sleep: it costs virtual time only.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.Advance(d)
	return nil
}
