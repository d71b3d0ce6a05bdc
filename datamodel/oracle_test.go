package datamodel_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
)

// The tests in this file check the hand-written codec against an
// independent implementation: fxamacker/cbor configured for DAG-CBOR.

func fxModes(tb testing.TB) (cbor.EncMode, cbor.DecMode) {
	tb.Helper()
	em, err := cbor.EncOptions{
		Sort:          cbor.SortLengthFirst,
		ShortestFloat: cbor.ShortestFloatNone,
		IndefLength:   cbor.IndefLengthForbidden,
		TagsMd:        cbor.TagsAllowed,
	}.EncMode()
	if err != nil {
		tb.Fatal(err)
	}
	dm, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsAllowed,
		IntDec:           cbor.IntDecConvertSignedOrFail,
		UTF8:             cbor.UTF8RejectInvalid,
		DefaultMapType:   reflect.TypeOf(map[string]any{}),
		MaxNestedLevels:  datamodel.MaxDepth + 2,
		MaxArrayElements: 1 << 20,
		MaxMapPairs:      1 << 20,
	}.DecMode()
	if err != nil {
		tb.Fatal(err)
	}
	return em, dm
}

// fxCheck asserts that fxamacker accepts b under strict options and
// re-encodes it, length-first sorted, to the same bytes.
func fxCheck(tb testing.TB, em cbor.EncMode, dm cbor.DecMode, b []byte) {
	tb.Helper()
	var v any
	if err := dm.Unmarshal(b, &v); err != nil {
		tb.Fatalf("fxamacker Unmarshal(%x) error: %v", b, err)
	}
	again, err := em.Marshal(v)
	if err != nil {
		tb.Fatalf("fxamacker Marshal error: %v", err)
	}
	if !bytes.Equal(again, b) {
		tb.Fatalf("fxamacker re-encoding = %x, want %x", again, b)
	}
}

// randomValue returns a random data model value.
func randomValue(r *rand.Rand, depth int) any {
	n := 9
	if depth > 4 {
		n = 7 // scalars only
	}
	switch r.IntN(n) {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		switch r.IntN(4) {
		case 0:
			return int64(r.IntN(50) - 25)
		case 1:
			return int64(r.Uint64())
		case 2:
			return []int64{math.MaxInt64, math.MinInt64, 255, 256, -256, -257, 65535, 65536, 1 << 32}[r.IntN(9)]
		default:
			return int64(r.Int32())
		}
	case 3:
		return strings.Repeat("é", r.IntN(30)) + string(rune('a'+r.IntN(26)))
	case 4:
		b := make([]byte, r.IntN(300))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	case 5:
		var data [8]byte
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		if r.IntN(2) == 0 {
			return datamodel.RawCID(data[:])
		}
		return datamodel.CBORCID(data[:])
	case 6:
		return []string{"", "a", "key", "zz"}[r.IntN(4)]
	case 7:
		a := make([]any, r.IntN(6))
		for i := range a {
			a[i] = randomValue(r, depth+1)
		}
		return a
	default:
		m := map[string]any{}
		for range r.IntN(8) {
			k := strings.Repeat(string(rune('a'+r.IntN(4))), 1+r.IntN(3))
			m[k] = randomValue(r, depth+1)
		}
		return m
	}
}

// toFx converts CIDs to the tag form fxamacker encodes.
func toFx(v any) any {
	switch x := v.(type) {
	case cid.Cid:
		return cbor.Tag{Number: 42, Content: append([]byte{0}, x.Bytes()...)}
	case []any:
		out := make([]any, len(x))
		for i, el := range x {
			out[i] = toFx(el)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, el := range x {
			out[k] = toFx(el)
		}
		return out
	}
	return v
}

func TestAgainstFxamacker(t *testing.T) {
	em, dm := fxModes(t)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		v := randomValue(r, 0)
		b, err := datamodel.Marshal(v)
		if err != nil {
			t.Fatalf("case %d: Marshal(%v) error: %v", i, v, err)
		}
		fx, err := em.Marshal(toFx(v))
		if err != nil {
			t.Fatalf("case %d: fxamacker Marshal error: %v", i, err)
		}
		if !bytes.Equal(b, fx) {
			t.Fatalf("case %d: Marshal(%v) = %x, fxamacker gives %x", i, v, b, fx)
		}
		fxCheck(t, em, dm, b)
		back, err := datamodel.Unmarshal(b)
		if err != nil {
			t.Fatalf("case %d: Unmarshal(%x) error: %v", i, b, err)
		}
		if !reflect.DeepEqual(back, v) {
			t.Fatalf("case %d: Unmarshal(Marshal(v)) = %#v, want %#v", i, back, v)
		}
	}
}

func TestFixturesAgainstFxamacker(t *testing.T) {
	em, dm := fxModes(t)
	for _, v := range readVectors(t, "data-model-fixtures.json") {
		fxCheck(t, em, dm, fixtureCBOR(t, v.CBORBase64))
	}
}
