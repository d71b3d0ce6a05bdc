package atlite_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/internal/testutil"
)

// BenchmarkVerifyCAR verifies the export of a repo of 10,000 records
// (about 12,700 blocks), and of 60,000 (about 76,000 blocks, past what
// the seen set of a walk held in memory before it grew).
func BenchmarkVerifyCAR(b *testing.B) {
	for _, n := range []int{10_000, 60_000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			s := testutil.MustOpenStore(b, nil)
			did := seedRepo(b, s, "did:web:bench.example", n)
			repo, err := s.LoadRepo(ctx, did.AtIdentifier())
			if err != nil {
				b.Fatal(err)
			}
			car := exportCAR(b, s, did, nil)
			b.SetBytes(int64(len(car)))
			b.ReportAllocs()
			cpu0 := testutil.ProcessCPU()
			for b.Loop() {
				vr, err := atlite.VerifyCAR(ctx, bytes.NewReader(car), repo.SigningKey)
				if err != nil || vr.Records != n {
					b.Fatalf("VerifyCAR = %+v, %v", vr, err)
				}
			}
			// CPU time moves less than wall time with the load of a shared
			// machine.
			b.ReportMetric(float64(testutil.ProcessCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkImportCAR imports the export of a repo of 10,000 records into
// an empty in-memory store.
func BenchmarkImportCAR(b *testing.B) {
	src := testutil.MustOpenStore(b, nil)
	did := seedRepo(b, src, "did:web:bench.example", 10_000)
	car := exportCAR(b, src, did, nil)
	b.SetBytes(int64(len(car)))
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		s, err := atlite.Open(":memory:", nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := s.ImportCAR(ctx, bytes.NewReader(car), nil)
		if err != nil || res.Records != 10_000 {
			b.Fatalf("ImportCAR = %+v, %v", res, err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}
