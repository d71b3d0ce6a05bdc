package datamodel

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
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

func fromJSON(b []byte) (any, error) {
	if !utf8.Valid(b) {
		return nil, ErrInvalidUTF8
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('{') {
		return nil, errors.New("top-level value is not an object")
	}
	v, err := jsonObject(dec, 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the top-level object")
		}
		return nil, err
	}
	return v, nil
}

// jsonValue converts the JSON value starting with tok. depth is the nesting
// level a container starting at tok would have.
func jsonValue(dec *json.Decoder, tok json.Token, depth int) (any, error) {
	switch x := tok.(type) {
	case nil, bool, string:
		return x, nil
	case json.Number:
		return jsonInt(string(x))
	case json.Delim:
		switch x {
		case '{':
			return jsonObject(dec, depth)
		case '[':
			return jsonArray(dec, depth)
		}
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

func jsonArray(dec *json.Decoder, depth int) (any, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth)
	}
	a := []any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		v, err := jsonValue(dec, tok, depth+1)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
	}
	if _, err := dec.Token(); err != nil { // ']'
		return nil, err
	}
	return a, nil
}

// jsonObject converts an object whose '{' has been read. Objects one level
// deeper than MaxDepth are read so that a $link or $bytes object (which is
// not a container in the data model) may sit inside a container at
// MaxDepth.
func jsonObject(dec *json.Decoder, depth int) (any, error) {
	if depth > MaxDepth+1 {
		return nil, fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth)
	}
	m := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("unexpected object key %v", tok)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("duplicate key %q", k)
		}
		if tok, err = dec.Token(); err != nil {
			return nil, err
		}
		if m[k], err = jsonValue(dec, tok, depth+1); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, err
	}
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
	w.buf = append(w.buf, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		w.buf = append(w.buf, s[start:i]...)
		switch c {
		case '"', '\\':
			w.buf = append(w.buf, '\\', c)
		case '\n':
			w.buf = append(w.buf, '\\', 'n')
		case '\r':
			w.buf = append(w.buf, '\\', 'r')
		case '\t':
			w.buf = append(w.buf, '\\', 't')
		default:
			w.buf = append(w.buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	w.buf = append(w.buf, s[start:]...)
	w.buf = append(w.buf, '"')
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
