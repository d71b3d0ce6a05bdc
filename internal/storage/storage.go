// Package storage is the contract between atlite's engine (the root package,
// which decides what a commit, an import or a check computes) and its
// backends (which persist it: internal/sqlite and internal/postgres, both
// through the SQL implementation in internal/sqlstore).
//
// The engine asks for rows and hands over changes it has fully computed:
// validated writes, new blocks, record-index and blob-reference changes, the
// new head and the event. A backend stores them in one transaction and
// knows nothing of MSTs, signatures or the protocol.
//
// The interfaces live here, not in the root package beside their consumer
// (as the house style would have it), because both sides import them and a
// backend package cannot import the root package, which opens it: this is
// the database/sql/driver arrangement.
package storage

import (
	"context"
	"errors"

	"github.com/ipfs/go-cid"
)

// Errors a backend returns. The root package exports the same values under
// its own names (atlite.ErrNotAtlite is ErrNotAtlite), so errors.Is works
// across the seam.
var (
	// ErrNotFound reports that the row asked for is not stored.
	ErrNotFound = errors.New("not found")
	// ErrBusy reports that [SecondViewer.TryView] found no free connection.
	ErrBusy = errors.New("no free connection")
	// ErrNotAtlite reports a database that is not atlite's.
	ErrNotAtlite = errors.New("not an atlite database")
	// ErrSchemaTooNew reports a database whose schema is newer than this
	// build knows.
	ErrSchemaTooNew = errors.New("database schema is newer than this atlite")
	// ErrHandleTaken reports a write that would give two repos one handle
	// (the backend's unique index refused it: a concurrent writer took the
	// handle after the engine checked it).
	ErrHandleTaken = errors.New("handle is taken")
	// ErrEmailTaken reports a write that would give two accounts one email
	// address, whatever its ASCII case.
	ErrEmailTaken = errors.New("email is taken")
)

// Block is a content-addressed block: a commit, an MST node or a record.
type Block struct {
	CID  cid.Cid
	Data []byte
}

// Backend is an open database. It is safe for concurrent use.
type Backend interface {
	// View runs fn in a read transaction: one consistent snapshot for its
	// whole duration.
	View(ctx context.Context, fn func(ReadTx) error) error
	// Update runs fn in a write transaction, committed when fn returns nil
	// and rolled back on an error or a panic (which it re-raises).
	Update(ctx context.Context, opts *UpdateOptions, fn func(WriteTx) error) error
	// Reader reads outside any transaction: each call sees the data
	// committed when it runs. For single-statement reads on hot paths.
	Reader() ReadTx
	// SingleWriter reports a backend with one writer at a time (SQLite),
	// whose commits gain from sharing one transaction (group commit).
	SingleWriter() bool
	// Close closes the database.
	Close() error
}

// Backuper is a backend that writes a consistent snapshot of its whole
// database to a new file while writers go on (SQLite: VACUUM INTO). A
// backend without one returns an error wrapping errors.ErrUnsupported.
type Backuper interface {
	// Backup writes the snapshot to dest, a file that does not exist or
	// is empty.
	Backup(ctx context.Context, dest string) error
}

// Vacuumer is a backend that gives the space of deleted rows back: SQLite
// rewrites the file (VACUUM), PostgreSQL vacuums the block tables (the
// space becomes reusable; the files do not shrink).
type Vacuumer interface {
	// Vacuum runs outside any transaction, while writers wait.
	Vacuum(ctx context.Context) error
}

// SecondViewer is a backend that can give one reader a second read
// transaction on another connection, for work it splits in two (an export
// reads its records on it while it walks the tree on the first).
type SecondViewer interface {
	// TryView runs fn in a read transaction on a connection free now. It
	// waits for none: when all are busy it returns ErrBusy without calling
	// fn. Its snapshot may be newer than that of a transaction begun before.
	TryView(ctx context.Context, fn func(ReadTx) error) error
}

// BulkViewer is a backend with a read pool of its own for reads that
// cover much of the database (an export, Check, GC's mark): SQLite maps
// the file into memory on those connections only, since a connection
// whose file is mapped unmaps it at the first read transaction after each
// commit, which makes short reads interleaved with writes dearer.
type BulkViewer interface {
	// ViewBulk is View on the bulk read pool.
	ViewBulk(ctx context.Context, fn func(ReadTx) error) error
	// TryViewBulk is SecondViewer.TryView on the bulk read pool.
	TryViewBulk(ctx context.Context, fn func(ReadTx) error) error
}

