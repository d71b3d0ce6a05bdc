package datamodel

import (
	"bytes"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/internal/cborhead"
	"github.com/atlite-dev/atlite/internal/dagcbor"
)

// Unmarshal decodes one strict DAG-CBOR value into the data model: nil,
// bool, int64, string, []byte, [cid.Cid], []any or map[string]any.
//
// Only canonical DAG-CBOR is accepted, so that a successful decode always
// re-encodes with [Marshal] to exactly b. Unmarshal rejects, with an error
// wrapping [ErrInvalidCBOR] and a more specific sentinel: truncated input
// ([ErrTruncated]); integers or lengths not in shortest form and map keys out
// of canonical order ([ErrNonCanonical]); duplicate keys ([ErrDuplicateKey]);
// non-text keys ([ErrMapKey]); indefinite lengths ([ErrIndefiniteLength]);
// tags other than 42 ([ErrUnsupportedTag]); tag 42 not holding a byte string
// of 0x00 followed by a valid CID ([ErrInvalidCID]); floats of any width
// ([ErrFloat]); simple values other than false, true and null
// ([ErrUnsupportedSimple]); integers outside int64 ([ErrIntegerRange]);
// invalid UTF-8 ([ErrInvalidUTF8]); nesting deeper than [MaxDepth]
// ([ErrTooDeep]); and bytes after the value ([ErrTrailingBytes]).
//
// Tag 42 may hold any CID that go-cid parses exactly (CIDv1 of any codec and
// hash, or CIDv0); use [CIDFromBytes] or check the codec where only blessed
// CIDs are acceptable. Returned strings and byte slices never alias b; the
// strings share one copy of b (made once, to save an allocation per
// string), so keeping any decoded string keeps that copy alive.
// Lengths are checked against the remaining input before anything is
// allocated, so memory use is bounded by a small multiple of len(b).
func Unmarshal(b []byte) (any, error) {
	d := decoder{data: b}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	if d.pos != len(d.data) {
		return nil, fmt.Errorf("%w: %d bytes after the value", ErrTrailingBytes, len(d.data)-d.pos)
	}
	return v, nil
}

// UnmarshalMap is like [Unmarshal] but requires the top-level value to be a
// map, returning [ErrNotMap] otherwise.
func UnmarshalMap(b []byte) (map[string]any, error) {
	if len(b) > 0 && b[0]&0xe0 != majMap {
		return nil, fmt.Errorf("%w: major type %d", ErrNotMap, b[0]>>5)
	}
	v, err := Unmarshal(b)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: got %T", ErrNotMap, v)
	}
	return m, nil
}

// validateMap checks that b is what UnmarshalMap accepts, with the same
// errors, without building the value (no map, slice or string is
// allocated). internal/dagcbor exports it within the module.
func validateMap(b []byte) error {
	if len(b) > 0 && b[0]&0xe0 != majMap {
		return fmt.Errorf("%w: major type %d", ErrNotMap, b[0]>>5)
	}
	d := decoder{data: b, check: true}
	if _, err := d.value(0); err != nil {
		return err
	}
	if d.pos != len(d.data) {
		return fmt.Errorf("%w: %d bytes after the value", ErrTrailingBytes, len(d.data)-d.pos)
	}
	return nil
}

// recordType checks b as validateMap does and returns the value of its
// "$type" key (nil when it has none), the only value it builds.
// internal/dagcbor exports it within the module.
func recordType(b []byte) (any, error) {
	if len(b) > 0 && b[0]&0xe0 != majMap {
		return nil, fmt.Errorf("%w: major type %d", ErrNotMap, b[0]>>5)
	}
	d := decoder{data: b, check: true, typeAt: -1}
	if _, err := d.value(0); err != nil {
		return nil, err
	}
	if d.pos != len(d.data) {
		return nil, fmt.Errorf("%w: %d bytes after the value", ErrTrailingBytes, len(d.data)-d.pos)
	}
	if d.typeAt < 0 {
		return nil, nil
	}
	t := decoder{data: b[d.typeAt:d.typeEnd]}
	return t.value(1)
}

func init() {
	dagcbor.ValidateMap = validateMap
	dagcbor.RecordType = recordType
}

// decoder reads strict DAG-CBOR from data.
type decoder struct {
	data  []byte
	str   string // copy of data, made on first use; decoded strings are substrings of it
	pos   int
	check bool // only check: values are not built (value returns nil)
	// typeAt is set to -1 by recordType before checking, and then to where
	// the top-level map's "$type" value starts once that key is found, and
	// typeEnd to where it ends. typeAt stays 0 otherwise (no map value
	// starts at offset 0).
	typeAt, typeEnd int
	// scratch is CBORToJSON's buffer for reordering a map's entries.
	scratch []byte
}

