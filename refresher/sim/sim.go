// Package sim runs the real refresher (refresher.Refresher, unchanged) for
// weeks of virtual time in a few seconds: scheduled refreshes and Secrets
// Manager rotations against memstore (Secrets Manager's version and label
// semantics) and the MightyCall emulator, served in process behind the real
// mightycall.Client, with seeded random faults on both sides and an
// optional MightyCall outage. It checks the invariants after every event,
// models the CloudWatch alarm from the function's own EMF metrics, and
// reports the figures the targets are stated in.
//
// A seed reproduces a run, with one exception outside this package:
// mightycall.Client draws its backoff jitter from the unseedable global
// math/rand/v2, and the clock advances by the jittered delays. Counts are
// unaffected in practice (issued_at is taken before the exchange, so its
// retries do not move expires_at); instants measured inside a run with
// retries (the alarm's datapoint times) can move by a few seconds.
package sim

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall/emulator"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/memstore"
)

// Concurrency is the CONCURRENCY the simulated function runs with. One
// virtual clock serves every goroutine, so parallel refreshes would add up
// their waits instead of overlapping and draw random faults in a racy
// order; one at a time keeps a seed reproducible and is pessimistic (all
// secrets share one invocation's deadline in turn).
const Concurrency = 1

// Random streams, one per concern, so that changing one rate does not
// reshuffle the others.
const (
	streamMCFaults = iota + 1
	streamMCLatency
	streamSMFaults
	streamSMLatency
	streamRotation
)

type eventKind int

const (
	evTick        eventKind = iota // scheduled refresh
	evAsyncRetry                   // Lambda's retry of a failed scheduled invocation
	evRotation                     // a secret's rotation is due
	evRotateRetry                  // Secrets Manager retries an unfinished rotation
)

type event struct {
	at      time.Time
	seq     int
	kind    eventKind
	secret  int
	attempt int // evAsyncRetry: retry number
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// secretState is what the observer knows of one secret.
type secretState struct {
	id      string
	apiKey  string
	userKey string

	curVID     string // AWSCURRENT's version when last parsed
	curDoc     secrets.Document
	hasToken   bool
	firstToken time.Time
	expiresAt  time.Time
	staleRT    bool // AWSCURRENT's refresh token is no longer accepted
	versions   map[string]bool

	rotToken    string // ClientRequestToken of the rotation in progress
	rotAttempts int
	rotStarted  map[string]time.Time // rotation tokens, for the examples
	rotDone     map[string]bool

	rep SecretReport
}

type world struct {
	cfg     Config
	clock   *Clock
	mem     *memstore.Store
	sm      *smStore
	em      *emulator.Server
	mc      *mcTransport
	r       *refresher.Refresher
	metrics *metricsSink
	alarm   *alarm
	rng     *rand.Rand // rotation phases and rotation tokens

	secrets []*secretState
	queue   eventQueue
	seq     int

	lastObs     time.Time
	firstExpiry time.Time
	failures    []time.Time // function errors (Lambda's Errors metric)
	runs        RunStats
	inv         InvariantReport
}

// Run simulates cfg and reports. An error means the simulation itself could
// not run; missed targets are in Report.Checks and Report.Passed.
func Run(cfg Config) (Report, error) {
	return run(cfg, nil)
}

// RunWithLog is Run with the refresher's JSON log lines written to log,
// stamped with virtual time.
func RunWithLog(cfg Config, log io.Writer) (Report, error) {
	return run(cfg, log)
}

func run(cfg Config, logw io.Writer) (Report, error) {
	if cfg.Start.IsZero() {
		cfg.Start = DefaultStart
	}
	if err := cfg.validate(); err != nil {
		return Report{}, err
	}
	if !cfg.Start.After(time.Now().Add(time.Duration(cfg.Days+365) * 24 * time.Hour)) {
		return Report{}, errors.New("the virtual start must lie well in the real future (see DefaultStart)")
	}
	w, err := newWorld(cfg, logw)
	if err != nil {
		return Report{}, err
	}
	w.loop()
	return w.report(), nil
}

func stream(seed uint64, n int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15*uint64(n)))
}

