// Package sqlite is atlite's SQLite backend: the connection setup, schema
// and migrations of an atlite file (modernc.org/sqlite, no cgo). The
// statements themselves are shared with the other backends, in
// internal/sqlstore; this package supplies what only SQLite has: one write
// connection and a read pool in WAL mode, PRAGMA-marked and versioned
// files, the JSON array of block keys, ATTACHed staging files.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite" // also registers the "sqlite" database/sql driver

	"github.com/atlite-dev/atlite/internal/sqlstore"
	"github.com/atlite-dev/atlite/internal/stage"
	"github.com/atlite-dev/atlite/internal/storage"
)

//go:embed schema.sql
var schemaV1 string

//go:embed migrations/0002_handles_keys.sql
var schemaV2 string

//go:embed migrations/0003_accounts.sql
var schemaV3 string

//go:embed migrations/0004_record_cids.sql
var schemaV4 string

//go:embed migrations/0005_compact_event_bodies.sql
var schemaV5 string

//go:embed migrations/0006_record_block_ids.sql
var schemaV6 string

// ApplicationID is the SQLite application_id that marks atlite files
// ("ATLT" in ASCII).
const ApplicationID = 0x41544c54

// SchemaVersion is the schema version (PRAGMA user_version) this build
// writes.
const SchemaVersion = 6

// Options configure [Open]; the root package fills every field in.
type Options struct {
	BusyTimeout     time.Duration
	ReadConns       int
	CacheSize       int64 // bytes
	MmapSize        int64 // bytes, mapped on the bulk read pool only; <= 0: no mapping and no bulk pool
	CheckpointPages int
	FullSync        bool // synchronous=FULL rather than NORMAL
	NoCreate        bool
	// ExternalCheckpoints leaves every checkpoint to another process
	// (Litestream): no background checkpointer, and no checkpoint on
	// Close. (The write connection never checkpoints either way:
	// wal_autocheckpoint(0).)
	ExternalCheckpoints bool
	Now                 func() time.Time

	// IdentityEvent returns the body of an #identity event for did with no
	// handle, for the migration to schema 2.
	IdentityEvent func(did string, now time.Time) ([]byte, error)
}

var memSeq atomic.Int64

// Dialect is SQLite's: block keys in a JSON array read with json_each.
var Dialect = sqlstore.Dialect{
	Name:          "sqlite",
	FreshBlobs:    true,
	ManyBlocksSQL: `SELECT b.cid, b.data FROM json_each(?) j CROSS JOIN blocks b ON b.k = j.value`,
	// The write transaction holds the file's write lock, so no other writer
	// can take the same seq: the row id SQLite gives the event, one past the
	// largest seq.
	InsertEventSQL:  `INSERT INTO events (did, kind, time, rev, body) VALUES (?, ?, ?, ?, ?)`,
	EventSeqIsRowID: true,
	BeforeClose: func(db *sqlstore.DB) {
		// Checkpoint so the file is whole without its -wal on a clean close,
		// if that can be done at once: a TRUNCATE checkpoint waits for every
		// reader to finish, and another process (Litestream keeps a read
		// transaction open) would hold Close for the whole busy timeout.
		_, _ = db.W.Exec("PRAGMA busy_timeout = 0")
		_, _ = db.W.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	},
	// Resealing keys overwrites the old cells, so that the clear keys do
	// not stay behind in free space of the rewritten pages.
	SecureDeleteOn:    "PRAGMA secure_delete = ON",
	SecureDeleteOff:   "PRAGMA secure_delete = OFF",
	StageImport:       &stage.Copy,
	IntegrityCheckSQL: "PRAGMA integrity_check",
	VacuumSQL:         "VACUUM",
	Backup:            backup,
}

// The online backup's pace: it copies backupStepPages pages at a time and
// after each step sleeps backupPause times as long as the step took, so it
// keeps at most a quarter of a core busy, whatever the machine's speed.
// Measured on the 100k-record file (bench.BenchmarkBackupMethods, 2 shared
// cores): writers' p99 commit latency stays near its idle value, where a
// backup at full speed (VACUUM INTO, or one unbounded step) raised it 2-8x.
const (
	backupStepPages = 256 // 1 MiB with 4 KiB pages
	backupPause     = 3
)

// sqliteBackuper is the online backup API of modernc.org/sqlite's driver
// connection.
type sqliteBackuper interface {
	NewBackup(dstURI string) (*sqlite.Backup, error)
}

