package refresher

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/sensitive"
)

// Outcome of one secret's refresh.
type Outcome string

// Outcomes.
const (
	Refreshed Outcome = "refreshed"
	Skipped   Outcome = "skipped"
	Failed    Outcome = "failed"
)

// Result is the outcome of one secret. It never holds a key or token.
type Result struct {
	SecretID string
	Outcome  Outcome
	Grant    string
	// ExpiresAt is the expiry of the token AWSCURRENT holds after the run,
	// when known.
	ExpiresAt time.Time
	Reason    string // why it was due, skipped, or how it was obtained
	Err       error
	Attempts  int           // token requests made to MightyCall
	Exchange  time.Duration // time spent in token requests
	Duration  time.Duration
	// Expiry is known when ExpiresAt reflects AWSCURRENT (for the metric).
	ExpiryKnown bool
}

// maxRebases bounds how often a write is re-based on a newer AWSCURRENT.
const maxRebases = 3

// RefreshSecret refreshes one secret when due (always with force), writing
// the new version as a compare-and-swap on AWSCURRENT.
func (r *Refresher) RefreshSecret(ctx context.Context, secretID string, force bool) (res Result) {
	start := time.Now()
	res = Result{SecretID: secretID}
	defer func() {
		res.Duration = time.Since(start)
		if res.Err != nil {
			res.Outcome = Failed
		}
	}()

	cur, err := r.deps.Store.Read(ctx, secretID, secrets.StageCurrent)
	if err != nil {
		res.Err = err
		return res
	}
	r.noteExpiry(&res, cur.Doc)
	decision := Decide(cur.Doc, r.now(), r.cfg.Margin, force)
	res.Reason = decision.Reason
	if err := r.checkWritable(cur.Doc); err != nil {
		res.Err = fmt.Errorf("secret %s: %w", secretID, err)
		return res
	}
	if !decision.Due {
		res.Outcome = Skipped
		res.Grant = cur.Doc.Grant
		return res
	}
	exCtx, cancel := r.exchangeContext(ctx)
	defer cancel()
	for login := 0; ; login++ {
		tok, keys, err := r.obtainFor(exCtx, &res, cur.Doc)
		if err != nil {
			res.Err = err
			return res
		}
		newer, done := r.write(ctx, &res, secretID, cur, tok, keys)
		if done {
			return res
		}
		// The keys changed while the token was being obtained: a token of the
		// old keys must not be stored beside the new ones. Log in again with
		// the new keys, once.
		if login > 0 {
			res.Err = fmt.Errorf("secret %s: the keys changed twice while refreshing; try again", secretID)
			return res
		}
		if err := r.checkWritable(newer.Doc); err != nil {
			res.Err = fmt.Errorf("secret %s changed while refreshing: %w", secretID, err)
			return res
		}
		res.Reason += "; the keys changed meanwhile, logged in again with the new ones"
		cur = newer
		cur.Doc.RefreshToken = sensitive.String{} // it belongs to the old keys
	}
}

// checkWritable fails a secret before any call to MightyCall when the
// refresher could not use or store it: keys missing, a bad base URL, or a
// document too large to hold a token beside everything else.
func (r *Refresher) checkWritable(doc secrets.Document) error {
	if err := doc.CheckKeys(); err != nil {
		return err
	}
	if _, err := BaseURL(doc, r.cfg.DefaultBaseURL); err != nil {
		return err
	}
	room := strings.Repeat("x", tokenRoom)
	if _, err := doc.WithToken(secrets.Token{AccessToken: sensitive.New(room), RefreshToken: sensitive.New(room),
		TokenType: "bearer", ExpiresAt: r.now(), IssuedAt: r.now(), Grant: secrets.GrantClientCredentials}).Encode(); err != nil {
		return fmt.Errorf("no room for a token (%d bytes each for access and refresh token): %w", tokenRoom, err)
	}
	return nil
}

// tokenRoom is the size checkWritable reserves for each token; MightyCall's
// are far shorter (tens of bytes).
const tokenRoom = 2048

