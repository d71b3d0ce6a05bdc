package atlite

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/internal/sqlstore"
	"github.com/atlite-dev/atlite/syntax"
)

// The -import-stream flag (main_test.go) runs every test's imports
// through the path a backend without ATTACH takes.

// TestImportPaths imports the same CARs into two stores, one through the
// attached staging file and one streaming the staged rows, and compares
// what they stored, row for row: a first import, then a newer head over
// it (most blocks stored already), with repeated records, blob
// references, more blocks than a batch, and a record whose block key
// another CID holds (blocks_overflow).
func TestImportPaths(t *testing.T) {
	ctx := context.Background()
	src := openInternal(t, ":memory:", nil)
	did := internalRepo(t, src, "did:web:user.com")
	blob := func(i int) cid.Cid {
		c, err := cid.NewPrefixV1(cid.Raw, multihash.SHA2_256).Sum([]byte(fmt.Sprint("blob", i)))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	var cars [][]byte
	var collide cid.Cid // a record of the second commit
	for round := 0; round < 2; round++ {
		var writes []commit.Write
		for i := 0; i < 130; i++ {
			n := int64(i)
			if i%5 == 0 {
				n = 0 // identical records under several keys
			}
			rec := map[string]any{"n": n, "round": int64(round)}
			if i%10 == 0 {
				rec["img"] = map[string]any{"$type": "blob", "ref": blob(i), "mimeType": "image/png", "size": int64(i + 1)}
			}
			w, err := commit.NewWrite(commit.Create, "com.example.coll", fmt.Sprintf("3k%d%010d", round, i), rec)
			if err != nil {
				t.Fatal(err)
			}
			writes = append(writes, w)
			if round == 1 && i == 1 {
				c, err := cid.NewPrefixV1(cid.DagCBOR, multihash.SHA2_256).Sum(w.Record)
				if err != nil {
					t.Fatal(err)
				}
				collide = c
			}
		}
		if _, err := src.Commit(ctx, did, writes, nil); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := src.ExportCAR(ctx, did, &buf, nil); err != nil {
			t.Fatal(err)
		}
		cars = append(cars, buf.Bytes())
	}

	// The commits named each record's block row too (from the ids of the
	// blocks they inserted, or by key for the repeated records).
	checkRecordBlockIDs(t, src, 260)

	type table struct {
		name, q string
	}
	tables := []table{
		{"blocks", `SELECT k, cid, data FROM blocks ORDER BY k, cid`},
		{"blocks_overflow", `SELECT cid, data FROM blocks_overflow ORDER BY cid`},
		{"records", `SELECT collection || '/' || rkey, cid, k FROM records ORDER BY 1`},
		{"blob_refs", `SELECT path, cid, rev FROM blob_refs ORDER BY path, cid`},
		{"repos", `SELECT did, head, data, rev, signing_key, key_encrypted, signing_pub FROM repos ORDER BY id`},
	}
	dump := func(s *Store) map[string][]string {
		out := map[string][]string{}
		for _, tb := range tables {
			rows, err := s.sqlDB().R.QueryContext(ctx, tb.q)
			if err != nil {
				t.Fatal(err)
			}
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				out[tb.name] = append(out[tb.name], fmt.Sprintf("%x", vals))
			}
			rows.Close()
		}
		return out
	}
	got := map[string]map[string][]string{}
	for _, path := range []string{"attached", "streamed"} {
		t.Run(path, func(t *testing.T) {
			dst := openInternal(t, ":memory:", nil)
			if path == "streamed" {
				dst.sqlDB().D.StageImport = nil
			} else if dst.sqlDB().D.StageImport == nil {
				t.Skip("streaming forced (-import-stream)")
			}
			// Another CID at the block key of a record to come.
			k := int64(binary.BigEndian.Uint64(collide.Bytes()[4:12]))
			if _, err := dst.sqlDB().W.ExecContext(ctx, `INSERT INTO blocks (k, cid, data) VALUES (?, ?, ?)`, k, blob(-1).Bytes(), []byte("other")); err != nil {
				t.Fatal(err)
			}
			for i, b := range cars {
				res, err := dst.ImportCAR(ctx, bytes.NewReader(b), nil)
				if err != nil || res.NoOp || res.Records != 130*(i+1) {
					t.Fatalf("ImportCAR(rev %d) = %+v, %v", i, res, err)
				}
				if err := dst.Check(ctx); err != nil {
					t.Fatalf("Check after import %d: %v", i, err)
				}
			}
			d := dump(dst)
			if n := len(d["blocks_overflow"]); n != 1 {
				t.Errorf("%d rows in blocks_overflow, want 1", n)
			}
			if n := len(d["blocks"]); n < 2*sqlstore.ImportBatch {
				t.Errorf("%d blocks, want more than two batches", n)
			}
			if n := len(d["blob_refs"]); n != 26 {
				t.Errorf("%d blob refs, want 26", n)
			}
			// Only the overflowed record keeps its CID in the index.
			var all, named int
			if err := dst.sqlDB().R.QueryRowContext(ctx, `SELECT count(*), count(cid) FROM records`).Scan(&all, &named); err != nil || all != 260 || named != 1 {
				t.Errorf("records: %d rows, %d with a cid, %v; want 260, 1", all, named, err)
			}
			checkRecordBlockIDs(t, dst, 260)
			rec, err := dst.GetRecord(ctx, did, "com.example.coll", "3k10000000001")
			if err != nil || rec.CID != collide {
				t.Errorf("GetRecord(overflowed) = %+v, %v", rec, err)
			}
			got[path] = d
		})
	}
	// Into a fresh store every block is new: the attached copy names each
	// record's block row without a look-up (all but the repeated records,
	// whose block was staged before them), and both paths agree.
	for _, path := range []string{"attached", "streamed"} {
		t.Run("fresh/"+path, func(t *testing.T) {
			dst := openInternal(t, ":memory:", nil)
			if path == "streamed" {
				dst.sqlDB().D.StageImport = nil
			}
			if res, err := dst.ImportCAR(ctx, bytes.NewReader(cars[0]), nil); err != nil || res.Records != 130 {
				t.Fatalf("ImportCAR = %+v, %v", res, err)
			}
			checkRecordBlockIDs(t, dst, 130)
			if err := dst.Check(ctx); err != nil {
				t.Fatalf("Check: %v", err)
			}
			for i := 0; i < 130; i++ {
				rec, err := dst.GetRecord(ctx, did, "com.example.coll", syntax.RecordKey(fmt.Sprintf("3k0%010d", i)))
				if err != nil || datamodel.CBORCID(rec.Data) != rec.CID {
					t.Fatalf("GetRecord(%d) = %+v, %v", i, rec, err)
				}
			}
		})
	}
	if got["attached"] != nil && got["streamed"] != nil {
		for _, tb := range tables {
			a, s := got["attached"][tb.name], got["streamed"][tb.name]
			if !slices.Equal(a, s) {
				t.Errorf("%s: attached import stored %d rows, streamed %d, not the same:\nattached %v\nstreamed %v", tb.name, len(a), len(s), a, s)
			}
		}
	}
}

// checkRecordBlockIDs checks that each of the want rows of s's record index
// names, in records.b, the blocks row at its key.
func checkRecordBlockIDs(t *testing.T, s *Store, want int) {
	t.Helper()
	var all, named int
	const q = `SELECT count(*), count(x.id) FROM records r LEFT JOIN blocks x ON x.id = r.b AND x.k = r.k`
	if err := s.sqlDB().R.QueryRowContext(context.Background(), q).Scan(&all, &named); err != nil || all != want || named != want {
		t.Errorf("records: %d rows, %d naming the block row at their key, %v; want %d", all, named, err, want)
	}
}
