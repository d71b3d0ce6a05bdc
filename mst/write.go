package mst

import (
	"context"
	"fmt"

	"github.com/ipfs/go-cid"
)

// Action says what a [Write] does.
type Action uint8

const (
	// ActionPut sets the key to the value, whether or not it is present.
	// It is the zero Action.
	ActionPut Action = iota
	// ActionCreate adds the key; it fails with [ErrExists] if the key is
	// present.
	ActionCreate
	// ActionUpdate changes the key's value; it fails with [ErrNotFound] if
	// the key is absent.
	ActionUpdate
	// ActionDelete removes the key (Value is ignored); it fails with
	// [ErrNotFound] if the key is absent.
	ActionDelete
)

// String returns "put", "create", "update" or "delete".
func (a Action) String() string {
	switch a {
	case ActionPut:
		return "put"
	case ActionCreate:
		return "create"
	case ActionUpdate:
		return "update"
	case ActionDelete:
		return "delete"
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// Write is one change for [Tree.Apply].
type Write struct {
	Action Action
	Key    string
	// Value is the new value; it must be defined except for ActionDelete.
	Value cid.Cid
}

// Add returns a tree with key set to value. It fails with [ErrExists] if
// key is present and with [ErrInvalidKey] if key is not valid.
func (t *Tree) Add(ctx context.Context, key string, value cid.Cid) (*Tree, error) {
	return t.apply1(ctx, Write{Action: ActionCreate, Key: key, Value: value})
}

// Update returns a tree with the value of key replaced. It fails with
// [ErrNotFound] if key is absent.
func (t *Tree) Update(ctx context.Context, key string, value cid.Cid) (*Tree, error) {
	return t.apply1(ctx, Write{Action: ActionUpdate, Key: key, Value: value})
}

// Put returns a tree with key set to value, whether or not key was present.
func (t *Tree) Put(ctx context.Context, key string, value cid.Cid) (*Tree, error) {
	return t.apply1(ctx, Write{Action: ActionPut, Key: key, Value: value})
}

// Delete returns a tree without key. It fails with [ErrNotFound] if key is
// absent.
func (t *Tree) Delete(ctx context.Context, key string) (*Tree, error) {
	return t.apply1(ctx, Write{Action: ActionDelete, Key: key})
}

func (t *Tree) apply1(ctx context.Context, w Write) (*Tree, error) {
	return t.Apply(ctx, []Write{w})
}

// Apply returns the tree with every write applied in order. The result is
// the same as applying the writes one at a time, but every node is read at
// most once and encoded once. Apply is atomic: if any write fails (an invalid
// key or value, [ErrExists], [ErrNotFound], a node that cannot be read) it
// returns the error, naming the write, and no tree. Keys and values are all
// checked before anything is read. Deletes accept any key that can be stored
// in a node, so that keys written by more lenient implementations can be
// removed.
func (t *Tree) Apply(ctx context.Context, writes []Write) (*Tree, error) {
	return t.apply(ctx, writes, nil)
}

// apply is Apply; if touched is not nil, it records there the CID of every
// node of t that the writes needed.
func (t *Tree) apply(ctx context.Context, writes []Write, touched map[cid.Cid]struct{}) (*Tree, error) {
	if len(writes) == 0 {
		return t, nil
	}
	for i := range writes {
		w := &writes[i]
		switch w.Action {
		case ActionPut, ActionCreate, ActionUpdate:
			if err := ValidateKey(w.Key); err != nil {
				return nil, fmt.Errorf("%s %s: %w", w.Action, truncate(w.Key), err)
			}
			if !w.Value.Defined() {
				return nil, fmt.Errorf("%s %s: %w: undefined value", w.Action, truncate(w.Key), ErrInvalidValue)
			}
		case ActionDelete:
			if msg := checkStoredKey([]byte(w.Key)); msg != "" {
				return nil, fmt.Errorf("%s %s: %w: %s", w.Action, truncate(w.Key), ErrInvalidKey, msg)
			}
		default:
			return nil, fmt.Errorf("%s %s: unknown action", w.Action, truncate(w.Key))
		}
	}
	b := &batch{ctx: ctx, t: t, tx: t.lin.gen.Add(1), touched: touched}
	root, err := b.own(t.root, t.layer, true, span{})
	if err != nil {
		return nil, err
	}
	if root.layer == layerUnknown {
		root.layer = 0
	}
	for i := range writes {
		w := &writes[i]
		if root, err = b.write(root, w); err != nil {
			return nil, fmt.Errorf("%s %s: %w", w.Action, truncate(w.Key), err)
		}
	}
	built := b.finish(root, nil)
	// Nodes rebuilt with the CID of a node the lineage read from the source
	// are stored.
	t.lin.mu.Lock()
	if len(b.stored) > 0 {
		if t.lin.stored == nil {
			t.lin.stored = make(map[cid.Cid]struct{}, len(b.stored))
		}
		for c := range b.stored {
			t.lin.stored[c] = struct{}{}
		}
	}
	if len(t.lin.stored) > 0 {
		for _, n := range built {
			if _, ok := t.lin.stored[n.cid]; ok {
				n.tx = 0
				n.raw = nil
			}
		}
	}
	t.lin.mu.Unlock()
	t2 := &Tree{src: t.src, root: link{n: root}, layer: root.layer, tx: b.tx, base: t.base, lin: t.lin, cache: t.cache, seen: t.seen}
	return t2, nil
}

// batch applies writes to copies of the tree's nodes. Nodes whose tx is the
// batch's belong to it and are changed in place.
type batch struct {
	ctx     context.Context
	t       *Tree
	tx      uint64
	touched map[cid.Cid]struct{}
	// stored holds the CIDs of the stored nodes the batch read or copied;
	// they join the lineage's set when the batch ends.
	stored map[cid.Cid]struct{}
}

// own returns a node of this batch for l: l's node itself if the batch made
// it, else a copy of it, else the node decoded from the block source (which
// must hold keys within s only).
func (b *batch) own(l link, layer int, isRoot bool, s span) (*node, error) {
	if l.n == nil && (b.t.nodes != nil || b.t.seen != nil) {
		// Copy the node from the tree's cache rather than decode it again.
		n, err := b.t.read(b.ctx, l, layer, isRoot, s)
		if err != nil {
			return nil, err
		}
		l.n = n
	}
	if n := l.n; n != nil {
		if n.tx == b.tx {
			return n, nil
		}
		if b.touched != nil {
			b.touched[n.cid] = struct{}{}
		}
		c := &node{layer: n.layer, left: n.left, cid: n.cid, raw: n.raw, tx: b.tx}
		c.entries = make([]entry, len(n.entries), len(n.entries)+1)
		copy(c.entries, n.entries)
		if n.tx <= b.t.base {
			b.markStored(n.cid)
		}
		return c, nil
	}
	n, err := readNode(b.ctx, b.t.src, l.c, layer, isRoot, s)
	if err != nil {
		return nil, err
	}
	if b.touched != nil {
		b.touched[l.c] = struct{}{}
	}
	b.markStored(l.c)
	n.tx = b.tx
	return n, nil
}

func (b *batch) markStored(c cid.Cid) {
	if b.stored == nil {
		b.stored = make(map[cid.Cid]struct{})
	}
	b.stored[c] = struct{}{}
}

// ownGap returns a node of this batch for the subtree in gap i of n (whose
// range is s), and attaches it there.
func (b *batch) ownGap(n *node, i int, s span) (*node, error) {
	g := n.gap(i)
	if g.n != nil && g.n.tx == b.tx {
		return g.n, nil
	}
	c, err := b.own(g, n.layer-1, false, n.gapSpan(i, s))
	if err != nil {
		return nil, err
	}
	n.setGap(i, link{n: c})
	return c, nil
}

func (n *node) dirty() {
	n.cid = cid.Undef
	n.raw = nil
}

// write applies one write to the tree whose root is root and returns the
// new root.
func (b *batch) write(root *node, w *Write) (*node, error) {
	kl := Layer(w.Key)
	if w.Action == ActionDelete {
		if kl > root.layer {
			return nil, ErrNotFound
		}
		if err := b.del(root, w.Key, kl, span{}); err != nil {
			return nil, err
		}
		return b.trim(root)
	}
	if kl > root.layer {
		if w.Action == ActionUpdate {
			return nil, ErrNotFound
		}
		// The key goes above the root: split the whole tree around it and
		// raise each half to the layer below the key.
		var lt, rt link
		if !root.isEmpty() {
			var err error
			if lt, rt, err = b.split(link{n: root}, root.layer, w.Key, span{}); err != nil {
				return nil, err
			}
		}
		for l := root.layer + 1; l < kl; l++ {
			lt = b.wrap(lt, l)
			rt = b.wrap(rt, l)
		}
		n := &node{layer: kl, left: lt, tx: b.tx}
		n.entries = []entry{{key: w.Key, val: w.Value, right: rt}}
		return n, nil
	}
	_, err := b.put(root, w, kl, span{})
	return root, err
}

// wrap puts a non-empty subtree under a new leafless node on layer.
func (b *batch) wrap(l link, layer int) link {
	if l.empty() {
		return l
	}
	return link{n: &node{layer: layer, left: l, tx: b.tx}}
}

// put sets w.Key in the subtree of n (owned, n.layer >= kl, range s). It
// reports whether n changed.
func (b *batch) put(n *node, w *Write, kl int, s span) (bool, error) {
	i, found := n.search(w.Key)
	if found {
		if w.Action == ActionCreate {
			return false, ErrExists
		}
		if n.entries[i].val == w.Value {
			return false, nil
		}
		n.entries[i].val = w.Value
		n.dirty()
		return true, nil
	}
	if n.layer == kl {
		if w.Action == ActionUpdate {
			return false, ErrNotFound
		}
		lt, rt, err := b.split(n.gap(i), n.layer-1, w.Key, n.gapSpan(i, s))
		if err != nil {
			return false, err
		}
		n.entries = append(n.entries, entry{})
		copy(n.entries[i+1:], n.entries[i:])
		n.entries[i] = entry{key: w.Key, val: w.Value, right: rt}
		n.setGap(i, lt)
		n.dirty()
		return true, nil
	}
	var child *node
	if n.gap(i).empty() {
		if w.Action == ActionUpdate {
			return false, ErrNotFound
		}
		child = &node{layer: n.layer - 1, tx: b.tx}
		n.setGap(i, link{n: child})
	} else {
		var err error
		if child, err = b.ownGap(n, i, s); err != nil {
			return false, err
		}
	}
	changed, err := b.put(child, w, kl, n.gapSpan(i, s))
	if changed {
		n.dirty()
	}
	return changed, err
}

// split cuts the subtree l (on layer, range s) around key, which it does not
// hold, into the part below key and the part above it.
func (b *batch) split(l link, layer int, key string, s span) (link, link, error) {
	if l.empty() {
		return link{}, link{}, nil
	}
	n, err := b.own(l, layer, false, s)
	if err != nil {
		return link{}, link{}, err
	}
	i, _ := n.search(key)
	gl, gr, err := b.split(n.gap(i), layer-1, key, n.gapSpan(i, s))
	if err != nil {
		return link{}, link{}, err
	}
	// A subtree wholly on one side is returned as it is (by induction, the
	// gap split returned its subtree unchanged), so that no fresh copy of an
	// existing node is made.
	if i == 0 && gl.empty() {
		return link{}, keep(l, n), nil
	}
	if i == len(n.entries) && gr.empty() {
		return keep(l, n), link{}, nil
	}
	right := &node{layer: layer, left: gr, tx: b.tx}
	if i < len(n.entries) {
		right.entries = make([]entry, len(n.entries)-i, len(n.entries)-i+1)
		copy(right.entries, n.entries[i:])
	}
	clear(n.entries[i:])
	n.entries = n.entries[:i]
	n.setGap(i, gl)
	n.dirty()
	return nonEmpty(n), nonEmpty(right), nil
}

// keep returns l if its node is in memory, else a link to n, the node read
// for it (clean, so that it is recognised as stored).
func keep(l link, n *node) link {
	if l.n != nil {
		return l
	}
	return link{n: n}
}

func nonEmpty(n *node) link {
	if n.isEmpty() {
		return link{}
	}
	return link{n: n}
}

// del removes key (on layer kl) from the subtree of n (owned, range s).
func (b *batch) del(n *node, key string, kl int, s span) error {
	i, found := n.search(key)
	if found {
		m, err := b.merge(n.gap(i), n.gap(i+1), n.layer-1, n.gapSpan(i, s), n.gapSpan(i+1, s))
		if err != nil {
			return err
		}
		n.entries = append(n.entries[:i], n.entries[i+1:]...)
		n.setGap(i, m)
		n.dirty()
		return nil
	}
	if n.layer <= kl || n.gap(i).empty() {
		return ErrNotFound
	}
	child, err := b.ownGap(n, i, s)
	if err != nil {
		return err
	}
	if err := b.del(child, key, kl, n.gapSpan(i, s)); err != nil {
		return err
	}
	if child.isEmpty() {
		n.setGap(i, link{})
	}
	n.dirty()
	return nil
}

// merge joins two adjacent subtrees on layer, a (range sa) below c (range
// sc).
func (b *batch) merge(a, c link, layer int, sa, sc span) (link, error) {
	if a.empty() {
		return c, nil
	}
	if c.empty() {
		return a, nil
	}
	na, err := b.own(a, layer, false, sa)
	if err != nil {
		return link{}, err
	}
	nc, err := b.own(c, layer, false, sc)
	if err != nil {
		return link{}, err
	}
	last := len(na.entries)
	m, err := b.merge(na.gap(last), nc.left, layer-1, na.gapSpan(last, sa), nc.gapSpan(0, sc))
	if err != nil {
		return link{}, err
	}
	na.setGap(last, m)
	na.entries = append(na.entries, nc.entries...)
	na.dirty()
	return link{n: na}, nil
}

// trim removes leafless roots that hold a single subtree.
func (b *batch) trim(root *node) (*node, error) {
	for len(root.entries) == 0 && !root.left.empty() {
		next, err := b.own(root.left, root.layer-1, false, span{})
		if err != nil {
			return nil, err
		}
		root = next
	}
	if root.isEmpty() {
		root.layer = 0
	}
	return root, nil
}

// finish encodes every node the batch changed, children first, and appends
// to built every node of the batch in the tree.
func (b *batch) finish(n *node, built []*node) []*node {
	if n.tx != b.tx {
		return built
	}
	if l := n.left.n; l != nil {
		built = b.finish(l, built)
	}
	for i := range n.entries {
		if r := n.entries[i].right.n; r != nil {
			built = b.finish(r, built)
		}
	}
	if !n.cid.Defined() {
		n.encode()
	}
	return append(built, n)
}
