package mst_test

import (
	"context"
	"errors"
	"maps"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/mst"
)

// fuzzKeys is a pool of keys on several layers.
var fuzzKeys = []string{
	"A0/374913", "A1/076595", "A2/827942", "A3/578971", "B0/601692", "B1/986427",
	"C0/451630", "C2/014073", "D0/952776", "D2/269196", "E0/670489", "E2/819540",
	"F0/697858", "F1/085263", "G0/765327", "G2/611528", "H0/131238", "app.bsky.feed.post/3jqfcqzm3fo2j",
	"app.bsky.feed.post/3jqfcqzm3fp2j", "app.bsky.feed.post/3jqfcqzm3fx2j", "app.bsky.feed.post/3jqfcqzm4fd2j",
	"com.example.record/3jqfcqzm3fs2j", "com.example.record/3jqfcqzm3ft2j", "com.example.record/3jqfcqzm3fz2j",
}

// FuzzOps reads a sequence of writes from the input (two bytes per write:
// action and key, value; a zero byte ends a batch) and applies it in
// batches to a tree that is stored and reloaded between batches. It checks
// the outcome against a map: errors exactly when the map says so, and
// roots equal to Build's.
func FuzzOps(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 0, 3, 0})
	f.Add([]byte{0, 1, 1, 2, 2, 3, 3, 4, 0, 0x13, 0x21, 0x32, 0})
	f.Add([]byte{4, 5, 4, 6, 4, 7, 8, 9, 0, 0x35, 0x36, 0x37, 0x38})
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		s := &mst.MemBlocks{}
		tr := mst.New(nil)
		m := map[string]cid.Cid{}
		var batch []mst.Write
		flush := func() {
			ref := maps.Clone(m)
			var wantErr error
			for _, w := range batch {
				_, present := ref[w.Key]
				switch {
				case w.Action == mst.ActionCreate && present:
					wantErr = mst.ErrExists
				case (w.Action == mst.ActionUpdate || w.Action == mst.ActionDelete) && !present:
					wantErr = mst.ErrNotFound
				case w.Action == mst.ActionDelete:
					delete(ref, w.Key)
				default:
					ref[w.Key] = w.Value
				}
				if wantErr != nil {
					break
				}
			}
			next, err := tr.Apply(ctx, batch)
			batch = batch[:0]
			if wantErr != nil {
				if !errors.Is(err, wantErr) {
					t.Fatalf("Apply() = %v, want %v", err, wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply() = %v", err)
			}
			if got, want := rootOf(t, next), rootOf(t, buildMap(t, ref)); got != want {
				t.Fatalf("root %s, want %s", got, want)
			}
			m = ref
			tr = store(t, s, next)
		}
		for i := 0; i+1 < len(data); i += 2 {
			if data[i] == 0 && data[i+1] == 0 {
				flush()
				continue
			}
			w := mst.Write{
				Action: mst.Action(data[i] % 4),
				Key:    fuzzKeys[int(data[i+1])%len(fuzzKeys)],
				Value:  valueCID(int(data[i] / 4)),
			}
			batch = append(batch, w)
		}
		flush()
		if n, err := tr.LeafCount(ctx); err != nil || n != len(m) {
			t.Fatalf("LeafCount() = %d, %v, want %d", n, err, len(m))
		}
	})
}
