package mst_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/atlite-dev/atlite/mst"
)

// TestCost checks the promised costs on a 20,000-key tree opened lazily: a
// single change reads and writes at most two nodes per layer, a lookup one
// node per layer, a 10-key diff fewer than 200 nodes, and a no-op write
// nothing.
func TestCost(t *testing.T) {
	ctx := context.Background()
	entries, src, root := storedTree(t, 20_000)
	depth, err := mst.Load(src, root).Layer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	depth++ // layers 0..depth-1
	r := rand.New(rand.NewPCG(5, 5))
	fresh := randomKeys(r, 200)
	for i := range 200 {
		var w mst.Write
		switch i % 4 {
		case 0, 1:
			w = mst.Write{Action: mst.ActionCreate, Key: fresh[i], Value: valueCID(-1)}
		case 2:
			w = mst.Write{Action: mst.ActionUpdate, Key: entries[r.IntN(len(entries))].Key, Value: valueCID(-1)}
		default:
			w = mst.Write{Action: mst.ActionDelete, Key: entries[r.IntN(len(entries))].Key}
		}
		src.reads.Store(0)
		next, err := mst.Load(src, root).Apply(ctx, []mst.Write{w})
		if err != nil {
			t.Fatal(err)
		}
		blocks, _ := next.UnstoredBlocks(ctx)
		if reads := int(src.reads.Load()); reads > 2*depth || len(blocks) > 2*depth {
			t.Errorf("%s %s: read %d nodes, wrote %d, want at most %d each", w.Action, w.Key, reads, len(blocks), 2*depth)
		}
	}
	src.reads.Store(0)
	if _, err := mst.Load(src, root).Get(ctx, entries[123].Key); err != nil {
		t.Fatal(err)
	}
	if reads := int(src.reads.Load()); reads > depth {
		t.Errorf("Get read %d nodes, want at most %d", reads, depth)
	}

	// A write that changes nothing writes nothing.
	same, err := mst.Load(src, root).Put(ctx, entries[7].Key, entries[7].Value)
	if err != nil {
		t.Fatal(err)
	}
	if blocks, _ := same.UnstoredBlocks(ctx); len(blocks) != 0 || rootOf(t, same) != root {
		t.Errorf("no-op Put: %d unstored blocks, root changed %v", len(blocks), rootOf(t, same) != root)
	}
	added, _ := mst.Load(src, root).Add(ctx, fresh[0], valueCID(1))
	back, err := added.Delete(ctx, fresh[0])
	if err != nil {
		t.Fatal(err)
	}
	if blocks, _ := back.UnstoredBlocks(ctx); len(blocks) != 0 || rootOf(t, back) != root {
		t.Errorf("add then delete: %d unstored blocks, root changed %v", len(blocks), rootOf(t, back) != root)
	}

	// MarkStored: later changes report only their own nodes.
	next, _ := mst.Load(src, root).Add(ctx, fresh[1], valueCID(2))
	first, _ := next.UnstoredBlocks(ctx)
	src.inner.PutMany(first)
	marked := next.MarkStored()
	if blocks, _ := marked.UnstoredBlocks(ctx); len(blocks) != 0 {
		t.Errorf("MarkStored().UnstoredBlocks() = %d blocks, want 0", len(blocks))
	}
	again, _ := marked.Add(ctx, fresh[2], valueCID(3))
	d, err := mst.Diff(ctx, marked, again)
	if err != nil {
		t.Fatal(err)
	}
	blocks, _ := again.UnstoredBlocks(ctx)
	if len(blocks) != len(d.CreatedNodes) {
		t.Errorf("after MarkStored: %d unstored blocks, want the %d created nodes", len(blocks), len(d.CreatedNodes))
	}

	// A 10-key diff between lazily loaded trees.
	var ws []mst.Write
	for i := range 10 {
		ws = append(ws, mst.Write{Action: mst.ActionCreate, Key: fresh[100+i], Value: valueCID(i)})
	}
	changed, err := mst.Load(src.inner, root).Apply(ctx, ws)
	if err != nil {
		t.Fatal(err)
	}
	nb, _ := changed.UnstoredBlocks(ctx)
	src.inner.PutMany(nb)
	src.reads.Store(0)
	d, err = mst.Diff(ctx, mst.Load(src, root), mst.Load(src, rootOf(t, changed)))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.RecordOps) != 10 {
		t.Errorf("Diff() = %d record ops, want 10", len(d.RecordOps))
	}
	if reads := src.reads.Load(); reads >= 200 {
		t.Errorf("Diff() read %d nodes, want fewer than 200", reads)
	}
}
