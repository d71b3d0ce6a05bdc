package atlite

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/mst"
)

// coveringProofs returns the CIDs of the nodes of tree (after the commit)
// that a #commit event must carry for ops (sync 1.1), so that a consumer
// can invert the ops and find the previous root.
func coveringProofs(ctx context.Context, tree *mst.Tree, ops []commit.Op) ([]cid.Cid, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ops))
	for i, op := range ops {
		keys[i] = op.Path
	}
	proof, err := tree.CoveringProof(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("covering proof: %w", err)
	}
	out := make([]cid.Cid, 0, len(proof))
	for c := range proof {
		out = append(out, c)
	}
	return out, nil
}
