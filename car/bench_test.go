package car_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/atlite-dev/atlite/car"
)

func BenchmarkReadSnarfed2(b *testing.B) {
	in := readFile(b, snarfed2)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := car.NewReader(bytes.NewReader(in), nil)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := r.Next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkWriteSnarfed2(b *testing.B) {
	in := readFile(b, snarfed2)
	roots, blocks, err := car.ReadAll(bytes.NewReader(in), nil)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	buf.Grow(len(in))
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		w, err := car.NewWriter(&buf, roots)
		if err != nil {
			b.Fatal(err)
		}
		for _, blk := range blocks {
			if err := w.WriteBlock(blk.CID, blk.Data); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadLarge reads a synthetic CAR of 2,000 blocks of 300 bytes,
// closer to a real repository export than the tiny fixture.
func BenchmarkReadLarge(b *testing.B) {
	in := largeCAR(b, 2000, 300)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := car.NewReader(bytes.NewReader(in), nil)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := r.Next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(2000, "blocks/op")
}
