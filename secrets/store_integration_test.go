//go:build integration

package secrets_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/refresher/testenv"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/sensitive"
)

var moto *testenv.Moto

func TestMain(m *testing.M) {
	os.Exit(testenv.RunWithMoto(m, func(mo *testenv.Moto) int {
		moto = mo
		return m.Run()
	}))
}

func newSecret(t *testing.T, client *secretsmanager.Client, value string) string {
	t.Helper()
	name := testenv.UniqueName(t)
	if _, err := client.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)}); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestStoreAgainstMoto(t *testing.T) {
	ctx := context.Background()
	client := moto.Client(t)
	store := secrets.NewStore(client)
	id := newSecret(t, client, `{"api_key":"AK","user_key":"UK","extra":[1]}`)

	cur, err := store.Read(ctx, id, secrets.StageCurrent)
	if err != nil {
		t.Fatal(err)
	}
	if cur.Doc.APIKey.Reveal() != "AK" || cur.VersionID == "" || !slices.Contains(cur.Stages, secrets.StageCurrent) {
		t.Fatalf("read: %+v", cur)
	}

	doc := cur.Doc.WithToken(secrets.Token{AccessToken: sensitive.New("AT"), TokenType: "bearer"})
	nv := secrets.NewVersion{VersionID: secrets.VersionIDFor([]byte(cur.VersionID), []byte("1")), Doc: doc, Stages: []string{secrets.StageStaged}}
	if err := store.Put(ctx, id, nv); err != nil {
		t.Fatal(err)
	}
	if err := store.Put(ctx, id, nv); err != nil {
		t.Fatalf("a retried identical write must be a no-op: %v", err)
	}
	// Staging our own label leaves AWSCURRENT where it was.
	if again, _ := store.Read(ctx, id, secrets.StageCurrent); again.VersionID != cur.VersionID {
		t.Fatal("Put with a custom stage moved AWSCURRENT")
	}

	// Compare-and-swap: moving from a version that is not current fails.
	if err := store.MoveCurrent(ctx, id, nv.VersionID, "00000000-0000-0000-0000-000000000000"); !errors.Is(err, secrets.ErrConflict) {
		t.Fatalf("stale move: %v", err)
	}
	if err := store.MoveCurrent(ctx, id, nv.VersionID, cur.VersionID); err != nil {
		t.Fatal(err)
	}
	now, err := store.Read(ctx, id, secrets.StageCurrent)
	if err != nil || now.VersionID != nv.VersionID || now.Doc.AccessToken.Reveal() != "AT" {
		t.Fatalf("after move: %+v %v", now, err)
	}
	prev, err := store.Read(ctx, id, secrets.StagePrevious)
	if err != nil || prev.VersionID != cur.VersionID {
		t.Fatalf("AWSPREVIOUS: %+v %v", prev, err)
	}
	desc, err := store.Describe(ctx, id)
	if err != nil || desc.VersionWithStage(secrets.StageCurrent) != nv.VersionID || desc.RotationEnabled {
		t.Fatalf("describe: %+v %v", desc, err)
	}
}

func TestStoreErrorsAgainstMoto(t *testing.T) {
	ctx := context.Background()
	client := moto.Client(t)
	store := secrets.NewStore(client)

	if _, err := store.Read(ctx, "no-such-secret-"+testenv.UniqueName(t), secrets.StageCurrent); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("missing secret: %v", err)
	}
	bad := newSecret(t, client, `{"api_key":`)
	if _, err := store.Read(ctx, bad, secrets.StageCurrent); !errors.Is(err, secrets.ErrMalformed) {
		t.Fatalf("malformed: %v", err)
	}
	id := newSecret(t, client, `{"api_key":"AK","user_key":"UK"}`)
	if _, err := store.ReadVersion(ctx, id, "11111111-1111-1111-1111-111111111111", secrets.StagePending); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("missing version: %v", err)
	}
	if _, err := client.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(id), RecoveryWindowInDays: aws.Int64(7)}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Read(ctx, id, secrets.StageCurrent); !errors.Is(err, secrets.ErrDeleted) {
		t.Fatalf("deleted secret read: %v", err)
	}
	if _, err := store.Describe(ctx, id); !errors.Is(err, secrets.ErrDeleted) {
		t.Fatalf("deleted secret describe: %v", err)
	}
}