func newWorld(cfg Config, logw io.Writer) (*world, error) {
	w := &world{cfg: cfg, clock: NewClock(cfg.Start), metrics: &metricsSink{}, rng: stream(cfg.Seed, streamRotation)}
	w.alarm = newAlarm(cfg.AlarmThreshold, cfg.AlarmPeriod, cfg.Start)
	w.lastObs = cfg.Start
	w.mem = memstore.New(w.clock.Now)
	w.sm = &smStore{mem: w.mem, clock: w.clock, rate: cfg.SMFaultRate, sdkRetry: cfg.SMSDKRetry,
		rng: stream(cfg.Seed, streamSMFaults), lat: stream(cfg.Seed, streamSMLatency)}
	w.em = emulator.New(emulator.Options{Now: w.clock.Now})

	ids := make([]string, cfg.Secrets)
	for i := range ids {
		s := &secretState{
			id:         fmt.Sprintf("mightycall/sim-%02d", i+1),
			apiKey:     fmt.Sprintf("sim-api-key-%02d", i+1),
			userKey:    fmt.Sprintf("sim-user-key-%02d", i+1),
			versions:   map[string]bool{},
			rotStarted: map[string]time.Time{},
			rotDone:    map[string]bool{},
		}
		s.rep.SecretID = s.id
		ids[i] = s.id
		w.em.AddAccount(emulator.Account{APIKey: s.apiKey, UserKey: s.userKey})
		body, _ := json.Marshal(map[string]string{secrets.FieldAPIKey: s.apiKey, secrets.FieldUserKey: s.userKey})
		w.mem.Create(s.id, body)
		for vid := range w.mem.Stages(s.id) {
			s.versions[vid] = true // the user's version is not counted as written
		}
		w.secrets = append(w.secrets, s)
	}

	env := map[string]string{
		"SECRET_IDS":               strings.Join(ids, ","),
		"REFRESH_MARGIN":           cfg.Margin.String(),
		"CONCURRENCY":              strconv.Itoa(Concurrency),
		"AWS_LAMBDA_FUNCTION_NAME": "mightycall-token-refresher-sim",
	}
	if cfg.TokenCheck {
		env["TOKEN_CHECK"] = "profile"
	}
	rcfg, err := refresher.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		return nil, fmt.Errorf("refresher configuration: %w", err)
	}
	w.mc = &mcTransport{cfg: cfg, clock: w.clock, em: w.em, rng: stream(cfg.Seed, streamMCFaults),
		lat: stream(cfg.Seed, streamMCLatency), timeout: rcfg.HTTPTimeout, faults: map[string]int{}}
	client := &mightycall.Client{
		HTTPClient: &http.Client{Timeout: rcfg.HTTPTimeout, Transport: w.mc},
		Now:        w.clock.Now,
		Sleep:      w.clock.Sleep,
	}
	logger := slog.New(slog.DiscardHandler)
	if logw != nil {
		logger = slog.New(slog.NewJSONHandler(logw, &slog.HandlerOptions{
			ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
				if len(groups) == 0 && a.Key == slog.TimeKey {
					return slog.Time(slog.TimeKey, w.clock.Now())
				}
				return a
			},
		}))
	}
	w.r = refresher.New(rcfg, refresher.Deps{Store: w.sm, Exchanger: client, Checker: client,
		Now: w.clock.Now, Logger: logger, Metrics: w.metrics})

	w.push(&event{at: cfg.Start, kind: evTick})
	if cfg.Rotation > 0 {
		for i := range w.secrets {
			// Spread the first rotations over the interval, off the schedule's
			// ticks (Secrets Manager picks its own moment in the window).
			phase := cfg.Rotation*time.Duration(i+1)/time.Duration(cfg.Secrets+1) +
				time.Duration(w.rng.Int64N(int64(cfg.Schedule)))
			w.push(&event{at: cfg.Start.Add(phase), kind: evRotation, secret: i})
		}
	}
	return w, nil
}

