package mst

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"
)

// CIDsForPath returns the CIDs on the way to key: the root's, then those of
// the subtrees descended into toward key, then, if the tree holds key, its
// value. With the blocks of these nodes, a reader can check that key is in
// the tree with that value (an inclusion proof), or, when the list ends on
// a node, that it is not (an exclusion proof).
func (t *Tree) CIDsForPath(ctx context.Context, key string) ([]cid.Cid, error) {
	n, err := t.readRoot(ctx)
	if err != nil {
		return nil, err
	}
	kl := Layer(key)
	out := []cid.Cid{n.cid}
	var s span
	for {
		i, found := n.search(key)
		if found {
			return append(out, n.entries[i].val), nil
		}
		if n.layer <= kl {
			return out, nil
		}
		g := n.gap(i)
		if g.empty() {
			return out, nil
		}
		s = n.gapSpan(i, s)
		if n, err = t.read(ctx, g, n.layer-1, false, s); err != nil {
			return nil, err
		}
		out = append(out, n.cid)
	}
}

// CoveringProof returns the nodes that a sync 1.1 #commit event must carry,
// besides the nodes the commit created and the records, so that a consumer
// holding only those blocks can invert the commit's operations on keys and
// get back the previous root (see [VerifyInversion]). t is the tree after
// the commit. For each key the proof holds the nodes on the path to the key
// and to its neighbouring subtrees on both sides, down their inner spines.
// The block bytes are shared with the tree or come from its block source and
// must not be modified.
func (t *Tree) CoveringProof(ctx context.Context, keys []string) (map[cid.Cid][]byte, error) {
	out := make(map[cid.Cid][]byte)
	nodes := make(map[cid.Cid]*node)
	get := func(l link, layer int, isRoot bool) (*node, error) {
		if n, ok := nodes[l.c]; ok && l.n == nil {
			return n, nil
		}
		if l.n != nil {
			n := l.n
			if _, ok := out[n.cid]; !ok {
				raw := n.raw
				if raw == nil {
					raw = appendNode(nil, n)
				}
				out[n.cid] = raw
			}
			return n, nil
		}
		if n := t.cachedIf(l.c, layer, isRoot); n != nil {
			raw := n.raw
			if raw == nil {
				raw = appendNode(nil, n)
			}
			out[l.c] = raw
			nodes[l.c] = n
			return n, nil
		}
		n, data, err := fetchNode(ctx, t.src, l.c, layer, isRoot, span{})
		if err != nil {
			return nil, err
		}
		if isRoot && n.layer == layerUnknown {
			n.layer = 0
		}
		out[l.c] = data
		nodes[l.c] = n
		t.remember(l.c, n)
		return n, nil
	}
	for _, key := range keys {
		n, err := get(t.root, t.layer, true)
		if err != nil {
			return nil, err
		}
		var left, right link
		for {
			cur := n.left
			left, right = n.left, n.left
			for i := range n.entries {
				e := &n.entries[i]
				right = e.right
				if right.empty() {
					continue
				}
				if e.key == key {
					cur = link{}
					break
				}
				if e.key > key {
					break
				}
				cur, left = e.right, e.right
			}
			var next *node
			for _, l := range [3]link{left, right, cur} {
				if l.empty() {
					continue
				}
				c, err := get(l, n.layer-1, false)
				if err != nil {
					return nil, err
				}
				if l == cur {
					next = c
				}
			}
			if cur.empty() {
				break
			}
			n = next
		}
		// The inner spines of the neighbouring subtrees of the last layer.
		layer := n.layer - 1
		for l := left; !l.empty(); layer-- {
			c, err := get(l, layer, false)
			if err != nil {
				return nil, err
			}
			l = c.gap(len(c.entries))
		}
		layer = n.layer - 1
		for l := right; !l.empty(); layer-- {
			c, err := get(l, layer, false)
			if err != nil {
				return nil, err
			}
			l = c.left
		}
	}
	return out, nil
}

// VerifyInversion checks a sync 1.1 commit: blocks holds the nodes the
// commit event carried (its new nodes and covering proofs), newRoot is the
// tree root after the commit, ops are the commit's operations in order, and
// prevData is the tree root before the commit. It checks that each op's new
// state holds in the new tree (a created or updated key has the new value, a
// deleted key is absent), then inverts the ops in reverse order on the
// partial tree and checks that the result is prevData. A node the inversion
// needs but blocks lacks gives a [*NodeError] wrapping [ErrMissingBlock]; a
// different root gives [ErrRootMismatch].
func VerifyInversion(ctx context.Context, blocks BlockSource, newRoot cid.Cid, ops []RecordOp, prevData cid.Cid) error {
	t := Load(blocks, newRoot)
	for _, op := range ops {
		got, err := t.Get(ctx, op.Key)
		switch {
		case err == ErrNotFound:
			if op.New.Defined() {
				return fmt.Errorf("op %s: %w: key not in the new tree", truncate(op.Key), ErrRootMismatch)
			}
		case err != nil:
			return fmt.Errorf("op %s: %w", truncate(op.Key), err)
		case !op.New.Defined():
			return fmt.Errorf("op %s: %w: deleted key still in the new tree", truncate(op.Key), ErrRootMismatch)
		case got != op.New:
			return fmt.Errorf("op %s: %w: value %s in the new tree, op says %s", truncate(op.Key), ErrRootMismatch, got, op.New)
		}
	}
	inv, err := invert(ctx, t, ops, nil)
	if err != nil {
		return err
	}
	if got := inv.root.cid(); got != prevData {
		return fmt.Errorf("%w: got %s, want %s", ErrRootMismatch, got, prevData)
	}
	return nil
}
