package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTest(t *testing.T) (path string, o Options) {
	t.Helper()
	return filepath.Join(t.TempDir(), "src.db"), Options{
		BusyTimeout:     5 * time.Second,
		ReadConns:       2,
		CacheSize:       2 << 20,
		CheckpointPages: 1000,
		Now:             time.Now,
	}
}

// TestBackupStepsOneSnapshot checks that the online backup copies one
// snapshot while a writer commits through another connection: it never
// restarts (exactly one step per 16 pages of the copy), and the copy holds
// a gapless prefix of the rows, at least those committed before it began.
func TestBackupStepsOneSnapshot(t *testing.T) {
	path, o := openTest(t)
	db, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// A backup that restarted on every commit would never end: fail instead.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.W.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)`); err != nil {
		t.Fatal(err)
	}
	pad := strings.Repeat("x", 300)
	insert := func(n int) {
		tx, err := db.W.Begin()
		if err != nil {
			t.Error(err)
			return
		}
		for range n {
			if _, err := tx.Exec(`INSERT INTO t (v) VALUES (?)`, pad); err != nil {
				t.Error(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Error(err)
		}
	}
	insert(5000) // about 400 pages
	before := 5000

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // commits throughout the backup, 20 rows at a time
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			insert(20)
			time.Sleep(200 * time.Microsecond)
		}
	}()
	dest := filepath.Join(t.TempDir(), "copy.db")
	steps, err := backupSteps(ctx, db, dest, 16, 1)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("backupSteps = %v", err)
	}

	c, err := sql.Open("sqlite", "file:"+dest+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var pages, n, maxID int
	if err := c.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if want := (pages + 15) / 16; steps != want {
		t.Errorf("backup of %d pages took %d steps of 16, want %d (it restarted)", pages, steps, want)
	}
	if err := c.QueryRow("SELECT count(*), max(id) FROM t").Scan(&n, &maxID); err != nil {
		t.Fatal(err)
	}
	if n < before || n != maxID {
		t.Errorf("copy holds %d rows up to id %d, want a gapless prefix of at least %d", n, maxID, before)
	}
	var all int
	if err := db.R.QueryRow("SELECT count(*) FROM t").Scan(&all); err != nil {
		t.Fatal(err)
	}
	if all <= n {
		t.Errorf("source holds %d rows, copy %d: the writer made no commit during the backup", all, n)
	}
	var ok string
	if err := c.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Errorf("integrity_check(copy) = %q, %v", ok, err)
	}
	if _, err := os.Stat(dest + "-journal"); !os.IsNotExist(err) {
		t.Errorf("stat(%s-journal) = %v, want no journal left", dest, err)
	}
}

// TestCloseDoesNotWaitForReaders checks that Close's checkpoint gives up at
// once when another connection (Litestream's) holds a read transaction,
// instead of waiting out the busy timeout.
func TestCloseDoesNotWaitForReaders(t *testing.T) {
	path, o := openTest(t)
	db, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.W.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	tx, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := db.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v with a reader open, want well under the %v busy timeout", d, o.BusyTimeout)
	}
}

// TestExternalCheckpoints checks that the write connection never
// checkpoints (with ExternalCheckpoints another process does, without it
// the background checkpointer: TestCheckpointerBoundsWAL), that with
// ExternalCheckpoints Close leaves the WAL alone, and that without it
// Close truncates the WAL.
func TestExternalCheckpoints(t *testing.T) {
	for _, ext := range []bool{false, true} {
		path, o := openTest(t)
		o.ExternalCheckpoints = ext
		db, err := Open(path, o)
		if err != nil {
			t.Fatal(err)
		}
		var auto int
		if err := db.W.QueryRow("PRAGMA wal_autocheckpoint").Scan(&auto); err != nil {
			t.Fatal(err)
		}
		if want := 0; auto != want {
			t.Errorf("ExternalCheckpoints %v: wal_autocheckpoint = %d, want %d", ext, auto, want)
		}
		if _, err := db.W.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY)`); err != nil {
			t.Fatal(err)
		}
		// Litestream keeps a connection open, so that closing ours is not
		// the last close (which checkpoints whatever the settings).
		other, err := sql.Open("sqlite", "file:"+path)
		if err != nil {
			t.Fatal(err)
		}
		if err := other.Ping(); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Size() > 0; got != ext {
			t.Errorf("ExternalCheckpoints %v: -wal is %d bytes after Close", ext, fi.Size())
		}
		other.Close()
	}
}
