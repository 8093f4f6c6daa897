package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher"
)

// datapoint is one MinSecondsToExpiry value the function emitted.
type datapoint struct {
	at    time.Time
	value float64
}

// metricsSink is the refresher's Deps.Metrics: it parses the Embedded
// Metric Format lines as CloudWatch would and keeps the aggregate
// MinSecondsToExpiry datapoints, which the alarm watches.
type metricsSink struct {
	buf       []byte
	points    []datapoint
	aggregate int // aggregate lines (one per refresh run)
	noMin     int // aggregate lines without MinSecondsToExpiry
	bad       int // aggregate lines that are not EMF JSON
}

func (m *metricsSink) Write(p []byte) (int, error) {
	m.buf = append(m.buf, p...)
	for {
		i := bytes.IndexByte(m.buf, '\n')
		if i < 0 {
			break
		}
		m.parse(m.buf[:i])
		m.buf = m.buf[i+1:]
	}
	return len(p), nil
}

func (m *metricsSink) parse(line []byte) {
	if !bytes.Contains(line, []byte(`"`+refresher.MetricRefreshed+`"`)) {
		return // a per-secret line: the alarm watches the aggregate
	}
	m.aggregate++
	var doc struct {
		Aws struct {
			Timestamp int64 `json:"Timestamp"`
		} `json:"_aws"`
		Min *float64 `json:"MinSecondsToExpiry"` // refresher.MetricMinSecondsToExpiry
	}
	if json.Unmarshal(line, &doc) != nil || doc.Aws.Timestamp == 0 {
		m.bad++
		return
	}
	if doc.Min == nil {
		m.noMin++
		return
	}
	m.points = append(m.points, datapoint{at: time.UnixMilli(doc.Aws.Timestamp).UTC(), value: *doc.Min})
}

// take returns the datapoints received since the last call.
func (m *metricsSink) take() []datapoint {
	p := m.points
	m.points = nil
	return p
}

// Firing is one transition of the alarm to ALARM.
type Firing struct {
	At      time.Time `json:"at"`
	Reason  string    `json:"reason"`
	Cleared time.Time `json:"cleared,omitzero"` // back to OK; zero if still in ALARM at the end
}

// alarm models the template's TokenExpiryAlarm: statistic Minimum of
// MinSecondsToExpiry over periods of one hour aligned to the clock, ALARM
// when the period's minimum is below the threshold, missing data breaching
// (a period without a datapoint), 1 of 1 evaluation periods. A partial
// period is evaluated as its datapoints arrive, as CloudWatch does (it
// evaluates every minute), so the alarm fires on the first datapoint below
// the threshold and clears on the first period whose datapoints so far are
// all at or above it.
type alarm struct {
	threshold time.Duration
	period    time.Duration
	// cur is the period being filled, curMin its minimum so far.
	cur     time.Time
	curMin  float64
	curData bool
	firings []Firing
}

func newAlarm(threshold, period time.Duration, start time.Time) *alarm {
	return &alarm{threshold: threshold, period: period, cur: start.Truncate(period)}
}

func (a *alarm) inAlarm() bool {
	return len(a.firings) > 0 && a.firings[len(a.firings)-1].Cleared.IsZero()
}

func (a *alarm) fire(at time.Time, reason string) {
	if !a.inAlarm() {
		a.firings = append(a.firings, Firing{At: at, Reason: reason})
	}
}

// advance closes every period that ended by now; one without a datapoint
// is breaching.
func (a *alarm) advance(now time.Time) {
	for !now.Before(a.cur.Add(a.period)) {
		if !a.curData {
			a.fire(a.cur.Add(a.period), fmt.Sprintf("no MinSecondsToExpiry datapoint in the %s period from %s",
				a.period, a.cur.Format("15:04")))
		}
		a.cur, a.curData = a.cur.Add(a.period), false
	}
}

func (a *alarm) datapoint(d datapoint) {
	a.advance(d.at)
	if !a.curData || d.value < a.curMin {
		a.curMin = d.value
	}
	a.curData = true
	if a.curMin < a.threshold.Seconds() {
		a.fire(d.at, fmt.Sprintf("MinSecondsToExpiry %.0f < %.0f", a.curMin, a.threshold.Seconds()))
		return
	}
	if a.inAlarm() {
		a.firings[len(a.firings)-1].Cleared = d.at
	}
}

// failureFirings models the template's RefreshFailureAlarm: Sum of Failed
// and of Lambda's Errors per clock hour >= 1, missing data not breaching.
// It goes to ALARM at the first function error of an hour and back to OK
// at the end of the last consecutive hour with an error.
func failureFirings(errs []time.Time) []Firing {
	var out []Firing
	for _, t := range errs {
		hour := t.Truncate(time.Hour)
		if n := len(out); n > 0 && !hour.After(out[n-1].Cleared) {
			out[n-1].Cleared = hour.Add(time.Hour)
			continue
		}
		out = append(out, Firing{At: t, Reason: "a refresh or rotation step failed", Cleared: hour.Add(time.Hour)})
	}
	return out
}

// leadBefore says how long before t the firings had an alarm in ALARM
// (negative: the first firing after t came that much late).
func leadBefore(firings []Firing, t time.Time) (time.Duration, Firing, bool) {
	for _, f := range firings {
		if !f.At.After(t) && (f.Cleared.IsZero() || f.Cleared.After(t)) {
			return t.Sub(f.At), f, true
		}
	}
	for _, f := range firings {
		if f.At.After(t) {
			return t.Sub(f.At), f, true
		}
	}
	return 0, Firing{}, false
}
