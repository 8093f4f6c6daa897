package memstore

import (
	"context"
	"errors"
	"testing"

	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets"
	"github.com/mightycall-token-refresher/mightycall-token-refresher/secrets/sensitive"
)

// The store follows AWS, not moto, where they differ.
func TestAWSVersionAndStageRules(t *testing.T) {
	ctx := context.Background()
	s := New(nil)
	v1 := s.Create("x", []byte(`{"api_key":"a","user_key":"u"}`))
	doc, _ := secrets.ParseDocument([]byte(`{"api_key":"a","user_key":"u"}`))
	doc2 := doc.WithToken(secrets.Token{AccessToken: sensitive.New("t")})

	// A rotation placeholder has no value until createSecret writes it.
	token := s.StartRotation("x")
	if _, err := s.ReadVersion(ctx, "x", token, secrets.StagePending); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("placeholder read: %v", err)
	}
	if err := s.Put(ctx, "x", secrets.NewVersion{VersionID: token, Doc: doc2, Stages: []string{secrets.StagePending}}); err != nil {
		t.Fatal(err)
	}
	// Same token, same value: a no-op; another value: refused (moto allows it).
	if err := s.Put(ctx, "x", secrets.NewVersion{VersionID: token, Doc: doc2, Stages: []string{secrets.StagePending}}); err != nil {
		t.Fatalf("idempotent retry: %v", err)
	}
	if err := s.Put(ctx, "x", secrets.NewVersion{VersionID: token, Doc: doc, Stages: []string{secrets.StagePending}}); !errors.Is(err, secrets.ErrVersionExists) {
		t.Fatalf("overwrite: %v", err)
	}
	// Moving AWSCURRENT is a compare-and-swap.
	if err := s.MoveCurrent(ctx, "x", token, "not-current"); !errors.Is(err, secrets.ErrConflict) {
		t.Fatalf("stale move: %v", err)
	}
	if err := s.MoveCurrent(ctx, "x", token, v1); err != nil {
		t.Fatal(err)
	}
	st := s.Stages("x")
	if len(st[v1]) != 1 || st[v1][0] != secrets.StagePrevious {
		t.Fatalf("AWSPREVIOUS not on the old version: %v", st)
	}
	// A console write moves AWSCURRENT implicitly.
	v3 := s.UserPut("x", []byte(`{"api_key":"a","user_key":"u2"}`))
	if cur, _ := s.ValueAt("x", secrets.StageCurrent); cur != v3 {
		t.Fatal("UserPut did not move AWSCURRENT")
	}
	// Removing a label.
	if err := s.MoveStage(ctx, "x", secrets.StagePending, "", token); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.ValueAt("x", secrets.StagePending); p != "" {
		t.Fatal("AWSPENDING not removed")
	}
	s.MarkDeleted("x")
	if _, err := s.Read(ctx, "x", secrets.StageCurrent); !errors.Is(err, secrets.ErrDeleted) {
		t.Fatalf("deleted: %v", err)
	}
	if s.Calls(OpPut) != 3 || s.Calls(OpMove) != 3 {
		t.Fatalf("calls: put %d move %d", s.Calls(OpPut), s.Calls(OpMove))
	}
}
