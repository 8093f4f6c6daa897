//go:build integration

package refresher_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher"
	fp "github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/faultproxy"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/sensitive"
)

// TestReliabilityBadSecrets: a secret that is not what the refresher needs
// fails clearly, naming the field or the cause and never quoting a value,
// with no call to MightyCall and no write.
func TestReliabilityBadSecrets(t *testing.T) {
	t.Parallel()
	k := `"api_key":"` + relAPIKey + `","user_key":"` + relUserKey + `"`
	for _, c := range []struct {
		name, value string
		binary      bool
		errParts    []string
	}{
		{name: "not json", value: `api_key=` + relAPIKey, errParts: []string{"not a JSON object"}},
		{name: "truncated json", value: `{` + k + `,"owner":"te`, errParts: []string{"invalid JSON at byte"}},
		{name: "array", value: `[` + k[:20] + `"]`, errParts: []string{"not a JSON object"}},
		{name: "string", value: `"` + relAPIKey + `"`, errParts: []string{"not a JSON object"}},
		{name: "null", value: `null`, errParts: []string{"not a JSON object"}},
		{name: "empty object", value: `{}`, errParts: []string{`"api_key"`, "is required"}},
		{name: "no user key", value: `{"api_key":"` + relAPIKey + `"}`, errParts: []string{`"user_key"`, "is required"}},
		{name: "user key a number", value: `{"api_key":"` + relAPIKey + `","user_key":42}`, errParts: []string{`"user_key"`, "must be a string"}},
		{name: "api key an object", value: `{"api_key":{"v":"` + relAPIKey + `"},"user_key":"` + relUserKey + `"}`, errParts: []string{`"api_key"`, "must be a string"}},
		{name: "expires_at not rfc 3339", value: `{` + k + `,"access_token":"x-canary-at-0001","expires_at":"tomorrow noon"}`, errParts: []string{`"expires_at"`, "RFC 3339"}},
		{name: "unknown platform", value: `{` + k + `,"platform":"mars"}`, errParts: []string{`"platform"`}},
		{name: "http base url on a public host", value: `{` + k + `,"base_url":"http://ccapi.mightycall.com/v4"}`, errParts: []string{`"base_url"`, "https"}},
		{name: "http base url on a look-alike host", value: `{` + k + `,"base_url":"http://127.0.0.1.nip.io/v4"}`, errParts: []string{`"base_url"`, "https"}},
		{name: "base url with credentials", value: `{` + k + `,"base_url":"https://user:pw-canary-1234@ccapi.mightycall.com/v4"}`, errParts: []string{`"base_url"`}},
		{name: "user key beside credentials_secret_id", value: `{` + k + `,"credentials_secret_id":"other"}`, errParts: []string{`"user_key"`, "must not be"}},
		{name: "binary secret", binary: true, errParts: []string{"SecretBinary"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			refresher.Canary.Secret("a token in a bad secret", "x-canary-at-0001")
			refresher.Canary.Secret("a password in a base URL", "pw-canary-1234")
			g := newRig(t, rigOptions{})
			id := testName(t)
			in := &secretsmanager.CreateSecretInput{Name: aws.String(id)}
			if c.binary {
				in.SecretBinary = []byte(`{` + k + `}`)
			} else {
				in.SecretString = aws.String(c.value)
			}
			if _, err := g.direct.CreateSecret(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			versions := len(g.versionIDs(id))
			e := g.refresh(id, true)
			wantErr(t, e, append([]string{id}, c.errParts...)...)
			if g.tokenRequests() != 0 || g.proxy.Count(fp.OpPutSecretValue)+g.proxy.Count(fp.OpUpdateSecretVersionStage) != 0 {
				t.Errorf("a bad secret led to a token request or a write")
			}
			if n := len(g.versionIDs(id)); n != versions {
				t.Errorf("%d new versions", n-versions)
			}
		})
	}
}

// versionIDs lists every version of the secret (moto: NextToken "" ends).
func (g *rig) versionIDs(id string) []string {
	g.t.Helper()
	var ids []string
	in := &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(id), IncludeDeprecated: aws.Bool(true)}
	for {
		out, err := g.direct.ListSecretVersionIds(context.Background(), in)
		if err != nil {
			g.t.Fatal(err)
		}
		for _, v := range out.Versions {
			ids = append(ids, aws.ToString(v.VersionId))
		}
		if aws.ToString(out.NextToken) == "" {
			return ids
		}
		in.NextToken = out.NextToken
	}
}

