package mst_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/mst"
)

type proofFixture struct {
	Comment          string   `json:"comment"`
	LeafValue        string   `json:"leafValue"`
	Keys             []string `json:"keys"`
	Adds             []string `json:"adds"`
	Dels             []string `json:"dels"`
	RootBeforeCommit string   `json:"rootBeforeCommit"`
	RootAfterCommit  string   `json:"rootAfterCommit"`
	BlocksInProof    []string `json:"blocksInProof"`
}

// TestCommitProofFixtures runs both generations of the interop
// commit-proof fixtures: the roots before and after the commit, the
// covering proof as a set, and the inversion of the ops on the proof blocks
// alone.
func TestCommitProofFixtures(t *testing.T) {
	ctx := context.Background()
	for _, path := range []string{
		"../testdata/interop/firehose/commit-proof-fixtures.json",
		"../testdata/arroba/interop-older/commit-proof-fixtures.json",
	} {
		var fixtures []proofFixture
		if err := json.Unmarshal(readFile(t, path), &fixtures); err != nil {
			t.Fatal(err)
		}
		if len(fixtures) != 6 {
			t.Fatalf("%s: %d fixtures, want 6", path, len(fixtures))
		}
		for _, f := range fixtures {
			t.Run(path[len("../testdata/"):]+"/"+f.Comment, func(t *testing.T) {
				v := mustCID(t, f.LeafValue)
				store := &mst.MemBlocks{}
				before := buildByAdding(t, nil, f.Keys, v)
				if got := rootOf(t, before).String(); got != f.RootBeforeCommit {
					t.Fatalf("root before = %s, want %s", got, f.RootBeforeCommit)
				}
				blocks, _ := before.UnstoredBlocks(ctx)
				store.PutMany(blocks)
				// Apply the commit to the stored tree, lazily loaded.
				var writes []mst.Write
				var ops []mst.RecordOp
				var keys []string
				for _, k := range f.Adds {
					writes = append(writes, mst.Write{Action: mst.ActionCreate, Key: k, Value: v})
					ops = append(ops, mst.RecordOp{Key: k, New: v})
					keys = append(keys, k)
				}
				for _, k := range f.Dels {
					writes = append(writes, mst.Write{Action: mst.ActionDelete, Key: k})
					ops = append(ops, mst.RecordOp{Key: k, Old: v})
					keys = append(keys, k)
				}
				after, err := mst.Load(store, rootOf(t, before)).Apply(ctx, writes)
				if err != nil {
					t.Fatal(err)
				}
				if got := rootOf(t, after).String(); got != f.RootAfterCommit {
					t.Fatalf("root after = %s, want %s", got, f.RootAfterCommit)
				}
				newBlocks, _ := after.UnstoredBlocks(ctx)
				store.PutMany(newBlocks)

				for name, tr := range map[string]*mst.Tree{
					"memory": after,
					"loaded": mst.Load(store, rootOf(t, after)),
				} {
					proof, err := tr.CoveringProof(ctx, keys)
					if err != nil {
						t.Fatal(err)
					}
					var got []string
					for c := range proof {
						got = append(got, c.String())
					}
					slices.Sort(got)
					want := slices.Clone(f.BlocksInProof)
					slices.Sort(want)
					if !slices.Equal(got, want) {
						t.Errorf("%s CoveringProof() = %v, want %v", name, got, want)
					}
					// The proof blocks alone suffice to invert the commit.
					err = mst.VerifyInversion(ctx, mst.NewMemBlocks(proof), rootOf(t, after), ops, mustCID(t, f.RootBeforeCommit))
					if err != nil {
						t.Errorf("%s VerifyInversion() = %v", name, err)
					}
				}
				// A wrong previous root is detected.
				proof, _ := after.CoveringProof(ctx, keys)
				err = mst.VerifyInversion(ctx, mst.NewMemBlocks(proof), rootOf(t, after), ops, mustCID(t, f.RootAfterCommit))
				if !errors.Is(err, mst.ErrRootMismatch) {
					t.Errorf("VerifyInversion(wrong prevData) = %v, want ErrRootMismatch", err)
				}
			})
		}
	}
}

var _ = cid.Undef
