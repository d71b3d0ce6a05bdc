package sqlite

import (
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// The background checkpointer's limits. A PASSIVE checkpoint runs once the
// WAL holds CheckpointPages more frames than at the last one. Readers that
// are always open can keep the WAL from ever restarting (each snapshot
// pins the frames after it), so past restartFactor times CheckpointPages
// frames a RESTART checkpoint waits up to restartWait for them to move on
// (holding the write lock that long: commits wait, they do not fail), and
// when they do not, is tried again no sooner than restartBackoff later.
const restartFactor = 2

// checkInterval spaces the checkpointer's looks at the WAL (an open, two
// reads and a close of the -wal file, and a goroutine wake-up): a
// millisecond's commits add a few dozen frames, against limits of
// thousands.
const checkInterval = time.Millisecond

// restartWait, restartBackoff and maxLag are variables for the tests.
// maxLag bounds how far the checkpointer may fall behind, when the
// scheduler starves it: a commit that finds it has not looked at the WAL
// since maxLag commits ago waits until it has (so the WAL's growth stays
// bounded however the machine is loaded); it never waits otherwise.
var (
	restartWait          = 50 * time.Millisecond
	restartBackoff       = time.Second
	maxLag         int64 = 1024
)

// checkpointer copies the WAL back into the database file off the commit
// path: the write connection never checkpoints (wal_autocheckpoint = 0),
// each commit wakes the checkpointer (notify, which never blocks), and it
// checkpoints on a connection of its own when the WAL has grown past its
// limit. It reads the WAL's length from the -wal file's frame headers (the
// SQLite file format: a 32-byte header, then frames of a 24-byte header
// and a page, each frame carrying the header's two salts, which change
// when the WAL restarts from its beginning).
type checkpointer struct {
	db    *sql.DB      // one connection
	wal   string       // the -wal file's path
	pages int          // CheckpointPages
	limit int          // frames past which RESTART is tried
	gate  sync.RWMutex // Dialect.WriteGate

	wake chan struct{}
	stop chan struct{}
	done chan struct{}

	// commits counts notify's calls; looked, under mu, is the count when
	// the last finished step began (it has seen the WAL those commits
	// left); lagged wakes the commits waiting for it; closed ends their
	// wait.
	commits atomic.Int64
	mu      sync.Mutex
	looked  int64
	closed  bool
	lagged  *sync.Cond

	// The loop's state.
	salts uint64    // the salts of the WAL generation last seen
	next  int       // frames of that generation that start a checkpoint
	retry time.Time // no RESTART before this
}

// newCheckpointer opens the checkpoint connection to the file at base (a
// file: URI ending in ? or &) and starts the loop.
func newCheckpointer(base, path string, pages int) (*checkpointer, error) {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", restartWait.Milliseconds()))
	q.Add("_pragma", "journal_mode(wal)")
	db, err := sql.Open("sqlite", base+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	// Connect now, so that the first checkpoint does not wait for it.
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("checkpoint connection: %w", err)
	}
	if pages < 1 {
		pages = 1
	}
	c := &checkpointer{
		db: db, wal: path + "-wal", pages: pages, limit: restartFactor * pages,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		next: pages,
	}
	c.lagged = sync.NewCond(&c.mu)
	go c.run()
	return c, nil
}

// notify tells the checkpointer that a transaction committed; wake-ups
// while the checkpointer is busy merge into one. It returns at once unless
// the checkpointer has not looked at the WAL for maxLag commits.
func (c *checkpointer) notify() {
	n := c.commits.Add(1)
	select {
	case c.wake <- struct{}{}:
	default:
	}
	c.mu.Lock()
	for n-c.looked > maxLag && !c.closed {
		c.lagged.Wait()
	}
	c.mu.Unlock()
}

// close stops the loop, waiting for a checkpoint under way, and closes the
// connection.
func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	c.mu.Lock()
	c.closed = true
	c.lagged.Broadcast()
	c.mu.Unlock()
	return c.db.Close()
}

func (c *checkpointer) run() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
		n := c.commits.Load()
		// An error (the file busy, or gone) is left to the next look,
		// as SQLite's own automatic checkpoints leave theirs.
		_ = c.step()
		c.mu.Lock()
		c.looked = n
		c.lagged.Broadcast()
		c.mu.Unlock()
		// Look at most once per checkInterval: the commits meanwhile
		// leave one wake-up behind, and wake no parked goroutine.
		t := time.NewTimer(checkInterval)
		select {
		case <-c.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// step checkpoints if the WAL has grown past the limit.
func (c *checkpointer) step() error {
	salts, ok, err := walHolds(c.wal, func(s uint64) int {
		if s != c.salts {
			// The WAL restarted since the last look.
			c.salts, c.next = s, c.pages
		}
		return c.next
	})
	if err != nil || !ok {
		return err
	}
	var busy, log, done int
	if err := c.db.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	c.salts, c.next = salts, log+c.pages
	if log < c.limit || time.Now().Before(c.retry) {
		return nil
	}
	// The WAL has not restarted by itself: a reader held it at every
	// commit, or the commits came too close together for a checkpoint to
	// catch up between two of them. Hold this process's writers off and
	// wait for the readers to leave the WAL, briefly.
	c.gate.Lock()
	err = c.db.QueryRow("PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &log, &done)
	c.gate.Unlock()
	if err != nil {
		return fmt.Errorf("restart checkpoint: %w", err)
	}
	if busy != 0 {
		c.retry = time.Now().Add(restartBackoff)
	} else {
		c.retry = time.Time{}
	}
	return nil
}

// walMagic is the first four bytes of a -wal file, big-endian, with the
// checksum byte order in its last bit.
const walMagic = 0x377f0682

// walHolds reports whether the WAL file at path holds at least frames(salts)
// frames of its current generation, salts naming that generation (zero
// when the file is missing or has no header yet). It reads the file's
// header and the header of that one frame; a concurrent writer can make
// the answer stale, never harmful: the checkpoint decides from SQLite's own
// counts.
func walHolds(path string, frames func(salts uint64) int) (salts uint64, ok bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	var h [32]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		if errors.Is(err, io.EOF) {
			return 0, false, nil // empty: truncated, or not written yet
		}
		return 0, false, err
	}
	if binary.BigEndian.Uint32(h[0:])&^1 != walMagic {
		return 0, false, nil
	}
	pageSize := int64(binary.BigEndian.Uint32(h[8:]))
	salts = binary.BigEndian.Uint64(h[16:])
	n := frames(salts)
	if n < 1 {
		return salts, true, nil
	}
	var fh [24]byte
	if _, err := f.ReadAt(fh[:], 32+int64(n-1)*(24+pageSize)); err != nil {
		if errors.Is(err, io.EOF) {
			return salts, false, nil
		}
		return salts, false, err
	}
	return salts, binary.BigEndian.Uint64(fh[8:]) == salts, nil
}
