package postgres_test

import (
	"os"
	"strings"
	"testing"

	"github.com/atlite-dev/atlite/internal/postgres"
	"github.com/atlite-dev/atlite/internal/testutil"
)

// TestMigrateV1 builds a schema at version 1 from migrations/0001_init.sql,
// the file the version-1 code applies, with record rows as that code wrote
// them (every cid set), and checks the step to version 2: a record whose
// block is the blocks row at its key loses its cid, and a record whose
// block is in blocks_overflow, or missing (a damaged database), keeps it.
func TestMigrateV1(t *testing.T) {
	db := connect(t, testutil.PostgresURL(t), 2)
	v1, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, string(v1))
	mustExec(t, db, `INSERT INTO atlite_meta (id, application_id, schema_version) VALUES (1, $1, 1)`, postgres.ApplicationID)
	mustExec(t, db, `INSERT INTO repos (did, head, data, rev, signing_key, created, updated) VALUES ('did:web:a.example', '\x01', '\x02', 'rev', '\x03', 1, 2)`)
	// k 7 holds cid \x0a; \x0b shares k 7 and is in blocks_overflow; nothing
	// holds \x0c at k 9.
	mustExec(t, db, `INSERT INTO blocks (k, cid, data) VALUES (7, '\x0a', 'a')`)
	mustExec(t, db, `INSERT INTO blocks_overflow (cid, data) VALUES ('\x0b', 'b')`)
	mustExec(t, db, `INSERT INTO records (repo, collection, rkey, cid, k) VALUES
(1, 'c', 'at-key', '\x0a', 7), (1, 'c', 'at-key-too', '\x0a', 7), (1, 'c', 'overflowed', '\x0b', 7), (1, 'c', 'missing', '\x0c', 9)`)

	if err := postgres.Migrate(ctx, db); err != nil {
		t.Fatalf("Migrate = %v", err)
	}
	checkMeta(t, db)
	rows, err := db.QueryxContext(ctx, `SELECT rkey, coalesce(encode(cid, 'hex'), 'NULL') FROM records ORDER BY rkey`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var rkey, c string
		if err := rows.Scan(&rkey, &c); err != nil {
			t.Fatal(err)
		}
		got = append(got, rkey+"="+c)
	}
	want := "at-key=NULL at-key-too=NULL missing=0c overflowed=0b"
	if s := strings.Join(got, " "); s != want || rows.Err() != nil {
		t.Errorf("records after Migrate = %s, %v; want %s", s, rows.Err(), want)
	}
}
