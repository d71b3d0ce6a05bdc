package mst_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/mst"
)

// TestNodeCacheSameTrees applies the same commits to a tree loaded with
// Load and one loaded with LoadCached (its nodes added to the cache after
// each commit): the roots, new blocks and covering proofs are the same,
// and once the cache holds the path, the cached tree reads no block.
func TestNodeCacheSameTrees(t *testing.T) {
	ctx := context.Background()
	store := &mst.MemBlocks{}
	var reads atomic.Int64
	src := mst.BlockSourceFunc(func(ctx context.Context, c cid.Cid) ([]byte, error) {
		reads.Add(1)
		return store.GetBlock(ctx, c)
	})
	keys := make([]string, 2000)
	for i := range keys {
		keys[i] = fmt.Sprintf("app.bsky.feed.post/%06d", i)
	}
	base := buildByAdding(t, store, keys, valueCID(0))
	blocks, err := base.UnstoredBlocks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	store.PutMany(blocks)
	root := rootOf(t, base)
	nc := mst.NewNodeCache(1 << 16)
	for step := 0; step < 20; step++ {
		writes := []mst.Write{
			{Action: mst.ActionPut, Key: fmt.Sprintf("app.bsky.feed.post/x%04d", step), Value: valueCID(step + 1)},
			{Action: mst.ActionDelete, Key: keys[step*7]},
			{Action: mst.ActionPut, Key: keys[step*7+3], Value: valueCID(step + 100)},
		}
		var roots []cid.Cid
		var news []map[cid.Cid][]byte
		var proofs [][]cid.Cid
		for _, cached := range []bool{false, true} {
			tr := mst.Load(src, root)
			if cached {
				tr = mst.LoadCached(src, root, nc)
			}
			for _, w := range writes {
				if _, err := tr.Get(ctx, w.Key); err != nil && w.Action == mst.ActionDelete {
					t.Fatal(err)
				}
			}
			nt, err := tr.Apply(ctx, writes)
			if err != nil {
				t.Fatal(err)
			}
			r, _ := nt.Root(ctx)
			ub, err := nt.UnstoredBlocks(ctx)
			if err != nil {
				t.Fatal(err)
			}
			pr, err := nt.CoveringProof(ctx, []string{writes[0].Key, writes[1].Key, writes[2].Key})
			if err != nil {
				t.Fatal(err)
			}
			pc := slices.SortedFunc(maps.Keys(pr), func(a, b cid.Cid) int { return cmpCID(a, b) })
			for _, c := range pc {
				if c2 := mst.CBORCIDForTest(pr[c]); c2 != c {
					t.Fatalf("step %d cached=%v: proof block %s hashes to %s", step, cached, c, c2)
				}
			}
			roots, news, proofs = append(roots, r), append(news, ub), append(proofs, pc)
			if cached {
				store.PutMany(ub)
				nc.AddStored(ctx, nt)
			}
		}
		if roots[0] != roots[1] {
			t.Fatalf("step %d: root %s cached, %s not", step, roots[1], roots[0])
		}
		if !maps.EqualFunc(news[0], news[1], func(a, b []byte) bool { return string(a) == string(b) }) {
			t.Fatalf("step %d: new blocks differ: %d cached, %d not", step, len(news[1]), len(news[0]))
		}
		if !slices.Equal(proofs[0], proofs[1]) {
			t.Fatalf("step %d: proofs differ", step)
		}
		root = roots[0]
	}
	// Once a cached tree's reads join the cache, a second cached tree
	// reading the same keys reads no block.
	tr := mst.LoadCached(src, root, nc)
	for _, k := range keys[:50] {
		tr.Get(ctx, k)
	}
	nc.AddStored(ctx, tr)
	before := reads.Load()
	tr2 := mst.LoadCached(src, root, nc)
	for _, k := range keys[:50] {
		tr2.Get(ctx, k)
	}
	if n := reads.Load() - before; n != 0 {
		t.Fatalf("cached tree read %d blocks, want 0", n)
	}
}

func cmpCID(a, b cid.Cid) int {
	switch {
	case a.KeyString() < b.KeyString():
		return -1
	case a.KeyString() > b.KeyString():
		return 1
	}
	return 0
}
