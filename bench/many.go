package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Many is one invocation refreshing every secret (force) at concurrency C,
// against the SPEC's ideal and against the benchmark making the same calls
// itself at the same concurrency.
type Many struct {
	Secrets     int     `json:"secrets"`
	Concurrency int     `json:"concurrency"`
	LatencyMs   float64 `json:"latency_ms"`
	FunctionMs  float64 `json:"function_ms"` // REPORT Duration, median of the runs
	// FunctionRunsMs and DirectRunsMs are the single runs (alternating
	// which goes first); the other figures are of the last run, peak RSS
	// the largest.
	FunctionRunsMs []float64 `json:"function_runs_ms"`
	DirectRunsMs   []float64 `json:"direct_runs_ms,omitempty"`
	// PerSecretDirectMs is the median time of one secret's calls made
	// directly, one secret at a time.
	PerSecretDirectMs float64 `json:"per_secret_direct_ms"`
	// IdealMs is SPEC 7's ceil(secrets / C) × PerSecretDirectMs.
	IdealMs    float64 `json:"ideal_ms"`
	RatioIdeal float64 `json:"ratio_ideal"`
	// DirectMs is the benchmark making the same calls for every secret
	// with C workers, against the same servers (0: not measured).
	DirectMs       float64 `json:"direct_same_concurrency_ms,omitempty"`
	RatioDirect    float64 `json:"ratio_direct,omitempty"`
	PeakRSSBytes   int64   `json:"peak_rss_bytes"`
	CallsPerSecret float64 `json:"calls_per_secret"`
	Calls          calls   `json:"calls"`
	DirectCalls    calls   `json:"direct_calls"`
	Refreshed      int     `json:"refreshed"`
	Failed         int     `json:"failed"`
	// FunctionCPUMs is the bootstrap's CPU time during the invocation.
	FunctionCPUMs float64 `json:"function_cpu_ms"`
	// MotoBusy is moto_server's CPU time over the wall time of the run:
	// near 1, the single Python process is the bottleneck.
	MotoBusy       float64 `json:"moto_busy"`
	DirectMotoBusy float64 `json:"direct_moto_busy,omitempty"`
}

// manyRun is one configuration of the many-secrets measurement.
type manyRun struct {
	concurrency int
	latency     time.Duration
	direct      bool // also measure the same-concurrency direct floor
	reps        int  // 0 means 1
}

// parseManyRuns reads "C@L" items, e.g. "100@500ms".
func parseManyRuns(s string) ([]manyRun, error) {
	var out []manyRun
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		c, l, ok := strings.Cut(item, "@")
		n, err := strconv.Atoi(c)
		if !ok || err != nil || n < 1 || n > 256 {
			return nil, fmt.Errorf("%q is not CONCURRENCY@LATENCY (concurrency 1 to 256), e.g. 100@500ms", item)
		}
		d, err := time.ParseDuration(l)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%q: bad latency", item)
		}
		out = append(out, manyRun{concurrency: n, latency: d})
	}
	return out, nil
}

