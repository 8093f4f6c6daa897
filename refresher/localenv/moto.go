package localenv

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// The region and static credentials every moto client and child process uses.
const (
	Region          = "us-east-1"
	AccessKeyID     = "test"
	SecretAccessKey = "test"
)

const (
	motoTool         = "moto_server"
	motoStartTimeout = 60 * time.Second // a cold Python import on a busy CI machine is slow
	startAttempts    = 3                // new ports after a lost race for a free port
	logTailBytes     = 16 << 10
)

// Moto is a running moto_server (a local AWS Secrets Manager).
type Moto struct {
	// URL is the server's base URL, http://127.0.0.1:PORT.
	URL string

	proc *process
	logs *logBuffer
}

// StartMoto starts a moto_server on a free loopback port and waits until it
// answers (bounded polling). The caller must Stop it. A missing moto_server
// is an error naming the tool.
func StartMoto() (*Moto, error) {
	return startMoto(freeAddrs)
}

// startMoto starts moto_server on an address from pickAddrs (freeAddrs; tests
// substitute a taken one).
func startMoto(pickAddrs func(n int) ([]string, error)) (*Moto, error) {
	path, err := FindTool(motoTool)
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		addrs, err := pickAddrs(1)
		if err != nil {
			return nil, fmt.Errorf("localenv: finding a free port for moto_server: %w", err)
		}
		host, port, _ := net.SplitHostPort(addrs[0])
		logs := newLogBuffer()
		// Python writes stderr line by line anyway; unbuffered makes sure
		// the request log lines the readiness check looks for come at once.
		env := append(os.Environ(), "PYTHONUNBUFFERED=1")
		p, err := startProcess(path, []string{"-H", host, "-p", port}, env, "", logs)
		if err != nil {
			return nil, fmt.Errorf("localenv: starting %s: %w", path, err)
		}
		m := &Moto{URL: "http://" + addrs[0], proc: p, logs: logs}
		err = m.waitReady(motoStartTimeout)
		if err == nil {
			return m, nil
		}
		_ = p.stop()
		if attempt < startAttempts && addrInUse(logs.String()) {
			continue
		}
		return nil, fmt.Errorf("%w\nmoto_server printed:\n%s", err, logs.tail(logTailBytes))
	}
}

// Stop terminates moto_server (SIGTERM, then SIGKILL of its process group
// after a grace period). It returns an error only if a process of its group
// is still running afterwards. It may be called more than once.
func (m *Moto) Stop() error { return m.proc.stop() }

// Pid is the moto_server process id.
func (m *Moto) Pid() int { return m.proc.pid() }

// Logs returns everything moto_server printed so far (one line per request).
func (m *Moto) Logs() string { return m.logs.String() }

// LogTail returns the last 16 KiB of Logs, for failure messages.
func (m *Moto) LogTail() string { return m.logs.tail(logTailBytes) }

// waitReady polls the server until it answers a request carrying a random
// probe that then shows up in THIS process's request log, so that a server
// someone else started on the same port is never taken for ours.
func (m *Moto) waitReady(timeout time.Duration) error {
	probe := "testenv-probe=" + randomHex(8)
	url := m.URL + "/moto-api/?" + probe
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	wait := 20 * time.Millisecond
	var lastErr error
	for {
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && m.logs.waitFor(probe, 2*time.Second, m.proc.done) {
				return nil
			}
			lastErr = fmt.Errorf("answered %s", resp.Status)
		} else {
			lastErr = err
		}
		if m.proc.exited() {
			return fmt.Errorf("localenv: moto_server exited before answering on %s: %s", m.URL, m.proc.exitMessage())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("localenv: moto_server did not answer on %s within %v (last: %v)", m.URL, timeout, lastErr)
		}
		select {
		case <-m.proc.done:
		case <-time.After(wait):
		}
		wait = min(2*wait, 250*time.Millisecond)
	}
}

