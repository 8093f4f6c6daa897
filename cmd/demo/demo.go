package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/faultproxy"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/localenv"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall/emulator"
)

// refresherPkg is the Lambda function's main package.
const refresherPkg = "./cmd/refresher"

// run is the demo: it prints to out and returns the first failure. Whatever
// happens, everything it started is stopped before it returns.
func run(ctx context.Context, out io.Writer) error {
	_, err := runDemo(ctx, out)
	return err
}

// runDemo is run, also returning every secret value the demo knew (keys,
// tokens, the rotation token), so that a test can check that none of them
// was printed.
func runDemo(ctx context.Context, out io.Writer) (known []string, err error) {
	d := newDemo(out)
	defer func() {
		if serr := d.shutdown(err != nil); err == nil {
			err = serr
		}
		if err != nil {
			err = errors.New(d.mask.apply(err.Error()))
		}
		known = d.mask.known()
	}()
	d.printf("MightyCall token refresher, end to end on this machine: a local Secrets Manager, a MightyCall\n")
	d.printf("emulator, and the real function under the Lambda runtime emulator. Keys and tokens are masked.\n")
	if err := d.start(ctx); err != nil {
		return nil, err
	}
	for i, s := range d.steps() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d.heading(fmt.Sprintf("%d. %s", i+1, s.title))
		if err := s.run(ctx); err != nil {
			return nil, fmt.Errorf("step %d (%s): %w", i+1, s.title, err)
		}
	}
	d.recap()
	return nil, nil
}

// account is one MightyCall account of the demo and its secret.
type account struct {
	secretID string
	what     string // for the narration
	apiKey   string
	userKey  string // the account's User key
	// extension, on the Classic account, stands in for the User key in
	// the secret.
	extension string
}

// secretKey is what the secret holds as user_key.
func (a account) secretKey() string {
	if a.extension != "" {
		return a.extension
	}
	return a.userKey
}

// demo holds what the demo started and knows.
type demo struct {
	out  io.Writer
	mask *masker

	workDir string // the bootstrap; removed at the end
	logDir  string // the services' logs, masked; kept

	moto  *localenv.Moto
	mc    *localenv.Emulator
	proxy *faultproxy.Proxy // counts the function's Secrets Manager calls
	rie   *localenv.RIE
	sm    *secretsmanager.Client

	cc, classic   account
	rotationToken string
}

