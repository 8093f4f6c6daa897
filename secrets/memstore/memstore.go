// Package memstore is an in-memory Secrets Manager with AWS's version and
// staging-label semantics (not moto's), for fast unit tests and for the
// simulation. It implements the store interface the refresher uses, plus
// the operations a user or Secrets Manager itself performs (create, a
// console edit, starting a rotation), call counters and fault injection.
package memstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
)

type version struct {
	value   []byte // nil: a placeholder without a value
	stages  []string
	created time.Time
}

type secret struct {
	arn      string
	versions map[string]*version
	rotation bool
	deleted  bool
	order    []string // version ids, oldest first
}

// Store is safe for concurrent use.
type Store struct {
	mu      sync.Mutex
	now     func() time.Time
	secrets map[string]*secret
	calls   map[string]int
	faults  map[string][]error
	// BeforeOp, when set, runs before each operation (outside the lock);
	// tests use it to interleave a concurrent change at an exact point.
	BeforeOp func(op, secretID string)
}

// New returns an empty store using now as its clock (time.Now when nil).
func New(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{now: now, secrets: map[string]*secret{}, calls: map[string]int{}, faults: map[string][]error{}}
}

// Operation names for Calls and Fail.
const (
	OpGet      = "GetSecretValue"
	OpPut      = "PutSecretValue"
	OpMove     = "UpdateSecretVersionStage"
	OpDescribe = "DescribeSecret"
)

// Calls returns how many times op was called (faulted calls included).
func (s *Store) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// TotalCalls returns the number of calls of every operation.
func (s *Store) TotalCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		n += c
	}
	return n
}

// ResetCalls zeroes the counters.
func (s *Store) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = map[string]int{}
}

// Fail makes the next call of op fail with err (queued, FIFO).
func (s *Store) Fail(op string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[op] = append(s.faults[op], err)
}

func (s *Store) enter(op, id string) error {
	if s.BeforeOp != nil {
		s.BeforeOp(op, id)
	}
	s.mu.Lock()
	s.calls[op]++
	if q := s.faults[op]; len(q) > 0 {
		s.faults[op] = q[1:]
		s.mu.Unlock()
		return q[0]
	}
	return nil
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Create creates a secret whose first version (AWSCURRENT) holds value.
func (s *Store) Create(id string, value []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := &secret{arn: "arn:aws:secretsmanager:us-east-1:000000000000:secret:" + id + "-AbCdEf", versions: map[string]*version{}}
	s.secrets[id] = sec
	vid := newID()
	s.addVersion(sec, vid, value, []string{secrets.StageCurrent})
	return vid
}

// SetRotationEnabled turns the secret's rotation flag on or off.
func (s *Store) SetRotationEnabled(id string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets[id].rotation = on
}

// MarkDeleted schedules the secret for deletion.
func (s *Store) MarkDeleted(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets[id].deleted = true
}

// UserPut writes value as the console or `aws secretsmanager
// put-secret-value` would: a new version that becomes AWSCURRENT.
func (s *Store) UserPut(id string, value []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	vid := newID()
	s.addVersion(s.secrets[id], vid, value, []string{secrets.StageCurrent})
	return vid
}

// StartRotation does what RotateSecret does before invoking the function:
// it attaches AWSPENDING to a new version without a value, and enables
// rotation. It returns the ClientRequestToken.
func (s *Store) StartRotation(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[id]
	sec.rotation = true
	vid := newID()
	s.addVersion(sec, vid, nil, []string{secrets.StagePending})
	return vid
}

// ValueAt returns the value of the version carrying stage, or nil.
func (s *Store) ValueAt(id, stage string) (versionID string, value []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for vid, v := range s.secrets[id].versions {
		if slices.Contains(v.stages, stage) {
			return vid, slices.Clone(v.value)
		}
	}
	return "", nil
}

// Stages returns each version's labels (versions without labels included).
func (s *Store) Stages(id string) map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]string{}
	for vid, v := range s.secrets[id].versions {
		out[vid] = slices.Clone(v.stages)
	}
	return out
}

// VersionCount returns how many versions the secret has.
func (s *Store) VersionCount(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.secrets[id].versions)
}

// addVersion must run with the lock held. Stages move: a label sits on one
// version; AWSCURRENT moving leaves AWSPREVIOUS on the version it left.
func (s *Store) addVersion(sec *secret, vid string, value []byte, stages []string) {
	sec.versions[vid] = &version{value: slices.Clone(value), created: s.now()}
	sec.order = append(sec.order, vid)
	for _, st := range stages {
		s.attach(sec, vid, st)
	}
}

func (s *Store) attach(sec *secret, vid, stage string) {
	for other, v := range sec.versions {
		if other != vid && slices.Contains(v.stages, stage) {
			v.stages = slices.DeleteFunc(v.stages, func(x string) bool { return x == stage })
			if stage == secrets.StageCurrent {
				s.attach(sec, other, secrets.StagePrevious)
			}
		}
	}
	v := sec.versions[vid]
	if !slices.Contains(v.stages, stage) {
		v.stages = append(v.stages, stage)
	}
}

