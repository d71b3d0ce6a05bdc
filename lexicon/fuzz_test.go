package lexicon_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/lexicon"
)

// FuzzValidateRecord validates any atproto JSON object against the
// embedded lexicons (as the collection its "$type" names, or as a post)
// and the test lexicons: the validator never panics, answers nil or one of
// its two sentinels, answers the same twice, and leaves the record as it
// was.
func FuzzValidateRecord(f *testing.F) {
	for _, b := range validRecords(f) {
		f.Add(b)
	}
	f.Add([]byte(`{"$type": "com.example.test", "name": "ok", "self": {"x": 1, "next": {"x": 2, "next": {"x": "3"}}}, "open": {"$type": "com.example.test#point", "x": 1}}`))
	f.Add([]byte(`{"$type": "com.example.test", "name": null, "pic": {"$type": "blob", "ref": {"$link": "` + blobCID + `"}, "mimeType": "image/png", "size": 1}}`))
	f.Add([]byte(`{"text": 5}`))
	def := lexicon.Default()
	test := testCatalog(f)
	f.Fuzz(func(t *testing.T, js []byte) {
		v, err := datamodel.FromJSON(js)
		if err != nil {
			return
		}
		rec := v.(map[string]any)
		before, err := datamodel.ToJSON(rec)
		if err != nil {
			return
		}
		coll, _ := rec["$type"].(string)
		for _, c := range []*lexicon.Catalog{def, test} {
			for _, collection := range []string{coll, "app.bsky.feed.post", "com.example.test"} {
				err1 := c.ValidateRecord(collection, rec)
				err2 := c.ValidateRecord(collection, rec)
				if err1 != nil && !errors.Is(err1, lexicon.ErrInvalidRecord) && !errors.Is(err1, lexicon.ErrUnknownLexicon) {
					t.Fatalf("ValidateRecord(%q) = %v: neither sentinel", collection, err1)
				}
				if (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
					t.Fatalf("ValidateRecord(%q) = %v, then %v", collection, err1, err2)
				}
			}
		}
		after, err := datamodel.ToJSON(rec)
		if err != nil || !bytes.Equal(before, after) {
			t.Fatalf("ValidateRecord modified the record: %s -> %s (%v)", before, after, err)
		}
	})
}
