// Command mightycall-emulator runs the local MightyCall token endpoint
// emulator (package refresher/mightycall/emulator) as a process, for demos and
// for tests that need it out of process.
//
// Usage:
//
//	mightycall-emulator [-addr 127.0.0.1:0] [-account APIKEY:USERKEY[:EXTENSION[:classic]]]...
//	                    [-ttl 24h] [-reusable-refresh] [-ready-file PATH]
//
// Accounts may also come from the environment variable
// MIGHTYCALL_EMULATOR_ACCOUNTS (the same syntax, comma-separated), which keeps
// keys out of the process arguments.
//
// It listens on a loopback address only, prints
// "mightycall-emulator listening on http://127.0.0.1:PORT/v4" to stdout,
// writes that base URL (no newline) to the ready file if asked (atomically,
// by rename, before the stdout line; the file is removed again on shutdown), logs one line per request
// to stderr (method, route, grant type, status; never a key or token), and
// shuts down cleanly on SIGINT or SIGTERM. The control API is served under
// /_emulator/ on the same address.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall/emulator"
)

// accountsEnv names the environment variable holding account specs.
const accountsEnv = "MIGHTYCALL_EMULATOR_ACCOUNTS"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, stop, os.Args[1:], os.Getenv(accountsEnv), os.Stdout, os.Stderr))
}

// run runs the emulator until ctx is done; it returns the exit code. stop is
// called once shutdown starts, so a second signal terminates the process.
func run(ctx context.Context, stop func(), args []string, envAccounts string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mightycall-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "loopback `address` to listen on")
	ttl := fs.Duration("ttl", emulator.DefaultTokenTTL, "access token lifetime (and expires_in)")
	reusable := fs.Bool("reusable-refresh", false, "keep refresh tokens valid after use (default: single-use)")
	readyFile := fs.String("ready-file", "", "write the base URL to this `path` once listening")
	var specs []string
	fs.Func("account", "add the account `APIKEY:USERKEY[:EXTENSION[:classic]]` (repeatable; also $"+accountsEnv+", comma-separated)",
		func(v string) error { specs = append(specs, v); return nil })
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: mightycall-emulator [flags]\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mightycall-emulator: unexpected arguments\n")
		fs.Usage()
		return 2
	}
	if *ttl <= 0 {
		fmt.Fprintf(stderr, "mightycall-emulator: -ttl must be positive\n")
		return 2
	}

	var accounts []emulator.Account
	for i, spec := range specs {
		a, err := parseAccount(spec)
		if err != nil {
			// Never echo the spec: it holds keys.
			fmt.Fprintf(stderr, "mightycall-emulator: -account #%d: %v\n", i+1, err)
			return 2
		}
		accounts = append(accounts, a)
	}
	n := 0
	for _, spec := range strings.Split(envAccounts, ",") {
		if spec = strings.TrimSpace(spec); spec == "" {
			continue
		}
		n++
		a, err := parseAccount(spec)
		if err != nil {
			fmt.Fprintf(stderr, "mightycall-emulator: %s entry #%d: %v\n", accountsEnv, n, err)
			return 2
		}
		accounts = append(accounts, a)
	}

	if err := checkLoopback(*addr); err != nil {
		fmt.Fprintf(stderr, "mightycall-emulator: %v\n", err)
		return 2
	}

	logger := log.New(stderr, "mightycall-emulator: ", log.LstdFlags|log.Lmicroseconds)
	em := emulator.New(emulator.Options{
		TokenTTL:              *ttl,
		ReusableRefreshTokens: *reusable,
		Logf:                  logger.Printf,
	})
	for _, a := range accounts {
		em.AddAccount(a)
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "mightycall-emulator: listen: %v\n", err)
		return 1
	}
	tcp, ok := ln.Addr().(*net.TCPAddr)
	if !ok || !tcp.IP.IsLoopback() {
		ln.Close()
		fmt.Fprintf(stderr, "mightycall-emulator: %s is not a loopback address; refusing to serve\n", ln.Addr())
		return 2
	}
	baseURL := "http://" + net.JoinHostPort(tcp.IP.String(), fmt.Sprint(tcp.Port)) + emulator.BasePath

	// Handlers waiting in an injected Delay end when this is cancelled.
	baseCtx, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	conns := &connTracker{m: map[net.Conn]http.ConnState{}}
	srv := &http.Server{
		Handler:           em,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          logger,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ConnState:         conns.track,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	// The ready file is written before the stdout line, so a reader of either
	// knows both are there.
	if *readyFile != "" {
		if err := writeFileAtomic(*readyFile, baseURL); err != nil {
			fmt.Fprintf(stderr, "mightycall-emulator: ready file: %v\n", err)
			srv.Close()
			return 1
		}
		defer os.Remove(*readyFile)
	}
	logger.Printf("%d account(s) loaded; control API at %s", len(accounts), strings.TrimSuffix(baseURL, emulator.BasePath)+emulator.ControlPrefix)
	fmt.Fprintf(stdout, "mightycall-emulator listening on %s\n", baseURL)

	select {
	case err := <-serveErr:
		fmt.Fprintf(stderr, "mightycall-emulator: serve: %v\n", err)
		return 1
	case <-ctx.Done():
	}
	stop()
	logger.Printf("shutting down")
	cancelBase()
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	shutdownErr := make(chan error, 1)
	go func() { shutdownErr <- srv.Shutdown(shutCtx) }()
	// Shutdown treats a connection that has not sent a request yet (a client
	// transport's spare dial) as busy for 5 s; close those now, and again
	// while Shutdown runs, in case one was accepted as the listener closed.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var shutErr error
wait:
	for {
		conns.closeUnused()
		select {
		case shutErr = <-shutdownErr:
			break wait
		case <-tick.C:
		}
	}
	if shutErr != nil {
		fmt.Fprintf(stderr, "mightycall-emulator: shutdown: %v\n", shutErr)
		srv.Close()
		return 1
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "mightycall-emulator: serve: %v\n", err)
		return 1
	}
	return 0
}

// connTracker follows the server's connections so that shutdown can close
// those that never sent a request.
type connTracker struct {
	mu sync.Mutex
	m  map[net.Conn]http.ConnState
}

func (t *connTracker) track(c net.Conn, st http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch st {
	case http.StateClosed, http.StateHijacked:
		delete(t.m, c)
	default:
		t.m[c] = st
	}
}

func (t *connTracker) closeUnused() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c, st := range t.m {
		if st == http.StateNew {
			c.Close()
		}
	}
}

// parseAccount parses APIKEY:USERKEY[:EXTENSION[:PLATFORM]]. Errors never
// contain the spec's values.
func parseAccount(spec string) (emulator.Account, error) {
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || len(parts) > 4 {
		return emulator.Account{}, errors.New("want APIKEY:USERKEY[:EXTENSION[:classic]]")
	}
	a := emulator.Account{APIKey: parts[0], UserKey: parts[1]}
	if len(parts) > 2 {
		a.Extension = parts[2]
	}
	if len(parts) > 3 {
		a.Platform = parts[3]
	}
	if err := emulator.ValidateAccount(a); err != nil {
		return emulator.Account{}, err
	}
	return a, nil
}

// checkLoopback refuses addresses that are not on a loopback interface.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %v", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("-addr %q: refusing a non-loopback address; the emulator listens on loopback only (e.g. 127.0.0.1:0)", addr)
}

// writeFileAtomic writes content to a temporary file beside path and renames
// it into place, so readers never see a partial file.
func writeFileAtomic(path, content string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.WriteString(content)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