// Env returns the environment variables a child process (the Lambda bootstrap
// under aws-lambda-rie) needs so that config.LoadDefaultConfig there reaches
// this moto_server: the Secrets Manager endpoint override, region, static
// credentials, no EC2 instance metadata look-ups, and empty shared config and
// credentials files so that nothing from the developer's ~/.aws applies.
func (m *Moto) Env() []string { return EndpointEnv(m.URL) }

// EndpointEnv is the environment that points a child process's
// config.LoadDefaultConfig at a local Secrets Manager endpoint (moto_server,
// or a proxy in front of it): the endpoint override, region, static
// credentials, no EC2 instance metadata look-ups, and empty shared config and
// credentials files so that nothing from the developer's ~/.aws applies.
func EndpointEnv(url string) []string {
	return []string{
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + url,
		"AWS_REGION=" + Region,
		"AWS_DEFAULT_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=" + AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + SecretAccessKey,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
	}
}

// Client returns a Secrets Manager client for this moto_server, built the way
// production builds one: config.LoadDefaultConfig (region us-east-1, static
// credentials "test"/"test") and secretsmanager.NewFromConfig.
//
// The endpoint is set the way AWS_ENDPOINT_URL_SECRETS_MANAGER sets it, not
// with config.WithBaseEndpoint or Options.BaseEndpoint. NewFromConfig looks
// the service endpoint up in cfg.ConfigSources (configsources.
// ResolveServiceBaseEndpoint, the path that finds the variable through
// config.EnvConfig in the Lambda's process); Client puts a config source first
// in that list which answers the lookup from Env() just as EnvConfig answers
// it from the process environment. So the caller's client and the bootstrap
// under the emulator go through the same resolution with the same value. The
// variable itself is not set: the process environment is shared (by parallel
// tests, for one). WithBaseEndpoint would instead set the global endpoint
// (the AWS_ENDPOINT_URL equivalent) and skip that path.
//
// As a guard against talking to anything but moto, Client fails if the client
// did not end up on m.URL (e.g. because AWS_ENDPOINT_URL without
// AWS_ENDPOINT_URL_SECRETS_MANAGER, or AWS_IGNORE_CONFIGURED_ENDPOINT_URLS, is
// set in the environment: the SDK then ignores service endpoint sources).
func (m *Moto) Client(ctx context.Context) (*secretsmanager.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")),
	)
	if err != nil {
		return nil, fmt.Errorf("localenv: loading the AWS SDK config: %w", err)
	}
	cfg.ConfigSources = append([]any{envEndpoints(m.Env())}, cfg.ConfigSources...)
	client := secretsmanager.NewFromConfig(cfg)
	if ep := client.Options().BaseEndpoint; ep == nil || *ep != m.URL {
		got := "<none>"
		if ep != nil {
			got = *ep
		}
		return nil, fmt.Errorf("localenv: the Secrets Manager client's endpoint is %s, not moto's %s; "+
			"unset AWS_ENDPOINT_URL / AWS_IGNORE_CONFIGURED_ENDPOINT_URLS in the environment", got, m.URL)
	}
	return client, nil
}

// envEndpoints answers the AWS SDK's service endpoint lookup from KEY=VALUE
// pairs the way config.EnvConfig answers it from the process environment:
// AWS_ENDPOINT_URL_<service SDK ID, upper case, spaces as '_'>.
type envEndpoints []string

// GetServiceBaseEndpoint implements the SDK's
// configsources.ServiceBaseEndpointProvider.
func (e envEndpoints) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	key := "AWS_ENDPOINT_URL_" + strings.ReplaceAll(strings.ToUpper(sdkID), " ", "_") + "="
	for i := len(e) - 1; i >= 0; i-- { // the last setting wins, as in exec.Cmd.Env
		if v, ok := strings.CutPrefix(e[i], key); ok && v != "" {
			return v, true, nil
		}
	}
	return "", false, nil
}
