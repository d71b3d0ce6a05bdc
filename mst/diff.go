package mst

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ipfs/go-cid"
)

// RecordOp is a change to one key: a create (Old undefined), an update (both
// defined) or a delete (New undefined).
type RecordOp struct {
	Key string
	Old cid.Cid
	New cid.Cid
}

// DiffResult is the difference between two trees. Every CID list is sorted
// by the CIDs' bytes and holds no duplicates.
type DiffResult struct {
	// CreatedNodes are the nodes of the new tree that are not in the old.
	CreatedNodes []cid.Cid
	// DeletedNodes are the nodes of the old tree that are not in the new.
	DeletedNodes []cid.Cid
	// RecordOps are the changed keys, sorted by key.
	RecordOps []RecordOp
	// ProofNodes are the nodes of the new tree that prove each change: the
	// path to every created or updated key (inclusion) and the path to the
	// place of every deleted key (exclusion).
	ProofNodes []cid.Cid
	// InductiveProofNodes are the nodes of the new tree needed to invert
	// RecordOps, applied in reverse order, and get back the old tree (the
	// "MST operation inversion" of sync 1.1).
	InductiveProofNodes []cid.Cid
}

// Diff returns the difference from the tree old to the tree next. It reads
// only nodes whose CIDs differ between the trees (and, for the proofs, the
// few neighbours an inversion needs), so its cost grows with the size of the
// change, not of the trees. The two trees may use different block sources.
func Diff(ctx context.Context, old, next *Tree) (*DiffResult, error) {
	if old.root.cid() == next.root.cid() {
		return &DiffResult{}, nil
	}
	// Every node read from new's source is kept so that the proofs below
	// do not read or decode it again.
	newC := *next
	newC.nodes = make(map[cid.Cid]*node)
	res, err := diffChanges(ctx, old, &newC)
	if err != nil {
		return nil, err
	}

	// Proofs, on the new tree.
	proof := make(map[cid.Cid]struct{})
	for _, op := range res.RecordOps {
		if err := newC.pathNodes(ctx, op.Key, proof); err != nil {
			return nil, err
		}
	}
	res.ProofNodes = sortCIDs(keysOf(proof))

	touched := make(map[cid.Cid]struct{})
	inv, err := invert(ctx, &newC, res.RecordOps, touched)
	if err != nil {
		return nil, fmt.Errorf("invert diff: %w", err)
	}
	if inv.root.cid() != old.root.cid() {
		return nil, fmt.Errorf("invert diff: %w: got %s, want %s", ErrRootMismatch, inv.root.cid(), old.root.cid())
	}
	res.InductiveProofNodes = sortCIDs(keysOf(touched))
	return res, nil
}

// DiffChanges is [Diff] without the proofs: the result's CreatedNodes,
// DeletedNodes and RecordOps only (ProofNodes and InductiveProofNodes are
// nil). For a caller that needs what changed and not the means to prove
// it (an export since a rev, a garbage collector), it does not walk the
// changed keys' paths again nor invert the ops on the new tree.
func DiffChanges(ctx context.Context, old, next *Tree) (*DiffResult, error) {
	if old.root.cid() == next.root.cid() {
		return &DiffResult{}, nil
	}
	return diffChanges(ctx, old, next)
}

