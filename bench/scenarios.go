package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/localenv"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
)

// Scenario is one kind of invocation with the latency on every call: the
// function's calls and time against the same calls made directly.
type Scenario struct {
	Name string `json:"name"`
	// MaxCalls is the minimum SPEC section 5.1 allows (0: no target).
	MaxCalls int   `json:"max_calls,omitempty"`
	Calls    calls `json:"calls"`
	// DirectCalls are the benchmark's own calls (they should equal Calls).
	DirectCalls calls     `json:"direct_calls"`
	FunctionMs  []float64 `json:"function_ms"` // REPORT Duration, per run
	WallMs      []float64 `json:"invoke_wall_ms"`
	DirectMs    []float64 `json:"direct_ms"`
	Function    float64   `json:"function_median_ms"`
	Wall        float64   `json:"invoke_wall_median_ms"`
	Direct      float64   `json:"direct_median_ms"`
	Ratio       float64   `json:"ratio"`
}

// benchSecret creates a token secret (directly in moto, unmeasured) for a
// new emulator account, logged in and fresh. With split, the keys live in a
// credentials secret of their own and the token secret names it.
func (e *env) benchSecret(ctx context.Context, name string, split bool) (string, error) {
	apiKey, userKey := "ak-"+name, "uk-"+localenv.NewUUID()
	t, err := e.account(apiKey, userKey)
	if err != nil {
		return "", err
	}
	doc := map[string]any{"api_key": apiKey, "user_key": userKey, "owner": "bench"}
	if split {
		cred := name + "-keys"
		keys, _ := json.Marshal(map[string]any{"api_key": apiKey, "user_key": userKey})
		if err := e.createSecret(ctx, cred, string(keys)); err != nil {
			return "", err
		}
		doc = map[string]any{"credentials_secret_id": cred, "api_key": apiKey, "owner": "bench"}
	}
	return name, e.createSecret(ctx, name, withToken(doc, t, "client_credentials", time.Now()))
}

func (e *env) createSecret(ctx context.Context, name, value string) error {
	_, err := e.setup.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
	return err
}

// makeDue writes a new AWSCURRENT version (directly in moto) whose token
// expires within the refresh margin, keeping everything else. With rotated,
// AWSPENDING moves onto it too, as a finished rotation leaves it.
func (e *env) makeDue(ctx context.Context, id string, rotated bool) error {
	out, err := e.setup.GetSecretValue(ctx, current(id))
	if err != nil {
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &doc); err != nil {
		return err
	}
	doc["expires_at"] = time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	b, _ := json.Marshal(doc)
	// A labelled write and an explicit move: moto 5.2.1's implicit
	// AWSCURRENT on an unlabelled write can leave two versions AWSCURRENT
	// after a label move.
	to := localenv.NewUUID()
	if _, err := e.setup.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(id),
		ClientRequestToken: aws.String(to), SecretString: aws.String(string(b)), VersionStages: []string{"BENCH_SETUP"}}); err != nil {
		return err
	}
	if _, err = e.setup.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(id),
		VersionStage: aws.String(secrets.StageCurrent), MoveToVersionId: aws.String(to), RemoveFromVersionId: out.VersionId}); err != nil || !rotated {
		return err
	}
	in := &secretsmanager.UpdateSecretVersionStageInput{SecretId: aws.String(id), VersionStage: aws.String(secrets.StagePending), MoveToVersionId: aws.String(to)}
	if slices.Contains(out.VersionStages, secrets.StagePending) {
		in.RemoveFromVersionId = out.VersionId
	}
	_, err = e.setup.UpdateSecretVersionStage(ctx, in)
	return err
}

// startRotation leaves the secret as Secrets Manager does before it calls
// createSecret: rotation enabled, an AWSPENDING version without a value.
// moto's RotateSecret does that (it cannot invoke the made-up function).
func (e *env) startRotation(ctx context.Context, id string) (string, error) {
	// A finished rotation leaves AWSPENDING on the AWSCURRENT version, which
	// moto 5.2.1 takes for a rotation in progress (AWS does the opposite):
	// take the label off first.
	d, err := e.setup.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	if err != nil {
		return "", err
	}
	for v, stages := range d.VersionIdsToStages {
		if slices.Contains(stages, secrets.StagePending) {
			if _, err := e.setup.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
				SecretId: aws.String(id), VersionStage: aws.String(secrets.StagePending), RemoveFromVersionId: aws.String(v),
			}); err != nil {
				return "", err
			}
		}
	}
	_, rotErr := e.setup.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId:          aws.String(id),
		RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:123456789012:function:mightycall-token-refresher"),
		RotationRules:     &types.RotationRulesType{AutomaticallyAfterDays: aws.Int64(7)},
	})
	d, err = e.setup.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
	if err != nil {
		return "", err
	}
	var pending, cur string
	for v, stages := range d.VersionIdsToStages {
		for _, s := range stages {
			switch s {
			case secrets.StagePending:
				pending = v
			case secrets.StageCurrent:
				cur = v
			}
		}
	}
	if pending == "" || pending == cur {
		return "", fmt.Errorf("moto's RotateSecret left no new AWSPENDING version on %s (RotateSecret: %v; versions %v)", id, rotErr, d.VersionIdsToStages)
	}
	return pending, nil
}

var rotationSteps = []string{"createSecret", "setSecret", "testSecret", "finishSecret"}

