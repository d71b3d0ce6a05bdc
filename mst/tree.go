package mst

import (
	"context"
	"crypto/sha256"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/ipfs/go-cid"
)

// Entry is one key and its value (the CID of a record).
type Entry struct {
	Key   string
	Value cid.Cid
}

// Tree is an immutable MST. Every method that changes the tree returns a new
// *Tree and leaves the receiver as it was; the two share every node the
// change did not touch. A Tree is safe for concurrent use.
//
// A Tree holds some of its nodes in memory (those built or changed through
// it) and reads the others from its [BlockSource] when an operation needs
// them; nodes read for a lookup, a listing or a diff are decoded and dropped,
// never cached in the tree.
type Tree struct {
	src  BlockSource
	root link
	// layer is the root's layer, or layerUnknown while the root is a stub
	// that was never decoded.
	layer int
	// tx is the batch that produced this version; nodes with tx <= base
	// are known to be in the block source.
	tx, base uint64
	lin      *lineage
	// nodes, if not nil, keeps the nodes read from the block source. Only
	// private copies of a Tree made for one call (Diff) set it.
	nodes map[cid.Cid]*node
	// cache and seen, when set (LoadCached), hold decoded stored nodes:
	// shared ones, and those this lineage decoded.
	cache *NodeCache
	seen  *seenNodes
}

// lineage is shared by a tree and the trees derived from it: the counter of
// batches, and the CIDs known to be in the block source because a batch read
// them there (knowledge that stays true, so that a later batch rebuilding
// such a node does not report it as unstored).
type lineage struct {
	gen    atomic.Uint64
	mu     sync.Mutex
	stored map[cid.Cid]struct{}
}

func newLineage(gen uint64) *lineage {
	l := &lineage{}
	l.gen.Store(gen)
	return l
}

// emptyNodeCID is the CID of the empty tree {"e": [], "l": null}.
var emptyNodeCID = cborCID([]byte{cborMap2, 0x61, 'e', 0x80, 0x61, 'l', cborNull})

// EmptyRoot returns the root CID of the empty tree,
// bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm.
func EmptyRoot() cid.Cid { return emptyNodeCID }

// New returns an empty tree whose missing nodes would be read from src (an
// empty tree reads none; src may be nil until the tree is used with nodes
// that are not in memory). Its single node is unstored.
func New(src BlockSource) *Tree {
	lin := newLineage(0)
	tx := lin.gen.Add(1)
	n := &node{layer: 0, tx: tx}
	n.encode()
	return &Tree{src: src, root: link{n: n}, layer: 0, tx: tx, lin: lin}
}

// Load returns the tree whose root node has CID root, reading nodes from src
// only as operations need them. Load itself reads nothing, so a bad root is
// reported by the first operation that reads it. The tree has no unstored
// blocks.
func Load(src BlockSource, root cid.Cid) *Tree {
	return &Tree{src: src, root: link{c: root}, layer: layerUnknown, lin: newLineage(0)}
}

// Root returns the CID of the tree's root node. It reads nothing: CIDs are
// computed when a tree is built or changed.
func (t *Tree) Root(ctx context.Context) (cid.Cid, error) {
	return t.root.cid(), nil
}

// read returns the node l points at, decoding it from the block source if
// it is not in memory. layer is the layer the node must be on (layerUnknown
// for a root never decoded). The decoded node is not attached to the tree.
//
// s is the key range the node must stay within (its parent's neighbouring
// keys); it is checked for decoded nodes.
func (t *Tree) read(ctx context.Context, l link, layer int, isRoot bool, s span) (*node, error) {
	if l.n != nil {
		return l.n, nil
	}
	if t.nodes != nil {
		if n, ok := t.nodes[l.c]; ok {
			return n, nil
		}
	}
	if t.seen != nil {
		if n := t.cached(l.c, layer, isRoot, s); n != nil {
			return n, nil
		}
	}
	n, err := readNode(ctx, t.src, l.c, layer, isRoot, s)
	if err == nil {
		t.remember(l.c, n)
	}
	if err == nil && t.nodes != nil {
		if isRoot && n.layer == layerUnknown {
			n.layer = 0
		}
		t.nodes[l.c] = n
	}
	return n, err
}

func readNode(ctx context.Context, src BlockSource, c cid.Cid, layer int, isRoot bool, s span) (*node, error) {
	n, _, err := fetchNode(ctx, src, c, layer, isRoot, s)
	return n, err
}

