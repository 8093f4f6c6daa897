package refresher

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/sensitive"
)

// MaxEventBytes bounds what the function accepts as an event. The largest
// legitimate event, a list of secret ids, fits easily.
const MaxEventBytes = 256 << 10

// ErrBadEvent is wrapped by every rejection of an event.
var ErrBadEvent = errors.New("unsupported event")

// Rotation steps, as Secrets Manager spells them.
const (
	StepCreate = "createSecret"
	StepSet    = "setSecret"
	StepTest   = "testSecret"
	StepFinish = "finishSecret"
)

// RotationEvent is a Secrets Manager rotation step.
type RotationEvent struct {
	Step               string
	SecretID           string
	ClientRequestToken string
	// RotationToken is passed to PutSecretValue and never logged.
	RotationToken sensitive.String
}

// RefreshEvent asks for a refresh of SecretIDs (empty: the configured ones).
type RefreshEvent struct {
	SecretIDs []string
	Force     bool
	// Scheduled is true for an EventBridge scheduled event or {}.
	Scheduled bool
}

// Event is one of *RotationEvent or *RefreshEvent.
type Event interface{ kind() string }

func (*RotationEvent) kind() string { return "rotation" }
func (*RefreshEvent) kind() string  { return "refresh" }

// ParseEvent recognises an event by its shape (SPEC section 3) and rejects
// anything else, naming what is wrong. It makes no call.
func ParseEvent(raw []byte) (Event, error) {
	if len(raw) > MaxEventBytes {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrBadEvent, len(raw), MaxEventBytes)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrBadEvent)
	}
	if _, ok := obj["Step"]; ok {
		return parseRotation(obj)
	}
	if src, ok := obj["source"]; ok {
		return parseScheduled(obj, src)
	}
	return parseRefresh(obj)
}

func parseRotation(obj map[string]json.RawMessage) (Event, error) {
	// Fields beyond these are ignored: Secrets Manager may add some, and a
	// rotation must not fail for it.
	e := &RotationEvent{}
	var token string
	for name, dst := range map[string]*string{"Step": &e.Step, "SecretId": &e.SecretID, "ClientRequestToken": &e.ClientRequestToken, "RotationToken": &token} {
		v, ok := obj[name]
		if !ok {
			continue
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return nil, fmt.Errorf("%w: rotation event field %q must be a string", ErrBadEvent, name)
		}
	}
	e.RotationToken = sensitive.New(token)
	switch e.Step {
	case StepCreate, StepSet, StepTest, StepFinish:
	default:
		return nil, fmt.Errorf("%w: rotation event field \"Step\" must be one of createSecret, setSecret, testSecret, finishSecret", ErrBadEvent)
	}
	if e.SecretID == "" {
		return nil, fmt.Errorf("%w: rotation event field \"SecretId\" is required", ErrBadEvent)
	}
	if n := len(e.ClientRequestToken); n < 32 || n > 64 {
		return nil, fmt.Errorf("%w: rotation event field \"ClientRequestToken\" must be 32 to 64 characters", ErrBadEvent)
	}
	return e, nil
}

func parseScheduled(obj map[string]json.RawMessage, src json.RawMessage) (Event, error) {
	var source, detailType string
	if json.Unmarshal(src, &source) != nil || source != "aws.events" {
		return nil, fmt.Errorf("%w: an event with \"source\" must be an EventBridge scheduled event (source aws.events)", ErrBadEvent)
	}
	if dt, ok := obj["detail-type"]; !ok || json.Unmarshal(dt, &detailType) != nil || detailType != "Scheduled Event" {
		return nil, fmt.Errorf("%w: EventBridge event \"detail-type\" must be \"Scheduled Event\"", ErrBadEvent)
	}
	return &RefreshEvent{Scheduled: true}, nil
}

func parseRefresh(obj map[string]json.RawMessage) (Event, error) {
	if err := onlyKnown(obj, map[string]bool{"secret_ids": true, "force": true}, "refresh event"); err != nil {
		return nil, err
	}
	e := &RefreshEvent{Scheduled: len(obj) == 0}
	if v, ok := obj["secret_ids"]; ok && !isNull(v) {
		if err := json.Unmarshal(v, &e.SecretIDs); err != nil {
			return nil, fmt.Errorf("%w: field \"secret_ids\" must be a list of secret names or ARNs", ErrBadEvent)
		}
		if len(e.SecretIDs) == 0 {
			return nil, fmt.Errorf("%w: field \"secret_ids\" is an empty list; leave it out to refresh the configured SECRET_IDS", ErrBadEvent)
		}
		for i, id := range e.SecretIDs {
			if e.SecretIDs[i] = strings.TrimSpace(id); e.SecretIDs[i] == "" {
				return nil, fmt.Errorf("%w: field \"secret_ids\" entry %d is empty", ErrBadEvent, i)
			}
		}
	}
	if v, ok := obj["force"]; ok && !isNull(v) {
		if err := json.Unmarshal(v, &e.Force); err != nil {
			return nil, fmt.Errorf("%w: field \"force\" must be true or false", ErrBadEvent)
		}
	}
	return e, nil
}

func onlyKnown(obj map[string]json.RawMessage, known map[string]bool, what string) error {
	var unknown []string
	for k := range obj {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	names := make([]string, 0, len(unknown))
	for _, k := range unknown[:min(len(unknown), 5)] {
		names = append(names, fmt.Sprintf("%.40q", k))
	}
	return fmt.Errorf("%w: %s has unknown field(s) %s", ErrBadEvent, what, strings.Join(names, ", "))
}

func isNull(v json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(v), []byte("null")) }
