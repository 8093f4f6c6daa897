// Package secrets is the Secrets Manager edge of the refresher: the JSON
// document stored in a token secret (Document) and a small store over the
// Secrets Manager API that reads and writes versions by stage (Store).
package secrets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/sensitive"
)

// Field names of the secret document (SPEC section 2). They are the public
// interface of the product.
const (
	FieldAPIKey              = "api_key"
	FieldUserKey             = "user_key"
	FieldPlatform            = "platform"
	FieldBaseURL             = "base_url"
	FieldCredentialsSecretID = "credentials_secret_id"
	FieldAccessToken         = "access_token"
	FieldTokenType           = "token_type"
	FieldRefreshToken        = "refresh_token"
	FieldExpiresAt           = "expires_at"
	FieldIssuedAt            = "issued_at"
	FieldGrant               = "grant"
)

// Platforms a secret may name.
const (
	PlatformCallCenter = "callcenter"
	PlatformClassic    = "classic"
)

// Grants a secret may record.
const (
	GrantClientCredentials = "client_credentials"
	GrantRefreshToken      = "refresh_token"
)

// MaxDocumentBytes is the largest SecretString Secrets Manager stores.
const MaxDocumentBytes = 65536

// ErrMalformed is wrapped by every error about the content of a secret.
var ErrMalformed = errors.New("malformed secret")

// Document is the JSON object held in a token (or credentials) secret.
// Fields the product does not know are kept verbatim and written back
// unchanged.
type Document struct {
	APIKey              sensitive.String
	UserKey             sensitive.String
	Platform            string
	BaseURL             string
	CredentialsSecretID string

	AccessToken  sensitive.String
	TokenType    string
	RefreshToken sensitive.String
	ExpiresAt    time.Time // zero when absent
	IssuedAt     time.Time // zero when absent
	Grant        string

	extra map[string]json.RawMessage
}

// Token is what the refresher stores after an exchange.
type Token struct {
	AccessToken  sensitive.String
	TokenType    string
	RefreshToken sensitive.String
	ExpiresAt    time.Time
	IssuedAt     time.Time
	Grant        string
}

// FieldError names the field of a secret that is wrong and why. It never
// holds the field's value.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return fmt.Sprintf("field %q: %s", e.Field, e.Reason) }

// Unwrap makes every FieldError match ErrMalformed.
func (e *FieldError) Unwrap() error { return ErrMalformed }

// ParseDocument decodes a SecretString. It fails, naming the field, on
// anything that is not a JSON object of the documented shape; it does not
// check which fields are required (see Document.CheckKeys).
func ParseDocument(b []byte) (Document, error) {
	var d Document
	if len(b) > MaxDocumentBytes {
		return d, fmt.Errorf("%w: %d bytes, more than the %d Secrets Manager stores", ErrMalformed, len(b), MaxDocumentBytes)
	}
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) == 0 {
		return d, fmt.Errorf("%w: the secret string is empty", ErrMalformed)
	}
	if trimmed[0] != '{' {
		return d, fmt.Errorf("%w: the secret string is not a JSON object", ErrMalformed)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		// The decoder's message can quote the input; say only where it broke.
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return d, fmt.Errorf("%w: invalid JSON at byte %d", ErrMalformed, se.Offset)
		}
		return d, fmt.Errorf("%w: the secret string is not a JSON object", ErrMalformed)
	}
	str := func(name string) (string, error) {
		v, ok := raw[name]
		if !ok {
			return "", nil
		}
		delete(raw, name)
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			return "", nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", &FieldError{Field: name, Reason: "must be a string"}
		}
		return s, nil
	}
	// Every known field is a string (or null); the two times are RFC 3339.
	// The first wrong field, in this order, is the error.
	vals := map[string]string{}
	times := map[string]time.Time{}
	for _, name := range []string{FieldAPIKey, FieldUserKey, FieldPlatform, FieldBaseURL, FieldCredentialsSecretID,
		FieldAccessToken, FieldTokenType, FieldRefreshToken, FieldExpiresAt, FieldIssuedAt, FieldGrant} {
		v, err := str(name)
		if err != nil {
			return Document{}, err
		}
		if (name == FieldExpiresAt || name == FieldIssuedAt) && v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return Document{}, &FieldError{Field: name, Reason: "must be an RFC 3339 time such as 2026-01-02T15:04:05Z"}
			}
			times[name] = t.UTC()
		}
		vals[name] = v
	}
	d.APIKey = sensitive.New(vals[FieldAPIKey])
	d.UserKey = sensitive.New(vals[FieldUserKey])
	d.Platform = vals[FieldPlatform]
	d.BaseURL = vals[FieldBaseURL]
	d.CredentialsSecretID = vals[FieldCredentialsSecretID]
	d.AccessToken = sensitive.New(vals[FieldAccessToken])
	d.TokenType = vals[FieldTokenType]
	d.RefreshToken = sensitive.New(vals[FieldRefreshToken])
	d.ExpiresAt = times[FieldExpiresAt]
	d.IssuedAt = times[FieldIssuedAt]
	d.Grant = vals[FieldGrant]
	switch d.Platform {
	case "", PlatformCallCenter, PlatformClassic:
	default:
		return Document{}, &FieldError{Field: FieldPlatform, Reason: `must be "callcenter" or "classic"`}
	}
	switch d.Grant {
	case "", GrantClientCredentials, GrantRefreshToken:
	default:
		return Document{}, &FieldError{Field: FieldGrant, Reason: `must be "client_credentials" or "refresh_token"`}
	}
	if len(raw) > 0 {
		d.extra = raw
	}
	return d, nil
}