// TestReliabilityBadEvents: unknown, malformed and oversized events are
// rejected with a clear error before any call to Secrets Manager or
// MightyCall, and the error never quotes a rotation token.
func TestReliabilityBadEvents(t *testing.T) {
	t.Parallel()
	g := newRig(t, rigOptions{cfg: refresher.Config{SecretIDs: []string{"configured"}}})
	tok := strings.Repeat("a", 36)
	for _, c := range []struct {
		name, event, part string
	}{
		{"unknown field", `{"hello":"world"}`, `"hello"`},
		{"array", `[{"secret_ids":["x"]}]`, "not a JSON object"},
		{"string", `"refresh"`, "not a JSON object"},
		{"not json", `{"secret_ids":`, "not a JSON object"},
		{"s3 event", `{"source":"aws.s3","detail-type":"Object Created"}`, "aws.events"},
		{"eventbridge but not scheduled", `{"source":"aws.events","detail-type":"AWS API Call via CloudTrail"}`, "Scheduled Event"},
		{"secret_ids a string", `{"secret_ids":"one"}`, `"secret_ids"`},
		{"secret_ids with an empty entry", `{"secret_ids":["a",""]}`, `"secret_ids"`},
		{"force a string", `{"force":"yes"}`, `"force"`},
		{"unknown step", `{"Step":"rotateEverything","SecretId":"x","ClientRequestToken":"` + tok + `","RotationToken":"` + rotationTokenCanary + `"}`, `"Step"`},
		{"rotation token a number", `{"Step":"createSecret","SecretId":"x","ClientRequestToken":"` + tok + `","RotationToken":12345678}`, `"RotationToken"`},
		{"short ClientRequestToken", `{"Step":"createSecret","SecretId":"x","ClientRequestToken":"short","RotationToken":"` + rotationTokenCanary + `"}`, `"ClientRequestToken"`},
		{"oversized", `{"secret_ids":["` + strings.Repeat("s", refresher.MaxEventBytes) + `"]}`, "bytes, more than"},
	} {
		_, err := g.r.Handle(context.Background(), json.RawMessage(c.event))
		refresher.Canary.Err(t, "event error", err)
		if !errors.Is(err, refresher.ErrBadEvent) || !strings.Contains(err.Error(), c.part) {
			t.Errorf("%s: want a rejection naming %s, got %v", c.name, c.part, err)
		}
		if len(err.Error()) > 1000 {
			t.Errorf("%s: the error is %d bytes long", c.name, len(err.Error()))
		}
	}
	refresher.Canary.Secret("a rotation token", rotationTokenCanary)
	if g.proxy.Count("") != 0 || g.tokenRequests() != 0 {
		t.Errorf("a rejected event made %d Secrets Manager calls and %d token requests", g.proxy.Count(""), g.tokenRequests())
	}
}

