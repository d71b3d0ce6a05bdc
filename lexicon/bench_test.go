package lexicon_test

import (
	"testing"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/lexicon"
)

// BenchmarkValidatePost validates typical posts: text with facets, and
// one with two images.
func BenchmarkValidatePost(b *testing.B) {
	c := lexicon.Default()
	recs := validRecords(b)
	for _, name := range []string{"post-facets.json", "post-images.json", "post-recordwithmedia.json"} {
		rec := record(b, string(recs[name]))
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.ValidateRecord("app.bsky.feed.post", rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkValidateInvalid measures a refusal, which formats its path.
func BenchmarkValidateInvalid(b *testing.B) {
	c := lexicon.Default()
	rec := record(b, `{"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2024-05-06T07:08:09Z", "embed": {"$type": "app.bsky.embed.images", "images": [{"alt": 5, "image": `+blobJSON("image/png", 1)+`}]}}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.ValidateRecord("app.bsky.feed.post", rec); err == nil {
			b.Fatal("valid")
		}
	}
}

// BenchmarkDefault measures loading and compiling the embedded lexicons,
// the cost of the first Default call.
func BenchmarkDefault(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := lexicon.LoadEmbedded(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeAndValidatePost is what the XRPC server adds to a write
// of a post: decoding the record's DAG-CBOR, then validating it.
func BenchmarkDecodeAndValidatePost(b *testing.B) {
	c := lexicon.Default()
	cbor, err := datamodel.Marshal(record(b, string(validRecords(b)["post-facets.json"])))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rec, err := datamodel.UnmarshalMap(cbor)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.ValidateRecord("app.bsky.feed.post", rec); err != nil {
			b.Fatal(err)
		}
	}
}
