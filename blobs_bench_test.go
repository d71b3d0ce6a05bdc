package atlite_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/atlite-dev/atlite/internal/testutil"
)

const benchBlobSize = 5 << 20

// BenchmarkUploadBlob uploads 5 MB blobs (each one new bytes) to a file
// store; each is garbage-collected outside the timer.
func BenchmarkUploadBlob(b *testing.B) {
	s, _ := testutil.MustOpenFileStore(b, nil)
	did := newRepo(b, s, "did:plc:bench")
	data := randomBytes(benchBlobSize, 1)
	b.ReportAllocs()
	b.SetBytes(benchBlobSize)
	var i uint64
	for b.Loop() {
		i++
		binary.BigEndian.PutUint64(data, i)
		if _, err := s.UploadBlob(ctx, did, bytes.NewReader(data), "video/mp4", nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if _, err := s.GCBlobs(ctx, 0); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkReadBlob reads a 5 MB blob back from a file store.
func BenchmarkReadBlob(b *testing.B) {
	s, _ := testutil.MustOpenFileStore(b, nil)
	did := newRepo(b, s, "did:plc:bench")
	blob := mustUpload(b, s, did, randomBytes(benchBlobSize, 1), "video/mp4")
	b.ReportAllocs()
	b.SetBytes(benchBlobSize)
	for b.Loop() {
		r, err := s.OpenBlob(ctx, blob.CID)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, r); err != nil || n != benchBlobSize {
			b.Fatalf("read %d, %v", n, err)
		}
		r.Close()
	}
}