// TestReliabilityRotationTokenPassedThrough: createSecret sends the event's
// RotationToken to PutSecretValue; scheduled writes send none; neither logs
// it (the canary registry checks every output of the binary).
func TestReliabilityRotationTokenPassedThrough(t *testing.T) {
	t.Parallel()
	g := newRig(t, rigOptions{})
	refresher.Canary.Secret("a rotation token", rotationTokenCanary)
	id := g.bootstrapped()
	token := g.startRotation(id)
	g.proxy.ResetCounts()
	for _, step := range []string{refresher.StepCreate, refresher.StepSet, refresher.StepTest, refresher.StepFinish} {
		if err := g.rotate(id, token, step); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	g.due()
	wantOutcome(t, g.refresh(id, false), "refreshed", "refresh_token")
	var withToken, without int
	for _, r := range g.proxy.Requests() {
		if r.Op != fp.OpPutSecretValue {
			continue
		}
		var in struct {
			ClientRequestToken string
			RotationToken      *string
		}
		if err := json.Unmarshal(r.Body, &in); err != nil {
			t.Fatal(err)
		}
		switch {
		case in.ClientRequestToken == token && in.RotationToken != nil && *in.RotationToken == rotationTokenCanary:
			withToken++
		case in.ClientRequestToken != token && in.RotationToken == nil:
			without++
		default:
			t.Errorf("a write with ClientRequestToken %s carried the wrong RotationToken", in.ClientRequestToken)
		}
	}
	if withToken != 1 || without != 1 {
		t.Errorf("writes: %d with the rotation token (want 1), %d scheduled without (want 1)", withToken, without)
	}
}

// TestReliabilityBaseURLs: https is required except on a loopback host,
// through the secret's base_url as through MIGHTYCALL_BASE_URL.
func TestReliabilityBaseURLs(t *testing.T) {
	t.Parallel()
	for raw, ok := range map[string]bool{
		"https://ccapi.mightycall.com/v4": true,
		"http://127.0.0.1:8080/v4":        true,
		"http://127.9.9.9/v4":             true,
		"http://localhost:1/v4":           true,
		"http://[::1]:1/v4":               true,
		"http://ccapi.mightycall.com/v4":  false,
		"http://127.0.0.1.nip.io/v4":      false,
		"http://localhost.example.com/v4": false,
		"http://10.0.0.1/v4":              false,
		"http://[::ffff:8.8.8.8]/v4":      false,
		"ftp://ccapi.mightycall.com/v4":   false,
		"//ccapi.mightycall.com/v4":       false,
	} {
		doc, err := secrets.ParseDocument([]byte(`{"base_url":"` + raw + `"}`))
		if err != nil {
			t.Fatal(err)
		}
		_, err = refresher.BaseURL(doc, mightycall.CallCenterBaseURL)
		if (err == nil) != ok {
			t.Errorf("base_url %s: accepted %v, want %v (%v)", raw, err == nil, ok, err)
		}
		_, err = refresher.LoadConfig(func(k string) string {
			if k == "MIGHTYCALL_BASE_URL" {
				return raw
			}
			return ""
		})
		if (err == nil) != ok || (err != nil && !strings.Contains(err.Error(), "MIGHTYCALL_BASE_URL")) {
			t.Errorf("MIGHTYCALL_BASE_URL=%s: %v", raw, err)
		}
	}
}

// TestReliabilityResponseBodyCapped: the client stops reading a token
// response at its cap instead of reading an endless body, and says why.
func TestReliabilityResponseBodyCapped(t *testing.T) {
	t.Parallel()
	var written atomic.Int64
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"padding":"`)
		chunk := []byte(strings.Repeat("x", 32<<10))
		for i := 0; i < 64<<20/len(chunk); i++ { // 64 MiB, unless the client hangs up
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	c := &mightycall.Client{HTTPClient: &http.Client{Timeout: 10 * time.Second}, MaxAttempts: 1}
	_, _, err := c.Exchange(context.Background(), mightycall.Request{BaseURL: srv.URL, APIKey: sensitive.New(relAPIKey),
		Grant: mightycall.ClientCredentials, ClientSecret: sensitive.New(relUserKey)})
	refresher.Canary.Err(t, "exchange error", err)
	if err == nil || !strings.Contains(err.Error(), "larger than 65536 bytes") {
		t.Fatalf("want the cap named: %v", err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the server is still writing: the client did not hang up")
	}
	if n := written.Load(); n >= 64<<20 {
		t.Errorf("the whole %d-byte body was sent: the client read it all", n)
	}
}
