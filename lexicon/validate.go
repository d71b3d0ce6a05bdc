package lexicon

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
	"github.com/rivo/uniseg"

	"github.com/atlite-dev/atlite/syntax"
)

// maxDepth bounds the nesting the validator follows, so that a value that
// contains itself (only a Go caller can build one) cannot make it recurse
// forever. Decoded data model values nest at most 128 levels.
const maxDepth = 256

// ValidateRecord checks record, a record value in the data model (as
// datamodel.FromJSON or datamodel.UnmarshalMap decode it), against the
// record lexicon of collection: its "$type" must be collection, and the
// rest must match the definition's object schema. It returns nil, an error
// wrapping [ErrUnknownLexicon] when the catalog has no record lexicon for
// collection (or one the record reaches refers to a definition the catalog
// lacks), or a [*ValidationError] wrapping [ErrInvalidRecord] for the
// first problem found.
//
// String lengths (minLength, maxLength) count UTF-8 bytes, and
// minGraphemes and maxGraphemes count extended grapheme clusters. The
// knownValues of a string are not enforced, and open unions accept objects
// of any "$type". Properties a schema does not list are allowed and not
// checked; a missing optional property with a default is valid (no default
// is applied: record is not modified).
func (c *Catalog) ValidateRecord(collection string, record map[string]any) error {
	n := c.records[collection]
	if n == nil {
		return fmt.Errorf("%w: no record lexicon for %q", ErrUnknownLexicon, collection)
	}
	var buf [16]seg
	p := loc(buf[:0])
	if record == nil {
		return p.fail("must be an object")
	}
	t, ok := record["$type"].(string)
	if !ok {
		return p.key("$type").fail("must be a string")
	}
	if t != collection {
		return p.key("$type").fail("must be " + collection)
	}
	return value(n.record, record, p)
}

// seg is one step of a path: an object key, or an array index when
// index >= 0.
type seg struct {
	key   string
	index int
}

// loc is the path of the value being checked, from the record down. It is
// passed by value and appended to in place, so that the common case of a
// shallow record uses one buffer on the stack; it is formatted only when
// there is an error.
type loc []seg

// key returns the path of property k of p's value.
func (p loc) key(k string) loc { return append(p, seg{key: k, index: -1}) }

// item returns the path of element i of p's value.
func (p loc) item(i int) loc { return append(p, seg{index: i}) }

// String formats the path: "Record/embed/images/0/alt".
func (p loc) String() string {
	var b strings.Builder
	b.WriteString("Record")
	for _, s := range p {
		b.WriteByte('/')
		if s.index < 0 {
			b.WriteString(s.key)
		} else {
			b.WriteString(strconv.Itoa(s.index))
		}
	}
	return b.String()
}

func (p loc) fail(msg string) error {
	return &ValidationError{Path: p.String(), Message: msg}
}

func (p loc) failf(format string, args ...any) error {
	return p.fail(fmt.Sprintf(format, args...))
}

// value checks x against n.
func value(n *node, x any, p loc) error {
	if len(p) > maxDepth {
		return p.fail("is nested too deeply")
	}
	switch n.kind {
	case kindNull:
		if x != nil {
			return p.fail("must be null")
		}
	case kindBoolean:
		b, ok := x.(bool)
		if !ok {
			return p.fail("must be a boolean")
		}
		if n.boolConst != nil && b != *n.boolConst {
			return p.failf("must be %t", *n.boolConst)
		}
	case kindInteger:
		return integer(n, x, p)
	case kindString:
		s, ok := x.(string)
		if !ok {
			return p.fail("must be a string")
		}
		return str(n, s, p)
	case kindBytes:
		b, ok := x.([]byte)
		if !ok {
			return p.fail("must be a byte array")
		}
		if n.maxLen.set && int64(len(b)) > n.maxLen.n {
			return p.failf("must not be larger than %d bytes", n.maxLen.n)
		}
		if n.minLen.set && int64(len(b)) < n.minLen.n {
			return p.failf("must not be smaller than %d bytes", n.minLen.n)
		}
	case kindCIDLink:
		if c, ok := x.(cid.Cid); !ok || !c.Defined() {
			return p.fail("must be a CID")
		}
	case kindBlob:
		return blob(n, x, p)
	case kindArray:
		a, ok := x.([]any)
		if !ok {
			return p.fail("must be an array")
		}
		if n.maxLen.set && int64(len(a)) > n.maxLen.n {
			return p.failf("must not have more than %d elements", n.maxLen.n)
		}
		if n.minLen.set && int64(len(a)) < n.minLen.n {
			return p.failf("must not have fewer than %d elements", n.minLen.n)
		}
		for i, item := range a {
			if err := value(n.items, item, p.item(i)); err != nil {
				return err
			}
		}
	case kindObject:
		return object(n, x, p)
	case kindRecord:
		return value(n.record, x, p)
	case kindRef:
		return ref(n, x, p)
	case kindUnion:
		return union(n, x, p)
	case kindUnknown:
		// Any object but a blob: bytes and links are not maps here.
		if m, ok := x.(map[string]any); !ok || m["$type"] == "blob" {
			return p.fail("must be an object")
		}
	case kindToken:
		if s, ok := x.(string); !ok || s != n.name {
			return p.fail("must be " + n.name)
		}
	default:
		return p.fail("has an unsupported lexicon type " + strconv.Quote(n.typ))
	}
	return nil
}

