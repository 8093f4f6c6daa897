package testenv

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/localenv"
)

// The region and static credentials every moto client and child process uses.
const (
	Region          = localenv.Region
	AccessKeyID     = localenv.AccessKeyID
	SecretAccessKey = localenv.SecretAccessKey
)

// Moto is a running moto_server.
type Moto struct {
	// URL is the server's base URL, http://127.0.0.1:PORT.
	URL string

	m *localenv.Moto
}

func wrapMoto(m *localenv.Moto) *Moto { return &Moto{URL: m.URL, m: m} }

// StartMoto starts a moto_server on a free loopback port, waits until it
// answers (bounded polling), and stops it in t.Cleanup. A missing moto_server
// fails the test.
func StartMoto(t testing.TB) *Moto {
	t.Helper()
	m, err := localenv.StartMoto()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("moto_server at %s printed:\n%s", m.URL, m.LogTail())
		}
	})
	return wrapMoto(m)
}

// RunWithMoto starts one moto_server for a test binary, calls fn with it, stops
// it, and returns fn's result. Call it from TestMain; fn stores the *Moto in
// the test package's own variable and runs the tests:
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
// If moto_server cannot be started, RunWithMoto prints why on stderr and
// returns 1 without calling fn, so the package FAILS (it never skips).
func RunWithMoto(m *testing.M, fn func(*Moto) int) int {
	_ = m // taken so the call reads as what it is, TestMain's; fn calls m.Run
	mo, err := localenv.StartMoto()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: %v\n", err)
		return 1
	}
	defer mo.Stop()
	return fn(wrapMoto(mo))
}

// Logs returns everything moto_server printed so far (one line per request).
func (m *Moto) Logs() string { return m.m.Logs() }

// Env returns the environment variables a child process (the Lambda bootstrap
// under aws-lambda-rie) needs so that config.LoadDefaultConfig there reaches
// this moto_server: the Secrets Manager endpoint override, region, static
// credentials, no EC2 instance metadata look-ups, and empty shared config and
// credentials files so that nothing from the developer's ~/.aws applies.
func (m *Moto) Env() []string { return m.m.Env() }

// Client returns a Secrets Manager client for this moto_server, built the way
// production builds one: config.LoadDefaultConfig (region us-east-1, static
// credentials "test"/"test") and secretsmanager.NewFromConfig, with the
// endpoint resolved as AWS_ENDPOINT_URL_SECRETS_MANAGER would resolve it (see
// localenv.Moto.Client). The variable itself is not set: the process
// environment is shared by parallel tests, and t.Setenv forbids t.Parallel.
//
// As a guard against talking to anything but moto, Client fails the test if
// the client did not end up on m.URL (e.g. because AWS_ENDPOINT_URL without
// AWS_ENDPOINT_URL_SECRETS_MANAGER, or AWS_IGNORE_CONFIGURED_ENDPOINT_URLS, is
// set in the environment: the SDK then ignores service endpoint sources).
func (m *Moto) Client(t testing.TB) *secretsmanager.Client {
	t.Helper()
	c, err := m.m.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}
