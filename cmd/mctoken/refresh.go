package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/invocation"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
)

const refreshDescription = `
Refreshes the secrets (default: SECRET_IDS) now and prints the summary JSON:
{"results":[{"secret_id","outcome":"refreshed|skipped|failed","grant","expires_at","error"}]}.
A fresh token is skipped unless --force.

Without --remote the refresh runs here, with the same code and settings
(REFRESH_MARGIN, MIGHTYCALL_BASE_URL, HTTP_TIMEOUT, ...) as the function, with
your AWS credentials. With --remote FUNCTION it invokes the deployed function
(lambda:InvokeFunction) with {"secret_ids":[...],"force":...}; without
--secret the function refreshes its own SECRET_IDS.

Exit status 1 when any secret failed or the function returned an error.`

// refreshTimeout bounds a local refresh, like a function timeout.
const refreshTimeout = 5 * time.Minute

func (c *cli) cmdRefresh(ctx context.Context, args []string) int {
	const name = "refresh"
	fs := newFlags(name, "[--secret ID]... [--force] [--remote FUNCTION]", refreshDescription)
	var ids stringList
	fs.Var(&ids, "secret", "secret name or ARN (repeatable; default: SECRET_IDS here, or the function's own)")
	force := fs.Bool("force", false, "refresh even a fresh token")
	remote := fs.String("remote", "", "invoke this deployed function (name or ARN) instead of refreshing here")
	verbose := fs.Bool("verbose", false, "log each secret's outcome to stderr (local refresh)")
	if ok, code := c.parse(fs, args); !ok {
		return code
	}
	if *remote != "" {
		return c.refreshRemote(ctx, *remote, ids, *force)
	}

	cfg, err := refresher.LoadConfig(c.getenv)
	if err != nil {
		return c.failf(exitUsage, name, "%v", err)
	}
	if len(ids) == 0 && len(cfg.SecretIDs) == 0 {
		return c.failf(exitUsage, name, "no secrets: pass --secret ID or set SECRET_IDS")
	}
	awsCfg, err := c.awsConfig(ctx)
	if err != nil {
		return c.failf(exitFail, name, "%v", err)
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewJSONHandler(c.stderr, nil))
	}
	mc := &mightycall.Client{HTTPClient: &http.Client{Timeout: cfg.HTTPTimeout}}
	r := refresher.New(cfg, refresher.Deps{
		Store:     secrets.NewStore(secretsmanager.NewFromConfig(awsCfg)),
		Exchanger: mc,
		Checker:   mc,
		Now:       time.Now,
		Logger:    logger,
	})
	ctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()
	sum, err := r.Refresh(ctx, &refresher.RefreshEvent{SecretIDs: ids, Force: *force})
	if perr := c.printJSON(sum); perr != nil {
		return c.failf(exitFail, name, "%v", perr)
	}
	if err != nil {
		return c.failf(exitFail, name, "%v", err)
	}
	return exitOK
}

func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// refreshPayload is the function's manual refresh event.
type refreshPayload struct {
	SecretIDs []string `json:"secret_ids,omitempty"`
	Force     bool     `json:"force"`
}

func (c *cli) refreshRemote(ctx context.Context, function string, ids []string, force bool) int {
	const name = "refresh"
	payload, err := json.Marshal(refreshPayload{SecretIDs: ids, Force: force})
	if err != nil {
		return c.failf(exitFail, name, "%v", err)
	}
	awsCfg, err := c.awsConfig(ctx)
	if err != nil {
		return c.failf(exitFail, name, "%v", err)
	}
	out, err := lambda.NewFromConfig(awsCfg).Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String(function),
		Payload:      payload,
	})
	if err != nil {
		return c.failf(exitFail, name, "invoking function %s: %v", function, err)
	}
	if msg, failed := functionError(out); failed {
		return c.failf(exitFail, name, "function %s failed: %s", function, msg)
	}
	var sum refresher.Summary
	dec := json.NewDecoder(bytes.NewReader(out.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sum); err != nil || sum.Results == nil {
		return c.failf(exitFail, name, "function %s answered something other than a refresh summary (%d bytes); is it mightycall-token-refresher?",
			function, len(out.Payload))
	}
	if err := c.printJSON(sum); err != nil {
		return c.failf(exitFail, name, "%v", err)
	}
	failed := 0
	for _, r := range sum.Results {
		if r.Outcome == refresher.Failed {
			failed++
		}
	}
	if failed > 0 {
		return c.failf(exitFail, name, "%d of %d secrets failed", failed, len(sum.Results))
	}
	return exitOK
}

// functionError reports whether an invocation failed and why. Lambda marks a
// failed invocation with X-Amz-Function-Error (FunctionError); the runtime
// interface emulator does not, so an answer that is exactly an error object
// {"errorMessage","errorType",...}, or its timeout text, counts too.
func functionError(out *lambda.InvokeOutput) (string, bool) {
	typ, msg, isErr := invocation.ErrorObject(out.Payload)
	switch {
	case out.FunctionError != nil:
		if !isErr {
			msg = strings.TrimSpace(string(limit(out.Payload, 2000)))
			typ = aws.ToString(out.FunctionError)
		}
	case isErr:
	case bytes.HasPrefix(out.Payload, []byte("Task timed out after ")):
		typ, msg = "Sandbox.Timedout", strings.TrimSpace(string(limit(out.Payload, 200)))
	default:
		return "", false
	}
	if typ != "" {
		return fmt.Sprintf("%s (%s)", msg, typ), true
	}
	return msg, true
}

func limit(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
