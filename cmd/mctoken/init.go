package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
)

const initDescription = `
Stores a MightyCall account's API key and User key in a token secret, creating
the secret or updating an existing one (every other field is kept). The keys
are read from a prompt that does not echo them, or, when stdin is not a
terminal, as two lines of stdin: the API key, then the User key. They are
never taken from arguments.

Unless --no-check, the keys are first checked with a client_credentials login
at the secret's base URL; if MightyCall refuses them nothing is stored. The
token that check obtains is discarded: the refresher stores the first token.
An existing secret holding another account's api_key is not overwritten
without --force; replacing the account (or the base URL) also removes the
token of the old one.`

// initCheckTimeout bounds the key check, retries included.
const initCheckTimeout = time.Minute

func (c *cli) cmdInit(ctx context.Context, args []string) int {
	const name = "init"
	fs := newFlags(name, "--secret NAME [options]", initDescription)
	secretName := fs.String("secret", "", "name (or ARN) of the token secret to create or update (required)")
	platform := fs.String("platform", "", "MightyCall platform: callcenter (the default) or classic")
	baseURL := fs.String("base-url", "", "full MightyCall base URL, e.g. https://ccapi.mightycall.com/v4 (overrides the platform; http only on a loopback host)")
	force := fs.Bool("force", false, "replace the keys of a secret that holds another account's api_key, or an unreadable value")
	noCheck := fs.Bool("no-check", false, "store the keys without checking them against MightyCall")
	if ok, code := c.parse(fs, args); !ok {
		return code
	}
	if *secretName == "" {
		return c.failf(exitUsage, name, "--secret is required")
	}
	switch *platform {
	case "", secrets.PlatformCallCenter, secrets.PlatformClassic:
	default:
		return c.failf(exitUsage, name, "--platform must be callcenter or classic")
	}
	if *baseURL != "" {
		u, err := mightycall.CheckBaseURL(*baseURL)
		if err != nil {
			return c.failf(exitUsage, name, "--base-url: %v", err)
		}
		*baseURL = u
	}
	cfg, err := refresher.LoadConfig(c.getenv)
	if err != nil {
		return c.failf(exitUsage, name, "%v", err)
	}
	keys, err := readKeys(c.stdin, c.stderr)
	if err != nil {
		return c.failf(exitFail, name, "%v", err)
	}

	awsCfg, err := c.awsConfig(ctx)
	if err != nil {
		return c.failf(exitFail, name, "%v", err)
	}
	sm := secretsmanager.NewFromConfig(awsCfg)
	store := secrets.NewStore(sm)

	// What is there now.
	exists := true
	desc, err := store.Describe(ctx, *secretName)
	switch {
	case errors.Is(err, secrets.ErrNotFound):
		exists = false
	case errors.Is(err, secrets.ErrDeleted):
		return c.failf(exitFail, name, "secret %s is scheduled for deletion: restore it (aws secretsmanager restore-secret) or choose another name", *secretName)
	case err != nil:
		return c.failf(exitFail, name, "%v", err)
	}
	var old secrets.Document
	currentID := ""
	if exists {
		currentID = desc.VersionWithStage(secrets.StageCurrent)
	}
	if currentID != "" {
		cur, err := store.Read(ctx, *secretName, secrets.StageCurrent)
		switch {
		case errors.Is(err, secrets.ErrMalformed) && *force:
			fmt.Fprintf(c.stderr, "mctoken init: note: replacing the unreadable value of secret %s (--force)\n", *secretName)
		case errors.Is(err, secrets.ErrMalformed):
			return c.failf(exitFail, name, "the current value of secret %s is not a token secret (%v); --force replaces it", *secretName, err)
		case errors.Is(err, secrets.ErrNotFound):
			// A secret without a value yet.
		case err != nil:
			return c.failf(exitFail, name, "%v", err)
		default:
			old, currentID = cur.Doc, cur.VersionID
		}
	}
	if old.CredentialsSecretID != "" {
		return c.failf(exitFail, name, "secret %s uses the split layout: its keys live in secret %s (credentials_secret_id); run init on that secret instead",
			*secretName, old.CredentialsSecretID)
	}
	otherAccount := !old.APIKey.IsZero() && !old.APIKey.Equal(keys.APIKey)
	if otherAccount && !*force {
		return c.failf(exitFail, name, "secret %s holds the keys of a different MightyCall account (its api_key differs); nothing stored. "+
			"Pass --force to replace that account's keys (its token is removed too)", *secretName)
	}

	// The new document: the old one with the keys and settings replaced.
	doc := old
	doc.APIKey, doc.UserKey = keys.APIKey, keys.UserKey
	if *platform != "" {
		doc.Platform = *platform
		if *baseURL == "" && doc.BaseURL != "" {
			fmt.Fprintf(c.stderr, "mctoken init: note: removing base_url %s so that --platform %s takes effect\n", doc.BaseURL, *platform)
			doc.BaseURL = ""
		}
	}
	if *baseURL != "" {
		doc.BaseURL = *baseURL
	}
	base, err := refresher.BaseURL(doc, cfg.DefaultBaseURL)
	if err != nil {
		return c.failf(exitFail, name, "secret %s: %v", *secretName, err)
	}
	dropToken := false
	if !old.AccessToken.IsZero() || !old.RefreshToken.IsZero() {
		oldBase, err := refresher.BaseURL(old, cfg.DefaultBaseURL)
		dropToken = otherAccount || err != nil || oldBase != base
		if dropToken {
			doc = doc.WithToken(secrets.Token{})
		}
	}

	// The check: a client_credentials login with the keys.
	checked := "not checked (--no-check)"
	if !*noCheck {
		mc := &mightycall.Client{HTTPClient: &http.Client{Timeout: cfg.HTTPTimeout}, MaxAttempts: 3}
		checkCtx, cancel := context.WithTimeout(ctx, initCheckTimeout)
		_, _, err := mc.Exchange(checkCtx, mightycall.Request{BaseURL: base, APIKey: keys.APIKey, Grant: mightycall.ClientCredentials, ClientSecret: keys.UserKey})
		cancel()
		var me *mightycall.Error
		switch {
		case errors.As(err, &me) && !me.Temporary:
			return c.failf(exitFail, name, "MightyCall at %s refused the keys: %v; nothing stored. Check the API key and User key "+
				"(Integrations > API in MightyCall) and the platform or base URL", base, err)
		case err != nil:
			return c.failf(exitFail, name, "could not check the keys at %s: %v; nothing stored (--no-check stores them unchecked)", base, err)
		}
		checked = "accepted by MightyCall at " + base
	}

	// The write.
	var arn, action string
	switch {
	case !exists:
		body, err := doc.Encode()
		if err != nil {
			return c.failf(exitFail, name, "%v", err)
		}
		out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name:         aws.String(*secretName),
			Description:  aws.String("MightyCall API keys and bearer token, kept fresh by mightycall-token-refresher"),
			SecretString: aws.String(string(body)),
		})
		var re *types.ResourceExistsException
		if errors.As(err, &re) {
			return c.failf(exitFail, name, "secret %s was created by someone else meanwhile; nothing stored, run init again", *secretName)
		}
		if err != nil {
			return c.failf(exitFail, name, "creating secret %s: %v", *secretName, err)
		}
		arn, action = aws.ToString(out.ARN), "created"
	case currentID != "" && old.SameUserFields(doc) && !dropToken:
		arn, action = desc.ARN, "unchanged (it already holds these keys)"
	default:
		if err := c.putCurrent(ctx, store, *secretName, currentID, doc); err != nil {
			return c.failf(exitFail, name, "%v", err)
		}
		arn, action = desc.ARN, "updated"
		if pending := desc.VersionWithStage(secrets.StagePending); pending != "" && pending != desc.VersionWithStage(secrets.StageCurrent) {
			fmt.Fprintf(c.stderr, "mctoken init: note: a rotation of secret %s is unfinished (AWSPENDING on version %s); "+
				"the refresher keeps this edit when it finishes\n", *secretName, pending)
		}
	}

	fmt.Fprintf(c.stdout, "Secret %s: %s.\n", *secretName, action)
	fmt.Fprintf(c.stdout, "  ARN:       %s\n", arn)
	fmt.Fprintf(c.stdout, "  Base URL:  %s\n", base)
	fmt.Fprintf(c.stdout, "  Keys:      %s\n", checked)
	if dropToken {
		fmt.Fprintf(c.stdout, "  Token:     removed (it belonged to the previous account or base URL)\n")
	}
	fmt.Fprintf(c.stdout, "\nAdd it to the deployment, if it is not there yet:\n")
	fmt.Fprintf(c.stdout, "  AdditionalSecretArns parameter value: %s\n", arn)
	fmt.Fprintf(c.stdout, "  SECRET_IDS entry:                     %s\n", arn)
	fmt.Fprintf(c.stdout, "\nThe refresher stores the first token on its next scheduled run. To fetch it now:\n")
	fmt.Fprintf(c.stdout, "  mctoken refresh --secret %s [--remote FUNCTION]\n", arn)
	return exitOK
}

// putCurrent writes doc as a new version of the secret and makes it
// AWSCURRENT by a compare-and-swap from currentID (empty: the secret has no
// current version), the way the refresher writes: a concurrent change makes
// it fail instead of being overwritten.
func (c *cli) putCurrent(ctx context.Context, store *secrets.Store, id, currentID string, doc secrets.Document) error {
	body, err := doc.Encode()
	if err != nil {
		return err
	}
	versionID := secrets.VersionIDFor([]byte(currentID), body)
	if err := store.Put(ctx, id, secrets.NewVersion{VersionID: versionID, Doc: doc, Stages: []string{secrets.StageStaged}}); err != nil {
		return err
	}
	if err := store.MoveCurrent(ctx, id, versionID, currentID); err != nil {
		if errors.Is(err, secrets.ErrConflict) {
			return fmt.Errorf("secret %s changed while init ran (a refresh or another edit); nothing made current, run init again", id)
		}
		return err
	}
	return nil
}
