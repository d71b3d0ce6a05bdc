package datamodel

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
)

// FromJSON parses atproto JSON into the data model. The top-level value must
// be an object. The conversions are those of the atproto data model spec:
//
//   - {"$link": "<cid>"} becomes a [cid.Cid]; the object must have no other
//     field and the string must be a CID in its canonical string form
//     (base32 "b..." for CIDv1).
//   - {"$bytes": "<base64>"} becomes []byte; the object must have no other
//     field; standard base64 without padding (padding is tolerated).
//   - numbers become int64. A number written with a fraction or exponent is
//     accepted when its value is an integer ("123.0", "1e2"); any other is a
//     float and rejected with [ErrFloat]. Integers outside int64 are
//     rejected with [ErrIntegerRange].
//   - an object with a "$type" field must have a non-empty string there, and
//     a blob ("$type": "blob") must have a "ref" link, a string "mimeType" and
//     a non-negative integer "size".
//
// Duplicate object keys, invalid UTF-8, nesting deeper than [MaxDepth] and
// anything after the top-level object are rejected. Every error wraps
// [ErrInvalidJSON].
func FromJSON(b []byte) (any, error) {
	v, err := fromJSON(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidJSON, err)
	}
	return v, nil
}

// fromJSON parses b with a scanner of its own: one pass, no token
// values. encoding/json's Decoder.Token, which this replaced, allocated an
// error value for every scalar it read; its conversions are kept as the
// oracle of FuzzFromJSONOracle.
func fromJSON(b []byte) (any, error) {
	if !utf8.Valid(b) {
		return nil, ErrInvalidUTF8
	}
	p := jsonParser{b: b}
	p.space()
	if p.i == len(b) {
		return nil, errJSONEnd
	}
	if b[p.i] != '{' {
		return nil, errors.New("top-level value is not an object")
	}
	p.i++
	v, err := p.object(1)
	if err != nil {
		return nil, err
	}
	if p.space(); p.i != len(b) {
		return nil, fmt.Errorf("data after the top-level object at offset %d", p.i)
	}
	return v, nil
}

// errJSONEnd is the error for input that ends inside a value.
var errJSONEnd = errors.New("unexpected end of JSON input")

// jsonParser reads JSON from b, at offset i. b is valid UTF-8.
type jsonParser struct {
	b []byte
	i int
}

// space skips JSON whitespace.
func (p *jsonParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// unexpected returns the error for the byte at p.i (or the end of input).
func (p *jsonParser) unexpected(where string) error {
	if p.i >= len(p.b) {
		return errJSONEnd
	}
	return fmt.Errorf("invalid character %q %s at offset %d", p.b[p.i], where, p.i)
}

// value converts the value at p.i, after whitespace. depth is the nesting
// level a container starting there would have.
func (p *jsonParser) value(depth int) (any, error) {
	p.space()
	if p.i == len(p.b) {
		return nil, errJSONEnd
	}
	switch c := p.b[p.i]; c {
	case '{':
		p.i++
		return p.object(depth)
	case '[':
		p.i++
		return p.array(depth)
	case '"':
		return p.string()
	case 't':
		return true, p.literal("true")
	case 'f':
		return false, p.literal("false")
	case 'n':
		return nil, p.literal("null")
	default:
		if c == '-' || '0' <= c && c <= '9' {
			return p.number()
		}
		return nil, p.unexpected("looking for a value")
	}
}

// literal consumes word, which must be at p.i.
func (p *jsonParser) literal(word string) error {
	if !bytes.HasPrefix(p.b[p.i:], []byte(word)) {
		return p.unexpected("in literal " + word)
	}
	p.i += len(word)
	return nil
}

// number converts the JSON number at p.i, checked against JSON's grammar.
func (p *jsonParser) number() (any, error) {
	start := p.i
	if p.b[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.b) && p.b[p.i] == '0':
		p.i++
	case p.digits() == 0:
		return nil, p.unexpected("in number")
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if p.digits() == 0 {
			return nil, p.unexpected("after decimal point in number")
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if p.digits() == 0 {
			return nil, p.unexpected("in exponent of number")
		}
	}
	return jsonInt(string(p.b[start:p.i]))
}

// digits consumes decimal digits and returns how many.
func (p *jsonParser) digits() int {
	start := p.i
	for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i - start
}

// string converts the JSON string whose quote is at p.i, as encoding/json
// does: a lone or mismatched surrogate escape becomes U+FFFD.
func (p *jsonParser) string() (string, error) {
	p.i++
	start := p.i
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			s := string(p.b[start:p.i])
			p.i++
			return s, nil
		case c == '\\':
			return p.escaped(start)
		case c < 0x20:
			return "", p.unexpected("in string")
		default:
			p.i++
		}
	}
	return "", errJSONEnd
}

