// Package sensitive holds values that must never be printed: MightyCall keys,
// bearer tokens, refresh tokens and Secrets Manager rotation tokens.
//
// A String formats as "[REDACTED]" through fmt (every verb, including %#v),
// log/slog and encoding/json. Only Reveal returns the value, and only the code
// that sends it to MightyCall or writes it to Secrets Manager calls Reveal.
package sensitive

import (
	"fmt"
	"log/slog"
)

// Redacted is what a String shows instead of its value.
const Redacted = "[REDACTED]"

// String is a secret string value. The zero value is empty.
type String struct {
	v string
}

// New wraps s.
func New(s string) String { return String{v: s} }

// Reveal returns the secret value. Call it only where the value leaves the
// process for its intended destination.
func (s String) Reveal() string { return s.v }

// IsZero reports whether the value is empty.
func (s String) IsZero() bool { return s.v == "" }

// Equal reports whether two values are the same, without revealing either.
func (s String) Equal(o String) bool { return s.v == o.v }

// String implements fmt.Stringer.
func (s String) String() string {
	if s.v == "" {
		return ""
	}
	return Redacted
}

// GoString implements fmt.GoStringer, so %#v redacts too.
func (s String) GoString() string { return `sensitive.String("` + s.String() + `")` }

// Format implements fmt.Formatter so that no verb (%s %v %q %x %d ...) can
// print the value.
func (s String) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprintf(f, "%q", s.String())
	case 'v':
		if f.Flag('#') {
			_, _ = f.Write([]byte(s.GoString()))
			return
		}
		_, _ = f.Write([]byte(s.String()))
	default:
		_, _ = f.Write([]byte(s.String()))
	}
}

// LogValue implements slog.LogValuer.
func (s String) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON implements json.Marshaler: a String never serialises its value.
// The secret document encodes revealed values explicitly.
func (s String) MarshalJSON() ([]byte, error) {
	return []byte(`"` + s.String() + `"`), nil
}

// MarshalText implements encoding.TextMarshaler (used by map keys and some
// encoders) with the same redaction.
func (s String) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