// manySecrets creates n token secrets, each for its own emulator account.
func manySecrets(ctx context.Context, e *env, n int) ([]string, error) {
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				ids[i], errs[i] = e.benchSecret(ctx, fmt.Sprintf("bench-many-%04d", i), false)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// perSecretDirect is the median time of one secret's refresh calls made
// directly, one secret after the other.
func perSecretDirect(ctx context.Context, e *env, ids []string, samples int) (float64, error) {
	var d []float64
	for i := range samples {
		start := time.Now()
		if err := e.directDue(ctx, ids[i%len(ids)]); err != nil {
			return 0, err
		}
		d = append(d, ms(time.Since(start)))
	}
	return median(d), nil
}

func measureMany(ctx context.Context, e *env, ids []string, runs []manyRun, samples int) ([]Many, error) {
	all, _ := json.Marshal(map[string]any{"secret_ids": ids, "force": true})
	warm, _ := json.Marshal(map[string]any{"secret_ids": ids[:1]})
	perSecret := map[time.Duration]float64{}
	var out []Many
	for i, run := range runs {
		e.setLatency(run.latency)
		if _, ok := perSecret[run.latency]; !ok {
			// About five seconds of samples at most.
			n := max(3, min(samples, int(5*time.Second/(4*run.latency+20*time.Millisecond))))
			per, err := perSecretDirect(ctx, e, ids, n)
			if err != nil {
				return nil, err
			}
			perSecret[run.latency] = per
		}
		c := run.concurrency
		m := Many{Secrets: len(ids), Concurrency: c, LatencyMs: ms(run.latency), PerSecretDirectMs: perSecret[run.latency]}
		m.IdealMs = float64((len(ids)+c-1)/c) * m.PerSecretDirectMs

		fn := func() error { return manyFunction(ctx, e, &m, c, warm, all) }
		direct := func() error { return manyDirect(ctx, e, &m, ids, c) }
		for rep := range max(1, run.reps) {
			steps := []func() error{fn}
			if run.direct {
				// Alternate which goes first, against drift.
				steps = []func() error{fn, direct}
				if (i+rep)%2 == 1 {
					steps = []func() error{direct, fn}
				}
			}
			for _, s := range steps {
				if err := s(); err != nil {
					return nil, fmt.Errorf("%d secrets, concurrency %d, latency %v: %w", len(ids), c, run.latency, err)
				}
			}
		}
		m.FunctionMs, m.DirectMs = median(m.FunctionRunsMs), median(m.DirectRunsMs)
		m.RatioIdeal = m.FunctionMs / m.IdealMs
		if m.DirectMs > 0 {
			m.RatioDirect = m.FunctionMs / m.DirectMs
		}
		out = append(out, m)
		fmt.Printf("  C=%d, L=%v: function %.0f ms, ideal %.0f ms, direct %.0f ms\n", c, run.latency, m.FunctionMs, m.IdealMs, m.DirectMs)
	}
	return out, nil
}

// manyFunction runs the refresher with CONCURRENCY=c under a new emulator:
// a warm-up invocation (init, one read), then the measured one.
func manyFunction(ctx context.Context, e *env, m *Many, c int, warm, all []byte) error {
	f, err := startFunction(e.bootstrap, e.functionEnv("CONCURRENCY="+strconv.Itoa(c)), 5*time.Minute)
	if err != nil {
		return err
	}
	defer f.stop()
	if _, err := f.invoke(ctx, warm); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	pid, err := f.bootstrapPid()
	if err != nil {
		return err
	}
	cnt := e.count()
	cpu0, moto0 := cpuTime(pid), cpuTime(e.moto.Pid())
	inv, err := f.invoke(ctx, all)
	if err != nil {
		return err
	}
	m.FunctionCPUMs = ms(cpuTime(pid) - cpu0)
	m.MotoBusy = ms(cpuTime(e.moto.Pid())-moto0) / ms(inv.Wall)
	m.Calls = cnt.done()
	m.CallsPerSecret = float64(m.Calls.Total) / float64(m.Secrets)
	m.FunctionRunsMs = append(m.FunctionRunsMs, ms(inv.Duration))
	rss, err := peakRSS(pid)
	if err != nil {
		return err
	}
	m.PeakRSSBytes = max(m.PeakRSSBytes, rss)
	var sum struct {
		Results []struct {
			Outcome string `json:"outcome"`
		} `json:"results"`
	}
	if err := json.Unmarshal(inv.Body, &sum); err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	m.Refreshed, m.Failed = 0, 0
	for _, r := range sum.Results {
		if r.Outcome == "refreshed" {
			m.Refreshed++
		} else {
			m.Failed++
		}
	}
	return nil
}

// manyDirect makes the same calls for every secret with c workers, with
// clients that start without connections, as the function's do.
func manyDirect(ctx context.Context, e *env, m *Many, ids []string, c int) error {
	if err := e.freshClients(ctx); err != nil {
		return err
	}
	moto0 := cpuTime(e.moto.Pid())
	cnt := e.count()
	start := time.Now()
	if err := directAll(ctx, e, ids, c); err != nil {
		return fmt.Errorf("direct: %w", err)
	}
	wall := ms(time.Since(start))
	m.DirectRunsMs = append(m.DirectRunsMs, wall)
	m.DirectCalls = cnt.done()
	m.DirectMotoBusy = ms(cpuTime(e.moto.Pid())-moto0) / wall
	return nil
}

// directAll refreshes every secret directly with c workers.
func directAll(ctx context.Context, e *env, ids []string, c int) error {
	next := make(chan string)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			for id := range next {
				if err := e.directDue(ctx, id); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("%s: %w", id, err)
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, id := range ids {
		next <- id
	}
	close(next)
	wg.Wait()
	return first
}
