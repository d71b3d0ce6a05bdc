package lexicon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/atlite-dev/atlite/syntax"
)

// kind is the lexicon type of a schema node.
type kind uint8

const (
	kindOther kind = iota // query, procedure, subscription, ...: not data
	kindNull
	kindBoolean
	kindInteger
	kindString
	kindBytes
	kindCIDLink
	kindBlob
	kindArray
	kindObject
	kindRecord
	kindRef
	kindUnion
	kindUnknown
	kindToken
)

// dataKinds maps the lexicon types a value can be checked against.
var dataKinds = map[string]kind{
	"null": kindNull, "boolean": kindBoolean, "integer": kindInteger,
	"string": kindString, "bytes": kindBytes, "cid-link": kindCIDLink,
	"blob": kindBlob, "array": kindArray, "object": kindObject,
	"ref": kindRef, "union": kindUnion, "unknown": kindUnknown,
}

// format is a string format of the lexicon language.
type format uint8

const (
	formatNone format = iota
	formatDatetime
	formatURI
	formatATURI
	formatDID
	formatHandle
	formatAtIdentifier
	formatNSID
	formatCID
	formatLanguage
	formatTID
	formatRecordKey
)

var formats = map[string]format{
	"datetime": formatDatetime, "uri": formatURI, "at-uri": formatATURI,
	"did": formatDID, "handle": formatHandle, "at-identifier": formatAtIdentifier,
	"nsid": formatNSID, "cid": formatCID, "language": formatLanguage,
	"tid": formatTID, "record-key": formatRecordKey,
}

// limit is an optional integer bound.
type limit struct {
	n   int64
	set bool
}

func limitOf(p *int64) limit {
	if p == nil {
		return limit{}
	}
	return limit{*p, true}
}

// node is a compiled schema: a named definition or an anonymous one nested
// in it (a property, array items, a record's object). Nodes are immutable
// once the catalog is built.
type node struct {
	kind kind
	// typ is the lexicon "type" as written, for kindOther's message.
	typ string
	// name is the $type of a named definition: "app.bsky.feed.post" for
	// main, "app.bsky.feed.post#replyRef" otherwise; "" when anonymous.
	name string

	// object
	props []prop

	// array (items), string and bytes (min/maxLength: elements or bytes)
	items          *node
	minLen, maxLen limit

	// string
	format                     format
	minGraphemes, maxGraphemes limit
	strEnum                    []string
	strConst                   *string

	// integer
	minimum, maximum limit
	intEnum          []int64
	intConst         *int64

	// boolean
	boolConst *bool

	// blob
	accept  []string
	maxSize limit

	// ref: target is nil when the catalog lacks ref.
	ref    string
	target *node

	// union: members holds the resolved refs by their full name
	// ("nsid#def"), nil for a ref the catalog lacks.
	refs    []string
	members map[string]*node
	closed  bool

	// record
	key    string
	record *node
}

// prop is one property of an object, in the order the lexicon lists them.
type prop struct {
	name               string
	node               *node
	required, nullable bool
}

// jsonDoc is a lexicon document as written.
type jsonDoc struct {
	Lexicon int                 `json:"lexicon"`
	ID      string              `json:"id"`
	Defs    map[string]*jsonDef `json:"defs"`
}

// jsonDef is a definition as written; fields of types this package does
// not check (parameters, input, output, ...) are not read.
type jsonDef struct {
	Type         string          `json:"type"`
	Required     []string        `json:"required"`
	Nullable     []string        `json:"nullable"`
	Properties   orderedDefs     `json:"properties"`
	Items        *jsonDef        `json:"items"`
	Record       *jsonDef        `json:"record"`
	Key          string          `json:"key"`
	MinLength    *int64          `json:"minLength"`
	MaxLength    *int64          `json:"maxLength"`
	MinGraphemes *int64          `json:"minGraphemes"`
	MaxGraphemes *int64          `json:"maxGraphemes"`
	Minimum      *int64          `json:"minimum"`
	Maximum      *int64          `json:"maximum"`
	Format       string          `json:"format"`
	Enum         json.RawMessage `json:"enum"`
	Const        json.RawMessage `json:"const"`
	Accept       []string        `json:"accept"`
	MaxSize      *int64          `json:"maxSize"`
	Ref          string          `json:"ref"`
	Refs         []string        `json:"refs"`
	Closed       bool            `json:"closed"`
}

// namedDef is one property of an object definition.
type namedDef struct {
	name string
	def  *jsonDef
}

// orderedDefs keeps the properties of an object in the order they are
// written, so that the first error reported is the one the reference
// implementation reports.
type orderedDefs []namedDef

// UnmarshalJSON implements json.Unmarshaler.
func (o *orderedDefs) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil
	}
	if tok != json.Delim('{') {
		return fmt.Errorf("properties is not an object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name := tok.(string) // object keys are strings
		var d jsonDef
		if err := dec.Decode(&d); err != nil {
			return fmt.Errorf("property %q: %w", name, err)
		}
		*o = append(*o, namedDef{name, &d})
	}
	return nil
}

