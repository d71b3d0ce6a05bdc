package mst

import (
	"context"
	"errors"
	"iter"
	"strings"

	"github.com/ipfs/go-cid"
)

// ListOptions selects the entries [Tree.List] returns.
type ListOptions struct {
	// After, if not empty, excludes every key <= After.
	After string
	// Before, if not empty, excludes every key >= Before.
	Before string
	// Limit, if positive, is the most entries returned.
	Limit int
	// Reverse returns entries in descending key order (the Limit entries
	// nearest Before).
	Reverse bool
}

// errStop ends an internal walk early.
var errStop = errors.New("mst: stop")

// List returns the entries with After < key < Before, in ascending key
// order (descending with Reverse), at most Limit of them. It reads only the
// nodes on the way to the first entry and those holding the entries
// returned.
func (t *Tree) List(ctx context.Context, opts ListOptions) ([]Entry, error) {
	var out []Entry
	if opts.Before != "" && opts.After != "" && opts.Before <= opts.After {
		return out, nil
	}
	root, err := t.readRoot(ctx)
	if err != nil {
		return nil, err
	}
	fn := func(e *entry) error {
		if opts.Reverse {
			if opts.After != "" && e.key <= opts.After {
				return errStop
			}
		} else {
			if e.key == opts.After {
				return nil
			}
			if opts.Before != "" && e.key >= opts.Before {
				return errStop
			}
		}
		out = append(out, Entry{Key: e.key, Value: e.val})
		if opts.Limit > 0 && len(out) >= opts.Limit {
			return errStop
		}
		return nil
	}
	if opts.Reverse {
		err = t.walkDown(ctx, root, span{}, opts.Before, fn)
	} else {
		err = t.walkUp(ctx, root, span{}, opts.After, fn)
	}
	if err != nil && err != errStop {
		return nil, err
	}
	return out, nil
}

// ListWithPrefix returns the entries whose key starts with prefix, in
// ascending key order, at most limit of them if limit is positive.
func (t *Tree) ListWithPrefix(ctx context.Context, prefix string, limit int) ([]Entry, error) {
	var out []Entry
	root, err := t.readRoot(ctx)
	if err != nil {
		return nil, err
	}
	err = t.walkUp(ctx, root, span{}, prefix, func(e *entry) error {
		if !strings.HasPrefix(e.key, prefix) {
			return errStop
		}
		out = append(out, Entry{Key: e.key, Value: e.val})
		if limit > 0 && len(out) >= limit {
			return errStop
		}
		return nil
	})
	if err != nil && err != errStop {
		return nil, err
	}
	return out, nil
}

// Walk calls fn for every entry with key >= from, in ascending key order.
// If fn returns [SkipAll], Walk stops and returns nil; any other error stops
// Walk and is returned. Walk keeps at most one node per layer in memory
// besides the nodes the tree already holds.
func (t *Tree) Walk(ctx context.Context, from string, fn func(Entry) error) error {
	root, err := t.readRoot(ctx)
	if err != nil {
		return err
	}
	err = t.walkUp(ctx, root, span{}, from, func(e *entry) error {
		return fn(Entry{Key: e.key, Value: e.val})
	})
	if err == SkipAll {
		return nil
	}
	return err
}

// Entries returns an iterator over the entries with key >= from, in
// ascending key order. An error ends the iteration as its last pair.
func (t *Tree) Entries(ctx context.Context, from string) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		err := t.Walk(ctx, from, func(e Entry) error {
			if !yield(e, nil) {
				return SkipAll
			}
			return nil
		})
		if err != nil {
			yield(Entry{}, err)
		}
	}
}

