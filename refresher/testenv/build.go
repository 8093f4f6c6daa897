package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// BuildBootstrap builds the main package pkg into t.TempDir()/bootstrap and
// returns the file's path. pkg is resolved relative to the module root (the
// directory holding go.mod), e.g. "./cmd/refresher"; an import path works too,
// and so does a testdata directory, which ./... leaves out.
//
// The build is the Lambda one, for the host: CGO_ENABLED=0, -trimpath,
// -tags lambda.norpc, -ldflags "-s -w", -buildvcs=false (as the Makefile builds), GOOS/GOARCH of the machine running the
// tests. Go's build cache makes repeated builds cheap; to link each package
// only once per test binary, use a BootstrapCache.
func BuildBootstrap(t testing.TB, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	if err := buildBootstrap(pkg, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func buildBootstrap(pkg, out string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	// go test puts the go command's own directory first on the test's PATH.
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("testenv: building %s: the go command is not on PATH: %w", pkg, err)
	}
	cmd := exec.Command(goTool, "build", "-trimpath", "-buildvcs=false", "-tags", "lambda.norpc", "-ldflags", "-s -w", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("testenv: building %s (in %s): %v\n%s", pkg, root, err, output)
	}
	return nil
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
	mu     sync.Mutex
	dir    string
	builds map[string]*cachedBuild
}

type cachedBuild struct {
	once sync.Once
	path string
	err  error
}

// NewBootstrapCache returns an empty cache; it builds nothing until asked.
func NewBootstrapCache() *BootstrapCache {
	return &BootstrapCache{builds: make(map[string]*cachedBuild)}
}

// Build returns the path of the bootstrap built from pkg (as for
// BuildBootstrap), building it on the first call for that pkg. A failed build
// fails every test that asks for it.
func (c *BootstrapCache) Build(t testing.TB, pkg string) string {
	t.Helper()
	c.mu.Lock()
	if c.dir == "" {
		dir, err := os.MkdirTemp("", "testenv-bootstraps-")
		if err != nil {
			c.mu.Unlock()
			t.Fatalf("testenv: %v", err)
		}
		c.dir = dir
	}
	b, ok := c.builds[pkg]
	if !ok {
		b = &cachedBuild{path: filepath.Join(c.dir, fmt.Sprintf("%d", len(c.builds)), "bootstrap")}
		c.builds[pkg] = b
	}
	c.mu.Unlock()
	b.once.Do(func() {
		if err := os.MkdirAll(filepath.Dir(b.path), 0o755); err != nil {
			b.err = err
			return
		}
		b.err = buildBootstrap(pkg, b.path)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// Close removes the built files. Call it after m.Run.
func (c *BootstrapCache) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dir != "" {
		_ = os.RemoveAll(c.dir)
		c.dir = ""
		c.builds = make(map[string]*cachedBuild)
	}
}
