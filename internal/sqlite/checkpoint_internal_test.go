package sqlite

import (
	"context"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atlite-dev/atlite/internal/sqlstore"
	"github.com/atlite-dev/atlite/internal/storage"
)

const testPageSize = 4096

// openWAL opens a store with CheckpointPages pages and a table t to commit
// rows into.
func openWAL(t *testing.T, pages int, external bool) (*sqlstore.DB, string) {
	t.Helper()
	path, o := openTest(t)
	o.CheckpointPages = pages
	o.ExternalCheckpoints = external
	db, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.W.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)`); err != nil {
		t.Fatal(err)
	}
	var ps int
	if err := db.W.Get(&ps, "PRAGMA page_size"); err != nil || ps != testPageSize {
		t.Fatalf("page_size %d, %v; want %d", ps, err, testPageSize)
	}
	return db, path
}

// commitRows commits one transaction of n 1,000-byte rows through Update,
// as every commit of the store does.
func commitRows(t *testing.T, db *sqlstore.DB, n int) {
	t.Helper()
	pad := strings.Repeat("x", 1000)
	err := db.Update(context.Background(), nil, func(wt storage.WriteTx) error {
		for range n {
			if _, err := wt.(*sqlstore.Tx).SQL().Exec(`INSERT INTO t (v) VALUES (?)`, pad); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func walSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path + "-wal")
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func frameBytes(frames int) int64 { return 32 + int64(frames)*(24+testPageSize) }

// checkpointerRunning reports whether a checkpointer loop is running in
// this process.
func checkpointerRunning() bool {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	return strings.Contains(string(buf[:n]), "sqlite.(*checkpointer).run")
}

// waitNoCheckpointer fails the test if a checkpointer loop still runs in
// this process after 5 s.
func waitNoCheckpointer(t *testing.T, when string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for checkpointerRunning() {
		if time.Now().After(deadline) {
			t.Fatal("a checkpointer runs " + when)
		}
		time.Sleep(time.Millisecond)
	}
}

// testLimits sets the checkpointer's backoff to 10 ms and its lag to 100
// commits (of 2 rows, about 300 frames), for the test. It also lets a
// RESTART wait up to 2 s for the readers to leave the WAL, where the store
// waits 50 ms: the test's readers hold each snapshot for 4 ms and a count
// of the table, but on a loaded machine (CI runs this under -race beside
// other packages) that took more than 50 ms, every RESTART came back busy,
// and the -wal grew past the bound (seen in CI at 80b5a62, and here with
// six busy loops beside the race binary: 4 of 10 runs). What the test
// asserts is that RESTART bounds the WAL once the readers do leave.
func testLimits(t *testing.T) {
	w, b, l := restartWait, restartBackoff, maxLag
	restartWait, restartBackoff, maxLag = 2*time.Second, 10*time.Millisecond, 100
	t.Cleanup(func() { restartWait, restartBackoff, maxLag = w, b, l })
}

// TestCheckpointerBoundsWAL: with two readers that keep a read transaction
// open at every moment (which pins the WAL so that it never restarts by
// itself), 2,000 commits of about 3 pages each, through a store that
// checkpoints past 64 pages, never let the -wal file grow past 1,024
// frames (4 MiB); with no checkpoints it would reach some 6,000 frames.
// The bound holds only with the RESTART fallback: PASSIVE checkpoints
// alone cannot restart a WAL that a reader always holds.
func TestCheckpointerBoundsWAL(t *testing.T) {
	testLimits(t)
	db, path := openWAL(t, 64, false)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	reader := func(delay time.Duration) {
		defer wg.Done()
		time.Sleep(delay)
		for {
			select {
			case <-stop:
				return
			default:
			}
			tx, err := db.R.Begin()
			if err != nil {
				t.Error(err)
				return
			}
			var n int
			if err := tx.QueryRow(`SELECT count(*) FROM t`).Scan(&n); err != nil {
				t.Error(err)
			}
			time.Sleep(4 * time.Millisecond)
			tx.Rollback()
		}
	}
	wg.Add(2)
	go reader(0)
	go reader(2 * time.Millisecond)
	var maxSize int64
	const commits = 2000
	for range commits {
		commitRows(t, db, 2)
		maxSize = max(maxSize, walSize(t, path))
	}
	close(stop)
	wg.Wait()
	if limit := frameBytes(1024); maxSize > limit {
		t.Errorf("-wal reached %d bytes; want at most %d (1,024 frames)", maxSize, limit)
	}
	// The commits did reach the WAL: it is not empty.
	if maxSize < frameBytes(64) {
		t.Errorf("-wal reached only %d bytes; want at least %d (64 frames)", maxSize, frameBytes(64))
	}
	var n int
	if err := db.R.Get(&n, `SELECT count(*) FROM t`); err != nil || n != 2*commits {
		t.Fatalf("%d rows, %v; want %d", n, err, 2*commits)
	}
}

// TestCheckpointerNoReaders: with no reader in the way, 2,000 back-to-back
// commits of about 3 pages (some 6,000 frames) leave a -wal of at most
// 1,024 frames with checkpoints past 64.
func TestCheckpointerNoReaders(t *testing.T) {
	testLimits(t)
	db, path := openWAL(t, 64, false)
	var maxSize int64
	for range 2000 {
		commitRows(t, db, 2)
		maxSize = max(maxSize, walSize(t, path))
	}
	if limit := frameBytes(1024); maxSize > limit {
		t.Errorf("-wal reached %d bytes; want at most %d (1,024 frames)", maxSize, limit)
	}
}

// TestCheckpointerClose: Close stops the checkpointer's goroutine and
// still truncates the WAL.
func TestCheckpointerClose(t *testing.T) {
	path, o := openTest(t)
	o.CheckpointPages = 16
	// An earlier test's store was closed, but its loop's goroutine may
	// not have returned yet.
	waitNoCheckpointer(t, "before Open")
	db, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.W.Exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)`); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		commitRows(t, db, 2)
	}
	if !checkpointerRunning() {
		t.Fatal("no checkpointer runs after Open")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Close waited for the loop to return; its goroutine ends right after.
	waitNoCheckpointer(t, "after Close")
	if n := walSize(t, path); n != 0 {
		t.Errorf("-wal is %d bytes after Close; want 0", n)
	}
}

