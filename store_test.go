package atlite_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	_ "modernc.org/sqlite"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/testutil"
	"github.com/atlite-dev/atlite/syntax"
)

var ctx = context.Background()

func mustDID(t testing.TB, s string) syntax.DID {
	d, err := syntax.ParseDID(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestOpenRefusesForeignFiles(t *testing.T) {
	dir := t.TempDir()

	t.Run("not sqlite", func(t *testing.T) {
		p := dir + "/junk.db"
		os.WriteFile(p, []byte(strings.Repeat("this is not a database ", 500)), 0o600)
		_, err := atlite.Open(p, nil)
		if !errors.Is(err, atlite.ErrNotAtlite) {
			t.Errorf("Open(junk) = %v, want ErrNotAtlite", err)
		}
	})
	t.Run("other application", func(t *testing.T) {
		p := dir + "/other.db"
		db, _ := sql.Open("sqlite", p)
		if _, err := db.Exec("CREATE TABLE t (a); PRAGMA application_id = 42"); err != nil {
			t.Fatal(err)
		}
		db.Close()
		_, err := atlite.Open(p, nil)
		if !errors.Is(err, atlite.ErrNotAtlite) {
			t.Errorf("Open(other app) = %v, want ErrNotAtlite", err)
		}
	})
	t.Run("newer schema", func(t *testing.T) {
		p := dir + "/newer.db"
		s, err := atlite.Open(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		db, _ := sql.Open("sqlite", p)
		if _, err := db.Exec("PRAGMA user_version = 99"); err != nil {
			t.Fatal(err)
		}
		db.Close()
		_, err = atlite.Open(p, nil)
		if !errors.Is(err, atlite.ErrSchemaTooNew) {
			t.Errorf("Open(newer) = %v, want ErrSchemaTooNew", err)
		}
	})
	t.Run("reopen", func(t *testing.T) {
		p := dir + "/ok.db"
		for i := 0; i < 3; i++ {
			s, err := atlite.Open(p, nil)
			if err != nil {
				t.Fatalf("Open #%d = %v", i, err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close #%d = %v", i, err)
			}
		}
		db, _ := sql.Open("sqlite", p)
		defer db.Close()
		var v, app int64
		db.QueryRow("PRAGMA user_version").Scan(&v)
		db.QueryRow("PRAGMA application_id").Scan(&app)
		if v != atlite.SchemaVersion || app != atlite.ApplicationID {
			t.Errorf("user_version, application_id = %d, %#x; want %d, %#x", v, app, atlite.SchemaVersion, atlite.ApplicationID)
		}
	})
	t.Run("bad kek", func(t *testing.T) {
		_, err := atlite.Open(":memory:", &atlite.Options{KeyEncryptionKey: []byte("short")})
		if !errors.Is(err, atlite.ErrInvalidKey) {
			t.Errorf("Open(short kek) = %v, want ErrInvalidKey", err)
		}
	})
}

func TestCloseIdempotent(t *testing.T) {
	s, err := atlite.Open(":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := s.LoadRepo(ctx, "did:web:a.com"); !errors.Is(err, atlite.ErrClosed) {
		t.Errorf("LoadRepo after Close = %v, want ErrClosed", err)
	}
}

func TestSequences(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	last, err := s.LastSeq(ctx, "x.y.z")
	if err != nil || last != 0 {
		t.Fatalf("LastSeq(new) = %d, %v; want 0, nil", last, err)
	}
	for want := int64(1); want <= 3; want++ {
		got, err := s.AllocateSeq(ctx, "x.y.z")
		if err != nil || got != want {
			t.Fatalf("AllocateSeq = %d, %v; want %d", got, err, want)
		}
	}
	if last, _ := s.LastSeq(ctx, "x.y.z"); last != 3 {
		t.Errorf("LastSeq = %d, want 3", last)
	}
	if got, _ := s.AllocateSeq(ctx, "other"); got != 1 {
		t.Errorf("AllocateSeq(other) = %d, want 1", got)
	}
	// The event stream's seqs belong to its events.
	if _, err := s.AllocateSeq(ctx, atlite.SubscribeReposNSID); err == nil {
		t.Error("AllocateSeq(subscribeRepos) = nil error, want a refusal")
	}
}

func TestCreateRepoEvents(t *testing.T) {
	s := testutil.MustOpenStore(t, &atlite.Options{Now: testutil.FixedClock()})
	d := mustDID(t, "did:web:user.com")
	sub, err := s.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.CreateRepo(ctx, d, &atlite.CreateRepoOptions{Handle: "user.com", SigningKey: testutil.TestKey(t)})
	if err != nil {
		t.Fatalf("CreateRepo = %v", err)
	}
	if got, want := r.Data.String(), "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"; got != want {
		t.Errorf("empty repo data = %s, want %s", got, want)
	}
	if got, want := r.SigningKey.DIDKey(), testutil.TestKey(t).PublicKey().DIDKey(); got != want {
		t.Errorf("signing key = %s, want %s", got, want)
	}
	evs, err := s.Events(ctx, &atlite.EventsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kinds := []atlite.EventKind{atlite.KindIdentity, atlite.KindAccount, atlite.KindCommit}
	if len(evs) != len(kinds) {
		t.Fatalf("got %d events, want %d", len(evs), len(kinds))
	}
	for i, e := range evs {
		if e.Seq != int64(i+1) || e.Kind != kinds[i] || e.DID != d {
			t.Errorf("event %d = seq %d %s %s, want seq %d %s %s", i, e.Seq, e.Kind, e.DID, i+1, kinds[i], d)
		}
		select {
		case got := <-sub.Events():
			if got.Seq != e.Seq {
				t.Errorf("subscriber got seq %d, want %d", got.Seq, e.Seq)
			}
		default:
			t.Errorf("subscriber missed seq %d", e.Seq)
		}
	}
	if evs[0].Handle != "user.com" || !evs[1].Active || evs[2].Commit != r.Head || evs[2].Rev != r.Rev {
		t.Errorf("event fields: %+v", evs)
	}
	if len(evs[2].Blocks) != 2 || len(evs[2].Ops) != 0 || evs[2].Since != "" || evs[2].PrevData.Defined() {
		t.Errorf("first commit event = %+v", evs[2])
	}
	if _, err := s.CreateRepo(ctx, d, nil); !errors.Is(err, atlite.ErrExists) {
		t.Errorf("CreateRepo(existing) = %v, want ErrExists", err)
	}
	if last, _ := s.LastSeq(ctx, atlite.SubscribeReposNSID); last != 3 {
		t.Errorf("LastSeq after failed create = %d, want 3", last)
	}
	byHandle, err := s.LoadRepo(ctx, "user.com")
	if err != nil || byHandle.DID != d || byHandle.Head != r.Head {
		t.Errorf("LoadRepo(handle) = %+v, %v", byHandle, err)
	}
}

func TestRepoStatus(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	d := mustDID(t, "did:web:alice.com")
	if _, err := s.CreateRepo(ctx, d, nil); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name   string
		do     func(context.Context, syntax.DID) error
		status string
		active bool
	}{
		{"deactivate", s.Deactivate, "deactivated", false},
		{"activate", s.Activate, "", true},
		{"tombstone", s.Tombstone, "deleted", false},
	}
	for _, st := range steps {
		if err := st.do(ctx, d); err != nil {
			t.Fatalf("%s = %v", st.name, err)
		}
		evs, _ := s.Events(ctx, &atlite.EventsOptions{DID: d})
		last := evs[len(evs)-1]
		if last.Kind != atlite.KindAccount || last.Active != st.active || last.Status != st.status {
			t.Errorf("after %s: event %+v, want account active=%v status=%q", st.name, last, st.active, st.status)
		}
	}
	var inactive *atlite.InactiveRepoError
	if err := s.Activate(ctx, d); !errors.As(err, &inactive) || inactive.Status != "tombstoned" {
		t.Errorf("Activate(tombstoned) = %v, want InactiveRepoError tombstoned", err)
	}
	if err := s.Deactivate(ctx, mustDID(t, "did:web:nobody.com")); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("Deactivate(missing) = %v, want ErrNotFound", err)
	}
	r, _ := s.LoadRepo(ctx, d.AtIdentifier())
	if r.Active() || r.Status != "tombstoned" {
		t.Errorf("repo status = %q, want tombstoned", r.Status)
	}
}

func TestListRepos(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	for _, d := range []string{"did:web:alice.com", "did:plc:bob"} {
		if _, err := s.CreateRepo(ctx, mustDID(t, d), nil); err != nil {
			t.Fatal(err)
		}
	}
	s.Tombstone(ctx, mustDID(t, "did:web:alice.com"))
	tests := []struct {
		opts   *atlite.ListReposOptions
		want   []string
		cursor string
	}{
		{nil, []string{"did:plc:bob", "did:web:alice.com"}, ""},
		{&atlite.ListReposOptions{Cursor: "did:web:a"}, []string{"did:web:alice.com"}, ""},
		{&atlite.ListReposOptions{Cursor: "did:plc:bob"}, []string{"did:web:alice.com"}, ""},
		{&atlite.ListReposOptions{Limit: 1}, []string{"did:plc:bob"}, "did:plc:bob"},
		{&atlite.ListReposOptions{Limit: 2}, []string{"did:plc:bob", "did:web:alice.com"}, ""},
		{&atlite.ListReposOptions{Cursor: "did:plc:bob", Limit: 1}, []string{"did:web:alice.com"}, ""},
	}
	for _, tt := range tests {
		repos, cursor, err := s.ListRepos(ctx, tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range repos {
			got = append(got, r.DID.String())
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") || cursor != tt.cursor {
			t.Errorf("ListRepos(%+v) = %v, %q; want %v, %q", tt.opts, got, cursor, tt.want, tt.cursor)
		}
	}
}

func TestEncryptedKeys(t *testing.T) {
	kek := []byte("0123456789abcdef0123456789abcdef")
	s, path := testutil.MustOpenFileStore(t, &atlite.Options{KeyEncryptionKey: kek})
	d := mustDID(t, "did:web:enc.com")
	if _, err := s.CreateRepo(ctx, d, &atlite.CreateRepoOptions{SigningKey: testutil.TestKey(t)}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// The key is not in the file in the clear.
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), testutil.TestKey(t).Multibase()) {
		t.Fatal("private key found in the clear in the database file")
	}
	noKEK, err := atlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer noKEK.Close()
	r, err := noKEK.LoadRepo(ctx, d.AtIdentifier())
	// The public key is stored in the clear (signing_pub): it is public.
	if err != nil || r.SigningKey == nil || r.SigningKey.DIDKey() != testutil.TestKey(t).PublicKey().DIDKey() || r.Mirror {
		t.Fatalf("LoadRepo without KEK = %+v, %v; want the repo with its public signing key", r, err)
	}
	w := mustWrite(t, commit.Create, "com.example.coll", "x", map[string]any{"a": 1})
	if _, err := noKEK.Commit(ctx, d, []commit.Write{w}, nil); !errors.Is(err, atlite.ErrKeyEncrypted) {
		t.Errorf("Commit without KEK = %v, want ErrKeyEncrypted", err)
	}
	if seq, _ := noKEK.LastSeq(ctx, atlite.SubscribeReposNSID); seq != 3 {
		t.Errorf("refused commit consumed a seq: last %d, want 3", seq)
	}
	wrong, err := atlite.Open(path, &atlite.Options{KeyEncryptionKey: []byte("fedcba9876543210fedcba9876543210")})
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	if _, err := wrong.LoadRepo(ctx, d.AtIdentifier()); !errors.Is(err, atlite.ErrInvalidKey) {
		t.Errorf("LoadRepo with wrong KEK = %v, want ErrInvalidKey", err)
	}
	if _, err := wrong.Commit(ctx, d, []commit.Write{w}, nil); !errors.Is(err, atlite.ErrInvalidKey) {
		t.Errorf("Commit with wrong KEK = %v, want ErrInvalidKey", err)
	}
	right, err := atlite.Open(path, &atlite.Options{KeyEncryptionKey: kek})
	if err != nil {
		t.Fatal(err)
	}
	defer right.Close()
	r, err = right.LoadRepo(ctx, d.AtIdentifier())
	if err != nil || r.SigningKey.DIDKey() != testutil.TestKey(t).PublicKey().DIDKey() {
		t.Errorf("LoadRepo with KEK = %+v, %v", r, err)
	}
	res, err := right.Commit(ctx, d, []commit.Write{w}, nil)
	if err != nil {
		t.Fatalf("Commit with KEK = %v", err)
	}
	if err := res.Commit.Verify(testutil.TestKey(t).PublicKey()); err != nil {
		t.Errorf("commit signed with the decrypted key: %v", err)
	}
}

// TestBlockKeyCollision plants a row whose 64-bit key equals that of a
// record about to be committed but holds another CID, and checks that the
// record still round-trips (through blocks_overflow).
func TestBlockKeyCollision(t *testing.T) {
	s, path := testutil.MustOpenFileStore(t, nil)
	did := newRepo(t, s, "did:web:user.com")
	fooBar := cborCID(t, map[string]any{"$type": "com.example.coll", "foo": "bar"}) // mustWrite fills in $type
	k := int64(binary.BigEndian.Uint64(fooBar.Bytes()[4:12]))
	db, err := testutil.OpenRawDB(path)
	if err != nil {
		t.Fatal(err)
	}
	fake := cborCID(t, "some other block")
	if _, err := db.Exec(`INSERT INTO blocks (k, cid, data) VALUES (?, ?, ?)`, k, fake.Bytes(), []byte("other")); err != nil {
		t.Fatal(err)
	}
	db.Close()

	w := mustWrite(t, commit.Create, "com.example.coll", "x", map[string]any{"foo": "bar"})
	if _, err := s.Commit(ctx, did, []commit.Write{w}, nil); err != nil {
		t.Fatal(err)
	}
	rec, err := s.GetRecord(ctx, did, "com.example.coll", "x")
	if err != nil || rec.CID != fooBar || string(rec.Data) != "\xa2cfoocbare$typepcom.example.coll" {
		t.Fatalf("GetRecord = %+v, %v", rec, err)
	}
	if b, err := s.GetBlock(ctx, fooBar); err != nil || string(b) != "\xa2cfoocbare$typepcom.example.coll" {
		t.Errorf("GetBlock(record) = %q, %v", b, err)
	}
	// GetBlocks reads in one query, then finds overflowed blocks one by one;
	// it keeps the order asked and lists what is missing.
	absent := cborCID(t, "absent")
	r0, _ := s.LoadRepo(ctx, did.AtIdentifier())
	found, missing, err := s.GetBlocks(ctx, []cid.Cid{fooBar, absent, r0.Head})
	if err != nil || len(found) != 2 || found[0].CID != fooBar || string(found[0].Data) != "\xa2cfoocbare$typepcom.example.coll" ||
		found[1].CID != r0.Head || len(missing) != 1 || missing[0] != absent {
		t.Errorf("GetBlocks = %v, missing %v, %v", found, missing, err)
	}
	// A block asked twice does not hide an overflowed one asked with it.
	found, missing, err = s.GetBlocks(ctx, []cid.Cid{r0.Head, r0.Head, fooBar})
	if err != nil || len(found) != 3 || found[0].CID != r0.Head || found[1].CID != r0.Head || found[2].CID != fooBar ||
		string(found[2].Data) != "\xa2cfoocbare$typepcom.example.coll" || len(missing) != 0 {
		t.Errorf("GetBlocks(head twice, overflowed) = %v, missing %v, %v", found, missing, err)
	}
	recs, _, err := s.ListRecords(ctx, did, "com.example.coll", &atlite.ListRecordsOptions{})
	if err != nil || len(recs) != 1 || string(recs[0].Data) != "\xa2cfoocbare$typepcom.example.coll" {
		t.Errorf("ListRecords = %+v, %v", recs, err)
	}
	// Storing it again is a no-op.
	if _, err := s.Commit(ctx, did, []commit.Write{mustWrite(t, commit.Create, "com.example.coll", "y", map[string]any{"foo": "bar"})}, nil); err != nil {
		t.Fatal(err)
	}
	db, _ = testutil.OpenRawDB(path)
	defer db.Close()
	var n int
	db.QueryRow(`SELECT count(*) FROM blocks_overflow`).Scan(&n)
	if n != 1 {
		t.Errorf("blocks_overflow has %d rows, want 1", n)
	}
	// The record index keeps the CID of both records (their block is not
	// the blocks row at their key), and of no other.
	var named, all int
	db.QueryRow(`SELECT count(*), count(cid) FROM records`).Scan(&all, &named)
	if all != 2 || named != 2 {
		t.Errorf("records: %d rows, %d with a cid; want 2, 2", all, named)
	}
	if _, err := s.Commit(ctx, did, []commit.Write{mustWrite(t, commit.Create, "com.example.coll", "z", map[string]any{"foo": "baz"})}, nil); err != nil {
		t.Fatal(err)
	}
	db.QueryRow(`SELECT count(*), count(cid) FROM records`).Scan(&all, &named)
	if all != 3 || named != 2 {
		t.Errorf("records after another: %d rows, %d with a cid; want 3, 2", all, named)
	}
	if err := s.Check(ctx); err != nil {
		t.Errorf("Check = %v", err)
	}
}

func TestUpdateHandleAndBlocksBySeq(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	did := newRepo(t, s, "did:web:user.com")
	if err := s.UpdateHandle(ctx, did, "New.Example.COM"); err != nil {
		t.Fatal(err)
	}
	r, err := s.LoadRepo(ctx, "new.example.com")
	if err != nil || r.DID != did || r.Handle != "new.example.com" {
		t.Errorf("LoadRepo(new handle) = %+v, %v", r, err)
	}
	evs, _ := s.Events(ctx, &atlite.EventsOptions{After: 3})
	if len(evs) != 1 || evs[0].Kind != atlite.KindIdentity || evs[0].Handle != "new.example.com" || evs[0].Seq != 4 {
		t.Errorf("events after UpdateHandle = %+v", evs)
	}
	if err := s.UpdateHandle(ctx, did, "not a handle"); err == nil {
		t.Error("UpdateHandle(invalid) = nil")
	}
	// The first commit event (seq 3) carries the commit and the empty root.
	blocks, err := s.BlocksBySeq(ctx, 3)
	if err != nil || len(blocks) != 2 || blocks[0].CID != r.Head {
		t.Errorf("BlocksBySeq(3) = %d blocks, %v", len(blocks), err)
	}
	if _, err := s.BlocksBySeq(ctx, 99); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("BlocksBySeq(99) = %v, want ErrNotFound", err)
	}
}

// TestCheckFindsDamage damages a file in several ways, each on a fresh
// copy, and checks that Check reports every one: the tests that rely on
// Check passing (the crash test among them) depend on it failing here.
func TestCheckFindsDamage(t *testing.T) {
	damage := []struct {
		name, sql string
	}{
		{"record missing from the index", `DELETE FROM records WHERE rkey = '3k00000000005'`},
		// (records.cid is NULL for a block at records.k: the key says which.)
		{"index holds another CID", `UPDATE records SET cid = (SELECT cid FROM records WHERE rkey = '3k00000000001'), k = (SELECT k FROM records WHERE rkey = '3k00000000001') WHERE rkey = '3k00000000002'`},
		{"index names another block row", `UPDATE records SET b = (SELECT b FROM records WHERE rkey = '3k00000000001') WHERE rkey = '3k00000000002'`},
		{"extra index row", `INSERT INTO records (repo, collection, rkey, cid, k) SELECT repo, collection, 'zzz', cid, k FROM records LIMIT 1`},
		{"gap in the event seqs", `DELETE FROM events WHERE seq = 4`},
		{"first event missing (not pruned)", `DELETE FROM events WHERE seq = 1`},
		{"head commit without its event", `DELETE FROM events WHERE seq = (SELECT max(seq) FROM events)`},
		{"missing MST node", `DELETE FROM blocks WHERE cid = (SELECT data FROM repos)`},
		{"missing record block", `DELETE FROM blocks WHERE k = (SELECT k FROM records WHERE rkey = '3k00000000007')`},
	}
	for _, d := range damage {
		t.Run(d.name, func(t *testing.T) {
			s, path := testutil.MustOpenFileStore(t, nil)
			seedRepo(t, s, "did:web:user.com", 20)
			if err := s.Check(ctx); err != nil {
				t.Fatalf("Check before damage = %v", err)
			}
			s.Close()
			db, err := testutil.OpenRawDB(path)
			if err != nil {
				t.Fatal(err)
			}
			res, err := db.Exec(d.sql)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				t.Fatalf("damage touched %d rows, want 1", n)
			}
			db.Close()
			s2, err := atlite.Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			if err := s2.Check(ctx); !errors.Is(err, atlite.ErrCorrupt) {
				t.Errorf("Check = %v, want the damage reported (ErrCorrupt)", err)
			}
		})
	}
}
