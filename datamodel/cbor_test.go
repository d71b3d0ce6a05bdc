package datamodel_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/ipfs/go-cid"
)

// unhex decodes hex written with optional spaces.
func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		tb.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// testCID is the dag-cbor CID of {"foo":"bar"}.
var testCID = cid.MustParse("bafyreiblaotetvwobe7cu2uqvnddr6ew2q3cu75qsoweulzku2egca4dxq")

// testCIDHex is the tag-42 encoding of testCID.
const testCIDHex = "d82a 5825 00 01711220 2b03a649d6ce093e2a6a90ab4638f896d4362a7fb093ac4a2f2aa688610383bc"

// nested returns depth arrays nested inside each other, the innermost empty.
func nested(depth int) any {
	var v any = []any{}
	for i := 1; i < depth; i++ {
		v = []any{v}
	}
	return v
}

func TestMarshal(t *testing.T) {
	tests := []struct {
		name string
		v    any
		hex  string
	}{
		{"null", nil, "f6"},
		{"false", false, "f4"},
		{"true", true, "f5"},
		{"zero", int64(0), "00"},
		{"23", int64(23), "17"},
		{"24", int64(24), "1818"},
		{"255", int64(255), "18ff"},
		{"256", int64(256), "190100"},
		{"65535", int64(65535), "19ffff"},
		{"65536", int64(65536), "1a00010000"},
		{"4294967295", int64(math.MaxUint32), "1affffffff"},
		{"4294967296", int64(math.MaxUint32 + 1), "1b0000000100000000"},
		{"max int64", int64(math.MaxInt64), "1b7fffffffffffffff"},
		{"-1", int64(-1), "20"},
		{"-24", int64(-24), "37"},
		{"-25", int64(-25), "3818"},
		{"-256", int64(-256), "38ff"},
		{"-257", int64(-257), "390100"},
		{"min int64", int64(math.MinInt64), "3b7fffffffffffffff"},
		{"int", 10, "0a"},
		{"int8", int8(-2), "21"},
		{"uint8", uint8(200), "18c8"},
		{"uint64", uint64(math.MaxInt64), "1b7fffffffffffffff"},
		{"empty string", "", "60"},
		{"string", "abc", "63616263"},
		{"string 24", strings.Repeat("a", 24), "7818" + strings.Repeat("61", 24)},
		{"empty bytes", []byte{}, "40"},
		{"nil bytes", []byte(nil), "40"},
		{"bytes", []byte{1, 2}, "420102"},
		{"cid", testCID, testCIDHex},
		{"cid pointer", &testCID, testCIDHex},
		{"nil cid pointer", (*cid.Cid)(nil), "f6"},
		{"empty array", []any{}, "80"},
		{"nil array", []any(nil), "80"},
		{"array", []any{int64(1), "a", nil}, "83 01 6161 f6"},
		{"strings", []string{"a", "b"}, "82 6161 6162"},
		{"int64s", []int64{1, -1}, "82 01 20"},
		{"cids", []cid.Cid{testCID}, "81" + testCIDHex},
		{"empty map", map[string]any{}, "a0"},
		{"map null kept", map[string]any{"a": nil}, "a1 6161 f6"},
		{"map length first", map[string]any{"bb": int64(1), "a": int64(2), "c": int64(3)},
			"a3 6161 02 6163 03 626262 01"},
		{"map bytewise", map[string]any{"b": int64(1), "B": int64(2), "a": int64(3)},
			"a3 6142 02 6161 03 6162 01"},
		{"map of strings", map[string]string{"z": "1", "yy": "2"}, "a2 617a 6131 627979 6132"},
		{"map of cids", map[string]cid.Cid{"l": testCID}, "a1 616c" + testCIDHex},
		{"max depth", nested(datamodel.MaxDepth), strings.Repeat("81", datamodel.MaxDepth-1) + "80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.hex)
			got, err := datamodel.Marshal(tt.v)
			if err != nil {
				t.Fatalf("Marshal(%v) error: %v", tt.v, err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Marshal(%v) = %x, want %x", tt.v, got, want)
			}
			if _, err := datamodel.Unmarshal(got); err != nil {
				t.Errorf("Unmarshal(Marshal(%v)) error: %v", tt.v, err)
			}
		})
	}
}

func TestMarshalErrors(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want error
	}{
		{"float64", 1.5, datamodel.ErrFloat},
		{"integral float64", float64(1), datamodel.ErrFloat},
		{"float32", float32(1), datamodel.ErrFloat},
		{"float in map", map[string]any{"a": 0.5}, datamodel.ErrFloat},
		{"uint64 too big", uint64(math.MaxInt64 + 1), datamodel.ErrIntegerRange},
		{"uint too big", uint(math.MaxUint64), datamodel.ErrIntegerRange},
		{"struct", struct{}{}, datamodel.ErrUnsupportedType},
		{"map int keys", map[int]any{1: 1}, datamodel.ErrUnsupportedType},
		{"slice of ints", []int{1}, datamodel.ErrUnsupportedType},
		{"undefined cid", cid.Undef, datamodel.ErrInvalidCID},
		{"undefined cid in list", []cid.Cid{cid.Undef}, datamodel.ErrInvalidCID},
		{"invalid utf-8", "\xff", datamodel.ErrInvalidUTF8},
		{"invalid utf-8 key", map[string]any{"\xff": int64(1)}, datamodel.ErrInvalidUTF8},
		{"too deep", nested(datamodel.MaxDepth + 1), datamodel.ErrTooDeep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := datamodel.Marshal(tt.v)
			if !errors.Is(err, tt.want) || got != nil {
				t.Errorf("Marshal(%v) = %x, %v; want nil, %v", tt.v, got, err, tt.want)
			}
		})
	}
}