// escaped finishes a string that started at start and has an escape at
// p.i.
func (p *jsonParser) escaped(start int) (string, error) {
	buf := make([]byte, p.i-start, p.i-start+16)
	copy(buf, p.b[start:p.i])
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return string(buf), nil
		case c < 0x20:
			return "", p.unexpected("in string")
		case c != '\\':
			buf = append(buf, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			return "", errJSONEnd
		}
		p.i++
		switch e := p.b[p.i]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r := hex4(p.b[p.i+1:])
			if r < 0 {
				return "", p.unexpected("in \\u escape")
			}
			p.i += 4
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if rest := p.b[p.i+1:]; len(rest) >= 6 && rest[0] == '\\' && rest[1] == 'u' {
					r2 = hex4(rest[2:])
				}
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					r = d
					p.i += 6
				} else {
					r = utf8.RuneError
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", p.unexpected("in string escape code")
		}
		p.i++
	}
	return "", errJSONEnd
}

// hex4 returns the value of the four hex digits b starts with, or -1.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// array converts an array whose '[' has been read.
func (p *jsonParser) array(depth int) (any, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth)
	}
	a := []any{}
	if p.space(); p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return a, nil
	}
	for {
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		end, err := p.more(']', "after array element")
		if err != nil {
			return nil, err
		}
		if end {
			return a, nil
		}
	}
}

// more reads what follows a member of an array or object, after
// whitespace: a comma (false: another member follows) or the closing
// byte (true); anything else is an error.
func (p *jsonParser) more(closing byte, where string) (bool, error) {
	if p.space(); p.i == len(p.b) {
		return false, errJSONEnd
	}
	switch p.b[p.i] {
	case ',':
		p.i++
		return false, nil
	case closing:
		p.i++
		return true, nil
	}
	return false, p.unexpected(where)
}

// object converts an object whose '{' has been read. Objects one level
// deeper than MaxDepth are read so that a $link or $bytes object (which is
// not a container in the data model) may sit inside a container at
// MaxDepth.
func (p *jsonParser) object(depth int) (any, error) {
	if depth > MaxDepth+1 {
		return nil, fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth)
	}
	m := map[string]any{}
	if p.space(); p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return finishObject(m, depth)
	}
	for {
		if p.space(); p.i == len(p.b) || p.b[p.i] != '"' {
			return nil, p.unexpected("looking for an object key")
		}
		k, err := p.string()
		if err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("duplicate key %q", k)
		}
		if p.space(); p.i == len(p.b) || p.b[p.i] != ':' {
			return nil, p.unexpected("after object key")
		}
		p.i++
		if m[k], err = p.value(depth + 1); err != nil {
			return nil, err
		}
		end, err := p.more('}', "after object value")
		if err != nil {
			return nil, err
		}
		if end {
			return finishObject(m, depth)
		}
	}
}

// finishObject applies the data model's rules to an object read at depth:
// a $link or $bytes object becomes its link or bytes, any other is checked
// by checkObject.
func finishObject(m map[string]any, depth int) (any, error) {
	if v, ok := m["$link"]; ok {
		if len(m) != 1 {
			return nil, errors.New("$link object has other fields")
		}
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("$link is %s, want string", typeName(v))
		}
		return parseLink(s)
	}
	if v, ok := m["$bytes"]; ok {
		if len(m) != 1 {
			return nil, errors.New("$bytes object has other fields")
		}
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("$bytes is %s, want string", typeName(v))
		}
		return parseBytes(s)
	}
	if depth > MaxDepth {
		return nil, fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth)
	}
	if err := checkObject(m); err != nil {
		return nil, err
	}
	return m, nil
}

