package atlite_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/testutil"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
	"github.com/atlite-dev/atlite/xrpc"
)

// TestNotFoundErrors checks that a missing repo and a missing record are
// told apart (ErrRepoNotFound, ErrRecordNotFound), and that both still
// match ErrNotFound.
func TestNotFoundErrors(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	did := seedRepo(t, s, "did:web:user.com", 3)
	ghost := mustDID(t, "did:web:ghost.example")
	w := mustWrite(t, commit.Create, "app.bsky.feed.post", "3k00000000099", map[string]any{"text": "x"})

	repoCases := map[string]error{}
	_, repoCases["LoadRepo(did)"] = s.LoadRepo(ctx, ghost.AtIdentifier())
	_, repoCases["LoadRepo(handle)"] = s.LoadRepo(ctx, syntax.AtIdentifier("nobody.example"))
	_, repoCases["GetRecord"] = s.GetRecord(ctx, ghost, "app.bsky.feed.post", "3k00000000000")
	_, repoCases["GetActiveRecord"] = s.GetActiveRecord(ctx, ghost, "app.bsky.feed.post", "3k00000000000")
	_, _, repoCases["ListRecords"] = s.ListRecords(ctx, ghost, "app.bsky.feed.post", nil)
	_, repoCases["Collections"] = s.Collections(ctx, ghost)
	_, repoCases["Commit"] = s.Commit(ctx, ghost, []commit.Write{w}, nil)
	_, repoCases["ExportCAR"] = s.ExportCAR(ctx, ghost, io.Discard, nil)
	_, repoCases["WriteRecordProof"] = s.WriteRecordProof(ctx, ghost, "app.bsky.feed.post", "3k00000000000", io.Discard)
	_, _, repoCases["ListBlobs"] = s.ListBlobs(ctx, ghost, nil)
	repoCases["Deactivate"] = s.Deactivate(ctx, ghost)
	repoCases["Activate"] = s.Activate(ctx, ghost)
	repoCases["UpdateHandle"] = s.UpdateHandle(ctx, ghost, "ghost.example")
	for name, err := range repoCases {
		if !errors.Is(err, atlite.ErrRepoNotFound) || !errors.Is(err, atlite.ErrNotFound) || errors.Is(err, atlite.ErrRecordNotFound) {
			t.Errorf("%s(missing repo) = %v, want ErrRepoNotFound (and ErrNotFound), not ErrRecordNotFound", name, err)
		}
	}

	_, err := s.GetRecord(ctx, did, "app.bsky.feed.post", "3k00000000099")
	if !errors.Is(err, atlite.ErrRecordNotFound) || !errors.Is(err, atlite.ErrNotFound) || errors.Is(err, atlite.ErrRepoNotFound) {
		t.Errorf("GetRecord(missing record) = %v, want ErrRecordNotFound (and ErrNotFound), not ErrRepoNotFound", err)
	}
	_, err = s.GetActiveRecord(ctx, did, "app.bsky.feed.post", "3k00000000099")
	if !errors.Is(err, atlite.ErrRecordNotFound) || !errors.Is(err, atlite.ErrNotFound) || errors.Is(err, atlite.ErrRepoNotFound) {
		t.Errorf("GetActiveRecord(missing record) = %v, want ErrRecordNotFound (and ErrNotFound), not ErrRepoNotFound", err)
	}
	// An empty collection of a repo that exists is an empty list.
	if recs, _, err := s.ListRecords(ctx, did, "com.example.none", nil); err != nil || len(recs) != 0 {
		t.Errorf("ListRecords(empty collection) = %d records, %v; want 0, nil", len(recs), err)
	}
}

