package atlite_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/internal/testutil"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

// copyFixture copies a testdata file into a temporary directory.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMigrateV1 opens testdata/schema-v1.db, made by the version-1 code
// (commit d62d71a) with two repos sharing the handle alice.test, and checks
// the migration to version 2: the oldest repo keeps the handle, the other
// loses it with an #identity event, handles are unique from then on, and
// everything else reads as before. The file then goes on to the current
// schema (TestMigrateV2 checks the later steps).
func TestMigrateV1(t *testing.T) {
	p := copyFixture(t, "schema-v1.db")
	s, err := atlite.Open(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db, err := sql.Open("sqlite", "file:"+p+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	db.QueryRow("PRAGMA user_version").Scan(&v)
	if v != atlite.SchemaVersion {
		t.Fatalf("user_version = %d, want SchemaVersion %d", v, atlite.SchemaVersion)
	}
	want := map[string]syntax.Handle{"did:web:one.example": "alice.test", "did:web:two.example": "", "did:web:three.example": "bob.test"}
	repos, _, err := s.ListRepos(ctx, nil)
	if err != nil || len(repos) != 3 {
		t.Fatalf("ListRepos = %d repos, %v", len(repos), err)
	}
	for _, r := range repos {
		if r.Handle != want[r.DID.String()] {
			t.Errorf("%s: handle %q, want %q", r.DID, r.Handle, want[r.DID.String()])
		}
		if r.SigningKey == nil || r.Mirror {
			t.Errorf("%s: signing key %v, mirror %v", r.DID, r.SigningKey, r.Mirror)
		}
	}
	r, err := s.LoadRepo(ctx, "alice.test")
	if err != nil || r.DID.String() != "did:web:one.example" {
		t.Errorf("LoadRepo(alice.test) = %v, %v", r, err)
	}
	// v1 wrote 3 repos x (identity, account, commit, commit) = 12 events;
	// the migration adds one #identity for the repo that lost its handle.
	evs, err := s.Events(ctx, &atlite.EventsOptions{})
	if err != nil || len(evs) != 13 {
		t.Fatalf("Events = %d, %v; want 13", len(evs), err)
	}
	last := evs[12]
	if last.Seq != 13 || last.Kind != atlite.KindIdentity || last.DID.String() != "did:web:two.example" || last.Handle != "" {
		t.Errorf("migration event = %+v", last)
	}
	rec, err := s.GetRecord(ctx, mustDID(t, "did:web:two.example"), "app.bsky.feed.post", "3kaaaaaaaaa21")
	if err != nil || rec.CID.String() == "" {
		t.Errorf("GetRecord after migration = %v, %v", rec, err)
	}
	if err := s.Check(ctx); err != nil {
		t.Errorf("Check after migration: %v", err)
	}
	if err := s.UpdateHandle(ctx, mustDID(t, "did:web:two.example"), "Bob.test"); !errors.Is(err, atlite.ErrHandleTaken) {
		t.Errorf("UpdateHandle to a taken handle = %v, want ErrHandleTaken", err)
	}
	if err := s.UpdateHandle(ctx, mustDID(t, "did:web:three.example"), "bob.test"); err != nil {
		t.Errorf("UpdateHandle to its own handle = %v", err)
	}
	if _, err := s.CreateRepo(ctx, mustDID(t, "did:web:four.example"), &atlite.CreateRepoOptions{Handle: "ALICE.test"}); !errors.Is(err, atlite.ErrHandleTaken) {
		t.Errorf("CreateRepo with a taken handle = %v, want ErrHandleTaken", err)
	}
	if _, err := s.LoadRepo(ctx, "did:web:four.example"); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("refused CreateRepo left a repo: %v", err)
	}
	if seq, _ := s.LastSeq(ctx, atlite.SubscribeReposNSID); seq != 14 {
		t.Errorf("last seq %d, want 14 (13 + one #identity from the handle update)", seq)
	}
}

func TestHandlesUnique(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	if _, err := s.CreateRepo(ctx, mustDID(t, "did:web:a.example"), &atlite.CreateRepoOptions{Handle: "alice.test"}); err != nil {
		t.Fatal(err)
	}
	_, err := s.CreateRepo(ctx, mustDID(t, "did:web:b.example"), &atlite.CreateRepoOptions{Handle: "alice.test"})
	if !errors.Is(err, atlite.ErrHandleTaken) {
		t.Fatalf("second repo with alice.test = %v, want ErrHandleTaken", err)
	}
	if seq, _ := s.LastSeq(ctx, atlite.SubscribeReposNSID); seq != 3 {
		t.Errorf("refused CreateRepo used seqs: last %d, want 3", seq)
	}
	// A repo without a handle may repeat.
	for _, d := range []string{"did:web:c.example", "did:web:d.example"} {
		if _, err := s.CreateRepo(ctx, mustDID(t, d), nil); err != nil {
			t.Fatal(err)
		}
	}
	// A handle given up can be taken.
	if err := s.UpdateHandle(ctx, mustDID(t, "did:web:a.example"), ""); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateHandle(ctx, mustDID(t, "did:web:c.example"), "alice.test"); err != nil {
		t.Fatal(err)
	}
	r, err := s.LoadRepo(ctx, "@Alice.Test")
	if err != nil || r.DID.String() != "did:web:c.example" {
		t.Errorf("LoadRepo(@Alice.Test) = %v, %v", r, err)
	}
}

func TestOpenFileModes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "new.db")
	s, err := atlite.Open(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateRepo(ctx, mustDID(t, "did:web:a.example"), nil); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{p, p + "-wal", p + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s: mode %o, want 600", filepath.Base(f), m)
		}
	}
}

