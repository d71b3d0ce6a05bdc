package datamodel_test

import (
	"testing"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/ipfs/go-cid"
)

// benchPost returns a typical app.bsky.feed.post reply record.
func benchPost() map[string]any {
	parent := cid.MustParse("bafyreie2us2plv6enixo2nqcnablitraubg4buyfpjewln4xq4afvdypoe")
	root := cid.MustParse("bafyreiblaotetvwobe7cu2uqvnddr6ew2q3cu75qsoweulzku2egca4dxq")
	return map[string]any{
		"$type":     "app.bsky.feed.post",
		"text":      "Records are stored as DAG-CBOR and addressed by their CID; this one is a reply in a thread.",
		"createdAt": "2025-05-06T17:24:41.564Z",
		"langs":     []any{"en"},
		"reply": map[string]any{
			"root": map[string]any{
				"uri": "at://did:plc:oio4hkxaop4ao4wz2pp3f4cr/app.bsky.feed.post/3lojemfrvkk2o",
				"cid": root.String(),
			},
			"parent": map[string]any{
				"uri": "at://did:plc:oio4hkxaop4ao4wz2pp3f4cr/app.bsky.feed.post/3lojfm7aaqk26",
				"cid": parent.String(),
			},
		},
	}
}

func BenchmarkMarshalPost(b *testing.B) {
	post := benchPost()
	enc, err := datamodel.Marshal(post)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := datamodel.Marshal(post); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalAndCIDPost(b *testing.B) {
	post := benchPost()
	enc, err := datamodel.Marshal(post)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		enc, err := datamodel.Marshal(post)
		if err != nil {
			b.Fatal(err)
		}
		_ = datamodel.CBORCID(enc)
	}
}

func BenchmarkCBORCID(b *testing.B) {
	enc, err := datamodel.Marshal(benchPost())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		_ = datamodel.CBORCID(enc)
	}
}

// benchPostCBOR returns benchPost as DAG-CBOR, with b's bytes a loop set
// to its length and allocations reported.
func benchPostCBOR(b *testing.B) []byte {
	enc, err := datamodel.Marshal(benchPost())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	return enc
}

func BenchmarkUnmarshalPost(b *testing.B) {
	enc := benchPostCBOR(b)
	for b.Loop() {
		if _, err := datamodel.Unmarshal(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFromJSONPost(b *testing.B) {
	j, err := datamodel.ToJSON(benchPost())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(j)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := datamodel.FromJSON(j); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkToJSONPost(b *testing.B) {
	post := benchPost()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := datamodel.ToJSON(post); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseCID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := datamodel.ParseCID("bafyreiblaotetvwobe7cu2uqvnddr6ew2q3cu75qsoweulzku2egca4dxq"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCBORToJSONPost(b *testing.B) {
	enc := benchPostCBOR(b)
	for b.Loop() {
		if _, err := datamodel.CBORToJSON(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshalToJSONPost is what CBORToJSON replaces: the value
// built, then written as JSON.
func BenchmarkUnmarshalToJSONPost(b *testing.B) {
	enc := benchPostCBOR(b)
	for b.Loop() {
		v, err := datamodel.Unmarshal(enc)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := datamodel.ToJSON(v); err != nil {
			b.Fatal(err)
		}
	}
}
