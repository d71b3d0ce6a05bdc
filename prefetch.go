package atlite

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/internal/storage"
	"github.com/atlite-dev/atlite/mst"
)

// prefetcher serves the blocks of a pre-order tree walk with one query per
// MST node rather than one per block: when a node is read, the blocks it
// links to (its subtrees and records) are fetched together and kept until
// asked for. It holds O(depth x fanout) blocks. nodes serves the walk's
// nodes and records its records.
type prefetcher struct {
	many  storage.BlockReader
	one   mst.BlockSource
	ready map[cid.Cid][]byte
}

// newPrefetcher prefetches from tx; single blocks not prefetched are
// read through viewBlocks (a missing one is damage).
func newPrefetcher(tx storage.ReadTx) *prefetcher {
	return &prefetcher{many: tx, one: viewBlocks(tx), ready: map[cid.Cid][]byte{}}
}

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
	if err := p.many.GetBlocks(ctx, want, p.ready); err != nil {
		return fmt.Errorf("prefetch blocks: %w", err)
	}
	return nil
}
