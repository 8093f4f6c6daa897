package refresher

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// emfLines parses the EMF output and checks each line against the format:
// an _aws object with a Timestamp and CloudWatchMetrics directives whose
// every metric and dimension is a member of the line.
func emfLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %s", l)
		}
		aws, ok := m["_aws"].(map[string]any)
		if !ok {
			t.Fatalf("no _aws: %s", l)
		}
		if _, ok := aws["Timestamp"].(float64); !ok {
			t.Fatalf("no Timestamp: %s", l)
		}
		dirs, _ := aws["CloudWatchMetrics"].([]any)
		if len(dirs) == 0 {
			t.Fatalf("no directives: %s", l)
		}
		for _, d := range dirs {
			dir := d.(map[string]any)
			if dir["Namespace"] != DefaultNamespace {
				t.Fatalf("namespace %v", dir["Namespace"])
			}
			for _, set := range dir["Dimensions"].([]any) {
				for _, dim := range set.([]any) {
					if _, ok := m[dim.(string)].(string); !ok {
						t.Fatalf("dimension %v not a string member: %s", dim, l)
					}
				}
			}
			for _, met := range dir["Metrics"].([]any) {
				name := met.(map[string]any)["Name"].(string)
				if _, ok := m[name]; !ok {
					t.Fatalf("metric %s has no value: %s", name, l)
				}
			}
		}
		lines = append(lines, m)
	}
	return lines
}

func TestMetricsOnEveryRunIncludingSkips(t *testing.T) {
	h := newHarness(t, Config{SecretIDs: []string{"a", "b"}, PerSecretMetrics: true})
	h.store.Create("a", []byte(keysOnly))
	h.store.Create("b", []byte(keysOnly))
	if _, err := h.r.Refresh(t.Context(), &RefreshEvent{}); err != nil {
		t.Fatal(err)
	}
	h.metrics.b.Reset()
	h.clock.Add(time.Hour)
	if _, err := h.r.Refresh(t.Context(), &RefreshEvent{}); err != nil {
		t.Fatal(err)
	}
	lines := emfLines(t, h.metrics.String())
	if len(lines) != 3 {
		t.Fatalf("want the aggregate line and one per secret, got %d", len(lines))
	}
	agg := lines[0]
	if agg[MetricSkipped] != 2.0 || agg[MetricRefreshed] != 0.0 || agg[MetricMinSecondsToExpiry] != 23*3600.0 {
		t.Fatalf("aggregate: %v", agg)
	}
	if lines[1][DimensionSecret] != "a" || lines[1][MetricSecondsToExpiry] != 23*3600.0 {
		t.Fatalf("per secret: %v", lines[1])
	}
}

func TestNoMinimumWhenASecretIsUnreadable(t *testing.T) {
	h := newHarness(t, Config{SecretIDs: []string{"a", "missing"}, PerSecretMetrics: false})
	h.store.Create("a", []byte(keysOnly))
	_, _ = h.r.Refresh(t.Context(), &RefreshEvent{})
	lines := emfLines(t, h.metrics.String())
	if len(lines) != 1 {
		t.Fatalf("per-secret metrics off: want one line, got %d", len(lines))
	}
	if _, ok := lines[0][MetricMinSecondsToExpiry]; ok {
		t.Fatal("a minimum that leaves out an unreadable secret could hide the one about to expire")
	}
	if lines[0][MetricFailed] != 1.0 {
		t.Fatalf("failed count: %v", lines[0])
	}
}
