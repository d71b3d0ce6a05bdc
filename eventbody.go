package atlite

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/cborhead"
	"github.com/atlite-dev/atlite/syntax"
)

// The stored body of a #commit event in files before schema 5, read
// without building it as maps. Event.cborBody writes it with
// datamodel.Marshal as the canonical DAG-CBOR map {ops, since, blocks,
// commit, prevData} (keys by length, then bytewise), each op {cid, path,
// prev, action}; Event.body now writes the compact form below instead,
// except for an event that form cannot hold. decodeCommitBody reads
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

// The compact body of a #commit event (schema 5 on SQLite, 3 on
// PostgreSQL). The DAG-CBOR map above repeats every op's four keys and, in
// blocks, the CID of every record the commit wrote, which its op already
// holds: about 32 kB for a commit of 200 records, 28% of a 100k-record
// repo's file when its events are kept. Event.body writes this instead
// whenever the event fits it (every event a commit makes does); the map is
// still read, from files made before:
//
//	body   = 0x02 flags commit [since] [prevData] uvarint(len ops) op* uvarint(len blocks) block*
//	flags  = 1 if since is set | 2 if prevData is set (no other bit)
//	since  = the 13 bytes of the rev (syntax.TIDLength)
//	op     = head uvarint(shared) uvarint(len suffix) suffix [cid] [prev]
//	head   = action (0 create, 1 update, 2 delete) | 4 if cid is set | 8 if prev is set
//	block  = uvarint(0) cid, or uvarint(i+1): the cid of op i
//	cid    = uvarint(len) the CID's binary form
//
// An op's path is the first shared bytes of the previous op's path (none
// for the first op) followed by suffix. Every uvarint is in its shortest
// form and the body ends with the last block, so that each event has one
// body.
const commitBodyV2 = 0x02

// The bits of a compact body's flags and op heads.
const (
	bodySince    = 1
	bodyPrevData = 2
	opCID        = 4
	opPrev       = 8
)

// opActions maps an op head's low two bits to the action.
var opActions = [...]commit.Action{commit.Create, commit.Update, commit.Delete}

// compactCommitBody returns the compact body of #commit event e, or false
// when e has a field it cannot hold (an unknown action, a since that is not
// a TID, an undefined commit or block, a path that is not
// UTF-8): Event.body then writes the DAG-CBOR map, which reports what it
// refuses.
func compactCommitBody(e *Event) ([]byte, bool) {
	if !e.Commit.Defined() {
		return nil, false
	}
	if e.Since != "" {
		if _, err := syntax.ParseTID(string(e.Since)); err != nil {
			return nil, false
		}
	}
	n := 3 + e.Commit.ByteLen() + len(e.Since) + 2*binary.MaxVarintLen32
	if e.PrevData.Defined() {
		n += 1 + e.PrevData.ByteLen()
	}
	for i := range e.Ops {
		n += 3 + len(e.Ops[i].Path) + 2*38
	}
	n += 2 * len(e.Blocks)
	b := make([]byte, 0, n)
	var flags byte
	if e.Since != "" {
		flags |= bodySince
	}
	if e.PrevData.Defined() {
		flags |= bodyPrevData
	}
	b = append(b, commitBodyV2, flags)
	b = appendCID(b, e.Commit)
	b = append(b, e.Since...)
	if e.PrevData.Defined() {
		b = appendCID(b, e.PrevData)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Ops)))
	prev := ""
	for i := range e.Ops {
		op := &e.Ops[i]
		var head byte
		switch op.Action {
		case commit.Create:
		case commit.Update:
			head = 1
		case commit.Delete:
			head = 2
		default:
			return nil, false
		}
		if !utf8.ValidString(op.Path) {
			return nil, false
		}
		if op.CID.Defined() {
			head |= opCID
		}
		if op.Prev.Defined() {
			head |= opPrev
		}
		shared := 0
		for shared < len(prev) && shared < len(op.Path) && prev[shared] == op.Path[shared] {
			shared++
		}
		b = append(b, head)
		b = binary.AppendUvarint(b, uint64(shared))
		b = binary.AppendUvarint(b, uint64(len(op.Path)-shared))
		b = append(b, op.Path[shared:]...)
		if op.CID.Defined() {
			b = appendCID(b, op.CID)
		}
		if op.Prev.Defined() {
			b = appendCID(b, op.Prev)
		}
		prev = op.Path
	}
	b = binary.AppendUvarint(b, uint64(len(e.Blocks)))
	ops := newOpIndex(e.Ops)
	for _, c := range e.Blocks {
		if !c.Defined() {
			return nil, false
		}
		if i := ops.first(c); i >= 0 {
			b = binary.AppendUvarint(b, uint64(i)+1)
			continue
		}
		b = append(b, 0)
		b = appendCID(b, c)
	}
	return b, true
}

// opIndex finds the first op of a commit that holds a CID, which a block
// of its compact body names instead of writing the CID out. Most commits
// have one op: a map is built only past 8.
type opIndex struct {
	ops []commit.Op
	m   map[cid.Cid]int
}

func newOpIndex(ops []commit.Op) opIndex {
	x := opIndex{ops: ops}
	if len(ops) > 8 {
		x.m = make(map[cid.Cid]int, len(ops))
		for i := len(ops) - 1; i >= 0; i-- {
			if c := ops[i].CID; c.Defined() {
				x.m[c] = i
			}
		}
	}
	return x
}