// Catalog is a set of lexicon documents, compiled for validation. A Catalog
// is immutable once built and safe for concurrent use.
type Catalog struct {
	defs    map[string]*node // by full name, "nsid#def"
	records map[string]*node // record definitions by NSID
	ids     []string         // document ids, in load order
}

// NewCatalog loads lexicon documents (atproto Lexicon v1 JSON). A document
// may refer to definitions of the others; a reference to a definition none
// of them holds is reported, with [ErrUnknownLexicon], only when a value
// reaches it. Two documents with the same id, malformed JSON and
// definitions this package does not understand are errors wrapping
// [ErrInvalidLexicon].
func NewCatalog(docs ...[]byte) (*Catalog, error) {
	c := &Catalog{defs: map[string]*node{}, records: map[string]*node{}}
	b := builder{c: c}
	for _, raw := range docs {
		if err := b.add(raw); err != nil {
			return nil, err
		}
	}
	b.link()
	return c, nil
}

// NewCatalogFS loads every *.json file under the root of fsys, in the
// lexical order fs.WalkDir visits them, as [NewCatalog] does.
func NewCatalogFS(fsys fs.FS) (*Catalog, error) {
	var docs [][]byte
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".json" {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		docs = append(docs, b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load lexicons: %w", err)
	}
	return NewCatalog(docs...)
}

// IDs returns the ids (NSIDs) of the catalog's documents, in load order.
// The caller owns the returned slice.
func (c *Catalog) IDs() []string { return append([]string(nil), c.ids...) }

// HasRecord reports whether the catalog has a record lexicon for
// collection.
func (c *Catalog) HasRecord(collection string) bool { return c.records[collection] != nil }

// RecordKey returns the record key type of collection's lexicon ("tid",
// "any", "nsid", "literal:self"), or "" when the catalog has none.
func (c *Catalog) RecordKey(collection string) string {
	if n := c.records[collection]; n != nil {
		return n.key
	}
	return ""
}

// ValidateRecordKey checks rkey against the key type of collection's record
// lexicon: "tid" wants a TID, "nsid" an NSID, "literal:X" exactly X, and
// "any" any valid record key. It returns an error wrapping
// [ErrUnknownLexicon] when the catalog has no record lexicon for
// collection, or [ErrInvalidRecordKey].
func (c *Catalog) ValidateRecordKey(collection, rkey string) error {
	n := c.records[collection]
	if n == nil {
		return fmt.Errorf("%w: no record lexicon for %q", ErrUnknownLexicon, collection)
	}
	var err error
	switch {
	case n.key == "tid":
		_, err = syntax.ParseTID(rkey)
	case n.key == "nsid":
		_, err = syntax.ParseNSID(rkey)
	case strings.HasPrefix(n.key, "literal:"):
		if want := strings.TrimPrefix(n.key, "literal:"); rkey != want {
			err = fmt.Errorf("must be %q", want)
		}
	default:
		_, err = syntax.ParseRecordKey(rkey)
	}
	if err != nil {
		return fmt.Errorf("%w %q for %s (key type %s): %v", ErrInvalidRecordKey, rkey, collection, n.key, err)
	}
	return nil
}

// builder compiles documents into a catalog.
type builder struct {
	c       *Catalog
	pending []*node // ref and union nodes, linked once every document is in
}

func (b *builder) add(raw []byte) error {
	var d jsonDoc
	if err := json.Unmarshal(raw, &d); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidLexicon, err)
	}
	if d.Lexicon != 1 {
		return fmt.Errorf("%w: %s: lexicon version %d, want 1", ErrInvalidLexicon, d.ID, d.Lexicon)
	}
	if _, err := syntax.ParseNSID(d.ID); err != nil {
		return fmt.Errorf("%w: id: %v", ErrInvalidLexicon, err)
	}
	for _, id := range b.c.ids {
		if id == d.ID {
			return fmt.Errorf("%w: %s: loaded twice", ErrInvalidLexicon, d.ID)
		}
	}
	b.c.ids = append(b.c.ids, d.ID)
	for name, jd := range d.Defs {
		if jd == nil {
			return fmt.Errorf("%w: %s#%s: null definition", ErrInvalidLexicon, d.ID, name)
		}
		n, err := b.top(d.ID, name, jd)
		if err != nil {
			return fmt.Errorf("%w: %s#%s: %v", ErrInvalidLexicon, d.ID, name, err)
		}
		n.name = d.ID
		if name != "main" {
			n.name += "#" + name
		}
		b.c.defs[d.ID+"#"+name] = n
		if n.kind == kindRecord {
			b.c.records[d.ID] = n
		}
	}
	return nil
}

