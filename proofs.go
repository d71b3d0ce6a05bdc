package atlite

import (
	"context"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/mst"
)

// coveringProofs returns the CIDs of the nodes of tree that a #commit event
// must carry for ops (sync 1.1). Placeholder until mst exposes them.
func coveringProofs(ctx context.Context, tree *mst.Tree, ops []commit.Op) ([]cid.Cid, error) {
	return nil, nil
}
