package sensitive

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const canary = "canary-secret-value-123"

func TestStringNeverPrintsItsValue(t *testing.T) {
	s := New(canary)
	type holder struct {
		Key   String
		Inner struct{ Token String }
	}
	h := holder{Key: s}
	h.Inner.Token = s
	outputs := []string{
		fmt.Sprint(s), fmt.Sprintf("%s %v %q %x %X %d %+v %#v", s, s, s, s, s, s, s, s),
		fmt.Sprintf("%v %+v %#v", h, h, h), s.String(), s.GoString(),
	}
	j, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(j))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("msg", "key", s, "holder", h)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("msg", "key", s)
	outputs = append(outputs, buf.String())
	for _, o := range outputs {
		if strings.Contains(o, canary) {
			t.Fatalf("value leaked: %s", o)
		}
		if !strings.Contains(o, Redacted) {
			t.Fatalf("expected %s in %q", Redacted, o)
		}
	}
}

func TestRevealAndCompare(t *testing.T) {
	s := New(canary)
	if s.Reveal() != canary || s.IsZero() || !s.Equal(New(canary)) || s.Equal(New("other")) {
		t.Fatal("Reveal/IsZero/Equal wrong")
	}
	var z String
	if !z.IsZero() || z.String() != "" {
		t.Fatal("zero value must be empty and print empty")
	}
}
