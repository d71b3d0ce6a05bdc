package datamodel_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"testing"

	"github.com/atlite-dev/atlite/datamodel"
)

const vectorDir = "../testdata/interop/data-model/"

// vector is one case of the interop data-model files.
type vector struct {
	Note       string          `json:"note"`
	JSON       json.RawMessage `json:"json"`
	CBORBase64 string          `json:"cbor_base64"`
	CID        string          `json:"cid"`
}

func readVectors(tb testing.TB, name string) []vector {
	tb.Helper()
	b, err := os.ReadFile(vectorDir + name)
	if err != nil {
		tb.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		tb.Fatal(err)
	}
	if len(vs) == 0 {
		tb.Fatalf("%s: no vectors", name)
	}
	return vs
}

// fixtureCBOR decodes the base64 of a fixture (written without padding).
func fixtureCBOR(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		tb.Fatalf("fixture base64 %q: %v", s, err)
	}
	return b
}

// jsonEqual reports whether a and b hold the same JSON value, whatever the
// key order and spacing.
func jsonEqual(tb testing.TB, a, b []byte) bool {
	tb.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		tb.Fatalf("json %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		tb.Fatalf("json %s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

func TestFixtures(t *testing.T) {
	vs := readVectors(t, "data-model-fixtures.json")
	if len(vs) != 3 {
		t.Errorf("len(fixtures) = %d, want 3", len(vs))
	}
	for _, v := range vs {
		t.Run(v.CID, func(t *testing.T) {
			wantCBOR := fixtureCBOR(t, v.CBORBase64)

			model, err := datamodel.FromJSON(v.JSON)
			if err != nil {
				t.Fatalf("FromJSON(%s) error: %v", v.JSON, err)
			}
			gotCBOR, err := datamodel.Marshal(model)
			if err != nil {
				t.Fatalf("Marshal error: %v", err)
			}
			if !bytes.Equal(gotCBOR, wantCBOR) {
				t.Errorf("Marshal(FromJSON(json)) = %x, want %x", gotCBOR, wantCBOR)
			}
			if got := datamodel.CBORCID(gotCBOR).String(); got != v.CID {
				t.Errorf("CBORCID = %s, want %s", got, v.CID)
			}

			decoded, err := datamodel.Unmarshal(wantCBOR)
			if err != nil {
				t.Fatalf("Unmarshal(%x) error: %v", wantCBOR, err)
			}
			if !reflect.DeepEqual(decoded, model) {
				t.Errorf("Unmarshal(cbor) = %#v, want %#v", decoded, model)
			}
			gotJSON, err := datamodel.ToJSON(decoded)
			if err != nil {
				t.Fatalf("ToJSON error: %v", err)
			}
			if !jsonEqual(t, gotJSON, v.JSON) {
				t.Errorf("ToJSON(Unmarshal(cbor)) = %s, want %s", gotJSON, v.JSON)
			}
		})
	}
}

func TestValidVectors(t *testing.T) {
	vs := readVectors(t, "data-model-valid.json")
	if len(vs) != 5 {
		t.Errorf("len(valid) = %d, want 5", len(vs))
	}
	for _, v := range vs {
		t.Run(v.Note, func(t *testing.T) {
			model, err := datamodel.FromJSON(v.JSON)
			if err != nil {
				t.Fatalf("FromJSON(%s) error: %v", v.JSON, err)
			}
			b, err := datamodel.Marshal(model)
			if err != nil {
				t.Fatalf("Marshal error: %v", err)
			}
			back, err := datamodel.Unmarshal(b)
			if err != nil {
				t.Fatalf("Unmarshal(%x) error: %v", b, err)
			}
			if !reflect.DeepEqual(back, model) {
				t.Errorf("Unmarshal(Marshal(v)) = %#v, want %#v", back, model)
			}
			j, err := datamodel.ToJSON(model)
			if err != nil {
				t.Fatalf("ToJSON error: %v", err)
			}
			again, err := datamodel.FromJSON(j)
			if err != nil {
				t.Fatalf("FromJSON(%s) error: %v", j, err)
			}
			if !reflect.DeepEqual(again, model) {
				t.Errorf("FromJSON(ToJSON(v)) = %#v, want %#v", again, model)
			}
		})
	}
}

func TestInvalidVectors(t *testing.T) {
	vs := readVectors(t, "data-model-invalid.json")
	if len(vs) != 12 {
		t.Errorf("len(invalid) = %d, want 12", len(vs))
	}
	for _, v := range vs {
		t.Run(v.Note, func(t *testing.T) {
			got, err := datamodel.FromJSON(v.JSON)
			if !errors.Is(err, datamodel.ErrInvalidJSON) {
				t.Errorf("FromJSON(%s) = %v, %v; want error wrapping ErrInvalidJSON", v.JSON, got, err)
			}
			if got != nil {
				t.Errorf("FromJSON(%s) returned value %v with error", v.JSON, got)
			}
		})
	}
}

// TestSpecVector checks the vector quoted in SPEC.md section 0.
func TestSpecVector(t *testing.T) {
	b, err := datamodel.Marshal(map[string]any{"foo": "bar"})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0xa1, 0x63, 0x66, 0x6f, 0x6f, 0x63, 0x62, 0x61, 0x72}
	if !bytes.Equal(b, want) {
		t.Errorf("Marshal({foo: bar}) = %x, want %x", b, want)
	}
	const wantCID = "bafyreiblaotetvwobe7cu2uqvnddr6ew2q3cu75qsoweulzku2egca4dxq"
	if got := datamodel.CBORCID(b).String(); got != wantCID {
		t.Errorf("CBORCID(%x) = %s, want %s", b, got, wantCID)
	}
}