func TestMarshalCycle(t *testing.T) {
	m := map[string]any{}
	m["self"] = m
	if _, err := datamodel.Marshal(m); !errors.Is(err, datamodel.ErrTooDeep) {
		t.Errorf("Marshal(cyclic map) error = %v, want %v", err, datamodel.ErrTooDeep)
	}
}

func TestUnmarshal(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		want any
	}{
		{"null", "f6", nil},
		{"false", "f4", false},
		{"true", "f5", true},
		{"23", "17", int64(23)},
		{"24", "1818", int64(24)},
		{"256", "190100", int64(256)},
		{"65536", "1a00010000", int64(65536)},
		{"4294967296", "1b0000000100000000", int64(1 << 32)},
		{"max int64", "1b7fffffffffffffff", int64(math.MaxInt64)},
		{"min int64", "3b7fffffffffffffff", int64(math.MinInt64)},
		{"-1", "20", int64(-1)},
		{"-25", "3818", int64(-25)},
		{"text", "63616263", "abc"},
		{"unicode", "62c3b6", "ö"},
		{"bytes", "420102", []byte{1, 2}},
		{"empty bytes", "40", []byte{}},
		{"array", "83 01 6161 f6", []any{int64(1), "a", nil}},
		{"map", "a2 6161 01 626262 f6", map[string]any{"a": int64(1), "bb": nil}},
		{"cid", testCIDHex, testCID},
		{"cidv0", "d82a 5823 00 1220" + strings.Repeat("ab", 32),
			cid.NewCidV0(unhex(t, "1220"+strings.Repeat("ab", 32)))},
		{"max depth", strings.Repeat("81", datamodel.MaxDepth-1) + "80", nested(datamodel.MaxDepth)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := unhex(t, tt.hex)
			got, err := datamodel.Unmarshal(in)
			if err != nil {
				t.Fatalf("Unmarshal(%x) error: %v", in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Unmarshal(%x) = %#v, want %#v", in, got, tt.want)
			}
			back, err := datamodel.Marshal(got)
			if err != nil || !bytes.Equal(back, in) {
				t.Errorf("Marshal(Unmarshal(%x)) = %x, %v; want the input", in, back, err)
			}
		})
	}
}