func (s *Store) lookup(id string) (*secret, error) {
	sec, ok := s.secrets[id]
	if !ok {
		return nil, fmt.Errorf("secret %s: %w", id, secrets.ErrNotFound)
	}
	if sec.deleted {
		return nil, fmt.Errorf("secret %s: %w", id, secrets.ErrDeleted)
	}
	return sec, nil
}

// Read implements the refresher's store.
func (s *Store) Read(ctx context.Context, id, stage string) (secrets.Version, error) {
	return s.read(id, "", stage)
}

// ReadVersion implements the refresher's store.
func (s *Store) ReadVersion(ctx context.Context, id, versionID, stage string) (secrets.Version, error) {
	return s.read(id, versionID, stage)
}

func (s *Store) read(id, versionID, stage string) (secrets.Version, error) {
	if err := s.enter(OpGet, id); err != nil {
		return secrets.Version{}, err
	}
	defer s.mu.Unlock()
	sec, err := s.lookup(id)
	if err != nil {
		return secrets.Version{}, err
	}
	for vid, v := range sec.versions {
		if (versionID == "" || vid == versionID) && (stage == "" || slices.Contains(v.stages, stage)) {
			if v.value == nil {
				return secrets.Version{}, fmt.Errorf("secret %s version %s has no value: %w", id, vid, secrets.ErrNotFound)
			}
			doc, err := secrets.ParseDocument(v.value)
			if err != nil {
				return secrets.Version{}, fmt.Errorf("read secret %s: %w", id, err)
			}
			return secrets.Version{ARN: sec.arn, Name: id, VersionID: vid, Stages: slices.Clone(v.stages), Doc: doc}, nil
		}
	}
	return secrets.Version{}, fmt.Errorf("secret %s version %q stage %s: %w", id, versionID, stage, secrets.ErrNotFound)
}

// Describe implements the refresher's store. Versions without labels are
// left out, as AWS does.
func (s *Store) Describe(ctx context.Context, id string) (secrets.Description, error) {
	if err := s.enter(OpDescribe, id); err != nil {
		return secrets.Description{}, err
	}
	defer s.mu.Unlock()
	sec, err := s.lookup(id)
	if err != nil {
		return secrets.Description{}, err
	}
	m := map[string][]string{}
	for vid, v := range sec.versions {
		if len(v.stages) > 0 {
			m[vid] = slices.Clone(v.stages)
		}
	}
	return secrets.Description{ARN: sec.arn, Name: id, RotationEnabled: sec.rotation, VersionIDsToStages: m}, nil
}

// Put implements the refresher's store with AWS's idempotency rules.
func (s *Store) Put(ctx context.Context, id string, nv secrets.NewVersion) error {
	if err := s.enter(OpPut, id); err != nil {
		return err
	}
	defer s.mu.Unlock()
	sec, err := s.lookup(id)
	if err != nil {
		return err
	}
	body, err := nv.Doc.Encode()
	if err != nil {
		return err
	}
	if v, ok := sec.versions[nv.VersionID]; ok {
		switch {
		case v.value == nil:
			v.value = body // the rotation placeholder gets its value
		case bytes.Equal(v.value, body):
			return nil // an idempotent retry
		default:
			return fmt.Errorf("secret %s version %s: %w", id, nv.VersionID, secrets.ErrVersionExists)
		}
		for _, st := range nv.Stages {
			s.attach(sec, nv.VersionID, st)
		}
		return nil
	}
	s.addVersion(sec, nv.VersionID, body, nv.Stages)
	s.prune(sec)
	return nil
}

// prune drops the oldest versions without labels beyond 100, as AWS does.
func (s *Store) prune(sec *secret) {
	for len(sec.versions) > 100 {
		for i, vid := range sec.order {
			if len(sec.versions[vid].stages) == 0 {
				delete(sec.versions, vid)
				sec.order = append(sec.order[:i], sec.order[i+1:]...)
				break
			}
			if i == len(sec.order)-1 {
				return
			}
		}
	}
}

// MoveCurrent implements the refresher's store: the move fails with
// ErrConflict when AWSCURRENT is not on from.
func (s *Store) MoveCurrent(ctx context.Context, id, to, from string) error {
	return s.MoveStage(ctx, id, secrets.StageCurrent, to, from)
}

// MoveStage implements the refresher's store, as UpdateSecretVersionStage.
func (s *Store) MoveStage(ctx context.Context, id, stage, to, from string) error {
	if err := s.enter(OpMove, id); err != nil {
		return err
	}
	defer s.mu.Unlock()
	sec, err := s.lookup(id)
	if err != nil {
		return err
	}
	if to != "" {
		if _, ok := sec.versions[to]; !ok {
			return fmt.Errorf("secret %s version %s: %w", id, to, secrets.ErrNotFound)
		}
	}
	for vid, v := range sec.versions {
		if slices.Contains(v.stages, stage) && vid != to && vid != from {
			return fmt.Errorf("secret %s: %s is on %s, not %s: %w", id, stage, vid, from, secrets.ErrConflict)
		}
	}
	if to == "" {
		if v, ok := sec.versions[from]; ok {
			v.stages = slices.DeleteFunc(v.stages, func(x string) bool { return x == stage })
		}
		return nil
	}
	s.attach(sec, to, stage)
	return nil
}
