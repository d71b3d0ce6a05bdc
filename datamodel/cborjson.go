package datamodel

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
)

// CBORToJSON converts one strict DAG-CBOR value to atproto JSON in one pass,
// without building the data model value: its output is byte for byte
// ToJSON(Unmarshal(b)) (object keys sorted bytewise, no whitespace), and it
// fails where either of the two would. A value ToJSON refuses (a map with a
// "$link" or "$bytes" key, or whose "$type" or blob fields break the rules
// listed at [FromJSON]) gives an error wrapping [ErrInvalidJSON]; input that
// Unmarshal rejects gives Unmarshal's error, unless such a map comes before
// the problem in b.
//
// Each map's entries are written in DAG-CBOR order, then moved into
// bytewise key order, so the work and memory are a small multiple of
// len(b) times the nesting depth (at most [MaxDepth]).
func CBORToJSON(b []byte) ([]byte, error) {
	d := decoder{data: b}
	out, err := d.appendJSON(make([]byte, 0, len(b)+len(b)/2+16), 0)
	if err != nil {
		return nil, err
	}
	if d.pos != len(d.data) {
		return nil, fmt.Errorf("%w: %d bytes after the value", ErrTrailingBytes, len(d.data)-d.pos)
	}
	return out, nil
}

// appendJSON appends the JSON of the value at d.pos to w. Decoding errors
// are the decoder's own (see decoder.value), found in the same order.
func (d *decoder) appendJSON(w []byte, depth int) ([]byte, error) {
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
		return strconv.AppendInt(w, n, 10), nil
	case majBytes:
		n, err := d.length(start, arg, 1, "byte string")
		if err != nil {
			return nil, err
		}
		w = append(w, `{"$bytes":"`...)
		w = base64.RawStdEncoding.AppendEncode(w, d.data[d.pos:d.pos+n])
		d.pos += n
		return append(w, `"}`...), nil
	case majText:
		s, err := d.textBytes(start, arg)
		if err != nil {
			return nil, err
		}
		return appendJSONText(w, s), nil
	case majArray:
		if depth >= MaxDepth {
			return nil, errAt(start, ErrTooDeep, "more than %d levels", MaxDepth)
		}
		n, err := d.length(start, arg, 1, "array")
		if err != nil {
			return nil, err
		}
		w = append(w, '[')
		for i := range n {
			if i > 0 {
				w = append(w, ',')
			}
			if w, err = d.appendJSON(w, depth+1); err != nil {
				return nil, err
			}
		}
		return append(w, ']'), nil
	case majMap:
		if depth >= MaxDepth {
			return nil, errAt(start, ErrTooDeep, "more than %d levels", MaxDepth)
		}
		n, err := d.length(start, arg, 2, "map")
		if err != nil {
			return nil, err
		}
		return d.appendJSONMap(w, n, depth)
	case majTag:
		if arg != tagCID {
			return nil, errAt(start, ErrUnsupportedTag, "tag %d", arg)
		}
		c, err := d.cid(start)
		if err != nil {
			return nil, err
		}
		w = append(w, `{"$link":"`...)
		w = append(w, c.String()...)
		return append(w, `"}`...), nil
	default: // majSimple
		v, err := simpleValue(start, info, arg)
		switch {
		case err != nil:
			return nil, err
		case v == nil:
			return append(w, "null"...), nil
		}
		return strconv.AppendBool(w, v.(bool)), nil
	}
}

// jsonEntry is one map entry written by appendJSONMap: its key, where its
// value starts in the input, and its `"key":value` text in the output.
type jsonEntry struct {
	key      []byte
	val      int // offset of the value in d.data
	from, to int // its text in the output
}

