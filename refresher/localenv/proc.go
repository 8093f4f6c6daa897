package localenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// stopGrace is how long a process may take to exit after SIGTERM before its
// process group is killed.
const stopGrace = 5 * time.Second

// process is a started child process whose output goes to a logBuffer.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *logBuffer
	done chan struct{} // closed once the process has exited and its output is copied
	err  error         // cmd.Wait's result; read only after done is closed

	stopOnce sync.Once
	stopErr  error
}

// startProcess starts path with args and env, its stdout and stderr both
// going to out. On Linux the child gets its own process group and is killed if
// the program that started it dies without stopping it (e.g. on a test
// -timeout panic).
func startProcess(path string, args, env []string, dir string, out *logBuffer) (*process, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Dir = dir
	// The same comparable writer for both: exec then uses one pipe and
	// one copying goroutine, so lines from stdout and stderr are not torn.
	cmd.Stdout = out
	cmd.Stderr = out
	// A grandchild (the Lambda bootstrap) may hold the output pipe open
	// after the child died; do not let Wait block on it for long.
	cmd.WaitDelay = 2 * time.Second
	setProcessAttrs(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{name: filepath.Base(path), cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// pid is the process id (and, on Linux, its process group id).
func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to terminate (SIGTERM: moto_server, aws-lambda-rie and
// mightycall-emulator then shut down cleanly, the runtime emulator stopping its
// runtime process too), and kills its process group if it is still there
// after a grace period. Whatever of its process group and of its descendants
// outlived it (on Linux; the runtime emulator starts the bootstrap in a group
// of its own) is killed too. It returns an error only if some process of the group is
// still alive afterwards. It is safe to call more than once, and from several
// goroutines; later calls return the first call's result.
func (p *process) stop() error {
	p.stopOnce.Do(func() {
		var known []procID
		if !p.exited() {
			known = descendants(p.pid())
			terminate(p.cmd.Process)
			select {
			case <-p.done:
			case <-time.After(stopGrace):
				kill(p.cmd.Process)
				<-p.done
			}
		}
		if sweep(p.pid(), known) {
			p.stopErr = fmt.Errorf("localenv: processes started by %s (pid %d) are still running after SIGKILL", p.name, p.pid())
		}
	})
	return p.stopErr
}

// exitMessage describes how the process ended, for failure messages.
func (p *process) exitMessage() string {
	<-p.done
	if p.err == nil {
		return p.name + " exited with status 0"
	}
	return fmt.Sprintf("%s exited: %v", p.name, p.err)
}

// FindTool finds a command the local environment needs (moto_server,
// aws-lambda-rie): on PATH, or in the module's .tools/bin (where `make`
// installs the Go tools). The error names the tool and the make targets that
// install it.
func FindTool(name string) (string, error) {
	path, err := exec.LookPath(name)
	if err == nil {
		return path, nil
	}
	if root, rerr := ModuleRoot(); rerr == nil {
		candidate := filepath.Join(root, ".tools", "bin", name)
		if fi, serr := os.Stat(candidate); serr == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return candidate, nil
		}
	}
	return "", fmt.Errorf("localenv: %s is not on PATH (%v) nor in the module's .tools/bin; "+
		"run the integration tests with `make test` (or the demo with `make demo`), which installs %s and puts it on PATH", name, err, name)
}

// ModuleRoot finds the directory holding go.mod, walking up from the current
// directory (go test runs a test binary in its package's directory; go run
// keeps the caller's directory).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if fi, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !fi.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("localenv: no go.mod found above the current directory")
		}
		dir = parent
	}
}

// addrInUse reports whether a process's output says it could not bind its
// port because someone else took it after FreeAddr released it.
func addrInUse(output string) bool {
	s := strings.ToLower(output)
	return strings.Contains(s, "address already in use") || strings.Contains(s, "is in use by another program")
}