func TestUnmarshalStrict(t *testing.T) {
	nonPrefixedCID := "d82a 5824 01711220" + strings.Repeat("ab", 32)
	tests := []struct {
		name string
		hex  string
		want error
	}{
		{"empty input", "", datamodel.ErrTruncated},
		{"truncated text", "6261", datamodel.ErrTruncated},
		{"truncated map", "a1 6161", datamodel.ErrTruncated},
		{"truncated argument", "1901", datamodel.ErrTruncated},
		{"truncated float", "fb3ff0", datamodel.ErrTruncated},
		{"truncated cid", "d82a", datamodel.ErrTruncated},
		{"duplicate key", "a2 6161 01 6161 02", datamodel.ErrDuplicateKey},
		{"unsorted keys", "a2 6162 01 6161 02", datamodel.ErrNonCanonical},
		{"longer key first", "a2 626161 01 6162 02", datamodel.ErrNonCanonical},
		{"non-shortest int 1 byte", "1817", datamodel.ErrNonCanonical},
		{"non-shortest int 2 bytes", "1900ff", datamodel.ErrNonCanonical},
		{"non-shortest int 4 bytes", "1a0000ffff", datamodel.ErrNonCanonical},
		{"non-shortest int 8 bytes", "1b00000000ffffffff", datamodel.ErrNonCanonical},
		{"non-shortest negative", "3800", datamodel.ErrNonCanonical},
		{"non-shortest text length", "780161", datamodel.ErrNonCanonical},
		{"non-shortest bytes length", "5800", datamodel.ErrNonCanonical},
		{"non-shortest array length", "9800", datamodel.ErrNonCanonical},
		{"non-shortest map length", "b800", datamodel.ErrNonCanonical},
		{"non-shortest tag", "d9002a 4100", datamodel.ErrNonCanonical},
		{"indefinite bytes", "5f 4161 ff", datamodel.ErrIndefiniteLength},
		{"indefinite text", "7f ff", datamodel.ErrIndefiniteLength},
		{"indefinite array", "9f ff", datamodel.ErrIndefiniteLength},
		{"indefinite map", "bf ff", datamodel.ErrIndefiniteLength},
		{"stray break", "ff", datamodel.ErrIndefiniteLength},
		{"uint info 31", "1f", datamodel.ErrInvalidCBOR},
		{"reserved info", "1c", datamodel.ErrInvalidCBOR},
		{"tag 43", "d82b 40", datamodel.ErrUnsupportedTag},
		{"tag 1", "c1 00", datamodel.ErrUnsupportedTag},
		{"tag 42 without 0x00", nonPrefixedCID, datamodel.ErrInvalidCID},
		{"tag 42 empty bytes", "d82a 40", datamodel.ErrInvalidCID},
		{"tag 42 text", "d82a 6161", datamodel.ErrInvalidCID},
		{"tag 42 bad cid", "d82a 42 0001", datamodel.ErrInvalidCID},
		{"tag 42 cid with trailing byte", "d82a 5826 00 01711220" + strings.Repeat("ab", 32) + "00", datamodel.ErrInvalidCID},
		{"tag 42 short digest", "d82a 5824 00 01711220" + strings.Repeat("ab", 31), datamodel.ErrInvalidCID},
		{"float16", "f93c00", datamodel.ErrFloat},
		{"float32", "fa3f800000", datamodel.ErrFloat},
		{"float64", "fb3ff0000000000000", datamodel.ErrFloat},
		{"float in map", "a1 6161 fb3ff0000000000000", datamodel.ErrFloat},
		{"undefined", "f7", datamodel.ErrUnsupportedSimple},
		{"simple 0", "e0", datamodel.ErrUnsupportedSimple},
		{"simple 32", "f820", datamodel.ErrUnsupportedSimple},
		{"uint above int64", "1b8000000000000000", datamodel.ErrIntegerRange},
		{"negint below int64", "3b8000000000000000", datamodel.ErrIntegerRange},
		{"integer key", "a1 01 02", datamodel.ErrMapKey},
		{"bytes key", "a1 4161 02", datamodel.ErrMapKey},
		{"invalid utf-8", "61ff", datamodel.ErrInvalidUTF8},
		{"invalid utf-8 key", "a1 61ff 01", datamodel.ErrInvalidUTF8},
		{"trailing bytes", "01 01", datamodel.ErrTrailingBytes},
		{"trailing after map", "a0 00", datamodel.ErrTrailingBytes},
		{"too deep", strings.Repeat("81", datamodel.MaxDepth) + "80", datamodel.ErrTooDeep},
		{"too deep maps", strings.Repeat("a16161", datamodel.MaxDepth) + "a0", datamodel.ErrTooDeep},
		{"huge bytes length", "5bffffffffffffffff", datamodel.ErrTruncated},
		{"huge text length", "7bffffffffffffffff", datamodel.ErrTruncated},
		{"huge array length", "9bffffffffffffffff", datamodel.ErrTruncated},
		{"huge map length", "bbffffffffffffffff", datamodel.ErrTruncated},
		{"bytes length past end", "5a00010000 00", datamodel.ErrTruncated},
		{"array longer than input", "8a 01", datamodel.ErrTruncated},
		{"map longer than input", "a2 6161 01", datamodel.ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := unhex(t, tt.hex)
			got, err := datamodel.Unmarshal(in)
			if !errors.Is(err, tt.want) {
				t.Errorf("Unmarshal(%x) error = %v, want %v", in, err, tt.want)
			}
			if !errors.Is(err, datamodel.ErrInvalidCBOR) {
				t.Errorf("Unmarshal(%x) error = %v, want it to wrap %v", in, err, datamodel.ErrInvalidCBOR)
			}
			if got != nil {
				t.Errorf("Unmarshal(%x) = %#v with an error, want nil", in, got)
			}
		})
	}
}

func TestUnmarshalMap(t *testing.T) {
	m, err := datamodel.UnmarshalMap(unhex(t, "a1 6161 01"))
	if err != nil || !reflect.DeepEqual(m, map[string]any{"a": int64(1)}) {
		t.Errorf("UnmarshalMap(a16161 01) = %v, %v; want map[a:1]", m, err)
	}
	for _, in := range []string{"01", "80", "f6", ""} {
		m, err := datamodel.UnmarshalMap(unhex(t, in))
		if m != nil || !errors.Is(err, datamodel.ErrInvalidCBOR) {
			t.Errorf("UnmarshalMap(%s) = %v, %v; want nil and an error", in, m, err)
		}
	}
	if _, err := datamodel.UnmarshalMap(unhex(t, "01")); !errors.Is(err, datamodel.ErrNotMap) {
		t.Errorf("UnmarshalMap(01) error = %v, want %v", err, datamodel.ErrNotMap)
	}
}

func TestUnmarshalDoesNotAlias(t *testing.T) {
	in := unhex(t, "a2 6161 420102 6162 6178")
	v, err := datamodel.UnmarshalMap(in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 0
	}
	want := map[string]any{"a": []byte{1, 2}, "b": "x"}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("after clearing the input, decoded value = %v, want %v", v, want)
	}
}
