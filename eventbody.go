package atlite

import (
	"unicode/utf8"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/cborhead"
	"github.com/atlite-dev/atlite/syntax"
)

// The stored body of a #commit event, read without building it as maps.
// Event.body writes it with datamodel.Marshal as the canonical DAG-CBOR
// map {ops, since, blocks, commit, prevData} (keys by length, then
// bytewise), each op {cid, path, prev, action}. decodeCommitBody reads
// exactly that shape, under the rules of datamodel.Unmarshal (shortest
// heads, valid UTF-8, CIDs as go-cid casts them, no bytes after), and gives
// up on anything else, which Event.decodeBody then decodes the generic way
// (and reports, if it is damage): its result is always the generic one.
// A replay decodes every event it sends, and the generic decoder's maps
// cost more than the rest of the decode.

// bodyReader reads the heads and values of a body, failing on anything
// decodeCommitBody does not expect.
type bodyReader struct {
	b   []byte
	s   string // b as a string: the texts decoded share it
	pos int
	ok  bool
}

// head reads a head of major type major in shortest form and returns its
// argument.
func (r *bodyReader) head(major byte) uint64 {
	if !r.ok {
		return 0
	}
	m, info, arg, n, p := cborhead.Read(r.b[r.pos:])
	if p != cborhead.OK || m != major || !cborhead.Shortest(info, arg) {
		r.ok = false
		return 0
	}
	r.pos += n
	return arg
}

// length reads the head of a string, array or map of major type major
// whose items take at least unit bytes, checking its length against what
// is left.
func (r *bodyReader) length(major byte, unit int) int {
	n := r.head(major)
	if !r.ok || n > uint64(len(r.b)-r.pos)/uint64(unit) {
		r.ok = false
		return 0
	}
	return int(n)
}

// text reads a text string.
func (r *bodyReader) text() string {
	n := r.length(3, 1)
	if !r.ok || !utf8.Valid(r.b[r.pos:r.pos+n]) {
		r.ok = false
		return ""
	}
	s := r.s[r.pos : r.pos+n]
	r.pos += n
	return s
}

// key reads the map key k.
func (r *bodyReader) key(k string) {
	if r.text() != k {
		r.ok = false
	}
}

// null reads a null, if there is one.
func (r *bodyReader) null() bool {
	if r.ok && r.pos < len(r.b) && r.b[r.pos] == 0xf6 {
		r.pos++
		return true
	}
	return false
}

// link reads a CID link (tag 42), or a null when nullable.
func (r *bodyReader) link(nullable bool) cid.Cid {
	if nullable && r.null() {
		return cid.Undef
	}
	if r.head(6) != 42 {
		r.ok = false
		return cid.Undef
	}
	n := r.length(2, 1)
	if !r.ok || n == 0 || r.b[r.pos] != 0 {
		r.ok = false
		return cid.Undef
	}
	c, err := cid.Cast(r.b[r.pos+1 : r.pos+n])
	if err != nil {
		r.ok = false
		return cid.Undef
	}
	r.pos += n
	return c
}

// decodeCommitBody fills the fields of a #commit event e from its stored
// body b and returns true, or returns false (e half filled) when b is not
// in the shape Event.body writes.
func decodeCommitBody(e *Event, b []byte) bool {
	r := bodyReader{b: b, s: string(b), ok: true}
	if r.length(5, 2) != 5 {
		return false
	}
	r.key("ops")
	nops := r.length(4, 1)
	e.Ops = make([]commit.Op, 0, nops)
	for range nops {
		if r.length(5, 2) != 4 {
			return false
		}
		var op commit.Op
		r.key("cid")
		op.CID = r.link(true)
		r.key("path")
		op.Path = r.text()
		r.key("prev")
		op.Prev = r.link(true)
		r.key("action")
		op.Action = commit.Action(r.text())
		if !r.ok {
			return false
		}
		e.Ops = append(e.Ops, op)
	}
	r.key("since")
	e.Since = ""
	if !r.null() {
		s := r.text()
		if !r.ok {
			return false
		}
		var err error
		if e.Since, err = syntax.ParseTID(s); err != nil {
			return false // the generic decode reports it
		}
	}
	r.key("blocks")
	nb := r.length(4, 1)
	e.Blocks = make([]cid.Cid, 0, nb)
	for range nb {
		e.Blocks = append(e.Blocks, r.link(false))
	}
	r.key("commit")
	e.Commit = r.link(false)
	r.key("prevData")
	e.PrevData = r.link(true)
	return r.ok && r.pos == len(b)
}
