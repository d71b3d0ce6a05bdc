package atlite_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/car"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/testutil"
	"github.com/atlite-dev/atlite/mst"
)

func TestWriteRecordProof(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	did := newRepo(t, s, "did:web:user.com")
	var writes []commit.Write
	for _, rk := range []string{"3jzfcijpj2z2a", "3jzfcijpj2z2b", "3jzfcijpj2z2c", "3jzfcijpj2z2d", "3jzfcijpj2z2e", "3jzfcijpj2z2f"} {
		writes = append(writes, mustWrite(t, commit.Create, "app.bsky.feed.post", rk, map[string]any{"$type": "app.bsky.feed.post", "text": rk}))
	}
	res, err := s.Commit(ctx, did, writes, nil)
	if err != nil {
		t.Fatal(err)
	}
	seqBefore, _ := s.LastSeq(ctx, atlite.SubscribeReposNSID)

	read := func(t *testing.T, b []byte) (root cid.Cid, blocks map[cid.Cid][]byte, order []cid.Cid) {
		t.Helper()
		roots, bs, err := car.ReadAll(bytes.NewReader(b), nil)
		if err != nil || len(roots) != 1 {
			t.Fatalf("proof CAR: %v roots, %v", roots, err)
		}
		blocks = map[cid.Cid][]byte{}
		for _, bl := range bs {
			if _, dup := blocks[bl.CID]; dup {
				t.Errorf("block %s twice", bl.CID)
			}
			blocks[bl.CID] = bl.Data
			order = append(order, bl.CID)
		}
		return roots[0], blocks, order
	}

	t.Run("inclusion", func(t *testing.T) {
		var buf bytes.Buffer
		found, err := s.WriteRecordProof(ctx, did, "app.bsky.feed.post", "3jzfcijpj2z2c", &buf)
		if err != nil || !found {
			t.Fatalf("WriteRecordProof = %v, %v", found, err)
		}
		root, blocks, order := read(t, buf.Bytes())
		if root != res.CID || order[0] != res.CID {
			t.Fatalf("root %s, first block %s; want the head %s", root, order[0], res.CID)
		}
		c, err := commit.Decode(blocks[root])
		if err != nil || c.Verify(testutil.TestKey(t).PublicKey()) != nil {
			t.Fatalf("commit in proof: %v", err)
		}
		// The proof alone answers the lookup: the record's CID, the record's
		// bytes, and nothing else was needed.
		got, err := mst.Load(mst.NewMemBlocks(blocks), c.Data).Get(ctx, "app.bsky.feed.post/3jzfcijpj2z2c")
		if err != nil || got != res.Ops[2].CID {
			t.Fatalf("Get from the proof = %s, %v; want %s", got, err, res.Ops[2].CID)
		}
		if order[len(order)-1] != got || blocks[got] == nil {
			t.Errorf("the record is not the proof's last block")
		}
		path, _ := mst.Load(mst.NewMemBlocks(blocks), c.Data).CIDsForPath(ctx, "app.bsky.feed.post/3jzfcijpj2z2c")
		if len(order) != 1+len(path) {
			t.Errorf("proof has %d blocks, want the commit and the %d of the path", len(order), len(path))
		}
	})
	t.Run("exclusion", func(t *testing.T) {
		var buf bytes.Buffer
		found, err := s.WriteRecordProof(ctx, did, "app.bsky.feed.post", "3jzfcijpj2z2cz", &buf)
		if err != nil || found {
			t.Fatalf("WriteRecordProof(missing) = %v, %v", found, err)
		}
		_, blocks, _ := read(t, buf.Bytes())
		c, _ := commit.Decode(blocks[res.CID])
		if _, err := mst.Load(mst.NewMemBlocks(blocks), c.Data).Get(ctx, "app.bsky.feed.post/3jzfcijpj2z2cz"); !errors.Is(err, mst.ErrNotFound) {
			t.Errorf("Get(missing) from the exclusion proof = %v, want mst.ErrNotFound (and no missing block)", err)
		}
	})
	t.Run("errors", func(t *testing.T) {
		var buf bytes.Buffer
		if _, err := s.WriteRecordProof(ctx, "did:web:nobody.example", "app.bsky.feed.post", "a", &buf); !errors.Is(err, atlite.ErrNotFound) {
			t.Errorf("unknown repo = %v", err)
		}
		if _, err := s.WriteRecordProof(ctx, did, "not an nsid", "a", &buf); err == nil {
			t.Error("bad collection accepted")
		}
		if _, err := s.WriteRecordProof(ctx, did, "app.bsky.feed.post", "a/b", &buf); err == nil {
			t.Error("bad rkey accepted")
		}
		if buf.Len() != 0 {
			t.Errorf("refused proofs wrote %d bytes", buf.Len())
		}
		if err := s.Deactivate(ctx, did); err != nil {
			t.Fatal(err)
		}
		var ie *atlite.InactiveRepoError
		if _, err := s.WriteRecordProof(ctx, did, "app.bsky.feed.post", "3jzfcijpj2z2c", &buf); !errors.As(err, &ie) {
			t.Errorf("deactivated repo = %v, want InactiveRepoError", err)
		}
		if seq, _ := s.LastSeq(ctx, atlite.SubscribeReposNSID); seq != seqBefore+1 {
			t.Errorf("proofs wrote events: last seq %d, want %d", seq, seqBefore+1)
		}
	})
}
