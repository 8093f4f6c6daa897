// Command simulate runs the refresher through weeks of virtual time in a few
// seconds (see package refresher/sim) and checks the targets:
//
//	go run ./cmd/simulate                                  # 30 days, 5% faults
//	go run ./cmd/simulate -outage-start 240h -outage 24h   # a 24 h MightyCall outage
//	go run ./cmd/simulate -seed 42 -json                   # reproduce a run, as JSON
//
// It exits 1 when a target is missed (naming it), 2 on bad flags.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/sim"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg := sim.DefaultConfig()
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Uint64("seed", 0, "random seed (default: derived from the time; always printed)")
	fs.IntVar(&cfg.Days, "days", cfg.Days, "simulated days")
	fs.IntVar(&cfg.Secrets, "secrets", cfg.Secrets, "secrets (MightyCall accounts) in SECRET_IDS")
	fs.DurationVar(&cfg.Schedule, "schedule", cfg.Schedule, "period of the scheduled refresh")
	fs.DurationVar(&cfg.Rotation, "rotation", cfg.Rotation, "rotation interval per secret (0: no rotation)")
	fs.IntVar(&cfg.RotationAttempts, "rotation-attempts", cfg.RotationAttempts, "attempts of one rotation before it is abandoned")
	fs.DurationVar(&cfg.Margin, "margin", cfg.Margin, "REFRESH_MARGIN")
	fs.Float64Var(&cfg.MCFaultRate, "mc-fault-rate", cfg.MCFaultRate, "fault rate per MightyCall token request")
	fs.Float64Var(&cfg.SMFaultRate, "sm-fault-rate", cfg.SMFaultRate, "throttling rate per Secrets Manager call")
	fs.BoolVar(&cfg.SMSDKRetry, "sm-sdk-retry", cfg.SMSDKRetry, "model the AWS SDK's retryer (5 attempts) in front of Secrets Manager, as in production; =false lets every fault reach the refresher")
	fs.BoolVar(&cfg.TokenCheck, "token-check", cfg.TokenCheck, "TOKEN_CHECK=profile (testSecret calls MightyCall)")
	fs.DurationVar(&cfg.OutageStart, "outage-start", cfg.OutageStart, "start of a MightyCall outage, from the beginning")
	fs.DurationVar(&cfg.Outage, "outage", cfg.Outage, "length of the MightyCall outage (0: none)")
	fs.DurationVar(&cfg.AlarmThreshold, "alarm-threshold", cfg.AlarmThreshold, "expiry alarm: MinSecondsToExpiry below this")
	fs.DurationVar(&cfg.AlarmPeriod, "alarm-period", cfg.AlarmPeriod, "expiry alarm: period of the Minimum (a period without a datapoint breaches)")
	fs.DurationVar(&cfg.LambdaTimeout, "lambda-timeout", cfg.LambdaTimeout, "the function's timeout")
	fs.IntVar(&cfg.AsyncRetries, "async-retries", cfg.AsyncRetries, "Lambda's retries of a failed scheduled invocation")
	fs.Float64Var(&cfg.MaxExchangesPerDay, "max-exchanges", cfg.MaxExchangesPerDay, "target: token exchanges per secret per day")
	fs.DurationVar(&cfg.MinAlarmLead, "min-alarm-lead", cfg.MinAlarmLead, "target: alarm before expiry in an outage")
	asJSON := fs.Bool("json", false, "print the report as one JSON object")
	verbose := fs.Bool("v", false, "write the refresher's JSON log lines (virtual time) to stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "simulate: unexpected arguments %q\n", fs.Args())
		return 2
	}
	cfg.Seed = uint64(time.Now().UnixNano())
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "seed" {
			cfg.Seed = *seed
		}
	})
	fmt.Fprintf(stderr, "simulate: seed %d (reproduce with -seed %d)\n", cfg.Seed, cfg.Seed)

	var logw io.Writer
	if *verbose {
		logw = stderr
	}
	started := time.Now()
	rep, err := sim.RunWithLog(cfg, logw)
	if err != nil {
		fmt.Fprintf(stderr, "simulate: %v\n", err)
		return 2
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "simulate: %v\n", err)
			return 2
		}
	} else {
		printReport(stdout, rep, time.Since(started))
	}
	if !rep.Passed {
		for _, c := range rep.Checks {
			if !c.Pass {
				fmt.Fprintf(stderr, "simulate: MISSED %s: target %s, got %s\n", c.Name, c.Target, c.Value)
			}
		}
		return 1
	}
	return 0
}