// first returns the index of the first op whose CID is c, or -1.
func (x opIndex) first(c cid.Cid) int {
	if x.m != nil {
		if i, ok := x.m[c]; ok {
			return i
		}
		return -1
	}
	for i := range x.ops {
		if x.ops[i].CID == c {
			return i
		}
	}
	return -1
}

// appendCID appends c's length and binary form.
func appendCID(b []byte, c cid.Cid) []byte {
	b = binary.AppendUvarint(b, uint64(c.ByteLen()))
	return append(b, c.KeyString()...)
}

// compactReader reads a compact body; ok turns false at the first thing
// out of place, and stays false.
type compactReader struct {
	b   []byte
	pos int
	ok  bool
}

// uvarint reads a uvarint in its shortest form.
func (r *compactReader) uvarint() uint64 {
	if !r.ok {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.pos:])
	// An encoding longer than needed ends with a zero byte.
	if n <= 0 || (n > 1 && r.b[r.pos+n-1] == 0) {
		r.ok = false
		return 0
	}
	r.pos += n
	return v
}

// count reads a count of items that take at least unit bytes each,
// checking it against what is left.
func (r *compactReader) count(unit int) int {
	n := r.uvarint()
	if !r.ok || n > uint64(len(r.b)-r.pos)/uint64(unit) {
		r.ok = false
		return 0
	}
	return int(n)
}

// bytes reads the next n bytes.
func (r *compactReader) bytes(n int) []byte {
	if !r.ok || n > len(r.b)-r.pos {
		r.ok = false
		return nil
	}
	s := r.b[r.pos : r.pos+n]
	r.pos += n
	return s
}

// byte1 reads one byte.
func (r *compactReader) byte1() byte {
	if s := r.bytes(1); r.ok {
		return s[0]
	}
	return 0
}

// cid reads a CID.
func (r *compactReader) cid() cid.Cid {
	s := r.bytes(r.count(1))
	if !r.ok || len(s) == 0 {
		r.ok = false
		return cid.Undef
	}
	c, err := cid.Cast(s)
	if err != nil {
		r.ok = false
		return cid.Undef
	}
	return c
}

// decodeCompactCommitBody fills the fields of #commit event e from its
// compact body b, or returns an error wrapping ErrCorrupt when b is not one.
func decodeCompactCommitBody(e *Event, b []byte) error {
	r := compactReader{b: b, ok: true}
	if r.byte1() != commitBodyV2 {
		r.ok = false
	}
	flags := r.byte1()
	if flags&^(bodySince|bodyPrevData) != 0 {
		r.ok = false
	}
	e.Commit = r.cid()
	e.Since, e.PrevData = "", cid.Undef
	if flags&bodySince != 0 && r.ok {
		s := r.bytes(syntax.TIDLength)
		if r.ok {
			t, err := syntax.ParseTID(string(s))
			if err != nil {
				return fmt.Errorf("event %d: %w: since: %v", e.Seq, ErrCorrupt, err)
			}
			e.Since = t
		}
	}
	if flags&bodyPrevData != 0 {
		e.PrevData = r.cid()
	}
	// An op takes at least 3 bytes, a block 1.
	e.Ops = make([]commit.Op, 0, r.count(3))
	prev := ""
	for range cap(e.Ops) {
		head := r.byte1()
		shared := r.uvarint()
		suffix := r.bytes(r.count(1))
		if !r.ok || head&^(3|opCID|opPrev) != 0 || head&3 == 3 || shared > uint64(len(prev)) {
			r.ok = false
			break
		}
		op := commit.Op{Action: opActions[head&3], Path: prev[:shared] + string(suffix)}
		// shared is the whole common prefix, as the encoder writes it.
		if !utf8.ValidString(op.Path) || (int(shared) < len(prev) && int(shared) < len(op.Path) && prev[shared] == op.Path[shared]) {
			r.ok = false
			break
		}
		if head&opCID != 0 {
			op.CID = r.cid()
		}
		if head&opPrev != 0 {
			op.Prev = r.cid()
		}
		e.Ops = append(e.Ops, op)
		prev = op.Path
	}
	// A block names the first op that holds its CID, and is written out
	// only when no op holds it, as the encoder writes it.
	ops := newOpIndex(e.Ops)
	e.Blocks = make([]cid.Cid, 0, r.count(1))
	for range cap(e.Blocks) {
		i := r.uvarint()
		if !r.ok {
			break
		}
		if i == 0 {
			c := r.cid()
			if r.ok && ops.first(c) >= 0 {
				r.ok = false
			}
			e.Blocks = append(e.Blocks, c)
			continue
		}
		if i > uint64(len(e.Ops)) || !e.Ops[i-1].CID.Defined() || ops.first(e.Ops[i-1].CID) != int(i-1) {
			r.ok = false
			break
		}
		e.Blocks = append(e.Blocks, e.Ops[i-1].CID)
	}
	if !r.ok || r.pos != len(b) {
		return fmt.Errorf("event %d: %w: malformed commit body at byte %d", e.Seq, ErrCorrupt, r.pos)
	}
	return nil
}
