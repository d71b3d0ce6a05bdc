package atlite

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/atlite-dev/atlite/internal/sqlstore"
	"github.com/atlite-dev/atlite/internal/storage"
)

// TestImportCapsPageCache: the copy of a staged import runs with the
// write connection's page cache capped at 8 MiB (stage.Copy.CopyCacheKiB)
// and sets it back after, whether the copy went through or not; a cache
// smaller than the cap is left alone.
func TestImportCapsPageCache(t *testing.T) {
	ctx := context.Background()
	cacheSize := func(s *Store) int64 {
		var n int64
		if err := s.sqlUpdate(ctx, func(tx *sqlx.Tx) error { return tx.QueryRowx("PRAGMA main.cache_size").Scan(&n) }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	s := openInternal(t, filepath.Join(t.TempDir(), "a.db"), &Options{CacheSize: 32 << 20})
	if got := cacheSize(s); got != -32768 {
		t.Fatalf("cache_size %d, want -32768", got)
	}
	err := s.b.Update(ctx, nil, func(tx storage.WriteTx) error {
		sq := tx.(*sqlstore.Tx)
		restore, err := sq.CapCache(ctx, 8<<10)
		if err != nil {
			return err
		}
		var n int64
		if err := sq.SQL().QueryRowx("PRAGMA main.cache_size").Scan(&n); err != nil {
			return err
		}
		if n != -8192 {
			t.Errorf("capped cache_size %d, want -8192", n)
		}
		restore()
		return errors.New("roll back")
	})
	if err == nil || err.Error() != "roll back" {
		t.Fatalf("update: %v", err)
	}
	if got := cacheSize(s); got != -32768 {
		t.Fatalf("cache_size after a rolled-back cap %d, want -32768", got)
	}

	// A real import: the copy runs capped, and the cache is back after.
	src := openInternal(t, filepath.Join(t.TempDir(), "src.db"), nil)
	did := internalRepo(t, src, "did:plc:capcache")
	if _, err := src.Commit(ctx, did, internalWrite(t, "a"), nil); err != nil {
		t.Fatal(err)
	}
	var car bytes.Buffer
	if _, err := src.ExportCAR(ctx, did, &car, nil); err != nil {
		t.Fatal(err)
	}
	res, err := s.ImportCAR(ctx, bytes.NewReader(car.Bytes()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 1 {
		t.Errorf("imported %d records, want 1", res.Records)
	}
	if got := cacheSize(s); got != -32768 {
		t.Errorf("cache_size after an import %d, want -32768", got)
	}

	small := openInternal(t, filepath.Join(t.TempDir(), "b.db"), &Options{CacheSize: 4 << 20})
	err = small.b.Update(ctx, nil, func(tx storage.WriteTx) error {
		restore, err := tx.(*sqlstore.Tx).CapCache(ctx, 8<<10)
		if err != nil {
			return err
		}
		defer restore()
		var n int64
		if err := tx.(*sqlstore.Tx).SQL().QueryRowx("PRAGMA main.cache_size").Scan(&n); err != nil {
			return err
		}
		if n != -4096 {
			t.Errorf("cache_size under a larger cap %d, want -4096", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
