package mst

import (
	"crypto/sha256"
	"strconv"
	"strings"
	"unsafe"

	"github.com/atlite-dev/atlite/internal/cborhead"
	"github.com/ipfs/go-cid"
)

// link points at a subtree. A link is empty (no subtree), a stub (only the
// CID is known; the node is read from the block source when needed), or
// resident (n is set; the CID is n.cid).
type link struct {
	c cid.Cid
	n *node
}

func (l link) empty() bool { return l.n == nil && !l.c.Defined() }

func (l link) cid() cid.Cid {
	if l.n != nil {
		return l.n.cid
	}
	return l.c
}

// entry is a leaf of a node and the subtree to its right.
type entry struct {
	key   string
	val   cid.Cid
	right link
}

// node is one MST node. Nodes are immutable once the batch that created them
// has finished (tx no longer current); within a batch, nodes whose tx is the
// batch's are modified in place.
type node struct {
	layer   int
	left    link
	entries []entry

	// cid is the node's CID; undefined while the node is dirty.
	cid cid.Cid
	// raw is the canonical encoding, kept for nodes not known to be stored.
	raw []byte
	// tx is the batch that created the node; 0 for nodes read from the
	// block source.
	tx uint64
}

// gap returns the subtree left of entries[i] (i == len(entries): right of
// the last entry).
func (n *node) gap(i int) link {
	if i == 0 {
		return n.left
	}
	return n.entries[i-1].right
}

func (n *node) setGap(i int, l link) {
	if i == 0 {
		n.left = l
	} else {
		n.entries[i-1].right = l
	}
}

// isEmpty reports whether the node holds no key at all.
func (n *node) isEmpty() bool { return len(n.entries) == 0 && n.left.empty() }

