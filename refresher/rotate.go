package refresher

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
)

// ErrRotation is wrapped by every refusal of a rotation step.
var ErrRotation = errors.New("rotation step refused")

// Rotate runs one step of Secrets Manager's rotation protocol. Each step is
// idempotent: a replay after it succeeded, or after a later step ran,
// succeeds without changing anything.
func (r *Refresher) Rotate(ctx context.Context, ev *RotationEvent) error {
	desc, err := r.deps.Store.Describe(ctx, ev.SecretID)
	if err != nil {
		return err
	}
	// The checks AWS's own rotation functions make.
	if !desc.RotationEnabled {
		return fmt.Errorf("%w: secret %s does not have rotation enabled", ErrRotation, ev.SecretID)
	}
	stages, ok := desc.VersionIDsToStages[ev.ClientRequestToken]
	if !ok {
		return fmt.Errorf("%w: version %s is not a version of secret %s", ErrRotation, ev.ClientRequestToken, ev.SecretID)
	}
	if slices.Contains(stages, secrets.StageCurrent) {
		r.deps.Logger.InfoContext(ctx, "rotation step already done: version is AWSCURRENT",
			"secret_id", ev.SecretID, "step", ev.Step, "version_id", ev.ClientRequestToken)
		return nil
	}
	if !slices.Contains(stages, secrets.StagePending) {
		if r.mergedIntoCurrent(ctx, ev) {
			return nil // finished, with an edit made during the rotation kept on top
		}
		return fmt.Errorf("%w: version %s of secret %s is not AWSPENDING (another rotation may be unfinished)", ErrRotation, ev.ClientRequestToken, ev.SecretID)
	}

	switch ev.Step {
	case StepCreate:
		return r.createSecret(ctx, ev)
	case StepSet:
		// MightyCall has nothing to set: the keys are unchanged and the new
		// token is already live there.
		return nil
	case StepTest:
		return r.testSecret(ctx, ev)
	case StepFinish:
		return r.finishSecret(ctx, ev, desc)
	}
	return fmt.Errorf("%w: unknown step %q", ErrBadEvent, ev.Step)
}

