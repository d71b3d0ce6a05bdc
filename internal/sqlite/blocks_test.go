package sqlite_test

import (
	"testing"
	"time"

	"github.com/atlite-dev/atlite/internal/sqlite"
	"github.com/atlite-dev/atlite/internal/testutil"
)

// TestBlockRanges: BlockIDs and GetBlocksByID on SQLite.
func TestBlockRanges(t *testing.T) {
	db, err := sqlite.Open(":memory:", sqlite.Options{BusyTimeout: time.Second, ReadConns: 2, CacheSize: 8 << 20, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	testutil.CheckBlockRanges(t, db)
}