// diffChanges is DiffChanges for two trees with different roots. Diff
// passes a private copy of its new tree whose node map keeps the nodes read
// here, for its proofs.
func diffChanges(ctx context.Context, old, newC *Tree) (*DiffResult, error) {
	res := &DiffResult{}

	oroot, err := old.readRoot(ctx)
	if err != nil {
		return nil, err
	}
	nroot, err := newC.readRoot(ctx)
	if err != nil {
		return nil, err
	}
	top := max(oroot.layer, nroot.layer)
	oldF := make([][]spanLink, top+1)
	newF := make([][]spanLink, top+1)
	oldF[oroot.layer] = []spanLink{{l: link{n: oroot}}}
	newF[nroot.layer] = []spanLink{{l: link{n: nroot}}}
	oldLeaves := make(map[string]cid.Cid)
	newLeaves := make(map[string]cid.Cid)
	var created, deleted []cid.Cid

	// Walk both trees a layer at a time. Equal CIDs mean equal subtrees on
	// the same layer, so only differing nodes are read.
	for layer := top; layer >= 0; layer-- {
		os, ns := oldF[layer], newF[layer]
		if len(os) == 0 && len(ns) == 0 {
			continue
		}
		inOld := make(map[cid.Cid]struct{}, len(os))
		for _, x := range os {
			inOld[x.l.cid()] = struct{}{}
		}
		inNew := make(map[cid.Cid]struct{}, len(ns))
		for _, x := range ns {
			inNew[x.l.cid()] = struct{}{}
		}
		for _, x := range os {
			if _, ok := inNew[x.l.cid()]; ok {
				continue
			}
			n, err := old.read(ctx, x.l, layer, false, x.s)
			if err != nil {
				return nil, err
			}
			deleted = append(deleted, n.cid)
			collect(n, x.s, oldLeaves, oldF)
		}
		for _, x := range ns {
			if _, ok := inOld[x.l.cid()]; ok {
				continue
			}
			n, err := newC.read(ctx, x.l, layer, false, x.s)
			if err != nil {
				return nil, err
			}
			created = append(created, n.cid)
			collect(n, x.s, newLeaves, newF)
		}
	}
	res.CreatedNodes = sortCIDs(created)
	res.DeletedNodes = sortCIDs(deleted)

	for k, nv := range newLeaves {
		if ov, ok := oldLeaves[k]; ok {
			delete(oldLeaves, k)
			if ov != nv {
				res.RecordOps = append(res.RecordOps, RecordOp{Key: k, Old: ov, New: nv})
			}
			continue
		}
		res.RecordOps = append(res.RecordOps, RecordOp{Key: k, New: nv})
	}
	for k, ov := range oldLeaves {
		res.RecordOps = append(res.RecordOps, RecordOp{Key: k, Old: ov})
	}
	slices.SortFunc(res.RecordOps, func(a, b RecordOp) int { return strings.Compare(a.Key, b.Key) })
	return res, nil
}

// spanLink is a subtree and its key range.
type spanLink struct {
	l link
	s span
}

// collect adds n's leaves to leaves and its subtrees to the frontier of the
// layer below.
func collect(n *node, s span, leaves map[string]cid.Cid, frontier [][]spanLink) {
	for i := range n.entries {
		leaves[n.entries[i].key] = n.entries[i].val
	}
	if n.layer == 0 {
		return
	}
	for i := 0; i <= len(n.entries); i++ {
		if g := n.gap(i); !g.empty() {
			frontier[n.layer-1] = append(frontier[n.layer-1], spanLink{l: g, s: n.gapSpan(i, s)})
		}
	}
}

// invert applies the inverse of ops, in reverse order, to t and records in
// touched every node of t the inversion had to read.
func invert(ctx context.Context, t *Tree, ops []RecordOp, touched map[cid.Cid]struct{}) (*Tree, error) {
	writes := make([]Write, 0, len(ops))
	for i := len(ops) - 1; i >= 0; i-- {
		op := ops[i]
		switch {
		case !op.Old.Defined() && !op.New.Defined():
			return nil, fmt.Errorf("op %s: %w: neither old nor new value", truncate(op.Key), ErrInvalidValue)
		case !op.Old.Defined():
			writes = append(writes, Write{Action: ActionDelete, Key: op.Key})
		case !op.New.Defined():
			writes = append(writes, Write{Action: ActionCreate, Key: op.Key, Value: op.Old})
		default:
			writes = append(writes, Write{Action: ActionUpdate, Key: op.Key, Value: op.Old})
		}
	}
	return t.apply(ctx, writes, touched)
}

// pathNodes adds to set the nodes on the path from the root to key: down to
// the node holding key or, for an absent key, down to an empty subtree or to
// the first node below key's layer (the mst-test-suite's proof shape).
func (t *Tree) pathNodes(ctx context.Context, key string, set map[cid.Cid]struct{}) error {
	n, err := t.readRoot(ctx)
	if err != nil {
		return err
	}
	kl := Layer(key)
	var s span
	for {
		set[n.cid] = struct{}{}
		i, found := n.search(key)
		if found || n.layer < kl {
			return nil
		}
		g := n.gap(i)
		if g.empty() {
			return nil
		}
		s = n.gapSpan(i, s)
		if n, err = t.read(ctx, g, n.layer-1, false, s); err != nil {
			return err
		}
	}
}

func keysOf(m map[cid.Cid]struct{}) []cid.Cid {
	out := make([]cid.Cid, 0, len(m))
	for c := range m {
		out = append(out, c)
	}
	return out
}

// sortCIDs sorts CIDs by their bytes and drops duplicates.
func sortCIDs(cs []cid.Cid) []cid.Cid {
	slices.SortFunc(cs, func(a, b cid.Cid) int {
		return strings.Compare(a.KeyString(), b.KeyString())
	})
	return slices.Compact(cs)
}
