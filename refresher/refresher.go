// Package refresher keeps MightyCall bearer tokens fresh in Secrets Manager.
//
// The decision logic (Decide, NewToken, BaseURL, ParseEvent) is pure. The
// Refresher composes it with two edges declared here as small interfaces:
// a Store over Secrets Manager (secrets.Store in production) and an
// Exchanger for MightyCall's token endpoint (mightycall.Client).
package refresher

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/sensitive"
)

// Store is what the refresher needs from Secrets Manager.
type Store interface {
	Read(ctx context.Context, secretID, stage string) (secrets.Version, error)
	ReadVersion(ctx context.Context, secretID, versionID, stage string) (secrets.Version, error)
	Describe(ctx context.Context, secretID string) (secrets.Description, error)
	Put(ctx context.Context, secretID string, v secrets.NewVersion) error
	MoveCurrent(ctx context.Context, secretID, to, from string) error
	MoveStage(ctx context.Context, secretID, stage, to, from string) error
}

// Exchanger obtains tokens from MightyCall; it returns the attempts made.
type Exchanger interface {
	Exchange(ctx context.Context, req mightycall.Request) (mightycall.Token, int, error)
}

// TokenChecker makes a live authenticated call with a token.
type TokenChecker interface {
	CheckToken(ctx context.Context, baseURL string, apiKey, accessToken sensitive.String) error
}

// Deps are the refresher's edges and clock.
type Deps struct {
	Store     Store
	Exchanger Exchanger
	// Checker, when set, makes testSecret call MightyCall with the new token.
	Checker TokenChecker
	Now     func() time.Time
	Logger  *slog.Logger
	// Metrics receives CloudWatch Embedded Metric Format lines (stdout in
	// Lambda); nil discards them.
	Metrics io.Writer
}

// Refresher runs refreshes and rotation steps. It is safe for concurrent
// use and keeps no state between invocations beyond its configuration.
type Refresher struct {
	cfg  Config
	deps Deps
}

// New returns a Refresher. cfg must come from LoadConfig or be filled the
// same way (see Config.withDefaults).
func New(cfg Config, deps Deps) *Refresher {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Metrics == nil {
		deps.Metrics = io.Discard
	}
	return &Refresher{cfg: cfg.withDefaults(), deps: deps}
}

func (r *Refresher) now() time.Time { return r.deps.Now().UTC() }
