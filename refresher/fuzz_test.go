package refresher

import (
	"errors"
	"testing"
)

// FuzzParseEvent: never panics; every input is either one of the two event
// kinds, well formed, or an ErrBadEvent.
func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"secret_ids":["a","b"],"force":true}`))
	f.Add([]byte(`{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`))
	f.Add([]byte(`{"Step":"createSecret","SecretId":"s","ClientRequestToken":"0123456789abcdef0123456789abcdef","RotationToken":"r"}`))
	f.Add([]byte(`{"hello":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseEvent(b)
		if err != nil {
			if !errors.Is(err, ErrBadEvent) {
				t.Fatalf("error does not wrap ErrBadEvent: %v", err)
			}
			return
		}
		switch e := ev.(type) {
		case *RotationEvent:
			if e.SecretID == "" || len(e.ClientRequestToken) < 32 || len(e.ClientRequestToken) > 64 {
				t.Fatalf("accepted a malformed rotation event: %q", b)
			}
		case *RefreshEvent:
			for _, id := range e.SecretIDs {
				if id == "" {
					t.Fatalf("accepted an empty secret id: %q", b)
				}
			}
		default:
			t.Fatalf("unknown event type %T", ev)
		}
	})
}
