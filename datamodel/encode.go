package datamodel

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/atlite-dev/atlite/internal/cborhead"
	"github.com/ipfs/go-cid"
)

// MaxDepth is the deepest nesting of arrays and maps that [Marshal],
// [Unmarshal], [FromJSON] and [ToJSON] accept: a top-level map counts as
// depth 1, a map inside it as depth 2, and so on. The atproto "recommended
// data limits" suggest 32 levels for records; MaxDepth is larger so that any
// record the network accepts can be read, while still bounding recursion.
const MaxDepth = 128

// CBOR major types, shifted into the high three bits of the initial byte.
const (
	majUint   = 0 << 5
	majNegint = 1 << 5
	majBytes  = 2 << 5
	majText   = 3 << 5
	majArray  = 4 << 5
	majMap    = 5 << 5
	majTag    = 6 << 5
	majSimple = 7 << 5
)

// Simple values and the CID tag.
const (
	cborFalse = majSimple | 20
	cborTrue  = majSimple | 21
	cborNull  = majSimple | 22
	tagCID    = 42
)

// Marshal encodes v as canonical DAG-CBOR: definite lengths, integers and
// lengths in their shortest form, map keys sorted by length and then
// bytewise, CIDs as tag 42 over a byte string holding 0x00 and the binary
// CID, and nil as CBOR null (map entries with nil values are kept).
//
// v is built from the data model types: nil, bool, int64, string, []byte,
// [cid.Cid], []any and map[string]any. For convenience Marshal also accepts
// the other Go integer types (unsigned values must fit in an int64),
// *cid.Cid (nil encodes as null), []string, []int64, []cid.Cid,
// map[string]string and map[string]cid.Cid. Floats and every other type are
// rejected with [ErrFloat] or [ErrUnsupportedType]; strings must be valid
// UTF-8 ([ErrInvalidUTF8]), CIDs must be defined ([ErrInvalidCID]) and
// nesting must not exceed [MaxDepth] ([ErrTooDeep]). Anything Marshal
// returns is accepted by [Unmarshal].
func Marshal(v any) ([]byte, error) {
	e := encoder{buf: make([]byte, 0, 256)}
	if err := e.value(v, 0); err != nil {
		return nil, err
	}
	return e.buf, nil
}

// encoder appends canonical DAG-CBOR to buf.
type encoder struct {
	buf []byte
}

// head appends an initial byte of the given major type (its bits, as
// majUint) with argument n in its shortest form.
func (e *encoder) head(major byte, n uint64) {
	e.buf = cborhead.Append(e.buf, major>>5, n)
}

func (e *encoder) int(n int64) {
	if n >= 0 {
		e.head(majUint, uint64(n))
	} else {
		e.head(majNegint, uint64(-1-n))
	}
}

func (e *encoder) text(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %q", ErrInvalidUTF8, s)
	}
	e.head(majText, uint64(len(s)))
	e.buf = append(e.buf, s...)
	return nil
}

func (e *encoder) cid(c cid.Cid) error {
	if !c.Defined() {
		return fmt.Errorf("%w: undefined cid", ErrInvalidCID)
	}
	b := c.KeyString()
	e.buf = append(e.buf, majTag|24, tagCID)
	e.head(majBytes, uint64(len(b)+1))
	e.buf = append(e.buf, 0)
	e.buf = append(e.buf, b...)
	return nil
}

// compareKeys orders map keys as DAG-CBOR requires: shorter keys first, keys
// of equal length bytewise. For text keys this equals the bytewise order of
// their encoded forms.
func compareKeys(a, b string) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// sortedKeys returns the keys of m in canonical order, using scratch when it
// is large enough.
func sortedKeys[V any](m map[string]V, scratch []string) []string {
	keys := scratch[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	return keys
}

func (e *encoder) value(v any, depth int) error {
	switch x := v.(type) {
	case nil:
		e.buf = append(e.buf, cborNull)
	case bool:
		if x {
			e.buf = append(e.buf, cborTrue)
		} else {
			e.buf = append(e.buf, cborFalse)
		}
	case int64:
		e.int(x)
	case string:
		return e.text(x)
	case []byte:
		e.head(majBytes, uint64(len(x)))
		e.buf = append(e.buf, x...)
	case cid.Cid:
		return e.cid(x)
	case *cid.Cid:
		if x == nil {
			e.buf = append(e.buf, cborNull)
			return nil
		}
		return e.cid(*x)
	case float32, float64:
		return fmt.Errorf("%w: %v", ErrFloat, x)
	case []any:
		if depth >= MaxDepth {
			return fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth)
		}
		e.head(majArray, uint64(len(x)))
		for _, el := range x {
			if err := e.value(el, depth+1); err != nil {
				return err
			}
		}
	case map[string]any:
		if depth >= MaxDepth {
			return fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth)
		}
		var scratch [16]string
		keys := sortedKeys(x, scratch[:])
		e.head(majMap, uint64(len(keys)))
		for _, k := range keys {
			if err := e.text(k); err != nil {
				return err
			}
			if err := e.value(x[k], depth+1); err != nil {
				return err
			}
		}
	case []string:
		if depth >= MaxDepth {
			return fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth)
		}
		e.head(majArray, uint64(len(x)))
		for _, s := range x {
			if err := e.text(s); err != nil {
				return err
			}
		}
	case []int64:
		if depth >= MaxDepth {
			return fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth)
		}
		e.head(majArray, uint64(len(x)))
		for _, n := range x {
			e.int(n)
		}
	case []cid.Cid:
		if depth >= MaxDepth {
			return fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth)
		}
		e.head(majArray, uint64(len(x)))
		for _, c := range x {
			if err := e.cid(c); err != nil {
				return err
			}
		}
	case map[string]string:
		if depth >= MaxDepth {
			return fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth)
		}
		var scratch [16]string
		keys := sortedKeys(x, scratch[:])
		e.head(majMap, uint64(len(keys)))
		for _, k := range keys {
			if err := e.text(k); err != nil {
				return err
			}
			if err := e.text(x[k]); err != nil {
				return err
			}
		}
	case map[string]cid.Cid:
		if depth >= MaxDepth {
			return fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth)
		}
		var scratch [16]string
		keys := sortedKeys(x, scratch[:])
		e.head(majMap, uint64(len(keys)))
		for _, k := range keys {
			if err := e.text(k); err != nil {
				return err
			}
			if err := e.cid(x[k]); err != nil {
				return err
			}
		}
	default:
		n, ok, err := asInt64(v)
		if !ok {
			return fmt.Errorf("%w: %T", ErrUnsupportedType, v)
		}
		if err != nil {
			return err
		}
		e.int(n)
	}
	return nil
}

// asInt64 converts the Go integer types other than int64 to int64. ok is
// false when v is not an integer; err is [ErrIntegerRange] for unsigned
// values above math.MaxInt64.
func asInt64(v any) (n int64, ok bool, err error) {
	switch x := v.(type) {
	case int:
		return int64(x), true, nil
	case int32:
		return int64(x), true, nil
	case int16:
		return int64(x), true, nil
	case int8:
		return int64(x), true, nil
	case uint32:
		return int64(x), true, nil
	case uint16:
		return int64(x), true, nil
	case uint8:
		return int64(x), true, nil
	case uint:
		if uint64(x) > math.MaxInt64 {
			return 0, true, fmt.Errorf("%w: %d", ErrIntegerRange, x)
		}
		return int64(x), true, nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, true, fmt.Errorf("%w: %d", ErrIntegerRange, x)
		}
		return int64(x), true, nil
	}
	return 0, false, nil
}
