package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// minMaskLen is the shortest value the masker replaces wherever it appears.
// Shorter values (a Classic extension such as "1042") would also match
// unrelated text (ports, durations); they are masked where the demo prints
// them as fields (maskValue), and never appear anywhere else.
const minMaskLen = 8

// masker replaces every known secret value (keys, tokens, the rotation
// token) in a text with its masked form. It is the belt to the braces of the
// product's own rule that logs carry no secret: every line the demo prints or
// writes goes through it.
type masker struct {
	mu       sync.Mutex
	values   map[string]bool
	replacer *strings.Replacer // nil when values changed since it was built
}

func newMasker() *masker { return &masker{values: map[string]bool{}} }

// add makes the masker know vs (empty ones are ignored).
func (m *masker) add(vs ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range vs {
		if v != "" && !m.values[v] {
			m.values[v] = true
			m.replacer = nil
		}
	}
}

// known returns every value the masker knows.
func (m *masker) known() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.values))
	for v := range m.values {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// apply returns s with every known value of at least minMaskLen bytes
// replaced by maskValue of it.
func (m *masker) apply(s string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.replacer == nil {
		var vs []string
		for v := range m.values {
			if len(v) >= minMaskLen {
				vs = append(vs, v)
			}
		}
		// Longest first, so a value containing another is masked whole.
		sort.Slice(vs, func(i, j int) bool {
			if len(vs[i]) != len(vs[j]) {
				return len(vs[i]) > len(vs[j])
			}
			return vs[i] < vs[j]
		})
		pairs := make([]string, 0, 2*len(vs))
		for _, v := range vs {
			pairs = append(pairs, v, maskValue(v))
		}
		m.replacer = strings.NewReplacer(pairs...)
	}
	return m.replacer.Replace(s)
}

// maskValue shows a secret as its first 4 characters and its length,
// "eyJh…(43 chars)"; a value shorter than 12 characters shows only its
// length, "…(4 chars)", so that at most a third of any value is revealed.
func maskValue(v string) string {
	n := utf8.RuneCountInString(v)
	if n < 12 {
		return fmt.Sprintf("…(%d chars)", n)
	}
	return fmt.Sprintf("%s…(%d chars)", string([]rune(v)[:4]), n)
}

// sensitiveFields are the secret document's fields that hold a key or token.
var sensitiveFields = map[string]bool{
	"api_key": true, "user_key": true, "access_token": true, "refresh_token": true,
}

// docField is one field of a secret document, ready to print.
type docField struct{ name, value string }

// docFields parses a secret document (a JSON object) and returns its fields in
// their stored order, with keys and tokens masked and other values as their
// JSON text (strings unquoted).
func docFields(secretString string) ([]docField, error) {
	dec := json.NewDecoder(strings.NewReader(secretString))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("the secret is not a JSON object")
	}
	var fields []docField
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		value := string(raw)
		var s string
		if json.Unmarshal(raw, &s) == nil {
			value = s
			if sensitiveFields[name] {
				value = maskValue(s)
			}
		}
		fields = append(fields, docField{name, value})
	}
	return fields, nil
}

// maskedDoc renders a secret document on one line with keys and tokens
// masked: {"api_key":"3f9a…(32 chars)",…}.
func maskedDoc(secretString string) (string, error) {
	fields, err := docFields(secretString)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%q", f.name, f.value)
	}
	b.WriteByte('}')
	return b.String(), nil
}

// functionLogLine returns the function's JSON log line (an object with a
// "message") without its timestamp, requestId and timings (keys ending in
// "_ms"), in its own key order. Other
// lines (the emulator's own, START/END/REPORT, and the CloudWatch metrics
// lines, which carry "_aws") give ok false.
func functionLogLine(line string) (compact string, ok bool) {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "{") {
		return "", false
	}
	dec := json.NewDecoder(strings.NewReader(line))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", false
	}
	var b strings.Builder
	b.WriteByte('{')
	n, hasMessage := 0, false
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "", false
		}
		key, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return "", false
		}
		if strings.HasSuffix(key, "_ms") {
			continue
		}
		switch key {
		case "_aws":
			return "", false
		case "timestamp", "requestId":
			continue
		case "message":
			hasMessage = true
		}
		if n > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%s", key, raw)
		n++
	}
	b.WriteByte('}')
	return b.String(), hasMessage
}
