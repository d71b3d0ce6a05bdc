package atlite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/mst"
)

// repoTree is the MST of one repo during a commit: loaded lazily from the
// file through the write transaction. Writes are collected (later writes
// to a path see earlier ones) and applied to the tree in one batch by
// commit, which touches each affected node once.
type repoTree struct {
	t       *mst.Tree
	pending map[string]cid.Cid // path -> new value, cid.Undef for deleted
	order   []string           // paths in the order first written
	was     map[string]cid.Cid // path -> value in the tree as loaded, as read
}

// newRepoTree loads the tree root from src, with decoded nodes looked up
// in nc first (nc may be nil).
func newRepoTree(src mst.BlockSource, root cid.Cid, nc *mst.NodeCache) (*repoTree, error) {
	return &repoTree{t: mst.LoadCached(src, root, nc), pending: map[string]cid.Cid{}, was: map[string]cid.Cid{}}, nil
}

// get returns the CID at path as the commit's earlier writes left it, or
// cid.Undef when there is none.
func (t *repoTree) get(ctx context.Context, path string) (cid.Cid, error) {
	if c, ok := t.pending[path]; ok {
		return c, nil
	}
	return t.base(ctx, path)
}

// base returns the CID at path in the tree as loaded, reading the tree once
// per path.
func (t *repoTree) base(ctx context.Context, path string) (cid.Cid, error) {
	if c, ok := t.was[path]; ok {
		return c, nil
	}
	c, err := t.t.Get(ctx, path)
	if errors.Is(err, mst.ErrNotFound) {
		c, err = cid.Undef, nil
	}
	if err != nil {
		return cid.Undef, fmt.Errorf("mst get %s: %w", path, err)
	}
	t.was[path] = c
	return c, nil
}

// set puts v at path, or deletes path when v is undefined. The key is
// checked now so that a bad one fails before anything is applied.
func (t *repoTree) set(ctx context.Context, path string, v cid.Cid) error {
	if err := mst.ValidateKey(path); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidWrite, err)
	}
	if _, ok := t.pending[path]; !ok {
		t.order = append(t.order, path)
	}
	t.pending[path] = v
	return nil
}

// commit applies the collected writes and returns the new root and the
// nodes created since the tree was loaded.
func (t *repoTree) commit(ctx context.Context) (cid.Cid, []Block, error) {
	writes := make([]mst.Write, 0, len(t.order))
	for _, path := range t.order {
		v := t.pending[path]
		if v.Defined() {
			writes = append(writes, mst.Write{Action: mst.ActionPut, Key: path, Value: v})
			continue
		}
		// A delete: only if the path is in the tree as loaded (a path
		// created and deleted within the commit is simply absent).
		was, err := t.base(ctx, path)
		if err != nil {
			return cid.Undef, nil, err
		}
		if was.Defined() {
			writes = append(writes, mst.Write{Action: mst.ActionDelete, Key: path})
		}
	}
	if len(writes) > 0 {
		nt, err := t.t.Apply(ctx, writes)
		if err != nil {
			if errors.Is(err, mst.ErrInvalidKey) {
				return cid.Undef, nil, fmt.Errorf("%w: %v", ErrInvalidWrite, err)
			}
			return cid.Undef, nil, fmt.Errorf("mst apply: %w", err)
		}
		t.t = nt
	}
	root, err := t.t.Root(ctx)
	if err != nil {
		return cid.Undef, nil, fmt.Errorf("mst root: %w", err)
	}
	nodes, err := t.t.UnstoredBlocks(ctx)
	if err != nil {
		return cid.Undef, nil, fmt.Errorf("mst nodes: %w", err)
	}
	// In CID order, not the map's: the nodes are listed in the #commit
	// event and its frame, which must be the same bytes for the same
	// writes.
	out := make([]Block, 0, len(nodes))
	for c, data := range nodes {
		out = append(out, Block{CID: c, Data: data})
	}
	slices.SortFunc(out, func(a, b Block) int { return strings.Compare(a.CID.KeyString(), b.CID.KeyString()) })
	return root, out, nil
}

// proofs returns the CIDs of the nodes a sync 1.1 #commit event must carry
// so a consumer can invert ops on the new tree and find the previous root.
// It must run after commit.
func (t *repoTree) proofs(ctx context.Context, ops []commit.Op) ([]cid.Cid, error) {
	return coveringProofs(ctx, t.t, ops)
}
