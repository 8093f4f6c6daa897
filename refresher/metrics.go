package refresher

import (
	"encoding/json"
	"math"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall"
)

// Metric names in the CloudWatch namespace (METRICS_NAMESPACE). The
// template's alarms refer to them.
const (
	MetricRefreshed          = "Refreshed"
	MetricSkipped            = "Skipped"
	MetricFailed             = "Failed"
	MetricExchangeLatency    = "ExchangeLatency"
	MetricMinSecondsToExpiry = "MinSecondsToExpiry"
	MetricSecondsToExpiry    = "SecondsToExpiry"
	DimensionFunction        = "FunctionName"
	DimensionSecret          = "SecretId"
)

// emfMetric and emfDirective follow CloudWatch's Embedded Metric Format.
type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMeta struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

// emitMetrics writes one EMF line with the run's counts, exchange latencies
// and the minimum seconds to expiry across secrets, then (unless disabled)
// one line per secret with its own seconds to expiry. Skipped secrets count
// too: the expiry metrics must arrive on every run, or the alarm fires.
func (r *Refresher) emitMetrics(results []Result, now time.Time) {
	ts := now.UnixMilli()
	var refreshed, skipped, failed int
	latencies := []float64{}
	minExpiry := math.Inf(1)
	unknown := false
	for _, res := range results {
		switch res.Outcome {
		case Refreshed:
			refreshed++
		case Skipped:
			skipped++
		case Failed:
			failed++
		}
		if res.Attempts > 0 {
			latencies = append(latencies, float64(res.Exchange.Milliseconds()))
		}
		if res.ExpiryKnown {
			minExpiry = math.Min(minExpiry, secondsUntil(res.ExpiresAt, now))
		} else {
			unknown = true
		}
	}
	agg := map[string]any{
		DimensionFunction: r.cfg.FunctionName,
		MetricRefreshed:   refreshed,
		MetricSkipped:     skipped,
		MetricFailed:      failed,
	}
	metrics := []emfMetric{{MetricRefreshed, "Count"}, {MetricSkipped, "Count"}, {MetricFailed, "Count"}}
	if len(latencies) > 0 {
		// EMF takes at most 100 values per metric in one document.
		agg[MetricExchangeLatency] = latencies[:min(len(latencies), 100)]
		metrics = append(metrics, emfMetric{MetricExchangeLatency, "Milliseconds"})
	}
	// The minimum speaks for every secret or not at all: a secret whose
	// expiry could not be read might be the one about to expire, so a run
	// with one sends no minimum, and an hour of such runs fires the alarm.
	if !unknown && !math.IsInf(minExpiry, 1) {
		agg[MetricMinSecondsToExpiry] = minExpiry
		metrics = append(metrics, emfMetric{MetricMinSecondsToExpiry, "Seconds"})
	}
	agg["_aws"] = emfMeta{Timestamp: ts, CloudWatchMetrics: []emfDirective{{
		Namespace: r.cfg.Namespace, Dimensions: [][]string{{DimensionFunction}}, Metrics: metrics,
	}}}
	r.writeEMF(agg)
	if !r.cfg.PerSecretMetrics {
		return
	}
	for _, res := range results {
		if !res.ExpiryKnown {
			continue
		}
		r.writeEMF(map[string]any{
			"_aws": emfMeta{Timestamp: ts, CloudWatchMetrics: []emfDirective{{
				Namespace:  r.cfg.Namespace,
				Dimensions: [][]string{{DimensionFunction, DimensionSecret}},
				Metrics:    []emfMetric{{MetricSecondsToExpiry, "Seconds"}},
			}}},
			DimensionFunction:     r.cfg.FunctionName,
			DimensionSecret:       res.SecretID,
			MetricSecondsToExpiry: secondsUntil(res.ExpiresAt, now),
		})
	}
}

// secondsUntil is the metric value: 0 for no or an expired token, and never
// more than a MightyCall token can live (an untrusted far-future expires_at
// must not read as a healthy token for years).
func secondsUntil(t, now time.Time) float64 {
	if t.IsZero() || !t.After(now) {
		return 0
	}
	return math.Floor(min(t.Sub(now), mightycall.DocumentedLifetime).Seconds())
}

func (r *Refresher) writeEMF(doc map[string]any) {
	b, err := json.Marshal(doc)
	if err != nil {
		return
	}
	b = append(b, '\n')
	_, _ = r.deps.Metrics.Write(b)
}