// backup writes a snapshot of the database to dest with SQLite's online
// backup API, on a connection of the read pool that holds one read
// transaction from the first page to the last: the copy is that
// transaction's snapshot (a read transaction in WAL mode does not see, and
// so never restarts on, the commits that writers make meanwhile), and
// writers go on. The copy is page for page, free pages included, with no
// WAL beside it. It is paced (backupStepPages, backupPause) to leave the
// CPU to the writers; ctx is checked between steps.
func backup(ctx context.Context, db *sqlstore.DB, dest string) (err error) {
	_, err = backupSteps(ctx, db, dest, backupStepPages, backupPause)
	return err
}

// backupSteps is backup with its pace as parameters; it returns the number
// of steps it took.
func backupSteps(ctx context.Context, db *sqlstore.DB, dest string, pages int32, pause float64) (steps int, err error) {
	conn, err := db.R.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return 0, err
	}
	defer func() {
		if _, rerr := conn.ExecContext(context.Background(), "ROLLBACK"); rerr != nil {
			// Never hand the pool a connection stuck in a transaction.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	// BEGIN is deferred: the first read starts the read transaction that
	// every step then reads in.
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		return 0, err
	}
	err = conn.Raw(func(dc any) error {
		b, ok := dc.(sqliteBackuper)
		if !ok {
			return fmt.Errorf("driver connection %T has no online backup", dc)
		}
		bk, err := b.NewBackup(backupURI(dest))
		if err != nil {
			return err
		}
		for {
			start := time.Now()
			more, err := bk.Step(pages)
			steps++
			if err != nil {
				bk.Finish()
				return err
			}
			if !more {
				return bk.Finish()
			}
			t := time.NewTimer(time.Duration(pause * float64(time.Since(start))))
			select {
			case <-ctx.Done():
				t.Stop()
				bk.Finish()
				return ctx.Err()
			case <-t.C:
			}
		}
	})
	return steps, err
}

// backupURI names dest as a URI with the operating system's VFS: without
// one, the copy of an in-memory store would go through the memdb VFS, into
// memory.
func backupURI(dest string) string {
	u := "file:" + EscapePath(dest)
	if runtime.GOOS != "windows" {
		u += "?vfs=unix"
	}
	return u
}

// Open opens the atlite file at path (":memory:" for a private in-memory
// database), creating it unless o.NoCreate, and migrates it to
// SchemaVersion.
func Open(path string, o Options) (*sqlstore.DB, error) {
	if path == "" {
		return nil, errors.New("empty path")
	}
	var current bool // the file exists and its schema is current: no migration lock
	if path != ":memory:" {
		var err error
		if current, err = prepareFile(path, o.NoCreate); err != nil {
			return nil, err
		}
	}

	sync := "normal"
	if o.FullSync {
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
		base = "file:" + EscapePath(path) + "?"
	}
	wq := url.Values{}
	for k, v := range q {
		wq[k] = v
	}
	wq.Set("_txlock", "immediate")
	wq.Add("_pragma", fmt.Sprintf("cache_size(%d)", -o.CacheSize/1024))
	d := Dialect
	if path == ":memory:" {
		// memdb has no WAL: the backup's read transaction holds off every
		// commit until it ends, so the copy goes as fast as it can.
		d.Backup = func(ctx context.Context, db *sqlstore.DB, dest string) error {
			_, err := backupSteps(ctx, db, dest, -1, 0)
			return err
		}
	}
	// The write connection never checkpoints: a commit that did would copy
	// the WAL into the file before it returned. Either another process
	// checkpoints (ExternalCheckpoints), or the checkpointer does, in the
	// background. memdb has no WAL.
	wq.Add("_pragma", "wal_autocheckpoint(0)")
	if o.ExternalCheckpoints {
		d.BeforeClose = nil
	}

	w, err := sqlx.Open("sqlite", base+wq.Encode())
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if !current {
		if err := migrate(context.Background(), w, o); err != nil {
			w.Close()
			return nil, err
		}
	}

	rq := url.Values{}
	for k, v := range q {
		rq[k] = v
	}
	rq.Add("_pragma", "query_only(1)")
	r, err := sqlx.Open("sqlite", base+rq.Encode())
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(o.ReadConns)
	r.SetMaxIdleConns(o.ReadConns)
	r.SetConnMaxIdleTime(0)
	// The file is mapped on the bulk pool only. A read transaction that
	// begins after a commit on a connection whose file is mapped unmaps it
	// (SQLite's pagerBeginReadTransaction: the WAL changed), and the next
	// page reads map it again: GetRecord beside a committing goroutine ran
	// at 22k/s with the read pool mapped against 28k/s without
	// (bench/README), while whole-repo reads gain from the mapping.
	var b *sqlx.DB
	if o.MmapSize > 0 && path != ":memory:" {
		bq := url.Values{}
		for k, v := range rq {
			bq[k] = v
		}
		bq.Add("_pragma", fmt.Sprintf("mmap_size(%d)", o.MmapSize))
		if b, err = sqlx.Open("sqlite", base+bq.Encode()); err != nil {
			r.Close()
			w.Close()
			return nil, err
		}
		b.SetMaxOpenConns(o.ReadConns)
		b.SetMaxIdleConns(o.ReadConns)
		b.SetConnMaxIdleTime(0)
	}
	closeReads := func() {
		if b != nil {
			b.Close()
		}
		r.Close()
	}
	if path != ":memory:" && !o.ExternalCheckpoints {
		c, err := newCheckpointer(base, path, o.CheckpointPages)
		if err != nil {
			closeReads()
			w.Close()
			return nil, err
		}
		d.AfterCommit = c.notify
		d.WriteGate = &c.gate
		d.BeforeClose = func(db *sqlstore.DB) {
			_ = c.close()
			Dialect.BeforeClose(db)
		}
	}
	return sqlstore.New(context.Background(), w, r, b, d, true)
}

