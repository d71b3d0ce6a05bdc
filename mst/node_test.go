package mst

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
)

// rawEntry is an entry written as is, for building malformed nodes.
type rawEntry struct {
	p    int
	k    string
	t, v cid.Cid
}

// encNode encodes a node from raw parts, with no checks.
func encNode(l cid.Cid, es ...rawEntry) []byte {
	b := []byte{cborMap2, 0x61, 'e'}
	b = appendHeader(b, majArray, uint64(len(es)))
	for _, e := range es {
		b = append(b, cborMap4, 0x61, 'k')
		b = appendHeader(b, majBytes, uint64(len(e.k)))
		b = append(b, e.k...)
		b = append(b, 0x61, 'p')
		b = appendHeader(b, majUint, uint64(e.p))
		b = append(b, 0x61, 't')
		b = appendCID(b, e.t)
		b = append(b, 0x61, 'v')
		b = appendCID(b, e.v)
	}
	b = append(b, 0x61, 'l')
	return appendCID(b, l)
}

var (
	testVal  = cborCID([]byte("value"))
	testLink = cborCID([]byte("child"))
)

// Keys with known layers (checked in TestMalformedNodes).
const (
	key0a = "A0/374913" // layer 0
	key0b = "B0/601692" // layer 0
	key1  = "A1/076595" // layer 1
)

func TestMalformedNodes(t *testing.T) {
	for k, want := range map[string]int{key0a: 0, key0b: 0, key1: 1} {
		if got := Layer(k); got != want {
			t.Fatalf("Layer(%q) = %d, want %d", k, got, want)
		}
	}
	good := encNode(cid.Undef, rawEntry{k: key0a, v: testVal}, rawEntry{k: key0b, v: testVal})
	rawCID := cid.NewCidV1(0x55, cborCID(nil).Hash())
	tests := []struct {
		name   string
		data   []byte
		isRoot bool
		want   string
	}{
		{"empty input", nil, false, "not a map"},
		{"not cbor", []byte{0xff}, false, "not a map"},
		{"truncated", bytes.Clone(good[:len(good)-3]), false, "missing l"},
		{"trailing byte", append(bytes.Clone(good), 0), false, "trailing bytes"},
		{"indefinite array", []byte{cborMap2, 0x61, 'e', 0x9f, 0xff, 0x61, 'l', cborNull}, false, "e is not an array"},
		{"huge array", []byte{cborMap2, 0x61, 'e', 0x9b, 0, 0, 0, 1, 0, 0, 0, 0, 0x61, 'l', cborNull}, false, "truncated"},
		{"three keys", []byte{0xa3, 0x61, 'e', 0x80, 0x61, 'l', cborNull, 0x61, 'x', cborNull}, false, "not a map"},
		{"l before e", []byte{cborMap2, 0x61, 'l', cborNull, 0x61, 'e', 0x80}, false, "not a map"},
		{"e is a map", []byte{cborMap2, 0x61, 'e', 0xa0, 0x61, 'l', cborNull}, false, "e is not an array"},
		{"k is text", bytes.Replace(good, []byte{0x61, 'k', 0x49}, []byte{0x61, 'k', 0x69}, 1), false, "k is not a byte string"},
		{"p not shortest", []byte(strings.Replace(string(good), "\x61p\x00", "\x61p\x18\x00", 1)), false, "p is not an unsigned integer"},
		{"p negative", []byte(strings.Replace(string(good), "\x61p\x00", "\x61p\x20", 1)), false, "p is not an unsigned integer"},
		{"v null", encNode(cid.Undef, rawEntry{k: key0a}), false, "v is not a CID"},
		{"t integer", []byte(strings.Replace(string(good), "\x61t\xf6", "\x61t\x01", 1)), false, "t is not null"},
		{"l text", append(bytes.Clone(good[:len(good)-1]), 0x61, 'x'), false, "l is not null"},
		{"cid without 0x00", []byte(strings.Replace(string(good), "\x58\x25\x00\x01", "\x58\x25\x01\x01", 1)), false, "v is not a CID"},
		{"l not dag-cbor", encNode(rawCID, rawEntry{k: key1, v: testVal}), false, "l is not null or an MST node CID"},
		{"unsorted", encNode(cid.Undef, rawEntry{k: key0b, v: testVal}, rawEntry{k: key0a, v: testVal}), false, "keys not sorted"},
		{"duplicate", encNode(cid.Undef, rawEntry{k: key0a, v: testVal}, rawEntry{p: len(key0a), v: testVal}), false, "duplicate key"},
		{"prefix too long", encNode(cid.Undef, rawEntry{k: key0a, v: testVal}, rawEntry{p: 20, k: "x", v: testVal}), false, "prefix length longer"},
		{"prefix not common", encNode(cid.Undef, rawEntry{k: key0a, v: testVal}, rawEntry{p: 1, k: "0/99999", v: testVal}), false, "not the common prefix"},
		{"first prefix not 0", encNode(cid.Undef, rawEntry{p: 1, k: key0a, v: testVal}), false, "prefix length longer"},
		{"bad key", encNode(cid.Undef, rawEntry{k: "no slash", v: testVal}), false, "invalid character"},
		{"key without collection", encNode(cid.Undef, rawEntry{k: "abc", v: testVal}), false, "not collection/rkey"},
		{"mixed layers", encNode(cid.Undef, rawEntry{k: key0a, v: testVal}, rawEntry{p: 1, k: key1[1:], v: testVal}), false, "key on layer 1 in a node on layer 0"},
		{"subtree below layer 0", encNode(cid.Undef, rawEntry{k: key0a, v: testVal, t: testLink}), false, "subtree below layer 0"},
		{"left below layer 0", encNode(testLink, rawEntry{k: key0a, v: testVal}), false, "subtree below layer 0"},
		{"empty inner node", encNode(cid.Undef), false, "empty inner node"},
		{"untrimmed root", encNode(testLink), true, "root node has a subtree and no entries"},
	}
	c := cborCID([]byte("some node"))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := decodeNode(c, tc.data, layerUnknown, tc.isRoot)
			if err == nil {
				t.Fatalf("decodeNode(%x) = nil error, want %q", tc.data, tc.want)
			}
			if n != nil {
				t.Errorf("decodeNode(%x) returned a node with error %v", tc.data, err)
			}
			var ne *NodeError
			if !errors.As(err, &ne) || ne.CID != c || !errors.Is(err, ErrMalformedNode) {
				t.Errorf("decodeNode() = %v, want a *NodeError for %s wrapping ErrMalformedNode", err, c)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), c.String()) {
				t.Errorf("decodeNode() = %q, want it to contain %q and the CID", err, tc.want)
			}
		})
	}
	// The good node and the empty root decode and re-encode.
	for _, data := range [][]byte{good, encNode(cid.Undef)} {
		n, err := decodeNode(c, data, layerUnknown, true)
		if err != nil {
			t.Fatalf("decodeNode(%x) = %v", data, err)
		}
		if got := appendNode(nil, n); !bytes.Equal(got, data) {
			t.Errorf("re-encoding = %x, want %x", got, data)
		}
	}
	// A node on the wrong layer for its parent.
	if _, err := decodeNode(c, good, 1, false); err == nil || !strings.Contains(err.Error(), "key on layer 0 in a node on layer 1") {
		t.Errorf("decodeNode(layer 1) = %v", err)
	}
}

