package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Results is bench/results.json.
type Results struct {
	Machine   Machine    `json:"machine"`
	Settings  Settings   `json:"settings"`
	ColdStart ColdStart  `json:"cold_start"`
	Calls     []Scenario `json:"calls_and_latency"`
	Many      []Many     `json:"many_secrets"`
	Sizes     []Size     `json:"bootstrap_size"`
	GoBench   []GoBench  `json:"go_benchmarks"`
	Targets   []Target   `json:"targets"`
	ElapsedS  float64    `json:"elapsed_s"`
}

// Machine says where the figures come from.
type Machine struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Moto      string `json:"moto_server"`
	Date      string `json:"date"`
	Load      Load   `json:"load"`
}

// Load says how busy the machine was with other work during the run:
// the benchmark shares two cores with whatever else runs there.
type Load struct {
	LoadAvgStart string  `json:"loadavg_start"`
	LoadAvgEnd   string  `json:"loadavg_end"`
	MachineBusyS float64 `json:"machine_busy_cpu_s"` // all processes
	OwnS         float64 `json:"own_cpu_s"`          // this process and its waited-for children
	OthersShare  float64 `json:"others_share"`       // others' CPU over the machine's capacity
}

type loadMeter struct {
	start     time.Time
	avg       string
	busy, own time.Duration
}

func startLoad() *loadMeter {
	return &loadMeter{start: time.Now(), avg: loadAvg(), busy: totalCPU(), own: ownCPU()}
}

func (l *loadMeter) done() Load {
	busy, own := totalCPU()-l.busy, ownCPU()-l.own
	capacity := time.Since(l.start).Seconds() * float64(runtime.NumCPU())
	return Load{LoadAvgStart: l.avg, LoadAvgEnd: loadAvg(), MachineBusyS: busy.Seconds(), OwnS: own.Seconds(),
		OthersShare: max(0, (busy-own).Seconds()/capacity)}
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// totalCPU is the machine's busy time over all cores, from /proc/stat.
func totalCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest time is already in user
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * clockTick
}

// ownCPU is the CPU time of this process and of the children it has waited
// for (moto_server, the runtime emulators and their bootstraps, go build).
func ownCPU() time.Duration {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	var t int64
	for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime
		n, _ := strconv.ParseInt(f[i], 10, 64)
		t += n
	}
	return time.Duration(t) * clockTick
}

// Settings are the benchmark's parameters.
type Settings struct {
	LatencyMs       float64  `json:"latency_ms"`
	ColdStartRuns   int      `json:"cold_start_runs"`
	Reps            int      `json:"reps"`
	Secrets         int      `json:"secrets"`
	Concurrency     string   `json:"concurrency"`
	ManyExtra       string   `json:"many_extra"`
	ManyReps        int      `json:"many_reps"`
	PerSecretReps   int      `json:"per_secret_samples"`
	GoBenchPackages []string `json:"go_bench_packages"`
}

// Target is one SPEC section 7 target, PASS or MISS.
type Target struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Limit string `json:"limit"`
	Pass  bool   `json:"pass"`
}

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
		Date: time.Now().UTC().Format(time.RFC3339)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if out, err := exec.Command("python3", "-c", "import moto; print(moto.__version__)").Output(); err == nil {
		m.Moto = strings.TrimSpace(string(out))
	}
	return m
}

const (
	maxBootstrapBytes = 12 << 20
	maxPeakRSS        = 64 << 20
)

func (r *Results) judge() {
	add := func(name string, pass bool, value, limit string) {
		r.Targets = append(r.Targets, Target{Name: name, Value: value, Limit: limit, Pass: pass})
	}
	cs := r.ColdStart
	if cs.HelloMedian > 0 {
		add("cold start vs hello world", cs.Ratio <= 2, fmt.Sprintf("%.2fx (%.1f vs %.1f ms)", cs.Ratio, cs.RefresherMedian, cs.HelloMedian), "<= 2x")
	}
	for _, s := range r.Calls {
		if s.MaxCalls > 0 {
			add("calls: "+s.Name, s.Calls.Total <= s.MaxCalls, fmt.Sprintf("%d (%s)", s.Calls.Total, s.Calls), fmt.Sprintf("<= %d", s.MaxCalls))
			add("time: "+s.Name, s.Ratio <= 1.1, fmt.Sprintf("%.3fx (%.1f vs %.1f ms)", s.Ratio, s.Function, s.Direct), "<= 1.1x direct")
		}
	}
	for _, m := range r.Many {
		name := fmt.Sprintf("%d secrets, C=%d, L=%.0f ms", m.Secrets, m.Concurrency, m.LatencyMs)
		value := fmt.Sprintf("%.2fx (%.0f vs %.0f ms)", m.RatioIdeal, m.FunctionMs, m.IdealMs)
		if m.DirectMs > 0 {
			// How much of the budget the servers take: the same calls made
			// directly at the same concurrency, against the same ideal.
			value += fmt.Sprintf("; the direct floor is %.2fx", m.DirectMs/m.IdealMs)
			if m.DirectMs/m.IdealMs > 1.2 {
				value += ": server-bound"
			}
		}
		if m.Failed > 0 {
			value += fmt.Sprintf("; %d FAILED", m.Failed)
		}
		add(name, m.RatioIdeal <= 1.2 && m.Failed == 0, value, "<= 1.2x ideal")
		if m.DirectMs > 0 {
			add(name+", vs same-C direct", m.RatioDirect <= 1.2 && m.Failed == 0,
				fmt.Sprintf("%.2fx (%.0f vs %.0f ms)", m.RatioDirect, m.FunctionMs, m.DirectMs), "<= 1.2x direct")
		}
		add("peak RSS, "+name, m.PeakRSSBytes < maxPeakRSS, mib(m.PeakRSSBytes), "< 64 MiB")
	}
	for _, s := range r.Sizes {
		add("bootstrap size "+s.Arch, s.Bytes < maxBootstrapBytes, mib(s.Bytes), "< 12 MiB")
	}
}

