package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"sync"
)

var errBadConn = driver.ErrBadConn

// Dialect holds what differs between SQL backends. Each backend package
// fills one in; a zero field means the portable default, as documented.
type Dialect struct {
	// Name is "sqlite" or "postgres".
	Name string

	// ReadTxOptions and WriteTxOptions are passed to BeginTx (PostgreSQL
	// reads run at REPEATABLE READ, for one snapshot).
	ReadTxOptions, WriteTxOptions *sql.TxOptions

	// ManyBlocksSQL selects (cid, data) FROM blocks whose k is in the JSON
	// array of integers given as its one argument (a key listed twice may
	// give its row twice).
	ManyBlocksSQL string

	// ForUpdate is appended to a SELECT of a row the transaction will
	// update, to lock it (" FOR UPDATE" on PostgreSQL; SQLite's write
	// transactions lock the whole file).
	ForUpdate string

	// InsertEventSQL allocates the next seq and inserts an event with it,
	// returning the seq; its arguments are did, kind, time, rev, body.
	// The seq must be gapless and increase in commit order.
	InsertEventSQL string

	// EventSeqIsRowID says that InsertEventSQL returns no row: the seq is
	// the row id the insert gave the event, read from the result's
	// LastInsertId (SQLite: an INTEGER PRIMARY KEY left out takes one past
	// the largest, and PruneEvents always keeps the newest event). A
	// RETURNING clause would cost the insert an ephemeral table.
	EventSeqIsRowID bool

	// AfterEvent, when set, runs in the transaction after each event is
	// appended (PostgreSQL: NOTIFY the tailing subscribers).
	AfterEvent string

	// SortBlocks makes PutBlocks insert blocks in key order, so that
	// concurrent transactions writing the same blocks take their row locks
	// in one order and cannot deadlock (PostgreSQL).
	SortBlocks bool

	// FreshBlobs says that the driver hands each blob column of each row
	// in a new slice that it never writes again, so a sql.RawBytes scanned
	// from it may be kept after the row (modernc.org/sqlite, whose
	// columnBlob copies the column into a new slice; pinned by
	// internal/sqlite's TestFreshBlobs). GetBlocksByID then keeps the
	// driver's slice instead of a copy of it. pgx reuses its buffers.
	FreshBlobs bool

	// MultiRowBlocks makes PutBlocks insert several blocks a statement,
	// saving round trips to a database server (PostgreSQL); SQLite, in the
	// process, inserts them one by one with a prepared statement.
	MultiRowBlocks bool

	// WriteGate, when set, is read-locked by each write transaction of
	// Update from before its BEGIN to its end; whoever write-locks it holds
	// off this process's writers meanwhile (SQLite: the fallback RESTART
	// checkpoint, which back-to-back commits would otherwise starve of the
	// write lock).
	WriteGate *sync.RWMutex

	// AfterCommit, when set, runs after each write transaction of Update
	// commits, outside WriteGate (SQLite: wake the background
	// checkpointer, and wait for it when it has fallen far behind).
	AfterCommit func()

	// BeforeClose, when set, runs before the handles are closed (SQLite:
	// checkpoint the WAL).
	BeforeClose func(db *DB)

	// SecureDeleteOn and SecureDeleteOff, run inside a write transaction,
	// turn on and back off the overwriting of deleted content, for the
	// rewrite of private keys sealed in place (SQLite: PRAGMA
	// secure_delete). Empty when the backend has no such thing
	// (PostgreSQL: the old tuple versions stay until VACUUM).
	SecureDeleteOn, SecureDeleteOff string
	// StageImport, when set, copies an import from its staging file
	// attached to the write connection (SQLite: ATTACH): Update attaches
	// UpdateOptions.Attach only when it is set, and ImportRepo inside such
	// an Update runs these statements instead of streaming the rows of
	// ImportChange.Staged into batched inserts. Nil (PostgreSQL): Attach is
	// ignored and the rows are streamed.
	StageImport *StageImport

	// LockBlocksSQL, when set, is run by Tx.LockBlocks to hold off the
	// other writers of blocks until the transaction ends (PostgreSQL: LOCK
	// TABLE ... IN EXCLUSIVE MODE). Empty (SQLite): the write transaction
	// excludes them already.
	LockBlocksSQL string

	// VacuumSQL gives the space of deleted rows back (SQLite: VACUUM;
	// PostgreSQL: VACUUM of the block tables); empty: DB.Vacuum returns
	// an error wrapping errors.ErrUnsupported.
	VacuumSQL string

	// IntegrityCheckSQL, when set, is the backend's own integrity check
	// (SQLite: PRAGMA integrity_check): its first row's one column is "ok"
	// or the first problem. Empty (PostgreSQL): no such check.
	IntegrityCheckSQL string

	// Conflict maps an error of the database's unique indexes on handles
	// and emails to storage.ErrHandleTaken or storage.ErrEmailTaken, and
	// returns nil for any other error.
	Conflict func(err error) error

	// Backup, when set, writes a consistent snapshot of the database to
	// the file dest, which does not exist or is empty, without stopping
	// writers (SQLite: VACUUM INTO on a read connection). Nil: DB.Backup
	// returns an error wrapping errors.ErrUnsupported.
	Backup func(ctx context.Context, db *DB, dest string) error
}

// conflict wraps err with the storage error its unique violation means,
// if the dialect knows one; otherwise it returns err.
func (d *Dialect) conflict(err error) error {
	if err == nil || d.Conflict == nil {
		return err
	}
	if c := d.Conflict(err); c != nil {
		return fmt.Errorf("%w (%v)", c, err)
	}
	return err
}

// StageImport holds SQLite statements that copy an import staged in a
// staging file (internal/stage) attached as "stage" to the write connection
// into the store's tables (as "main"); see [Dialect.StageImport].
type StageImport struct {
	// Blocks stores the staged blocks whose key is free, the block
	// staged nth with the id base + n, base (the one argument) being the
	// highest id before.
	Blocks string
	// Overflow stores in blocks_overflow the staged blocks whose key
	// another CID holds.
	Overflow string
	// Records adds the staged record index to the repo given as the first
	// argument; the second is the base that Blocks was given, the third 1
	// when Blocks stored every staged block (0 otherwise).
	Records string
	// BlobRefs adds the staged blob references; its arguments are the repo
	// and the rev.
	BlobRefs string
	// CopyCacheKiB, when set, is the most page cache, in KiB, that the
	// write connection keeps while the copy runs: the copy writes each
	// page of the new blocks once, so a cache that holds them only grows
	// the process (0: the connection's own cache_size).
	CopyCacheKiB int
}
