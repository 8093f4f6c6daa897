package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/tokensource"
)

const tokenDescription = `
Prints the current access token of a secret (its AWSCURRENT version) on
stdout, and a warning on stderr. The token is a live credential: anyone who
holds it can call the MightyCall API as the account until it expires. Without
--reveal nothing is printed. An expired token, or a secret without one, is an
error. Needs secretsmanager:GetSecretValue.`

func (c *cli) cmdToken(ctx context.Context, args []string) int {
	const name = "token"
	fs := newFlags(name, "--reveal [--secret ID]", tokenDescription)
	reveal := fs.Bool("reveal", false, "print the access token (required: it is a live credential)")
	secretID := fs.String("secret", "", "secret name or ARN (default: SECRET_IDS, when it names exactly one)")
	if ok, code := c.parse(fs, args); !ok {
		return code
	}
	if !*reveal {
		return c.failf(exitUsage, name, "refusing to print the access token without --reveal: it is a live credential for the MightyCall account")
	}
	id := *secretID
	if id == "" {
		cfg, err := refresher.LoadConfig(c.getenv)
		if err != nil {
			return c.failf(exitUsage, name, "%v", err)
		}
		if len(cfg.SecretIDs) != 1 {
			return c.failf(exitUsage, name, "pass --secret ID (SECRET_IDS names %d secrets)", len(cfg.SecretIDs))
		}
		id = cfg.SecretIDs[0]
	}
	awsCfg, err := c.awsConfig(ctx)
	if err != nil {
		return c.failf(exitFail, name, "%v", err)
	}
	src := tokensource.New(secretsmanager.NewFromConfig(awsCfg), id, tokensource.WithMargin(0))
	tok, err := src.TokenContext(ctx)
	if err != nil {
		return c.failf(exitFail, name, "%v", err)
	}
	fmt.Fprintln(c.stdout, tok.AccessToken)
	fmt.Fprintf(c.stderr, "mctoken token: warning: the line on stdout is the live access token of secret %s, valid until %s (%s). "+
		"Keep it out of logs, tickets, chats and shell history.\n",
		id, tok.Expiry.UTC().Format(time.RFC3339), relative(time.Until(tok.Expiry).Truncate(time.Second)))
	return exitOK
}
