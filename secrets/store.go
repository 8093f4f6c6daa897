package secrets

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/sensitive"
)

// Staging labels.
const (
	StageCurrent  = "AWSCURRENT"
	StagePending  = "AWSPENDING"
	StagePrevious = "AWSPREVIOUS"
	// StageStaged labels a version this product (the refresher, or mctoken
	// init) has written but not yet made current. It is the product's own
	// label, so writing it never moves AWSCURRENT or AWSPENDING; the label
	// moves to each newer write.
	StageStaged = "MCREFRESH_STAGED"
)

// Sentinel errors a caller can test with errors.Is.
var (
	// ErrNotFound: the secret, or the version asked for, does not exist (or
	// the version exists but has no value yet, as the AWSPENDING placeholder
	// Secrets Manager creates before createSecret).
	ErrNotFound = errors.New("not found")
	// ErrVersionExists: a version with that ClientRequestToken already holds
	// a different value.
	ErrVersionExists = errors.New("version already exists with another value")
	// ErrConflict: AWSCURRENT is no longer on the version the caller read.
	ErrConflict = errors.New("AWSCURRENT moved since it was read")
	// ErrDeleted: the secret is scheduled for deletion.
	ErrDeleted = errors.New("secret is scheduled for deletion")
)

// API is the part of the Secrets Manager client the store uses;
// *secretsmanager.Client satisfies it.
type API interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(context.Context, *secretsmanager.PutSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	UpdateSecretVersionStage(context.Context, *secretsmanager.UpdateSecretVersionStageInput, ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
	DescribeSecret(context.Context, *secretsmanager.DescribeSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
}

// Store reads and writes secret versions. It holds no state of its own
// beyond the client, so one Store serves concurrent invocations.
type Store struct {
	api API
}

// NewStore returns a Store over api.
func NewStore(api API) *Store { return &Store{api: api} }

// Version is one version of a secret, decoded.
type Version struct {
	ARN       string
	Name      string
	VersionID string
	Stages    []string
	Doc       Document
}

// Description is what DescribeSecret says about rotation and versions.
type Description struct {
	ARN                string
	Name               string
	RotationEnabled    bool
	LastRotatedDate    time.Time
	NextRotationDate   time.Time
	LastChangedDate    time.Time
	VersionIDsToStages map[string][]string
}

// VersionWithStage returns the id of the version carrying stage, or "".
func (d Description) VersionWithStage(stage string) string {
	for id, stages := range d.VersionIDsToStages {
		if slices.Contains(stages, stage) {
			return id
		}
	}
	return ""
}

// Read returns the version of secretID that carries stage. Reads always
// name the stage: after a label move moto's unstaged read lags.
func (s *Store) Read(ctx context.Context, secretID, stage string) (Version, error) {
	return s.get(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID), VersionStage: aws.String(stage)})
}

// ReadVersion returns version versionID of secretID, which must carry stage
// unless stage is empty.
func (s *Store) ReadVersion(ctx context.Context, secretID, versionID, stage string) (Version, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID), VersionId: aws.String(versionID)}
	if stage != "" {
		in.VersionStage = aws.String(stage)
	}
	return s.get(ctx, in)
}

func (s *Store) get(ctx context.Context, in *secretsmanager.GetSecretValueInput) (Version, error) {
	what := describeRead(in)
	out, err := s.api.GetSecretValue(ctx, in)
	if err != nil {
		return Version{}, fmt.Errorf("read %s: %w", what, classify(err))
	}
	v := Version{
		ARN:       aws.ToString(out.ARN),
		Name:      aws.ToString(out.Name),
		VersionID: aws.ToString(out.VersionId),
		Stages:    out.VersionStages,
	}
	if out.SecretString == nil {
		if out.SecretBinary != nil {
			return v, fmt.Errorf("read %s: %w: the value is SecretBinary; a JSON SecretString is required", what, ErrMalformed)
		}
		// An AWSPENDING placeholder has no value yet.
		return v, fmt.Errorf("read %s: version has no value: %w", what, ErrNotFound)
	}
	doc, err := ParseDocument([]byte(*out.SecretString))
	if err != nil {
		return v, fmt.Errorf("read %s: %w", what, err)
	}
	v.Doc = doc
	return v, nil
}

func describeRead(in *secretsmanager.GetSecretValueInput) string {
	s := "secret " + aws.ToString(in.SecretId)
	if in.VersionId != nil {
		s += " version " + aws.ToString(in.VersionId)
	}
	if in.VersionStage != nil {
		s += " stage " + aws.ToString(in.VersionStage)
	}
	return s
}