// span is an open key range; an empty bound is no bound.
type span struct{ lo, hi string }

// gapSpan returns the range of gap i of n, whose range is s.
func (n *node) gapSpan(i int, s span) span {
	if i > 0 {
		s.lo = n.entries[i-1].key
	}
	if i < len(n.entries) {
		s.hi = n.entries[i].key
	}
	return s
}

// holds reports whether every key of n is within s.
func (s span) holds(n *node) bool {
	if len(n.entries) == 0 {
		return true
	}
	return n.entries[0].key > s.lo && (s.hi == "" || n.entries[len(n.entries)-1].key < s.hi)
}

// fetchNode reads, checks and decodes the node c, and returns its bytes too.
func fetchNode(ctx context.Context, src BlockSource, c cid.Cid, layer int, isRoot bool, s span) (*node, []byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, &NodeError{CID: c, Err: err}
	}
	ks := c.KeyString()
	if len(ks) != cidLen || ks[:4] != cidPrefix {
		return nil, nil, malformed(c, "not a dag-cbor sha-256 CIDv1")
	}
	if src == nil {
		return nil, nil, &NodeError{CID: c, Err: &detailError{base: ErrMissingBlock, msg: "tree has no block source"}}
	}
	data, err := src.GetBlock(ctx, c)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, nil, &NodeError{CID: c, Err: &detailError{base: ErrMissingBlock, msg: err.Error()}}
		}
		return nil, nil, &NodeError{CID: c, Err: err}
	}
	sum := sha256.Sum256(data)
	if string(sum[:]) != ks[4:] {
		return nil, nil, malformed(c, "block does not hash to its CID")
	}
	n, err := decodeNode(c, data, layer, isRoot)
	if err != nil {
		return nil, nil, err
	}
	if !s.holds(n) {
		return nil, nil, malformed(c, "keys outside the range of the parent's entries")
	}
	return n, data, nil
}

// readRoot returns the root node and fixes its layer.
func (t *Tree) readRoot(ctx context.Context) (*node, error) {
	n, err := t.read(ctx, t.root, t.layer, true, span{})
	if err != nil {
		return nil, err
	}
	if n.layer == layerUnknown {
		// The empty tree.
		n.layer = 0
	}
	return n, nil
}

// Get returns the value stored under key, or an error wrapping
// [ErrNotFound] if the tree does not hold key.
func (t *Tree) Get(ctx context.Context, key string) (cid.Cid, error) {
	n, err := t.readRoot(ctx)
	if err != nil {
		return cid.Undef, err
	}
	kl := Layer(key)
	var s span
	for {
		i, found := n.search(key)
		if found {
			return n.entries[i].val, nil
		}
		if n.layer <= kl {
			return cid.Undef, ErrNotFound
		}
		g := n.gap(i)
		if g.empty() {
			return cid.Undef, ErrNotFound
		}
		s = n.gapSpan(i, s)
		if n, err = t.read(ctx, g, n.layer-1, false, s); err != nil {
			return cid.Undef, err
		}
	}
}

// LeafCount returns the number of keys in the tree. It reads every node that
// is not in memory.
func (t *Tree) LeafCount(ctx context.Context) (int, error) {
	n, err := t.readRoot(ctx)
	if err != nil {
		return 0, err
	}
	return t.count(ctx, n, span{})
}

func (t *Tree) count(ctx context.Context, n *node, s span) (int, error) {
	total := len(n.entries)
	for i := 0; i <= len(n.entries); i++ {
		g := n.gap(i)
		if g.empty() {
			continue
		}
		gs := n.gapSpan(i, s)
		child, err := t.read(ctx, g, n.layer-1, false, gs)
		if err != nil {
			return 0, err
		}
		c, err := t.count(ctx, child, gs)
		if err != nil {
			return 0, err
		}
		total += c
	}
	return total, nil
}

// Layer returns the layer of the root node (0 for the empty tree). It reads
// the root node if it is not in memory.
func (t *Tree) Layer(ctx context.Context) (int, error) {
	n, err := t.readRoot(ctx)
	if err != nil {
		return 0, err
	}
	return n.layer, nil
}

