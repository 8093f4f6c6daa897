//go:build integration

package tokensource_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/mightycall/emulator"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/testenv"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/tokensource"
)

var moto *testenv.Moto

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithMoto(m, func(mo *testenv.Moto) int {
		moto = mo
		return m.Run()
	}))
}

const (
	itAPIKey  = "ts-it-api-key-61c0"
	itUserKey = "ts-it-user-key-2e9b"
)

// world is moto_server (Secrets Manager), the MightyCall emulator, and the
// refresher itself writing the secret the way it does in production.
type world struct {
	t    *testing.T
	sm   *secretsmanager.Client
	mc   *emulator.Server
	base string
	r    *refresher.Refresher
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, sm: moto.Client(t), mc: emulator.New(emulator.Options{})}
	w.mc.AddAccount(emulator.Account{APIKey: itAPIKey, UserKey: itUserKey})
	srv := httptest.NewServer(w.mc)
	t.Cleanup(srv.Close)
	w.base = srv.URL + "/v4"
	cfg, err := refresher.LoadConfig(func(name string) string {
		if name == "MIGHTYCALL_BASE_URL" {
			return w.base
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	w.r = refresher.New(cfg, refresher.Deps{
		Store:     secrets.NewStore(w.sm),
		Exchanger: &mightycall.Client{HTTPClient: &http.Client{Timeout: 5 * time.Second}},
	})
	return w
}

func (w *world) create(value string) string {
	w.t.Helper()
	name := testenv.UniqueName(w.t)
	if _, err := w.sm.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)}); err != nil {
		w.t.Fatal(err)
	}
	return name
}

func (w *world) refresh(id string, force bool) {
	w.t.Helper()
	if res := w.r.RefreshSecret(context.Background(), id, force); res.Outcome != refresher.Refreshed {
		w.t.Fatalf("refresh %s: %+v", id, res)
	}
}

func (w *world) profile(client *http.Client) (int, string) {
	w.t.Helper()
	resp, err := client.Get(w.base + "/api/profile")
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestConsumerAgainstMotoAndEmulator(t *testing.T) {
	w := newWorld(t)
	id := w.create(`{"api_key":"` + itAPIKey + `","user_key":"` + itUserKey + `"}`)

	// Before the first refresh: a clear error, and no call to MightyCall.
	early := tokensource.New(w.sm, id)
	if _, err := early.Token(); !errors.Is(err, tokensource.ErrNotBootstrapped) || !strings.Contains(err.Error(), "run the refresher") {
		t.Fatalf("not bootstrapped: %v", err)
	}

	w.refresh(id, false)
	src := tokensource.New(w.sm, id)
	client := tokensource.NewClient(src, nil)
	status, body := w.profile(client)
	if status != 200 || !strings.Contains(body, `"isSuccess":true`) {
		t.Fatalf("profile: %d %s", status, body)
	}
	tok, err := src.Token()
	if err != nil || !w.mc.TokenValid(tok.AccessToken) || tok.RefreshToken != "" {
		t.Fatalf("token: %v", err)
	}

	// MightyCall drops the token and the refresher replaces it: the
	// consumer's next call is refused once, re-reads the secret and succeeds.
	w.mc.ExpireAll()
	w.refresh(id, true)
	before := w.mc.Stats()
	status, body = w.profile(client)
	after := w.mc.Stats()
	if status != 200 || after.ProfileUnauthorized-before.ProfileUnauthorized != 1 || after.ProfileOK-before.ProfileOK != 1 {
		t.Fatalf("after rotation: %d %s (%+v -> %+v)", status, body, before, after)
	}
	if newTok, _ := src.Token(); newTok.AccessToken == tok.AccessToken || !w.mc.TokenValid(newTok.AccessToken) {
		t.Fatal("the consumer did not pick up the new token")
	}
}

// The split layout: the keys live in another secret; the token secret
// carries a copy of api_key, which is all a consumer needs.
func TestConsumerSplitLayout(t *testing.T) {
	w := newWorld(t)
	creds := w.create(`{"api_key":"` + itAPIKey + `","user_key":"` + itUserKey + `"}`)
	id := w.create(`{"credentials_secret_id":"` + creds + `"}`)
	w.refresh(id, false)

	src := tokensource.New(w.sm, id)
	if key, err := src.APIKey(context.Background()); err != nil || key != itAPIKey {
		t.Fatalf("APIKey: %v", err)
	}
	if status, body := w.profile(tokensource.NewClient(src, nil)); status != 200 {
		t.Fatalf("profile: %d %s", status, body)
	}
}

func TestConsumerErrorsAgainstMoto(t *testing.T) {
	w := newWorld(t)
	_, err := tokensource.New(w.sm, "no-such-secret-"+testenv.UniqueName(t)).Token()
	if err == nil || !strings.Contains(err.Error(), "no-such-secret") {
		t.Fatalf("missing secret: %v", err)
	}
	expired := w.create(`{"api_key":"` + itAPIKey + `","access_token":"it-expired-token","expires_at":"2020-01-01T00:00:00Z"}`)
	_, err = tokensource.New(w.sm, expired).Token()
	if !errors.Is(err, tokensource.ErrExpired) || strings.Contains(err.Error(), "it-expired-token") {
		t.Fatalf("expired: %v", err)
	}
}
