package localenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall/emulator"
)

const (
	emulatorPkg          = "./cmd/mightycall-emulator"
	emulatorName         = "mightycall-emulator"
	emulatorAccountsEnv  = "MIGHTYCALL_EMULATOR_ACCOUNTS"
	emulatorStartTimeout = 30 * time.Second
	emulatorReadyLine    = "mightycall-emulator listening on "
)

// Emulator is a running MightyCall emulator process (cmd/mightycall-emulator),
// listening on a loopback port it picked itself.
type Emulator struct {
	// URL is the API base, http://127.0.0.1:PORT/v4: what a secret's
	// base_url or MIGHTYCALL_BASE_URL takes (plain http is allowed on
	// loopback).
	URL string
	// ControlURL is the root of its control API, http://127.0.0.1:PORT/_emulator/.
	ControlURL string

	proc   *process
	logs   *logBuffer
	dir    string // the built binary and the ready file, removed by Stop
	client *http.Client
}

// StartEmulator builds cmd/mightycall-emulator (go build, into a temporary
// directory), runs it on 127.0.0.1 with a port of its own choosing, and waits
// until it has written its base URL to its ready file. accounts holds the
// accounts in the emulator's syntax, APIKEY:USERKEY[:EXTENSION[:classic]],
// comma-separated; it is handed over in the environment
// (MIGHTYCALL_EMULATOR_ACCOUNTS), never in the arguments, and never appears
// in an error. The caller must Stop it.
func StartEmulator(accounts string) (*Emulator, error) {
	dir, err := os.MkdirTemp("", "localenv-mightycall-emulator-")
	if err != nil {
		return nil, fmt.Errorf("localenv: %w", err)
	}
	bin := filepath.Join(dir, emulatorName)
	if err := BuildCommand(emulatorPkg, bin); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	ready := filepath.Join(dir, "ready")
	logs := newLogBuffer()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, emulatorAccountsEnv + "=" + accounts}
	p, err := startProcess(bin, []string{"-addr", "127.0.0.1:0", "-ready-file", ready}, env, dir, logs)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("localenv: starting %s: %w", emulatorName, err)
	}
	fail := func(err error) (*Emulator, error) {
		_ = p.stop()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w\n%s printed:\n%s", err, emulatorName, logs.tail(logTailBytes))
	}
	// The emulator writes the ready file before its stdout line, so the
	// line (no polling) says the file is complete.
	if !logs.waitFor(emulatorReadyLine, emulatorStartTimeout, p.done) {
		if p.exited() {
			return fail(fmt.Errorf("localenv: %s exited before it was ready: %s", emulatorName, p.exitMessage()))
		}
		return fail(fmt.Errorf("localenv: %s was not ready within %v", emulatorName, emulatorStartTimeout))
	}
	base, err := os.ReadFile(ready)
	if err != nil {
		return fail(fmt.Errorf("localenv: %s said it was ready, but its ready file: %w", emulatorName, err))
	}
	url := strings.TrimSpace(string(base))
	root, ok := strings.CutSuffix(url, emulator.BasePath)
	if !ok || !strings.HasPrefix(root, "http://127.0.0.1:") {
		return fail(fmt.Errorf("localenv: %s wrote an unexpected base URL %q", emulatorName, url))
	}
	return &Emulator{
		URL:        url,
		ControlURL: root + emulator.ControlPrefix,
		proc:       p,
		logs:       logs,
		dir:        dir,
		client:     &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}},
	}, nil
}

// Stop terminates the emulator (SIGTERM; SIGKILL after a grace period) and
// removes its temporary directory. It returns an error only if a process of
// its group is still running afterwards. It may be called more than once.
func (e *Emulator) Stop() error {
	e.client.CloseIdleConnections()
	err := e.proc.stop()
	_ = os.RemoveAll(e.dir)
	return err
}

// Pid is the emulator's process id.
func (e *Emulator) Pid() int { return e.proc.pid() }

// Logs returns everything the emulator printed so far: one line per request
// (method, route, grant type, status; never a key or token).
func (e *Emulator) Logs() string { return e.logs.String() }

// LogTail returns the last 16 KiB of Logs, for failure messages.
func (e *Emulator) LogTail() string { return e.logs.tail(logTailBytes) }

// Stats returns the emulator's counters (GET /_emulator/stats).
func (e *Emulator) Stats(ctx context.Context) (emulator.Stats, error) {
	var s emulator.Stats
	err := e.control(ctx, http.MethodGet, "stats", nil, &s)
	return s, err
}

// InjectFault queues f (POST /_emulator/faults): the next matching token
// request consumes it.
func (e *Emulator) InjectFault(ctx context.Context, f emulator.Fault) error {
	body, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("localenv: encoding the fault: %w", err)
	}
	return e.control(ctx, http.MethodPost, "faults", body, nil)
}

// ClearFaults drops every queued fault (DELETE /_emulator/faults).
func (e *Emulator) ClearFaults(ctx context.Context) error {
	return e.control(ctx, http.MethodDelete, "faults", nil, nil)
}

func (e *Emulator) control(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, e.ControlURL+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("localenv: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("localenv: %s %s%s: %w", method, emulator.ControlPrefix, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("localenv: %s %s%s: %w", method, emulator.ControlPrefix, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("localenv: %s %s%s answered %s: %s", method, emulator.ControlPrefix, path, resp.Status, bytes.TrimSpace(data))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("localenv: %s %s%s: decoding %s: %w", method, emulator.ControlPrefix, path, data, err)
		}
	}
	return nil
}
