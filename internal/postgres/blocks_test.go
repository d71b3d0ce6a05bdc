package postgres_test

import (
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/atlite-dev/atlite/internal/postgres"
	"github.com/atlite-dev/atlite/internal/storage"
	"github.com/atlite-dev/atlite/internal/testutil"
)

// identityCID is a CID whose digest is data itself: the block key (its
// digest's first 8 bytes) is then data's first 8 bytes, so two such CIDs
// can be made to share a key.
func identityCID(tb testing.TB, data string) cid.Cid {
	tb.Helper()
	c, err := cid.NewPrefixV1(cid.Raw, multihash.IDENTITY).Sum([]byte(data))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// TestPutBlocksMultiRow: PutBlocks inserts several blocks a statement on
// PostgreSQL (11 blocks: statements of 8, 2 and 1); a block stored already
// is left as it is, one given twice is stored once, and one whose key
// another CID holds (in the same call or from before) goes to
// blocks_overflow; every block reads back.
func TestPutBlocksMultiRow(t *testing.T) {
	db, dsn := migrated(t)
	b, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	defer b.Close()
	put := func(blocks ...storage.Block) {
		t.Helper()
		if err := b.Update(ctx, nil, func(tx storage.WriteTx) error { return tx.PutBlocks(ctx, blocks) }); err != nil {
			t.Fatalf("PutBlocks = %v", err)
		}
	}
	block := func(data string) storage.Block { return storage.Block{CID: identityCID(t, data), Data: []byte(data)} }

	put(block("keyAAAAA-first"))
	var batch []storage.Block
	for i := range 8 {
		batch = append(batch, block(fmt.Sprintf("block-%02d-of-the-batch", i)))
	}
	batch = append(batch,
		block("keyAAAAA-first"),                      // stored already
		block("keyAAAAA-second"),                     // its key taken by the first
		block("block-00-of-the-batch"),               // given twice
		block("keyBBBBB-one"), block("keyBBBBB-two"), // sharing a key within the call
	)
	put(batch...)

	var n, overflow int
	if err := db.QueryRowxContext(ctx, `SELECT count(*) FROM blocks`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowxContext(ctx, `SELECT count(*) FROM blocks_overflow`).Scan(&overflow); err != nil {
		t.Fatal(err)
	}
	if n != 10 || overflow != 2 {
		t.Errorf("%d blocks and %d in blocks_overflow, want 10 and 2", n, overflow)
	}
	want := map[cid.Cid]string{}
	var cids []cid.Cid
	for _, blk := range batch {
		if _, ok := want[blk.CID]; !ok {
			cids = append(cids, blk.CID)
		}
		want[blk.CID] = string(blk.Data)
	}
	got := map[cid.Cid][]byte{}
	if err := b.Reader().GetBlocks(ctx, cids, got); err != nil {
		t.Fatalf("GetBlocks = %v", err)
	}
	if len(got) != len(want) || len(want) != 12 {
		t.Errorf("GetBlocks found %d of %d blocks, want 12", len(got), len(want))
	}
	for c, data := range want {
		if string(got[c]) != data {
			t.Errorf("block %s = %q, want %q", c, got[c], data)
		}
	}
}

// TestBlockRanges: BlockIDs and GetBlocksByID on PostgreSQL.
func TestBlockRanges(t *testing.T) {
	_, dsn := migrated(t)
	b, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	defer b.Close()
	testutil.CheckBlockRanges(t, b)
}