func (w *world) push(e *event) {
	w.seq++
	e.seq = w.seq
	heap.Push(&w.queue, e)
}

func (w *world) loop() {
	end := w.cfg.end()
	for w.queue.Len() > 0 {
		e := heap.Pop(&w.queue).(*event)
		if !e.at.Before(end) {
			break
		}
		// The state seen after the last event held until this one; observe
		// charges that interval after the event (see observe).
		w.clock.AdvanceTo(e.at)
		switch e.kind {
		case evTick:
			w.runs.Scheduled++
			w.push(&event{at: e.at.Add(w.cfg.Schedule), kind: evTick})
			w.scheduled(0)
		case evAsyncRetry:
			w.runs.AsyncRetries++
			w.scheduled(e.attempt)
		case evRotation:
			w.push(&event{at: e.at.Add(w.cfg.Rotation), kind: evRotation, secret: e.secret})
			w.rotation(e.secret, true)
		case evRotateRetry:
			w.rotation(e.secret, false)
		}
		w.observe()
	}
	w.clock.AdvanceTo(end)
	w.observe()
}

// invoke runs one invocation of the function with a fresh Lambda deadline.
func (w *world) invoke(payload []byte) (any, error) {
	start := w.clock.Now()
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(w.cfg.LambdaTimeout))
	defer cancel()
	out, err := w.r.Handle(ctx, payload)
	took := w.clock.Now().Sub(start)
	if took > w.cfg.LambdaTimeout {
		w.runs.OverTimeout++
	}
	w.runs.LongestSeconds = max(w.runs.LongestSeconds, int(took.Seconds()))
	return out, err
}

// scheduledEvent is what EventBridge sends on schedule.
func (w *world) scheduledEvent() []byte {
	b, _ := json.Marshal(map[string]any{
		"version":     "0",
		"id":          fmt.Sprintf("sim-%d", w.seq),
		"detail-type": "Scheduled Event",
		"source":      "aws.events",
		"account":     "000000000000",
		"time":        w.clock.Now().Format(time.RFC3339),
		"region":      "us-east-1",
		"resources":   []string{"arn:aws:events:us-east-1:000000000000:rule/mightycall-token-refresher-sim"},
		"detail":      map[string]any{},
	})
	return b
}

type pendingSnap struct {
	vid     string
	value   string
	current bool // the version also carries AWSCURRENT: a finished rotation
}

func (w *world) pendingSnap(id string) pendingSnap {
	vid, val := w.mem.ValueAt(id, secrets.StagePending)
	return pendingSnap{vid: vid, value: string(val), current: vid != "" && slices.Contains(w.mem.Stages(id)[vid], secrets.StageCurrent)}
}

// pendingElsewhere reports a version that carries AWSPENDING without
// AWSCURRENT.
func (w *world) pendingElsewhere(id string) (string, []string, bool) {
	for vid, stages := range w.mem.Stages(id) {
		if slices.Contains(stages, secrets.StagePending) && !slices.Contains(stages, secrets.StageCurrent) {
			slices.Sort(stages)
			return vid, stages, true
		}
	}
	return "", nil, false
}

// stamp is the virtual time as an offset from the start, for examples.
func (w *world) stamp() string { return "+" + fmtOffset(w.clock.Now().Sub(w.cfg.Start)) }

func fmtOffset(d time.Duration) string {
	days := int(d / (24 * time.Hour))
	return fmt.Sprintf("%dd%s", days, (d - time.Duration(days)*24*time.Hour).Round(time.Second))
}

