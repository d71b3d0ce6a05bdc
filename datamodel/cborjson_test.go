package datamodel_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/atlite-dev/atlite/datamodel"
)

// checkCBORToJSON checks CBORToJSON(b) against ToJSON(Unmarshal(b)): the
// same bytes, or both failing; a failure of Unmarshal is the same error.
func checkCBORToJSON(t *testing.T, b []byte) {
	t.Helper()
	got, err := datamodel.CBORToJSON(b)
	v, uerr := datamodel.Unmarshal(b)
	var want []byte
	jerr := uerr
	if uerr == nil {
		want, jerr = datamodel.ToJSON(v)
	}
	switch {
	case jerr == nil && err == nil:
		if !bytes.Equal(got, want) {
			t.Fatalf("CBORToJSON(%x) = %s, want %s", b, got, want)
		}
	case jerr == nil:
		t.Fatalf("CBORToJSON(%x) = %v, want %s", b, err, want)
	case err == nil:
		t.Fatalf("CBORToJSON(%x) = %s, want an error like %v", b, got, jerr)
	case got != nil:
		t.Fatalf("CBORToJSON(%x) = %q with error %v, want nil", b, got, err)
	case uerr != nil && !errors.Is(err, datamodel.ErrInvalidJSON) && err.Error() != uerr.Error():
		// Unmarshal's own error, unless a map ToJSON refuses came first.
		t.Fatalf("CBORToJSON(%x) = %v, want Unmarshal's error %v (or ErrInvalidJSON)", b, err, uerr)
	case uerr == nil && !errors.Is(err, datamodel.ErrInvalidJSON):
		t.Fatalf("CBORToJSON(%x) = %v, want ErrInvalidJSON (ToJSON: %v)", b, err, jerr)
	}
}

func TestCBORToJSONVectors(t *testing.T) {
	n := 0
	for _, name := range []string{"data-model-fixtures.json"} {
		for _, v := range readVectors(t, name) {
			b := fixtureCBOR(t, v.CBORBase64)
			checkCBORToJSON(t, b)
			if _, err := datamodel.CBORToJSON(b); err == nil {
				n++
			}
		}
	}
	if n == 0 {
		t.Fatal("no vector converted")
	}
}

func TestCBORToJSON(t *testing.T) {
	post, err := datamodel.Marshal(benchPost())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, hex string
		want      string // "" for an error
		errIs     error
	}{
		{"post", "", "", nil},
		{"keys out of JSON order", "a3 6161 01 6162 02 63616161 03", `{"a":1,"aaa":3,"b":2}`, nil},
		{"nested", "a2 6178 a2 6161 f6 6162 f5 6179 82 20 3b7ffffffffffffffe",
			`{"x":{"a":null,"b":true},"y":[-1,-9223372036854775807]}`, nil},
		{"escapes", "a1 6174 67 22 5c 0a 09 01 c3a9", "{\"t\":\"\\\"\\\\\\n\\t\\u0001é\"}", nil},
		{"bytes and link", "a2 6162 43 000102 616c " + testCIDHex,
			`{"b":{"$bytes":"AAEC"},"l":{"$link":"bafyreiblaotetvwobe7cu2uqvnddr6ew2q3cu75qsoweulzku2egca4dxq"}}`, nil},
		{"$link key", "a1 65246c696e6b 01", "", datamodel.ErrInvalidJSON},
		{"$bytes key inside", "a1 6161 a1 66246279746573 01", "", datamodel.ErrInvalidJSON},
		{"empty $type", "a1 652474797065 60", "", datamodel.ErrInvalidJSON},
		{"$type not a string", "a1 652474797065 01", "", datamodel.ErrInvalidJSON},
		{"blob without ref", "a3 6473697a65 01 652474797065 64626c6f62 686d696d6554797065 63612f62", "", datamodel.ErrInvalidJSON},
		{"blob with negative size", "a4 63726566 " + testCIDHex + " 6473697a65 20 652474797065 64626c6f62 686d696d6554797065 63612f62", "", datamodel.ErrInvalidJSON},
		{"blob", "a4 63726566 " + testCIDHex + " 6473697a65 05 652474797065 64626c6f62 686d696d6554797065 63612f62",
			`{"$type":"blob","mimeType":"a/b","ref":{"$link":"bafyreiblaotetvwobe7cu2uqvnddr6ew2q3cu75qsoweulzku2egca4dxq"},"size":5}`, nil},
		{"float", "a1 6161 fb3ff0000000000000", "", datamodel.ErrFloat},
		{"trailing", "a0 00", "", datamodel.ErrTrailingBytes},
		{"keys out of CBOR order", "a2 6162 01 6161 02", "", datamodel.ErrNonCanonical},
		{"truncated", "a2 6161 01", "", datamodel.ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := post
			if tt.hex != "" {
				b = unhex(t, tt.hex)
			}
			checkCBORToJSON(t, b)
			got, err := datamodel.CBORToJSON(b)
			switch {
			case tt.errIs != nil:
				if !errors.Is(err, tt.errIs) {
					t.Errorf("CBORToJSON = %s, %v; want %v", got, err, tt.errIs)
				}
			case tt.want != "" && string(got) != tt.want:
				t.Errorf("CBORToJSON = %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

// FuzzCBORToJSON checks CBORToJSON against ToJSON(Unmarshal(b)) on any
// input: the same JSON, or both failing, and never a panic.
func FuzzCBORToJSON(f *testing.F) {
	for _, v := range readVectors(f, "data-model-fixtures.json") {
		f.Add(fixtureCBOR(f, v.CBORBase64))
	}
	post, err := datamodel.Marshal(benchPost())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(post)
	for _, h := range []string{"a163666f6f63626172", testCIDHex, "a2 6161 01 6161 02", "fb3ff0000000000000",
		"a3 6161 01 6162 02 63616161 03", "a1 65246c696e6b 01", "a1 652474797065 60",
		"a4 63726566 " + testCIDHex + " 6473697a65 05 652474797065 64626c6f62 686d696d6554797065 63612f62",
		"a1 6174 67 22 5c 0a 09 01 c3a9", "9f ff", "a1 61ff 01"} {
		f.Add(unhex(f, h))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkCBORToJSON(t, b) })
}
