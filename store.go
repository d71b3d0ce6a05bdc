package atlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/ipfs/go-cid"
	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/atlite-dev/atlite/syntax"
)

//go:embed schema.sql
var schemaV1 string

//go:embed migrations/0002_handles_keys.sql
var schemaV2 string

//go:embed migrations/0003_accounts.sql
var schemaV3 string

// ApplicationID is the SQLite application_id that marks atlite files
// ("ATLT" in ASCII).
const ApplicationID = 0x41544c54

// SchemaVersion is the schema version (PRAGMA user_version) this build writes.
const SchemaVersion = 3

// Defaults for the zero fields of [Options].
const (
	// DefaultBusyTimeout is how long a connection waits for a lock held by
	// another process before failing with SQLITE_BUSY.
	DefaultBusyTimeout = 5 * time.Second
	// DefaultReadConns is the size of the read connection pool.
	DefaultReadConns = 4
	// DefaultCacheSize is the write connection's page cache: 32 MiB.
	DefaultCacheSize = 32 << 20
	// DefaultMmapSize is how much of the file the read connections map:
	// 256 MiB of address space, shared with the OS page cache.
	DefaultMmapSize = 256 << 20
	// DefaultCheckpointPages lets the WAL grow to 8192 pages (32 MiB with
	// 4 KiB pages) between checkpoints; SQLite's default is 1000.
	DefaultCheckpointPages = 8192
	// DefaultNodeCacheSize is the number of MST nodes the commit path keeps
	// in memory: the paths the last commits touched (a few MB).
	DefaultNodeCacheSize = 16384
)

// Durability says when a committed transaction reaches the disk.
type Durability int

const (
	// DurabilityNormal (the default) runs WAL with synchronous=NORMAL:
	// commits are atomic and the file stays consistent across crashes and
	// power loss, but the last transactions before a power loss may be lost.
	DurabilityNormal Durability = iota
	// DurabilityFull runs WAL with synchronous=FULL: a commit is on disk when
	// it returns, at several times the cost per commit.
	DurabilityFull
)

// Options configure [Open]. A nil *Options, and every zero field, mean the
// documented default.
type Options struct {
	// KeyEncryptionKey, when set, must be 32 bytes: private keys are stored
	// sealed with AES-256-GCM under it. A file that holds encrypted keys
	// cannot sign commits when opened without it ([ErrKeyEncrypted]).
	// Default: nil, keys are stored in the clear.
	KeyEncryptionKey []byte

	// Durability chooses the synchronous mode. Default: DurabilityNormal.
	Durability Durability

	// BusyTimeout is how long to wait on a lock held by another process.
	// Default: DefaultBusyTimeout.
	BusyTimeout time.Duration

	// ReadConns is the number of read connections. Default: DefaultReadConns.
	ReadConns int

	// Now returns the current time, for event timestamps and revs.
	// Default: time.Now.
	Now func() time.Time

	// CacheSize is SQLite's page cache of the write connection, in bytes;
	// commits touch random pages of the block index, so a cache that holds
	// the index saves a read syscall a block. Default: DefaultCacheSize.
	CacheSize int64

	// MmapSize is how much of the file read connections map into memory
	// (PRAGMA mmap_size), in bytes; 0 means DefaultMmapSize, negative
	// disables it.
	MmapSize int64

	// CheckpointPages is the WAL size, in pages, past which a commit copies
	// the WAL back into the database file (PRAGMA wal_autocheckpoint). Commits
	// rewrite the same hot pages, so a larger WAL coalesces more writes.
	// Default: DefaultCheckpointPages.
	CheckpointPages int

	// MaxGroupCommits is the largest number of concurrent commits that may
	// share one transaction (each still atomic, in its own savepoint); 1
	// runs every commit in a transaction of its own. Default:
	// DefaultMaxGroupCommits.
	MaxGroupCommits int

	// NodeCacheSize is the number of MST nodes kept decoded-ready in memory
	// for commits (blocks are immutable, so the cache is always correct).
	// Default: DefaultNodeCacheSize; negative disables the cache.
	NodeCacheSize int

	// EventPollInterval is how often a subscription ([Store.Subscribe])
	// reads the events table for events that another process (or another
	// Store on the same file) committed; this Store's own events are
	// delivered at once. Default: DefaultEventPollInterval.
	EventPollInterval time.Duration

	// NoCreate makes Open fail with an error wrapping [fs.ErrNotExist]
	// when the file does not exist, instead of creating it. Default: false,
	// a missing file is created (with mode 0600: it holds private keys).
	NoCreate bool
}

