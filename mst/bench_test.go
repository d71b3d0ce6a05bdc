package mst_test

import (
	"context"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/mst"
)

const benchKeys = 100_000

// countingSource counts the blocks read from a MemBlocks.
type countingSource struct {
	inner *mst.MemBlocks
	reads atomic.Int64
}

func (s *countingSource) GetBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	s.reads.Add(1)
	return s.inner.GetBlock(ctx, c)
}

// benchEntries returns n sorted entries with TID-shaped keys.
func benchEntries(n int) []mst.Entry {
	r := rand.New(rand.NewPCG(42, 42))
	keys := randomKeys(r, n)
	slices.Sort(keys)
	out := make([]mst.Entry, n)
	for i, k := range keys {
		out[i] = mst.Entry{Key: k, Value: valueCID(i)}
	}
	return out
}

// storedTree builds a tree of n keys, stores it and returns the counting
// source and the root.
func storedTree(tb testing.TB, n int) ([]mst.Entry, *countingSource, cid.Cid) {
	tb.Helper()
	entries := benchEntries(n)
	t, err := mst.Build(nil, entries)
	if err != nil {
		tb.Fatal(err)
	}
	blocks, _ := t.UnstoredBlocks(context.Background())
	return entries, &countingSource{inner: mst.NewMemBlocks(blocks)}, rootOf(tb, t)
}

// BenchmarkBuild bulk-loads 100k sorted keys.
func BenchmarkBuild(b *testing.B) {
	entries := benchEntries(benchKeys)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := mst.Build(nil, entries); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchKeys), "ns/key")
}

// BenchmarkInsertLazy adds one key to a 100k-key tree opened lazily from a
// block source, and reports the nodes read and written per insert.
func BenchmarkInsertLazy(b *testing.B) {
	ctx := context.Background()
	_, src, root := storedTree(b, benchKeys)
	depth, err := mst.Load(src.inner, root).Layer(ctx)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	fresh := randomKeys(r, 4096)
	v := valueCID(-1)
	src.reads.Store(0)
	var written, i int
	b.ReportAllocs()
	for b.Loop() {
		t := mst.Load(src, root)
		t2, err := t.Add(ctx, fresh[i%len(fresh)], v)
		if err != nil {
			b.Fatal(err)
		}
		blocks, _ := t2.UnstoredBlocks(ctx)
		written += len(blocks)
		i++
	}
	b.ReportMetric(float64(src.reads.Load())/float64(b.N), "nodes_read/op")
	b.ReportMetric(float64(written)/float64(b.N), "nodes_written/op")
	b.ReportMetric(float64(depth+1), "depth")
}

// BenchmarkDiff10 diffs two lazily loaded 100k-key trees that differ in 10
// keys (4 created, 3 updated, 3 deleted).
func BenchmarkDiff10(b *testing.B) {
	ctx := context.Background()
	entries, src, root := storedTree(b, benchKeys)
	r := rand.New(rand.NewPCG(9, 9))
	var ws []mst.Write
	for _, k := range randomKeys(r, 4) {
		ws = append(ws, mst.Write{Action: mst.ActionCreate, Key: k, Value: valueCID(-2)})
	}
	for range 3 {
		ws = append(ws, mst.Write{Action: mst.ActionUpdate, Key: entries[r.IntN(len(entries))].Key, Value: valueCID(-3)})
	}
	for range 3 {
		ws = append(ws, mst.Write{Action: mst.ActionDelete, Key: entries[r.IntN(len(entries))].Key})
	}
	t2, err := mst.Load(src.inner, root).Apply(ctx, ws)
	if err != nil {
		b.Fatal(err)
	}
	blocks, _ := t2.UnstoredBlocks(ctx)
	src.inner.PutMany(blocks)
	root2 := rootOf(b, t2)
	src.reads.Store(0)
	for _, diff := range []struct {
		name string
		fn   func(context.Context, *mst.Tree, *mst.Tree) (*mst.DiffResult, error)
	}{{"proofs", mst.Diff}, {"changes", mst.DiffChanges}} {
		b.Run(diff.name, func(b *testing.B) {
			src.reads.Store(0)
			b.ReportAllocs()
			for b.Loop() {
				d, err := diff.fn(ctx, mst.Load(src, root), mst.Load(src, root2))
				if err != nil {
					b.Fatal(err)
				}
				if len(d.RecordOps) != 10 {
					b.Fatalf("%d record ops, want 10", len(d.RecordOps))
				}
			}
			b.ReportMetric(float64(src.reads.Load())/float64(b.N), "nodes_read/op")
		})
	}
}

// BenchmarkWalk walks every key of a 100k-key tree opened lazily, and
// reports the allocations per key.
func BenchmarkWalk(b *testing.B) {
	ctx := context.Background()
	_, src, root := storedTree(b, benchKeys)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		err := mst.Load(src, root).Walk(ctx, "", func(mst.Entry) error {
			n++
			return nil
		})
		if err != nil || n != benchKeys {
			b.Fatalf("Walk() = %d keys, %v", n, err)
		}
	}
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(b.N*benchKeys), "allocs/key")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchKeys), "ns/key")
}

// BenchmarkGetLazy looks up one key in a 100k-key tree opened lazily.
func BenchmarkGetLazy(b *testing.B) {
	ctx := context.Background()
	entries, src, root := storedTree(b, benchKeys)
	t := mst.Load(src, root)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := t.Get(ctx, entries[(i*7919)%len(entries)].Key); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