func TestOpenNoCreate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "typo.db")
	_, err := atlite.Open(p, &atlite.Options{NoCreate: true})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open(missing, NoCreate) = %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("refused Open created the file: %v", err)
	}
	s, err := atlite.Open(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = atlite.Open(p, &atlite.Options{NoCreate: true})
	if err != nil {
		t.Fatalf("Open(existing, NoCreate) = %v", err)
	}
	s.Close()
}

// TestOpenForeignFileUnchanged checks that a refused file is not changed:
// before the fix the DSN switched it to WAL before the check.
func TestOpenForeignFileUnchanged(t *testing.T) {
	p := filepath.Join(t.TempDir(), "other.db")
	db, err := sql.Open("sqlite", p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE t (a); INSERT INTO t VALUES (1); PRAGMA application_id = 42"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(p)
	if _, err := atlite.Open(p, nil); !errors.Is(err, atlite.ErrNotAtlite) {
		t.Fatalf("Open = %v, want ErrNotAtlite", err)
	}
	after, _ := os.ReadFile(p)
	if !bytes.Equal(before, after) {
		t.Error("the refused file's bytes changed")
	}
	db, _ = sql.Open("sqlite", p)
	defer db.Close()
	var mode string
	db.QueryRow("PRAGMA journal_mode").Scan(&mode)
	if mode != "delete" {
		t.Errorf("journal_mode = %q, want delete (untouched)", mode)
	}
	for _, f := range []string{p + "-wal", p + "-shm"} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s was created", filepath.Base(f))
		}
	}
}

