package mst

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"
)

// TestBlocksOrder checks that Blocks streams a tree in the CAR pre-order:
// each node, then its left subtree, then for each entry its record and its
// right subtree; that it works alike in memory and loaded lazily; and that a
// reader can check every block against a CID it has already seen.
func TestBlocksOrder(t *testing.T) {
	ctx := context.Background()
	records := &MemBlocks{}
	var entries []Entry
	for i := range 500 {
		rec := []byte(fmt.Sprintf("record %d", i))
		c := cborCID(rec)
		records.Put(c, rec)
		entries = append(entries, Entry{Key: fmt.Sprintf("com.example.record/%06d", i*7919%1000000), Value: c})
	}
	slices.SortFunc(entries, func(a, b Entry) int {
		if a.Key < b.Key {
			return -1
		}
		return 1
	})
	mem, err := Build(nil, entries)
	if err != nil {
		t.Fatal(err)
	}
	blocks, _ := mem.UnstoredBlocks(ctx)
	loaded := Load(NewMemBlocks(blocks), mem.root.cid())

	// The expected order, by recursion over the nodes.
	var want []cid.Cid
	var visit func(l link, layer int)
	visit = func(l link, layer int) {
		n, err := mem.read(ctx, l, layer, false, span{})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, n.cid)
		if !n.left.empty() {
			visit(n.left, n.layer-1)
		}
		for _, e := range n.entries {
			want = append(want, e.val)
			if !e.right.empty() {
				visit(e.right, n.layer-1)
			}
		}
	}
	visit(mem.root, mem.layer)
	if len(want) != len(blocks)+len(entries) {
		t.Fatalf("expected %d blocks, tree has %d nodes and %d records", len(want), len(blocks), len(entries))
	}

	for name, tr := range map[string]*Tree{"memory": mem, "loaded": loaded} {
		var got []cid.Cid
		// A one-pass verifier: every block must hash to its CID and be
		// referenced by a block seen before it (the root excepted).
		expected := map[cid.Cid]bool{tr.root.cid(): true}
		err := tr.Blocks(ctx, records, func(c cid.Cid, data []byte) error {
			if cborCID(data) != c {
				return fmt.Errorf("block %s does not hash to its CID", c)
			}
			if !expected[c] {
				return fmt.Errorf("block %s arrives before any reference to it", c)
			}
			got = append(got, c)
			if n, err := decodeNode(c, data, layerUnknown, c == tr.root.cid()); err == nil {
				if !n.left.empty() {
					expected[n.left.c] = true
				}
				for _, e := range n.entries {
					expected[e.val] = true
					if !e.right.empty() {
						expected[e.right.c] = true
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s Blocks() = %v", name, err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s Blocks() order differs from the pre-order (%d blocks, want %d)", name, len(got), len(want))
		}
		// Without records: only the nodes, in the same order.
		var nodes []cid.Cid
		if err := tr.Blocks(ctx, nil, func(c cid.Cid, _ []byte) error {
			nodes = append(nodes, c)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var wantNodes []cid.Cid
		for _, c := range want {
			if _, ok := blocks[c]; ok {
				wantNodes = append(wantNodes, c)
			}
		}
		if !slices.Equal(nodes, wantNodes) {
			t.Errorf("%s Blocks(nil) = %d nodes, want %d in pre-order", name, len(nodes), len(wantNodes))
		}
		// SkipAll stops early without error.
		n := 0
		if err := tr.Blocks(ctx, nil, func(cid.Cid, []byte) error {
			n++
			if n == 3 {
				return SkipAll
			}
			return nil
		}); err != nil || n != 3 {
			t.Errorf("%s Blocks(SkipAll) = %v after %d blocks, want nil after 3", name, err, n)
		}
		// A missing record is an error naming it.
		err = tr.Blocks(ctx, &MemBlocks{}, func(cid.Cid, []byte) error { return nil })
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s Blocks(no records) = %v, want ErrNotFound", name, err)
		}
	}
}

// keyedRecords records the keys Blocks reads records for.
type keyedRecords struct {
	*MemBlocks
	keys []string
}

func (k *keyedRecords) GetRecord(ctx context.Context, key string, c cid.Cid) ([]byte, error) {
	k.keys = append(k.keys, key)
	return k.GetBlock(ctx, c)
}

// TestBlocksRecordSource checks that a RecordSource is told every key, in
// key order, once per entry.
func TestBlocksRecordSource(t *testing.T) {
	ctx := context.Background()
	rec := []byte{0xa0}
	rc := cborCID(rec)
	var entries []Entry
	for i := 0; i < 300; i++ {
		entries = append(entries, Entry{Key: fmt.Sprintf("com.example.record/k%04d", i), Value: rc})
	}
	src := NewMemBlocks(nil)
	tr, err := Build(src, entries)
	if err != nil {
		t.Fatal(err)
	}
	recs := &keyedRecords{MemBlocks: NewMemBlocks(map[cid.Cid][]byte{rc: rec})}
	if err := tr.Blocks(ctx, recs, func(cid.Cid, []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if len(recs.keys) != len(entries) {
		t.Fatalf("GetRecord called %d times, want %d", len(recs.keys), len(entries))
	}
	for i, k := range recs.keys {
		if k != entries[i].Key {
			t.Fatalf("GetRecord #%d for %q, want %q", i, k, entries[i].Key)
		}
	}
}