// Store is an open atlite database: every repository of a host in one SQLite
// file. A Store is safe for concurrent use by multiple goroutines. Writes go
// through one connection, so commits are serialized; reads use a separate
// pool and never wait for the write lock.
type Store struct {
	w    *sqlx.DB // the single write connection
	r    *sqlx.DB // the read pool
	opts Options
	now  func() time.Time
	kek  []byte

	mu       sync.RWMutex // held shared by every operation, exclusively by Close
	closed   bool
	closeErr error

	mem bool // an in-memory database (the memdb VFS)

	subsMu sync.Mutex
	subs   map[*Subscription]struct{}

	stmts *stmts

	clock     *syntax.Clock               // hands out revs
	keyCache  sync.Map                    // DID -> keys.PrivateKey, decrypted signing keys
	nodeCache *lru.Cache[cid.Cid, []byte] // MST node blocks for commits; nil when disabled
	group     committer                   // queue of concurrent commits
	groups    sync.WaitGroup              // group commits running in goroutines of their own
}

var memSeq atomic.Int64

// Open opens the atlite database at path, creating it when it does not exist,
// and migrates it to the current schema. The path ":memory:" opens a private
// in-memory database that lives until Close. opts may be nil.
func Open(path string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = DefaultBusyTimeout
	}
	if o.ReadConns <= 0 {
		o.ReadConns = DefaultReadConns
	}
	if o.CacheSize <= 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.MmapSize == 0 {
		o.MmapSize = DefaultMmapSize
	}
	if o.MaxGroupCommits <= 0 {
		o.MaxGroupCommits = DefaultMaxGroupCommits
	}
	if o.CheckpointPages <= 0 {
		o.CheckpointPages = DefaultCheckpointPages
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.EventPollInterval <= 0 {
		o.EventPollInterval = DefaultEventPollInterval
	}
	if o.KeyEncryptionKey != nil && len(o.KeyEncryptionKey) != 32 {
		return nil, fmt.Errorf("open %s: key-encryption key is %d bytes, want 32: %w", path, len(o.KeyEncryptionKey), ErrInvalidKey)
	}
	if path == "" {
		return nil, errors.New("open: empty path")
	}
	var current bool // the file exists and its schema is current: no migration lock
	if path != ":memory:" {
		var err error
		if current, err = prepareFile(path, o.NoCreate); err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
	}

	sync := "normal"
	if o.Durability == DurabilityFull {
		sync = "full"
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", o.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(wal)")
	q.Add("_pragma", "synchronous("+sync+")")
	var base string
	if path == ":memory:" {
		// memdb lets the write connection and the read pool share one
		// in-memory database; it lives while a connection is open.
		base = fmt.Sprintf("file:/atlite-mem-%d?vfs=memdb&", memSeq.Add(1))
	} else {
		base = "file:" + escapePath(path) + "?"
	}
	wq := url.Values{}
	for k, v := range q {
		wq[k] = v
	}
	wq.Set("_txlock", "immediate")
	wq.Add("_pragma", fmt.Sprintf("cache_size(%d)", -o.CacheSize/1024))
	wq.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", o.CheckpointPages))

	w, err := sqlx.Open("sqlite", base+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	s := &Store{w: w, opts: o, now: o.Now, kek: o.KeyEncryptionKey, subs: map[*Subscription]struct{}{}, mem: path == ":memory:"}
	s.clock = syntax.NewClockWithSource(uint(mrand.IntN(1024)), o.Now)
	if o.NodeCacheSize == 0 {
		o.NodeCacheSize = DefaultNodeCacheSize
	}
	if o.NodeCacheSize > 0 {
		s.nodeCache, _ = lru.New[cid.Cid, []byte](o.NodeCacheSize)
	}
	ctx := context.Background()
	if !current {
		if err := s.migrate(ctx); err != nil {
			w.Close()
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
	}

	rq := url.Values{}
	for k, v := range q {
		rq[k] = v
	}
	rq.Add("_pragma", "query_only(1)")
	if o.MmapSize > 0 {
		rq.Add("_pragma", fmt.Sprintf("mmap_size(%d)", o.MmapSize))
	}
	r, err := sqlx.Open("sqlite", base+rq.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	r.SetMaxOpenConns(o.ReadConns)
	r.SetMaxIdleConns(o.ReadConns)
	r.SetConnMaxIdleTime(0)
	s.r = r
	if s.stmts, err = prepareStmts(ctx, w, r); err != nil {
		s.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return s, nil
}

// escapePath makes a file path safe inside a file: URI.
func escapePath(p string) string {
	r := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	return r.Replace(p)
}

// prepareFile runs before any connection that could change the file is
// opened. A missing file is created empty with mode 0600 (SQLite gives its
// -wal and -shm files the mode of the database file), or refused with
// noCreate. An existing file is probed through a read-only connection that
// sets no pragma, so a file of another application, or one from a newer
// atlite, is refused before anything (journal_mode among them) changes it.
// current reports a file whose schema is already SchemaVersion: Open then
// skips the migration and its write lock.
func prepareFile(path string, noCreate bool) (current bool, err error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if noCreate {
			return false, fmt.Errorf("no atlite database here: %w", fs.ErrNotExist)
		}
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return false, err
		}
		if err == nil {
			return false, f.Close()
		}
		// Another process created it meanwhile: probe it like any file.
		if fi, err = os.Stat(path); err != nil {
			return false, err
		}
	} else if err != nil {
		return false, err
	}
	if fi.IsDir() {
		return false, fmt.Errorf("%w: %s is a directory", ErrNotAtlite, path)
	}
	if fi.Size() == 0 {
		return false, nil // an empty file is a new database
	}
	db, err := sql.Open("sqlite", "file:"+escapePath(path)+"?mode=ro")
	if err != nil {
		return false, err
	}
	defer db.Close()
	var version, appID int64
	if err := db.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		return false, fmt.Errorf("read user_version: %w", notDatabase(err))
	}
	if err := db.QueryRow("PRAGMA application_id").Scan(&appID); err != nil {
		return false, fmt.Errorf("read application_id: %w", notDatabase(err))
	}
	if err := checkSchema(version, appID, func() (int, error) {
		var n int
		err := db.QueryRow("SELECT count(*) FROM sqlite_schema").Scan(&n)
		return n, err
	}); err != nil {
		return false, err
	}
	return version == SchemaVersion, nil
}

// checkSchema refuses a file that is not atlite's or that is newer than this
// build; tables counts the file's schema objects, for a file with no version.
func checkSchema(version, appID int64, tables func() (int, error)) error {
	if version == 0 {
		// A new file, or a SQLite file of someone else's that has no schema
		// version: refuse the latter rather than add our tables to it.
		n, err := tables()
		if err != nil {
			return fmt.Errorf("read schema: %w", notDatabase(err))
		}
		if n > 0 || (appID != 0 && appID != ApplicationID) {
			return fmt.Errorf("%w (application_id %#x, %d tables, no atlite schema)", ErrNotAtlite, appID, n)
		}
	} else if appID != ApplicationID {
		return fmt.Errorf("%w (application_id %#x)", ErrNotAtlite, appID)
	}
	if version > SchemaVersion {
		return fmt.Errorf("%w: file has schema %d, this build knows up to %d", ErrSchemaTooNew, version, SchemaVersion)
	}
	return nil
}

// migration is one schema step: pre runs first (in Go, in the same
// transaction), then the SQL.
type migration struct {
	pre func(ctx context.Context, tx *sqlx.Tx, now time.Time) error
	sql string
}

// migrations[i] takes a file from schema version i to i+1.
var migrations = []migration{
	{sql: schemaV1},
	{pre: dedupeHandles, sql: schemaV2},
	{sql: schemaV3},
}

// dedupeHandles prepares a version-1 file for unique handles: of the repos
// that share a handle, the oldest (lowest id) keeps it and every other one
// loses it, with an #identity event (no handle) so that nothing changes
// silently.
func dedupeHandles(ctx context.Context, tx *sqlx.Tx, now time.Time) error {
	var dids []string
	const q = `SELECT did FROM repos r WHERE handle IS NOT NULL AND id > (SELECT min(id) FROM repos o WHERE o.handle = r.handle) ORDER BY id`
	if err := tx.SelectContext(ctx, &dids, q); err != nil {
		return fmt.Errorf("find duplicate handles: %w", err)
	}
	for _, d := range dids {
		if _, err := tx.ExecContext(ctx, `UPDATE repos SET handle = NULL, updated = ? WHERE did = ?`, now.UnixMicro(), d); err != nil {
			return err
		}
		did, err := syntax.ParseDID(d)
		if err != nil {
			return fmt.Errorf("stored repo %q: %w", d, err)
		}
		ev := Event{DID: did, Kind: KindIdentity, Time: now}
		body, err := ev.body()
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, insertEventSQL, d, string(KindIdentity), now.UnixMicro(), nil, body); err != nil {
			return fmt.Errorf("identity event for %s: %w", d, err)
		}
	}
	return nil
}

