package testenv

import (
	"testing"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/localenv"
)

// FreeAddr returns "127.0.0.1:PORT" of a currently free TCP port.
//
// The port is free when FreeAddr returns, not reserved: another process may
// take it before the caller binds it. StartMoto and StartRIE notice a server
// that failed to bind and retry on new ports.
func FreeAddr(t testing.TB) string {
	t.Helper()
	addr, err := localenv.FreeAddr()
	if err != nil {
		t.Fatalf("testenv: finding a free port: %v", err)
	}
	return addr
}

// UniqueName returns a secret name unique in this test run: t.Name() with
// every character that a secret name may not hold (anything but letters,
// digits and /_+=.@-) replaced by '-', then '-' and 16 random hex digits.
// (AWS advises against names ending in '-' and exactly six characters, which
// look like the suffix of a secret's ARN; this suffix is longer.)
func UniqueName(t testing.TB) string {
	t.Helper()
	return localenv.UniqueName(t.Name())
}