// parseLink parses the string of a $link object: any CID go-cid parses, in
// its canonical string form.
func parseLink(s string) (cid.Cid, error) {
	c, err := cid.Decode(s)
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: $link %q: %v", ErrInvalidCID, s, err)
	}
	if c.String() != s {
		return cid.Undef, fmt.Errorf("%w: $link %q is not in canonical form %q", ErrInvalidCID, s, c.String())
	}
	return c, nil
}

// parseBytes decodes the string of a $bytes object.
func parseBytes(s string) ([]byte, error) {
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil && strings.HasSuffix(s, "=") {
		b, err = base64.StdEncoding.DecodeString(s)
	}
	if err != nil {
		return nil, fmt.Errorf("$bytes: %v", err)
	}
	return b, nil
}

// jsonInt converts a JSON number to an int64. Numbers with a fraction or an
// exponent are accepted when their value is an integer. The work done is
// linear in len(s) whatever the exponent.
func jsonInt(s string) (int64, error) {
	if !strings.ContainsAny(s, ".eE") {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %s", ErrIntegerRange, s)
		}
		return n, nil
	}
	neg := strings.HasPrefix(s, "-")
	mant, expPart, _ := strings.Cut(strings.TrimPrefix(s, "-"), "e")
	if i := strings.IndexByte(mant, 'E'); i >= 0 {
		mant, expPart = mant[:i], mant[i+1:]
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	exp := int64(0)
	if expPart != "" {
		var err error
		exp, err = strconv.ParseInt(expPart, 10, 64)
		if err != nil { // only overflow: json.Decoder checked the syntax
			exp = math.MaxInt32
			if strings.HasPrefix(expPart, "-") {
				exp = math.MinInt32
			}
		}
		exp = max(min(exp, math.MaxInt32), math.MinInt32)
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	exp -= int64(len(frac))
	for strings.HasSuffix(digits, "0") {
		digits = digits[:len(digits)-1]
		exp++
	}
	switch {
	case digits == "":
		return 0, nil
	case exp < 0:
		return 0, fmt.Errorf("%w: %s", ErrFloat, s)
	case int64(len(digits))+exp > 19:
		return 0, fmt.Errorf("%w: %s", ErrIntegerRange, s)
	}
	str := digits + strings.Repeat("0", int(exp))
	if neg {
		str = "-" + str
	}
	n, err := strconv.ParseInt(str, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s", ErrIntegerRange, s)
	}
	return n, nil
}

// checkObject applies the data model's rules for typed objects and blobs to
// a map whose values are already in the data model.
func checkObject(m map[string]any) error {
	t, ok := m["$type"]
	if !ok {
		return nil
	}
	s, ok := t.(string)
	if !ok || s == "" {
		return fmt.Errorf("$type is %s, want non-empty string", typeName(t))
	}
	if s != "blob" {
		return nil
	}
	if _, ok := m["ref"].(cid.Cid); !ok {
		return fmt.Errorf("blob ref is %s, want link", typeName(m["ref"]))
	}
	if _, ok := m["mimeType"].(string); !ok {
		return fmt.Errorf("blob mimeType is %s, want string", typeName(m["mimeType"]))
	}
	if n, ok := m["size"].(int64); !ok || n < 0 {
		return fmt.Errorf("blob size is %s, want non-negative integer", typeName(m["size"]))
	}
	return nil
}

// typeName names the data model type of v for error messages.
func typeName(v any) string {
	if v == nil {
		return "missing or null"
	}
	switch x := v.(type) {
	case bool:
		return "boolean"
	case int64:
		if x < 0 {
			return "negative integer"
		}
		return "integer"
	case string:
		if x == "" {
			return "empty string"
		}
		return "string"
	case []byte:
		return "bytes"
	case cid.Cid:
		return "link"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// ToJSON encodes a data model value as atproto JSON: [cid.Cid] as
// {"$link": "<cid>"}, []byte as {"$bytes": "<base64, no padding>"},
// integers as JSON numbers. Object keys are sorted bytewise, so the output
// is deterministic; HTML characters are not escaped and there is no
// whitespace.
//
// ToJSON accepts the same Go types as [Marshal]. It refuses, with
// [ErrInvalidJSON], maps that [FromJSON] would read back differently or
// reject: maps with a "$link" or "$bytes" key, and maps whose "$type" or blob
// fields break the rules listed at [FromJSON]. So for a map v, when ToJSON
// succeeds, FromJSON of its output returns a value equal to v.
func ToJSON(v any) ([]byte, error) {
	w := jsonWriter{buf: make([]byte, 0, 256)}
	if err := w.value(v, 0); err != nil {
		return nil, err
	}
	return w.buf, nil
}

// jsonWriter appends atproto JSON to buf.
type jsonWriter struct {
	buf []byte
}

const hexDigits = "0123456789abcdef"

func (w *jsonWriter) string(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %q", ErrInvalidUTF8, s)
	}
	w.buf = appendJSONText(w.buf, s)
	return nil
}

func (w *jsonWriter) link(c cid.Cid) error {
	if !c.Defined() {
		return fmt.Errorf("%w: undefined cid", ErrInvalidCID)
	}
	w.buf = append(w.buf, `{"$link":"`...)
	w.buf = append(w.buf, c.String()...)
	w.buf = append(w.buf, `"}`...)
	return nil
}

func (w *jsonWriter) value(v any, depth int) error {
	switch x := v.(type) {
	case nil:
		w.buf = append(w.buf, "null"...)
	case bool:
		w.buf = strconv.AppendBool(w.buf, x)
	case int64:
		w.buf = strconv.AppendInt(w.buf, x, 10)
	case string:
		return w.string(x)
	case []byte:
		w.buf = append(w.buf, `{"$bytes":"`...)
		w.buf = base64.RawStdEncoding.AppendEncode(w.buf, x)
		w.buf = append(w.buf, `"}`...)
	case cid.Cid:
		return w.link(x)
	case *cid.Cid:
		if x == nil {
			w.buf = append(w.buf, "null"...)
			return nil
		}
		return w.link(*x)
	case float32, float64:
		return fmt.Errorf("%w: %v", ErrFloat, x)
	case []any:
		if depth >= MaxDepth {
			return fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth)
		}
		w.buf = append(w.buf, '[')
		for i, el := range x {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			if err := w.value(el, depth+1); err != nil {
				return err
			}
		}
		w.buf = append(w.buf, ']')
	case map[string]any:
		if depth >= MaxDepth {
			return fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth)
		}
		if _, ok := x["$link"]; ok {
			return fmt.Errorf("%w: map with a $link key", ErrInvalidJSON)
		}
		if _, ok := x["$bytes"]; ok {
			return fmt.Errorf("%w: map with a $bytes key", ErrInvalidJSON)
		}
		if err := checkObject(x); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidJSON, err)
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		w.buf = append(w.buf, '{')
		for i, k := range keys {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			if err := w.string(k); err != nil {
				return err
			}
			w.buf = append(w.buf, ':')
			if err := w.value(x[k], depth+1); err != nil {
				return err
			}
		}
		w.buf = append(w.buf, '}')
	case []string, []int64, []cid.Cid, map[string]string, map[string]cid.Cid:
		return w.value(generic(x), depth)
	default:
		n, ok, err := asInt64(v)
		if !ok {
			return fmt.Errorf("%w: %T", ErrUnsupportedType, v)
		}
		if err != nil {
			return err
		}
		w.buf = strconv.AppendInt(w.buf, n, 10)
	}
	return nil
}

// generic converts the convenience slice and map types to []any and
// map[string]any.
func generic(v any) any {
	switch x := v.(type) {
	case []string:
		a := make([]any, len(x))
		for i, s := range x {
			a[i] = s
		}
		return a
	case []int64:
		a := make([]any, len(x))
		for i, n := range x {
			a[i] = n
		}
		return a
	case []cid.Cid:
		a := make([]any, len(x))
		for i, c := range x {
			a[i] = c
		}
		return a
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, s := range x {
			m[k] = s
		}
		return m
	case map[string]cid.Cid:
		m := make(map[string]any, len(x))
		for k, c := range x {
			m[k] = c
		}
		return m
	}
	return v
}
