// Package testenv starts the real local services that the repository's
// integration tests run against: moto_server (a local AWS Secrets Manager) and
// aws-lambda-rie (the AWS Lambda Runtime Interface Emulator), and builds Lambda
// bootstraps for the emulator.
//
// Tests that use it carry the `integration` build tag; `make test` runs
// `go test -race -tags integration ./...` with moto_server and aws-lambda-rie on
// PATH. A missing tool FAILS the test with a message naming the tool and
// `make test`: nothing here ever skips, so CI cannot pass by silently testing
// nothing.
//
// # Moto
//
// StartMoto gives a test its own moto_server (stopped in t.Cleanup). To share
// one moto_server between all tests of a package, start it once from TestMain
// with RunWithMoto, which keeps no state in this package: the running *Moto is
// handed to a function that stores it in the test package's own variable.
//
//	var moto *testenv.Moto
//
//	func TestMain(m *testing.M) {
//		os.Exit(testenv.RunWithMoto(m, func(mo *testenv.Moto) int {
//			moto = mo
//			return m.Run()
//		}))
//	}
//
// Tests sharing a moto_server isolate themselves by naming their secrets with
// UniqueName. Moto 5.2.1 differs from AWS in places (see
// shared/secrets-manager-notes.md); in particular always read with an explicit
// VersionStage.
//
// Moto.Client builds a Secrets Manager client the way production does
// (config.LoadDefaultConfig); Moto.Env gives a child process (the Lambda
// bootstrap under the emulator) the variables that point the same code at
// this moto_server.
//
// # Lambda runtime emulator
//
// BuildBootstrap (or a BootstrapCache, which builds each package once per test
// binary) compiles a main package into a static "bootstrap" executable for the
// host (CGO_ENABLED=0, -trimpath, -ldflags "-s -w"); StartRIE runs it under aws-lambda-rie on two free loopback ports (the
// emulator's invoke endpoint and the runtime API), so several emulators can run
// at once. Each emulator serves one invocation at a time: RIE.Invoke
// serialises the calls made on one *RIE (a concurrent second invocation makes
// this emulator version panic and exit); concurrency tests start several.
// Invoke fails the test on a transport failure; from other goroutines use
// RIE.TryInvoke, which returns the error instead.
//
// What this emulator version (aws-lambda-rie built from
// aws-lambda-runtime-interface-emulator v0.0.0-20261030222936-bef5c4ba774d)
// answers, as seen here:
//
//   - Success: HTTP 200, the handler's result as the body.
//   - The handler returned an error: HTTP 200, body
//     {"errorMessage":"…","errorType":"…"}, and NO X-Amz-Function-Error header
//     (the emulator drops the runtime's error headers). Invoke recognises the
//     error by the body's shape; see Invocation.FunctionError.
//   - The runtime process exited or panicked (Go handler panic, os.Exit):
//     HTTP 502 with an error body such as {"errorType":"Runtime.ExitError",…};
//     the next invocation starts a new runtime process (a new init).
//   - Timeout (AWS_LAMBDA_FUNCTION_TIMEOUT): HTTP 200 with the plain-text body
//     "Task timed out after N.00 seconds"; the runtime is killed and re-initialised
//     on the next invocation.
//
// The function's init runs on the first invocation, not at emulator start.
// The first REPORT line carries "Init Duration: X ms" (RIE.InitDuration), but
// in this emulator version that number only times the emulator's hand-off of
// the init request (hundredths of a millisecond), not the runtime's own init;
// the emulator's log line "INIT REPORT(durationMs: X)" carries the real
// runtime init time (RIE.RuntimeInitDuration).
//
// The emulator and so the function do not inherit the test process's
// environment (which might hold real AWS credentials or profiles): they get
// PATH, a fresh HOME, RIEOptions.Env (normally Moto.Env) and
// AWS_LAMBDA_FUNCTION_TIMEOUT.
package testenv
