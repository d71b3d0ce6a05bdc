package mst

import (
	"context"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/ipfs/go-cid"
)

// NodeCache keeps decoded nodes that are known to be in a block source, so
// that trees loaded with [LoadCached] neither read nor decode them again. It
// is safe for concurrent use.
//
// A node enters the cache only through [NodeCache.AddStored], which a caller
// calls once a tree's nodes are persisted: a node a tree read or built
// while its writes might still be rolled back is not shared before then.
type NodeCache struct {
	c *lru.Cache[cid.Cid, *node]
}

// NewNodeCache returns a cache of at most size nodes (at least 1).
func NewNodeCache(size int) *NodeCache {
	c, _ := lru.New[cid.Cid, *node](max(size, 1))
	return &NodeCache{c: c}
}

// seenNodes holds the stored nodes a lineage of cached trees decoded, until
// they join the cache.
type seenNodes struct {
	mu sync.Mutex
	m  map[cid.Cid]*node
}

// LoadCached is [Load] with nodes looked up in nc first (nc may be nil).
// The nodes the tree and the trees derived from it decode are kept with
// them, so that each is decoded at most once; [NodeCache.AddStored] adds
// them to nc.
func LoadCached(src BlockSource, root cid.Cid, nc *NodeCache) *Tree {
	t := Load(src, root)
	t.cache = nc
	t.seen = &seenNodes{m: make(map[cid.Cid]*node)}
	return t
}

// cached returns the decoded node c if the cache or the lineage holds it
// and it fits where it is asked for (on layer, within s), else nil.
func (t *Tree) cached(c cid.Cid, layer int, isRoot bool, s span) *node {
	var n *node
	if t.cache != nil {
		n, _ = t.cache.c.Get(c)
	}
	if n == nil && t.seen != nil {
		t.seen.mu.Lock()
		n = t.seen.m[c]
		t.seen.mu.Unlock()
	}
	if n == nil || (layer != layerUnknown && n.layer != layer) || !s.holds(n) {
		return nil
	}
	// A node without entries (only a left subtree) is an inner node on the
	// layer its parent gives it, never a root.
	if len(n.entries) == 0 && (isRoot || layer == layerUnknown) {
		return nil
	}
	return n
}

// cachedIf is cached(c, layer, no bound) for a tree loaded with
// LoadCached, nil for the others.
func (t *Tree) cachedIf(c cid.Cid, layer int, isRoot bool) *node {
	if t.seen == nil {
		return nil
	}
	return t.cached(c, layer, isRoot, span{})
}

// remember keeps a node decoded from the source for the lineage. A node
// without entries is kept only with a subtree and a known layer (an inner
// node: its layer is the one its parent gave it).
func (t *Tree) remember(c cid.Cid, n *node) {
	if t.seen == nil || (len(n.entries) == 0 && (n.left.empty() || n.layer == layerUnknown)) {
		return
	}
	t.seen.mu.Lock()
	t.seen.m[c] = n
	t.seen.mu.Unlock()
}

// AddStored adds to nc the nodes of t: those t's lineage decoded and those
// in memory (built or changed through it). Call it once t's unstored
// blocks are persisted in the block source that trees loaded with nc read.
func (nc *NodeCache) AddStored(ctx context.Context, t *Tree) {
	if nc == nil || t == nil {
		return
	}
	if t.seen != nil {
		t.seen.mu.Lock()
		for c, n := range t.seen.m {
			nc.c.Add(c, n)
		}
		t.seen.mu.Unlock()
	}
	var visit func(n *node)
	visit = func(n *node) {
		if n == nil || !n.cid.Defined() {
			return
		}
		visit(n.left.n)
		for i := range n.entries {
			visit(n.entries[i].right.n)
		}
		if n.layer == layerUnknown || (len(n.entries) == 0 && n.left.empty()) {
			return
		}
		if _, ok := nc.c.Peek(n.cid); ok {
			return
		}
		// A copy as if decoded: stub links, no batch.
		s := &node{layer: n.layer, left: link{c: n.left.cid()}, cid: n.cid, raw: n.raw}
		s.entries = make([]entry, len(n.entries))
		for i, e := range n.entries {
			s.entries[i] = entry{key: e.key, val: e.val, right: link{c: e.right.cid()}}
		}
		nc.c.Add(n.cid, s)
	}
	visit(t.root.n)
}
