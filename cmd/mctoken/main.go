// Command mctoken is the operator's tool for the MightyCall token secrets
// that mightycall-token-refresher maintains.
//
//	mctoken init    --secret NAME [--platform callcenter|classic] [--base-url URL] [--force] [--no-check]
//	mctoken status  [--secret ID]... [--json]
//	mctoken refresh [--secret ID]... [--force] [--remote FUNCTION] [--verbose]
//	mctoken token   --reveal [--secret ID]
//
// It uses the standard AWS credential chain and configuration (profiles,
// AWS_REGION, AWS_ENDPOINT_URL_SECRETS_MANAGER, AWS_ENDPOINT_URL_LAMBDA, ...),
// and the function's own variables where they apply (SECRET_IDS,
// REFRESH_MARGIN, MIGHTYCALL_BASE_URL, HTTP_TIMEOUT).
//
// Keys are read from a prompt that does not echo them (or, when stdin is not
// a terminal, as two lines on stdin: the API key, then the User key), never
// from arguments. No command prints a key or token, except
// `mctoken token --reveal`, which prints the access token and nothing else.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1 // the command failed, or (status) a secret is unhealthy
	exitUsage = 2 // bad arguments or configuration
)

const usage = `mctoken: operate the MightyCall token secrets kept fresh by mightycall-token-refresher.

Usage:
  mctoken init    --secret NAME [--platform callcenter|classic] [--base-url URL] [--force] [--no-check]
                  store a MightyCall account's keys (read from a prompt or stdin) in a token secret
  mctoken status  [--secret ID]... [--json]
                  show token expiry, last refresh, rotation state and a health verdict
  mctoken refresh [--secret ID]... [--force] [--remote FUNCTION] [--verbose]
                  refresh now, here or by invoking the deployed function
  mctoken token   --reveal [--secret ID]
                  print the current access token (a live credential)

Run "mctoken COMMAND -h" for a command's options. Secrets default to the
comma-separated SECRET_IDS. AWS access uses the standard credential chain;
AWS_ENDPOINT_URL_SECRETS_MANAGER and AWS_ENDPOINT_URL_LAMBDA override endpoints.
`

// cli is one run of the tool: its streams and environment.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

// run executes the command line args (without the program name) and returns
// the exit status. getenv supplies the tool's settings (SECRET_IDS,
// REFRESH_MARGIN, MIGHTYCALL_BASE_URL, ...); the AWS SDK reads its standard
// variables and files itself.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "init":
		return c.cmdInit(ctx, rest)
	case "status":
		return c.cmdStatus(ctx, rest)
	case "refresh":
		return c.cmdRefresh(ctx, rest)
	case "token":
		return c.cmdToken(ctx, rest)
	case "-h", "-help", "--help", "help":
		if len(rest) > 0 && rest[0] != "help" && !strings.HasPrefix(rest[0], "-") {
			return run(ctx, []string{rest[0], "-h"}, stdin, stdout, stderr, getenv)
		}
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	// The word is not echoed: it might be a key typed in the wrong place.
	fmt.Fprintf(stderr, "mctoken: unknown command (want init, status, refresh or token)\n\n%s", usage)
	return exitUsage
}

// newFlags returns a flag set for a subcommand whose usage starts with
// synopsis and description.
func newFlags(name, synopsis, description string) *flag.FlagSet {
	fs := flag.NewFlagSet("mctoken "+name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: mctoken %s %s\n\n%s\n\nOptions:\n", name, synopsis, strings.TrimSpace(description))
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args; when it returns false the command ends with code (help
// on stdout and status 0 for -h; the problem on stderr and status 2
// otherwise). Positional arguments are refused without being echoed.
func (c *cli) parse(fs *flag.FlagSet, args []string) (ok bool, code int) {
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		_, _ = c.stdout.Write(buf.Bytes())
		return false, exitOK
	case err != nil:
		_, _ = c.stderr.Write(buf.Bytes())
		return false, exitUsage
	case fs.NArg() > 0:
		fmt.Fprintf(c.stderr, "%s: unexpected argument(s) after the options (keys are never taken from arguments)\n", fs.Name())
		return false, exitUsage
	}
	return true, exitOK
}

// failf prints an error line for command name on stderr and returns code.
func (c *cli) failf(code int, name, format string, args ...any) int {
	fmt.Fprintf(c.stderr, "mctoken %s: %s\n", name, fmt.Sprintf(format, args...))
	return code
}

// awsConfig loads the AWS configuration the standard way: credentials
// chain, region, and endpoint overrides from the environment and profile.
func (c *cli) awsConfig(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("AWS configuration: %w", err)
	}
	return cfg, nil
}

// stringList is a repeatable string flag; commas separate values too.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