// TestOpenDuringWriteLock opens a file while another connection holds its
// write lock (as a long import in another process does): Open, reads and the
// wait for the lock must not fail. Before the fix Open ran its migration
// check in BEGIN IMMEDIATE and failed with "database is locked".
func TestOpenDuringWriteLock(t *testing.T) {
	testutil.SQLiteOnly(t, "the file's write lock held by another connection")
	s, p := testutil.MustOpenFileStore(t, nil)
	d := newRepo(t, s, "did:web:user.com")
	s.Close()

	db, err := sql.Open("sqlite", "file:"+p+"?_pragma=busy_timeout(100)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")

	start := time.Now()
	s2, err := atlite.Open(p, &atlite.Options{BusyTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open while another connection writes: %v", err)
	}
	defer s2.Close()
	if r, err := s2.LoadRepo(ctx, d.AtIdentifier()); err != nil || r.DID != d {
		t.Errorf("LoadRepo while locked = %v, %v", r, err)
	}
	if _, err := s2.Events(ctx, &atlite.EventsOptions{}); err != nil {
		t.Errorf("Events while locked: %v", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Open and reads took %v", el)
	}
}

func TestSealAndRotateKeys(t *testing.T) {
	kek1 := bytes.Repeat([]byte{1}, 32)
	kek2 := bytes.Repeat([]byte{2}, 32)
	s, p := testutil.MustOpenFileStore(t, nil)
	k1, _ := keys.K256FromSeed(11)
	k2, _ := keys.K256FromSeed(12)
	rk, _ := keys.K256FromSeed(13)
	a, b := mustDID(t, "did:web:a.example"), mustDID(t, "did:web:b.example")
	if _, err := s.CreateRepo(ctx, a, &atlite.CreateRepoOptions{SigningKey: k1, RotationKey: rk}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRepo(ctx, b, &atlite.CreateRepoOptions{SigningKey: k2}); err != nil {
		t.Fatal(err)
	}
	secret, err := s.ServerSecret(ctx, "jwt", 32)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := s.KeyCounts(ctx); err != nil || c != (atlite.KeyCounts{Clear: 2}) {
		t.Errorf("KeyCounts = %+v, %v", c, err)
	}
	if _, err := s.SealKeys(ctx); !errors.Is(err, atlite.ErrNoKeyEncryptionKey) {
		t.Errorf("SealKeys without KEK = %v", err)
	}
	s.Close()

	s, err = atlite.Open(p, &atlite.Options{KeyEncryptionKey: kek1})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.SealKeys(ctx); n != 2 || err != nil {
		t.Fatalf("SealKeys = %d, %v; want 2", n, err)
	}
	if n, err := s.SealKeys(ctx); n != 0 || err != nil {
		t.Errorf("SealKeys again = %d, %v; want 0", n, err)
	}
	if c, _ := s.KeyCounts(ctx); c != (atlite.KeyCounts{Sealed: 2}) {
		t.Errorf("KeyCounts after seal = %+v", c)
	}
	s.Close()
	raw, _ := os.ReadFile(p)
	for _, k := range []keys.PrivateKey{k1, k2, rk} {
		if bytes.Contains(raw, []byte(k.Multibase())) {
			t.Error("a private key is still in the clear in the file")
		}
	}
	if bytes.Contains(raw, secret) {
		t.Error("the server secret is still in the clear in the file")
	}

	// Without the KEK, a clear key may not join the sealed ones.
	s, _ = atlite.Open(p, nil)
	if _, err := s.CreateRepo(ctx, mustDID(t, "did:web:c.example"), nil); !errors.Is(err, atlite.ErrKeyEncrypted) {
		t.Errorf("CreateRepo with clear keys into a sealed file = %v, want ErrKeyEncrypted", err)
	}
	if _, err := s.RotateKeyEncryptionKey(ctx, kek2); !errors.Is(err, atlite.ErrKeyEncrypted) {
		t.Errorf("Rotate without the current KEK = %v, want ErrKeyEncrypted", err)
	}
	s.Close()

	s, _ = atlite.Open(p, &atlite.Options{KeyEncryptionKey: kek1})
	if n, err := s.RotateKeyEncryptionKey(ctx, kek2); n != 2 || err != nil {
		t.Fatalf("RotateKeyEncryptionKey = %d, %v", n, err)
	}
	// The same store goes on signing with the new key.
	if got, err := s.RotationKey(ctx, a); err != nil || got.Multibase() != rk.Multibase() {
		t.Errorf("RotationKey after rotate = %v, %v", got, err)
	}
	s.Close()
	s, _ = atlite.Open(p, &atlite.Options{KeyEncryptionKey: kek1})
	if _, err := s.RotationKey(ctx, a); !errors.Is(err, atlite.ErrInvalidKey) {
		t.Errorf("old KEK after rotate = %v, want ErrInvalidKey", err)
	}
	s.Close()
	s, _ = atlite.Open(p, &atlite.Options{KeyEncryptionKey: kek2})
	defer s.Close()
	if got, err := s.ServerSecret(ctx, "jwt", 32); err != nil || !bytes.Equal(got, secret) {
		t.Errorf("server secret after seal and rotate = %x, %v; want %x", got, err, secret)
	}
	for d, k := range map[string]keys.PrivateKey{a.String(): k1, b.String(): k2} {
		r, err := s.LoadRepo(ctx, syntax.AtIdentifier(d))
		if err != nil || r.SigningKey.DIDKey() != k.PublicKey().DIDKey() {
			t.Errorf("%s after rotate: %v, %v", d, r, err)
		}
	}
	if _, err := s.RotationKey(ctx, b); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("RotationKey of a repo without one = %v, want ErrNotFound", err)
	}
}

func TestPLCOperationKept(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	op := []byte{0xa1, 0x61, 0x61, 0x01}
	d := mustDID(t, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")
	if _, err := s.CreateRepo(ctx, d, &atlite.CreateRepoOptions{PLCOperation: op}); err != nil {
		t.Fatal(err)
	}
	got, err := s.PLCOperation(ctx, d)
	if err != nil || !bytes.Equal(got, op) {
		t.Errorf("PLCOperation = %x, %v; want %x", got, err, op)
	}
	other := newRepo(t, s, "did:web:user.com")
	if _, err := s.PLCOperation(ctx, other); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("PLCOperation of a repo without one = %v", err)
	}
	if _, err := s.PLCOperation(ctx, mustDID(t, "did:web:nobody.example")); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("PLCOperation of no repo = %v", err)
	}
}

func TestEnsureRepo(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	d := mustDID(t, "did:web:ensure.example")
	r1, created, err := s.EnsureRepo(ctx, d, &atlite.CreateRepoOptions{Handle: "ensure.example"})
	if err != nil || !created || r1.Handle != "ensure.example" {
		t.Fatalf("EnsureRepo (new) = %+v, %v, %v", r1, created, err)
	}
	r2, created, err := s.EnsureRepo(ctx, d, &atlite.CreateRepoOptions{Handle: "other.example"})
	if err != nil || created || r2.Head != r1.Head || r2.Handle != "ensure.example" {
		t.Fatalf("EnsureRepo (existing) = %+v, %v, %v", r2, created, err)
	}
	if seq, _ := s.LastSeq(ctx, atlite.SubscribeReposNSID); seq != 3 {
		t.Errorf("last seq %d, want 3: the second EnsureRepo wrote", seq)
	}
	// Concurrent calls for a new DID: one creates, all succeed.
	d2 := mustDID(t, "did:web:race.example")
	errs := make(chan error, 8)
	createdN := make(chan bool, 8)
	for i := 0; i < 8; i++ {
		go func() {
			_, c, err := s.EnsureRepo(ctx, d2, nil)
			errs <- err
			createdN <- c
		}()
	}
	n := 0
	for i := 0; i < 8; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
		if <-createdN {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d calls created the repo, want 1", n)
	}
}

// TestMigrateV3 opens testdata/schema-v3.db, made by the version-3 code
// (commit c2848ae): two repos, 43 records, repeated records, an update and
// a delete, and a record (in both repos) whose block key another CID holds,
// so that its block is in blocks_overflow. The migration to version 4 keeps
// records.cid for that record only; everything reads as before, down to
// the bytes of each repo's CAR, and new commits keep the rule. Schema 5
// leaves the stored event bodies as they are and writes compact ones.
func TestMigrateV3(t *testing.T) {
	testutil.SQLiteOnly(t, "a version-3 file migrated by Open")
	p := copyFixture(t, "schema-v3.db")
	count := func(q string) int {
		t.Helper()
		db, err := sql.Open("sqlite", "file:"+p+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	const explicit = `SELECT count(*) FROM records WHERE cid IS NOT NULL`
	if v, n := count(`PRAGMA user_version`), count(explicit); v != 3 || n != 43 {
		t.Fatalf("fixture: user_version %d, %d records with a cid; want 3, 43", v, n)
	}
	s, err := atlite.Open(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v := count(`PRAGMA user_version`); v != atlite.SchemaVersion || atlite.SchemaVersion != 6 {
		t.Fatalf("user_version = %d, want SchemaVersion = 6", v)
	}
	// Schema 6: records.b names the blocks row at k of every record, the
	// record's block for all but the two in blocks_overflow.
	const named = `SELECT count(*) FROM records r JOIN blocks x ON x.id = r.b AND x.k = r.k WHERE r.cid IS NULL`
	const unnamed = `SELECT count(*) FROM records WHERE b IS NULL`
	if n, none := count(named), count(unnamed); n != 41 || none != 0 {
		t.Errorf("after migration: %d records name their block row, %d none; want 41 and 0", n, none)
	}
	collide, err := cid.Decode("bafyreiclkonf4d2qsgrhp3bfpd3q7pjipzkk5ifzn2x6hvkiobb5o6vrv4")
	if err != nil {
		t.Fatal(err)
	}
	if n, all := count(explicit), count(`SELECT count(*) FROM records`); n != 2 || all != 43 {
		t.Errorf("after migration: %d of %d records with a cid, want 2 of 43", n, all)
	}
	if n := count(`SELECT count(*) FROM records r JOIN blocks_overflow o ON o.cid = r.cid`); n != 2 {
		t.Errorf("%d records name an overflowed block, want 2", n)
	}
	// The CARs the version-3 code exported from this file, byte for byte.
	for did, want := range map[string]string{
		"did:web:one.example": "b77659c73bf812390528de97cb3f4d943ede031f6b496620f388669232211b80",
		"did:web:two.example": "fd0e7ff2592a92d32343974b8f82221e4cebcbea40ce2c1bd5b9ffad079dabf8",
	} {
		var buf bytes.Buffer
		if _, err := s.ExportCAR(ctx, mustDID(t, did), &buf, nil); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%x", sha256.Sum256(buf.Bytes())); got != want {
			t.Errorf("%s: CAR sha256 %s, want %s", did, got, want)
		}
	}
	one := mustDID(t, "did:web:one.example")
	same := cborCID(t, map[string]any{"$type": "app.bsky.feed.post", "text": "same", "createdAt": "2026-12-02T12:00:00Z"})
	for rkey, want := range map[string]cid.Cid{"3kcollide0000": collide, "3k00000000004": same, "3k00000000008": same} {
		rec, err := s.GetRecord(ctx, one, "app.bsky.feed.post", syntax.RecordKey(rkey))
		if err != nil || rec.CID != want || datamodel.CBORCID(rec.Data) != want {
			t.Errorf("GetRecord(%s) = %v, %v; want %s", rkey, rec.CID, err, want)
		}
	}
	if _, err := s.GetRecord(ctx, one, "app.bsky.feed.post", "3k00000000002"); !errors.Is(err, atlite.ErrRecordNotFound) {
		t.Errorf("GetRecord(deleted) = %v, want ErrRecordNotFound", err)
	}
	recs, _, err := s.ListRecords(ctx, one, "app.bsky.feed.post", &atlite.ListRecordsOptions{Limit: 100})
	if err != nil || len(recs) != 40 {
		t.Fatalf("ListRecords = %d, %v; want 40", len(recs), err)
	}
	for _, r := range recs {
		if datamodel.CBORCID(r.Data) != r.CID {
			t.Errorf("ListRecords: %s holds %s, data hash %s", r.RKey, r.CID, datamodel.CBORCID(r.Data))
		}
	}
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check after migration: %v", err)
	}
	// New records: a cid only for one whose block is in blocks_overflow.
	if _, err := s.Commit(ctx, one, []commit.Write{
		mustWrite(t, commit.Create, "app.bsky.feed.post", "3knew00000000", map[string]any{"text": "new", "createdAt": "2026-12-02T12:00:00Z"}),
		mustWrite(t, commit.Create, "app.bsky.feed.post", "3kcollide0001", map[string]any{"text": "collide", "createdAt": "2026-12-02T12:00:00Z"}),
	}, nil); err != nil {
		t.Fatal(err)
	}
	if n := count(explicit); n != 3 {
		t.Errorf("after a commit: %d records with a cid, want 3", n)
	}
	if n, none := count(named), count(unnamed); n != 42 || none != 0 {
		t.Errorf("after a commit: %d records name their block row, %d none; want 42 and 0", n, none)
	}
	if err := s.Check(ctx); err != nil {
		t.Errorf("Check after a commit: %v", err)
	}
	// Schema 5: the fixture's #commit events keep their DAG-CBOR bodies,
	// the new one is compact, and all of them read.
	const bodies = `SELECT count(*) FROM events WHERE kind = 'commit' AND substr(body, 1, 1) = `
	if cbor, compact := count(bodies+`x'a5'`), count(bodies+`x'02'`); cbor != 5 || compact != 1 {
		t.Errorf("#commit bodies: %d DAG-CBOR, %d compact; want 5 and 1", cbor, compact)
	}
	evs, err := s.Events(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	commits := 0
	for _, e := range evs {
		if e.Kind != atlite.KindCommit {
			continue
		}
		commits++
		if !e.Commit.Defined() || len(e.Blocks) == 0 || (e.Since != "" && len(e.Ops) == 0) {
			t.Errorf("event %d: commit %v, %d blocks, %d ops, since %q", e.Seq, e.Commit, len(e.Blocks), len(e.Ops), e.Since)
		}
		var car bytes.Buffer
		if err := s.WriteEventCAR(ctx, e, &car); err != nil {
			t.Errorf("event %d: %v", e.Seq, err)
		}
	}
	if last := evs[len(evs)-1]; commits != 6 || last.Kind != atlite.KindCommit || len(last.Ops) != 2 || last.Ops[1].Path != "app.bsky.feed.post/3kcollide0001" {
		t.Errorf("%d #commit events, the last %+v", commits, last)
	}
}
