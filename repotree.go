package atlite

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/mst"
)

// repoTree is the MST of one repo during a commit: loaded lazily from the
// file through the write transaction, changed copy-on-write in memory.
type repoTree struct {
	t *mst.Tree
}

func newRepoTree(src mst.BlockSource, root cid.Cid) (*repoTree, error) {
	return &repoTree{t: mst.Load(src, root)}, nil
}

// get returns the CID at path, or cid.Undef when there is none.
func (t *repoTree) get(ctx context.Context, path string) (cid.Cid, error) {
	c, err := t.t.Get(ctx, path)
	if errors.Is(err, mst.ErrNotFound) {
		return cid.Undef, nil
	}
	if err != nil {
		return cid.Undef, fmt.Errorf("mst get %s: %w", path, err)
	}
	return c, nil
}

// set puts v at path, or deletes path when v is undefined.
func (t *repoTree) set(ctx context.Context, path string, v cid.Cid) error {
	var err error
	var nt *mst.Tree
	if v.Defined() {
		nt, err = t.t.Put(ctx, path, v)
	} else {
		nt, err = t.t.Delete(ctx, path)
	}
	if err != nil {
		if errors.Is(err, mst.ErrInvalidKey) {
			return fmt.Errorf("%w: %v", ErrInvalidWrite, err)
		}
		return fmt.Errorf("mst %s: %w", path, err)
	}
	t.t = nt
	return nil
}

// commit returns the new root and the nodes created since the tree was
// loaded.
func (t *repoTree) commit(ctx context.Context) (cid.Cid, []Block, error) {
	root, err := t.t.Root(ctx)
	if err != nil {
		return cid.Undef, nil, fmt.Errorf("mst root: %w", err)
	}
	nodes, err := t.t.UnstoredBlocks(ctx)
	if err != nil {
		return cid.Undef, nil, fmt.Errorf("mst nodes: %w", err)
	}
	out := make([]Block, 0, len(nodes))
	for c, data := range nodes {
		out = append(out, Block{CID: c, Data: data})
	}
	return root, out, nil
}

// proofs returns the CIDs of the nodes a sync 1.1 #commit event must carry
// so a consumer can invert ops on the new tree and find the previous root.
func (t *repoTree) proofs(ctx context.Context, ops []commit.Op) ([]cid.Cid, error) {
	return coveringProofs(ctx, t.t, ops)
}
