package atlite

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/ipfs/go-cid"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/atlite-dev/atlite/internal/postgres"
	"github.com/atlite-dev/atlite/internal/sqlite"
	"github.com/atlite-dev/atlite/internal/storage"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/mst"
	"github.com/atlite-dev/atlite/syntax"
)

// ApplicationID is the SQLite application_id that marks atlite files
// ("ATLT" in ASCII).
const ApplicationID = sqlite.ApplicationID

// SchemaVersion is the schema version (PRAGMA user_version) this build writes.
const SchemaVersion = sqlite.SchemaVersion

// Defaults for the zero fields of [Options].
const (
	// DefaultBusyTimeout is how long a connection waits for a lock held by
	// another process before failing with SQLITE_BUSY.
	DefaultBusyTimeout = 5 * time.Second
	// DefaultReadConns is the size of the read connection pool.
	DefaultReadConns = 4
	// DefaultCacheSize is the write connection's page cache: 32 MiB.
	DefaultCacheSize = 32 << 20
	// DefaultMmapSize is how much of the file the connections of
	// whole-repo reads map: 256 MiB of address space, shared with the OS
	// page cache.
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

	// MmapSize is how much of the file the connections of whole-repo
	// reads (ExportCAR, Check, GC's mark) map into memory (PRAGMA
	// mmap_size), in bytes; 0 means DefaultMmapSize, negative disables it.
	// Other reads do not map the file: SQLite unmaps it at the first read
	// transaction after each commit, which costs short reads beside
	// writers more than the mapping saves them.
	MmapSize int64

	// CheckpointPages is how much the WAL grows, in pages, between two
	// checkpoints, which copy it back into the database file. They run in
	// the background, on a connection of their own, never on a commit's
	// path (the write connection has wal_autocheckpoint = 0). When readers
	// or back-to-back commits keep the WAL from restarting, past twice
	// CheckpointPages a RESTART checkpoint holds the Store's commits off
	// while it waits (50 ms at most) for the readers to move on. Commits
	// rewrite the same hot pages, so a larger WAL coalesces more writes.
	// Default: DefaultCheckpointPages.
	CheckpointPages int

	// ExternalCheckpoints leaves checkpointing the WAL to another process,
	// as Litestream requires of the applications whose file it replicates:
	// the Store's write connection never checkpoints (PRAGMA
	// wal_autocheckpoint = 0, CheckpointPages is ignored) and Close does not
	// truncate the WAL. Without that other process the WAL grows without
	// bound. SQLite only. Default: false, the Store checkpoints.
	ExternalCheckpoints bool

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

	// ClockID is the clock identifier (1 to 1023) of the revs and record
	// keys (TIDs) this Store hands out. With Now, it makes a Store's
	// output reproducible: the same writes give the same commits, CIDs and
	// CAR bytes. Default: 0, a random identifier, as the TID spec advises
	// for independent writers.
	ClockID int

	// NoCreate makes Open fail with an error wrapping [fs.ErrNotExist]
	// when the file does not exist, instead of creating it. Default: false,
	// a missing file is created (with mode 0600: it holds private keys).
	NoCreate bool
}

// Store is an open atlite database: every repository of a host in one SQLite
// file ([Open]) or one PostgreSQL schema ([OpenPostgres]). A Store is safe
// for concurrent use by multiple goroutines. On SQLite, writes go through one
// connection, so commits are serialized (and grouped, see
// Options.MaxGroupCommits); reads use a separate pool and never wait for the
// write lock. On PostgreSQL, commits to different repos run in parallel.
type Store struct {
	b storage.Backend // the database: SQLite (internal/sqlite) or PostgreSQL (internal/postgres)

	opts Options
	now  func() time.Time
	kek  []byte

	mu       sync.RWMutex // held shared by every operation, exclusively by Close
	closed   bool
	closeErr error

	mem bool // an in-memory database (the memdb VFS)

	subsMu sync.Mutex
	subs   map[*Subscription]struct{}

	clock     *syntax.Clock                        // hands out revs
	keyCache  sync.Map                             // DID -> keys.PrivateKey, decrypted signing keys
	pubKeys   *lru.Cache[[32]byte, keys.PublicKey] // see Store.publicKey
	nodeCache *lru.Cache[cid.Cid, []byte]          // MST node blocks for commits; nil when disabled
	decoded   *mst.NodeCache                       // the same nodes decoded; nil when disabled
	group     committer                            // queue of concurrent commits
	groups    sync.WaitGroup                       // group commits running in goroutines of their own
	gcMarked  func()                               // tests: run by GC between its mark and its sweep
}

