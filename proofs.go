package atlite

import (
	"context"
	"fmt"
	"slices"
	"strings"

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
	// In CID order, not the map's: the event lists them, and the same
	// writes must give the same event bytes.
	out := make([]cid.Cid, 0, len(proof))
	for c := range proof {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b cid.Cid) int { return strings.Compare(a.KeyString(), b.KeyString()) })
	return out, nil
}
