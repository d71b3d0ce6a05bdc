package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // registers "sqlite", to run portable statements on both

	"github.com/atlite-dev/atlite/internal/postgres"
	"github.com/atlite-dev/atlite/internal/storage"
	"github.com/atlite-dev/atlite/internal/testutil"
)

var ctx = context.Background()

func TestMain(m *testing.M) { testutil.Main(m) }

// connect opens a pool to dsn, closed at the end of the test.
func connect(tb testing.TB, dsn string, maxConns int) *sqlx.DB {
	tb.Helper()
	db, err := postgres.Connect(ctx, dsn, maxConns)
	if err != nil {
		tb.Fatalf("Connect(%s) = %v", dsn, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// migrated returns a pool to a fresh migrated database, and its URL.
func migrated(tb testing.TB) (*sqlx.DB, string) {
	tb.Helper()
	dsn := testutil.PostgresURL(tb)
	db := connect(tb, dsn, 4)
	if err := postgres.Migrate(ctx, db); err != nil {
		tb.Fatalf("Migrate = %v", err)
	}
	return db, dsn
}

func mustExec(tb testing.TB, db sqlx.ExecerContext, q string, args ...any) {
	tb.Helper()
	if _, err := db.ExecContext(ctx, q, args...); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
}

func TestConnectBadURL(t *testing.T) {
	tests := []struct {
		name, dsn string
	}{
		{"other scheme", "mysql://alice:s3cret@db.example/atlite"},
		{"key-value DSN", "host=db.example user=alice password=s3cret"},
		{"bad port", "postgres://alice:s3cret@db.example:port/atlite"},
		{"bad sslmode", "postgres://alice:s3cret@db.example/atlite?sslmode=sometimes"},
		{"bad escape", "postgres://alice:s3cret@db.example/%zz"},
		{"empty", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := postgres.Connect(ctx, tt.dsn, 1)
			if !errors.Is(err, postgres.ErrBadURL) {
				if db != nil {
					db.Close()
				}
				t.Fatalf("Connect(%q) = %v, want ErrBadURL", tt.dsn, err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("Connect(%q) error %q shows the password", tt.dsn, err)
			}
			_, err = postgres.NewListener(ctx, tt.dsn, "events")
			if !errors.Is(err, postgres.ErrBadURL) || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("NewListener(%q) = %v, want ErrBadURL without the password", tt.dsn, err)
			}
		})
	}
}

func TestConnectUnreachable(t *testing.T) {
	const dsn = "postgres://alice:s3cret@127.0.0.1:1/atlite?sslmode=disable&connect_timeout=5"
	db, err := postgres.Connect(ctx, dsn, 1)
	if err == nil {
		db.Close()
		t.Fatal("Connect to port 1 = nil error")
	}
	if errors.Is(err, postgres.ErrBadURL) || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Connect to port 1 = %v, want a connection error without the password", err)
	}
	if !strings.Contains(err.Error(), "alice:xxxxx@127.0.0.1:1") {
		t.Errorf("Connect to port 1 = %v, want the redacted URL named", err)
	}
}

// tables lists the tables of the public schema.
func tables(tb testing.TB, db *sqlx.DB) []string {
	tb.Helper()
	var names []string
	if err := db.SelectContext(ctx, &names, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename`); err != nil {
		tb.Fatal(err)
	}
	return names
}

var wantTables = []string{"accounts", "app_passwords", "atlite_meta", "blob_chunks", "blob_refs", "blob_uploads",
	"blobs", "blocks", "blocks_overflow", "events", "records", "remote_blob_repos", "remote_blobs", "repos",
	"seq_counter", "sequences", "server_secrets", "sessions"}

func checkMeta(tb testing.TB, db *sqlx.DB) {
	tb.Helper()
	var appID int64
	var version, rows int
	if err := db.QueryRowxContext(ctx, `SELECT min(application_id), min(schema_version), count(*) FROM atlite_meta`).Scan(&appID, &version, &rows); err != nil {
		tb.Fatal(err)
	}
	if appID != postgres.ApplicationID || version != postgres.SchemaVersion || rows != 1 {
		tb.Errorf("atlite_meta = (%#x, %d) in %d rows, want (%#x, %d) in 1", appID, version, rows, postgres.ApplicationID, postgres.SchemaVersion)
	}
	v, err := postgres.SchemaVersionOf(ctx, db)
	if err != nil || v != postgres.SchemaVersion {
		tb.Errorf("SchemaVersionOf = %d, %v, want %d", v, err, postgres.SchemaVersion)
	}
}

func TestMigrateFresh(t *testing.T) {
	db := connect(t, testutil.PostgresURL(t), 2)
	if v, err := postgres.SchemaVersionOf(ctx, db); v != 0 || err != nil {
		t.Errorf("SchemaVersionOf(empty) = %d, %v, want 0, nil", v, err)
	}
	if err := postgres.Migrate(ctx, db); err != nil {
		t.Fatalf("Migrate = %v", err)
	}
	if got := tables(t, db); strings.Join(got, " ") != strings.Join(wantTables, " ") {
		t.Errorf("tables = %v, want %v", got, wantTables)
	}
	checkMeta(t, db)
	var last int64
	if err := db.QueryRowxContext(ctx, postgres.LastSeqSQL).Scan(&last); err != nil || last != 0 {
		t.Errorf("last seq = %d, %v, want 0", last, err)
	}
}

func TestMigrateTwice(t *testing.T) {
	db, _ := migrated(t)
	mustExec(t, db, `INSERT INTO repos (did, head, data, rev, signing_key, created, updated) VALUES ('did:web:a.example', '\x01', '\x02', 'rev', '\x03', 1, 2)`)
	if err := postgres.Migrate(ctx, db); err != nil {
		t.Fatalf("second Migrate = %v", err)
	}
	checkMeta(t, db)
	var n int
	if err := db.QueryRowxContext(ctx, `SELECT count(*) FROM repos`).Scan(&n); err != nil || n != 1 {
		t.Errorf("repos after the second Migrate = %d, %v, want 1", n, err)
	}
}

func TestMigrateRefuses(t *testing.T) {
	tests := []struct {
		name    string
		migrate bool   // migrate first
		setup   string // then run this
		want    error
	}{
		{"foreign table", false, `CREATE TABLE users (id int PRIMARY KEY, name text)`, postgres.ErrNotAtlite},
		{"foreign view", false, `CREATE VIEW answer AS SELECT 42 AS n`, postgres.ErrNotAtlite},
		{"foreign sequence", false, `CREATE SEQUENCE ids`, postgres.ErrNotAtlite},
		{"other application", true, `UPDATE atlite_meta SET application_id = 1`, postgres.ErrNotAtlite},
		{"no mark row", true, `DELETE FROM atlite_meta`, postgres.ErrNotAtlite},
		{"newer version", true, fmt.Sprintf(`UPDATE atlite_meta SET schema_version = %d`, postgres.SchemaVersion+1), postgres.ErrSchemaTooNew},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := connect(t, testutil.PostgresURL(t), 2)
			if tt.migrate {
				if err := postgres.Migrate(ctx, db); err != nil {
					t.Fatal(err)
				}
			}
			mustExec(t, db, tt.setup)
			before := tables(t, db)
			if err := postgres.Migrate(ctx, db); !errors.Is(err, tt.want) {
				t.Fatalf("Migrate = %v, want %v", err, tt.want)
			}
			if after := tables(t, db); strings.Join(after, " ") != strings.Join(before, " ") {
				t.Errorf("tables after a refused Migrate = %v, want %v", after, before)
			}
		})
	}
}

func TestMigrateConcurrent(t *testing.T) {
	dsn := testutil.PostgresURL(t)
	const n = 4
	dbs := make([]*sqlx.DB, n)
	for i := range dbs {
		dbs[i] = connect(t, dsn, 2)
	}
	start := make(chan struct{})
	errs := make(chan error, n)
	for _, db := range dbs {
		go func() {
			<-start
			errs <- postgres.Migrate(ctx, db)
		}()
	}
	close(start)
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Migrate = %v", err)
		}
	}
	if got := tables(t, dbs[0]); strings.Join(got, " ") != strings.Join(wantTables, " ") {
		t.Errorf("tables = %v, want %v", got, wantTables)
	}
	checkMeta(t, dbs[0])
}

// withParam returns rawURL with its query parameter key set to value.
func withParam(tb testing.TB, rawURL, key, value string) string {
	tb.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	// pgx does not read + as a space in a query value, only %20.
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	return u.String()
}

// TestMigrateSchemas puts two stores in one database, each in the schema
// its URL's search_path names.
func TestMigrateSchemas(t *testing.T) {
	dsn := testutil.PostgresURL(t)
	admin := connect(t, dsn, 1)
	var base string
	if err := admin.QueryRowxContext(ctx, `SELECT current_schema()`).Scan(&base); err != nil {
		t.Fatal(err)
	}
	mustExec(t, admin, `CREATE TABLE users (id int)`)
	for _, schema := range []string{base + "_one", base + "_two"} {
		mustExec(t, admin, `CREATE SCHEMA `+schema)
		t.Cleanup(func() { admin.ExecContext(ctx, `DROP SCHEMA `+schema+` CASCADE`) })
		db := connect(t, withParam(t, dsn, "search_path", schema), 1)
		if err := postgres.Migrate(ctx, db); err != nil {
			t.Fatalf("Migrate(search_path=%s) = %v", schema, err)
		}
		checkMeta(t, db)
		if got := tables(t, db); strings.Join(got, " ") != strings.Join(wantTables, " ") {
			t.Errorf("tables of %s = %v, want %v", schema, got, wantTables)
		}
	}
	// The first schema keeps its foreign table, and is refused.
	if err := postgres.Migrate(ctx, admin); !errors.Is(err, postgres.ErrNotAtlite) {
		t.Errorf("Migrate(%s) = %v, want ErrNotAtlite", base, err)
	}
	// A search_path whose schemas are missing leaves nowhere to create.
	db := connect(t, withParam(t, dsn, "search_path", base+"_missing"), 1)
	if err := postgres.Migrate(ctx, db); err == nil || errors.Is(err, postgres.ErrNotAtlite) {
		t.Errorf("Migrate(search_path=missing) = %v, want an error about the schema", err)
	}
}

// TestPortableSQL runs statements of the SQLite store, with ? placeholders
// rebound, against the schema: the tables must answer them the same way.
func TestPortableSQL(t *testing.T) {
	db, _ := migrated(t)
	// sequences.go's allocSeqSQL fails as it is: in ON CONFLICT DO UPDATE,
	// PostgreSQL finds an unqualified next ambiguous (the row or excluded).
	const allocSeqSQL = `INSERT INTO sequences (nsid, next) VALUES (?, 2)
ON CONFLICT (nsid) DO UPDATE SET next = next + 1
RETURNING next - 1`
	_, err := db.ExecContext(ctx, db.Rebind(allocSeqSQL), "com.example.seq")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42702" {
		t.Errorf("SQLite's allocSeqSQL = %v, want ambiguous column (42702)", err)
	}
	// Qualified, it runs on both databases.
	lite, err := sqlx.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	mustExec(t, lite, `CREATE TABLE sequences (nsid TEXT PRIMARY KEY, next INTEGER NOT NULL) WITHOUT ROWID`)
	const portableSeqSQL = `INSERT INTO sequences (nsid, next) VALUES (?, 2)
ON CONFLICT (nsid) DO UPDATE SET next = sequences.next + 1
RETURNING next - 1`
	for _, d := range []*sqlx.DB{db, lite} {
		for want := int64(1); want <= 3; want++ {
			var got int64
			if err := d.QueryRowxContext(ctx, d.Rebind(portableSeqSQL), "com.example.portable").Scan(&got); err != nil || got != want {
				t.Fatalf("%s: portable allocSeqSQL = %d, %v, want %d", d.DriverName(), got, err, want)
			}
		}
	}
	// INSERT ... RETURNING id, as repo.go and import.go create repos.
	const insRepo = `INSERT INTO repos (did, handle, head, data, rev, signing_key, key_encrypted, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`
	for i, did := range []string{"did:web:a.example", "did:web:b.example"} {
		var id int64
		if err := db.QueryRowxContext(ctx, db.Rebind(insRepo), did, nil, []byte{1}, []byte{2}, "rev", []byte{}, 1, 10, 10).Scan(&id); err != nil || id != int64(i+1) {
			t.Fatalf("insert repo %s = %d, %v, want id %d", did, id, err, i+1)
		}
	}
	// A 0/1 flag scans into a bool, as with SQLite.
	var enc bool
	var key []byte
	if err := db.QueryRowxContext(ctx, db.Rebind(`SELECT key_encrypted, signing_key FROM repos WHERE did = ?`), "did:web:a.example").Scan(&enc, &key); err != nil || !enc || key == nil || len(key) != 0 {
		t.Errorf("key_encrypted, signing_key = %v, %v, %v; want true, empty non-nil", enc, key, err)
	}
	// A Go bool argument for a 0/1 column is sent as 0 or 1, as SQLite's
	// driver does; a bool for a boolean still is a bool.
	for i, priv := range []bool{true, false} {
		mustExec(t, db, db.Rebind(`INSERT INTO app_passwords (repo, name, hash, privileged, created) VALUES (1, ?, ?, ?, 1)`), fmt.Sprint(i), []byte{byte(i)}, priv)
	}
	var flags []int64
	if err := db.SelectContext(ctx, &flags, db.Rebind(`SELECT privileged FROM app_passwords WHERE privileged = ? OR privileged = ? ORDER BY name`), true, false); err != nil || fmt.Sprint(flags) != "[1 0]" {
		t.Errorf("privileged written from bools = %v, %v, want [1 0]", flags, err)
	}
	var yes bool
	if err := db.QueryRowxContext(ctx, `SELECT $1::boolean`, true).Scan(&yes); err != nil || !yes {
		t.Errorf("SELECT true::boolean = %v, %v, want true", yes, err)
	}
	// LastInsertId is not supported by pgx (sessions.go uses it):
	// RETURNING id is the portable way.
	res, err := db.ExecContext(ctx, `INSERT INTO server_secrets (name, value, created) VALUES ('s', '\x00', 1)`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := res.LastInsertId(); err == nil {
		t.Error("LastInsertId = nil error, want pgx's refusal (update this note)")
	}
	// Handles are unique; NULL repeats.
	_, err = db.ExecContext(ctx, db.Rebind(`UPDATE repos SET handle = ?`), "same.example")
	if !isUniqueViolation(err) {
		t.Errorf("two repos with one handle: %v, want a unique violation", err)
	}
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// TestEmailNoCase pins the accounts.email rule of SQLite's COLLATE NOCASE:
// unique whatever the ASCII case, non-ASCII letters compared as they are.
func TestEmailNoCase(t *testing.T) {
	db, _ := migrated(t)
	for i := 1; i <= 4; i++ {
		mustExec(t, db, db.Rebind(`INSERT INTO repos (did, head, data, rev, signing_key, created, updated) VALUES (?, '\x01', '\x02', 'rev', '\x03', 1, 1)`), fmt.Sprintf("did:web:%d.example", i))
	}
	tests := []struct {
		repo   int
		email  string
		unique bool
	}{
		{1, "Alice@Example.org", true},
		{2, "alice@example.ORG", false}, // ASCII case folds
		{2, "Émile@example.org", true},
		{3, "émile@example.org", true}, // NOCASE folds ASCII only
		{4, "ÉMILE@example.org", false},
	}
	for _, tt := range tests {
		_, err := db.ExecContext(ctx, db.Rebind(`INSERT INTO accounts (repo, email, created, updated) VALUES (?, ?, 1, 1)`), tt.repo, tt.email)
		if tt.unique && err != nil {
			t.Errorf("insert %s = %v, want nil", tt.email, err)
		}
		if !tt.unique && !isUniqueViolation(err) {
			t.Errorf("insert %s = %v, want a unique violation", tt.email, err)
		}
	}
	var repo int
	if err := db.QueryRowxContext(ctx, db.Rebind(`SELECT repo FROM accounts WHERE lower(email) = lower(?)`), "ALICE@example.org").Scan(&repo); err != nil || repo != 1 {
		t.Errorf("lookup by email = %d, %v, want 1", repo, err)
	}
	var stored string
	if err := db.QueryRowxContext(ctx, `SELECT email FROM accounts WHERE repo = 1`).Scan(&stored); err != nil || stored != "Alice@Example.org" {
		t.Errorf("stored email = %q, %v, want it as given", stored, err)
	}
}

// TestTextOrder checks that text sorts by bytes, as SQLite's BINARY
// collation does, whatever the database's locale.
func TestTextOrder(t *testing.T) {
	db, _ := migrated(t)
	mustExec(t, db, `INSERT INTO repos (did, head, data, rev, signing_key, created, updated) VALUES ('did:web:a.example', '\x01', '\x02', 'rev', '\x03', 1, 1)`)
	for _, rkey := range []string{"b", "~x", "B", "é", "_a", "a-b", "a.b", "ab", "A"} {
		mustExec(t, db, db.Rebind(`INSERT INTO records (repo, collection, rkey, cid, k) VALUES (1, 'c', ?, '\x01', 0)`), rkey)
	}
	var got []string
	if err := db.SelectContext(ctx, &got, `SELECT rkey FROM records ORDER BY collection, rkey`); err != nil {
		t.Fatal(err)
	}
	want := "A B _a a-b a.b ab b ~x é"
	if strings.Join(got, " ") != want {
		t.Errorf("rkeys in order = %q, want %q", strings.Join(got, " "), want)
	}
}

// TestConflicts checks that a handle or email taken between the engine's
// check and its write (by another connection, here simply written without
// the check) is refused by the unique index with the storage error that
// means it, not a raw database error, and that nothing is written.
func TestConflicts(t *testing.T) {
	_, dsn := migrated(t)
	b, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	defer b.Close()
	str := func(s string) *string { return &s }
	repo := func(did, handle string) *storage.RepoRow {
		return &storage.RepoRow{DID: did, Handle: str(handle), Head: []byte{1}, Data: []byte{2}, Rev: "rev", SigningKey: []byte{3}, Created: 1, Updated: 1}
	}
	var alice int64
	err = b.Update(ctx, nil, func(tx storage.WriteTx) error {
		var err error
		if alice, _, err = tx.InsertRepo(ctx, repo("did:web:alice.example", "alice.test"), nil); err != nil {
			return err
		}
		if _, _, err := tx.InsertRepo(ctx, repo("did:web:bob.example", "bob.test"), nil); err != nil {
			return err
		}
		return tx.InsertAccount(ctx, storage.AccountRow{Repo: alice, Email: str("Alice@Example.org"), Created: 1, Updated: 1})
	})
	if err != nil {
		t.Fatalf("seed = %v", err)
	}
	bob, err := b.Reader().Repo(ctx, "did:web:bob.example")
	if err != nil {
		t.Fatalf("Repo(bob) = %v", err)
	}
	tests := []struct {
		name string
		fn   func(storage.WriteTx) error
		want error
	}{
		{"insert repo with a taken handle", func(tx storage.WriteTx) error {
			_, _, err := tx.InsertRepo(ctx, repo("did:web:carol.example", "alice.test"), nil)
			return err
		}, storage.ErrHandleTaken},
		{"set a taken handle", func(tx storage.WriteTx) error {
			_, err := tx.SetHandle(ctx, "did:web:bob.example", str("alice.test"), 2)
			return err
		}, storage.ErrHandleTaken},
		{"insert account with a taken email", func(tx storage.WriteTx) error {
			return tx.InsertAccount(ctx, storage.AccountRow{Repo: bob.ID, Email: str("alice@EXAMPLE.org"), Created: 2, Updated: 2})
		}, storage.ErrEmailTaken},
		{"set a taken email", func(tx storage.WriteTx) error {
			return tx.SetAccountEmail(ctx, bob.ID, str("ALICE@example.org"), 2)
		}, storage.ErrEmailTaken},
	}
	for _, tt := range tests {
		err := b.Update(ctx, nil, tt.fn)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s = %v, want %v", tt.name, err, tt.want)
		}
	}
	r, err := b.Reader().Repo(ctx, "did:web:bob.example")
	if err != nil || *r.Handle != "bob.test" {
		t.Errorf("bob after the refusals = %+v, %v, want handle bob.test", r, err)
	}
	if _, err := b.Reader().Repo(ctx, "did:web:carol.example"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("carol after the refusal = %v, want ErrNotFound", err)
	}
	if _, err := b.Reader().Account(ctx, bob.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("bob's account after the refusals = %v, want ErrNotFound", err)
	}
}