// top compiles a named definition.
func (b *builder) top(id, name string, jd *jsonDef) (*node, error) {
	switch jd.Type {
	case "record":
		if name != "main" {
			return nil, fmt.Errorf("a record must be the main definition")
		}
		if jd.Record == nil || jd.Record.Type != "object" {
			return nil, fmt.Errorf("record has no object schema")
		}
		if jd.Key == "" {
			return nil, fmt.Errorf("record has no key type")
		}
		obj, err := b.data(id, jd.Record)
		if err != nil {
			return nil, fmt.Errorf("record: %v", err)
		}
		return &node{kind: kindRecord, typ: "record", key: jd.Key, record: obj}, nil
	case "token":
		return &node{kind: kindToken, typ: "token"}, nil
	case "ref", "union", "unknown":
		return nil, fmt.Errorf("a %s cannot be a named definition", jd.Type)
	}
	if _, ok := dataKinds[jd.Type]; ok {
		return b.data(id, jd)
	}
	return &node{kind: kindOther, typ: jd.Type}, nil
}

// data compiles a definition of a data type.
func (b *builder) data(id string, jd *jsonDef) (*node, error) {
	k, ok := dataKinds[jd.Type]
	if !ok {
		return nil, fmt.Errorf("unknown type %q", jd.Type)
	}
	n := &node{kind: k, typ: jd.Type}
	switch k {
	case kindBoolean:
		if len(jd.Const) > 0 {
			n.boolConst = new(bool)
			if err := json.Unmarshal(jd.Const, n.boolConst); err != nil {
				return nil, fmt.Errorf("const: %v", err)
			}
		}
	case kindInteger:
		n.minimum, n.maximum = limitOf(jd.Minimum), limitOf(jd.Maximum)
		if len(jd.Const) > 0 {
			n.intConst = new(int64)
			if err := json.Unmarshal(jd.Const, n.intConst); err != nil {
				return nil, fmt.Errorf("const: %v", err)
			}
		}
		if len(jd.Enum) > 0 {
			if err := json.Unmarshal(jd.Enum, &n.intEnum); err != nil {
				return nil, fmt.Errorf("enum: %v", err)
			}
		}
	case kindString:
		n.minLen, n.maxLen = limitOf(jd.MinLength), limitOf(jd.MaxLength)
		n.minGraphemes, n.maxGraphemes = limitOf(jd.MinGraphemes), limitOf(jd.MaxGraphemes)
		if jd.Format != "" {
			if n.format, ok = formats[jd.Format]; !ok {
				return nil, fmt.Errorf("unknown string format %q", jd.Format)
			}
		}
		if len(jd.Const) > 0 {
			n.strConst = new(string)
			if err := json.Unmarshal(jd.Const, n.strConst); err != nil {
				return nil, fmt.Errorf("const: %v", err)
			}
		}
		if len(jd.Enum) > 0 {
			if err := json.Unmarshal(jd.Enum, &n.strEnum); err != nil {
				return nil, fmt.Errorf("enum: %v", err)
			}
		}
	case kindBytes:
		n.minLen, n.maxLen = limitOf(jd.MinLength), limitOf(jd.MaxLength)
	case kindBlob:
		n.accept, n.maxSize = jd.Accept, limitOf(jd.MaxSize)
	case kindArray:
		n.minLen, n.maxLen = limitOf(jd.MinLength), limitOf(jd.MaxLength)
		if jd.Items == nil {
			return nil, fmt.Errorf("array has no items")
		}
		items, err := b.data(id, jd.Items)
		if err != nil {
			return nil, fmt.Errorf("items: %v", err)
		}
		n.items = items
	case kindObject:
		required := set(jd.Required)
		nullable := set(jd.Nullable)
		for _, p := range jd.Properties {
			if p.def == nil {
				return nil, fmt.Errorf("property %q: null definition", p.name)
			}
			pn, err := b.data(id, p.def)
			if err != nil {
				return nil, fmt.Errorf("property %q: %v", p.name, err)
			}
			n.props = append(n.props, prop{name: p.name, node: pn, required: required[p.name], nullable: nullable[p.name]})
		}
	case kindRef:
		if jd.Ref == "" {
			return nil, fmt.Errorf("ref has no target")
		}
		n.ref = absolute(id, jd.Ref)
		b.pending = append(b.pending, n)
	case kindUnion:
		for _, r := range jd.Refs {
			n.refs = append(n.refs, absolute(id, r))
		}
		n.closed = jd.Closed
		b.pending = append(b.pending, n)
	}
	return n, nil
}

// link resolves refs and union members.
func (b *builder) link() {
	for _, n := range b.pending {
		switch n.kind {
		case kindRef:
			n.target = b.c.defs[n.ref]
		case kindUnion:
			n.members = make(map[string]*node, len(n.refs))
			for _, r := range n.refs {
				n.members[r] = b.c.defs[r]
			}
		}
	}
	b.pending = nil
}

// absolute turns a reference written in document id into a full name
// "nsid#def": "#x" is id's, and a bare NSID means its main definition.
func absolute(id, ref string) string {
	switch {
	case strings.HasPrefix(ref, "#"):
		return id + ref
	case strings.Contains(ref, "#"):
		return ref
	}
	return ref + "#main"
}

// typeName is the $type form of a full name: "nsid" for main.
func typeName(full string) string { return strings.TrimSuffix(full, "#main") }

func set(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, s := range names {
		m[s] = true
	}
	return m
}