const scheduledEvent = `{"version":"0","id":"5b1f7c8e-0d7a-4a57-9e0c-3c1f2d9e8a11","detail-type":"Scheduled Event",` +
	`"source":"aws.events","account":"123456789012","time":"2026-01-01T00:00:00Z","region":"us-east-1",` +
	`"resources":["arn:aws:events:us-east-1:123456789012:rule/mightycall-token-refresher"],"detail":{}}`

// measureCalls runs the fresh, due, split-layout due and rotation scenarios,
// reps times each, alternating the function and the direct floor.
func measureCalls(ctx context.Context, e *env, reps int) ([]Scenario, error) {
	fresh, err := e.benchSecret(ctx, "bench-fresh", false)
	if err != nil {
		return nil, err
	}
	due, err := e.benchSecret(ctx, "bench-due", false)
	if err != nil {
		return nil, err
	}
	split, err := e.benchSecret(ctx, "bench-split", true)
	if err != nil {
		return nil, err
	}
	rot, err := e.benchSecret(ctx, "bench-rotation", false)
	if err != nil {
		return nil, err
	}
	rotated, err := e.benchSecret(ctx, "bench-due-after-rotation", false)
	if err != nil {
		return nil, err
	}

	// measure runs prepare, then the function (or the floor), counting and
	// timing only the latter.
	measure := func(s *Scenario, prepare func() error, fn func() (invocation, error), direct func() error) error {
		for range reps {
			if err := prepare(); err != nil {
				return err
			}
			c := e.count()
			inv, err := fn()
			if err != nil {
				return fmt.Errorf("%s: function: %w", s.Name, err)
			}
			s.Calls = maxCalls(s.Calls, c.done())
			s.FunctionMs = append(s.FunctionMs, ms(inv.Duration))
			s.WallMs = append(s.WallMs, ms(inv.Wall))

			if err := prepare(); err != nil {
				return err
			}
			c = e.count()
			start := time.Now()
			if err := direct(); err != nil {
				return fmt.Errorf("%s: direct: %w", s.Name, err)
			}
			s.DirectMs = append(s.DirectMs, ms(time.Since(start)))
			s.DirectCalls = maxCalls(s.DirectCalls, c.done())
		}
		s.Function, s.Wall, s.Direct = median(s.FunctionMs), median(s.WallMs), median(s.DirectMs)
		s.Ratio = s.Function / s.Direct
		return nil
	}

	var out []Scenario
	for _, sc := range []struct {
		name     string
		id       string
		maxCalls int
		due      bool
		// rotated: AWSPENDING on AWSCURRENT, as a rotation finished by
		// another function (or a failed clean-up of ours) may leave it; our
		// finishSecret takes the label off, so after our own rotations the
		// next due refresh is the plain "due" case. No SPEC limit: the
		// fifth call is the clean-up that keeps the next rotation possible.
		rotated bool
	}{
		{"fresh", fresh, 1, false, false},
		{"due", due, 4, true, false},
		{"due, split layout", split, 5, true, false},
		{"due, AWSPENDING left on AWSCURRENT", rotated, 5, true, true},
	} {
		f, err := startFunction(e.bootstrap, e.functionEnv("SECRET_IDS="+sc.id), 30*time.Second)
		if err != nil {
			return nil, err
		}
		prepare := func() error { return nil }
		direct := func() error { return e.directFresh(ctx, sc.id) }
		if sc.due {
			prepare = func() error { return e.makeDue(ctx, sc.id, sc.rotated) }
			direct = func() error { return e.directDue(ctx, sc.id) }
		}
		// Warm up (init, connections) both sides, unmeasured.
		err = prepare()
		if err == nil {
			_, err = f.invoke(ctx, []byte(scheduledEvent))
		}
		if err == nil {
			err = prepare()
		}
		if err == nil {
			err = direct()
		}
		if err != nil {
			f.stop()
			return nil, fmt.Errorf("%s: warm-up: %w", sc.name, err)
		}
		s := Scenario{Name: sc.name, MaxCalls: sc.maxCalls}
		err = measure(&s, prepare, func() (invocation, error) { return f.invoke(ctx, []byte(scheduledEvent)) }, direct)
		f.stop()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}

	// A full rotation: the four steps, each its own invocation, summed.
	f, err := startFunction(e.bootstrap, e.functionEnv(), 30*time.Second)
	if err != nil {
		return nil, err
	}
	defer f.stop()
	if _, err := f.invoke(ctx, []byte(`{"secret_ids":["`+fresh+`"]}`)); err != nil {
		return nil, fmt.Errorf("rotation: warm-up: %w", err)
	}
	var version string
	rotationToken := localenv.NewUUID()
	prepare := func() (err error) {
		version, err = e.startRotation(ctx, rot)
		return err
	}
	s := Scenario{Name: "rotation (4 steps)"}
	err = measure(&s, prepare, func() (invocation, error) {
		var sum invocation
		for _, step := range rotationSteps {
			ev, _ := json.Marshal(map[string]string{"Step": step, "SecretId": rot, "ClientRequestToken": version, "RotationToken": rotationToken})
			inv, err := f.invoke(ctx, ev)
			if err != nil {
				return sum, fmt.Errorf("%s: %w", step, err)
			}
			sum.Duration += inv.Duration
			sum.Wall += inv.Wall
		}
		return sum, nil
	}, func() error {
		for _, step := range rotationSteps {
			if err := e.directRotationStep(ctx, step, rot, version, rotationToken); err != nil {
				return fmt.Errorf("%s: %w", step, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return append(out, s), nil
}

// maxCalls keeps the larger count of calls (runs should not differ).
func maxCalls(a, b calls) calls {
	if b.Total > a.Total {
		return b
	}
	return a
}