func object(n *node, x any, p loc) error {
	m, ok := x.(map[string]any)
	if !ok {
		return p.fail("must be an object")
	}
	for i := range n.props {
		pr := &n.props[i]
		pv, present := m[pr.name]
		if !present {
			if pr.required {
				return p.failf("must have the property %q", pr.name)
			}
			continue
		}
		if pv == nil && pr.nullable {
			continue
		}
		if err := value(pr.node, pv, p.key(pr.name)); err != nil {
			return err
		}
	}
	return nil
}

// ref checks x against the definition n refers to. An object definition
// reached through a ref is a typed object: a "$type" in x, if any, must
// name it.
func ref(n *node, x any, p loc) error {
	t := n.target
	if t == nil {
		return fmt.Errorf("%s: %w: %s", p.String(), ErrUnknownLexicon, typeName(n.ref))
	}
	if t.kind == kindObject {
		if m, ok := x.(map[string]any); ok {
			if ty, has := m["$type"]; has {
				if s, ok := ty.(string); !ok || (s != t.name && s != t.name+"#main") {
					return p.key("$type").fail("must be " + t.name)
				}
			}
		}
	}
	return value(t, x, p)
}

func union(n *node, x any, p loc) error {
	m, ok := x.(map[string]any)
	var ty string
	if ok {
		ty, ok = m["$type"].(string)
	}
	if !ok || ty == "" {
		return p.fail(`must be an object which includes the "$type" property`)
	}
	full := ty
	if !strings.Contains(ty, "#") {
		full += "#main"
	}
	member, found := n.members[full]
	if !found {
		if !n.closed {
			return nil
		}
		names := make([]string, len(n.refs))
		for i, r := range n.refs {
			names[i] = typeName(r)
		}
		return p.fail("$type must be one of " + strings.Join(names, ", "))
	}
	if member == nil {
		return fmt.Errorf("%s: %w: %s", p.String(), ErrUnknownLexicon, ty)
	}
	return value(member, x, p)
}

// asInt returns an integer of the data model (int64) or of another Go
// integer type a caller may have built a value with.
func asInt(x any) (int64, bool) {
	switch i := x.(type) {
	case int64:
		return i, true
	case int:
		return int64(i), true
	case int32:
		return int64(i), true
	}
	return 0, false
}

func integer(n *node, x any, p loc) error {
	i, ok := asInt(x)
	if !ok {
		return p.fail("must be an integer")
	}
	if n.intConst != nil && i != *n.intConst {
		return p.failf("must be %d", *n.intConst)
	}
	if n.intEnum != nil && !contains(n.intEnum, i) {
		parts := make([]string, len(n.intEnum))
		for j, e := range n.intEnum {
			parts[j] = strconv.FormatInt(e, 10)
		}
		return p.fail("must be one of (" + strings.Join(parts, "|") + ")")
	}
	if n.maximum.set && i > n.maximum.n {
		return p.failf("can not be greater than %d", n.maximum.n)
	}
	if n.minimum.set && i < n.minimum.n {
		return p.failf("can not be less than %d", n.minimum.n)
	}
	return nil
}

func contains[T comparable](s []T, x T) bool {
	for _, e := range s {
		if e == x {
			return true
		}
	}
	return false
}

func str(n *node, s string, p loc) error {
	if n.strConst != nil && s != *n.strConst {
		return p.fail("must be " + *n.strConst)
	}
	if n.strEnum != nil && !contains(n.strEnum, s) {
		return p.fail("must be one of (" + strings.Join(n.strEnum, "|") + ")")
	}
	if n.maxLen.set && int64(len(s)) > n.maxLen.n {
		return p.failf("must not be longer than %d characters", n.maxLen.n)
	}
	if n.minLen.set && int64(len(s)) < n.minLen.n {
		return p.failf("must not be shorter than %d characters", n.minLen.n)
	}
	// A string has at most as many grapheme clusters as bytes, so the
	// clusters are counted only when the byte length does not decide.
	if n.minGraphemes.set || n.maxGraphemes.set {
		if n.minGraphemes.set && int64(len(s)) < n.minGraphemes.n {
			return p.failf("must not be shorter than %d graphemes", n.minGraphemes.n)
		}
		needMax := n.maxGraphemes.set && int64(len(s)) > n.maxGraphemes.n
		if needMax || n.minGraphemes.set {
			g := int64(uniseg.GraphemeClusterCount(s))
			if n.maxGraphemes.set && g > n.maxGraphemes.n {
				return p.failf("must not be longer than %d graphemes", n.maxGraphemes.n)
			}
			if n.minGraphemes.set && g < n.minGraphemes.n {
				return p.failf("must not be shorter than %d graphemes", n.minGraphemes.n)
			}
		}
	}
	if n.format != formatNone {
		if msg := checkFormat(n.format, s); msg != "" {
			return p.fail(msg)
		}
	}
	return nil
}

