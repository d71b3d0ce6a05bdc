package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/atlite-dev/atlite/internal/sqlite"
	"github.com/atlite-dev/atlite/internal/sqlstore"
	"github.com/atlite-dev/atlite/internal/storage"
)

// mmapSize returns PRAGMA mmap_size as tx's connection has it (memdb, which
// cannot map, gives no row: 0).
func mmapSize(t *testing.T, tx storage.ReadTx) int64 {
	t.Helper()
	var n int64
	err := tx.(*sqlstore.Tx).SQL().QueryRowx("PRAGMA mmap_size").Scan(&n)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatal(err)
	}
	return n
}

// TestBulkPoolMapsFile: with MmapSize set, only the bulk read pool maps the
// file (View and TryView read unmapped, ViewBulk and TryViewBulk mapped, on
// connections that are query-only); without it, or in memory, the bulk
// reads run on the read pool, unmapped. The bulk pool has ReadConns
// connections: TryViewBulk finds none free inside ViewBulk with one.
func TestBulkPoolMapsFile(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name        string
		path        string
		mmap        int64
		point, bulk int64
	}{
		{"file, mapped", "f.db", 64 << 20, 0, 64 << 20},
		{"file, MmapSize 0", "f.db", 0, 0, 0},
		{"memory", ":memory:", 64 << 20, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path != ":memory:" {
				path = filepath.Join(t.TempDir(), path)
			}
			db, err := sqlite.Open(path, sqlite.Options{BusyTimeout: time.Second, ReadConns: 1, CacheSize: 8 << 20, MmapSize: tt.mmap, Now: time.Now})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if (db.B != nil) != (tt.bulk > 0) {
				t.Fatalf("bulk pool %v, want one: %v", db.B != nil, tt.bulk > 0)
			}
			check := func(name string, want int64) func(storage.ReadTx) error {
				return func(tx storage.ReadTx) error {
					if got := mmapSize(t, tx); got != want {
						t.Errorf("%s: mmap_size %d, want %d", name, got, want)
					}
					if _, err := tx.(*sqlstore.Tx).SQL().Exec("CREATE TABLE x (a)"); err == nil {
						t.Errorf("%s: a read connection wrote", name)
					}
					return nil
				}
			}
			for name, view := range map[string]func(context.Context, func(storage.ReadTx) error) error{
				"View": db.View, "TryView": db.TryView, "ViewBulk": db.ViewBulk, "TryViewBulk": db.TryViewBulk,
			} {
				want := tt.point
				if name == "ViewBulk" || name == "TryViewBulk" {
					want = tt.bulk
				}
				if err := view(ctx, check(name, want)); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
			err = db.ViewBulk(ctx, func(storage.ReadTx) error {
				if err := db.TryViewBulk(ctx, func(storage.ReadTx) error { return nil }); !errors.Is(err, storage.ErrBusy) {
					t.Errorf("TryViewBulk inside ViewBulk, one connection: %v, want ErrBusy", err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}
