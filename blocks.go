package atlite

import (
	"context"
	"errors"
	"fmt"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/internal/storage"
	"github.com/atlite-dev/atlite/mst"
	"github.com/atlite-dev/atlite/syntax"
)

// Block is a content-addressed block: a commit, an MST node or a record.
type Block = storage.Block

// putBlocks stores blocks that are not stored yet, inside tx.
func putBlocks(ctx context.Context, tx storage.WriteTx, blocks []Block) error {
	return tx.PutBlocks(ctx, blocks)
}

// txBlocks reads blocks through a transaction; it implements mst.BlockSource.
// When cache is set, blocks are looked up there first and added to it when
// read from the file.
type txBlocks struct {
	tx    storage.ReadTx
	cache *lru.Cache[cid.Cid, []byte]
	// overlay, when set, holds blocks written earlier in the transaction.
	overlay map[cid.Cid][]byte
}

// cachedBlocks reads MST nodes inside a write transaction through the node
// cache. Only blocks read from the file or written by committed
// transactions enter the cache.
func (s *Store) cachedBlocks(tx storage.ReadTx) *txBlocks {
	return &txBlocks{tx: tx, cache: s.nodeCache}
}

// cacheNodes adds the MST nodes of a committed transaction to the cache.
func (s *Store) cacheNodes(blocks []Block) {
	if s.nodeCache == nil {
		return
	}
	for _, b := range blocks {
		s.nodeCache.Add(b.CID, b.Data)
	}
}

// viewBlocks reads blocks inside a read (or write) transaction.
func viewBlocks(tx storage.ReadTx) *txBlocks { return &txBlocks{tx: tx} }

// GetBlock returns the block's bytes. txBlocks reads the blocks that stored
// repos refer to (head commits, MST nodes, records), so a missing one is
// damage: the error wraps ErrCorrupt and, as the mst.BlockSource contract
// asks, mst.ErrNotFound; never ErrNotFound, which would read as a missing
// repo or record.
func (b *txBlocks) GetBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	if data, ok := b.overlay[c]; ok {
		return data, nil
	}
	if b.cache != nil {
		if data, ok := b.cache.Get(c); ok {
			return data, nil
		}
	}
	data, err := b.tx.GetBlock(ctx, c)
	if errors.Is(err, ErrNotFound) {
		return nil, &missingBlockError{c: c}
	}
	if err != nil {
		return nil, err
	}
	if b.cache != nil {
		b.cache.Add(c, data)
	}
	return data, nil
}

// getMany returns the blocks among cids that are stored, with one query for
// all of them (a block in the overflow table costs one more).
func (b *txBlocks) getMany(ctx context.Context, cids []cid.Cid) (map[cid.Cid][]byte, error) {
	got := make(map[cid.Cid][]byte, len(cids))
	if err := b.tx.GetBlocks(ctx, cids, got); err != nil {
		return nil, err
	}
	return got, nil
}

// missingBlockError reports a block that a stored repo refers to and the
// file lacks. It matches ErrCorrupt and mst.ErrNotFound (the mst.BlockSource
// contract for a block the source does not hold), not ErrNotFound.
type missingBlockError struct{ c cid.Cid }

func (e *missingBlockError) Error() string {
	return fmt.Sprintf("%v: block %s is missing", ErrCorrupt, e.c)
}

func (e *missingBlockError) Is(target error) bool {
	return target == ErrCorrupt || target == mst.ErrNotFound
}

// treeDamage marks as damage (ErrCorrupt) an error of a walk over a stored
// tree that reports a missing or malformed node: the tree reports those
// inside an *mst.NodeError wrapping mst.ErrMissingBlock or
// mst.ErrMalformedNode, and no longer carries the block source's error.
// Other errors (the context's, a bad write) are returned as they are.
func treeDamage(err error) error {
	if err == nil || errors.Is(err, ErrCorrupt) {
		return err
	}
	var ne *mst.NodeError
	if errors.As(err, &ne) && (errors.Is(err, mst.ErrMissingBlock) || errors.Is(err, mst.ErrMalformedNode)) {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return err
}

// GetBlock returns the bytes of the block c, or ErrNotFound.
func (s *Store) GetBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	return s.b.Reader().GetBlock(ctx, c)
}

