package atlite

import (
	"context"
	"errors"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/commit"
)

// repoTree adapts the MST to the commit path. (stub until package mst lands)
type repoTree struct{}

func newRepoTree(src *txBlocks, root cid.Cid) (*repoTree, error) { return &repoTree{}, nil }

func (t *repoTree) get(ctx context.Context, path string) (cid.Cid, error) {
	return cid.Undef, errors.New("mst: not implemented")
}
func (t *repoTree) set(ctx context.Context, path string, v cid.Cid) error {
	return errors.New("mst: not implemented")
}
func (t *repoTree) commit(ctx context.Context) (cid.Cid, []Block, error) {
	return cid.Undef, nil, errors.New("mst: not implemented")
}
func (t *repoTree) proofs(ctx context.Context, ops []commit.Op) ([]cid.Cid, error) {
	return nil, errors.New("mst: not implemented")
}
