package did_test

import (
	"testing"
	"time"

	"github.com/atlite-dev/atlite/did"
)

// BenchmarkSignAndDID signs a genesis operation and derives its DID: two
// DAG-CBOR encodings, one K-256 signature, one SHA-256.
func BenchmarkSignAndDID(b *testing.B) {
	k := k256(b, seedRepo)
	op, _ := genesis(b, k, k)
	b.ReportAllocs()
	for b.Loop() {
		if err := op.Sign(k); err != nil {
			b.Fatal(err)
		}
		if _, err := op.DID(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseOperation(b *testing.B) {
	in := []byte(genesisSigned)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := did.ParseOperation(in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyAuditLog replays a 10-operation audit log: CIDs, DID and
// one signature check per operation.
func BenchmarkVerifyAuditLog(b *testing.B) {
	a := k256(b, seedRepo)
	g, d := genesis(b, a, a)
	h := did.NewHistory(d)
	if _, err := h.Append(g, t0); err != nil {
		b.Fatal(err)
	}
	prev := g
	for i := range 9 {
		op, err := did.NewUpdate(prev, did.Update{PDSEndpoint: "https://pds" + string(rune('a'+i)) + ".test"})
		if err != nil {
			b.Fatal(err)
		}
		signed(b, op, a)
		if _, err := h.Append(op, t0.Add(time.Duration(i+1)*time.Minute)); err != nil {
			b.Fatal(err)
		}
		prev = op
	}
	log := h.AuditLog()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := did.VerifyAuditLog(d, log); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(log)), "ops/op")
}