// migrate brings the file to SchemaVersion. Each step runs in its own
// immediate transaction that re-reads user_version first, so two processes
// opening a new file at once do not both apply it.
func (s *Store) migrate(ctx context.Context) error {
	for {
		done, err := s.migrateStep(ctx)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

func (s *Store) migrateStep(ctx context.Context) (done bool, err error) {
	tx, err := s.w.BeginTxx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migrate: %w", notDatabase(err))
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var version, appID int64
	if err := tx.QueryRowxContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return false, fmt.Errorf("read user_version: %w", notDatabase(err))
	}
	if err := tx.QueryRowxContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return false, fmt.Errorf("read application_id: %w", err)
	}
	if err := checkSchema(version, appID, func() (int, error) {
		var n int
		err := tx.QueryRowxContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n)
		return n, err
	}); err != nil {
		return false, err
	}
	if version == SchemaVersion {
		return true, tx.Commit()
	}
	m := migrations[version]
	if m.pre != nil {
		if err := m.pre(ctx, tx, s.now().UTC()); err != nil {
			return false, fmt.Errorf("migrate to schema %d: %w", version+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, fmt.Errorf("migrate to schema %d: %w", version+1, err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", ApplicationID)); err != nil {
		return false, fmt.Errorf("set application_id: %w", err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", version+1)); err != nil {
		return false, fmt.Errorf("set user_version: %w", err)
	}
	return false, tx.Commit()
}

// notDatabase turns SQLite's "file is not a database" into ErrNotAtlite.
func notDatabase(err error) error {
	if err != nil && strings.Contains(err.Error(), "not a database") {
		return fmt.Errorf("%w: %v", ErrNotAtlite, err)
	}
	return err
}

// Close closes the store. It waits for operations in flight, runs every
// cleanup step and returns the first error. Close is idempotent; after it
// every method returns ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.closeErr
	}
	s.closed = true
	s.subsMu.Lock()
	for sub := range s.subs {
		sub.closeLocked()
	}
	s.subs = nil
	s.subsMu.Unlock()
	// A group whose callers all gave up still runs in its goroutine (no
	// caller holds an operation open for it): let it finish first.
	s.groups.Wait()
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	if s.stmts != nil {
		keep(s.stmts.close())
	}
	if s.r != nil {
		keep(s.r.Close())
	}
	if s.w != nil {
		// Checkpoint so the file is whole without its -wal on a clean close.
		_, _ = s.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
		keep(s.w.Close())
	}
	s.closeErr = first
	return first
}

// enter marks an operation in flight; the returned func ends it.
func (s *Store) enter() (func(), error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, ErrClosed
	}
	return s.mu.RUnlock, nil
}

