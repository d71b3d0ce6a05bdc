package xrpc

import (
	"unicode/utf8"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/internal/cborhead"
)

// The #commit frame, encoded straight into one buffer: it is most of what
// a firehose sends, and building it as a map for datamodel.Marshal cost
// more than reading its blocks from the file. The bytes are those of the
// generic path (f.encodeGeneric), which TestCommitFrameBytes checks over
// every kind of commit; anything this encoder does not expect (invalid
// UTF-8, an undefined commit CID) is left to the generic path, which
// reports it.

// commitFrameHeader is the frame header {"op": 1, "t": "#commit"} in
// canonical DAG-CBOR ("t" sorts before "op").
const commitFrameHeader = "\xa2atg#commitbop\x01"

// CBOR initial bytes the frame needs.
const (
	cborUint  = 0 << 5
	cborBytes = 2 << 5
	cborText  = 3 << 5
	cborArray = 4 << 5
	cborMap   = 5 << 5
	cborFalse = 0xf4
	cborNull  = 0xf6
)

// appendHead appends a CBOR head of the major type (its bits in the
// initial byte, as cborText) with argument n in its shortest form.
func appendHead(b []byte, major byte, n uint64) []byte {
	return cborhead.Append(b, major>>5, n)
}

// appendText appends s as a CBOR text string.
func appendText(b []byte, s string) []byte {
	b = appendHead(b, cborText, uint64(len(s)))
	return append(b, s...)
}

// appendCID appends c as a DAG-CBOR link (tag 42, 0x00 and the binary
// CID), or null when c is undefined.
func appendCID(b []byte, c cid.Cid) []byte {
	if !c.Defined() {
		return append(b, cborNull)
	}
	k := c.KeyString()
	b = append(b, 0xd8, 42)
	b = appendHead(b, cborBytes, uint64(len(k)+1))
	b = append(b, 0)
	return append(b, k...)
}

// commitFrame returns the #commit frame of e, whose blocks are car and
// whose time is t (frameTime), and true; or false when e holds something
// only the generic encoder handles.
func commitFrame(e *atlite.Event, car []byte, t string) ([]byte, bool) {
	if e.Kind != atlite.KindCommit || !e.Commit.Defined() || e.Seq < 0 ||
		!utf8.ValidString(e.DID.String()) || !utf8.ValidString(e.Rev.String()) ||
		!utf8.ValidString(e.Since.String()) || !utf8.ValidString(t) {
		return nil, false
	}
	// Room for every field, so that the buffer is allocated once: the
	// fixed keys and values take about 230 bytes, an op about 100 and its
	// path.
	size := len(commitFrameHeader) + 320 + len(e.DID) + len(car)
	for _, op := range e.Ops {
		if !utf8.ValidString(op.Path) || !utf8.ValidString(string(op.Action)) {
			return nil, false
		}
		size += 120 + len(op.Path)
	}
	b := make([]byte, 0, size)
	b = append(b, commitFrameHeader...)
	// The body's keys in canonical order: by length, then bytewise.
	n := uint64(11)
	if e.PrevData.Defined() {
		n++
	}
	b = appendHead(b, cborMap, n)
	b = appendText(b, "ops")
	b = appendHead(b, cborArray, uint64(len(e.Ops)))
	for _, op := range e.Ops {
		// cid, path, prev (updates and deletes only), action.
		m := uint64(3)
		if op.Prev.Defined() {
			m++
		}
		b = appendHead(b, cborMap, m)
		b = appendText(b, "cid")
		b = appendCID(b, op.CID)
		b = appendText(b, "path")
		b = appendText(b, op.Path)
		if op.Prev.Defined() {
			b = appendText(b, "prev")
			b = appendCID(b, op.Prev)
		}
		b = appendText(b, "action")
		b = appendText(b, string(op.Action))
	}
	b = appendText(b, "rev")
	b = appendText(b, e.Rev.String())
	b = appendText(b, "seq")
	b = appendHead(b, cborUint, uint64(e.Seq))
	b = appendText(b, "repo")
	b = appendText(b, e.DID.String())
	b = appendText(b, "time")
	b = appendText(b, t)
	b = appendText(b, "blobs")
	b = appendHead(b, cborArray, 0)
	b = appendText(b, "since")
	if e.Since != "" {
		b = appendText(b, e.Since.String())
	} else {
		b = append(b, cborNull)
	}
	b = appendText(b, "blocks")
	b = appendHead(b, cborBytes, uint64(len(car)))
	b = append(b, car...)
	b = appendText(b, "commit")
	b = appendCID(b, e.Commit)
	b = appendText(b, "rebase")
	b = append(b, cborFalse)
	b = appendText(b, "tooBig")
	b = append(b, cborFalse)
	if e.PrevData.Defined() {
		b = appendText(b, "prevData")
		b = appendCID(b, e.PrevData)
	}
	return b, true
}