func (w *world) scheduled(attempt int) {
	before := make([]pendingSnap, len(w.secrets))
	for i, s := range w.secrets {
		before[i] = w.pendingSnap(s.id)
	}
	w.runs.Invocations++
	out, err := w.invoke(w.scheduledEvent())
	for i, s := range w.secrets {
		// SPEC 5.4: a scheduled refresh never moves, removes or rewrites the
		// AWSPENDING version of a rotation in progress. The label left on the
		// current version by a finished rotation may be removed (that is what
		// lets the next rotation start), never moved or rewritten.
		b, a := before[i], w.pendingSnap(s.id)
		switch {
		case a.vid == b.vid && a.value == b.value:
		case b.current && a.vid == "":
		default:
			w.inv.PendingTouched++
			what := "of a rotation in progress"
			if b.current {
				what = "left by a finished rotation"
			}
			w.example("%s at %s: a scheduled refresh moved or rewrote the AWSPENDING version %s", s.id, w.stamp(), what)
		}
	}
	var sum refresher.Summary
	var re *refresher.RunError
	switch {
	case err == nil:
		sum, _ = out.(refresher.Summary)
	case errors.As(err, &re):
		sum = re.Summary
	default:
		w.example("scheduled invocation failed outright: %v", err)
	}
	for _, e := range sum.Results {
		for _, s := range w.secrets {
			if s.id != e.SecretID {
				continue
			}
			switch e.Outcome {
			case refresher.Refreshed:
				s.rep.Refreshed++
			case refresher.Failed:
				s.rep.FailedRefreshes++
			}
		}
	}
	if err == nil {
		return
	}
	w.runs.Failed++
	w.failures = append(w.failures, w.clock.Now())
	if attempt < w.cfg.AsyncRetries {
		// Lambda retries a failed asynchronous invocation after about one
		// minute, then two.
		w.push(&event{at: w.clock.Now().Add(time.Duration(attempt+1) * time.Minute), kind: evAsyncRetry, attempt: attempt + 1})
		return
	}
	w.runs.FailedForGood++
}

var rotationSteps = []string{refresher.StepCreate, refresher.StepSet, refresher.StepTest, refresher.StepFinish}

// rotation does what Secrets Manager does: when a rotation is due,
// RotateSecret attaches AWSPENDING to a new empty version, then the function
// is invoked for each step in turn. A failed step ends the attempt; the
// rotation is tried again from createSecret with the same token one
// schedule period later, up to RotationAttempts times, and is then
// abandoned until the next due time. Secrets Manager starts a new rotation
// only when AWSPENDING is on no version or on the AWSCURRENT one;
// otherwise it reattempts the unfinished rotation, whose token is the
// version carrying AWSPENDING ("A previous rotation isn't complete. That
// rotation will be reattempted."), which is modelled here too, since
// memstore's StartRotation would simply move the label.
func (w *world) rotation(i int, due bool) {
	s := w.secrets[i]
	if due {
		if s.rotToken != "" {
			w.runs.RotationsSkipped++
			return
		}
		if vid, stages, stuck := w.pendingElsewhere(s.id); stuck {
			w.runs.RotationsResumed++
			if at, ok := s.rotStarted[vid]; ok && !s.rotDone[vid] {
				w.example("%s at %s: Secrets Manager reattempts the rotation started at +%s, abandoned earlier",
					s.id, w.stamp(), fmtOffset(at.Sub(w.cfg.Start)))
			} else {
				// AWSPENDING was left behind on a version that is not (or no
				// longer) a rotation in progress: Secrets Manager takes it for one.
				w.runs.RotationsOnLeftover++
				what := "a version no rotation wrote"
				if ok {
					what = "the version of the rotation that finished, started at +" + fmtOffset(at.Sub(w.cfg.Start))
				}
				w.example("%s at %s: AWSPENDING is still on %s (labels %v, not AWSCURRENT): Secrets Manager reattempts that as an unfinished rotation",
					s.id, w.stamp(), what, stages)
			}
			s.rotToken = vid
		} else {
			s.rotToken = w.mem.StartRotation(s.id)
			s.rotStarted[s.rotToken] = w.clock.Now()
		}
		s.rotAttempts = 0
	}
	if s.rotToken == "" {
		return
	}
	s.rotAttempts++
	rotationToken := fmt.Sprintf("%016x%016x", w.rng.Uint64(), w.rng.Uint64())
	for _, step := range rotationSteps {
		payload, _ := json.Marshal(map[string]string{
			"Step": step, "SecretId": s.id, "ClientRequestToken": s.rotToken, "RotationToken": rotationToken,
		})
		w.runs.RotationSteps++
		if _, err := w.invoke(payload); err != nil {
			w.runs.RotationFailed++
			w.failures = append(w.failures, w.clock.Now())
			s.rep.RotationAttemptsFailed++
			if s.rotAttempts < w.cfg.RotationAttempts {
				w.push(&event{at: w.clock.Now().Add(w.cfg.Schedule), kind: evRotateRetry, secret: i})
			} else {
				s.rep.RotationsAbandoned++
				s.rotToken = ""
			}
			return
		}
	}
	s.rep.RotationsCompleted++
	s.rotDone[s.rotToken] = true
	s.rotToken = ""
}

