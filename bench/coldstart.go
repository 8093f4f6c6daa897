package main

import (
	"context"
	"fmt"
	"time"
)

// ColdStart compares the runtime init of the refresher's bootstrap with a
// hello-world aws-lambda-go function built the same way, each started fresh
// under its own runtime emulator, alternating.
type ColdStart struct {
	Runs            int       `json:"runs"`
	RefresherMs     []float64 `json:"refresher_init_ms"`
	HelloMs         []float64 `json:"hello_init_ms"`
	RefresherMedian float64   `json:"refresher_init_median_ms"`
	HelloMedian     float64   `json:"hello_init_median_ms"`
	Ratio           float64   `json:"ratio"`
	// HelloInvokeMs is the median REPORT Duration of a warm invocation of
	// the empty hello-world handler: what the runtime emulator itself adds
	// to every Duration.
	HelloInvokeMs float64 `json:"hello_warm_invoke_median_ms"`
}

// coldStart measures INIT REPORT(durationMs) of both functions. The
// refresher gets the environment of a real run (moto endpoint, SECRET_IDS,
// MightyCall base URL), so its init does what production's does, and its
// first invocation refreshes one fresh secret.
func coldStart(ctx context.Context, e *env, runs int, secretID string) (ColdStart, error) {
	cs := ColdStart{Runs: runs}
	fnEnv := append(e.moto.Env(), "SECRET_IDS="+secretID, "MIGHTYCALL_BASE_URL="+e.emURL)
	var warm []float64
	one := func(bootstrap string, hello bool) (float64, error) {
		f, err := startFunction(bootstrap, fnEnv, 30*time.Second)
		if err != nil {
			return 0, err
		}
		defer f.stop()
		if _, err := f.invoke(ctx, []byte(`{}`)); err != nil {
			return 0, fmt.Errorf("%s: %w", bootstrap, err)
		}
		d, err := f.rie.RuntimeInitDuration()
		if err != nil {
			return 0, err
		}
		if hello {
			inv, err := f.invoke(ctx, []byte(`{}`))
			if err != nil {
				return 0, err
			}
			warm = append(warm, ms(inv.Duration))
		}
		return ms(d), nil
	}
	// One unmeasured start of each first: page cache, Go build cache.
	for _, b := range []string{e.bootstrap, e.hello} {
		if _, err := one(b, false); err != nil {
			return cs, err
		}
	}
	warm = nil
	for i := range runs {
		order := []bool{false, true} // refresher first on even runs
		if i%2 == 1 {
			order = []bool{true, false}
		}
		for _, hello := range order {
			b := e.bootstrap
			if hello {
				b = e.hello
			}
			d, err := one(b, hello)
			if err != nil {
				return cs, err
			}
			if hello {
				cs.HelloMs = append(cs.HelloMs, d)
			} else {
				cs.RefresherMs = append(cs.RefresherMs, d)
			}
		}
	}
	cs.RefresherMedian, cs.HelloMedian = median(cs.RefresherMs), median(cs.HelloMs)
	cs.Ratio = cs.RefresherMedian / cs.HelloMedian
	cs.HelloInvokeMs = median(warm)
	return cs, nil
}