// TestBadTrees checks that operations on trees with bad nodes fail with an
// error naming the node, and never panic or loop.
func TestBadTrees(t *testing.T) {
	ctx := context.Background()
	put := func(s *MemBlocks, data []byte) cid.Cid {
		c := cborCID(data)
		s.Put(c, data)
		return c
	}
	type setup func(s *MemBlocks) (root, bad cid.Cid)
	tests := []struct {
		name  string
		setup setup
		want  error
		msg   string
	}{
		{"missing child", func(s *MemBlocks) (cid.Cid, cid.Cid) {
			return put(s, encNode(testLink, rawEntry{k: key1, v: testVal})), testLink
		}, ErrMissingBlock, "missing mst node"},
		{"missing root", func(s *MemBlocks) (cid.Cid, cid.Cid) {
			return testLink, testLink
		}, ErrMissingBlock, "missing mst node"},
		{"child on the wrong layer", func(s *MemBlocks) (cid.Cid, cid.Cid) {
			child := put(s, encNode(cid.Undef, rawEntry{k: key1, v: testVal}))
			return put(s, encNode(child, rawEntry{k: "B1/986427", v: testVal, t: cid.Undef})), child
		}, ErrMalformedNode, "key on layer 1 in a node on layer 0"},
		{"child keys out of range", func(s *MemBlocks) (cid.Cid, cid.Cid) {
			child := put(s, encNode(cid.Undef, rawEntry{k: key0b, v: testVal}))
			// key0b > key1's place: the left subtree of key1 holds a greater key.
			return put(s, encNode(child, rawEntry{k: key1, v: testVal})), child
		}, ErrMalformedNode, "outside the range"},
		{"empty child", func(s *MemBlocks) (cid.Cid, cid.Cid) {
			child := put(s, encNode(cid.Undef))
			return put(s, encNode(child, rawEntry{k: key1, v: testVal})), child
		}, ErrMalformedNode, "empty inner node"},
		{"leafless chain below layer 0", func(s *MemBlocks) (cid.Cid, cid.Cid) {
			bottom := put(s, encNode(cid.Undef, rawEntry{k: key0a, v: testVal}))
			mid := put(s, encNode(bottom))
			return put(s, encNode(mid, rawEntry{k: key1, v: testVal})), mid
		}, ErrMalformedNode, "subtree below layer 0"},
		{"block does not match its CID (a cycle)", func(s *MemBlocks) (cid.Cid, cid.Cid) {
			// A node that claims to be its own child: the source lies.
			self := cborCID([]byte("self"))
			s.Put(self, encNode(self, rawEntry{k: key1, v: testVal}))
			return self, self
		}, ErrMalformedNode, "does not hash to its CID"},
		{"root not dag-cbor", func(s *MemBlocks) (cid.Cid, cid.Cid) {
			c := cid.NewCidV1(0x55, testLink.Hash())
			return c, c
		}, ErrMalformedNode, "not a dag-cbor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &MemBlocks{}
			root, bad := tc.setup(s)
			tr := Load(s, root)
			check := func(op string, err error) {
				t.Helper()
				var ne *NodeError
				if !errors.As(err, &ne) || ne.CID != bad || !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("%s = %v, want a *NodeError for %s wrapping %v (%q)", op, err, bad, tc.want, tc.msg)
				}
				if errors.Is(err, ErrNotFound) {
					t.Errorf("%s = %v, which wraps ErrNotFound", op, err)
				}
			}
			_, err := tr.LeafCount(ctx)
			check("LeafCount", err)
			_, err = tr.List(ctx, ListOptions{})
			check("List", err)
			check("Blocks", tr.Blocks(ctx, nil, func(cid.Cid, []byte) error { return nil }))
			_, err = tr.Get(ctx, key0a)
			check("Get", err)
			_, err = tr.Put(ctx, key0a, testVal)
			check("Put", err)
			_, err = Diff(ctx, New(nil), tr)
			check("Diff", err)
		})
	}
}

