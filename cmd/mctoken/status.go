package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"golang.org/x/sync/errgroup"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
)

const statusDescription = `
Shows, for each secret (default: SECRET_IDS), its platform and base URL, when
the token expires, when it was issued (the last refresh) and by which grant,
the rotation settings, whether a rotation is unfinished, and a health verdict:

  ok          the token is fresh
  due         it expires within REFRESH_MARGIN (default 6h): the next run refreshes it
  expiring    less than 3h left
  expired     the token has expired
  no-token    the refresher has not stored a token yet
  error: ...  the secret cannot be read, is malformed, or cannot be refreshed

Exit status 0 when every secret is ok or due, 1 otherwise. Needs
secretsmanager:DescribeSecret and secretsmanager:GetSecretValue.`

// expiringWithin is when a token is unhealthy whatever the margin.
const expiringWithin = 3 * time.Hour

// Health verdicts.
const (
	healthOK       = "ok"
	healthDue      = "due"
	healthExpiring = "expiring"
	healthExpired  = "expired"
	healthNoToken  = "no-token"
	healthError    = "error"
)

// statusEntry is one secret's status; the JSON form is `status --json`.
type statusEntry struct {
	SecretID            string `json:"secret_id"`
	ARN                 string `json:"arn,omitempty"`
	Health              string `json:"health"`
	Error               string `json:"error,omitempty"`
	Platform            string `json:"platform,omitempty"`
	BaseURL             string `json:"base_url,omitempty"`
	CredentialsSecretID string `json:"credentials_secret_id,omitempty"`
	ExpiresAt           string `json:"expires_at,omitempty"`
	ExpiresIn           string `json:"expires_in,omitempty"`
	SecondsToExpiry     *int64 `json:"seconds_to_expiry,omitempty"`
	IssuedAt            string `json:"issued_at,omitempty"`
	IssuedAgo           string `json:"issued_ago,omitempty"`
	Grant               string `json:"grant,omitempty"`
	RotationEnabled     bool   `json:"rotation_enabled"`
	LastRotated         string `json:"last_rotated,omitempty"`
	NextRotation        string `json:"next_rotation,omitempty"`
	RotationPending     bool   `json:"rotation_pending"`
	PendingVersionID    string `json:"pending_version_id,omitempty"`
	Warning             string `json:"warning,omitempty"`
}

func (e statusEntry) healthy() bool { return e.Health == healthOK || e.Health == healthDue }

func (c *cli) cmdStatus(ctx context.Context, args []string) int {
	const name = "status"
	fs := newFlags(name, "[--secret ID]... [--json]", statusDescription)
	var ids stringList
	fs.Var(&ids, "secret", "secret name or ARN (repeatable; default: SECRET_IDS)")
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	if ok, code := c.parse(fs, args); !ok {
		return code
	}
	cfg, err := refresher.LoadConfig(c.getenv)
	if err != nil {
		return c.failf(exitUsage, name, "%v", err)
	}
	if len(ids) == 0 {
		ids = cfg.SecretIDs
	}
	if len(ids) == 0 {
		return c.failf(exitUsage, name, "no secrets: pass --secret ID or set SECRET_IDS")
	}
	awsCfg, err := c.awsConfig(ctx)
	if err != nil {
		return c.failf(exitFail, name, "%v", err)
	}
	store := secrets.NewStore(secretsmanager.NewFromConfig(awsCfg))

	entries := make([]statusEntry, len(ids))
	var g errgroup.Group
	g.SetLimit(8)
	for i, id := range ids {
		g.Go(func() error {
			entries[i] = secretStatus(ctx, store, id, cfg, time.Now())
			return nil
		})
	}
	_ = g.Wait()

	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(entries); err != nil {
			return c.failf(exitFail, name, "%v", err)
		}
	} else {
		printStatus(c.stdout, entries)
	}
	for _, e := range entries {
		if !e.healthy() {
			return exitFail
		}
	}
	return exitOK
}