// checkFormat returns "" if s is in format f, else the error message.
func checkFormat(f format, s string) string {
	var err error
	var msg string
	switch f {
	case formatDatetime:
		_, err = syntax.ParseDatetime(s)
		msg = "must be an valid atproto datetime (both RFC-3339 and ISO-8601)"
	case formatURI:
		err = checkURI(s)
		msg = "must be a uri"
	case formatATURI:
		_, err = syntax.ParseATURI(s)
		msg = "must be a valid at-uri"
	case formatDID:
		_, err = syntax.ParseDID(s)
		msg = "must be a valid did"
	case formatHandle:
		_, err = syntax.ParseHandle(s)
		msg = "must be a valid handle"
	case formatAtIdentifier:
		_, err = syntax.ParseAtIdentifier(s)
		msg = "must be a valid did or a handle"
	case formatNSID:
		_, err = syntax.ParseNSID(s)
		msg = "must be a valid nsid"
	case formatCID:
		if _, err = syntax.ParseCIDString(s); err == nil {
			var c cid.Cid
			if c, err = cid.Decode(s); err == nil && c.String() != s {
				err = fmt.Errorf("not canonical")
			}
		}
		msg = "must be a cid string"
	case formatLanguage:
		_, err = syntax.ParseLanguage(s)
		msg = "must be a well-formed BCP 47 language tag"
	case formatTID:
		_, err = syntax.ParseTID(s)
		msg = "must be a valid TID"
	case formatRecordKey:
		_, err = syntax.ParseRecordKey(s)
		msg = "must be a valid Record Key"
	default:
		panic("lexicon: unhandled string format")
	}
	if err != nil {
		return msg
	}
	return ""
}

// checkURI is syntax.ParseURI with one allowance: characters beyond ASCII
// after the scheme, as in a link pasted as https://ja.wikipedia.org/wiki/東京.
// The reference implementation's uri format accepts them (any character
// but white space), and link facets and external embeds carry such links;
// Unicode white space is still refused.
func checkURI(s string) error {
	_, err := syntax.ParseURI(s)
	if err == nil || len(s) > syntax.MaxURILength {
		return err
	}
	colon := strings.IndexByte(s, ':')
	i := 0
	for i < len(s) && s[i] < utf8.RuneSelf {
		i++
	}
	if i == len(s) || colon < 0 || colon > i {
		return err // all ASCII, or not beyond the scheme
	}
	ascii := []byte(s[:i])
	for _, r := range s[i:] {
		switch {
		case r < utf8.RuneSelf:
			ascii = append(ascii, byte(r))
		case unicode.IsSpace(r):
			return err
		default:
			ascii = append(ascii, 'x')
		}
	}
	_, err = syntax.ParseURI(string(ascii))
	return err
}

// blob checks a blob reference: a map with exactly "$type": "blob", a
// "ref" link, a "mimeType" with a '/', and a non-negative "size" (the
// strict form: legacy {"cid", "mimeType"} refs are refused, as the
// reference PDS refuses new ones). The codec of the link is not checked:
// the interop vectors (atproto-interop-tests lexicon/record-data-valid.json)
// hold a valid blob whose ref is a dag-cbor CID.
func blob(n *node, x any, p loc) error {
	m, ok := x.(map[string]any)
	if !ok || len(m) != 4 || m["$type"] != "blob" {
		return p.fail("should be a blob ref")
	}
	c, ok := m["ref"].(cid.Cid)
	mime, ok2 := m["mimeType"].(string)
	size, ok3 := asInt(m["size"])
	if !ok || !ok2 || !ok3 || !c.Defined() || !strings.Contains(mime, "/") || size < 0 {
		return p.fail("should be a blob ref")
	}
	if n.accept != nil && !acceptsMIME(n.accept, mime) {
		return p.key("mimeType").fail("must be one of (" + strings.Join(n.accept, "|") + ")")
	}
	if n.maxSize.set && size > n.maxSize.n {
		return p.failf("must not be larger than %d bytes", n.maxSize.n)
	}
	return nil
}

// acceptsMIME reports whether mime matches one of accept's patterns: an
// exact type, "type/*", or "*/*".
func acceptsMIME(accept []string, mime string) bool {
	for _, a := range accept {
		if a == "*/*" || a == mime {
			return true
		}
		if prefix, ok := strings.CutSuffix(a, "*"); ok && strings.HasSuffix(prefix, "/") && strings.HasPrefix(mime, prefix) {
			return true
		}
	}
	return false
}