// errAt wraps kind (and, when kind does not already wrap it,
// ErrInvalidCBOR) with the offset where the problem was found.
func errAt(off int, kind error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	switch kind {
	case ErrFloat, ErrIntegerRange, ErrInvalidUTF8, ErrTooDeep, ErrInvalidCID:
		return fmt.Errorf("%w: %w at offset %d: %s", ErrInvalidCBOR, kind, off, msg)
	}
	return fmt.Errorf("%w at offset %d: %s", kind, off, msg)
}

// head reads an initial byte and its argument. It returns the major type,
// the additional information and the argument. Arguments not in shortest
// form and reserved additional information values are rejected; for
// additional information 31 (indefinite length or break) arg is 0 and the
// caller decides.
func (d *decoder) head() (major, info byte, arg uint64, err error) {
	start := d.pos
	m, info, arg, n, p := cborhead.Read(d.data[d.pos:])
	major = m << 5
	switch p {
	case cborhead.Truncated:
		if d.pos >= len(d.data) {
			return 0, 0, 0, errAt(start, ErrTruncated, "missing value")
		}
		return 0, 0, 0, errAt(start, ErrTruncated, "%d-byte argument", 1<<(info-24))
	case cborhead.Reserved:
		return 0, 0, 0, errAt(start, ErrInvalidCBOR, "reserved additional information %d", info)
	case cborhead.Indefinite:
		switch major {
		case majSimple:
			return 0, 0, 0, errAt(start, ErrIndefiniteLength, "unexpected break")
		case majUint, majNegint, majTag:
			return 0, 0, 0, errAt(start, ErrInvalidCBOR, "additional information 31 for major type %d", m)
		}
		return 0, 0, 0, errAt(start, ErrIndefiniteLength, "major type %d", m)
	}
	// Floats and simple values (major type 7) have their own rules.
	if major != majSimple && !cborhead.Shortest(info, arg) {
		unit := "bytes"
		if n == 2 {
			unit = "byte"
		}
		return 0, 0, 0, errAt(start, ErrNonCanonical, "argument %d in %d %s", arg, n-1, unit)
	}
	d.pos += n
	return major, info, arg, nil
}

// length checks that a length argument fits in the remaining input, given
// that each item takes at least unit bytes, and returns it as an int.
func (d *decoder) length(start int, arg uint64, unit uint64, what string) (int, error) {
	remaining := uint64(len(d.data) - d.pos)
	if arg > remaining/unit {
		return 0, errAt(start, ErrTruncated, "%s of length %d with %d bytes left", what, arg, remaining)
	}
	return int(arg), nil
}

func (d *decoder) value(depth int) (any, error) {
	start := d.pos
	major, info, arg, err := d.head()
	if err != nil {
		return nil, err
	}
	switch major {
	case majUint, majNegint:
		n, err := intValue(start, major, arg)
		if err != nil {
			return nil, err
		}
		return n, nil
	case majBytes:
		n, err := d.length(start, arg, 1, "byte string")
		if err != nil {
			return nil, err
		}
		if d.check {
			d.pos += n
			return nil, nil
		}
		b := make([]byte, n)
		copy(b, d.data[d.pos:])
		d.pos += n
		return b, nil
	case majText:
		s, err := d.text(start, arg)
		if err != nil || d.check {
			return nil, err
		}
		return s, nil
	case majArray:
		if depth >= MaxDepth {
			return nil, errAt(start, ErrTooDeep, "more than %d levels", MaxDepth)
		}
		n, err := d.length(start, arg, 1, "array")
		if err != nil {
			return nil, err
		}
		if d.check {
			for range n {
				if _, err := d.value(depth + 1); err != nil {
					return nil, err
				}
			}
			return nil, nil
		}
		a := make([]any, n)
		for i := range a {
			if a[i], err = d.value(depth + 1); err != nil {
				return nil, err
			}
		}
		return a, nil
	case majMap:
		if depth >= MaxDepth {
			return nil, errAt(start, ErrTooDeep, "more than %d levels", MaxDepth)
		}
		n, err := d.length(start, arg, 2, "map")
		if err != nil {
			return nil, err
		}
		m, err := d.mapEntries(n, depth)
		if err != nil || d.check {
			return nil, err
		}
		return m, nil
	case majTag:
		if arg != tagCID {
			return nil, errAt(start, ErrUnsupportedTag, "tag %d", arg)
		}
		c, err := d.cid(start)
		if err != nil || d.check {
			return nil, err
		}
		return c, nil
	default: // majSimple
		return simpleValue(start, info, arg)
	}
}

// intValue returns the integer of a head of major type 0 or 1 read at
// start, or ErrIntegerRange outside int64.
func intValue(start int, major byte, arg uint64) (int64, error) {
	switch {
	case arg <= math.MaxInt64 && major == majUint:
		return int64(arg), nil
	case arg <= math.MaxInt64:
		return -1 - int64(arg), nil
	case major == majUint:
		return 0, errAt(start, ErrIntegerRange, "%d", arg)
	}
	return 0, errAt(start, ErrIntegerRange, "-1-%d", arg)
}

