package atlite

import (
	"context"
	"fmt"
	"strconv"

	"github.com/ipfs/go-cid"
	"github.com/jmoiron/sqlx"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/mst"
)

// manyBlocksSQL reads the blocks whose keys are listed in a JSON array.
const manyBlocksSQL = `SELECT cid, data FROM blocks WHERE k IN (SELECT value FROM json_each(?))`

// prefetcher serves the blocks of a pre-order tree walk with one query per
// MST node rather than one per block: when a node is read, the blocks it
// links to (its subtrees and records) are fetched together and kept until
// asked for. It holds O(depth x fanout) blocks. nodes serves the walk's
// nodes and records its records.
type prefetcher struct {
	many  *sqlx.Stmt
	one   mst.BlockSource
	ready map[cid.Cid][]byte
}

func (s *Store) prefetcher(ctx context.Context, tx *sqlx.Tx) (*prefetcher, error) {
	return newPrefetcher(ctx, tx, manyBlocksSQL, s.viewBlocks(ctx, tx))
}

// newPrefetcher prefetches with manySQL, which takes a JSON array of block
// keys and returns (cid, data) rows, and reads single blocks from one.
func newPrefetcher(ctx context.Context, tx *sqlx.Tx, manySQL string, one mst.BlockSource) (*prefetcher, error) {
	many, err := tx.PreparexContext(ctx, manySQL)
	if err != nil {
		return nil, err
	}
	return &prefetcher{many: many, one: one, ready: map[cid.Cid][]byte{}}, nil
}

func (p *prefetcher) close() { p.many.Close() }

// GetBlock implements mst.BlockSource for nodes: it serves a prefetched
// block, or reads it, then prefetches what the node links to.
func (p *prefetcher) GetBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	data, err := p.take(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := p.prefetchLinks(ctx, data); err != nil {
		return nil, err
	}
	return data, nil
}

// records returns the source for record blocks.
func (p *prefetcher) records() recordSource { return recordSource{p} }

type recordSource struct{ p *prefetcher }

func (r recordSource) GetBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	return r.p.take(ctx, c)
}

func (p *prefetcher) take(ctx context.Context, c cid.Cid) ([]byte, error) {
	if data, ok := p.ready[c]; ok {
		delete(p.ready, c)
		return data, nil
	}
	return p.one.GetBlock(ctx, c)
}

// prefetchLinks reads the CIDs a node links to and fetches those blocks in
// one query. A node that does not decode is left to the tree, which
// reports it properly.
func (p *prefetcher) prefetchLinks(ctx context.Context, node []byte) error {
	m, err := datamodel.UnmarshalMap(node)
	if err != nil {
		return nil
	}
	var want []cid.Cid
	add := func(v any) {
		if c, ok := v.(cid.Cid); ok {
			if _, have := p.ready[c]; !have {
				want = append(want, c)
			}
		}
	}
	add(m["l"])
	entries, _ := m["e"].([]any)
	for _, e := range entries {
		em, _ := e.(map[string]any)
		add(em["v"])
		add(em["t"])
	}
	if len(want) == 0 {
		return nil
	}
	if err := fetchMany(ctx, p.many, want, p.ready); err != nil {
		return fmt.Errorf("prefetch blocks: %w", err)
	}
	return nil
}

// fetchMany runs st, a query that takes a JSON array of block keys and
// returns (cid, data) rows, for cids in one round trip, and puts the blocks
// it finds into into. Blocks it does not find (absent, or in the overflow
// table) are simply not added.
func fetchMany(ctx context.Context, st *sqlx.Stmt, cids []cid.Cid, into map[cid.Cid][]byte) error {
	if len(cids) == 0 {
		return nil
	}
	byCID := make(map[string]cid.Cid, len(cids))
	list := make([]byte, 0, 1+21*len(cids))
	list = append(list, '[')
	for i, c := range cids {
		byCID[c.KeyString()] = c
		if i > 0 {
			list = append(list, ',')
		}
		list = strconv.AppendInt(list, blockKey(c), 10)
	}
	list = append(list, ']')
	rows, err := st.QueryxContext(ctx, string(list))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var cb, data []byte
		if err := rows.Scan(&cb, &data); err != nil {
			return err
		}
		if c, ok := byCID[string(cb)]; ok {
			into[c] = data
		}
	}
	return rows.Err()
}
