package testenv

import (
	"path/filepath"
	"testing"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/localenv"
)

// BuildBootstrap builds the main package pkg into t.TempDir()/bootstrap and
// returns the file's path. pkg is resolved relative to the module root (the
// directory holding go.mod), e.g. "./cmd/refresher"; an import path works too,
// and so does a testdata directory, which ./... leaves out.
//
// The build is the Lambda one, for the host: CGO_ENABLED=0, -trimpath,
// -tags lambda.norpc, -ldflags "-s -w", -buildvcs=false (as the Makefile builds), GOOS/GOARCH of the machine running the
// tests (localenv.BuildBootstrap). Go's build cache makes repeated builds
// cheap; to link each package only once per test binary, use a
// BootstrapCache.
func BuildBootstrap(t testing.TB, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	if err := localenv.BuildBootstrap(pkg, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// BootstrapCache builds each bootstrap package once and hands the same
// executable to every test that asks for it. Create it in TestMain (or as a
// test package variable) and Close it after m.Run:
//
//	var bootstraps = testenv.NewBootstrapCache()
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		bootstraps.Close()
//		os.Exit(code)
//	}
//
// Tests must not modify or delete the returned file. It is safe for
// concurrent use; parallel tests asking for the same package wait for one
// build.
type BootstrapCache struct {
	c *localenv.BootstrapCache
}

// NewBootstrapCache returns an empty cache; it builds nothing until asked.
func NewBootstrapCache() *BootstrapCache {
	return &BootstrapCache{c: localenv.NewBootstrapCache()}
}

// Build returns the path of the bootstrap built from pkg (as for
// BuildBootstrap), building it on the first call for that pkg. A failed build
// fails every test that asks for it.
func (c *BootstrapCache) Build(t testing.TB, pkg string) string {
	t.Helper()
	path, err := c.c.Build(pkg)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// Close removes the built files. Call it after m.Run.
func (c *BootstrapCache) Close() { c.c.Close() }
