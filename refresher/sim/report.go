package sim

import "time"

// Report is what a simulation measured. Durations are in seconds or hours
// as their names say, so that the JSON form reads without conversions.
type Report struct {
	Seed   uint64       `json:"seed"`
	Config ReportConfig `json:"config"`
	Start  time.Time    `json:"start"`
	End    time.Time    `json:"end"`
	Days   float64      `json:"days"`

	Secrets []SecretReport `json:"secrets"`
	Total   SecretReport   `json:"total"` // sums; the per-day rates are per secret

	// MinExchangesPerDay is the least a refresher can do: a token lives 24 h
	// and is replaced when it has Margin left, so 24h/(24h-Margin) a day.
	MinExchangesPerDay float64 `json:"min_exchanges_per_day"`
	// MinExchangesPerDayRotation adds the rotations: each one discards on
	// average half a refresh cycle (and at most a whole one, the upper value).
	MinExchangesPerDayRotation    float64 `json:"min_exchanges_per_day_with_rotation"`
	MaxMinExchangesPerDayRotation float64 `json:"min_exchanges_per_day_with_rotation_worst_phase"`

	Runs       RunStats        `json:"runs"`
	MightyCall MightyCallStats `json:"mightycall"`
	SM         SMStats         `json:"secrets_manager"`
	Alarm      AlarmReport     `json:"alarm"`
	Invariants InvariantReport `json:"invariants"`

	Checks []Check `json:"acceptance"`
	Passed bool    `json:"passed"`
}

// ReportConfig is the configuration as run.
type ReportConfig struct {
	Days               int     `json:"days"`
	Secrets            int     `json:"secrets"`
	Margin             string  `json:"refresh_margin"`
	Schedule           string  `json:"schedule"`
	Rotation           string  `json:"rotation"`
	RotationAttempts   int     `json:"rotation_attempts"`
	LambdaTimeout      string  `json:"lambda_timeout"`
	AsyncRetries       int     `json:"async_retries"`
	Concurrency        int     `json:"concurrency"`
	MCFaultRate        float64 `json:"mc_fault_rate"`
	SMFaultRate        float64 `json:"sm_fault_rate"`
	SMSDKRetry         bool    `json:"sm_sdk_retry"`
	TokenCheck         bool    `json:"token_check"`
	OutageStart        string  `json:"outage_start,omitempty"`
	Outage             string  `json:"outage,omitempty"`
	AlarmThreshold     string  `json:"alarm_threshold"`
	AlarmPeriod        string  `json:"alarm_period"`
	MaxExchangesPerDay float64 `json:"target_max_exchanges_per_day"`
	MinAlarmLead       string  `json:"target_min_alarm_lead"`
}

// SecretReport is one secret's figures (or their sum in Report.Total).
type SecretReport struct {
	SecretID string `json:"secret_id"`
	// ExpiredSeconds is how long AWSCURRENT held a token past its
	// expires_at, from the first token on.
	ExpiredSeconds float64 `json:"expired_seconds"`
	// Exchanges are token-issuing answers of MightyCall (both grants,
	// rotations included, answers lost to a fault included).
	Exchanges       int     `json:"exchanges"`
	ExchangesPerDay float64 `json:"exchanges_per_day"`
	// RefreshRejected counts refresh tokens MightyCall refused (invalid_grant),
	// each followed by a fallback to the keys.
	RefreshRejected int `json:"refresh_rejected"`
	// Versions written (rotation placeholders included) and their rate.
	Versions       int     `json:"versions"`
	VersionsPerDay float64 `json:"versions_per_day"`
	Refreshed      int     `json:"refreshed"`
	// FailedRefreshes counts this secret's "failed" outcomes over all
	// scheduled invocations (async retries included).
	FailedRefreshes    int `json:"failed_refreshes"`
	RotationsCompleted int `json:"rotations_completed"`
	// RotationAttemptsFailed counts failed attempts (a step failed);
	// RotationsAbandoned the rotations that failed every attempt.
	RotationAttemptsFailed int `json:"rotation_attempts_failed"`
	RotationsAbandoned     int `json:"rotations_abandoned"`
	// StaleRefreshTokenSeconds is how long AWSCURRENT held a refresh token
	// MightyCall would no longer accept (SPEC 5.6); observations counts the
	// checks that saw it.
	StaleRefreshTokenSeconds      float64 `json:"stale_refresh_token_seconds"`
	StaleRefreshTokenObservations int     `json:"stale_refresh_token_observations"`
	FirstTokenAt                  string  `json:"first_token_at,omitempty"`
}