// walkUp calls fn for every entry of n's subtree with key >= from, in
// ascending order.
func (t *Tree) walkUp(ctx context.Context, n *node, s span, from string, fn func(*entry) error) error {
	i := 0
	if from != "" {
		i, _ = n.search(from)
	}
	if err := t.walkGapUp(ctx, n, s, i, from, fn); err != nil {
		return err
	}
	for ; i < len(n.entries); i++ {
		if err := fn(&n.entries[i]); err != nil {
			return err
		}
		if err := t.walkGapUp(ctx, n, s, i+1, "", fn); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tree) walkGapUp(ctx context.Context, n *node, s span, i int, from string, fn func(*entry) error) error {
	g := n.gap(i)
	if g.empty() {
		return nil
	}
	gs := n.gapSpan(i, s)
	child, err := t.read(ctx, g, n.layer-1, false, gs)
	if err != nil {
		return err
	}
	return t.walkUp(ctx, child, gs, from, fn)
}

// walkDown calls fn for every entry of n's subtree with key < before (every
// entry if before is empty), in descending order.
func (t *Tree) walkDown(ctx context.Context, n *node, s span, before string, fn func(*entry) error) error {
	i := len(n.entries)
	if before != "" {
		i, _ = n.search(before)
	}
	if err := t.walkGapDown(ctx, n, s, i, before, fn); err != nil {
		return err
	}
	for i--; i >= 0; i-- {
		if err := fn(&n.entries[i]); err != nil {
			return err
		}
		if err := t.walkGapDown(ctx, n, s, i, "", fn); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tree) walkGapDown(ctx context.Context, n *node, s span, i int, before string, fn func(*entry) error) error {
	g := n.gap(i)
	if g.empty() {
		return nil
	}
	gs := n.gapSpan(i, s)
	child, err := t.read(ctx, g, n.layer-1, false, gs)
	if err != nil {
		return err
	}
	return t.walkDown(ctx, child, gs, before, fn)
}

// Blocks calls fn for every node of the tree in the order of a repository
// CAR export: pre-order, a node first, then its left subtree, then for each
// entry in key order the entry's record and the subtree to its right. So
// every block comes after the block that links to it, and a reader can
// check a CAR in one pass. If records is not nil, each entry's record block
// is read from it and passed to fn in that place (a record several keys
// share is passed each time; a [RecordSource] is told each key); if records
// is nil, only nodes are visited. If
// fn returns [SkipAll], Blocks stops and returns nil. Blocks keeps O(depth)
// nodes in memory; the data passed to fn must not be modified or retained
// after fn returns.
func (t *Tree) Blocks(ctx context.Context, records BlockSource, fn func(c cid.Cid, data []byte) error) error {
	keyed, _ := records.(RecordSource)
	var scratch []byte
	var visit func(l link, layer int, isRoot bool, s span) error
	visit = func(l link, layer int, isRoot bool, s span) error {
		var n *node
		var data []byte
		if l.n != nil {
			n = l.n
			data = n.raw
			if data == nil {
				scratch = appendNode(scratch[:0], n)
				data = scratch
			}
		} else {
			var err error
			if n, data, err = fetchNode(ctx, t.src, l.c, layer, isRoot, s); err != nil {
				return err
			}
			if isRoot && n.layer == layerUnknown {
				n.layer = 0
			}
		}
		if err := fn(n.cid, data); err != nil {
			return err
		}
		if !n.left.empty() {
			if err := visit(n.left, n.layer-1, false, n.gapSpan(0, s)); err != nil {
				return err
			}
		}
		for i := range n.entries {
			e := &n.entries[i]
			if records != nil {
				var rec []byte
				var err error
				if keyed != nil {
					rec, err = keyed.GetRecord(ctx, e.key, e.val)
				} else {
					rec, err = records.GetBlock(ctx, e.val)
				}
				if err != nil {
					return &recordError{key: e.key, c: e.val, err: err}
				}
				if err := fn(e.val, rec); err != nil {
					return err
				}
			}
			if !e.right.empty() {
				if err := visit(e.right, n.layer-1, false, n.gapSpan(i+1, s)); err != nil {
					return err
				}
			}
		}
		return nil
	}
	err := visit(t.root, t.layer, true, span{})
	if err == SkipAll {
		return nil
	}
	return err
}

// recordError reports a record block the export hook could not provide.
type recordError struct {
	key string
	c   cid.Cid
	err error
}

func (e *recordError) Error() string {
	return "record " + e.key + " (" + e.c.String() + "): " + e.err.Error()
}

func (e *recordError) Unwrap() error { return e.err }
