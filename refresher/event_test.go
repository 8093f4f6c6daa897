package refresher

import (
	"errors"
	"strings"
	"testing"
)

func TestParseEventShapes(t *testing.T) {
	tok := strings.Repeat("a", 36)
	ev, err := ParseEvent([]byte(`{"Step":"createSecret","SecretId":"s","ClientRequestToken":"` + tok + `","RotationToken":"r","SomethingNew":1}`))
	if err != nil {
		t.Fatalf("a rotation event with a field Secrets Manager may add must be accepted: %v", err)
	}
	if re := ev.(*RotationEvent); re.Step != StepCreate || re.SecretID != "s" || re.RotationToken.Reveal() != "r" {
		t.Fatalf("%+v", re)
	}
	ev, err = ParseEvent([]byte(`{"secret_ids":[" a ","b"],"force":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if re := ev.(*RefreshEvent); len(re.SecretIDs) != 2 || re.SecretIDs[0] != "a" || !re.Force || re.Scheduled {
		t.Fatalf("%+v", re)
	}
	if ev, err := ParseEvent([]byte(`{}`)); err != nil || !ev.(*RefreshEvent).Scheduled {
		t.Fatalf("{}: %v", err)
	}
	for _, bad := range []string{`{"secret_ids":[]}`, `{"secret_ids":["a",""]}`, `{"secret_ids":"a"}`, `{"force":"yes"}`,
		`{"Step":"createSecret","SecretId":"s","ClientRequestToken":"short"}`, `{"Step":"createSecret","ClientRequestToken":"` + tok + `"}`,
		`{"source":"aws.events","detail-type":"Object Created"}`, `{"source":"aws.s3","detail-type":"Scheduled Event"}`,
		`{"secret_ids":["a"],"extra":1}`, `[1]`, `null`, `"{}"`, `{"Step":5}`} {
		if _, err := ParseEvent([]byte(bad)); !errors.Is(err, ErrBadEvent) {
			t.Errorf("%s: err = %v", bad, err)
		}
	}
	if _, err := ParseEvent([]byte(`{"secret_ids":["` + strings.Repeat("x", MaxEventBytes) + `"]}`)); err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("oversized: %v", err)
	}
}
