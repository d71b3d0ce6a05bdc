package atlite_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/testutil"
)

func TestRepoHasBlob(t *testing.T) {
	now := testutil.Now
	s := testutil.MustOpenStore(t, &atlite.Options{Now: func() time.Time { return now }})
	alice, bob := newRepo(t, s, "did:web:alice.example"), newRepo(t, s, "did:web:bob.example")
	b, err := s.UploadBlob(ctx, alice, bytes.NewReader([]byte("0123456789")), "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	has := func(d string) bool {
		t.Helper()
		ok, err := s.RepoHasBlob(ctx, mustDID(t, d), b.CID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !has("did:web:alice.example") || has("did:web:bob.example") {
		t.Errorf("after alice's upload: alice %v, bob %v; want true, false", has("did:web:alice.example"), has("did:web:bob.example"))
	}
	now = now.Add(2 * time.Hour) // alice's grace period is over, and she never cited it
	if has("did:web:alice.example") {
		t.Error("alice still has an uncited blob after the grace period")
	}
	// Bob cites it: it is his, while he does.
	w := mustWrite(t, commit.Create, "com.example.file", "f", map[string]any{"$type": "com.example.file",
		"file": map[string]any{"$type": "blob", "ref": b.CID, "mimeType": "text/plain", "size": int64(10)}})
	if _, err := s.Commit(ctx, bob, []commit.Write{w}, nil); err != nil {
		t.Fatal(err)
	}
	if !has("did:web:bob.example") || has("did:web:alice.example") {
		t.Errorf("after bob cites it: bob %v, alice %v; want true, false", has("did:web:bob.example"), has("did:web:alice.example"))
	}
	del := mustWrite(t, commit.Delete, "com.example.file", "f", nil)
	if _, err := s.Commit(ctx, bob, []commit.Write{del}, nil); err != nil {
		t.Fatal(err)
	}
	if has("did:web:bob.example") {
		t.Error("bob has the blob after deleting the record that cited it")
	}
	if _, err := s.RepoHasBlob(ctx, "did:web:nobody.example", b.CID, time.Hour); !errors.Is(err, atlite.ErrRepoNotFound) {
		t.Errorf("unknown repo = %v, want ErrRepoNotFound", err)
	}
	_ = alice
}
