package lexicon_test

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/lexicon"
)

// The lexicon vectors of bluesky-social/atproto-interop-tests, vendored in
// the module's testdata/interop/lexicon (see testdata/README.md).
const interopDir = "../testdata/interop/lexicon/"

func readVectors(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(interopDir + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// TestInteropLexicons: the documents of lexicon-valid.json load, and those
// of lexicon-invalid.json are refused.
func TestInteropLexicons(t *testing.T) {
	for _, file := range []string{"lexicon-valid.json", "lexicon-invalid.json"} {
		var vectors []struct {
			Name    string
			Lexicon json.RawMessage
		}
		readVectors(t, file, &vectors)
		valid := file == "lexicon-valid.json"
		for _, v := range vectors {
			t.Run(file+"/"+v.Name, func(t *testing.T) {
				_, err := lexicon.NewCatalog(v.Lexicon)
				if valid && err != nil {
					t.Errorf("NewCatalog(%s) = %v, want nil", v.Lexicon, err)
				}
				if !valid && !errors.Is(err, lexicon.ErrInvalidLexicon) {
					t.Errorf("NewCatalog(%s) = %v, want ErrInvalidLexicon", v.Lexicon, err)
				}
			})
		}
	}
}

// TestInteropRecords: with the catalog/ documents, the records of
// record-data-valid.json are valid (their record keys too) and those of
// record-data-invalid.json are refused with ErrInvalidRecord.
func TestInteropRecords(t *testing.T) {
	c, err := lexicon.NewCatalogFS(os.DirFS(interopDir + "catalog"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"record-data-valid.json", "record-data-invalid.json"} {
		var vectors []struct {
			Name string
			RKey string
			Data json.RawMessage
		}
		readVectors(t, file, &vectors)
		valid := file == "record-data-valid.json"
		for _, v := range vectors {
			t.Run(file+"/"+v.Name, func(t *testing.T) {
				rec, err := datamodel.FromJSON(v.Data)
				if err != nil {
					// Some invalid vectors are not even atproto JSON.
					t.Logf("FromJSON refuses it: %v", err)
					if valid {
						t.Fatalf("FromJSON(%s): %v", v.Data, err)
					}
					return
				}
				m := rec.(map[string]any)
				coll, _ := m["$type"].(string)
				err = c.ValidateRecord(coll, m)
				if valid {
					if err != nil {
						t.Errorf("ValidateRecord(%s) = %v, want nil", v.Data, err)
					}
					if err := c.ValidateRecordKey(coll, v.RKey); err != nil {
						t.Errorf("ValidateRecordKey(%s, %s) = %v", coll, v.RKey, err)
					}
				} else if !errors.Is(err, lexicon.ErrInvalidRecord) {
					t.Errorf("ValidateRecord(%s) = %v, want ErrInvalidRecord", v.Data, err)
				}
			})
		}
	}
}
