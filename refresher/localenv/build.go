package localenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
)

// BuildBootstrap builds the main package pkg into the file out (its directory
// must exist). pkg is resolved relative to the module root (the directory
// holding go.mod), e.g. "./cmd/refresher"; an import path works too, and so
// does a testdata directory, which ./... leaves out.
//
// The build is the Lambda one, for the host: CGO_ENABLED=0, -trimpath,
// -tags lambda.norpc, -ldflags "-s -w", -buildvcs=false (as the Makefile
// builds), GOOS/GOARCH of the machine running it, so that aws-lambda-rie can
// run it here. Go's build cache makes repeated builds cheap; to link each
// package only once per process, use a BootstrapCache.
func BuildBootstrap(pkg, out string) error {
	return goBuild(pkg, out, []string{"CGO_ENABLED=0"},
		"-trimpath", "-buildvcs=false", "-tags", "lambda.norpc", "-ldflags", "-s -w")
}

// BuildCommand builds the main package pkg (resolved as for BuildBootstrap)
// into the file out as an ordinary executable for the host, e.g. the
// MightyCall emulator "./cmd/mightycall-emulator".
func BuildCommand(pkg, out string) error {
	return goBuild(pkg, out, nil, "-buildvcs=false")
}

func goBuild(pkg, out string, env []string, flags ...string) error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	// go test and go run put the go command's own directory on PATH, and
	// make found go there.
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("localenv: building %s: the go command is not on PATH: %w", pkg, err)
	}
	args := append(append([]string{"build"}, flags...), "-o", out, pkg)
	cmd := exec.Command(goTool, args...)
	cmd.Dir = root
	cmd.Env = append(append(os.Environ(), env...), "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("localenv: building %s (in %s): %v\n%s", pkg, root, err, output)
	}
	return nil
}

// BootstrapCache builds each bootstrap package once and hands the same
// executable to every caller that asks for it. Callers must not modify or
// delete the returned file; Close removes them all. It is safe for concurrent
// use; concurrent callers asking for the same package wait for one build.
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

// Build returns the path of the bootstrap built from pkg (as by
// BuildBootstrap), building it on the first call for that pkg. A failed build
// is remembered: every call for that pkg returns its error.
func (c *BootstrapCache) Build(pkg string) (string, error) {
	c.mu.Lock()
	if c.dir == "" {
		dir, err := os.MkdirTemp("", "localenv-bootstraps-")
		if err != nil {
			c.mu.Unlock()
			return "", fmt.Errorf("localenv: %w", err)
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
		b.err = BuildBootstrap(pkg, b.path)
	})
	if b.err != nil {
		return "", b.err
	}
	return b.path, nil
}

// Close removes the built files.
func (c *BootstrapCache) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dir != "" {
		_ = os.RemoveAll(c.dir)
		c.dir = ""
		c.builds = make(map[string]*cachedBuild)
	}
}