// createSecret writes the pending version: the current document with a new
// token from a full login with the keys. It never uses the current refresh
// token, so an abandoned rotation leaves AWSCURRENT fully usable.
func (r *Refresher) createSecret(ctx context.Context, ev *RotationEvent) error {
	cur, err := r.deps.Store.Read(ctx, ev.SecretID, secrets.StageCurrent)
	if err != nil {
		return fmt.Errorf("createSecret: %w", err)
	}
	if err := cur.Doc.CheckKeys(); err != nil {
		return fmt.Errorf("createSecret: secret %s: %w", ev.SecretID, err)
	}
	if pending, err := r.deps.Store.ReadVersion(ctx, ev.SecretID, ev.ClientRequestToken, secrets.StagePending); err == nil {
		verr := r.validToken(pending.Doc)
		if verr == nil {
			return nil // already created: a replay
		}
		// A rotation left unfinished for longer than a token lives: its
		// version can never get a new value (Secrets Manager refuses a new
		// value under the same token), so every retry would spend a login and
		// fail. Release the label so the next rotation starts afresh.
		if merr := r.deps.Store.MoveStage(ctx, ev.SecretID, secrets.StagePending, "", ev.ClientRequestToken); merr != nil {
			return fmt.Errorf("createSecret: version %s holds an unusable token (%v), and removing its AWSPENDING label failed: %w", ev.ClientRequestToken, verr, merr)
		}
		return fmt.Errorf("%w: version %s of secret %s holds an unusable token (%v) from an unfinished rotation; its AWSPENDING label was removed, so the next rotation starts afresh", ErrRotation, ev.ClientRequestToken, ev.SecretID, verr)
	} else if !errors.Is(err, secrets.ErrNotFound) {
		return fmt.Errorf("createSecret: %w", err)
	}

	doc, err := r.login(ctx, cur.Doc)
	if err != nil {
		return fmt.Errorf("createSecret: %w", err)
	}
	err = r.deps.Store.Put(ctx, ev.SecretID, secrets.NewVersion{
		VersionID:     ev.ClientRequestToken,
		Doc:           doc,
		Stages:        []string{secrets.StagePending},
		RotationToken: ev.RotationToken,
	})
	if errors.Is(err, secrets.ErrVersionExists) {
		// A concurrent or earlier run of this step wrote the version first.
		pending, rerr := r.deps.Store.ReadVersion(ctx, ev.SecretID, ev.ClientRequestToken, secrets.StagePending)
		if rerr == nil && r.validToken(pending.Doc) == nil {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("createSecret: %w", err)
	}
	r.deps.Logger.InfoContext(ctx, "rotation: pending version created",
		"secret_id", ev.SecretID, "version_id", ev.ClientRequestToken, "grant", mightycall.ClientCredentials,
		"expires_at", doc.ExpiresAt)
	return nil
}

// login returns doc with a token from a full login with its keys
// (client_credentials), never using its refresh token, which it keeps when
// the answer carries none. In the split layout the api_key copy comes along.
func (r *Refresher) login(ctx context.Context, doc secrets.Document) (secrets.Document, error) {
	base, err := BaseURL(doc, r.cfg.DefaultBaseURL)
	if err != nil {
		return doc, err
	}
	keys, err := r.keys(ctx, doc)
	if err != nil {
		return doc, err
	}
	exCtx, cancel := r.exchangeContext(ctx)
	defer cancel()
	issued := r.now()
	t, _, err := r.deps.Exchanger.Exchange(exCtx, mightycall.Request{BaseURL: base, APIKey: keys.APIKey, Grant: mightycall.ClientCredentials, ClientSecret: keys.UserKey})
	if err != nil {
		return doc, err
	}
	out := doc.WithToken(NewToken(t, mightycall.ClientCredentials, issued, doc.RefreshToken))
	if doc.CredentialsSecretID != "" {
		out.APIKey = keys.APIKey // the copy consumers send as x-api-key
	}
	return out, nil
}

// testSecret checks that the pending version holds a well-formed, unexpired
// token and, with TOKEN_CHECK=profile, that MightyCall accepts it.
func (r *Refresher) testSecret(ctx context.Context, ev *RotationEvent) error {
	pending, err := r.deps.Store.ReadVersion(ctx, ev.SecretID, ev.ClientRequestToken, secrets.StagePending)
	if err != nil {
		return fmt.Errorf("testSecret: %w", err)
	}
	if err := r.validToken(pending.Doc); err != nil {
		return fmt.Errorf("testSecret: secret %s version %s: %w", ev.SecretID, ev.ClientRequestToken, err)
	}
	if r.deps.Checker == nil || !r.cfg.TokenCheck {
		return nil
	}
	base, err := BaseURL(pending.Doc, r.cfg.DefaultBaseURL)
	if err != nil {
		return fmt.Errorf("testSecret: %w", err)
	}
	apiKey := pending.Doc.APIKey
	if apiKey.IsZero() {
		keys, err := r.keys(ctx, pending.Doc)
		if err != nil {
			return fmt.Errorf("testSecret: %w", err)
		}
		apiKey = keys.APIKey
	}
	if err := r.deps.Checker.CheckToken(ctx, base, apiKey, pending.Doc.AccessToken); err != nil {
		return fmt.Errorf("testSecret: secret %s: %w", ev.SecretID, err)
	}
	return nil
}

// validToken checks that doc holds a token that is well formed and unexpired.
func (r *Refresher) validToken(doc secrets.Document) error {
	switch {
	case doc.AccessToken.IsZero():
		return fmt.Errorf("field %q is empty", secrets.FieldAccessToken)
	case doc.ExpiresAt.IsZero():
		return fmt.Errorf("field %q is missing", secrets.FieldExpiresAt)
	case !doc.ExpiresAt.After(r.now()):
		return fmt.Errorf("token expired at %s", doc.ExpiresAt.Format("2006-01-02T15:04:05Z07:00"))
	}
	return doc.CheckKeys()
}

// finishSecret moves AWSCURRENT to the pending version, taking it from
// whichever version holds it now. If a user edited the secret after
// createSecret (the pending version was based on an older AWSCURRENT), the
// edit is kept: a version with the user's fields and the rotated token is
// written on top, by the same compare-and-swap as a scheduled refresh.
func (r *Refresher) finishSecret(ctx context.Context, ev *RotationEvent, desc secrets.Description) error {
	pending, err := r.deps.Store.ReadVersion(ctx, ev.SecretID, ev.ClientRequestToken, secrets.StagePending)
	if err != nil {
		return fmt.Errorf("finishSecret: %w", err)
	}
	from := desc.VersionWithStage(secrets.StageCurrent)
	var cur secrets.Version
	if from != "" {
		if cur, err = r.deps.Store.Read(ctx, ev.SecretID, secrets.StageCurrent); err != nil {
			return fmt.Errorf("finishSecret: %w", err)
		}
		from = cur.VersionID
		if cur.Doc.AccessToken.Equal(pending.Doc.AccessToken) {
			// Finished before, with a user edit merged on top. If moving
			// AWSPENDING onto the merged version was interrupted, complete it,
			// or the rotation looks unfinished and the next one is refused.
			if err := r.deps.Store.MoveStage(ctx, ev.SecretID, secrets.StagePending, cur.VersionID, ev.ClientRequestToken); err != nil {
				return fmt.Errorf("finishSecret: rotated and kept the edit, but moving AWSPENDING failed: %w", err)
			}
			return nil
		}
	}
	if err := r.deps.Store.MoveCurrent(ctx, ev.SecretID, ev.ClientRequestToken, from); err != nil {
		return fmt.Errorf("finishSecret: %w", err)
	}
	r.deps.Logger.InfoContext(ctx, "rotation finished: AWSCURRENT moved",
		"secret_id", ev.SecretID, "version_id", ev.ClientRequestToken, "previous_version_id", from)
	if from == "" || pending.Doc.SameUserFields(cur.Doc) {
		// A finished rotation may leave AWSPENDING on the new current
		// version or on none (RotateSecret's documentation). Take it off:
		// once a later refresh moves AWSCURRENT on, a label left here would
		// read as an unfinished rotation. Best effort: a later refresh
		// clears it too (clearFinishedRotation).
		if err := r.deps.Store.MoveStage(ctx, ev.SecretID, secrets.StagePending, "", ev.ClientRequestToken); err != nil {
			r.deps.Logger.WarnContext(ctx, "rotation finished, but removing its AWSPENDING label failed; the next refresh will",
				"secret_id", ev.SecretID, "version_id", ev.ClientRequestToken, "error", err.Error())
		}
		return nil
	}
	merged := cur.Doc.WithToken(pending.Doc.Token())
	if !pending.Doc.SameAccount(cur.Doc) {
		// The edit changed the keys: the rotated token belongs to the old
		// ones. Log in with the new keys; if that fails, store the edit
		// without a token, and the next scheduled run logs in.
		doc, err := r.login(ctx, cur.Doc)
		if err != nil {
			r.deps.Logger.WarnContext(ctx, "rotation: the keys changed during the rotation and logging in with the new ones failed; the next run will",
				"secret_id", ev.SecretID, "error", err.Error())
			doc = cur.Doc.WithToken(secrets.Token{})
		}
		merged = doc
	}
	id, err := writeID(ev.ClientRequestToken, merged)
	if err != nil {
		return fmt.Errorf("finishSecret: %w", err)
	}
	if err := r.deps.Store.Put(ctx, ev.SecretID, secrets.NewVersion{VersionID: id, Doc: merged, Stages: []string{secrets.StageStaged}}); err != nil {
		return fmt.Errorf("finishSecret: rotated, but keeping the edit made during the rotation failed: %w", err)
	}
	if err := r.deps.Store.MoveCurrent(ctx, ev.SecretID, id, ev.ClientRequestToken); err != nil {
		return fmt.Errorf("finishSecret: rotated, but keeping the edit made during the rotation failed: %w", err)
	}
	// Leave AWSPENDING on the new current version, as after any finished
	// rotation, so the next rotation can start.
	if err := r.deps.Store.MoveStage(ctx, ev.SecretID, secrets.StagePending, id, ev.ClientRequestToken); err != nil {
		return fmt.Errorf("finishSecret: rotated and kept the edit, but moving AWSPENDING failed: %w", err)
	}
	r.deps.Logger.WarnContext(ctx, "rotation finished: the secret was edited during the rotation; the edit is kept",
		"secret_id", ev.SecretID, "version_id", id)
	return nil
}

// mergedIntoCurrent reports whether the rotation of ev finished with an edit
// merged on top: AWSCURRENT then holds the token of ev's version.
func (r *Refresher) mergedIntoCurrent(ctx context.Context, ev *RotationEvent) bool {
	v, err := r.deps.Store.ReadVersion(ctx, ev.SecretID, ev.ClientRequestToken, "")
	if err != nil || v.Doc.AccessToken.IsZero() {
		return false
	}
	cur, err := r.deps.Store.Read(ctx, ev.SecretID, secrets.StageCurrent)
	return err == nil && cur.Doc.AccessToken.Equal(v.Doc.AccessToken)
}
