package postgres_test

import (
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/atlite-dev/atlite/internal/postgres"
	"github.com/atlite-dev/atlite/internal/storage"
)

// blobBenchSize is the blob BenchmarkBlobLayout writes and reads: 16
// chunks of 256 KiB.
const (
	blobBenchChunk = 256 << 10
	blobBenchSize  = 16 * blobBenchChunk
)

// BenchmarkBlobLayout compares the two ways PostgreSQL can hold blob bytes
// (issue 10 asks to measure them): rows of 256 KiB bytea chunks in
// blob_chunks, as the SQLite file keeps them and as the backend does, and
// a large object (lo_from_bytea and lo_put, read back with lo_get). Each
// writes or reads one 4 MiB blob of random bytes (as images and videos
// are: already compressed) in one transaction. After the writes it
// reports the disk bytes a blob byte takes in each (blob_chunks with its
// TOAST table and index, against pg_largeobject).
//
//	eval "$(bash .ci/postgres.sh start)"
//	go test -run '^$' -bench BlobLayout -count 6 ./internal/postgres/
func BenchmarkBlobLayout(b *testing.B) {
	db, dsn := migrated(b)
	be, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	data := make([]byte, blobBenchSize)
	rand.Read(data)
	var oids []int64
	defer func() {
		for _, o := range oids {
			db.ExecContext(ctx, `SELECT lo_unlink($1)`, o)
		}
	}()
	blobs := 0
	fakeCID := func() []byte {
		c := make([]byte, 36)
		rand.Read(c)
		return c
	}
	writeChunks := func(c []byte) error {
		return be.Update(ctx, nil, func(tx storage.WriteTx) error {
			id, err := tx.InsertBlob(ctx, storage.BlobRow{CID: c, MIMEType: "application/octet-stream", Size: blobBenchSize, Uploaded: 1})
			if err != nil {
				return err
			}
			for n := int64(0); n*blobBenchChunk < blobBenchSize; n++ {
				if err := tx.PutBlobChunk(ctx, id, n, data[n*blobBenchChunk:(n+1)*blobBenchChunk]); err != nil {
					return err
				}
			}
			blobs++
			return nil
		})
	}
	writeLO := func() (int64, error) {
		tx, err := db.BeginTxx(ctx, nil)
		if err != nil {
			return 0, err
		}
		defer tx.Rollback()
		var oid int64
		if err := tx.QueryRowxContext(ctx, `SELECT lo_from_bytea(0, $1)`, data[:blobBenchChunk]).Scan(&oid); err != nil {
			return 0, err
		}
		for off := blobBenchChunk; off < blobBenchSize; off += blobBenchChunk {
			if _, err := tx.ExecContext(ctx, `SELECT lo_put($1, $2, $3)`, oid, off, data[off:off+blobBenchChunk]); err != nil {
				return 0, err
			}
		}
		oids = append(oids, oid)
		return oid, tx.Commit()
	}

	size := func() (chunks, los int64) {
		if err := db.QueryRowxContext(ctx, `SELECT pg_total_relation_size('blob_chunks'), pg_total_relation_size('pg_largeobject')`).Scan(&chunks, &los); err != nil {
			b.Fatal(err)
		}
		return chunks, los
	}
	chunks0, los0 := size()
	b.Run("chunks/write", func(b *testing.B) {
		b.SetBytes(blobBenchSize)
		for b.Loop() {
			if err := writeChunks(fakeCID()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("lo/write", func(b *testing.B) {
		b.SetBytes(blobBenchSize)
		for b.Loop() {
			if _, err := writeLO(); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Disk bytes per blob byte written above (pg_largeobject is the whole
	// database's: the growth is what counts).
	if chunks1, los1 := size(); blobs > 0 && len(oids) > 0 {
		b.Logf("disk per blob byte: chunks %.3f (%d blobs), large objects %.3f (%d blobs)",
			float64(chunks1-chunks0)/float64(blobs*blobBenchSize), blobs, float64(los1-los0)/float64(len(oids)*blobBenchSize), len(oids))
	}

	c := fakeCID()
	if err := writeChunks(c); err != nil {
		b.Fatal(err)
	}
	oid, err := writeLO()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("chunks/read", func(b *testing.B) {
		b.SetBytes(blobBenchSize)
		buf := make([]byte, 0, blobBenchChunk)
		for b.Loop() {
			err := be.View(ctx, func(tx storage.ReadTx) error {
				for n := int64(0); n*blobBenchChunk < blobBenchSize; n++ {
					got, err := tx.BlobChunk(ctx, c, n, buf[:0])
					if err != nil {
						return err
					}
					if len(got) != blobBenchChunk || got[0] != data[n*blobBenchChunk] {
						return fmt.Errorf("chunk %d: %d bytes", n, len(got))
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("lo/read", func(b *testing.B) {
		b.SetBytes(blobBenchSize)
		for b.Loop() {
			if err := readLO(db, oid, data); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// readLO reads the large object oid 256 KiB at a time, in one
// transaction, and checks each piece against want.
func readLO(db *sqlx.DB, oid int64, want []byte) error {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var got []byte
	for off := 0; off < len(want); off += blobBenchChunk {
		if err := tx.QueryRowxContext(ctx, `SELECT lo_get($1, $2, $3)`, oid, off, blobBenchChunk).Scan(&got); err != nil {
			return err
		}
		if len(got) != blobBenchChunk || got[0] != want[off] {
			return fmt.Errorf("large object at %d: %d bytes", off, len(got))
		}
	}
	return nil
}
