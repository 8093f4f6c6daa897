// Command demo shows the refresher's main job end to end on this machine, with
// no AWS account and no MightyCall account (`make demo`).
//
// It starts a local Secrets Manager (moto_server), the MightyCall emulator
// (cmd/mightycall-emulator, as a process) and the Lambda runtime emulator
// (aws-lambda-rie) running the real bootstrap of cmd/refresher, built the way
// the Makefile builds it but for this machine's architecture. Then it walks
// through the job step by step (see demo.steps), narrating each one, with the
// function's own JSON log lines. Keys and tokens are masked everywhere: every
// line printed, and every log file written, goes through a masker that knows
// the demo's keys and every token it has seen.
//
// Whatever happens (success, a failed step, Ctrl-C), it stops everything it
// started and checks that none of it is still running. It exits 1 on a
// failure and 130 when interrupted. The services and processes come from
// package refresher/localenv, the same code the integration tests use.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first Ctrl-C the demo stops what it started; a second
		// one ends it at once (its children die with it: see localenv).
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Stdout)
	interrupted := ctx.Err() != nil
	stop()
	switch {
	case err != nil && interrupted:
		fmt.Fprintln(os.Stderr, "demo: interrupted; everything it started has been stopped")
		os.Exit(130)
	case err != nil:
		fmt.Fprintf(os.Stderr, "demo: FAILED: %v\n", err)
		os.Exit(1)
	}
}