func mib(b int64) string { return fmt.Sprintf("%.2f MiB", float64(b)/(1<<20)) }

func (r *Results) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	m := r.Machine
	fmt.Fprintf(tw, "\nmachine: %s, %d cores, %s, %s, moto_server %s, %s\n", m.CPU, m.Cores, m.OS, m.GoVersion, m.Moto, m.Date)
	fmt.Fprintf(tw, "load: loadavg %s at the start, %s at the end; other processes used %.0f%% of the machine's CPU during the run\n",
		m.Load.LoadAvgStart, m.Load.LoadAvgEnd, 100*m.Load.OthersShare)
	fmt.Fprintf(tw, "latency L = %.0f ms on every Secrets Manager and MightyCall call\n", r.Settings.LatencyMs)

	cs := r.ColdStart
	fmt.Fprintf(tw, "\nCold start (runtime INIT, median of %d, alternating)\tms\n", cs.Runs)
	fmt.Fprintf(tw, "  refresher bootstrap\t%.2f\t%v\n", cs.RefresherMedian, cs.RefresherMs)
	fmt.Fprintf(tw, "  hello-world aws-lambda-go\t%.2f\t%v\n", cs.HelloMedian, cs.HelloMs)
	fmt.Fprintf(tw, "  ratio\t%.2fx\n", cs.Ratio)
	fmt.Fprintf(tw, "  (empty handler, warm: the emulator's own share of a REPORT Duration)\t%.2f\n", cs.HelloInvokeMs)

	fmt.Fprintf(tw, "\nCalls and latency (median of %d)\tcalls\tfunction ms\tinvoke wall ms\tdirect ms\tratio\n", r.Settings.Reps)
	for _, s := range r.Calls {
		fmt.Fprintf(tw, "  %s\t%d (%s)\t%.1f\t%.1f\t%.1f\t%.3fx\n", s.Name, s.Calls.Total, s.Calls, s.Function, s.Wall, s.Direct, s.Ratio)
	}

	if len(r.Many) > 0 {
		fmt.Fprintf(tw, "\nMany secrets (one forced invocation; median of %d runs at L = %.0f ms)\tfunction ms\tper-secret direct ms\tideal ms\tvs ideal\tdirect same C ms\tvs direct\tpeak RSS\tcalls/secret\tconns SM/MC fn (direct)\tfn CPU ms\tmoto busy fn (direct)\n", r.Settings.ManyReps, r.Settings.LatencyMs)
		for _, m := range r.Many {
			direct, vsDirect, connsDirect, motoDirect := "-", "-", "", ""
			if m.DirectMs > 0 {
				direct, vsDirect = fmt.Sprintf("%.0f", m.DirectMs), fmt.Sprintf("%.2fx", m.RatioDirect)
				connsDirect = fmt.Sprintf(" (%d/%d)", m.DirectCalls.SMConns, m.DirectCalls.MCConns)
				motoDirect = fmt.Sprintf(" (%.0f%%)", 100*m.DirectMotoBusy)
			}
			fmt.Fprintf(tw, "  %d secrets, C=%d, L=%.0f ms\t%.0f\t%.1f\t%.0f\t%.2fx\t%s\t%s\t%s\t%.2f\t%d/%d%s\t%.0f\t%.0f%%%s\n",
				m.Secrets, m.Concurrency, m.LatencyMs, m.FunctionMs, m.PerSecretDirectMs, m.IdealMs, m.RatioIdeal, direct, vsDirect,
				mib(m.PeakRSSBytes), m.CallsPerSecret, m.Calls.SMConns, m.Calls.MCConns, connsDirect,
				m.FunctionCPUMs, 100*m.MotoBusy, motoDirect)
		}
	}

	fmt.Fprintf(tw, "\nBootstrap size\tbytes\thello world\n")
	for _, s := range r.Sizes {
		fmt.Fprintf(tw, "  linux/%s\t%d (%s)\t%d\n", s.Arch, s.Bytes, mib(s.Bytes), s.HelloBytes)
	}

	if len(r.GoBench) > 0 {
		fmt.Fprintf(tw, "\nGo benchmarks\tns/op\tB/op\tallocs/op\n")
		for _, b := range r.GoBench {
			fmt.Fprintf(tw, "  %s\t%.0f\t%d\t%d\n", b.Name, b.NsPerOp, b.BytesPerOp, b.AllocsPerOp)
		}
	}

	fmt.Fprintf(tw, "\nSPEC 7 targets\tvalue\tlimit\t\n")
	for _, t := range r.Targets {
		verdict := "PASS"
		if !t.Pass {
			verdict = "MISS"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", t.Name, t.Value, t.Limit, verdict)
	}
	tw.Flush()
}

func (r *Results) write(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