// Open opens the atlite database at path, creating it when it does not exist,
// and migrates it to the current schema. The path ":memory:" opens a private
// in-memory database that lives until Close. A postgres:// or
// postgresql:// URL opens a PostgreSQL store instead (see [OpenPostgres]).
// opts may be nil.
func Open(path string, opts *Options) (*Store, error) {
	if isPostgresURL(path) {
		return OpenPostgres(context.Background(), path, opts)
	}
	o, err := withDefaults(opts)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if path == "" {
		return nil, errors.New("open: empty path")
	}
	db, err := sqlite.Open(path, sqlite.Options{
		BusyTimeout:     o.BusyTimeout,
		ReadConns:       o.ReadConns,
		CacheSize:       o.CacheSize,
		MmapSize:        o.MmapSize,
		CheckpointPages: o.CheckpointPages,
		FullSync:        o.Durability == DurabilityFull,
		NoCreate:        o.NoCreate,
		Now:             o.Now,

		ExternalCheckpoints: o.ExternalCheckpoints,
		IdentityEvent:       identityEventBody,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return newStore(db, o, path == ":memory:"), nil
}

// isPostgresURL reports a postgres:// or postgresql:// URL.
func isPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// OpenPostgres opens the atlite store in the PostgreSQL database at url (a
// URL such as postgres://user:password@host:5432/db?sslmode=disable; the
// store's tables live in the first schema of the search_path), creating
// and migrating its schema as needed. Several processes, on several
// machines, may open the same database and write at once: seqs stay
// gapless and in commit order, two commits to one repo never both win,
// and commits to different repos run in parallel. Subscriptions hear
// events committed by every process. Of opts, the SQLite file settings
// (BusyTimeout, CacheSize, MmapSize, CheckpointPages, Durability,
// MaxGroupCommits) do not apply; NoCreate refuses a schema that holds no
// store yet (an error wrapping fs.ErrNotExist); ReadConns sizes the connection
// pool (default DefaultMaxConns). A database holding tables but no atlite
// mark is refused with ErrNotAtlite, a newer schema with ErrSchemaTooNew.
func OpenPostgres(ctx context.Context, url string, opts *Options) (*Store, error) {
	o, err := withDefaults(opts)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	conns := DefaultMaxConns
	if opts != nil && opts.ReadConns > 0 {
		conns = opts.ReadConns
	}
	b, err := postgres.Open(ctx, url, postgres.Options{MaxConns: conns, NoCreate: o.NoCreate})
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return newStore(b, o, false), nil
}

// DefaultMaxConns is the PostgreSQL connection pool of [OpenPostgres].
const DefaultMaxConns = postgres.DefaultMaxConns

// withDefaults returns opts with every zero field set to its default.
func withDefaults(opts *Options) (Options, error) {
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
	if o.ClockID < 0 || o.ClockID > 1023 {
		return o, fmt.Errorf("clock id %d: want 0 to 1023", o.ClockID)
	}
	if o.KeyEncryptionKey != nil && len(o.KeyEncryptionKey) != 32 {
		return o, fmt.Errorf("key-encryption key is %d bytes, want 32: %w", len(o.KeyEncryptionKey), ErrInvalidKey)
	}
	return o, nil
}

// newStore returns the Store over an open backend.
func newStore(b storage.Backend, o Options, mem bool) *Store {
	s := &Store{b: b, opts: o, now: o.Now, kek: o.KeyEncryptionKey, subs: map[*Subscription]struct{}{}, mem: mem}
	id := uint(mrand.IntN(1024))
	if o.ClockID > 0 {
		id = uint(o.ClockID)
	}
	s.clock = syntax.NewClockWithSource(id, o.Now)
	if o.NodeCacheSize == 0 {
		o.NodeCacheSize = DefaultNodeCacheSize
	}
	s.pubKeys, _ = lru.New[[32]byte, keys.PublicKey](pubKeyCacheSize)
	if o.NodeCacheSize > 0 {
		s.nodeCache, _ = lru.New[cid.Cid, []byte](o.NodeCacheSize)
		s.decoded = mst.NewNodeCache(o.NodeCacheSize)
	}
	return s
}

// identityEventBody is the body of an #identity event of did with no
// handle (the migration to schema 2).
func identityEventBody(d string, now time.Time) ([]byte, error) {
	did, err := syntax.ParseDID(d)
	if err != nil {
		return nil, err
	}
	ev := Event{DID: did, Kind: KindIdentity, Time: now}
	return ev.body()
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
	keep(s.b.Close())
	s.closeErr = first
	return first
}

// bulkView runs fn in a read transaction for a read of much of the file
// (an export, Check, GC's mark): on the backend's bulk read pool, whose
// connections map the file, when it has one.
func (s *Store) bulkView(ctx context.Context, fn func(storage.ReadTx) error) error {
	if bv, ok := s.b.(storage.BulkViewer); ok {
		return bv.ViewBulk(ctx, fn)
	}
	return s.b.View(ctx, fn)
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
