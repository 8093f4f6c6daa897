// Package localenv starts the real local services the product runs against
// on a machine without an AWS account: moto_server (a local AWS Secrets
// Manager), aws-lambda-rie (the AWS Lambda Runtime Interface Emulator)
// running a Lambda bootstrap built for the host, and the MightyCall emulator
// (cmd/mightycall-emulator) as a process.
//
// It is the one implementation behind both the integration tests (package
// refresher/testenv wraps it for testing.TB) and `make demo` (cmd/demo). It
// does not depend on package testing: every Start function returns an error,
// and every running service has a Stop method that the caller must call
// (defer it). Stop sends SIGTERM, kills the child's process group with
// SIGKILL if it has not exited after a grace period, then kills whatever of
// that group outlived it (the runtime emulator's bootstrap), and reports an
// error if anything of it is still alive. On Linux each child also dies with
// the program that started it (Pdeathsig), so nothing is left behind even
// when that program is killed without running its deferred calls.
//
// Tools are found on PATH or in the module's .tools/bin (FindTool); a missing
// tool is an error naming it and the make targets that install it. Module
// paths ("./cmd/refresher") are resolved from the module root found above the
// current directory (ModuleRoot).
//
// # Moto
//
// StartMoto starts moto_server on a free loopback port and waits until it
// answers a probe that shows up in that very process's request log (so a
// server someone else started on a recycled port is never taken for ours);
// it retries on new ports after a lost race. Moto.Client builds a Secrets
// Manager client the way production does (config.LoadDefaultConfig); Moto.Env
// gives a child process (the Lambda bootstrap under the emulator) the
// variables that point the same code at this moto_server. Moto 5.2.1
// differs from AWS in places (see shared/secrets-manager-notes.md); in
// particular always read with an explicit VersionStage.
//
// # Lambda runtime emulator
//
// BuildBootstrap (or a BootstrapCache, which builds each package once)
// compiles a main package into a static "bootstrap" executable for the host
// (CGO_ENABLED=0, -trimpath, -tags lambda.norpc, -ldflags "-s -w"); StartRIE
// runs it under aws-lambda-rie on two free loopback ports (the emulator's
// invoke endpoint and the runtime API), so several emulators can run at once.
// Each emulator serves one invocation at a time: RIE.Invoke serialises the
// calls made on one *RIE (a concurrent second invocation makes this emulator
// version panic and exit); concurrency tests start several. RIE.InvocationLog
// returns the output lines of one invocation.
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
// The emulator and so the function do not inherit the calling process's
// environment (which might hold real AWS credentials or profiles): they get
// PATH, a fresh HOME, RIEOptions.Env (normally Moto.Env) and
// AWS_LAMBDA_FUNCTION_TIMEOUT.
//
// # MightyCall emulator
//
// StartEmulator builds cmd/mightycall-emulator, runs it on a loopback port it
// picks itself, and reads its base URL from its ready file. Emulator.Stats and
// Emulator.InjectFault use its control API (/_emulator/).
package localenv