func printReport(w io.Writer, r sim.Report, took time.Duration) {
	c := r.Config
	fmt.Fprintf(w, "MightyCall token refresher: %d-day simulation (seed %d, reproduce with -seed %d)\n", c.Days, r.Seed, r.Seed)
	fmt.Fprintf(w, "  %d secrets, schedule %s, rotation %s (%d attempts), margin %s, Lambda timeout %s, %d async retry, concurrency %d\n",
		c.Secrets, c.Schedule, c.Rotation, c.RotationAttempts, c.Margin, c.LambdaTimeout, c.AsyncRetries, c.Concurrency)
	sdk := "faults reach the refresher"
	if c.SMSDKRetry {
		sdk = "behind a model of the SDK retryer"
	}
	fmt.Fprintf(w, "  faults: MightyCall %.1f%% per token request, Secrets Manager %.1f%% per call (%s)\n",
		100*c.MCFaultRate, 100*c.SMFaultRate, sdk)
	if c.Outage != "" {
		fmt.Fprintf(w, "  MightyCall outage: %s from +%s\n", c.Outage, c.OutageStart)
	}
	fmt.Fprintf(w, "  expiry alarm: Minimum of MinSecondsToExpiry over %s < %s, or a %s without a datapoint\n", c.AlarmPeriod, c.AlarmThreshold, c.AlarmPeriod)
	fmt.Fprintf(w, "  virtual %s .. %s, ran in %s\n\n", r.Start.Format(time.DateTime), r.End.Format(time.DateTime), took.Round(time.Millisecond))

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "secret\texpired s\texchanges\t/day\trefresh rejected\tversions\t/day\trefreshed\tfailed\trotations ok\tattempts failed\tabandoned\tstale RT s\t")
	rows := append(slices.Clone(r.Secrets), r.Total)
	for _, s := range rows {
		fmt.Fprintf(tw, "%s\t%.0f\t%d\t%.3f\t%d\t%d\t%.2f\t%d\t%d\t%d\t%d\t%d\t%.0f\t\n", s.SecretID, s.ExpiredSeconds,
			s.Exchanges, s.ExchangesPerDay, s.RefreshRejected, s.Versions, s.VersionsPerDay, s.Refreshed, s.FailedRefreshes,
			s.RotationsCompleted, s.RotationAttemptsFailed, s.RotationsAbandoned, s.StaleRefreshTokenSeconds)
	}
	tw.Flush()
	fmt.Fprintf(w, "  (total row: sums; its /day columns are per secret)\n")
	fmt.Fprintf(w, "  minimum exchanges per secret per day: %.3f from the schedule alone (24h token, %s margin: 24/(24-%s)); with rotations %.3f on average, %.3f at worst\n\n",
		r.MinExchangesPerDay, c.Margin, strings.TrimSuffix(c.Margin, "0m0s"), r.MinExchangesPerDayRotation, r.MaxMinExchangesPerDayRotation)

	ru := r.Runs
	fmt.Fprintf(w, "runs: %d ticks, %d refresh invocations (%d async retries), %d failed, %d failed after Lambda's retry; %d rotation steps, %d failed\n",
		ru.Scheduled, ru.Invocations, ru.AsyncRetries, ru.Failed, ru.FailedForGood, ru.RotationSteps, ru.RotationFailed)
	fmt.Fprintf(w, "      longest invocation %ds, %d past the timeout; %d due rotations reattempted an unfinished one (%d of them on a leftover AWSPENDING), %d skipped\n",
		ru.LongestSeconds, ru.OverTimeout, ru.RotationsResumed, ru.RotationsOnLeftover, ru.RotationsSkipped)
	m := r.MightyCall
	fmt.Fprintf(w, "MightyCall: %d token requests (%d client_credentials, %d refresh_token), %d issued a token; errors %s; faults %s\n",
		m.TokenRequests, m.ClientCredentials, m.RefreshToken, m.Success, fmtMap(m.Errors), fmtMap(m.Faults))
	fmt.Fprintf(w, "Secrets Manager: calls %s; %d throttled, %d answers lost, %d of these reached the refresher; %.2f PutSecretValue per secret per day\n",
		fmtMap(r.SM.Calls), r.SM.Throttled, r.SM.Lost, r.SM.Surfaced, r.SM.PutsPerDay)
	a := r.Alarm
	fmt.Fprintf(w, "expiry alarm: %d datapoints, %d runs without one, %d firing(s): %s\n", a.Datapoints, a.RunsNoData, len(a.Firings), a.Summary)
	if a.MalformedMetricLines > 0 {
		fmt.Fprintf(w, "  %d aggregate metric lines were not EMF JSON with a timestamp\n", a.MalformedMetricLines)
	}
	for i, f := range a.Firings {
		if i == 5 {
			fmt.Fprintf(w, "  ... %d more\n", len(a.Firings)-i)
			break
		}
		cleared := "still in ALARM at the end"
		if !f.Cleared.IsZero() {
			cleared = "OK at +" + fmtOffset(f.Cleared.Sub(r.Start))
		}
		fmt.Fprintf(w, "  +%s %s (%s)\n", fmtOffset(f.At.Sub(r.Start)), f.Reason, cleared)
	}
	fmt.Fprintf(w, "failure alarm (for comparison): %d firing(s), %d hours in ALARM", a.FailureFirings, a.FailureHoursInAlarm)
	if a.FailureLeadHours != nil {
		fmt.Fprintf(w, ", %.2fh before the first expiry", *a.FailureLeadHours)
	}
	fmt.Fprintln(w)
	inv := r.Invariants
	fmt.Fprintf(w, "invariants (%d checks): %d without exactly one AWSCURRENT, %d AWSPENDING changed by the schedule, %d tokens rejected before expires_at\n",
		inv.Observations, inv.NotOneCurrent, inv.PendingTouched, inv.RejectedBeforeExpiry)
	for _, e := range inv.Examples {
		fmt.Fprintf(w, "  - %s\n", e)
	}
	fmt.Fprintln(w)
	for _, ch := range r.Checks {
		mark := "PASS"
		if !ch.Pass {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "%s  %s: target %s; got %s\n", mark, ch.Name, ch.Target, ch.Value)
	}
}

func fmtOffset(d time.Duration) string {
	days := int(d / (24 * time.Hour))
	return fmt.Sprintf("%dd%s", days, (d - time.Duration(days)*24*time.Hour).Round(time.Second))
}

func fmtMap(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