// EscapePath makes a file path safe inside a file: URI.
func EscapePath(p string) string {
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
		return false, fmt.Errorf("%w: %s is a directory", storage.ErrNotAtlite, path)
	}
	if fi.Size() == 0 {
		return false, nil // an empty file is a new database
	}
	db, err := sql.Open("sqlite", "file:"+EscapePath(path)+"?mode=ro")
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
			return fmt.Errorf("%w (application_id %#x, %d tables, no atlite schema)", storage.ErrNotAtlite, appID, n)
		}
	} else if appID != ApplicationID {
		return fmt.Errorf("%w (application_id %#x)", storage.ErrNotAtlite, appID)
	}
	if version > SchemaVersion {
		return fmt.Errorf("%w: file has schema %d, this build knows up to %d", storage.ErrSchemaTooNew, version, SchemaVersion)
	}
	return nil
}

// migration is one schema step: pre runs first (in Go, in the same
// transaction), then the SQL.
type migration struct {
	pre func(ctx context.Context, tx *sqlx.Tx, o Options) error
	sql string
}

// migrations[i] takes a file from schema version i to i+1.
var migrations = []migration{
	{sql: schemaV1},
	{pre: dedupeHandles, sql: schemaV2},
	{sql: schemaV3},
	{sql: schemaV4},
	{sql: schemaV5},
	{sql: schemaV6},
}

// dedupeHandles prepares a version-1 file for unique handles: of the repos
// that share a handle, the oldest (lowest id) keeps it and every other one
// loses it, with an #identity event (no handle) so that nothing changes
// silently.
func dedupeHandles(ctx context.Context, tx *sqlx.Tx, o Options) error {
	now := o.Now().UTC()
	var dids []string
	const q = `SELECT did FROM repos r WHERE handle IS NOT NULL AND id > (SELECT min(id) FROM repos o WHERE o.handle = r.handle) ORDER BY id`
	if err := tx.SelectContext(ctx, &dids, q); err != nil {
		return fmt.Errorf("find duplicate handles: %w", err)
	}
	for _, d := range dids {
		if _, err := tx.ExecContext(ctx, `UPDATE repos SET handle = NULL, updated = ? WHERE did = ?`, now.UnixMicro(), d); err != nil {
			return err
		}
		body, err := o.IdentityEvent(d, now)
		if err != nil {
			return fmt.Errorf("stored repo %q: %w", d, err)
		}
		const ins = `INSERT INTO events (seq, did, kind, time, rev, body)
VALUES ((SELECT coalesce(max(seq), 0) + 1 FROM events), ?, 'identity', ?, NULL, ?)`
		if _, err := tx.ExecContext(ctx, ins, d, now.UnixMicro(), body); err != nil {
			return fmt.Errorf("identity event for %s: %w", d, err)
		}
	}
	return nil
}

// migrate brings the file to SchemaVersion. Each step runs in its own
// immediate transaction that re-reads user_version first, so two processes
// opening a new file at once do not both apply it.
func migrate(ctx context.Context, w *sqlx.DB, o Options) error {
	for {
		done, err := migrateStep(ctx, w, o)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

func migrateStep(ctx context.Context, w *sqlx.DB, o Options) (done bool, err error) {
	tx, err := w.BeginTxx(ctx, nil)
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
		if err := m.pre(ctx, tx, o); err != nil {
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
		return fmt.Errorf("%w: %v", storage.ErrNotAtlite, err)
	}
	return err
}