// UpdateOptions configure [Backend.Update]. A nil pointer means none.
type UpdateOptions struct {
	// Wait, when set, bounds only the wait for the write lock: once the
	// transaction has begun it runs under the ctx given to Update. When Wait
	// ends first, Update returns an error wrapping Wait.Err().
	Wait context.Context
	// Attach, when set, is the URI of a SQLite staging file attached to the
	// write connection as "stage" for the transaction, for ImportRepo to
	// copy from (SQLite only: other backends ignore it).
	Attach string
}

// ReadTx reads inside a transaction, or outside one ([Backend.Reader]).
type ReadTx interface {
	BlockReader
	BlockSweeper
	RepoReader
	RecordReader
	EventReader
	ImportReader
	AccountReader
	BlobReader
	KeyReader
	SequenceReader
}

// WriteTx reads and writes inside a write transaction.
type WriteTx interface {
	ReadTx
	BlockWriter
	RepoWriter
	RecordWriter
	EventWriter
	ImportWriter
	AccountWriter
	BlobWriter
	KeyWriter
	SequenceWriter
	// Savepoint runs fn in a nested transaction: when fn fails, what it
	// wrote is undone and the transaction goes on.
	Savepoint(ctx context.Context, fn func() error) error
}

// BlockReader reads blocks.
type BlockReader interface {
	// GetBlock returns the bytes of the block c, or an error wrapping
	// ErrNotFound.
	GetBlock(ctx context.Context, c cid.Cid) ([]byte, error)
	// GetBlocks adds to into the stored blocks among cids; missing ones are
	// left out.
	GetBlocks(ctx context.Context, cids []cid.Cid, into map[cid.Cid][]byte) error
	// BlockIDs adds to into the row id of each block among cids that the
	// blocks table holds; a block not stored, or stored in the overflow
	// table, is left out. Ids grow with inserts, so the blocks that one
	// transaction stored have ids next to each other.
	BlockIDs(ctx context.Context, cids []cid.Cid, into map[cid.Cid]int64) error
	// GetBlocksByID adds to into the blocks among cids whose row id is in
	// [lo, hi], reading that range of rows in id order (one scan, no
	// look-up by key); the others are left out.
	GetBlocksByID(ctx context.Context, lo, hi int64, cids []cid.Cid, into map[cid.Cid][]byte) error
}

// BlockKey is what a sweep of the block store reads of one stored block:
// its row id (0 in the overflow table), its key (blocks.k), its CID's
// bytes (only for the overflow table, nil otherwise) and the size of its
// data.
type BlockKey struct {
	ID   int64  `db:"id"`
	K    int64  `db:"k"`
	CID  []byte `db:"cid"`
	Size int64  `db:"size"`
}

// BlockSweeper reads the block store in row order, for a garbage
// collector that keeps the keys of the live blocks.
type BlockSweeper interface {
	// MaxBlockID returns the highest row id of the blocks table, 0 when it
	// is empty.
	MaxBlockID(ctx context.Context) (int64, error)
	// BlockKeys returns up to limit rows of the blocks table whose id is
	// in (after, through], in id order.
	BlockKeys(ctx context.Context, after, through int64, limit int) ([]BlockKey, error)
	// OverflowKeys returns every row of the overflow table (blocks whose
	// key another CID holds in blocks: none but in a one in 2^64 chance),
	// with K computed from the CID.
	OverflowKeys(ctx context.Context) ([]BlockKey, error)
}

// BlockWriter stores blocks.
type BlockWriter interface {
	// PutBlocks stores the blocks not stored yet.
	PutBlocks(ctx context.Context, blocks []Block) error
	// LockBlocks holds off every other writer of blocks until the
	// transaction ends, so that what the transaction then reads of heads
	// and events covers every block another transaction may still link
	// to (a SQLite write transaction excludes other writers already;
	// PostgreSQL locks the block tables).
	LockBlocks(ctx context.Context) error
	// DeleteBlocks deletes the rows that BlockKeys and OverflowKeys gave:
	// a blocks row only while it still holds the same key (SQLite may give
	// the id of a deleted newest row to the next insert), an overflow row
	// by its CID. The caller knows them to be garbage. It returns how many
	// rows it deleted and the sum of their Size.
	DeleteBlocks(ctx context.Context, rows []BlockKey) (n, size int64, err error)
}
