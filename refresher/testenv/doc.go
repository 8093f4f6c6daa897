// Package testenv starts the real local services that the repository's
// integration tests run against: moto_server (a local AWS Secrets Manager) and
// aws-lambda-rie (the AWS Lambda Runtime Interface Emulator), and builds Lambda
// bootstraps for the emulator.
//
// It is a thin testing.TB layer over package refresher/localenv, which holds
// the implementation shared with `make demo`: here every failure fails the
// test (t.Fatal) and every started process is stopped in t.Cleanup.
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
// What this emulator version answers (results, handler errors, runtime exits,
// timeouts) and how Invocation tells them apart is described in package
// localenv.
//
// The emulator and so the function do not inherit the test process's
// environment (which might hold real AWS credentials or profiles): they get
// PATH, a fresh HOME, RIEOptions.Env (normally Moto.Env) and
// AWS_LAMBDA_FUNCTION_TIMEOUT.
package testenv