// secretStatus reads one secret (DescribeSecret and GetSecretValue of
// AWSCURRENT) and judges it at now.
func secretStatus(ctx context.Context, store *secrets.Store, id string, cfg refresher.Config, now time.Time) statusEntry {
	e := statusEntry{SecretID: id}
	desc, derr := store.Describe(ctx, id)
	if derr == nil {
		e.ARN = desc.ARN
		e.RotationEnabled = desc.RotationEnabled
		e.LastRotated = timeString(desc.LastRotatedDate)
		e.NextRotation = timeString(desc.NextRotationDate)
		pending, current := desc.VersionWithStage(secrets.StagePending), desc.VersionWithStage(secrets.StageCurrent)
		if pending != "" && pending != current {
			e.RotationPending, e.PendingVersionID = true, pending
		}
	}
	cur, rerr := store.Read(ctx, id, secrets.StageCurrent)
	switch {
	case rerr != nil && errors.Is(rerr, secrets.ErrNotFound) && errors.Is(derr, secrets.ErrNotFound):
		e.Health, e.Error = healthError, "no such secret"
		return e
	case rerr != nil && errors.Is(rerr, secrets.ErrNotFound) && derr == nil:
		e.Health, e.Error = healthError, "the secret has no AWSCURRENT value"
		return e
	case rerr != nil:
		e.Health, e.Error = healthError, rerr.Error()
		return e
	case derr != nil:
		e.Warning = "rotation state unknown: " + derr.Error()
	}
	if e.ARN == "" {
		e.ARN = cur.ARN
	}
	doc := cur.Doc
	e.Platform, e.CredentialsSecretID, e.Grant = doc.Platform, doc.CredentialsSecretID, doc.Grant
	if e.Platform == "" && doc.BaseURL == "" {
		e.Platform = "(default)"
	}
	e.ExpiresAt, e.IssuedAt = timeString(doc.ExpiresAt), timeString(doc.IssuedAt)
	if !doc.IssuedAt.IsZero() {
		e.IssuedAgo = since(now.Sub(doc.IssuedAt))
	}
	if !doc.ExpiresAt.IsZero() {
		left := doc.ExpiresAt.Sub(now).Truncate(time.Second)
		secs := int64(left / time.Second)
		e.SecondsToExpiry = &secs
		e.ExpiresIn = relative(left)
	}
	base, err := refresher.BaseURL(doc, cfg.DefaultBaseURL)
	if err == nil {
		e.BaseURL = base
	}
	e.Health, e.Error = verdict(doc, err, now, cfg.Margin)
	return e
}

// verdict judges a readable document at now: baseErr is why its base URL is
// unusable, if it is; margin is REFRESH_MARGIN.
func verdict(doc secrets.Document, baseErr error, now time.Time, margin time.Duration) (health, reason string) {
	if err := doc.CheckKeys(); err != nil {
		return healthError, "the refresher cannot use it: " + err.Error()
	}
	if baseErr != nil {
		return healthError, "the refresher cannot use it: " + baseErr.Error()
	}
	if doc.AccessToken.IsZero() {
		return healthNoToken, ""
	}
	if doc.ExpiresAt.IsZero() {
		return healthError, fmt.Sprintf("field %q is missing beside %q", secrets.FieldExpiresAt, secrets.FieldAccessToken)
	}
	left := doc.ExpiresAt.Sub(now)
	switch {
	case left <= 0:
		return healthExpired, ""
	case left < expiringWithin:
		return healthExpiring, ""
	case left <= margin:
		return healthDue, ""
	case left > mightycall.DocumentedLifetime+5*time.Minute:
		// The refresher does not trust it either and refreshes at its next run.
		return healthDue, "expires_at is further ahead than a MightyCall token lives (24h)"
	}
	return healthOK, ""
}

func printStatus(w io.Writer, entries []statusEntry) {
	for i, e := range entries {
		if i > 0 {
			fmt.Fprintln(w)
		}
		health := e.Health
		if e.Error != "" {
			health += ": " + e.Error
		}
		row := func(k, v string) {
			if v != "" {
				fmt.Fprintf(w, "%-13s%s\n", k, v)
			}
		}
		row("secret", e.SecretID)
		row("arn", e.ARN)
		row("health", health)
		if e.Platform != "" || e.BaseURL != "" {
			row("platform", strings.TrimSpace(e.Platform+"  "+e.BaseURL))
		}
		row("credentials", e.CredentialsSecretID)
		if e.ExpiresAt != "" {
			row("expires", e.ExpiresAt+"  ("+e.ExpiresIn+")")
		}
		if e.IssuedAt != "" {
			row("issued", e.IssuedAt+"  (last refresh, "+e.IssuedAgo+")")
		}
		row("grant", e.Grant)
		if e.Health != healthError || e.ARN != "" {
			rot := "disabled"
			if e.RotationEnabled {
				rot = "enabled"
			}
			if e.LastRotated != "" {
				rot += ", last rotated " + e.LastRotated
			}
			if e.NextRotation != "" {
				rot += ", next " + e.NextRotation
			}
			row("rotation", rot)
			pending := "none"
			if e.RotationPending {
				pending = "rotation in progress/unfinished (AWSPENDING on version " + e.PendingVersionID + ")"
			}
			row("pending", pending)
		}
		row("warning", e.Warning)
	}
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// relative says how far an expiry is: "in 17h12m" or "EXPIRED 2h05m ago".
func relative(left time.Duration) string {
	if left > 0 {
		return "in " + human(left)
	}
	return "EXPIRED " + human(-left) + " ago"
}

// since says how long ago something happened: "6h48m ago".
func since(d time.Duration) string {
	if d < 0 {
		return "in " + human(-d) + " (clock skew?)"
	}
	return human(d) + " ago"
}

// human formats a non-negative duration compactly: 42s, 17m, 17h12m, 3d4h.
func human(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		h := int(d / time.Hour)
		m := int((d % time.Hour) / time.Minute)
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%02dm", h, m)
	}
	days := int(d / (24 * time.Hour))
	h := int((d % (24 * time.Hour)) / time.Hour)
	return fmt.Sprintf("%dd%dh", days, h)
}