// observe integrates the time since the last observation with the state
// seen then (the state changes only inside events, so an event's own
// duration is charged to the state before it: conservative), then checks
// the invariants and takes the new state.
func (w *world) observe() {
	now := w.clock.Now()
	from := w.lastObs
	for _, s := range w.secrets {
		if s.hasToken && now.After(from) {
			start := from
			if s.expiresAt.After(start) {
				start = s.expiresAt
			}
			if now.After(start) {
				s.rep.ExpiredSeconds += now.Sub(start).Seconds()
				if w.firstExpiry.IsZero() || start.Before(w.firstExpiry) {
					w.firstExpiry = start
				}
			}
			if s.staleRT {
				s.rep.StaleRefreshTokenSeconds += now.Sub(from).Seconds()
			}
		}
	}
	w.lastObs = now

	w.inv.Observations++
	for _, s := range w.secrets {
		stages := w.mem.Stages(s.id)
		current := 0
		for vid, st := range stages {
			s.versions[vid] = true
			if slices.Contains(st, secrets.StageCurrent) {
				current++
			}
		}
		if current != 1 {
			w.inv.NotOneCurrent++
			w.example("%s at %s: %d versions carry AWSCURRENT", s.id, w.stamp(), current)
		}
		vid, value := w.mem.ValueAt(s.id, secrets.StageCurrent)
		doc := s.curDoc
		if vid != s.curVID {
			var err error
			if doc, err = secrets.ParseDocument(value); err != nil {
				w.example("%s: AWSCURRENT does not parse: %v", s.id, err)
				continue
			}
			s.curVID, s.curDoc = vid, doc
		}
		if doc.AccessToken.IsZero() {
			if s.hasToken {
				w.example("%s at %s: AWSCURRENT lost its token", s.id, w.stamp())
			}
			continue
		}
		if !s.hasToken {
			s.hasToken, s.firstToken = true, now
			s.rep.FirstTokenAt = now.Format(time.RFC3339)
		}
		s.expiresAt = doc.ExpiresAt
		if doc.ExpiresAt.After(now) && !w.em.TokenValid(doc.AccessToken.Reveal()) {
			w.inv.RejectedBeforeExpiry++
			w.example("%s at %s: MightyCall rejects AWSCURRENT's access token, which expires at %s",
				s.id, w.stamp(), doc.ExpiresAt.Format(time.RFC3339))
		}
		s.staleRT = !doc.RefreshToken.IsZero() && !w.em.RefreshTokenValid(doc.RefreshToken.Reveal())
		if s.staleRT {
			s.rep.StaleRefreshTokenObservations++
			if s.rep.StaleRefreshTokenObservations == 1 {
				w.example("%s at %s: AWSCURRENT holds a refresh token MightyCall no longer accepts (first seen)",
					s.id, w.stamp())
			}
		}
	}

	for _, d := range w.metrics.take() {
		w.alarm.datapoint(d)
	}
	w.alarm.advance(now)
}

