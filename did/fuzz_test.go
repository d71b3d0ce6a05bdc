package did_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/did"
)

func operationSeeds(tb testing.TB) []*did.Operation {
	k := k256(tb, seedRepo)
	g, _ := genesis(tb, k, k)
	tomb, err := did.NewTombstone(g)
	if err != nil {
		tb.Fatal(err)
	}
	signed(tb, tomb, k)
	upd, err := did.NewUpdate(g, did.Update{Handle: "new.ie", PDSEndpoint: "http://sur.vur"})
	if err != nil {
		tb.Fatal(err)
	}
	unsigned := upd.Clone()
	signed(tb, upd, k)
	return []*did.Operation{g, tomb, upd, unsigned, legacyGenesis(tb)}
}

// FuzzParseOperation checks that every operation ParseOperation accepts
// re-encodes to JSON with the same data model value as the input, that this
// canonical JSON is a fixed point, and that the DAG-CBOR form parses back to
// the same operation and re-encodes to the same bytes.
func FuzzParseOperation(f *testing.F) {
	for _, s := range []string{genesisSigned, genesisUnsigned, foreignGenesis, foreignSecond,
		`{"type":"plc_tombstone","prev":"` + genesisCID + `","sig":"` + genesisSig + `"}`,
		`{"type":"create","signingKey":"a","recoveryKey":"b","handle":"c","service":"d","prev":null,"sig":"x"}`,
	} {
		f.Add([]byte(s))
	}
	for _, op := range operationSeeds(f) {
		f.Add([]byte(mustJSON(f, op)))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		op, err := did.ParseOperation(b)
		if err != nil {
			if op != nil {
				t.Fatalf("ParseOperation(%q) returned %v with error %v", b, op, err)
			}
			return
		}
		j, err := op.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON of parsed %q: %v", b, err)
		}
		in, err1 := datamodel.FromJSON(b)
		out, err2 := datamodel.FromJSON(j)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(in, out) {
			t.Fatalf("re-encoding of %q is %s: different data (%v, %v)", b, j, err1, err2)
		}
		again, err := did.ParseOperation(j)
		if err != nil || !reflect.DeepEqual(again, op) {
			t.Fatalf("ParseOperation(%s) = %+v, %v; want %+v", j, again, err, op)
		}
		if j2, _ := again.MarshalJSON(); !bytes.Equal(j2, j) {
			t.Fatalf("JSON not a fixed point: %s then %s", j, j2)
		}
		var enc []byte
		if op.Sig != "" {
			enc, err = op.Bytes()
		} else {
			enc, err = op.UnsignedBytes()
		}
		if err != nil {
			t.Fatalf("encode %+v: %v", op, err)
		}
		fromCBOR, err := did.ParseOperationCBOR(enc)
		if err != nil || !reflect.DeepEqual(fromCBOR, op) {
			t.Fatalf("ParseOperationCBOR(%x) = %+v, %v; want %+v", enc, fromCBOR, err, op)
		}
		// Validation and verification must not panic.
		_ = op.Validate()
		_ = op.Verify(k256(t, seedRepo).PublicKey())
		if op.Prev == nil && op.Sig != "" {
			if _, err := op.DID(); err != nil {
				t.Fatalf("DID() of a signed genesis: %v", err)
			}
		}
	})
}

// FuzzParseOperationCBOR checks that DAG-CBOR operations that parse
// re-encode to exactly the input bytes.
func FuzzParseOperationCBOR(f *testing.F) {
	for _, op := range operationSeeds(f) {
		var b []byte
		var err error
		if op.Sig != "" {
			b, err = op.Bytes()
		} else {
			b, err = op.UnsignedBytes()
		}
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		op, err := did.ParseOperationCBOR(b)
		if err != nil {
			if op != nil {
				t.Fatalf("ParseOperationCBOR(%x) returned %v with error %v", b, op, err)
			}
			return
		}
		var enc []byte
		if op.Sig != "" {
			enc, err = op.Bytes()
		} else {
			enc, err = op.UnsignedBytes()
		}
		if err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("ParseOperationCBOR(%x) re-encodes to %x, %v", b, enc, err)
		}
	})
}

// FuzzParseDocument checks that ParseDocument never panics, that a parsed
// document re-encodes and parses back to the same value, and that its
// accessors do not panic.
func FuzzParseDocument(f *testing.F) {
	f.Add([]byte(genesisDoc))
	f.Add([]byte(webDoc("did:web:example.com", "example.com", "zQ3shSEfbKCbty32G2fFh8ULBjCn5W24CBbgKxBr3zNBK6Rf4")))
	f.Add([]byte(`{"@context":"https://www.w3.org/ns/did/v1","id":"did:plc:abc","service":[{"id":"#x","type":"y","serviceEndpoint":{}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := did.ParseDocument(b)
		if err != nil {
			if doc != nil {
				t.Fatalf("ParseDocument(%q) returned %v with error %v", b, doc, err)
			}
			return
		}
		j, err := doc.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON: %v", err)
		}
		again, err := did.ParseDocument(j)
		if err != nil {
			t.Fatalf("ParseDocument(%s): %v", j, err)
		}
		if j2, _ := again.MarshalJSON(); !bytes.Equal(j, j2) {
			t.Fatalf("document JSON not a fixed point: %s then %s", j, j2)
		}
		doc.Handle()
		doc.SigningKey()
		doc.PDSEndpoint()
	})
}