// Describe returns rotation and version metadata of secretID.
func (s *Store) Describe(ctx context.Context, secretID string) (Description, error) {
	out, err := s.api.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
	if err != nil {
		return Description{}, fmt.Errorf("describe secret %s: %w", secretID, classify(err))
	}
	if out.DeletedDate != nil {
		return Description{}, fmt.Errorf("describe secret %s: %w (deletion date %s)", secretID, ErrDeleted, out.DeletedDate.UTC().Format(time.RFC3339))
	}
	return Description{
		ARN:                aws.ToString(out.ARN),
		Name:               aws.ToString(out.Name),
		RotationEnabled:    aws.ToBool(out.RotationEnabled),
		LastRotatedDate:    aws.ToTime(out.LastRotatedDate),
		NextRotationDate:   aws.ToTime(out.NextRotationDate),
		LastChangedDate:    aws.ToTime(out.LastChangedDate),
		VersionIDsToStages: out.VersionIdsToStages,
	}, nil
}

// NewVersion is a version to write.
type NewVersion struct {
	// VersionID is the ClientRequestToken: the same id and value make a
	// retried write a no-op.
	VersionID string
	Doc       Document
	// Stages to attach; never empty, so AWSCURRENT never moves implicitly.
	Stages []string
	// RotationToken is passed through from a rotation event, when present.
	RotationToken sensitive.String
}

// Put writes v. A version that already holds the same value is success; one
// that holds a different value is ErrVersionExists.
func (s *Store) Put(ctx context.Context, secretID string, v NewVersion) error {
	if len(v.Stages) == 0 {
		return fmt.Errorf("write secret %s: no staging label given", secretID)
	}
	body, err := v.Doc.Encode()
	if err != nil {
		return fmt.Errorf("write secret %s: %w", secretID, err)
	}
	in := &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(secretID),
		ClientRequestToken: aws.String(v.VersionID),
		SecretString:       aws.String(string(body)),
		VersionStages:      v.Stages,
	}
	if !v.RotationToken.IsZero() {
		in.RotationToken = aws.String(v.RotationToken.Reveal())
	}
	if _, err := s.api.PutSecretValue(ctx, in); err != nil {
		return fmt.Errorf("write secret %s version %s with %v: %w", secretID, v.VersionID, v.Stages, classify(err))
	}
	return nil
}

// MoveCurrent moves AWSCURRENT from version from (empty when the secret has
// no current version) to version to. Secrets Manager refuses the move when
// AWSCURRENT is on another version than from, which makes it a
// compare-and-swap: the error then wraps ErrConflict.
func (s *Store) MoveCurrent(ctx context.Context, secretID, to, from string) error {
	return s.MoveStage(ctx, secretID, StageCurrent, to, from)
}

// MoveStage moves stage from version from to version to. An empty to only
// removes the stage from from; an empty from attaches it where no version
// carries it. A stage found on another version than from is ErrConflict.
func (s *Store) MoveStage(ctx context.Context, secretID, stage, to, from string) error {
	in := &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:     aws.String(secretID),
		VersionStage: aws.String(stage),
	}
	if to != "" {
		in.MoveToVersionId = aws.String(to)
	}
	if from != "" && from != to {
		in.RemoveFromVersionId = aws.String(from)
	}
	if _, err := s.api.UpdateSecretVersionStage(ctx, in); err != nil {
		err = classify(err)
		var ip *types.InvalidParameterException
		if errors.As(err, &ip) {
			err = fmt.Errorf("%w: %w", ErrConflict, err)
		}
		return fmt.Errorf("move %s of secret %s from version %q to %q: %w", stage, secretID, from, to, err)
	}
	return nil
}

func classify(err error) error {
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	var re *types.ResourceExistsException
	if errors.As(err, &re) {
		return fmt.Errorf("%w: %w", ErrVersionExists, err)
	}
	var ir *types.InvalidRequestException
	// AWS: "...because it was marked for deletion."; moto: "...currently marked deleted."
	if errors.As(err, &ir) && ir.Message != nil && strings.Contains(strings.ToLower(*ir.Message), "marked") &&
		strings.Contains(strings.ToLower(*ir.Message), "delet") {
		return fmt.Errorf("%w: %w", ErrDeleted, err)
	}
	return err
}

// VersionIDFor derives a ClientRequestToken from what a write is based on
// and what it writes, so a retry of the same write is idempotent and two
// different writes never share an id. The result has a UUID's shape.
func VersionIDFor(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:", len(p))
		h.Write(p)
	}
	sum := h.Sum(nil)
	sum[6] = (sum[6] & 0x0f) | 0x50 // version 5 layout (name-based, SHA)
	sum[8] = (sum[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
}
