package sqlite_test

import (
	"bytes"
	"database/sql"
	"testing"

	"github.com/atlite-dev/atlite/internal/sqlite"
)

// TestFreshBlobs pins what Dialect.FreshBlobs relies on: the driver hands
// each blob column of each row in a slice of its own, which the rows that
// follow do not overwrite, so GetBlocksByID may keep it without a copy.
// An upgrade of modernc.org/sqlite that reuses its buffers fails here.
func TestFreshBlobs(t *testing.T) {
	if !sqlite.Dialect.FreshBlobs {
		t.Fatal("Dialect.FreshBlobs is off")
	}
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, a BLOB, b BLOB)`); err != nil {
		t.Fatal(err)
	}
	const n = 64
	want := func(i, col int) []byte { return bytes.Repeat([]byte{byte(i), byte(col)}, 100+i) }
	for i := range n {
		if _, err := db.Exec(`INSERT INTO t (id, a, b) VALUES (?, ?, ?)`, i, want(i, 0), want(i, 1)); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := db.Query(`SELECT a, b FROM t ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var kept [][]byte
	for rows.Next() {
		var a, b sql.RawBytes
		if err := rows.Scan(&a, &b); err != nil {
			t.Fatal(err)
		}
		kept = append(kept, []byte(a), []byte(b))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if len(kept) != 2*n {
		t.Fatalf("%d blobs read, want %d", len(kept), 2*n)
	}
	seen := make(map[*byte]int)
	for j, got := range kept {
		if i, col := j/2, j%2; !bytes.Equal(got, want(i, col)) {
			t.Fatalf("row %d column %d after the rows that follow: % x..., want % x...", i, col, got[:4], want(i, col)[:4])
		}
		if k, dup := seen[&got[0]]; dup {
			t.Fatalf("blobs %d and %d share one buffer", k, j)
		}
		seen[&got[0]] = j
	}
}
