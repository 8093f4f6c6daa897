package sim

import (
	"errors"
	"fmt"
	"time"
)

// Config is one simulation. Start from DefaultConfig: a zero Rotation or
// Outage means "none", so Run does not fill in defaults.
type Config struct {
	Seed    uint64        // every random draw of the simulation derives from it
	Start   time.Time     // virtual start (DefaultStart when zero)
	Days    int           // simulated days
	Secrets int           // secrets (MightyCall accounts), all in SECRET_IDS
	Margin  time.Duration // REFRESH_MARGIN

	Schedule time.Duration // EventBridge rate of the scheduled refresh
	// Rotation is each secret's rotation interval (0: no rotation). The
	// secrets' first rotations are spread over the first interval.
	Rotation time.Duration
	// RotationAttempts is how many times Secrets Manager tries one rotation
	// (same ClientRequestToken, from createSecret, one schedule period
	// apart) before it is counted as abandoned.
	RotationAttempts int

	LambdaTimeout time.Duration // the function's Timeout (template: 60 s)
	AsyncRetries  int           // EventInvokeConfig.MaximumRetryAttempts (template: 1)

	MCFaultRate float64 // per MightyCall token request
	SMFaultRate float64 // per Secrets Manager call (per SDK attempt with SMSDKRetry)
	// SMSDKRetry puts a model of the AWS SDK's standard retryer (5
	// attempts, as cmd/refresher configures it) between the refresher and
	// memstore, as in production, so a throttle reaches the core only when
	// it outlasts the retries. Off, every injected fault reaches the core: a
	// stress test of the core's own failure paths.
	SMSDKRetry bool
	TokenCheck bool // TOKEN_CHECK=profile

	OutageStart time.Duration // offset of the MightyCall outage from Start
	Outage      time.Duration // its length (0: none)

	// AlarmThreshold: the expiry alarm fires when MinSecondsToExpiry is below
	// it, or when a whole AlarmPeriod (the template: 1 h) has no datapoint.
	AlarmThreshold time.Duration
	AlarmPeriod    time.Duration

	// Acceptance targets.
	MaxExchangesPerDay float64       // per secret, rotations included
	MinAlarmLead       time.Duration // alarm before expiry, in an outage run
}

// DefaultConfig is the scenario: 30 days, 3 secrets, a refresh
// every 30 minutes, a rotation every 7 days, 5% faults on both sides.
func DefaultConfig() Config {
	return Config{
		Start:              DefaultStart,
		Days:               30,
		Secrets:            3,
		Margin:             6 * time.Hour,
		Schedule:           30 * time.Minute,
		Rotation:           7 * 24 * time.Hour,
		RotationAttempts:   5,
		LambdaTimeout:      60 * time.Second,
		AsyncRetries:       1,
		MCFaultRate:        0.05,
		SMFaultRate:        0.05,
		SMSDKRetry:         true,
		AlarmThreshold:     4 * time.Hour,
		AlarmPeriod:        time.Hour,
		MaxExchangesPerDay: 1.5,
		MinAlarmLead:       3 * time.Hour,
	}
}

func (c Config) validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.Days >= 1, "days must be at least 1")
	check(c.Secrets >= 1 && c.Secrets <= 1000, "secrets must be 1..1000")
	check(c.Margin >= time.Minute && c.Margin <= 23*time.Hour, "margin must be 1m..23h (REFRESH_MARGIN)")
	check(c.Schedule >= time.Minute, "schedule must be at least 1m")
	check(c.Rotation == 0 || c.Rotation >= 4*time.Hour, "rotation must be 0 (off) or at least 4h (Secrets Manager's minimum)")
	check(c.RotationAttempts >= 1, "rotation attempts must be at least 1")
	check(c.LambdaTimeout >= 10*time.Second && c.LambdaTimeout <= 15*time.Minute, "lambda timeout must be 10s..15m")
	check(c.AsyncRetries >= 0 && c.AsyncRetries <= 2, "async retries must be 0..2 (Lambda's range)")
	check(c.MCFaultRate >= 0 && c.MCFaultRate <= 1, "mc fault rate must be 0..1")
	check(c.SMFaultRate >= 0 && c.SMFaultRate <= 1, "sm fault rate must be 0..1")
	check(c.OutageStart >= 0 && c.Outage >= 0, "outage start and length must not be negative")
	check(c.AlarmThreshold > 0, "alarm threshold must be positive")
	check(c.AlarmPeriod >= time.Minute && time.Hour%c.AlarmPeriod == 0 || c.AlarmPeriod%time.Hour == 0 && c.AlarmPeriod > 0,
		"alarm period must divide an hour or be whole hours")
	return errors.Join(errs...)
}

func (c Config) end() time.Time { return c.Start.Add(time.Duration(c.Days) * 24 * time.Hour) }

func (c Config) inOutage(t time.Time) bool {
	if c.Outage <= 0 {
		return false
	}
	from := c.Start.Add(c.OutageStart)
	return !t.Before(from) && t.Before(from.Add(c.Outage))
}