// HasBlock reports whether the block c is stored.
func (s *Store) HasBlock(ctx context.Context, c cid.Cid) (bool, error) {
	_, err := s.GetBlock(ctx, c)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// GetBlocks returns the stored blocks among cids, in the order asked, from
// one consistent snapshot; missing CIDs are listed in missing.
func (s *Store) GetBlocks(ctx context.Context, cids []cid.Cid) (found []Block, missing []cid.Cid, err error) {
	done, err := s.enter()
	if err != nil {
		return nil, nil, err
	}
	defer done()
	err = s.b.View(ctx, func(tx storage.ReadTx) error {
		got, err := viewBlocks(tx).getMany(ctx, cids)
		if err != nil {
			return err
		}
		for _, c := range cids {
			if data, ok := got[c]; ok {
				found = append(found, Block{CID: c, Data: data})
			} else {
				missing = append(missing, c)
			}
		}
		return nil
	})
	return found, missing, err
}

// GetRepoBlocks is GetBlocks for the blocks of one repo only
// (com.atproto.sync.getBlocks): a block is the repo's when it is its head
// commit, a commit or block that one of its kept events carries, or a node
// or record of its current tree. Blocks stored for other repos only, and
// CIDs not stored, are listed in missing. It reads from one snapshot: the
// repo's events first, then, only for stored blocks still unowned, its
// tree, which it walks (nodes only, no record is read) until it has found
// them all, so a stored block that is not the repo's costs a walk of the
// whole tree. An unknown repo gives ErrRepoNotFound.
func (s *Store) GetRepoBlocks(ctx context.Context, did syntax.DID, cids []cid.Cid) (found []Block, missing []cid.Cid, err error) {
	done, err := s.enter()
	if err != nil {
		return nil, nil, err
	}
	defer done()
	err = s.b.View(ctx, func(tx storage.ReadTx) error {
		h, err := tx.Head(ctx, did.String())
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("%s: %w", did, ErrRepoNotFound)
		}
		if err != nil {
			return err
		}
		want := make(map[cid.Cid]bool, len(cids)) // true once owned
		for _, c := range cids {
			want[c] = false
		}
		left := len(want)
		own := func(c cid.Cid) {
			if owned, ok := want[c]; ok && !owned {
				want[c] = true
				left--
			}
		}
		head, err := cid.Cast(h.Head)
		if err != nil {
			return fmt.Errorf("%w: head %x: %v", ErrCorrupt, h.Head, err)
		}
		own(head)
		err = eachEvent(ctx, tx, 0, did.String(), func(row *storage.EventRow) error {
			if left == 0 {
				return errStop
			}
			if row.Kind != string(KindCommit) && row.Kind != string(KindSync) {
				return nil
			}
			e := Event{Seq: row.Seq, Kind: EventKind(row.Kind)}
			if err := e.decodeBody(row.Body); err != nil {
				return fmt.Errorf("%w: event %d: %v", ErrCorrupt, row.Seq, err)
			}
			own(e.Commit)
			for _, c := range e.Blocks {
				own(c)
			}
			return nil
		})
		if err != nil {
			return err
		}
		// The blocks asked for, stored; a CID not stored costs no walk.
		got, err := viewBlocks(tx).getMany(ctx, cids)
		if err != nil {
			return err
		}
		for c, owned := range want {
			if _, ok := got[c]; !ok && !owned {
				want[c] = true // missing anyway: nothing to look for
				left--
			}
		}
		if left > 0 {
			data, err := cid.Cast(h.Data)
			if err != nil {
				return fmt.Errorf("%w: data %x: %v", ErrCorrupt, h.Data, err)
			}
			err = mst.Load(newPrefetcher(tx), data).Blocks(ctx, noRecords{}, func(c cid.Cid, _ []byte) error {
				if own(c); left == 0 {
					return mst.SkipAll
				}
				return nil
			})
			if err != nil {
				return damage(fmt.Errorf("tree of %s: %w", did, err))
			}
		}
		for _, c := range cids {
			if data, ok := got[c]; ok && want[c] {
				found = append(found, Block{CID: c, Data: data})
			} else {
				missing = append(missing, c)
			}
		}
		return nil
	})
	return found, missing, err
}