// FuzzDecodeNode checks that the decoder never panics, that a successful
// decode re-encodes to exactly the input, and that a failed decode returns
// no node.
func FuzzDecodeNode(f *testing.F) {
	entries := []Entry{}
	for _, k := range []string{key0a, key1, "B1/986427", key0b, "C0/451630", "D2/269196", "E0/670489", "app.bsky.feed.post/3jqfcqzm3fo2j", "app.bsky.feed.post/3jqfcqzm3fp2j"} {
		entries = append(entries, Entry{Key: k, Value: testVal})
	}
	slicesSortEntries(entries)
	tr, err := Build(nil, entries)
	if err != nil {
		f.Fatal(err)
	}
	blocks, _ := tr.UnstoredBlocks(context.Background())
	for _, b := range blocks {
		f.Add(b)
	}
	f.Add(encNode(cid.Undef))
	f.Add(encNode(testLink, rawEntry{k: key1, v: testVal, t: testLink}))
	f.Add([]byte{cborMap2, 0x61, 'e', 0x9f, 0xff, 0x61, 'l', cborNull})
	c := cborCID([]byte("fuzz"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, isRoot := range []bool{false, true} {
			n, err := decodeNode(c, data, layerUnknown, isRoot)
			if err != nil {
				if n != nil {
					t.Fatalf("decodeNode(%x) = node and error %v", data, err)
				}
				if !errors.Is(err, ErrMalformedNode) {
					t.Fatalf("decodeNode(%x) = %v, not ErrMalformedNode", data, err)
				}
				continue
			}
			if got := appendNode(nil, n); !bytes.Equal(got, data) {
				t.Fatalf("decodeNode(%x) re-encodes to %x", data, got)
			}
		}
	})
}

func slicesSortEntries(es []Entry) {
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && es[j].Key < es[j-1].Key; j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

// TestCIDLayout checks the assumption behind the allocation-free CIDs of
// decoded nodes (a cid.Cid is one string holding the binary CID), and that
// both ways of building a CID agree.
func TestCIDLayout(t *testing.T) {
	if !cidLayoutOK {
		t.Error("cid.Cid is not a single string: decoded CIDs take the slow path")
	}
	c := cborCID([]byte("x"))
	want, err := cid.Cast([]byte(c.KeyString()))
	if err != nil {
		t.Fatal(err)
	}
	if got := cidFromBinary(c.KeyString()); got != want || got.String() != want.String() {
		t.Errorf("cidFromBinary() = %s, want %s", got, want)
	}
}