const maxExamples = 20

func (w *world) example(format string, args ...any) {
	if len(w.inv.Examples) < maxExamples {
		w.inv.Examples = append(w.inv.Examples, fmt.Sprintf(format, args...))
	}
}

func (w *world) report() Report {
	cfg := w.cfg
	days := float64(cfg.Days)
	rep := Report{
		Seed: cfg.Seed, Start: cfg.Start, End: cfg.end(), Days: days,
		Config: ReportConfig{
			Days: cfg.Days, Secrets: cfg.Secrets, Margin: cfg.Margin.String(), Schedule: cfg.Schedule.String(),
			Rotation: durOrOff(cfg.Rotation), RotationAttempts: cfg.RotationAttempts, LambdaTimeout: cfg.LambdaTimeout.String(),
			AsyncRetries: cfg.AsyncRetries, Concurrency: Concurrency, MCFaultRate: cfg.MCFaultRate, SMFaultRate: cfg.SMFaultRate,
			SMSDKRetry: cfg.SMSDKRetry, TokenCheck: cfg.TokenCheck, AlarmThreshold: cfg.AlarmThreshold.String(),
			AlarmPeriod: cfg.AlarmPeriod.String(), MaxExchangesPerDay: cfg.MaxExchangesPerDay, MinAlarmLead: cfg.MinAlarmLead.String(),
		},
		Runs:       w.runs,
		Invariants: w.inv,
	}
	if cfg.Outage > 0 {
		rep.Config.OutageStart, rep.Config.Outage = cfg.OutageStart.String(), cfg.Outage.String()
	}
	life := mightycall.DocumentedLifetime
	rep.MinExchangesPerDay = float64(24*time.Hour) / float64(life-cfg.Margin)
	rep.MinExchangesPerDayRotation, rep.MaxMinExchangesPerDayRotation = rep.MinExchangesPerDay, rep.MinExchangesPerDay
	switch {
	case cfg.Rotation <= 0:
	case cfg.Rotation <= life-cfg.Margin: // rotations come before any refresh is due
		perDay := float64(24*time.Hour) / float64(cfg.Rotation)
		rep.MinExchangesPerDayRotation, rep.MaxMinExchangesPerDayRotation = perDay, perDay
	default:
		perDay := float64(24*time.Hour) / float64(cfg.Rotation)
		rep.MinExchangesPerDayRotation += perDay / 2
		rep.MaxMinExchangesPerDayRotation += perDay
	}

	// Exchanges per secret, from the emulator's request log.
	byKey := map[string]*secretState{}
	for _, s := range w.secrets {
		byKey[s.apiKey] = s
	}
	for _, q := range w.em.Requests() {
		s := byKey[q.Header.Get("X-Api-Key")]
		if s == nil {
			continue
		}
		if q.Status == http.StatusOK && !q.Fault {
			s.rep.Exchanges++
		}
		if q.Error == emulator.ErrInvalidGrant {
			s.rep.RefreshRejected++
		}
	}
	total := SecretReport{SecretID: "total"}
	for _, s := range w.secrets {
		r := s.rep
		r.Versions = len(s.versions) - 1 // the user's first version
		r.ExchangesPerDay = float64(r.Exchanges) / days
		r.VersionsPerDay = float64(r.Versions) / days
		rep.Secrets = append(rep.Secrets, r)
		total.ExpiredSeconds += r.ExpiredSeconds
		total.Exchanges += r.Exchanges
		total.RefreshRejected += r.RefreshRejected
		total.Versions += r.Versions
		total.Refreshed += r.Refreshed
		total.FailedRefreshes += r.FailedRefreshes
		total.RotationsCompleted += r.RotationsCompleted
		total.RotationAttemptsFailed += r.RotationAttemptsFailed
		total.RotationsAbandoned += r.RotationsAbandoned
		total.StaleRefreshTokenSeconds += r.StaleRefreshTokenSeconds
		total.StaleRefreshTokenObservations += r.StaleRefreshTokenObservations
	}
	n := float64(len(w.secrets))
	total.ExchangesPerDay = float64(total.Exchanges) / days / n
	total.VersionsPerDay = float64(total.Versions) / days / n
	rep.Total = total

	st := w.em.Stats()
	rep.MightyCall = MightyCallStats{TokenRequests: st.TokenRequests, Success: st.Success,
		ClientCredentials: st.ClientCredentials, RefreshToken: st.RefreshToken, Errors: st.Errors,
		Faults: w.mc.faults, ProfileOK: st.ProfileOK}
	if st.Success != total.Exchanges {
		rep.Invariants.Examples = append(rep.Invariants.Examples,
			fmt.Sprintf("emulator counted %d successes, the request log %d", st.Success, total.Exchanges))
	}
	rep.SM = SMStats{Calls: map[string]int{}, Throttled: w.sm.throttled, Lost: w.sm.lost, Surfaced: w.sm.surfaced}
	for _, op := range []string{memstore.OpGet, memstore.OpPut, memstore.OpMove, memstore.OpDescribe} {
		rep.SM.Calls[op] = w.mem.Calls(op)
	}
	rep.SM.PutsPerDay = float64(rep.SM.Calls[memstore.OpPut]) / days / n

	rep.Alarm = w.alarmReport()
	rep.Checks = w.checks(rep)
	rep.Passed = true
	for _, c := range rep.Checks {
		rep.Passed = rep.Passed && c.Pass
	}
	return rep
}

