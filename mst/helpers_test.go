package mst_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/mst"
)

// cid1 is the value CID of the SPEC's vectors and of the commit-proof
// fixtures.
const cid1Str = "bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454"

func mustCID(tb testing.TB, s string) cid.Cid {
	tb.Helper()
	c, err := cid.Decode(s)
	if err != nil {
		tb.Fatalf("cid.Decode(%q): %v", s, err)
	}
	return c
}

// valueCID returns a distinct record CID for i.
func valueCID(i int) cid.Cid {
	return mst.CBORCIDForTest([]byte(fmt.Sprintf("record %d", i)))
}

// readCAR parses a CARv1: its first root and its blocks. It is a small
// reader for the test data only.
func readCAR(data []byte) (cid.Cid, map[cid.Cid][]byte, error) {
	r := bufio.NewReader(bytes.NewReader(data))
	hlen, err := binary.ReadUvarint(r)
	if err != nil {
		return cid.Undef, nil, err
	}
	header := make([]byte, hlen)
	if _, err := io.ReadFull(r, header); err != nil {
		return cid.Undef, nil, err
	}
	// The header is {"roots": [tag42(bytes)], "version": 1}; take the CID
	// after the first tag 42.
	i := bytes.Index(header, []byte{0xd8, 0x2a})
	if i < 0 || i+4 > len(header) {
		return cid.Undef, nil, errors.New("car header without a root")
	}
	p := header[i+2:]
	var n int
	switch {
	case p[0] >= 0x40 && p[0] < 0x58:
		n, p = int(p[0]-0x40), p[1:]
	case p[0] == 0x58:
		n, p = int(p[1]), p[2:]
	default:
		return cid.Undef, nil, errors.New("bad root cid")
	}
	_, root, err := cid.CidFromBytes(p[1:n])
	if err != nil {
		return cid.Undef, nil, err
	}
	blocks := make(map[cid.Cid][]byte)
	for {
		l, err := binary.ReadUvarint(r)
		if err == io.EOF {
			break
		}
		if err != nil {
			return cid.Undef, nil, err
		}
		sec := make([]byte, l)
		if _, err := io.ReadFull(r, sec); err != nil {
			return cid.Undef, nil, err
		}
		used, c, err := cid.CidFromBytes(sec)
		if err != nil {
			return cid.Undef, nil, err
		}
		blocks[c] = sec[used:]
	}
	return root, blocks, nil
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// buildByAdding adds keys one at a time, all with value v.
func buildByAdding(tb testing.TB, src mst.BlockSource, keys []string, v cid.Cid) *mst.Tree {
	tb.Helper()
	ctx := context.Background()
	t := mst.New(src)
	for _, k := range keys {
		var err error
		if t, err = t.Add(ctx, k, v); err != nil {
			tb.Fatalf("Add(%q): %v", k, err)
		}
	}
	return t
}

func rootOf(tb testing.TB, t *mst.Tree) cid.Cid {
	tb.Helper()
	c, err := t.Root(context.Background())
	if err != nil {
		tb.Fatalf("Root: %v", err)
	}
	return c
}

func readFileErr(path string) ([]byte, error) { return os.ReadFile(path) }
