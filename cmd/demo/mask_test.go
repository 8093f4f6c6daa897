package main

import (
	"strings"
	"testing"
)

func TestMaskValue(t *testing.T) {
	for in, want := range map[string]string{
		"eyJhbGciOiJIUzI1NiJ9abcdefghijklmnopqrstuvw": "eyJh…(43 chars)",
		"1042":         "…(4 chars)",
		"abcdefghijk":  "…(11 chars)",
		"abcdefghijkl": "abcd…(12 chars)",
	} {
		if got := maskValue(in); got != want {
			t.Errorf("maskValue(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMaskerReplacesKnownValues(t *testing.T) {
	m := newMasker()
	m.add("0123456789abcdef0123456789abcdef", "1042", "")
	m.add("0123456789abcdef0123456789abcdef-longer") // contains the first
	got := m.apply("a 0123456789abcdef0123456789abcdef-longer b 0123456789abcdef0123456789abcdef c 1042")
	want := "a 0123…(39 chars) b 0123…(32 chars) c 1042"
	if got != want {
		t.Errorf("apply = %q, want %q", got, want)
	}
	if n := len(m.known()); n != 3 {
		t.Errorf("known() has %d values, want 3", n)
	}
}

func TestDocFieldsMasksKeysAndTokens(t *testing.T) {
	got, err := maskedDoc(`{"api_key":"0123456789abcdef","user_key":"1042","expires_at":"2026-01-01T00:00:00Z","access_token":"tok-0123456789","n":1}`)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"api_key":"0123…(16 chars)","user_key":"…(4 chars)","expires_at":"2026-01-01T00:00:00Z","access_token":"tok-…(14 chars)","n":"1"}`
	if got != want {
		t.Errorf("maskedDoc = %s\nwant        %s", got, want)
	}
	if _, err := maskedDoc(`[1]`); err == nil {
		t.Error("maskedDoc of an array: no error")
	}
}

func TestFunctionLogLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"timestamp":"t","level":"INFO","message":"secret refreshed","secret_id":"a","duration_ms":3,"requestId":"r"}`,
			`{"level":"INFO","message":"secret refreshed","secret_id":"a"}`},
		{`{"_aws":{"Timestamp":1},"message":"x"}`, ``},
		{`START RequestId: r Version: $LATEST`, ``},
		{`{"level":"INFO"}`, ``},
		{`time="t" level=info msg="INIT START"`, ``},
	} {
		got, ok := functionLogLine(tc.in)
		if ok != (tc.want != "") || (ok && got != tc.want) {
			t.Errorf("functionLogLine(%s) = %s, %v; want %s", tc.in, got, ok, tc.want)
		}
	}
}

func TestCallText(t *testing.T) {
	n, text := callText(map[string]int{"UpdateSecretVersionStage": 2, "PutSecretValue": 2, "GetSecretValue": 2, "Other": 0})
	if n != 6 || text != "GetSecretValue 2, PutSecretValue 2, UpdateSecretVersionStage 2" {
		t.Errorf("callText = %d, %q", n, text)
	}
	if n, text := callText(nil); n != 0 || !strings.Contains(text, "none") {
		t.Errorf("callText of nothing = %d, %q", n, text)
	}
}
