package testutil

import (
	"cmp"
	"context"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/atlite-dev/atlite/internal/storage"
)

// identityBlock is a block whose CID's digest is data itself, so that its
// block key (the digest's first 8 bytes) is data's first 8 bytes: two such
// blocks can be made to share a key.
func identityBlock(tb testing.TB, data string) storage.Block {
	tb.Helper()
	c, err := cid.NewPrefixV1(cid.Raw, multihash.IDENTITY).Sum([]byte(data))
	if err != nil {
		tb.Fatal(err)
	}
	return storage.Block{CID: c, Data: []byte(data)}
}

// CheckBlockRanges checks a backend's BlockIDs and GetBlocksByID on an
// empty database b: blocks stored by two transactions, one of them in the
// overflow table (its key taken), get ids that grow from one transaction
// to the next;
// the overflowed and missing blocks have none; a range gives exactly the
// blocks asked for whose ids it holds.
func CheckBlockRanges(t *testing.T, b storage.Backend) {
	t.Helper()
	ctx := context.Background()
	first := []storage.Block{identityBlock(t, "keyAAAAA-one"), identityBlock(t, "block-two"), identityBlock(t, "block-three")}
	second := []storage.Block{identityBlock(t, "block-four"), identityBlock(t, "keyAAAAA-other"), identityBlock(t, "block-five")}
	absent := identityBlock(t, "block-absent")
	for _, blocks := range [][]storage.Block{first, second} {
		if err := b.Update(ctx, nil, func(tx storage.WriteTx) error { return tx.PutBlocks(ctx, blocks) }); err != nil {
			t.Fatalf("PutBlocks = %v", err)
		}
	}
	var all []cid.Cid
	for _, blk := range append(append(append([]storage.Block{}, first...), second...), absent) {
		all = append(all, blk.CID)
	}
	ids := map[cid.Cid]int64{}
	if err := b.Reader().BlockIDs(ctx, all, ids); err != nil {
		t.Fatalf("BlockIDs = %v", err)
	}
	// In the blocks table: all but the overflowed block and the absent one.
	inTable := []cid.Cid{all[0], all[1], all[2], all[3], all[5]}
	if len(ids) != len(inTable) {
		t.Fatalf("BlockIDs gave %d ids, want %d (not the overflowed block %s, nor the absent one): %v", len(ids), len(inTable), all[4], ids)
	}
	for i, c := range inTable {
		if _, ok := ids[c]; !ok {
			t.Fatalf("BlockIDs left out block %d", i)
		}
	}
	// The second transaction's blocks come after the first's (within one,
	// a backend may store them in any order: PostgreSQL sorts them).
	for _, c := range inTable[:3] {
		for _, d := range inTable[3:] {
			if ids[c] >= ids[d] {
				t.Errorf("ids %v: a block of the second transaction before one of the first", ids)
			}
		}
	}
	byID := slices.Clone(inTable)
	slices.SortFunc(byID, func(a, b cid.Cid) int { return cmp.Compare(ids[a], ids[b]) })
	data := map[cid.Cid]string{}
	for _, blk := range append(append([]storage.Block{}, first...), second...) {
		data[blk.CID] = string(blk.Data)
	}
	tests := []struct {
		name   string
		lo, hi int64
		ask    []cid.Cid
		want   []cid.Cid
	}{
		{"middle", ids[byID[1]], ids[byID[3]], all, byID[1:4]},
		{"only those asked", ids[byID[0]], ids[byID[4]], []cid.Cid{byID[0], all[4], byID[4], absent.CID}, []cid.Cid{byID[0], byID[4]}},
		{"one", ids[byID[2]], ids[byID[2]], all, byID[2:3]},
		{"empty range", ids[byID[3]], ids[byID[2]], all, nil},
		{"nothing asked", ids[byID[0]], ids[byID[4]], nil, nil},
	}
	for _, tt := range tests {
		got := map[cid.Cid][]byte{}
		if err := b.Reader().GetBlocksByID(ctx, tt.lo, tt.hi, tt.ask, got); err != nil {
			t.Fatalf("%s: GetBlocksByID = %v", tt.name, err)
		}
		if len(got) != len(tt.want) {
			t.Errorf("%s: GetBlocksByID gave %d blocks, want %d", tt.name, len(got), len(tt.want))
		}
		for _, c := range tt.want {
			if string(got[c]) != data[c] {
				t.Errorf("%s: block %q = %q", tt.name, data[c], got[c])
			}
		}
	}
}