// Keys are the MightyCall account credentials.
type Keys struct {
	APIKey  sensitive.String
	UserKey sensitive.String
}

// CheckKeys reports whether the document carries what a token secret needs:
// both keys, or a credentials_secret_id (and then never a user_key).
func (d Document) CheckKeys() error {
	if d.CredentialsSecretID != "" {
		if !d.UserKey.IsZero() {
			return &FieldError{Field: FieldUserKey, Reason: "must not be in a token secret that names credentials_secret_id (consumers of the token secret must not see it)"}
		}
		return nil
	}
	if d.APIKey.IsZero() {
		return &FieldError{Field: FieldAPIKey, Reason: "is required (or set credentials_secret_id)"}
	}
	if d.UserKey.IsZero() {
		return &FieldError{Field: FieldUserKey, Reason: "is required (or set credentials_secret_id)"}
	}
	return nil
}

// CredentialKeys returns the keys of a credentials secret (split layout),
// failing with the missing field.
func (d Document) CredentialKeys() (Keys, error) {
	if d.APIKey.IsZero() {
		return Keys{}, &FieldError{Field: FieldAPIKey, Reason: "is required in the credentials secret"}
	}
	if d.UserKey.IsZero() {
		return Keys{}, &FieldError{Field: FieldUserKey, Reason: "is required in the credentials secret"}
	}
	return Keys{APIKey: d.APIKey, UserKey: d.UserKey}, nil
}

// Token returns the token fields of the document.
func (d Document) Token() Token {
	return Token{
		AccessToken:  d.AccessToken,
		TokenType:    d.TokenType,
		RefreshToken: d.RefreshToken,
		ExpiresAt:    d.ExpiresAt,
		IssuedAt:     d.IssuedAt,
		Grant:        d.Grant,
	}
}

// WithToken returns a copy of d holding t. Every other field, known or not,
// is kept as it is.
func (d Document) WithToken(t Token) Document {
	d.AccessToken = t.AccessToken
	d.TokenType = t.TokenType
	d.RefreshToken = t.RefreshToken
	d.ExpiresAt = t.ExpiresAt.UTC()
	d.IssuedAt = t.IssuedAt.UTC()
	d.Grant = t.Grant
	d.extra = copyExtra(d.extra)
	return d
}

// Extra returns the names of fields the product does not know, sorted.
func (d Document) Extra() []string {
	names := make([]string, 0, len(d.extra))
	for k := range d.extra {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// SameAccount reports whether two documents name the same MightyCall
// account and endpoint: a token obtained for one is valid for the other.
func (d Document) SameAccount(o Document) bool {
	return d.APIKey.Equal(o.APIKey) && d.UserKey.Equal(o.UserKey) && d.Platform == o.Platform &&
		d.BaseURL == o.BaseURL && d.CredentialsSecretID == o.CredentialsSecretID
}

// SameUserFields reports whether two documents agree on every field a user
// writes: the keys, platform, base URL, credentials secret and unknown fields.
func (d Document) SameUserFields(o Document) bool {
	if !d.APIKey.Equal(o.APIKey) || !d.UserKey.Equal(o.UserKey) || d.Platform != o.Platform ||
		d.BaseURL != o.BaseURL || d.CredentialsSecretID != o.CredentialsSecretID || len(d.extra) != len(o.extra) {
		return false
	}
	for k, v := range d.extra {
		w, ok := o.extra[k]
		if !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

func copyExtra(m map[string]json.RawMessage) map[string]json.RawMessage {
	if m == nil {
		return nil
	}
	c := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Encode returns the SecretString for d: known fields in a fixed order, then
// unknown fields verbatim, sorted by name. This is the one place that
// reveals keys and tokens, because Secrets Manager is where they belong.
func (d Document) Encode() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	field := func(name string, value json.RawMessage) {
		if !first {
			buf.WriteByte(',')
		}
		first = false
		k, _ := json.Marshal(name)
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(value)
	}
	str := func(name, v string) {
		if v == "" {
			return
		}
		b, _ := json.Marshal(v)
		field(name, b)
	}
	when := func(name string, t time.Time) {
		if t.IsZero() {
			return
		}
		str(name, t.UTC().Format(time.RFC3339))
	}
	str(FieldAPIKey, d.APIKey.Reveal())
	str(FieldUserKey, d.UserKey.Reveal())
	str(FieldPlatform, d.Platform)
	str(FieldBaseURL, d.BaseURL)
	str(FieldCredentialsSecretID, d.CredentialsSecretID)
	str(FieldAccessToken, d.AccessToken.Reveal())
	str(FieldTokenType, d.TokenType)
	str(FieldRefreshToken, d.RefreshToken.Reveal())
	when(FieldExpiresAt, d.ExpiresAt)
	when(FieldIssuedAt, d.IssuedAt)
	str(FieldGrant, d.Grant)
	for _, k := range d.Extra() {
		field(k, d.extra[k])
	}
	buf.WriteByte('}')
	if buf.Len() > MaxDocumentBytes {
		return nil, fmt.Errorf("%w: encoded secret is %d bytes, more than the %d Secrets Manager stores", ErrMalformed, buf.Len(), MaxDocumentBytes)
	}
	return buf.Bytes(), nil
}
