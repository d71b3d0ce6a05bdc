package atlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/car"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/testutil"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

// damageFile runs one statement on the closed store file at path through a
// connection of its own and checks that it touched exactly one row.
func damageFile(t *testing.T, path, q string, args ...any) {
	t.Helper()
	db, err := testutil.OpenRawDB(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(q, args...)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("damage touched %d rows, want 1", n)
	}
}

// TestCheckRehashesBlocks overwrites the bytes of one stored block (a
// record, the MST root, the head commit) and checks that Check reports the
// damage as ErrCorrupt, naming the repo and the record or block, and that
// ExportCAR refuses to write the damaged block.
func TestCheckRehashesBlocks(t *testing.T) {
	const did = "did:web:user.com"
	const path = "app.bsky.feed.like/3k00000000007"
	tests := []struct {
		name  string
		pick  string // SQL giving the CID of the block to damage
		names []string
	}{
		{"record", `SELECT b.cid FROM records r JOIN blocks b ON b.k = r.k WHERE r.rkey = '3k00000000007'`, []string{did, path}},
		{"mst root", `SELECT data FROM repos`, []string{did, "mst node"}},
		{"head commit", `SELECT head FROM repos`, []string{did, "commit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, file := testutil.MustOpenFileStore(t, nil)
			d := seedRepo(t, s, did, 20)
			if err := s.Check(ctx); err != nil {
				t.Fatalf("Check before damage = %v", err)
			}
			s.Close()
			db, err := testutil.OpenRawDB(file)
			if err != nil {
				t.Fatal(err)
			}
			var cb []byte
			if err := db.QueryRow(tt.pick).Scan(&cb); err != nil {
				t.Fatal(err)
			}
			db.Close()
			c, err := cid.Cast(cb)
			if err != nil {
				t.Fatal(err)
			}
			damageFile(t, file, `UPDATE blocks SET data = ? WHERE cid = ?`, []byte{0xa0}, cb)

			s2, err := atlite.Open(file, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			err = s2.Check(ctx)
			if !errors.Is(err, atlite.ErrCorrupt) {
				t.Fatalf("Check = %v, want ErrCorrupt", err)
			}
			t.Logf("Check: %v", err)
			for _, want := range append(tt.names, c.String()) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Check = %q, does not name %q", err, want)
				}
			}
			var buf bytes.Buffer
			if _, err := s2.ExportCAR(ctx, d, &buf, nil); !errors.Is(err, atlite.ErrCorrupt) || !strings.Contains(err.Error(), c.String()) {
				t.Errorf("ExportCAR of the damaged repo = %v, want ErrCorrupt naming %s", err, c)
			}
		})
	}
}