// appendJSONMap appends the JSON object of the n entries at d.pos, checked
// as mapEntries checks them, in bytewise key order.
func (d *decoder) appendJSONMap(w []byte, n int, depth int) ([]byte, error) {
	w = append(w, '{')
	base := len(w)
	var small [8]jsonEntry
	entries := small[:0]
	var prev []byte
	for i := range n {
		kb, _, err := d.mapKey(i, prev)
		if err != nil {
			return nil, err
		}
		prev = kb
		from := len(w)
		w = appendJSONText(w, kb)
		w = append(w, ':')
		val := d.pos
		if w, err = d.appendJSON(w, depth+1); err != nil {
			return nil, err
		}
		entries = append(entries, jsonEntry{key: kb, val: val, from: from, to: len(w)})
	}
	if err := d.checkJSONObject(entries); err != nil {
		return nil, err
	}
	if len(entries) > 1 {
		// Rewrite the entries in bytewise key order, with their commas.
		d.scratch = append(d.scratch[:0], w[base:]...)
		slices.SortFunc(entries, func(a, b jsonEntry) int { return bytes.Compare(a.key, b.key) })
		w = w[:base]
		for i, e := range entries {
			if i > 0 {
				w = append(w, ',')
			}
			w = append(w, d.scratch[e.from-base:e.to-base]...)
		}
	}
	return append(w, '}'), nil
}

// checkJSONObject refuses, as ToJSON does, a map with a "$link" or "$bytes"
// key and one whose "$type" or blob fields break checkObject's rules,
// reading the values from the input (already checked).
func (d *decoder) checkJSONObject(entries []jsonEntry) error {
	var typ, ref, mime, size = -1, -1, -1, -1
	for _, e := range entries {
		switch string(e.key) {
		case "$link":
			return fmt.Errorf("%w: map with a $link key", ErrInvalidJSON)
		case "$bytes":
			return fmt.Errorf("%w: map with a $bytes key", ErrInvalidJSON)
		case "$type":
			typ = e.val
		case "ref":
			ref = e.val
		case "mimeType":
			mime = e.val
		case "size":
			size = e.val
		}
	}
	if typ < 0 {
		return nil
	}
	t, ok := d.textAt(typ)
	if !ok || len(t) == 0 {
		return fmt.Errorf("%w: $type is %s, want non-empty string", ErrInvalidJSON, d.kindAt(typ))
	}
	if string(t) != "blob" {
		return nil
	}
	if ref < 0 || d.data[ref] != majTag|24 || d.data[ref+1] != tagCID {
		return fmt.Errorf("%w: blob ref is %s, want link", ErrInvalidJSON, d.kindAt(ref))
	}
	if mime < 0 || d.data[mime]&0xe0 != majText {
		return fmt.Errorf("%w: blob mimeType is %s, want string", ErrInvalidJSON, d.kindAt(mime))
	}
	if size < 0 || d.data[size]&0xe0 != majUint {
		return fmt.Errorf("%w: blob size is %s, want non-negative integer", ErrInvalidJSON, d.kindAt(size))
	}
	return nil
}

// textAt returns the text string whose head starts at off in d.data (a
// value already checked), or false for another kind of value.
func (d *decoder) textAt(off int) ([]byte, bool) {
	if d.data[off]&0xe0 != majText {
		return nil, false
	}
	r := decoder{data: d.data, pos: off}
	_, _, arg, err := r.head()
	if err != nil {
		return nil, false
	}
	return d.data[r.pos : r.pos+int(arg)], true
}

// kindAt names the data model kind of the value at off (-1: missing), as
// typeName does, for errors.
func (d *decoder) kindAt(off int) string {
	if off < 0 {
		return "missing or null"
	}
	switch b := d.data[off]; b & 0xe0 {
	case majUint:
		return "integer"
	case majNegint:
		return "negative integer"
	case majBytes:
		return "bytes"
	case majText:
		if b == majText {
			return "empty string"
		}
		return "string"
	case majArray:
		return "array"
	case majMap:
		return "object"
	case majTag:
		return "link"
	default:
		if b == majSimple|22 {
			return "missing or null"
		}
		return "boolean"
	}
}

// appendJSONText appends s (valid UTF-8) as a JSON string: quotes and
// backslashes escaped, control characters as \n, \r, \t or \u00XX, nothing
// else (ToJSON and CBORToJSON both write strings with it).
func appendJSONText[T string | []byte](w []byte, s T) []byte {
	w = append(w, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		w = append(w, s[start:i]...)
		switch c {
		case '"', '\\':
			w = append(w, '\\', c)
		case '\n':
			w = append(w, '\\', 'n')
		case '\r':
			w = append(w, '\\', 'r')
		case '\t':
			w = append(w, '\\', 't')
		default:
			w = append(w, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	w = append(w, s[start:]...)
	return append(w, '"')
}