// RunStats counts invocations of the function.
type RunStats struct {
	Scheduled      int `json:"scheduled"`       // schedule ticks
	Invocations    int `json:"invocations"`     // refresh invocations, async retries included
	Failed         int `json:"failed"`          // refresh invocations that returned an error
	AsyncRetries   int `json:"async_retries"`   // retries Lambda made
	FailedForGood  int `json:"failed_for_good"` // ticks whose last retry failed too
	RotationSteps  int `json:"rotation_steps"`  // rotation step invocations
	RotationFailed int `json:"rotation_failed"` // of which failed
	OverTimeout    int `json:"over_timeout"`    // invocations that ran past the Lambda timeout
	LongestSeconds int `json:"longest_seconds"` // longest invocation, virtual
	// RotationsResumed counts due rotations that found AWSPENDING on a
	// version other than the AWSCURRENT one, so Secrets Manager reattempted
	// that version's rotation instead of starting a new one;
	// RotationsOnLeftover those where that version was not a rotation in
	// progress (a label left behind).
	RotationsResumed    int `json:"rotations_resumed"`
	RotationsOnLeftover int `json:"rotations_on_leftover_pending"`
	RotationsSkipped    int `json:"rotations_skipped"` // a rotation was due while one was still being retried
}

// MightyCallStats are the emulator's counters and the faults injected.
type MightyCallStats struct {
	TokenRequests     int            `json:"token_requests"`
	Success           int            `json:"success"`
	ClientCredentials int            `json:"client_credentials"`
	RefreshToken      int            `json:"refresh_token"`
	Errors            map[string]int `json:"errors,omitempty"`
	Faults            map[string]int `json:"faults,omitempty"`
	ProfileOK         int            `json:"profile_ok,omitempty"`
}

// SMStats are memstore's counters and the faults injected.
type SMStats struct {
	Calls     map[string]int `json:"calls"`
	Throttled int            `json:"throttled"`                // calls refused (nothing done)
	Lost      int            `json:"answers_lost"`             // calls done, answer lost
	Surfaced  int            `json:"faults_seen_by_refresher"` // after the SDK retries, if modelled
	// PutsPerDay is PutSecretValue calls per secret per day (AWS asks for
	// at most one per 10 minutes, 144 a day, sustained).
	PutsPerDay float64 `json:"puts_per_secret_per_day"`
}

// AlarmReport is what the modelled alarms did.
type AlarmReport struct {
	// The expiry alarm (TokenExpiryAlarm): MinSecondsToExpiry below the
	// threshold, or a period without a datapoint.
	Datapoints int `json:"datapoints"`
	RunsNoData int `json:"runs_without_datapoint"`
	// MalformedMetricLines counts aggregate metric lines that are not EMF
	// JSON with a timestamp (the alarm would not see them).
	MalformedMetricLines int      `json:"malformed_metric_lines"`
	Firings              []Firing `json:"firings"`
	// FirstExpiry is the first moment an AWSCURRENT token was expired;
	// empty when none ever was.
	FirstExpiry string `json:"first_expiry,omitempty"`
	// LeadHours is how long before FirstExpiry the expiry alarm fired
	// (negative: after); nil when no token expired or it never fired.
	LeadHours *float64 `json:"lead_hours,omitempty"`
	Summary   string   `json:"summary"`

	// The failure alarm (RefreshFailureAlarm), for comparison: ALARM in
	// every clock hour with a function error.
	FailureFirings      int      `json:"failure_alarm_firings"`
	FailureHoursInAlarm int      `json:"failure_alarm_hours"`
	FailureLeadHours    *float64 `json:"failure_alarm_lead_hours,omitempty"`
}

// InvariantReport counts broken invariants, checked after every event.
type InvariantReport struct {
	Observations int `json:"observations"`
	// NotOneCurrent: a secret had zero or several AWSCURRENT versions.
	NotOneCurrent int `json:"not_one_awscurrent"`
	// PendingTouched: a scheduled refresh moved or rewrote AWSPENDING.
	PendingTouched int `json:"pending_touched_by_schedule"`
	// RejectedBeforeExpiry: MightyCall refused AWSCURRENT's access token
	// although its expires_at was still ahead.
	RejectedBeforeExpiry int      `json:"token_rejected_before_expires_at"`
	Examples             []string `json:"examples,omitempty"`
}

// Check is one acceptance target.
type Check struct {
	Name   string `json:"name"`
	Target string `json:"target"`
	Value  string `json:"value"`
	Pass   bool   `json:"pass"`
}