// TestExportRefusesDamagedRecord: a record block whose bytes no longer
// hash to its CID makes ExportCAR fail with ErrCorrupt naming the CID,
// instead of writing a CAR that VerifyCAR rejects.
func TestExportRefusesDamagedRecord(t *testing.T) {
	s, file := testutil.MustOpenFileStore(t, nil)
	d := seedRepo(t, s, "did:web:user.com", 20)
	rec, err := s.GetRecord(ctx, d, "app.bsky.feed.like", "3k00000000007")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	damageFile(t, file, `UPDATE blocks SET data = ? WHERE cid = ?`, []byte{0xa0}, rec.CID.Bytes())
	s2, err := atlite.Open(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	_, err = s2.ExportCAR(ctx, d, io.Discard, nil)
	if !errors.Is(err, atlite.ErrCorrupt) || !strings.Contains(err.Error(), rec.CID.String()) {
		t.Errorf("ExportCAR = %v, want ErrCorrupt naming %s", err, rec.CID)
	}
	// Nor do reads serve the damaged bytes under the old CID.
	if got, err := s2.GetRecord(ctx, d, "app.bsky.feed.like", "3k00000000007"); !errors.Is(err, atlite.ErrCorrupt) {
		t.Errorf("GetRecord of the damaged record = %+v, %v; want ErrCorrupt", got, err)
	}
	if _, _, err := s2.ListRecords(ctx, d, "app.bsky.feed.like", nil); !errors.Is(err, atlite.ErrCorrupt) {
		t.Errorf("ListRecords over the damaged record = %v, want ErrCorrupt", err)
	}
}

// TestCheckWrongKEK: a store opened with another key-encryption key than
// the one that sealed its keys is not damaged; Check says the key is wrong.
func TestCheckWrongKEK(t *testing.T) {
	kek := bytes.Repeat([]byte{1}, 32)
	s, file := testutil.MustOpenFileStore(t, &atlite.Options{KeyEncryptionKey: kek})
	seedRepo(t, s, "did:web:user.com", 5)
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check with the right key = %v", err)
	}
	s.Close()
	s2, err := atlite.Open(file, &atlite.Options{KeyEncryptionKey: bytes.Repeat([]byte{2}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	err = s2.Check(ctx)
	if !errors.Is(err, atlite.ErrInvalidKey) || errors.Is(err, atlite.ErrCorrupt) {
		t.Fatalf("Check with a wrong key-encryption key = %v, want ErrInvalidKey and not ErrCorrupt", err)
	}
	if !strings.Contains(err.Error(), "key-encryption key is wrong") || !strings.Contains(err.Error(), "did:web:user.com") {
		t.Errorf("Check = %q, want it to say the key-encryption key is wrong, for did:web:user.com", err)
	}
}

func lastSeq(t *testing.T, s *atlite.Store) int64 {
	t.Helper()
	seq, err := s.LastSeq(ctx, atlite.SubscribeReposNSID)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

// TestImportRefusesOlderRev imports an older export of a local repo: it is
// refused (ErrRevConflict) and changes nothing, unless Force is set, which
// moves the head back with one #sync. Importing the head's own CAR again
// is a no-op, with or without Force.
func TestImportRefusesOlderRev(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	d := seedRepo(t, s, "did:web:user.com", 10)
	old, _ := s.LoadRepo(ctx, d.AtIdentifier())
	oldCAR := exportCAR(t, s, d, nil)
	newer, err := s.Commit(ctx, d, []commit.Write{mustWrite(t, commit.Create, "app.bsky.feed.post", "zzz", map[string]any{"new": true})}, nil)
	if err != nil {
		t.Fatal(err)
	}
	seq := lastSeq(t, s)

	_, err = s.ImportCAR(ctx, bytes.NewReader(oldCAR), nil)
	if !errors.Is(err, atlite.ErrRevConflict) {
		t.Fatalf("ImportCAR(older rev) = %v, want ErrRevConflict", err)
	}
	for _, rev := range []syntax.TID{old.Rev, newer.Commit.Rev} {
		if !strings.Contains(err.Error(), rev.String()) {
			t.Errorf("ImportCAR = %q, does not name rev %s", err, rev)
		}
	}
	if r, _ := s.LoadRepo(ctx, d.AtIdentifier()); r.Head != newer.CID || r.Rev != newer.Commit.Rev {
		t.Errorf("refused import moved the head to %s rev %s, want %s rev %s", r.Head, r.Rev, newer.CID, newer.Commit.Rev)
	}
	if _, err := s.GetRecord(ctx, d, "app.bsky.feed.post", "zzz"); err != nil {
		t.Errorf("refused import dropped the newer record: %v", err)
	}
	if got := lastSeq(t, s); got != seq {
		t.Errorf("refused import: last seq %d, want %d", got, seq)
	}

	// The head's own CAR: nothing written, with or without Force.
	headCAR := exportCAR(t, s, d, nil)
	for _, force := range []bool{false, true} {
		res, err := s.ImportCAR(ctx, bytes.NewReader(headCAR), &atlite.ImportOptions{Force: force})
		if err != nil {
			t.Fatalf("ImportCAR(head's CAR, Force %v) = %v", force, err)
		}
		if !res.NoOp || res.Seq != 0 || res.Blocks != 0 || res.Records != 11 || res.Repo.Head != newer.CID || !res.SignatureChecked {
			t.Errorf("ImportCAR(head's CAR, Force %v) = %+v; want NoOp, seq 0, 0 blocks, 11 records, head %s, signature checked", force, res, newer.CID)
		}
		if got := lastSeq(t, s); got != seq {
			t.Errorf("no-op import (Force %v): last seq %d, want %d", force, got, seq)
		}
	}

	// Force: the head goes back, the newer record goes, one #sync.
	res, err := s.ImportCAR(ctx, bytes.NewReader(oldCAR), &atlite.ImportOptions{Force: true})
	if err != nil {
		t.Fatalf("ImportCAR(older rev, Force) = %v", err)
	}
	if res.NoOp || res.Seq != seq+1 || res.Records != 10 || res.Repo.Head != old.Head || res.Repo.Rev != old.Rev {
		t.Errorf("ImportCAR(older rev, Force) = %+v; want seq %d, 10 records, head %s rev %s", res, seq+1, old.Head, old.Rev)
	}
	if _, err := s.GetRecord(ctx, d, "app.bsky.feed.post", "zzz"); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("GetRecord(zzz) after the forced import = %v, want ErrNotFound", err)
	}
	evs, _ := s.Events(ctx, &atlite.EventsOptions{After: seq})
	if len(evs) != 1 || evs[0].Kind != atlite.KindSync || evs[0].Rev != old.Rev || evs[0].Commit != old.Head {
		t.Errorf("events after the forced import = %+v, want one #sync of rev %s", evs, old.Rev)
	}
	if err := s.Check(ctx); err != nil {
		t.Error(err)
	}
}

// mirrorRow reads the stored signing key columns of a repo.
func mirrorRow(t *testing.T, path, did string) (typ string, n int, pub sql.NullString) {
	t.Helper()
	db, err := testutil.OpenRawDB(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q := `SELECT typeof(signing_key), length(signing_key), signing_pub FROM repos WHERE did = ?`
	if testutil.Backend() == testutil.BackendPostgres {
		q = `SELECT 'blob', length(signing_key), signing_pub FROM repos WHERE did = ?` // bytea: always a blob
	}
	if err := db.QueryRow(q, did).Scan(&typ, &n, &pub); err != nil {
		t.Fatal(err)
	}
	return typ, n, pub
}

// TestImportKeys: an import never generates a signing key. With
// SigningKey the host takes the repo's key; without it a new repo is a
// read-only mirror that keeps VerifyKey as its public key, or no key at
// all, and SignatureChecked tells whether anything was checked.
func TestImportKeys(t *testing.T) {
	key := testutil.TestKey(t)
	other, _ := keys.K256FromSeed(4597489735324)
	src := testutil.MustOpenStore(t, nil)
	d := seedRepo(t, src, "did:web:user.com", 10)
	b1 := exportCAR(t, src, d, nil)
	if _, err := src.Commit(ctx, d, []commit.Write{mustWrite(t, commit.Create, "app.bsky.feed.post", "zzz", map[string]any{"new": true})}, nil); err != nil {
		t.Fatal(err)
	}
	b2 := exportCAR(t, src, d, nil)
	post := func(s *atlite.Store) error {
		_, err := s.Commit(ctx, d, []commit.Write{mustWrite(t, commit.Create, "app.bsky.feed.post", "local", map[string]any{"x": int64(1)})}, nil)
		return err
	}

	t.Run("mirror with verify key", func(t *testing.T) {
		s, path := testutil.MustOpenFileStore(t, nil)
		res, err := s.ImportCAR(ctx, bytes.NewReader(b1), &atlite.ImportOptions{VerifyKey: key.PublicKey()})
		if err != nil {
			t.Fatal(err)
		}
		if !res.SignatureChecked || !res.Repo.Mirror || res.Repo.SigningKey == nil || res.Repo.SigningKey.DIDKey() != key.PublicKey().DIDKey() {
			t.Errorf("ImportCAR = %+v; want a checked mirror with signing key %s", res, key.PublicKey().DIDKey())
		}
		if typ, n, pub := mirrorRow(t, path, d.String()); typ != "blob" || n != 0 || pub.String != key.PublicKey().DIDKey() {
			t.Errorf("stored signing_key %s of %d bytes, signing_pub %v; want an empty blob and %s", typ, n, pub, key.PublicKey().DIDKey())
		}
		if err := post(s); !errors.Is(err, atlite.ErrReadOnlyRepo) {
			t.Errorf("Commit to the mirror = %v, want ErrReadOnlyRepo", err)
		}
		if kc, _ := s.KeyCounts(ctx); kc != (atlite.KeyCounts{Mirror: 1}) {
			t.Errorf("KeyCounts = %+v, want 1 mirror", kc)
		}
		// The newer CAR is checked against the mirror's stored key.
		res, err = s.ImportCAR(ctx, bytes.NewReader(b2), nil)
		if err != nil || !res.SignatureChecked {
			t.Fatalf("ImportCAR(newer) into the mirror = %+v, %v; want the signature checked", res, err)
		}
		if err := s.Check(ctx); err != nil {
			t.Error(err)
		}
	})

	t.Run("mirror without any key", func(t *testing.T) {
		s, path := testutil.MustOpenFileStore(t, nil)
		res, err := s.ImportCAR(ctx, bytes.NewReader(b1), nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.SignatureChecked || !res.Repo.Mirror || res.Repo.SigningKey != nil {
			t.Errorf("ImportCAR = %+v; want an unchecked mirror with no key", res)
		}
		if typ, n, pub := mirrorRow(t, path, d.String()); typ != "blob" || n != 0 || pub.Valid {
			t.Errorf("stored signing_key %s of %d bytes, signing_pub %v; want an empty blob and NULL", typ, n, pub)
		}
		if err := post(s); !errors.Is(err, atlite.ErrReadOnlyRepo) {
			t.Errorf("Commit to the mirror = %v, want ErrReadOnlyRepo", err)
		}
		// Still nothing to check against; then a VerifyKey checks and is kept.
		res, err = s.ImportCAR(ctx, bytes.NewReader(b2), &atlite.ImportOptions{VerifyKey: key.PublicKey()})
		if err != nil || !res.SignatureChecked || res.Repo.SigningKey == nil || res.Repo.SigningKey.DIDKey() != key.PublicKey().DIDKey() {
			t.Fatalf("ImportCAR(newer, VerifyKey) = %+v, %v; want checked, key kept", res, err)
		}
	})

	t.Run("unchecked re-import of a keyless mirror", func(t *testing.T) {
		s := testutil.MustOpenStore(t, nil)
		if _, err := s.ImportCAR(ctx, bytes.NewReader(b1), nil); err != nil {
			t.Fatal(err)
		}
		res, err := s.ImportCAR(ctx, bytes.NewReader(b2), nil)
		if err != nil || res.SignatureChecked {
			t.Fatalf("ImportCAR(newer) = %+v, %v; want unchecked", res, err)
		}
	})

	t.Run("signing key", func(t *testing.T) {
		s := testutil.MustOpenStore(t, nil)
		res, err := s.ImportCAR(ctx, bytes.NewReader(b1), &atlite.ImportOptions{SigningKey: key, VerifyKey: key.PublicKey(), Handle: "User.com"})
		if err != nil {
			t.Fatal(err)
		}
		if !res.SignatureChecked || res.Repo.Mirror || res.Repo.SigningKey.DIDKey() != key.PublicKey().DIDKey() || res.Repo.Handle != "user.com" {
			t.Errorf("ImportCAR = %+v; want a checked, writable repo with key %s and handle user.com", res, key.PublicKey().DIDKey())
		}
		cr, err := s.Commit(ctx, d, []commit.Write{mustWrite(t, commit.Create, "app.bsky.feed.post", "local", map[string]any{"x": int64(1)})}, nil)
		if err != nil {
			t.Fatalf("Commit after import with the signing key = %v", err)
		}
		if err := cr.Commit.Verify(key.PublicKey()); err != nil {
			t.Errorf("commit after import not signed with the imported key: %v", err)
		}
		if err := s.Check(ctx); err != nil {
			t.Error(err)
		}
	})

	t.Run("signing key that did not sign", func(t *testing.T) {
		s := testutil.MustOpenStore(t, nil)
		if _, err := s.ImportCAR(ctx, bytes.NewReader(b1), &atlite.ImportOptions{SigningKey: other}); !errors.Is(err, atlite.ErrBadSignature) {
			t.Errorf("ImportCAR(other SigningKey) = %v, want ErrBadSignature", err)
		}
		if _, err := s.ImportCAR(ctx, bytes.NewReader(b1), &atlite.ImportOptions{SigningKey: key, VerifyKey: other.PublicKey()}); !errors.Is(err, atlite.ErrBadSignature) {
			t.Errorf("ImportCAR(SigningKey, other VerifyKey) = %v, want ErrBadSignature", err)
		}
		if repos, _, _ := s.ListRepos(ctx, nil); len(repos) != 0 {
			t.Errorf("refused imports left %d repos", len(repos))
		}
	})

	t.Run("mirror takes its signing key", func(t *testing.T) {
		s := testutil.MustOpenStore(t, nil)
		if _, err := s.ImportCAR(ctx, bytes.NewReader(b1), &atlite.ImportOptions{VerifyKey: key.PublicKey()}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ImportCAR(ctx, bytes.NewReader(b2), &atlite.ImportOptions{SigningKey: other}); !errors.Is(err, atlite.ErrBadSignature) {
			t.Errorf("ImportCAR(newer, wrong SigningKey) = %v, want ErrBadSignature", err)
		}
		if err := post(s); !errors.Is(err, atlite.ErrReadOnlyRepo) {
			t.Errorf("Commit after a refused key = %v, want ErrReadOnlyRepo", err)
		}
		res, err := s.ImportCAR(ctx, bytes.NewReader(b2), &atlite.ImportOptions{SigningKey: key})
		if err != nil || res.Repo.Mirror || !res.SignatureChecked {
			t.Fatalf("ImportCAR(newer, SigningKey) = %+v, %v; want a writable repo", res, err)
		}
		if err := post(s); err != nil {
			t.Errorf("Commit after the mirror took its key = %v", err)
		}
		if kc, _ := s.KeyCounts(ctx); kc != (atlite.KeyCounts{Clear: 1}) {
			t.Errorf("KeyCounts = %+v, want 1 clear", kc)
		}
	})

	t.Run("existing repo checks its stored key", func(t *testing.T) {
		// A repo this host signs for, with the same DID and another key:
		// the CAR (signed by key) does not verify with the stored key.
		s := testutil.MustOpenStore(t, nil)
		if _, err := s.CreateRepo(ctx, d, &atlite.CreateRepoOptions{SigningKey: other}); err != nil {
			t.Fatal(err)
		}
		// (The local repo was created later: its rev is newer, hence Force.)
		if _, err := s.ImportCAR(ctx, bytes.NewReader(b2), &atlite.ImportOptions{Force: true}); !errors.Is(err, atlite.ErrBadSignature) {
			t.Errorf("ImportCAR(signed by another key) = %v, want ErrBadSignature", err)
		}
		// VerifyKey overrides the check; the stored key is kept.
		res, err := s.ImportCAR(ctx, bytes.NewReader(b2), &atlite.ImportOptions{VerifyKey: key.PublicKey(), Force: true})
		if err != nil || !res.SignatureChecked || res.Repo.SigningKey.DIDKey() != other.PublicKey().DIDKey() {
			t.Fatalf("ImportCAR(VerifyKey) = %+v, %v; want checked, stored key %s kept", res, err, other.PublicKey().DIDKey())
		}
	})

	t.Run("VerifyCAR", func(t *testing.T) {
		vr, err := atlite.VerifyCAR(ctx, bytes.NewReader(b1), nil)
		if err != nil || vr.SignatureChecked {
			t.Errorf("VerifyCAR(no key) = %+v, %v; want SignatureChecked false", vr, err)
		}
		vr, err = atlite.VerifyCAR(ctx, bytes.NewReader(b1), key.PublicKey())
		if err != nil || !vr.SignatureChecked {
			t.Errorf("VerifyCAR(key) = %+v, %v; want SignatureChecked true", vr, err)
		}
	})
}

// TestImportSealedFileRefusesClearKey: a SigningKey is not stored in the
// clear into a file whose keys are sealed.
func TestImportSealedFileRefusesClearKey(t *testing.T) {
	key := testutil.TestKey(t)
	src := testutil.MustOpenStore(t, nil)
	d := seedRepo(t, src, "did:web:user.com", 3)
	b := exportCAR(t, src, d, nil)
	kek := bytes.Repeat([]byte{7}, 32)
	s, path := testutil.MustOpenFileStore(t, &atlite.Options{KeyEncryptionKey: kek})
	newRepo(t, s, "did:web:sealed.example")
	s.Close()
	s2, err := atlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.ImportCAR(ctx, bytes.NewReader(b), &atlite.ImportOptions{SigningKey: key}); !errors.Is(err, atlite.ErrKeyEncrypted) {
		t.Errorf("ImportCAR(SigningKey) into a sealed file without its key = %v, want ErrKeyEncrypted", err)
	}
	s3, err := atlite.Open(path, &atlite.Options{KeyEncryptionKey: kek})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if _, err := s3.ImportCAR(ctx, bytes.NewReader(b), &atlite.ImportOptions{SigningKey: key}); err != nil {
		t.Fatal(err)
	}
	if kc, _ := s3.KeyCounts(ctx); kc != (atlite.KeyCounts{Sealed: 2}) {
		t.Errorf("KeyCounts = %+v, want 2 sealed", kc)
	}
}

// TestImportRefusesFutureRev: a rev more than five minutes ahead of the
// store's clock is refused and nothing is written; four minutes is fine.
func TestImportRefusesFutureRev(t *testing.T) {
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	carAt := func(at time.Time) []byte {
		src := testutil.MustOpenStore(t, &atlite.Options{Now: func() time.Time { return at }})
		d := seedRepo(t, src, "did:web:user.com", 3)
		return exportCAR(t, src, d, nil)
	}
	s := testutil.MustOpenStore(t, &atlite.Options{Now: func() time.Time { return base }})
	_, err := s.ImportCAR(ctx, bytes.NewReader(carAt(base.Add(6*time.Minute))), nil)
	if !errors.Is(err, atlite.ErrFutureRev) || !errors.Is(err, atlite.ErrInvalidCAR) {
		t.Fatalf("ImportCAR(rev 6 minutes ahead) = %v, want ErrFutureRev", err)
	}
	if repos, _, _ := s.ListRepos(ctx, nil); len(repos) != 0 {
		t.Errorf("refused import left %d repos", len(repos))
	}
	if seq := lastSeq(t, s); seq != 0 {
		t.Errorf("refused import consumed seq %d", seq)
	}
	res, err := s.ImportCAR(ctx, bytes.NewReader(carAt(base.Add(4*time.Minute))), nil)
	if err != nil || res.Seq != 1 {
		t.Fatalf("ImportCAR(rev 4 minutes ahead) = %+v, %v; want seq 1", res, err)
	}
}

// blockCounts counts the blocks of a CAR by CID.
func blockCounts(t *testing.T, b []byte) (map[cid.Cid]int, int) {
	t.Helper()
	_, blocks, err := car.ReadAll(bytes.NewReader(b), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := map[cid.Cid]int{}
	for _, bl := range blocks {
		n[bl.CID]++
	}
	return n, len(blocks)
}

// TestExportWritesEachBlockOnce: records with identical bytes share a CID,
// and the export holds that block once; VerifyCAR refuses a CAR that
// repeats a block, ImportCAR stores it once.
func TestExportWritesEachBlockOnce(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	d := seedRepo(t, s, "did:web:user.com", 30)
	mid, _ := s.LoadRepo(ctx, d.AtIdentifier())
	same := map[string]any{"$type": "app.bsky.feed.post", "text": "same"}
	sameCID := cborCID(t, same)
	if _, err := s.Commit(ctx, d, []commit.Write{
		mustWrite(t, commit.Create, "app.bsky.feed.post", "a1", same),
		mustWrite(t, commit.Create, "app.bsky.feed.post", "a2", same),
		mustWrite(t, commit.Create, "app.bsky.feed.post", "a3", same),
	}, nil); err != nil {
		t.Fatal(err)
	}
	b := exportCAR(t, s, d, nil)
	counts, total := blockCounts(t, b)
	for c, n := range counts {
		if n != 1 {
			t.Errorf("export holds block %s %d times", c, n)
		}
	}
	if counts[sameCID] != 1 {
		t.Errorf("export holds the shared record %s %d times, want 1", sameCID, counts[sameCID])
	}
	st, err := s.ExportCAR(ctx, d, io.Discard, nil)
	if err != nil || st.Blocks != total {
		t.Errorf("ExportStats.Blocks = %d, %v; the CAR has %d", st.Blocks, err, total)
	}
	vr, err := atlite.VerifyCAR(ctx, bytes.NewReader(b), testutil.TestKey(t).PublicKey())
	if err != nil || vr.Records != 33 || vr.Blocks != total {
		t.Fatalf("VerifyCAR = %+v, %v; want 33 records, %d blocks", vr, err, total)
	}
	since := exportCAR(t, s, d, &atlite.ExportOptions{Since: mid.Rev})
	sc, _ := blockCounts(t, since)
	if sc[sameCID] != 1 {
		t.Errorf("since export holds the shared record %d times, want 1", sc[sameCID])
	}

	// The same CAR with the shared record written twice.
	roots, blocks, _ := car.ReadAll(bytes.NewReader(b), nil)
	var buf bytes.Buffer
	w, _ := car.NewWriter(&buf, roots)
	for _, bl := range blocks {
		w.WriteBlock(bl.CID, bl.Data)
		if bl.CID == sameCID {
			w.WriteBlock(bl.CID, bl.Data)
		}
	}
	w.Flush()
	dup := buf.Bytes()
	if _, err := atlite.VerifyCAR(ctx, bytes.NewReader(dup), nil); !errors.Is(err, atlite.ErrInvalidCAR) || !strings.Contains(err.Error(), sameCID.String()) {
		t.Errorf("VerifyCAR(repeated block) = %v, want ErrInvalidCAR naming %s", err, sameCID)
	}
	s2 := testutil.MustOpenStore(t, nil)
	res, err := s2.ImportCAR(ctx, bytes.NewReader(dup), nil)
	if err != nil || res.Records != 33 || res.Blocks != total {
		t.Fatalf("ImportCAR(repeated block) = %+v, %v; want 33 records, %d blocks", res, err, total)
	}
	if again := exportCAR(t, s2, d, nil); !bytes.Equal(again, b) {
		t.Error("export after importing the CAR with a repeated block differs from the original export")
	}
}

// TestExportInactive: an inactive repo is exported only with
// IncludeInactive, and a deleted one never.
func TestExportInactive(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	d := seedRepo(t, s, "did:web:user.com", 12)
	repo, _ := s.LoadRepo(ctx, d.AtIdentifier())
	want := exportCAR(t, s, d, nil)
	for _, step := range inactiveSteps(s) {
		if err := step.set(ctx, d); err != nil {
			t.Fatal(err)
		}
		var ie *atlite.InactiveRepoError
		if _, err := s.ExportCAR(ctx, d, io.Discard, nil); !errors.As(err, &ie) || ie.Status != step.status {
			t.Errorf("ExportCAR(%s) = %v, want InactiveRepoError %s", step.status, err, step.status)
		}
		b := exportCAR(t, s, d, &atlite.ExportOptions{IncludeInactive: true})
		if !bytes.Equal(b, want) {
			t.Errorf("ExportCAR(%s, IncludeInactive) differs from the active export", step.status)
		}
		vr, err := atlite.VerifyCAR(ctx, bytes.NewReader(b), repo.SigningKey)
		if err != nil || vr.Commit != repo.Head || vr.Records != 12 {
			t.Errorf("VerifyCAR(%s export) = %+v, %v; want head %s, 12 records", step.status, vr, err, repo.Head)
		}
	}
	if err := s.DeleteRepo(ctx, d); err != nil {
		t.Fatal(err)
	}
	var ie *atlite.InactiveRepoError
	if _, err := s.ExportCAR(ctx, d, io.Discard, &atlite.ExportOptions{IncludeInactive: true}); !errors.As(err, &ie) || ie.Status != atlite.StatusDeleted {
		t.Errorf("ExportCAR(deleted, IncludeInactive) = %v, want InactiveRepoError deleted", err)
	}
}

// cancelReader serves a CAR and cancels its context after n bytes; with
// fail set it then returns the context's error, as a network body does.
type cancelReader struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
	ctx    context.Context
	fail   bool
}

func (c *cancelReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
		if c.fail {
			return 0, c.ctx.Err()
		}
	}
	if len(p) > 512 {
		p = p[:512]
	}
	n, err := c.r.Read(p)
	c.n -= n
	return n, err
}

// TestImportCancelled: an import cancelled midway is reported as cancelled,
// not as an invalid CAR, and leaves nothing.
func TestImportCancelled(t *testing.T) {
	src := testutil.MustOpenStore(t, nil)
	d := seedRepo(t, src, "did:web:user.com", 200)
	b := exportCAR(t, src, d, nil)
	for _, fail := range []bool{false, true} {
		s := testutil.MustOpenStore(t, nil)
		cctx, cancel := context.WithCancel(ctx)
		_, err := s.ImportCAR(cctx, &cancelReader{r: bytes.NewReader(b), n: len(b) / 2, cancel: cancel, ctx: cctx, fail: fail}, nil)
		cancel()
		if !errors.Is(err, context.Canceled) || errors.Is(err, atlite.ErrInvalidCAR) {
			t.Errorf("cancelled ImportCAR (reader fails %v) = %v, want context.Canceled and not ErrInvalidCAR", fail, err)
		}
		if repos, _, _ := s.ListRepos(ctx, nil); len(repos) != 0 {
			t.Errorf("cancelled import left %d repos", len(repos))
		}
		if seq := lastSeq(t, s); seq != 0 {
			t.Errorf("cancelled import consumed seq %d", seq)
		}
		// The store still imports.
		if _, err := s.ImportCAR(ctx, bytes.NewReader(b), nil); err != nil {
			t.Errorf("ImportCAR after a cancelled one = %v", err)
		}
	}
}

// TestImportExpectedDID: ImportOptions.DID refuses a CAR of another repo,
// before anything is stored.
func TestImportExpectedDID(t *testing.T) {
	src := testutil.MustOpenStore(t, nil)
	d := seedRepo(t, src, "did:web:user.com", 5)
	car := exportCAR(t, src, d, nil)
	dst := testutil.MustOpenStore(t, nil)
	_, err := dst.ImportCAR(ctx, bytes.NewReader(car), &atlite.ImportOptions{DID: "did:web:other.example", VerifyKey: testutil.TestKey(t).PublicKey()})
	if !errors.Is(err, atlite.ErrInvalidCAR) || !strings.Contains(err.Error(), "not did:web:other.example") {
		t.Fatalf("import of another repo's CAR = %v, want ErrInvalidCAR", err)
	}
	if repos, _, _ := dst.ListRepos(ctx, nil); len(repos) != 0 {
		t.Errorf("refused import stored %d repos", len(repos))
	}
	res, err := dst.ImportCAR(ctx, bytes.NewReader(car), &atlite.ImportOptions{DID: d, VerifyKey: testutil.TestKey(t).PublicKey()})
	if err != nil || res.Repo.DID != d || res.Records != 5 {
		t.Fatalf("import with the right DID = %+v, %v", res, err)
	}
}
