package atlite

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/car"
	"github.com/atlite-dev/atlite/internal/storage"
	"github.com/atlite-dev/atlite/mst"
	"github.com/atlite-dev/atlite/syntax"
)

// WriteRecordProof writes, for com.atproto.sync.getRecord, a CAR v1 file
// whose root is the repo's head commit and that holds the commit, the MST
// nodes on the path from the root to collection/rkey and, when the repo holds
// that record, the record itself: with these blocks a reader can check the
// commit's signature and that the record is in the tree with that CID (found
// is true), or that it is not (found is false: an exclusion proof). Blocks
// come in that order, each once, from one read snapshot. An unknown repo
// gives ErrRepoNotFound; an inactive one an [InactiveRepoError]; a missing
// or damaged block of the tree ErrCorrupt.
func (s *Store) WriteRecordProof(ctx context.Context, did syntax.DID, collection syntax.NSID, rkey syntax.RecordKey, w io.Writer) (found bool, err error) {
	done, err := s.enter()
	if err != nil {
		return false, err
	}
	defer done()
	if _, err := syntax.ParseNSID(collection.String()); err != nil {
		return false, fmt.Errorf("record proof: %w", err)
	}
	if _, err := syntax.ParseRecordKey(rkey.String()); err != nil {
		return false, fmt.Errorf("record proof: %w", err)
	}
	key := collection.String() + "/" + rkey.String()
	err = s.b.View(ctx, func(tx storage.ReadTx) error {
		h, err := tx.Repo(ctx, did.String())
		if err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("%s: %w", did, ErrRepoNotFound)
			}
			return err
		}
		if h.Status != nil {
			return &InactiveRepoError{DID: did.String(), Status: *h.Status}
		}
		head, err := cid.Cast(h.Head)
		if err != nil {
			return fmt.Errorf("stored head: %w", err)
		}
		data, err := cid.Cast(h.Data)
		if err != nil {
			return fmt.Errorf("stored data: %w", err)
		}
		src := viewBlocks(tx)
		tree := mst.Load(src, data)
		path, err := tree.CIDsForPath(ctx, key)
		if err != nil {
			return treeDamage(fmt.Errorf("path to %s: %w", key, err))
		}
		// When the tree holds the key, the path ends on its record.
		switch _, err := tree.Get(ctx, key); {
		case err == nil:
			found = true
		case !errors.Is(err, mst.ErrNotFound):
			return treeDamage(fmt.Errorf("look up %s: %w", key, err))
		}
		cw, err := car.NewWriter(w, []cid.Cid{head})
		if err != nil {
			return err
		}
		for _, c := range append([]cid.Cid{head}, path...) {
			b, err := src.GetBlock(ctx, c)
			if err != nil {
				return fmt.Errorf("block %s: %w", c, err)
			}
			if err := cw.WriteBlock(c, b); err != nil {
				return err
			}
		}
		return cw.Flush()
	})
	if err != nil {
		return false, fmt.Errorf("record proof of %s/%s: %w", did, key, err)
	}
	return found, nil
}