// TestMissingNodeIsCorruption deletes the root MST node of a repo behind
// the store's back: every read of the tree must then report damage
// (ErrCorrupt), never a missing repo.
func TestMissingNodeIsCorruption(t *testing.T) {
	s, path := testutil.MustOpenFileStore(t, &atlite.Options{NodeCacheSize: -1})
	did := seedRepo(t, s, "did:web:user.com", 200)
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check before damage = %v", err)
	}
	db, err := testutil.OpenRawDB(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(`DELETE FROM blocks WHERE cid = (SELECT data FROM repos)`)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("damage touched %d rows, want 1", n)
	}

	errs := map[string]error{}
	w := mustWrite(t, commit.Create, "app.bsky.feed.post", "3k00000009999", map[string]any{"text": "x"})
	_, errs["Commit"] = s.Commit(ctx, did, []commit.Write{w}, nil)
	_, errs["ExportCAR"] = s.ExportCAR(ctx, did, io.Discard, nil)
	errs["Check"] = s.Check(ctx)
	_, errs["WriteRecordProof"] = s.WriteRecordProof(ctx, did, "app.bsky.feed.post", "3k00000000000", io.Discard)
	for name, err := range errs {
		if !errors.Is(err, atlite.ErrCorrupt) || errors.Is(err, atlite.ErrRepoNotFound) || errors.Is(err, atlite.ErrNotFound) {
			t.Errorf("%s(missing MST node) = %v, want ErrCorrupt and neither ErrRepoNotFound nor ErrNotFound", name, err)
		}
	}
	// The repo itself is still there.
	if _, err := s.LoadRepo(ctx, did.AtIdentifier()); err != nil {
		t.Errorf("LoadRepo = %v, want the repo", err)
	}
}

// TestBadSignatureOneValue checks that a bad signature matches one
// ErrBadSignature from every layer: keys, commit and the store.
func TestBadSignatureOneValue(t *testing.T) {
	if atlite.ErrBadSignature != keys.ErrBadSignature || commit.ErrBadSignature != keys.ErrBadSignature {
		t.Fatal("atlite, commit and keys have different ErrBadSignature values")
	}
	s := testutil.MustOpenStore(t, nil)
	did := seedRepo(t, s, "did:web:user.com", 5)
	repo, _ := s.LoadRepo(ctx, did.AtIdentifier())
	other, err := keys.GenerateK256()
	if err != nil {
		t.Fatal(err)
	}
	b := exportCAR(t, s, did, nil)

	cb, err := s.GetBlock(ctx, repo.Head)
	if err != nil {
		t.Fatal(err)
	}
	cmt, err := commit.Decode(cb)
	if err != nil {
		t.Fatal(err)
	}
	_, verifyErr := atlite.VerifyCAR(ctx, bytes.NewReader(b), other.PublicKey())
	_, importErr := testutil.MustOpenStore(t, nil).ImportCAR(ctx, bytes.NewReader(b), &atlite.ImportOptions{VerifyKey: other.PublicKey()})
	for name, err := range map[string]error{
		"commit.Verify": cmt.Verify(other.PublicKey()),
		"keys.Verify":   other.PublicKey().Verify([]byte("msg"), cmt.Sig),
		"VerifyCAR":     verifyErr,
		"ImportCAR":     importErr,
	} {
		if !errors.Is(err, atlite.ErrBadSignature) || !errors.Is(err, commit.ErrBadSignature) || !errors.Is(err, keys.ErrBadSignature) {
			t.Errorf("%s(wrong key) = %v, want ErrBadSignature of atlite, commit and keys", name, err)
		}
	}
}

// TestErrorForNotFound checks the XRPC names the finer sentinels map to.
func TestErrorForNotFound(t *testing.T) {
	cases := []struct {
		err    error
		status int
		name   string
	}{
		{fmt.Errorf("did:web:x: %w", atlite.ErrRepoNotFound), 400, "RepoNotFound"},
		{fmt.Errorf("did:web:x/a/b: %w", atlite.ErrRecordNotFound), 400, "RecordNotFound"},
		{fmt.Errorf("%w: block x is missing", atlite.ErrCorrupt), 500, "InternalServerError"},
		{fmt.Errorf("%w: %w", atlite.ErrCorrupt, atlite.ErrNotFound), 500, "InternalServerError"},
	}
	for _, c := range cases {
		if got := xrpc.ErrorFor(c.err); got.Status != c.status || got.Name != c.name {
			t.Errorf("ErrorFor(%v) = %d %s, want %d %s", c.err, got.Status, got.Name, c.status, c.name)
		}
	}
}