func durOrOff(d time.Duration) string {
	if d <= 0 {
		return "off"
	}
	return d.String()
}

func (w *world) alarmReport() AlarmReport {
	a := AlarmReport{Datapoints: w.metrics.aggregate - w.metrics.noMin - w.metrics.bad, RunsNoData: w.metrics.noMin,
		MalformedMetricLines: w.metrics.bad, Firings: w.alarm.firings}
	if a.Firings == nil {
		a.Firings = []Firing{}
	}
	failures := failureFirings(w.failures)
	a.FailureFirings = len(failures)
	for _, f := range failures {
		a.FailureHoursInAlarm += int(f.Cleared.Sub(f.At.Truncate(time.Hour)) / time.Hour)
	}
	if w.firstExpiry.IsZero() {
		a.Summary = "never expired"
		if len(a.Firings) > 0 {
			a.Summary += fmt.Sprintf("; the expiry alarm fired %d time(s) anyway", len(a.Firings))
		}
		return a
	}
	a.FirstExpiry = w.firstExpiry.Format(time.RFC3339)
	if lead, _, ok := leadBefore(failures, w.firstExpiry); ok {
		h := lead.Hours()
		a.FailureLeadHours = &h
	}
	lead, f, ok := leadBefore(a.Firings, w.firstExpiry)
	switch {
	case !ok:
		a.Summary = "a token expired and the expiry alarm never fired"
	case lead >= 0:
		h := lead.Hours()
		a.LeadHours = &h
		a.Summary = fmt.Sprintf("fired %s before the first expiry (%s)", fmtHours(lead), f.Reason)
	default:
		h := lead.Hours()
		a.LeadHours = &h
		a.Summary = fmt.Sprintf("fired only %s AFTER the first expiry (%s)", fmtHours(-lead), f.Reason)
	}
	return a
}

func fmtHours(d time.Duration) string {
	return fmt.Sprintf("%s (%.3fh)", d.Round(time.Second), d.Hours())
}