// simpleValue returns false, true or nil for a head of major type 7 read
// at start, and the error for the others: floats, undefined and other
// simple values.
func simpleValue(start int, info byte, arg uint64) (any, error) {
	switch info {
	case 20:
		return false, nil
	case 21:
		return true, nil
	case 22:
		return nil, nil
	case 25, 26, 27:
		return nil, errAt(start, ErrFloat, "%d-byte float", 1<<(info-24))
	case 23:
		return nil, errAt(start, ErrUnsupportedSimple, "undefined")
	default:
		return nil, errAt(start, ErrUnsupportedSimple, "simple value %d", arg)
	}
}

// text reads the body of a text string whose head has been read.
func (d *decoder) text(start int, arg uint64) (string, error) {
	off := d.pos
	b, err := d.textBytes(start, arg)
	if err != nil || d.check {
		return "", err
	}
	if d.str == "" {
		d.str = string(d.data)
	}
	return d.str[off : off+len(b)], nil
}

// textBytes reads the body of a text string whose head has been read,
// checking its length and UTF-8, and returns its bytes in d.data.
func (d *decoder) textBytes(start int, arg uint64) ([]byte, error) {
	n, err := d.length(start, arg, 1, "text string")
	if err != nil {
		return nil, err
	}
	b := d.data[d.pos : d.pos+n]
	if !utf8.Valid(b) {
		return nil, errAt(start, ErrInvalidUTF8, "text string %q", b)
	}
	d.pos += n
	return b, nil
}

// mapEntries reads n key/value pairs, checking that keys are text strings in
// strictly increasing canonical order.
func (d *decoder) mapEntries(n int, depth int) (map[string]any, error) {
	var m map[string]any
	if !d.check {
		m = make(map[string]any, n)
	}
	var prev []byte
	for i := 0; i < n; i++ {
		kb, off, err := d.mapKey(i, prev)
		if err != nil {
			return nil, err
		}
		var k string
		if !d.check {
			if d.str == "" {
				d.str = string(d.data)
			}
			k = d.str[off : off+len(kb)]
		}
		prev = kb
		typ := depth == 0 && d.check && d.typeAt == -1 && string(kb) == "$type"
		if typ {
			d.typeAt = d.pos
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if typ {
			d.typeEnd = d.pos
		}
		if !d.check {
			m[k] = v
		}
	}
	return m, nil
}

// mapKey reads the key of entry i of a map, checking that it is a text
// string (valid UTF-8) after prev, the key before it, in strictly
// increasing canonical order. It returns the key's bytes in d.data and
// their offset there.
func (d *decoder) mapKey(i int, prev []byte) ([]byte, int, error) {
	start := d.pos
	major, _, arg, err := d.head()
	if err != nil {
		return nil, 0, err
	}
	if major != majText {
		return nil, 0, errAt(start, ErrMapKey, "major type %d", major>>5)
	}
	kl, err := d.length(start, arg, 1, "map key")
	if err != nil {
		return nil, 0, err
	}
	kb := d.data[d.pos : d.pos+kl]
	if i > 0 {
		// compareKeys on the bytes (converting them to strings here
		// allocated).
		c := len(prev) - len(kb)
		if c == 0 {
			c = bytes.Compare(prev, kb)
		}
		switch {
		case c == 0:
			return nil, 0, errAt(start, ErrDuplicateKey, "%q", kb)
		case c > 0:
			return nil, 0, errAt(start, ErrNonCanonical, "map key %q after %q", kb, prev)
		}
	}
	off := d.pos
	if _, err := d.textBytes(start, arg); err != nil {
		return nil, 0, err
	}
	return kb, off, nil
}

// cid reads the content of tag 42: a byte string holding 0x00 and a CID.
func (d *decoder) cid(start int) (cid.Cid, error) {
	bstart := d.pos
	major, _, arg, err := d.head()
	if err != nil {
		return cid.Undef, err
	}
	if major != majBytes {
		return cid.Undef, errAt(bstart, ErrInvalidCID, "tag 42 content has major type %d, want byte string", major>>5)
	}
	n, err := d.length(bstart, arg, 1, "cid")
	if err != nil {
		return cid.Undef, err
	}
	b := d.data[d.pos : d.pos+n]
	if n == 0 || b[0] != 0 {
		return cid.Undef, errAt(bstart, ErrInvalidCID, "tag 42 content does not start with 0x00")
	}
	c, err := cid.Cast(b[1:])
	if err != nil {
		return cid.Undef, errAt(bstart, ErrInvalidCID, "%v", err)
	}
	d.pos += n
	return c, nil
}
