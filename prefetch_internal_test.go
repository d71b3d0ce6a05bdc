package atlite

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/car"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/internal/sqlstore"
	"github.com/atlite-dev/atlite/internal/storage"
	"github.com/atlite-dev/atlite/mst"
)

// TestExportReadAhead exports a repo whose records repeat (identical bytes
// under several keys) with read-ahead budgets from one block to more than
// the repo, and record chunks from one record to more than the repo: the
// same bytes each time, each block once, in the pre-order of a walk that
// reads one block at a time, and never more blocks held than the budget and
// one node's links. The repeated records are found in memory and by the
// database (a limit of records to sort below the repo's 1,200, or above). Two of its collections sort one way as collections and
// the other way in key order ("c0.sub/" before "c0/").
func TestExportReadAhead(t *testing.T) {
	ctx := context.Background()
	defer func(n, c, d int) { readAhead, recordChunk, sqlstore.RepeatedRecordsInMemory = n, c, d }(readAhead, recordChunk, sqlstore.RepeatedRecordsInMemory)
	colls := []string{"com.example.c0", "com.example.c0.sub", "com.example.c1"}

	// A file, whose read pool lets the records be read on a second
	// connection.
	s := openInternal(t, filepath.Join(t.TempDir(), "atlite.db"), nil)
	did := internalRepo(t, s, "did:web:user.com")
	for c := 0; c < 6; c++ {
		var writes []commit.Write
		for i := 0; i < 200; i++ {
			w, err := commit.NewWrite(commit.Create, colls[c%3], fmt.Sprintf("3k%011d", i+200*(c/3)), map[string]any{"n": int64(i % 11)})
			if err != nil {
				t.Fatal(err)
			}
			writes = append(writes, w)
		}
		if _, err := s.Commit(ctx, did, writes, nil); err != nil {
			t.Fatal(err)
		}
	}
	repo, err := s.LoadRepo(ctx, did.AtIdentifier())
	if err != nil {
		t.Fatal(err)
	}

	// The reference order: a walk reading one block at a time, each block
	// kept the first time.
	var want []cid.Cid
	err = s.b.View(ctx, func(tx storage.ReadTx) error {
		src := viewBlocks(tx)
		seen := map[cid.Cid]bool{}
		return mst.Load(src, repo.Data).Blocks(ctx, src, func(c cid.Cid, b []byte) error {
			if !seen[c] {
				seen[c] = true
				want = append(want, c)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}

	var first []byte
	for i, n := range []int{1, 2, 5, 64, 4096, 1 << 20} {
		readAhead = n
		recordChunk = []int{1, 2, 3, 64, 399, 512}[i]
		sqlstore.RepeatedRecordsInMemory = []int{1 << 20, 1, 1199, 1200, 1201, 1 << 20}[i]
		var buf bytes.Buffer
		if _, err := s.ExportCAR(ctx, did, &buf, nil); err != nil {
			t.Fatalf("readAhead %d: %v", n, err)
		}
		if first == nil {
			first = bytes.Clone(buf.Bytes())
		} else if !bytes.Equal(buf.Bytes(), first) {
			t.Errorf("readAhead %d: export differs from readAhead 1", n)
		}
		_, blocks, err := car.ReadAll(bytes.NewReader(buf.Bytes()), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(blocks) != len(want)+1 || blocks[0].CID != repo.Head {
			t.Fatalf("readAhead %d: %d blocks, want the head and %d", n, len(blocks), len(want))
		}
		for i, c := range want {
			if blocks[i+1].CID != c {
				t.Fatalf("readAhead %d: block %d is %s, want %s", n, i+1, blocks[i+1].CID, c)
			}
		}
	}

	// The budget holds: at most readAhead blocks and one node's links.
	readAhead = 40
	err = s.b.View(ctx, func(tx storage.ReadTx) error {
		h, err := tx.Repo(ctx, did.String())
		if err != nil {
			return err
		}
		pf := newPrefetcher(tx)
		recs := newRecordStream(tx, h.ID)
		if recs.ahead = startChunkReader(ctx, s.b, did.String(), h.Head, h.ID, recs.chunk); recs.ahead == nil {
			t.Error("no chunk reader on a second connection")
		}
		defer recs.close()
		if err := mst.Load(pf, repo.Data).Blocks(ctx, recs, func(cid.Cid, []byte) error { return nil }); err != nil {
			return err
		}
		if pf.peak == 0 || pf.peak > readAhead+2*32+1 {
			t.Errorf("prefetcher held %d blocks, budget %d", pf.peak, readAhead)
		}
		if len(pf.ready) != 0 || len(pf.expanded) != 0 {
			t.Errorf("%d blocks, %d nodes left after the walk", len(pf.ready), len(pf.expanded))
		}
		// readAheadOn opens the second connection only once a chunk comes
		// back full: with chunks of 8 (collections of 400), and never with
		// chunks of 512.
		for _, chunk := range []int{8, 512} {
			recordChunk = chunk
			recs := newRecordStream(tx, h.ID)
			recs.readAheadOn(ctx, s.b, did.String(), h.Head)
			err := mst.Load(newPrefetcher(tx), repo.Data).Blocks(ctx, recs, func(cid.Cid, []byte) error { return nil })
			opened := recs.ahead != nil
			recs.close()
			if err != nil {
				return err
			}
			if opened != (chunk == 8) {
				t.Errorf("chunks of %d: second connection opened %v", chunk, opened)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNodeLinks: nodeLinks finds the links a full decode finds, with the
// subtrees marked, and refuses truncated bytes.
func TestNodeLinks(t *testing.T) {
	ctx := context.Background()
	s := openInternal(t, ":memory:", nil)
	did := internalRepo(t, s, "did:web:user.com")
	var writes []commit.Write
	for i := 0; i < 200; i++ {
		w, err := commit.NewWrite(commit.Create, "com.example.coll", fmt.Sprintf("3k%011d", i), map[string]any{"n": int64(i)})
		if err != nil {
			t.Fatal(err)
		}
		writes = append(writes, w)
	}
	if _, err := s.Commit(ctx, did, writes, nil); err != nil {
		t.Fatal(err)
	}
	repo, err := s.LoadRepo(ctx, did.AtIdentifier())
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = s.b.View(ctx, func(tx storage.ReadTx) error {
		src := viewBlocks(tx)
		return mst.Load(src, repo.Data).Blocks(ctx, nil, func(c cid.Cid, node []byte) error {
			m, err := datamodel.UnmarshalMap(node)
			if err != nil {
				return err
			}
			type link struct {
				c    cid.Cid
				tree bool
			}
			var want []link
			if l, ok := m["l"].(cid.Cid); ok {
				want = append(want, link{l, true})
			}
			for _, e := range m["e"].([]any) {
				em := e.(map[string]any)
				want = append(want, link{em["v"].(cid.Cid), false})
				if r, ok := em["t"].(cid.Cid); ok {
					want = append(want, link{r, true})
				}
			}
			var got []link
			if !nodeLinks(node, func(c cid.Cid, tree bool) { got = append(got, link{c, tree}) }) {
				t.Errorf("nodeLinks(%s) refused a stored node", c)
			}
			// In the node's byte order ("e" comes before "l").
			key := func(l link) string { return fmt.Sprint(l.c, l.tree) }
			slices.SortFunc(got, func(a, b link) int { return strings.Compare(key(a), key(b)) })
			slices.SortFunc(want, func(a, b link) int { return strings.Compare(key(a), key(b)) })
			if !slices.Equal(got, want) {
				t.Errorf("nodeLinks(%s) = %v, want %v", c, got, want)
			}
			if nodeLinks(node[:len(node)-1], func(cid.Cid, bool) {}) {
				t.Errorf("nodeLinks(%s) took truncated bytes", c)
			}
			checked++
			return nil
		})
	})
	if err != nil || checked < 2 {
		t.Fatalf("checked %d nodes: %v", checked, err)
	}
}

// FuzzNodeLinks checks that the node scanner never panics or hangs on bad
// bytes, and that on bytes the strict decoder accepts, it finds exactly the
// CID links the decoded value holds.
func FuzzNodeLinks(f *testing.F) {
	l := datamodel.CBORCID([]byte("left"))
	v := datamodel.CBORCID([]byte("value"))
	seeds := []map[string]any{
		{"l": l, "e": []any{map[string]any{"p": int64(0), "k": []byte("app.bsky.feed.post/3k"), "v": v, "t": nil}}},
		{"l": nil, "e": []any{map[string]any{"p": int64(3), "k": []byte("x"), "v": v, "t": l}}},
		{"l": nil, "e": []any{}},
	}
	for _, m := range seeds {
		b, err := datamodel.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got []cid.Cid
		ok := nodeLinks(b, func(c cid.Cid, _ bool) { got = append(got, c) })
		val, err := datamodel.Unmarshal(b)
		if err != nil {
			return
		}
		var want []cid.Cid
		var walk func(any)
		walk = func(x any) {
			switch x := x.(type) {
			case cid.Cid:
				want = append(want, x)
			case []any:
				for _, e := range x {
					walk(e)
				}
			case map[string]any:
				keys := make([]string, 0, len(x))
				for k := range x {
					keys = append(keys, k)
				}
				slices.SortFunc(keys, func(a, b string) int { // DAG-CBOR key order
					if len(a) != len(b) {
						return len(a) - len(b)
					}
					return strings.Compare(a, b)
				})
				for _, k := range keys {
					walk(x[k])
				}
			}
		}
		walk(val)
		if ok && !slices.Equal(got, want) {
			t.Errorf("nodeLinks found %v, the decoder %v", got, want)
		}
	})
}

// TestChunkReaderSnapshot: records are read ahead on a second connection
// only while its snapshot shows the walk's head; with one read connection
// there is none.
func TestChunkReaderSnapshot(t *testing.T) {
	ctx := context.Background()
	s := openInternal(t, filepath.Join(t.TempDir(), "atlite.db"), nil)
	did := internalRepo(t, s, "did:web:user.com")
	err := s.b.View(ctx, func(tx storage.ReadTx) error {
		h, err := tx.Repo(ctx, did.String())
		if err != nil {
			return err
		}
		cr := startChunkReader(ctx, s.b, did.String(), h.Head, h.ID, 8)
		if cr == nil {
			t.Fatal("no chunk reader at the same head")
		}
		cr.close()
		w, err := commit.NewWrite(commit.Create, "com.example.coll", "k1", map[string]any{"n": int64(1)})
		if err != nil {
			return err
		}
		if _, err := s.Commit(ctx, did, []commit.Write{w}, nil); err != nil {
			return err
		}
		if cr := startChunkReader(ctx, s.b, did.String(), h.Head, h.ID, 8); cr != nil {
			cr.close()
			t.Error("chunk reader on a snapshot past the walk's head")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	one := openInternal(t, filepath.Join(t.TempDir(), "one.db"), &Options{ReadConns: 1})
	did = internalRepo(t, one, "did:web:user.com")
	// The walk holds the one connection of the bulk pool, as ExportCAR's
	// does (Store.bulkView).
	err = one.bulkView(ctx, func(tx storage.ReadTx) error {
		h, err := tx.Repo(ctx, did.String())
		if err != nil {
			return err
		}
		if cr := startChunkReader(ctx, one.b, did.String(), h.Head, h.ID, 8); cr != nil {
			cr.close()
			t.Error("chunk reader with one read connection")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := one.ExportCAR(ctx, did, &buf, nil); err != nil {
		t.Errorf("export with one read connection: %v", err)
	}
}
