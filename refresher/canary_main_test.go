//go:build !integration

package refresher

import (
	"os"
	"testing"
)

// TestMain of the unit-test build (without the integration tag; with it,
// moto_integration_test.go's TestMain makes the same check): the package
// fails if any canary appeared in any output its tests captured.
func TestMain(m *testing.M) {
	os.Exit(CanaryMain(m.Run()))
}