// search returns the index of the first entry whose key is >= key, and
// whether that entry's key equals key.
func (n *node) search(key string) (int, bool) {
	lo, hi := 0, len(n.entries)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if n.entries[m].key < key {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(n.entries) && n.entries[lo].key == key
}

// CBOR constants of the fixed node shape.
const (
	cborNull     = 0xf6
	cborMap2     = 0xa2
	cborMap4     = 0xa4
	majUint      = 0 << 5
	majBytes     = 2 << 5
	majArray     = 4 << 5
	cidPrefix    = "\x01\x71\x12\x20"
	rawCIDPrefix = "\x01\x55\x12\x20"
	cidLen       = 36
)

// appendHeader appends a CBOR head of the given major type (its bits in
// the initial byte, as majBytes) and argument in its shortest form.
func appendHeader(b []byte, major byte, v uint64) []byte {
	return cborhead.Append(b, major>>5, v)
}

func appendCID(b []byte, c cid.Cid) []byte {
	if !c.Defined() {
		return append(b, cborNull)
	}
	s := c.KeyString()
	b = append(b, 0xd8, 0x2a)
	b = appendHeader(b, majBytes, uint64(len(s)+1))
	b = append(b, 0)
	return append(b, s...)
}

// encodedSize returns an upper bound of the node's encoding size.
func (n *node) encodedSize() int {
	size := 1 + 2 + 9 + 2 + 42
	for i := range n.entries {
		e := &n.entries[i]
		size += 1 + 2 + 9 + len(e.key) + 2 + 9 + 2 + 42 + 2 + 5 + len(e.val.KeyString())
	}
	return size
}

// appendNode appends the canonical DAG-CBOR encoding of n. Every child link
// must have a CID.
func appendNode(b []byte, n *node) []byte {
	b = append(b, cborMap2, 0x61, 'e')
	b = appendHeader(b, majArray, uint64(len(n.entries)))
	prev := ""
	for i := range n.entries {
		e := &n.entries[i]
		p := commonPrefixLen(prev, e.key)
		b = append(b, cborMap4, 0x61, 'k')
		b = appendHeader(b, majBytes, uint64(len(e.key)-p))
		b = append(b, e.key[p:]...)
		b = append(b, 0x61, 'p')
		b = appendHeader(b, majUint, uint64(p))
		b = append(b, 0x61, 't')
		b = appendCID(b, e.right.cid())
		b = append(b, 0x61, 'v')
		b = appendCID(b, e.val)
		prev = e.key
	}
	b = append(b, 0x61, 'l')
	return appendCID(b, n.left.cid())
}

// cborCID returns the CIDv1 (dag-cbor, SHA-256) of data.
func cborCID(data []byte) cid.Cid {
	sum := sha256.Sum256(data)
	return cidFromDigest(&sum)
}

func cidFromDigest(sum *[32]byte) cid.Cid {
	var b [cidLen]byte
	copy(b[:], cidPrefix)
	copy(b[4:], sum[:])
	return cidFromBinary(string(b[:]))
}

// encode computes raw and cid of a node whose children all have CIDs.
func (n *node) encode() {
	n.raw = appendNode(make([]byte, 0, n.encodedSize()), n)
	n.cid = cborCID(n.raw)
}

// layerUnknown asks decodeNode to take the layer from the node's keys.
const layerUnknown = -1

// entryOffsets locates an entry's parts while a node is decoded: the end of
// its key in the rebuilt key buffer and its CIDs in the block.
type entryOffsets struct {
	keyEnd     int
	tOff, tLen int
	vOff, vLen int
}

// decodeNode parses the canonical encoding of an MST node whose CID is c.
// layer is the layer the node must be on, or layerUnknown to take it from the
// keys (a node without keys then keeps layerUnknown). isRoot allows the empty
// node and forbids a leafless node with a subtree (an untrimmed root). The
// returned node has tx 0 and cid c; raw is not kept. Every error is a
// *NodeError naming c. decodeNode does not check that data hashes to c.
//
// The node's keys and CIDs are cut from one string holding a copy of the
// block and the rebuilt keys: a node costs a handful of allocations however
// many entries it has.
func decodeNode(c cid.Cid, data []byte, layer int, isRoot bool) (*node, error) {
	d := decoder{data: data}
	if !d.expect(cborMap2) || !d.expect(0x61) || !d.expect('e') {
		return nil, malformed(c, "not a map with keys e and l")
	}
	count, ok := d.head(majArray)
	if !ok {
		return nil, malformed(c, "e is not an array")
	}
	// Each entry takes at least 12 bytes; reject absurd counts early.
	if count > uint64(len(data))/12 {
		return nil, malformed(c, "e is truncated")
	}
	var offsBuf [32]entryOffsets
	offs := offsBuf[:0]
	if count > uint64(len(offsBuf)) {
		offs = make([]entryOffsets, 0, count)
	}
	var keyBuf [1024]byte
	keys := keyBuf[:0]
	prevStart, prevEnd := 0, 0
	hasSubtree := false
	nodeLayer := layer
	for i := 0; i < int(count); i++ {
		if !d.expect(cborMap4) || !d.expect(0x61) || !d.expect('k') {
			return nil, malformed(c, "entry "+strconv.Itoa(i)+" is not a map with keys k, p, t, v")
		}
		klen, ok := d.head(majBytes)
		if !ok || klen > uint64(len(d.data)-d.off) {
			return nil, malformed(c, "entry "+strconv.Itoa(i)+": k is not a byte string")
		}
		suffix := d.data[d.off : d.off+int(klen)]
		d.off += int(klen)
		if !d.expect(0x61) || !d.expect('p') {
			return nil, malformed(c, "entry "+strconv.Itoa(i)+": missing p")
		}
		p, ok := d.head(majUint)
		if !ok {
			return nil, malformed(c, "entry "+strconv.Itoa(i)+": p is not an unsigned integer")
		}
		prevLen := prevEnd - prevStart
		if p > uint64(prevLen) {
			return nil, malformed(c, "entry "+strconv.Itoa(i)+": prefix length longer than the previous key")
		}
		start := len(keys)
		keys = append(keys, keys[prevStart:prevStart+int(p)]...)
		keys = append(keys, suffix...)
		key := keys[start:]
		prev := keys[prevStart:prevEnd]
		if i > 0 {
			// The prefix length must be exact and the key must sort after
			// the previous one.
			if int(p) < prevLen && (len(suffix) == 0 || suffix[0] <= prev[p]) {
				if len(suffix) > 0 && suffix[0] == prev[p] {
					return nil, malformed(c, "entry "+strconv.Itoa(i)+": prefix length is not the common prefix")
				}
				return nil, malformed(c, "entry "+strconv.Itoa(i)+": keys not sorted")
			}
			if int(p) == prevLen && len(suffix) == 0 {
				return nil, malformed(c, "entry "+strconv.Itoa(i)+": duplicate key")
			}
		}
		if msg := checkStoredKey(key); msg != "" {
			return nil, malformed(c, "entry "+strconv.Itoa(i)+": "+msg)
		}
		sum := sha256.Sum256(key)
		kl := layerOfDigest(&sum)
		if nodeLayer == layerUnknown {
			nodeLayer = kl
		} else if kl != nodeLayer {
			return nil, malformed(c, "entry "+strconv.Itoa(i)+": key on layer "+strconv.Itoa(kl)+" in a node on layer "+strconv.Itoa(nodeLayer))
		}
		prevStart, prevEnd = start, len(keys)
		o := entryOffsets{keyEnd: len(keys)}
		if !d.expect(0x61) || !d.expect('t') {
			return nil, malformed(c, "entry "+strconv.Itoa(i)+": missing t")
		}
		if o.tOff, o.tLen, ok = d.link(true); !ok {
			return nil, malformed(c, "entry "+strconv.Itoa(i)+": t is not null or an MST node CID")
		}
		hasSubtree = hasSubtree || o.tLen > 0
		if !d.expect(0x61) || !d.expect('v') {
			return nil, malformed(c, "entry "+strconv.Itoa(i)+": missing v")
		}
		if o.vOff, o.vLen, ok = d.link(false); !ok {
			return nil, malformed(c, "entry "+strconv.Itoa(i)+": v is not a CID")
		}
		offs = append(offs, o)
	}
	if !d.expect(0x61) || !d.expect('l') {
		return nil, malformed(c, "missing l")
	}
	lOff, lLen, ok := d.link(true)
	if !ok {
		return nil, malformed(c, "l is not null or an MST node CID")
	}
	if d.off != len(d.data) {
		return nil, malformed(c, "trailing bytes")
	}
	hasSubtree = hasSubtree || lLen > 0
	if hasSubtree && nodeLayer == 0 {
		return nil, malformed(c, "subtree below layer 0")
	}
	if count == 0 {
		if isRoot && lLen > 0 {
			return nil, malformed(c, "root node has a subtree and no entries")
		}
		if !isRoot && lLen == 0 {
			return nil, malformed(c, "empty inner node")
		}
	}

	// Build the node from one string: the block, then the rebuilt keys.
	all := make([]byte, len(data)+len(keys))
	copy(all, data)
	copy(all[len(data):], keys)
	str := unsafe.String(unsafe.SliceData(all), len(all))
	// raw is the block's copy at the start of all: the node's canonical
	// encoding, since it hashed to c.
	n := &node{layer: nodeLayer, cid: c, raw: all[:len(data):len(data)]}
	n.left.c = cidAt(str, lOff, lLen)
	if count > 0 {
		n.entries = make([]entry, count)
		base, start := len(data), 0
		for i := range n.entries {
			o := &offs[i]
			e := &n.entries[i]
			e.key = str[base+start : base+o.keyEnd]
			start = o.keyEnd
			e.val = cidAt(str, o.vOff, o.vLen)
			e.right.c = cidAt(str, o.tOff, o.tLen)
		}
	}
	return n, nil
}

// cidAt returns the CID at s[off:off+n], or cid.Undef if n is 0. The bytes
// were validated while decoding.
func cidAt(s string, off, n int) cid.Cid {
	if n == 0 {
		return cid.Undef
	}
	return cidFromBinary(s[off : off+n])
}

// cidFromBinary returns the CID whose binary form is s, which must be valid.
// A cid.Cid is a struct holding that very string, so when the layout check
// at start-up holds it is built without copying; otherwise it is parsed.
func cidFromBinary(s string) cid.Cid {
	if cidLayoutOK {
		return *(*cid.Cid)(unsafe.Pointer(&s))
	}
	c, err := cid.Cast([]byte(s))
	if err != nil {
		panic("mst: validated cid does not parse: " + err.Error())
	}
	return c
}

// cidLayoutOK reports whether a cid.Cid is laid out as a single string
// holding the binary CID, as go-cid v0.x does.
var cidLayoutOK = func() bool {
	if unsafe.Sizeof(cid.Cid{}) != unsafe.Sizeof("") {
		return false
	}
	want, err := cid.Cast([]byte(cidPrefix + strings.Repeat("\x07", 32)))
	if err != nil {
		return false
	}
	s := want.KeyString()
	return *(*cid.Cid)(unsafe.Pointer(&s)) == want
}()

// decoder reads the fixed node shape, accepting only canonical forms.
type decoder struct {
	data []byte
	off  int
}

func (d *decoder) expect(b byte) bool {
	if d.off < len(d.data) && d.data[d.off] == b {
		d.off++
		return true
	}
	return false
}

// head reads a CBOR head of the given major type in its shortest form.
func (d *decoder) head(major byte) (uint64, bool) {
	m, info, v, n, p := cborhead.Read(d.data[d.off:])
	if p != cborhead.OK || m<<5 != major || !cborhead.Shortest(info, v) {
		return 0, false
	}
	d.off += n
	return v, true
}

// link reads null (if nullable) or a tag-42 CID, and returns the offset and
// length of the CID's binary form in the data (length 0 for null). With
// nullable set the CID must be a blessed dag-cbor SHA-256 CIDv1, since it
// points at a node.
func (d *decoder) link(nullable bool) (int, int, bool) {
	if nullable && d.expect(cborNull) {
		return 0, 0, true
	}
	if !d.expect(0xd8) || !d.expect(0x2a) {
		return 0, 0, false
	}
	n, ok := d.head(majBytes)
	if !ok || n < 2 || n > uint64(len(d.data)-d.off) || d.data[d.off] != 0 {
		return 0, 0, false
	}
	off := d.off + 1
	b := d.data[off : d.off+int(n)]
	d.off += int(n)
	if len(b) == cidLen && (string(b[:4]) == cidPrefix || string(b[:4]) == rawCIDPrefix) {
		if nullable && b[1] != 0x71 {
			return 0, 0, false
		}
		return off, len(b), true
	}
	if nullable {
		return 0, 0, false
	}
	used, _, err := cid.CidFromBytes(b)
	if err != nil || used != len(b) {
		return 0, 0, false
	}
	return off, len(b), true
}