func newDemo(out io.Writer) *demo {
	d := &demo{
		out:  out,
		mask: newMasker(),
		cc: account{
			secretID: "demo/mightycall/callcenter",
			what:     "a Call Center account",
			apiKey:   randomHex(16),
			userKey:  randomHex(16),
		},
		classic: account{
			secretID:  "demo/mightycall/classic",
			what:      "a Classic account, signing in with an extension instead of the User key",
			apiKey:    randomHex(16),
			userKey:   randomHex(16),
			extension: "1042",
		},
		rotationToken: "demo-rotation-token-" + randomHex(8),
	}
	d.mask.add(d.cc.apiKey, d.cc.userKey, d.classic.apiKey, d.classic.userKey, d.classic.extension, d.rotationToken)
	return d
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// printf prints through the masker.
func (d *demo) printf(format string, args ...any) {
	_, _ = io.WriteString(d.out, d.mask.apply(fmt.Sprintf(format, args...)))
}

func (d *demo) heading(title string) { d.printf("\n== %s\n", title) }

// start builds the bootstrap and starts the services.
func (d *demo) start(ctx context.Context) error {
	d.heading("Starting the local services")
	var err error
	if d.workDir, err = os.MkdirTemp("", "mightycall-demo-"); err != nil {
		return err
	}
	if d.logDir, err = os.MkdirTemp("", "mightycall-demo-logs-"); err != nil {
		return err
	}
	bootstrap := filepath.Join(d.workDir, "bootstrap")
	if err := localenv.BuildBootstrap(refresherPkg, bootstrap); err != nil {
		return err
	}
	size := int64(0)
	if fi, err := os.Stat(bootstrap); err == nil {
		size = fi.Size()
	}
	d.printf("  built bootstrap from %s for %s/%s (CGO_ENABLED=0 -trimpath -tags lambda.norpc -ldflags \"-s -w\"): %.1f MB\n",
		refresherPkg, runtime.GOOS, runtime.GOARCH, float64(size)/(1<<20))
	if err := ctx.Err(); err != nil {
		return err
	}

	if d.moto, err = localenv.StartMoto(); err != nil {
		return err
	}
	if d.sm, err = d.moto.Client(ctx); err != nil {
		return err
	}
	d.printf("  Secrets Manager  moto_server          %s (pid %d)\n", d.moto.URL, d.moto.Pid())
	if err := ctx.Err(); err != nil {
		return err
	}

	accounts := d.cc.apiKey + ":" + d.cc.userKey + "," +
		d.classic.apiKey + ":" + d.classic.userKey + ":" + d.classic.extension + ":" + emulator.PlatformClassic
	if d.mc, err = localenv.StartEmulator(accounts); err != nil {
		return err
	}
	d.printf("  MightyCall API   mightycall-emulator  %s (pid %d)\n", d.mc.URL, d.mc.Pid())
	if err := ctx.Err(); err != nil {
		return err
	}

	if d.proxy, err = faultproxy.New(d.moto.URL); err != nil {
		return err
	}
	// The function reaches moto through the proxy, which only counts here.
	env := append(d.proxy.Env(),
		"SECRET_IDS="+d.cc.secretID+","+d.classic.secretID,
		// Each secret names its base_url; the default points at the
		// emulator too, so nothing here can reach the real MightyCall.
		"MIGHTYCALL_BASE_URL="+d.mc.URL,
		"AWS_LAMBDA_LOG_FORMAT=JSON",
	)
	if d.rie, err = localenv.StartRIE(bootstrap, localenv.RIEOptions{Env: env}); err != nil {
		return err
	}
	d.printf("  Lambda           aws-lambda-rie       %s (pid %d)\n", d.rie.URL, d.rie.Pid())
	d.printf("  The function reaches Secrets Manager through a small proxy that counts its calls.\n")
	return nil
}

// shutdown stops everything start started, newest first, writes the logs
// (masked) to logDir, and checks that nothing is left running.
func (d *demo) shutdown(failed bool) error {
	var errs []error
	var stopped []string
	if d.rie != nil {
		errs = append(errs, d.rie.Stop())
		stopped = append(stopped, fmt.Sprintf("aws-lambda-rie (pid %d) with the function", d.rie.Pid()))
	}
	if d.proxy != nil {
		errs = append(errs, d.proxy.Close())
	}
	if d.mc != nil {
		errs = append(errs, d.mc.Stop())
		stopped = append(stopped, fmt.Sprintf("mightycall-emulator (pid %d)", d.mc.Pid()))
	}
	if d.moto != nil {
		errs = append(errs, d.moto.Stop())
		stopped = append(stopped, fmt.Sprintf("moto_server (pid %d)", d.moto.Pid()))
	}
	if d.workDir != "" {
		_ = os.RemoveAll(d.workDir)
	}
	errs = append(errs, d.writeLogs())
	err := errors.Join(errs...)
	if len(stopped) > 0 {
		d.heading("Stopping")
		d.printf("  stopped %s\n", strings.Join(stopped, ", "))
		if err == nil {
			d.printf("  checked: none of them, nor any process they started, is still running\n")
		}
	}
	if failed && d.logDir != "" {
		d.printf("  logs (masked): %s\n", d.logDir)
	}
	return err
}

// logFiles names the log file of each service and says what it holds.
var logFiles = [][2]string{
	{"function.log", "the function's output (its metrics lines too) and aws-lambda-rie's START/END/REPORT"},
	{"mightycall-emulator.log", "one line per MightyCall request: route, grant, status"},
	{"moto_server.log", "one line per Secrets Manager request"},
}

func (d *demo) writeLogs() error {
	if d.logDir == "" {
		return nil
	}
	texts := []string{"", "", ""}
	if d.rie != nil {
		texts[0] = d.rie.Logs()
	}
	if d.mc != nil {
		texts[1] = d.mc.Logs()
	}
	if d.moto != nil {
		texts[2] = d.moto.Logs()
	}
	var errs []error
	for i, f := range logFiles {
		errs = append(errs, os.WriteFile(filepath.Join(d.logDir, f[0]), []byte(d.mask.apply(texts[i])), 0o600))
	}
	return errors.Join(errs...)
}

// summary is a refresh invocation's result (SPEC section 3).
type summary = refresher.Summary

// call is one invocation and what it caused.
type call struct {
	inv      localenv.Invocation
	tokens   emulator.Stats // MightyCall token requests it made
	smTotal  int            // Secrets Manager calls it made
	smText   string         // by operation
	logLines []string       // the function's own JSON log lines
}

// invoke invokes the function with payload, printing the payload, and
// records what the invocation caused.
func (d *demo) invoke(ctx context.Context, payload string) (*call, error) {
	d.printf("  → invoke %s\n", payload)
	return d.invokeQuiet(ctx, payload)
}

// invokeQuiet is invoke without printing the payload.
func (d *demo) invokeQuiet(ctx context.Context, payload string) (*call, error) {
	before, err := d.mc.Stats(ctx)
	if err != nil {
		return nil, err
	}
	d.proxy.ResetCounts()
	inv, err := d.rie.Invoke(ctx, []byte(payload))
	if err != nil {
		return nil, err
	}
	after, err := d.mc.Stats(ctx)
	if err != nil {
		return nil, err
	}
	c := &call{inv: inv, tokens: emulator.Stats{
		TokenRequests:     after.TokenRequests - before.TokenRequests,
		ClientCredentials: after.ClientCredentials - before.ClientCredentials,
		RefreshToken:      after.RefreshToken - before.RefreshToken,
		Faults:            after.Faults - before.Faults,
	}}
	c.smTotal, c.smText = callText(opCounts(d.proxy))
	for _, line := range d.rie.InvocationLog(inv.RequestID) {
		if l, ok := functionLogLine(line); ok {
			c.logLines = append(c.logLines, l)
		}
	}
	// Learn the tokens the run stored before anything is printed.
	if err := d.learnSecrets(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// refresh invokes a refresh and decodes its summary; a function error fails.
func (d *demo) refresh(ctx context.Context, payload string) (*call, summary, error) {
	c, err := d.invoke(ctx, payload)
	if err != nil {
		return nil, summary{}, err
	}
	var s summary
	if c.inv.FunctionError {
		return c, s, fmt.Errorf("the function failed: %s: %s", c.inv.ErrorType, c.inv.ErrorMessage)
	}
	if err := json.Unmarshal(c.inv.Body, &s); err != nil {
		return c, s, fmt.Errorf("the function's result is not a summary: %v: %s", err, c.inv.Body)
	}
	for _, r := range s.Results {
		line := fmt.Sprintf("  ← %-27s %-9s", r.SecretID, r.Outcome)
		if r.Grant != "" {
			line += " grant=" + r.Grant
		}
		if r.ExpiresAt != "" {
			line += "  expires_at=" + r.ExpiresAt
		}
		if r.Error != "" {
			line += "  error=" + r.Error
		}
		d.printf("%s\n", line)
	}
	return c, s, nil
}

// printCalls prints the calls an invocation made.
func (d *demo) printCalls(c *call) {
	t := c.tokens
	tokenText := "none"
	if t.TokenRequests > 0 {
		var parts []string
		if t.ClientCredentials > 0 {
			parts = append(parts, fmt.Sprintf("client_credentials %d", t.ClientCredentials))
		}
		if t.RefreshToken > 0 {
			parts = append(parts, fmt.Sprintf("refresh_token %d", t.RefreshToken))
		}
		tokenText = fmt.Sprintf("%d (%s)", t.TokenRequests, strings.Join(parts, ", "))
	}
	d.printf("  calls made: MightyCall token endpoint: %s; Secrets Manager: %s\n", tokenText, c.smText)
}

// printLog prints the function's JSON log lines of an invocation.
func (d *demo) printLog(c *call) {
	d.printf("  function log (its JSON lines, without timestamp, requestId and timings):\n")
	for _, l := range c.logLines {
		d.printf("    %s\n", l)
	}
}

// learnSecrets reads every version of the demo's secrets (directly from
// moto, not counted) and makes the masker know each key and token in them.
func (d *demo) learnSecrets(ctx context.Context) error {
	for _, a := range []account{d.cc, d.classic} {
		list, err := d.sm.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{
			SecretId: aws.String(a.secretID), IncludeDeprecated: aws.Bool(true),
		})
		if err != nil {
			return fmt.Errorf("listing the versions of %s: %w", a.secretID, err)
		}
		for _, v := range list.Versions {
			out, err := d.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
				SecretId: aws.String(a.secretID), VersionId: v.VersionId,
			})
			if err != nil {
				continue // the empty AWSPENDING placeholder of a rotation
			}
			var doc map[string]any
			if json.Unmarshal([]byte(aws.ToString(out.SecretString)), &doc) != nil {
				continue
			}
			for name := range sensitiveFields {
				if s, ok := doc[name].(string); ok {
					d.mask.add(s)
				}
			}
		}
	}
	return nil
}

// current reads a secret's AWSCURRENT version.
func (d *demo) current(ctx context.Context, secretID string) (*secretsmanager.GetSecretValueOutput, error) {
	return d.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(secretID), VersionStage: aws.String("AWSCURRENT"),
	})
}

// labels returns which version holds each of AWSCURRENT, AWSPENDING and
// AWSPREVIOUS ("AWSCURRENT=1a2b3c4d …"), marking the version mark.
func (d *demo) labels(ctx context.Context, secretID, mark string) (string, error) {
	desc, err := d.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
	if err != nil {
		return "", err
	}
	var parts []string
	for _, stage := range []string{"AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"} {
		for id, stages := range desc.VersionIdsToStages {
			for _, s := range stages {
				if s == stage {
					v := shortID(id)
					if id == mark {
						v += "(rotation)"
					}
					parts = append(parts, stage+"="+v)
				}
			}
		}
	}
	return strings.Join(parts, "  "), nil
}

// shortID is the first 8 characters of a version id.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