// obtainFor exchanges a token for doc, recording attempts and time in res.
func (r *Refresher) obtainFor(ctx context.Context, res *Result, doc secrets.Document) (secrets.Token, secrets.Keys, error) {
	base, err := BaseURL(doc, r.cfg.DefaultBaseURL)
	if err != nil {
		return secrets.Token{}, secrets.Keys{}, fmt.Errorf("secret %s: %w", res.SecretID, err)
	}
	keys, err := r.keys(ctx, doc)
	if err != nil {
		return secrets.Token{}, secrets.Keys{}, fmt.Errorf("secret %s: %w", res.SecretID, err)
	}
	exStart := time.Now()
	tok, how, attempts, err := r.obtain(ctx, base, keys, doc.RefreshToken)
	res.Attempts, res.Exchange = res.Attempts+attempts, res.Exchange+time.Since(exStart)
	if err != nil {
		return secrets.Token{}, secrets.Keys{}, err
	}
	res.Grant, res.Reason = tok.Grant, res.Reason+"; "+how
	return tok, keys, nil
}

// write stores tok as a new version based on cur and makes it current, as a
// compare-and-swap. When AWSCURRENT moved meanwhile it re-bases on the newer
// version, keeping a user's edit; done is false (with the newer version)
// only when that edit changed the account's keys, so tok must not be kept.
func (r *Refresher) write(ctx context.Context, res *Result, secretID string, cur secrets.Version, tok secrets.Token, keys secrets.Keys) (secrets.Version, bool) {
	for rebase := 0; ; rebase++ {
		doc := cur.Doc.WithToken(tok)
		if cur.Doc.CredentialsSecretID != "" {
			doc.APIKey = keys.APIKey // the copy consumers send as x-api-key
		}
		versionID, err := writeID(cur.VersionID, doc)
		if err != nil {
			res.Err = err
			return cur, true
		}
		if err := r.deps.Store.Put(ctx, secretID, secrets.NewVersion{VersionID: versionID, Doc: doc, Stages: []string{secrets.StageStaged}}); err != nil {
			res.Err = fmt.Errorf("token obtained but not stored, AWSCURRENT unchanged: %w", err)
			return cur, true
		}
		err = r.deps.Store.MoveCurrent(ctx, secretID, versionID, cur.VersionID)
		if err == nil {
			res.Outcome = Refreshed
			r.noteExpiry(res, doc)
			r.clearFinishedRotation(ctx, secretID, cur)
			return cur, true
		}
		if !errors.Is(err, secrets.ErrConflict) {
			// The move's answer may be lost after the move happened: look.
			if now, rerr := r.deps.Store.Read(ctx, secretID, secrets.StageCurrent); rerr == nil && now.VersionID == versionID {
				res.Outcome = Refreshed
				r.noteExpiry(res, doc)
				return cur, true
			}
			res.Err = fmt.Errorf("token stored as version %s but not made current; AWSCURRENT still holds the previous token: %w", versionID, err)
			return cur, true
		}
		if rebase >= maxRebases {
			res.Err = fmt.Errorf("token stored as version %s but not made current: the secret kept changing: %w", versionID, err)
			return cur, true
		}
		// Someone changed the secret since we read it: a user edit, or another
		// refresh. Re-read, and base the write on what is there now.
		newer, rerr := r.deps.Store.Read(ctx, secretID, secrets.StageCurrent)
		if rerr != nil {
			res.Err = fmt.Errorf("AWSCURRENT moved while refreshing, and re-reading it failed: %w", rerr)
			return cur, true
		}
		if newer.VersionID == versionID {
			// Our own move landed but its answer was lost; the retried move
			// then found AWSCURRENT already on our version.
			res.Outcome = Refreshed
			r.noteExpiry(res, doc)
			return cur, true
		}
		if !newer.Doc.AccessToken.Equal(cur.Doc.AccessToken) && !Decide(newer.Doc, r.now(), r.cfg.Margin, false).Due {
			// Another run stored a fresh token meanwhile: keep it.
			res.Outcome, res.Grant, res.Reason = Skipped, newer.Doc.Grant, "refreshed concurrently by another run"
			r.noteExpiry(res, newer.Doc)
			return cur, true
		}
		if err := newer.Doc.CheckKeys(); err != nil {
			res.Err = fmt.Errorf("secret %s changed while refreshing: %w", secretID, err)
			return cur, true
		}
		if !newer.Doc.SameAccount(cur.Doc) {
			return newer, false
		}
		cur = newer
	}
}

func (r *Refresher) noteExpiry(res *Result, doc secrets.Document) {
	res.ExpiresAt, res.ExpiryKnown = doc.ExpiresAt, true
}