// TestExternalCheckpointsLeaveWAL: with ExternalCheckpoints nothing
// checkpoints, so the WAL never restarts: 300 commits leave at least 300
// frames in it, where the store's own checkpoints (past 16 pages) keep it
// far below that, and no checkpointer runs.
func TestExternalCheckpointsLeaveWAL(t *testing.T) {
	db, path := openWAL(t, 16, true)
	if checkpointerRunning() {
		t.Fatal("a checkpointer runs with ExternalCheckpoints")
	}
	for range 300 {
		commitRows(t, db, 1)
	}
	if n, want := walSize(t, path), frameBytes(300); n < want {
		t.Errorf("-wal is %d bytes; want at least %d (300 frames): something checkpointed", n, want)
	}
	// And they are all of one generation: the WAL never restarted.
	salts, ok, err := walHolds(path+"-wal", func(uint64) int { return 300 })
	if err != nil || !ok || salts == 0 {
		t.Fatalf("walHolds(300) = %#x, %v, %v; want the WAL to hold 300 frames", salts, ok, err)
	}
}

// TestWALHolds checks the frame count read from the -wal file against
// SQLite's own (the log count of a PASSIVE checkpoint, which does not
// restart the WAL).
func TestWALHolds(t *testing.T) {
	db, path := openWAL(t, 16, true)
	for range 20 {
		commitRows(t, db, 3)
	}
	var busy, log, done int
	if err := db.W.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done); err != nil {
		t.Fatal(err)
	}
	if log < 20 {
		t.Fatalf("%d frames in the WAL; want at least 20", log)
	}
	var first uint64
	for _, c := range []struct {
		n    int
		want bool
	}{{1, true}, {log - 1, true}, {log, true}, {log + 1, false}, {log + 1000, false}} {
		salts, ok, err := walHolds(path+"-wal", func(uint64) int { return c.n })
		if err != nil || ok != c.want {
			t.Errorf("walHolds(%d) = %v, %v; want %v (%d frames)", c.n, ok, err, c.want, log)
		}
		if first == 0 {
			first = salts
		}
		if salts == 0 || salts != first {
			t.Errorf("walHolds(%d): salts %#x, want %#x, not zero", c.n, salts, first)
		}
	}
	if _, ok, err := walHolds(path+"-nothing", func(uint64) int { return 1 }); ok || err != nil {
		t.Errorf("walHolds of a missing file = %v, %v; want false, nil", ok, err)
	}
}

// TestCheckpointerLag: a commit returns at once while the checkpointer has
// looked at the WAL within maxLag commits, waits when it has not, and is
// released by its next look (or by close).
func TestCheckpointerLag(t *testing.T) {
	b := maxLag
	maxLag = 3
	defer func() { maxLag = b }()
	// No loop runs: the checkpointer never looks unless the test says so.
	c := &checkpointer{wake: make(chan struct{}, 1)}
	c.lagged = sync.NewCond(&c.mu)
	for range 3 {
		c.notify() // commits 1-3: within the lag
	}
	returned := make(chan struct{})
	go func() {
		c.notify() // commit 4: 4 commits since the last look (none)
		close(returned)
	}()
	select {
	case <-returned:
		t.Fatal("the 4th commit returned with the checkpointer 4 commits behind; want it to wait")
	case <-time.After(50 * time.Millisecond):
	}
	// A look that began after commit 1 leaves commit 4 three behind.
	c.mu.Lock()
	c.looked = 1
	c.lagged.Broadcast()
	c.mu.Unlock()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("the 4th commit still waits after the checkpointer looked")
	}
	// close releases a waiting commit too.
	released := make(chan struct{})
	go func() {
		c.notify() // commit 5: 4 behind the look at 1
		close(released)
	}()
	select {
	case <-released:
		t.Fatal("the 5th commit returned 4 commits ahead of the last look; want it to wait")
	case <-time.After(50 * time.Millisecond):
	}
	c.mu.Lock()
	c.closed = true
	c.lagged.Broadcast()
	c.mu.Unlock()
	select {
	case <-released:
	case <-time.After(5 * time.Second):
		t.Fatal("the 5th commit still waits after close")
	}
}