func (w *world) checks(rep Report) []Check {
	cfg := w.cfg
	var cs []Check
	add := func(name, target, value string, pass bool) {
		cs = append(cs, Check{Name: name, Target: target, Value: value, Pass: pass})
	}
	add("one AWSCURRENT", "exactly one version carries AWSCURRENT at every check",
		fmt.Sprintf("%d violations in %d checks", rep.Invariants.NotOneCurrent, rep.Invariants.Observations),
		rep.Invariants.NotOneCurrent == 0)
	add("AWSPENDING left alone", "no scheduled refresh moves or rewrites AWSPENDING",
		fmt.Sprintf("%d violations", rep.Invariants.PendingTouched), rep.Invariants.PendingTouched == 0)
	if cfg.Rotation > 0 {
		add("no leftover AWSPENDING", "a due rotation never finds AWSPENDING left on a version that is not a rotation in progress",
			fmt.Sprintf("%d of the due rotations did", rep.Runs.RotationsOnLeftover), rep.Runs.RotationsOnLeftover == 0)
		if cfg.Outage == 0 {
			add("rotations complete", "no rotation abandoned after its attempts",
				fmt.Sprintf("%d completed, %d abandoned", rep.Total.RotationsCompleted, rep.Total.RotationsAbandoned),
				rep.Total.RotationsAbandoned == 0)
		}
	}
	var latest time.Duration
	missing := 0
	for _, s := range w.secrets {
		if !s.hasToken {
			missing++
		} else {
			latest = max(latest, s.firstToken.Sub(cfg.Start))
		}
	}
	add("bootstrap", "every secret gets its first token",
		fmt.Sprintf("%d of %d did, the last at +%s", len(w.secrets)-missing, len(w.secrets), fmtOffset(latest)), missing == 0)
	if cfg.Outage > 0 {
		var value string
		pass := true
		switch {
		case rep.Alarm.FirstExpiry == "":
			value = "never expired"
		case rep.Alarm.LeadHours == nil:
			value, pass = rep.Alarm.Summary, false
		default:
			lead := time.Duration(*rep.Alarm.LeadHours * float64(time.Hour))
			value = fmt.Sprintf("expiry alarm %s before the first expiry (threshold %s, schedule %s)",
				fmtHours(lead), cfg.AlarmThreshold, cfg.Schedule)
			pass = lead >= cfg.MinAlarmLead
			if !pass && lead > 0 {
				value += fmt.Sprintf("; the first datapoint below the threshold comes with less than %s left, up to one schedule period less, so %s needs a threshold above %s, e.g. %s",
					cfg.AlarmThreshold, cfg.MinAlarmLead, cfg.MinAlarmLead+cfg.Schedule, (cfg.MinAlarmLead + cfg.Schedule + time.Hour - 1).Truncate(time.Hour))
			}
			if fl := rep.Alarm.FailureLeadHours; fl != nil {
				value += fmt.Sprintf("; the failure alarm fired %.2fh before", *fl)
			}
		}
		add("alarm lead in the outage", fmt.Sprintf(">= %s before a token expires", cfg.MinAlarmLead), value, pass)
		return cs
	}
	add("expired seconds", "0 s with an expired token in AWSCURRENT",
		fmt.Sprintf("%.0f s", rep.Total.ExpiredSeconds), rep.Total.ExpiredSeconds == 0)
	worst := rep.Secrets[0]
	for _, s := range rep.Secrets {
		if s.ExchangesPerDay > worst.ExchangesPerDay {
			worst = s
		}
	}
	// The mean over the secrets: one secret's own rate also depends on how
	// many rotations fall in the window (5 or 4 in 30 days for 7-day ones).
	add("token exchanges", fmt.Sprintf("<= %.2f per secret per day (mean over secrets), rotations included", cfg.MaxExchangesPerDay),
		fmt.Sprintf("%.3f (worst secret %s %.3f; least possible %.3f from the schedule, %.3f with rotations)",
			rep.Total.ExchangesPerDay, worst.SecretID, worst.ExchangesPerDay, rep.MinExchangesPerDay, rep.MinExchangesPerDayRotation),
		rep.Total.ExchangesPerDay <= cfg.MaxExchangesPerDay)
	return cs
}
