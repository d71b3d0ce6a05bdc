package datamodel_test

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/internal/dagcbor"
)

func FuzzUnmarshal(f *testing.F) {
	for _, v := range readVectors(f, "data-model-fixtures.json") {
		f.Add(fixtureCBOR(f, v.CBORBase64))
	}
	for _, h := range []string{"a163666f6f63626172", testCIDHex, "a2 6161 01 6161 02", "fb3ff0000000000000",
		"5bffffffffffffffff", "3b7fffffffffffffff", "9f ff", "d82b 40", "a1 61ff 01",
		"a1 652474797065 63616263", "a2 6161 a1 652474797065 01 652474797065 a0"} {
		f.Add(unhex(f, h))
	}
	em, dm := fxModes(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		// The check-only decoder agrees with UnmarshalMap, error for error.
		m0, merr := datamodel.UnmarshalMap(b)
		if verr := dagcbor.ValidateMap(b); fmt.Sprint(verr) != fmt.Sprint(merr) {
			t.Fatalf("ValidateMap(%x) = %v, UnmarshalMap: %v", b, verr, merr)
		}
		// So does RecordType, and its "$type" is the map's.
		typ, terr := dagcbor.RecordType(b)
		if fmt.Sprint(terr) != fmt.Sprint(merr) {
			t.Fatalf("RecordType(%x) = %v, UnmarshalMap: %v", b, terr, merr)
		}
		if merr == nil && !reflect.DeepEqual(typ, m0["$type"]) {
			t.Fatalf("RecordType(%x) = %#v, want %#v", b, typ, m0["$type"])
		}
		v, err := datamodel.Unmarshal(b)
		if err != nil {
			if v != nil {
				t.Fatalf("Unmarshal(%x) = %#v with error %v, want nil", b, v, err)
			}
			return
		}
		out, err := datamodel.Marshal(v)
		if err != nil {
			t.Fatalf("Marshal(Unmarshal(%x)) error: %v", b, err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("Marshal(Unmarshal(%x)) = %x, want the input", b, out)
		}
		fxCheck(t, em, dm, b)
		if m, ok := v.(map[string]any); ok {
			j, err := datamodel.ToJSON(m)
			if err != nil {
				return // not every map has a faithful JSON form
			}
			back, err := datamodel.FromJSON(j)
			if err != nil {
				t.Fatalf("FromJSON(ToJSON(%x)) = %v; json %s", b, err, j)
			}
			if !reflect.DeepEqual(back, v) {
				t.Fatalf("FromJSON(ToJSON(%x)) = %#v, want %#v", b, back, v)
			}
		}
	})
}

func FuzzFromJSON(f *testing.F) {
	for _, name := range []string{"data-model-fixtures.json", "data-model-valid.json", "data-model-invalid.json"} {
		for _, v := range readVectors(f, name) {
			f.Add([]byte(v.JSON))
		}
	}
	f.Add([]byte(`{"a":1e2,"b":-0.0,"c":{"$bytes":"AQ=="}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := datamodel.FromJSON(b)
		if err != nil {
			if v != nil {
				t.Fatalf("FromJSON(%q) = %#v with error %v, want nil", b, v, err)
			}
			return
		}
		j, err := datamodel.ToJSON(v)
		if err != nil {
			t.Fatalf("ToJSON(FromJSON(%q)) error: %v", b, err)
		}
		v2, err := datamodel.FromJSON(j)
		if err != nil {
			t.Fatalf("FromJSON(%s) error: %v (from %q)", j, err, b)
		}
		if !reflect.DeepEqual(v2, v) {
			t.Fatalf("FromJSON(ToJSON(v)) = %#v, want %#v", v2, v)
		}
		j2, err := datamodel.ToJSON(v2)
		if err != nil || !bytes.Equal(j2, j) {
			t.Fatalf("ToJSON not stable: %s then %s (%v)", j, j2, err)
		}
		c, err := datamodel.Marshal(v)
		if err != nil {
			t.Fatalf("Marshal(FromJSON(%q)) error: %v", b, err)
		}
		v3, err := datamodel.Unmarshal(c)
		if err != nil || !reflect.DeepEqual(v3, v) {
			t.Fatalf("Unmarshal(Marshal(v)) = %#v, %v; want %#v", v3, err, v)
		}
	})
}

func FuzzParseCID(f *testing.F) {
	for _, s := range []string{
		"bafyreiblaotetvwobe7cu2uqvnddr6ew2q3cu75qsoweulzku2egca4dxq",
		"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
		"QmY7Yh4UquoXHLPFo2XbhXkhBvFoPwmQUSa92pxnxjQuPU",
		"bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
		"", ".",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := datamodel.ParseCID(s)
		if err != nil {
			if c.Defined() {
				t.Fatalf("ParseCID(%q) = %v with error %v, want undefined", s, c, err)
			}
			return
		}
		if c.String() != s {
			t.Fatalf("ParseCID(%q).String() = %s", s, c)
		}
		c2, err := datamodel.CIDFromBytes(c.Bytes())
		if err != nil || !c2.Equals(c) {
			t.Fatalf("CIDFromBytes(%x) = %v, %v; want %v", c.Bytes(), c2, err, c)
		}
	})
}