// writeID is the ClientRequestToken of a write based on version basedOn.
func writeID(basedOn string, doc secrets.Document) (string, error) {
	body, err := doc.Encode()
	if err != nil {
		return "", err
	}
	return secrets.VersionIDFor([]byte(basedOn), body), nil
}

// keys returns the account keys: from the document, or from the
// credentials secret it names (split layout), which is only ever read.
func (r *Refresher) keys(ctx context.Context, doc secrets.Document) (secrets.Keys, error) {
	if doc.CredentialsSecretID == "" {
		return secrets.Keys{APIKey: doc.APIKey, UserKey: doc.UserKey}, nil
	}
	cred, err := r.deps.Store.Read(ctx, doc.CredentialsSecretID, secrets.StageCurrent)
	if err != nil {
		return secrets.Keys{}, fmt.Errorf("credentials secret: %w", err)
	}
	keys, err := cred.Doc.CredentialKeys()
	if err != nil {
		return secrets.Keys{}, fmt.Errorf("credentials secret %s: %w", doc.CredentialsSecretID, err)
	}
	return keys, nil
}

// exchangeContext leaves WriteReserve (at most a third of what is left) of
// the invocation's time for writing the secret after the exchange.
func (r *Refresher) exchangeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	reserve := min(r.cfg.WriteReserve, time.Until(dl)/3)
	return context.WithDeadline(ctx, dl.Add(-reserve))
}

// obtain gets a new token: with the refresh token when there is one, falling
// back to the keys when MightyCall rejects it; with the keys otherwise. It
// returns the token to store and how it was obtained.
func (r *Refresher) obtain(ctx context.Context, base string, keys secrets.Keys, refresh sensitive.String) (secrets.Token, string, int, error) {
	attempts := 0
	how := ""
	keep := refresh // an unused refresh token still works
	if !refresh.IsZero() {
		issued := r.now()
		t, n, err := r.deps.Exchanger.Exchange(ctx, mightycall.Request{BaseURL: base, APIKey: keys.APIKey, Grant: mightycall.RefreshToken, RefreshToken: refresh})
		attempts += n
		if err == nil {
			return NewToken(t, mightycall.RefreshToken, issued, refresh), "refresh token accepted", attempts, nil
		}
		var me *mightycall.Error
		if !errors.As(err, &me) || !me.Rejected() {
			return secrets.Token{}, "", attempts, err
		}
		if keys.UserKey.IsZero() {
			return secrets.Token{}, "", attempts, fmt.Errorf("refresh token rejected and no User key to fall back on: %w", err)
		}
		how = fmt.Sprintf("refresh token rejected (%s), fell back to the keys", rejection(me))
		keep = sensitive.String{} // a rejected one is never kept
	}
	issued := r.now()
	t, n, err := r.deps.Exchanger.Exchange(ctx, mightycall.Request{BaseURL: base, APIKey: keys.APIKey, Grant: mightycall.ClientCredentials, ClientSecret: keys.UserKey})
	attempts += n
	if err != nil {
		return secrets.Token{}, "", attempts, err
	}
	if how == "" {
		how = "logged in with the keys"
	}
	return NewToken(t, mightycall.ClientCredentials, issued, keep), how, attempts, nil
}

func rejection(e *mightycall.Error) string {
	if e.Code != "" {
		return e.Code
	}
	return fmt.Sprintf("HTTP %d", e.StatusCode)
}

// clearFinishedRotation runs after AWSCURRENT moved off old. When old also
// carried AWSPENDING, that label marked a finished rotation (it sits on the
// current version after finishSecret); left on a version that is no longer
// current it would look like an unfinished rotation, and Secrets Manager
// would refuse the next one. So it is removed from that version only: a
// rotation started since then has moved the label elsewhere, and the removal
// then fails harmlessly without touching it.
func (r *Refresher) clearFinishedRotation(ctx context.Context, secretID string, old secrets.Version) {
	if !slices.Contains(old.Stages, secrets.StagePending) {
		return
	}
	if err := r.deps.Store.MoveStage(ctx, secretID, secrets.StagePending, "", old.VersionID); err != nil {
		r.deps.Logger.WarnContext(ctx, "could not clear the AWSPENDING label of a finished rotation",
			"secret_id", secretID, "version_id", old.VersionID, "error", err.Error())
	}
}