// update runs fn in a write transaction (BEGIN IMMEDIATE on the one write
// connection). It commits when fn returns nil and rolls back on an error or a
// panic.
func (s *Store) update(ctx context.Context, fn func(tx *sqlx.Tx) error) (err error) {
	tx, err := s.w.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	return runTx(tx, fn)
}

// updateAttached runs fn in a write transaction, as update does, with the
// SQLite file at uri attached to the write connection as "stage" (ATTACH
// cannot run inside a transaction: it is attached before BEGIN and
// detached after the end).
func (s *Store) updateAttached(ctx context.Context, uri string, fn func(tx *sqlx.Tx) error) (err error) {
	conn, err := s.w.Connx(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `ATTACH DATABASE ? AS stage`, uri); err != nil {
		return fmt.Errorf("attach staging file: %w", err)
	}
	defer func() {
		if _, derr := conn.ExecContext(context.WithoutCancel(ctx), `DETACH DATABASE stage`); derr != nil {
			// A connection that keeps the file attached must not go back
			// to the pool.
			conn.Raw(func(any) error { return driver.ErrBadConn })
			if err == nil {
				err = fmt.Errorf("detach staging file: %w", derr)
			}
		}
	}()
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	return runTx(tx, fn)
}

// runTx runs fn in the begun transaction tx: it commits when fn returns
// nil and rolls back on an error or a panic (which it re-raises).
func runTx(tx *sqlx.Tx, fn func(tx *sqlx.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			tx.Rollback()
			panic(p)
		}
		if err != nil {
			tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// view runs fn in a read transaction on the read pool: one consistent
// snapshot of the file for its whole duration.
func (s *Store) view(ctx context.Context, fn func(tx *sqlx.Tx) error) (err error) {
	tx, err := s.r.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(tx)
}

// convertRows converts scanned rows to exported values, stopping at the
// first error.
func convertRows[R, T any](rows []R, conv func(*R) (T, error)) ([]T, error) {
	out := make([]T, 0, len(rows))
	for i := range rows {
		v, err := conv(&rows[i])
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
