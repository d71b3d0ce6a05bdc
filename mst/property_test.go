package mst_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/mst"
)

var collections = []string{"app.bsky.feed.like", "app.bsky.feed.post", "app.bsky.graph.follow", "com.example.record"}

const rkeyChars = "234567abcdefghijklmnopqrstuvwxyz"

// randomKey returns a TID-shaped key in one of a few collections.
func randomKey(r *rand.Rand) string {
	var b strings.Builder
	b.WriteString(collections[r.IntN(len(collections))])
	b.WriteByte('/')
	for range 13 {
		b.WriteByte(rkeyChars[r.IntN(len(rkeyChars))])
	}
	return b.String()
}

func randomKeys(r *rand.Rand, n int) []string {
	seen := make(map[string]bool, n)
	out := make([]string, 0, n)
	for len(out) < n {
		k := randomKey(r)
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// buildMap builds the tree of m with Build.
func buildMap(tb testing.TB, m map[string]cid.Cid) *mst.Tree {
	tb.Helper()
	keys := slices.Sorted(maps.Keys(m))
	entries := make([]mst.Entry, len(keys))
	for i, k := range keys {
		entries[i] = mst.Entry{Key: k, Value: m[k]}
	}
	t, err := mst.Build(nil, entries)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// store persists a tree's unstored blocks and returns the tree reloaded
// lazily from the store.
func store(tb testing.TB, s *mst.MemBlocks, t *mst.Tree) *mst.Tree {
	tb.Helper()
	blocks, err := t.UnstoredBlocks(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	s.PutMany(blocks)
	return mst.Load(s, rootOf(tb, t))
}

func TestOrderIndependence(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(5) {
		r := rand.New(rand.NewPCG(seed, 1))
		n := []int{1, 10, 100, 1000, 3000}[seed]
		keys := randomKeys(r, n)
		m := make(map[string]cid.Cid, n)
		for i, k := range keys {
			m[k] = valueCID(i)
		}
		want := rootOf(t, buildMap(t, m))
		for trial := range 3 {
			r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			tr := mst.New(nil)
			var err error
			if trial == 0 {
				// One at a time.
				for _, k := range keys {
					if tr, err = tr.Add(ctx, k, m[k]); err != nil {
						t.Fatal(err)
					}
				}
			} else {
				// In batches of random sizes.
				for i := 0; i < len(keys); {
					j := min(len(keys), i+1+r.IntN(50))
					var ws []mst.Write
					for _, k := range keys[i:j] {
						ws = append(ws, mst.Write{Action: mst.ActionCreate, Key: k, Value: m[k]})
					}
					if tr, err = tr.Apply(ctx, ws); err != nil {
						t.Fatal(err)
					}
					i = j
				}
			}
			if got := rootOf(t, tr); got != want {
				t.Errorf("seed %d trial %d: root %s, Build gives %s", seed, trial, got, want)
			}
			if c, err := tr.LeafCount(ctx); err != nil || c != n {
				t.Errorf("seed %d: LeafCount() = %d, %v, want %d", seed, c, err, n)
			}
		}
		// Every key is found, in memory and loaded lazily.
		tr := store(t, &mst.MemBlocks{}, buildMap(t, m))
		for k, v := range m {
			if got, err := tr.Get(ctx, k); err != nil || got != v {
				t.Fatalf("Get(%q) = %v, %v, want %v", k, got, err, v)
			}
		}
		if _, err := tr.Get(ctx, "app.bsky.feed.post/zzzzzzzzzzzzzz"); !errors.Is(err, mst.ErrNotFound) {
			t.Errorf("Get(absent) = %v, want ErrNotFound", err)
		}
	}
}

// TestRandomOps applies seeded random op sequences, in batches, to a tree
// that is persisted and reloaded between batches, and checks every step
// against a map: the root equals Build's, Get, List and LeafCount agree,
// UnstoredBlocks is exactly the diff's created nodes, and one-by-one
// application gives the same root as the batch.
func TestRandomOps(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(4) {
		r := rand.New(rand.NewPCG(seed, 2))
		s := &mst.MemBlocks{}
		m := map[string]cid.Cid{}
		tr := store(t, s, mst.New(nil))
		pool := randomKeys(r, 300)
		next := 1000
		for step := range 40 {
			var ws []mst.Write
			ref := maps.Clone(m)
			nw := 1 + r.IntN(20)
			if step == 0 {
				nw = 150
			}
			for range nw {
				k := pool[r.IntN(len(pool))]
				_, present := ref[k]
				next++
				v := valueCID(next)
				var w mst.Write
				switch op := r.IntN(4); {
				case !present && op < 3:
					w = mst.Write{Action: mst.ActionCreate, Key: k, Value: v}
				case !present:
					w = mst.Write{Action: mst.ActionPut, Key: k, Value: v}
				case op == 0:
					w = mst.Write{Action: mst.ActionUpdate, Key: k, Value: v}
				case op == 1:
					w = mst.Write{Action: mst.ActionPut, Key: k, Value: v}
				default:
					w = mst.Write{Action: mst.ActionDelete, Key: k}
				}
				if w.Action == mst.ActionDelete {
					delete(ref, k)
				} else {
					ref[k] = v
				}
				ws = append(ws, w)
			}
			next2, err := tr.Apply(ctx, ws)
			if err != nil {
				t.Fatalf("seed %d step %d: Apply: %v", seed, step, err)
			}
			want := rootOf(t, buildMap(t, ref))
			if got := rootOf(t, next2); got != want {
				t.Fatalf("seed %d step %d: root %s, want %s", seed, step, got, want)
			}
			// One by one gives the same root.
			one := tr
			for _, w := range ws {
				if one, err = one.Apply(ctx, []mst.Write{w}); err != nil {
					t.Fatal(err)
				}
			}
			if got := rootOf(t, one); got != want {
				t.Fatalf("seed %d step %d: one-by-one root %s, want %s", seed, step, got, want)
			}
			// The unstored blocks are exactly the created nodes.
			d, err := mst.Diff(ctx, tr, next2)
			if err != nil {
				t.Fatal(err)
			}
			blocks, _ := next2.UnstoredBlocks(ctx)
			got := slices.Collect(maps.Keys(blocks))
			if !sameCIDs(got, d.CreatedNodes) {
				for _, c := range got {
					if !slices.Contains(d.CreatedNodes, c) {
						t.Logf("extra %s in store %v", c, s.Has(c))
					}
				}
				t.Logf("writes %v", ws)
				t.Logf("old:\n%s\nnew:\n%s", tr.Dump(ctx), next2.Dump(ctx))
				t.Fatalf("seed %d step %d: UnstoredBlocks() = %d blocks, want the %d created nodes", seed, step, len(got), len(d.CreatedNodes))
			}
			for c, b := range blocks {
				if mst.CBORCIDForTest(b) != c {
					t.Fatalf("unstored block %s does not hash to its CID", c)
				}
			}
			// The old tree is unchanged.
			if c, err := tr.LeafCount(ctx); err != nil || c != len(m) {
				t.Fatalf("old tree LeafCount() = %d, %v, want %d", c, err, len(m))
			}
			m = ref
			tr = store(t, s, next2)
			checkContents(t, tr, m)
		}
	}
}

func sameCIDs(a, b []cid.Cid) bool {
	x, y := cidStrings(a), cidStrings(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// checkContents compares the tree with m through Get, List, Walk,
// ListWithPrefix and LeafCount.
func checkContents(t *testing.T, tr *mst.Tree, m map[string]cid.Cid) {
	t.Helper()
	ctx := context.Background()
	keys := slices.Sorted(maps.Keys(m))
	if c, err := tr.LeafCount(ctx); err != nil || c != len(keys) {
		t.Fatalf("LeafCount() = %d, %v, want %d", c, err, len(keys))
	}
	all, err := tr.List(ctx, mst.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(keys) {
		t.Fatalf("List() = %d entries, want %d", len(all), len(keys))
	}
	for i, e := range all {
		if e.Key != keys[i] || e.Value != m[e.Key] {
			t.Fatalf("List()[%d] = %v, want %s", i, e, keys[i])
		}
	}
	for _, k := range keys {
		if v, err := tr.Get(ctx, k); err != nil || v != m[k] {
			t.Fatalf("Get(%q) = %v, %v, want %v", k, v, err, m[k])
		}
	}
	r := rand.New(rand.NewPCG(uint64(len(keys)), 3))
	for range 20 {
		after, before := randomKey(r), randomKey(r)
		if r.IntN(4) == 0 && len(keys) > 0 {
			after = keys[r.IntN(len(keys))]
		}
		if r.IntN(5) == 0 {
			after = ""
		}
		if r.IntN(5) == 0 {
			before = ""
		}
		limit := r.IntN(30)
		var want []string
		for _, k := range keys {
			if (after == "" || k > after) && (before == "" || k < before) {
				want = append(want, k)
			}
		}
		for _, rev := range []bool{false, true} {
			w := slices.Clone(want)
			if rev {
				slices.Reverse(w)
			}
			if limit > 0 && len(w) > limit {
				w = w[:limit]
			}
			got, err := tr.List(ctx, mst.ListOptions{After: after, Before: before, Limit: limit, Reverse: rev})
			if err != nil {
				t.Fatal(err)
			}
			var g []string
			for _, e := range got {
				g = append(g, e.Key)
			}
			if !slices.Equal(g, w) {
				t.Fatalf("List(%q, %q, %d, %v) = %v, want %v", after, before, limit, rev, g, w)
			}
		}
		// Walk from a key.
		var walked []string
		err := tr.Walk(ctx, after, func(e mst.Entry) error {
			if len(walked) == 5 {
				return mst.SkipAll
			}
			walked = append(walked, e.Key)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var w []string
		for _, k := range keys {
			if k >= after && len(w) < 5 {
				w = append(w, k)
			}
		}
		if !slices.Equal(walked, w) {
			t.Fatalf("Walk(%q) = %v, want %v", after, walked, w)
		}
	}
	for _, c := range collections {
		prefix := c + "/"
		got, err := tr.ListWithPrefix(ctx, prefix, 0)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, k := range keys {
			if strings.HasPrefix(k, prefix) {
				want = append(want, k)
			}
		}
		var g []string
		for _, e := range got {
			g = append(g, e.Key)
		}
		if !slices.Equal(g, want) {
			t.Fatalf("ListWithPrefix(%q) = %d keys, want %d", prefix, len(g), len(want))
		}
	}
}

// TestDiffProperty diffs random pairs of trees: the record ops applied to a
// give b, the created and deleted nodes are the set differences of the
// trees' nodes, and both the inductive proof and the covering proof (with
// the created nodes) let VerifyInversion get back from b to a.
func TestDiffProperty(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(8) {
		r := rand.New(rand.NewPCG(seed, 4))
		pool := randomKeys(r, 400)
		ma, mb := map[string]cid.Cid{}, map[string]cid.Cid{}
		for i, k := range pool {
			switch r.IntN(6) {
			case 0:
				ma[k] = valueCID(i)
			case 1:
				mb[k] = valueCID(i)
			case 2:
				ma[k] = valueCID(i)
				mb[k] = valueCID(i + 1000)
			default:
				if seed%2 == 0 {
					ma[k] = valueCID(i)
					mb[k] = valueCID(i)
				}
			}
		}
		s := &mst.MemBlocks{}
		a := store(t, s, buildMap(t, ma))
		b := buildMap(t, mb)
		d, err := mst.Diff(ctx, a, b)
		if err != nil {
			t.Fatal(err)
		}
		// DiffChanges: the same changes, no proofs.
		dc, err := mst.DiffChanges(ctx, a, b)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(dc.CreatedNodes, dc.DeletedNodes, dc.RecordOps) != fmt.Sprint(d.CreatedNodes, d.DeletedNodes, d.RecordOps) || dc.ProofNodes != nil || dc.InductiveProofNodes != nil {
			t.Fatalf("seed %d: DiffChanges differs from Diff's changes, or has proofs", seed)
		}
		var ws []mst.Write
		for _, op := range d.RecordOps {
			switch {
			case !op.Old.Defined():
				ws = append(ws, mst.Write{Action: mst.ActionCreate, Key: op.Key, Value: op.New})
			case !op.New.Defined():
				ws = append(ws, mst.Write{Action: mst.ActionDelete, Key: op.Key})
			default:
				ws = append(ws, mst.Write{Action: mst.ActionUpdate, Key: op.Key, Value: op.New})
			}
		}
		a2, err := a.Apply(ctx, ws)
		if err != nil {
			t.Fatal(err)
		}
		if rootOf(t, a2) != rootOf(t, b) {
			t.Fatalf("seed %d: diff(a, b) applied to a is not b", seed)
		}
		nodesA, nodesB := allNodes(t, a), allNodes(t, b)
		var created, deleted []cid.Cid
		for c := range nodesB {
			if _, ok := nodesA[c]; !ok {
				created = append(created, c)
			}
		}
		for c := range nodesA {
			if _, ok := nodesB[c]; !ok {
				deleted = append(deleted, c)
			}
		}
		if !sameCIDs(created, d.CreatedNodes) || !sameCIDs(deleted, d.DeletedNodes) {
			t.Fatalf("seed %d: created/deleted nodes %d/%d, want %d/%d", seed, len(d.CreatedNodes), len(d.DeletedNodes), len(created), len(deleted))
		}
		// Inversion from the inductive proof alone.
		proofBlocks := &mst.MemBlocks{}
		for _, c := range d.InductiveProofNodes {
			proofBlocks.Put(c, nodesB[c])
		}
		if err := mst.VerifyInversion(ctx, proofBlocks, rootOf(t, b), d.RecordOps, rootOf(t, a)); err != nil {
			t.Errorf("seed %d: VerifyInversion(inductive proof) = %v", seed, err)
		}
		// Inversion from the created nodes and the covering proof.
		var keys []string
		for _, op := range d.RecordOps {
			keys = append(keys, op.Key)
		}
		cover, err := b.CoveringProof(ctx, keys)
		if err != nil {
			t.Fatal(err)
		}
		unstored, _ := b.UnstoredBlocks(ctx)
		evt := &mst.MemBlocks{}
		for _, c := range d.CreatedNodes {
			evt.Put(c, unstored[c])
		}
		evt.PutMany(cover)
		if err := mst.VerifyInversion(ctx, evt, rootOf(t, b), d.RecordOps, rootOf(t, a)); err != nil {
			t.Errorf("seed %d: VerifyInversion(covering proof) = %v", seed, err)
		}
		// Without the proof, inversion needs blocks it does not have.
		if len(d.RecordOps) > 0 {
			err := mst.VerifyInversion(ctx, &mst.MemBlocks{}, rootOf(t, b), d.RecordOps, rootOf(t, a))
			if !errors.Is(err, mst.ErrMissingBlock) {
				t.Errorf("seed %d: VerifyInversion(no blocks) = %v, want ErrMissingBlock", seed, err)
			}
		}
	}
}

// allNodes returns every node of t, through Blocks.
func allNodes(tb testing.TB, t *mst.Tree) map[cid.Cid][]byte {
	tb.Helper()
	out := map[cid.Cid][]byte{}
	err := t.Blocks(context.Background(), nil, func(c cid.Cid, data []byte) error {
		if _, dup := out[c]; dup {
			return fmt.Errorf("node %s visited twice", c)
		}
		out[c] = slices.Clone(data)
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestConcurrentUse reads and derives trees from one shared tree in
// parallel (run with -race).
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(11, 11))
	m := map[string]cid.Cid{}
	for i, k := range randomKeys(r, 2000) {
		m[k] = valueCID(i)
	}
	s := &mst.MemBlocks{}
	base := buildMap(t, m)
	loaded := store(t, s, base)
	keys := slices.Sorted(maps.Keys(m))
	done := make(chan error)
	for g := range 4 {
		go func() {
			var err error
			defer func() { done <- err }()
			tr := []*mst.Tree{base, loaded}[g%2]
			for i := range 50 {
				k := keys[(g*97+i*31)%len(keys)]
				if _, err = tr.Get(ctx, k); err != nil {
					return
				}
				if _, err = tr.List(ctx, mst.ListOptions{After: k, Limit: 10}); err != nil {
					return
				}
				var next *mst.Tree
				if next, err = tr.Put(ctx, k, valueCID(-g)); err != nil {
					return
				}
				if _, err = next.UnstoredBlocks(ctx); err != nil {
					return
				}
				if _, err = mst.Diff(ctx, tr, next); err != nil {
					return
				}
			}
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if got := rootOf(t, base); got != rootOf(t, buildMap(t, m)) {
		t.Errorf("shared tree changed")
	}
}
