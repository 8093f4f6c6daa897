package refresher

import (
	"fmt"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/sensitive"
)

// maxClockSkew is how far an expires_at may exceed now + 24h before it is
// not trusted.
const maxClockSkew = 5 * time.Minute

// Decision is whether a secret needs a new token, and why. It is computed
// from the document alone.
type Decision struct {
	Due    bool
	Reason string
}

// Decide says whether the token in doc is due at now: it is when there is
// no token, no expiry, or the token expires within margin; force makes any
// token due.
func Decide(doc secrets.Document, now time.Time, margin time.Duration, force bool) Decision {
	d := Decision{Due: true}
	switch {
	case doc.AccessToken.IsZero():
		d.Reason = "no token yet"
	case doc.ExpiresAt.IsZero():
		d.Reason = "token has no expires_at"
	case force:
		d.Reason = "forced"
	case !doc.ExpiresAt.After(now):
		d.Reason = "token expired"
	case doc.ExpiresAt.Sub(now) > mightycall.DocumentedLifetime+maxClockSkew:
		// No MightyCall token lives that long: an old version restored or a
		// hand edit. Trusting it would stop refreshes and the expiry alarm.
		d.Reason = "expires_at is further ahead than a MightyCall token lives (24h): not trusted"
	case doc.ExpiresAt.Sub(now) <= margin:
		d.Reason = fmt.Sprintf("token expires within the %s margin", margin)
	default:
		return Decision{Reason: "fresh"}
	}
	return d
}

// NewToken turns an exchange's answer into what the secret stores. issued is
// the time the request was sent, so the stored expiry is never later than
// MightyCall's. A response without a refresh token keeps keep (the previous
// refresh token, when it is still usable).
func NewToken(t mightycall.Token, grant mightycall.Grant, issued time.Time, keep sensitive.String) secrets.Token {
	refresh := t.RefreshToken
	if refresh.IsZero() {
		refresh = keep
	}
	return secrets.Token{
		AccessToken:  t.AccessToken,
		TokenType:    t.TokenType,
		RefreshToken: refresh,
		ExpiresAt:    issued.Add(t.Lifetime).UTC().Truncate(time.Second),
		IssuedAt:     issued.UTC().Truncate(time.Second),
		Grant:        string(grant),
	}
}

// BaseURL picks the token endpoint's base for a secret: its base_url, else
// its platform, else the deployment default; and checks it.
func BaseURL(doc secrets.Document, fallback string) (string, error) {
	raw := fallback
	switch {
	case doc.BaseURL != "":
		raw = doc.BaseURL
	case doc.Platform != "":
		u, err := mightycall.BaseURLForPlatform(doc.Platform)
		if err != nil {
			return "", fmt.Errorf("field %q: %w", secrets.FieldPlatform, err)
		}
		raw = u
	}
	u, err := mightycall.CheckBaseURL(raw)
	if err != nil {
		if doc.BaseURL != "" {
			return "", fmt.Errorf("field %q: %w", secrets.FieldBaseURL, err)
		}
		return "", err
	}
	return u, nil
}