// UnstoredBlocks returns the encoded nodes that are part of the tree but not
// known to be in its block source: those created by New, Build and every
// change since the tree was loaded or last marked with [Tree.MarkStored],
// except nodes rebuilt identical to nodes read from the source (adding then
// deleting a key reports nothing). The returned byte slices are shared with
// the tree and must not be modified.
func (t *Tree) UnstoredBlocks(ctx context.Context) (map[cid.Cid][]byte, error) {
	out := make(map[cid.Cid][]byte)
	var visit func(l link)
	visit = func(l link) {
		n := l.n
		if n == nil || n.tx <= t.base {
			return
		}
		out[n.cid] = n.raw
		visit(n.left)
		for i := range n.entries {
			visit(n.entries[i].right)
		}
	}
	visit(t.root)
	return out, nil
}

// MarkStored returns a tree equal to t whose [Tree.UnstoredBlocks] is
// empty. Call it once the blocks UnstoredBlocks returned are persisted in
// the block source, so that later changes report only their own nodes.
func (t *Tree) MarkStored() *Tree {
	t2 := *t
	t2.base = t.tx
	// A new lineage forgets the CIDs seen so far; its batches still number
	// above every node of t.
	t2.lin = newLineage(t.lin.gen.Load())
	return &t2
}

// Build returns the tree holding entries, which must be sorted by strictly
// increasing key, every key valid (see [ValidateKey]) and every value
// defined. It builds the nodes bottom-up in one pass and gives the same tree
// as adding the entries one by one in any order. All its nodes are
// unstored.
func Build(src BlockSource, entries []Entry) (*Tree, error) {
	for i := range entries {
		if err := ValidateKey(entries[i].Key); err != nil {
			return nil, err
		}
		if !entries[i].Value.Defined() {
			return nil, errorf(ErrInvalidValue, "undefined value for key", entries[i].Key)
		}
		if i > 0 && entries[i].Key <= entries[i-1].Key {
			return nil, errorf(ErrInvalidKey, "keys not strictly increasing at index "+strconv.Itoa(i), entries[i].Key)
		}
	}
	lin := newLineage(0)
	tx := lin.gen.Add(1)
	t := &Tree{src: src, tx: tx, lin: lin}
	if len(entries) == 0 {
		n := &node{layer: 0, tx: tx}
		n.encode()
		t.root = link{n: n}
		return t, nil
	}
	b := builder{tx: tx}
	for i := range entries {
		b.add(entries[i])
	}
	root := b.finish()
	t.root = link{n: root}
	t.layer = root.layer
	return t, nil
}

// builder assembles a tree from sorted entries: open[l] is the node on layer
// l that is still receiving entries.
type builder struct {
	tx    uint64
	open  [maxLayer + 1]*node
	top   int
	arena []entry
}

func (b *builder) add(e Entry) {
	kl := Layer(e.Key)
	carry := b.close(kl)
	n := b.open[kl]
	if n == nil {
		n = &node{layer: kl, tx: b.tx}
		n.entries = b.alloc()
		b.open[kl] = n
		if kl > b.top {
			b.top = kl
		}
	}
	n.setGap(len(n.entries), carry)
	n.entries = append(n.entries, entry{key: e.Key, val: e.Value})
}

// alloc returns an empty entry slice cut from a shared arena.
func (b *builder) alloc() []entry {
	if cap(b.arena)-len(b.arena) < 8 {
		b.arena = make([]entry, 0, 1024)
	}
	s := b.arena[len(b.arena) : len(b.arena) : len(b.arena)+8]
	b.arena = b.arena[:len(b.arena)+8]
	return s
}

// close finishes every open node below layer upTo and returns the subtree
// they form, on layer upTo-1.
func (b *builder) close(upTo int) link {
	var carry link
	for l := 0; l < upTo; l++ {
		n := b.open[l]
		if n == nil {
			if carry.empty() {
				continue
			}
			n = &node{layer: l, tx: b.tx}
		}
		b.open[l] = nil
		n.setGap(len(n.entries), carry)
		n.encode()
		carry = link{n: n}
	}
	return carry
}

func (b *builder) finish() *node {
	carry := b.close(b.top)
	n := b.open[b.top]
	b.open[b.top] = nil
	n.setGap(len(n.entries), carry)
	n.encode()
	return n
}

func errorf(base error, msg, key string) error {
	return &detailError{base: base, msg: msg + " " + strconv.Quote(truncate(key))}
}
