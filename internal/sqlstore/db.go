// Package sqlstore implements the storage contract (internal/storage) over
// database/sql and sqlx, once for every SQL backend. Statements are written
// with ? placeholders and rebound for the backend's driver; where SQLite
// and PostgreSQL need different SQL, the backend's [Dialect] says which.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/atlite-dev/atlite/internal/storage"
)

// DB is an open SQL database behind the storage contract: a write handle
// and a read handle, which may be the same pool, and optionally a bulk
// read handle (B) for the reads of [DB.ViewBulk].
type DB struct {
	W, R *sqlx.DB
	B    *sqlx.DB // nil: bulk reads use R
	D    Dialect

	single bool // one writer at a time (SQLite): group commit pays off

	// stmts caches prepared statements by handle and query text.
	mu    sync.Mutex
	stmts map[stmtKey]*sqlx.Stmt

	closeOnce sync.Once
	closeErr  error
}

type stmtKey struct {
	p pool
	q string
}

// pool names one of a DB's handles.
type pool int8

const (
	poolRead pool = iota
	poolWrite
	poolBulk
)

// registry lists the statements New prepares: every statement of this
// package, registered by Q as the package initialises.
var registry []string

// Q registers q, a statement that New prepares, and returns it.
func Q(q string) string {
	registry = append(registry, q)
	return q
}

// lockRegistry lists the SELECTs of rows that a write transaction locks:
// New prepares each with the dialect's ForUpdate appended.
var lockRegistry []string

// QLock registers q, a SELECT of rows to lock, and returns it; run it as
// t.locking(q).
func QLock(q string) string {
	lockRegistry = append(lockRegistry, q)
	return q
}

// locking returns q, registered by QLock, with the dialect's row lock.
func (t *Tx) locking(q string) string { return q + t.db.D.ForUpdate }

// New returns the DB over w and r (the same pool for a backend without a
// separate read pool) and b (nil for a backend without a bulk read pool),
// with every registered statement prepared on w and r. single says that
// the database has one writer at a time.
func New(ctx context.Context, w, r, b *sqlx.DB, d Dialect, single bool) (*DB, error) {
	db := &DB{W: w, R: r, B: b, D: d, single: single, stmts: map[stmtKey]*sqlx.Stmt{}}
	qs := append([]string{d.ManyBlocksSQL, d.InsertEventSQL}, registry...)
	for _, q := range lockRegistry {
		qs = append(qs, q+d.ForUpdate)
	}
	if d.AfterEvent != "" {
		qs = append(qs, d.AfterEvent)
	}
	// Not on b: its transactions are few and long, and prepare what they
	// use on their own connection, so that Open opens no connection of it.
	for _, q := range qs {
		for _, p := range []pool{poolWrite, poolRead} {
			if _, err := db.stmt(ctx, nil, p, q); err != nil {
				db.Close()
				return nil, err
			}
		}
	}
	return db, nil
}

// SingleWriter implements storage.Backend.
func (db *DB) SingleWriter() bool { return db.single }

// handle returns the handle of p, after pool.
func (db *DB) handle(p pool) *sqlx.DB {
	switch db.pool(p) {
	case poolWrite:
		return db.W
	case poolBulk:
		return db.B
	}
	return db.R
}

// pool returns the pool that serves p: the read pool for bulk reads
// without a bulk pool, the write pool when it is also the read pool.
func (db *DB) pool(p pool) pool {
	if p == poolBulk && db.B == nil {
		p = poolRead
	}
	if p == poolRead && db.W == db.R {
		p = poolWrite // one pool: one prepared statement a query
	}
	return p
}

// stmt returns q prepared on the handle of p, preparing it on first use.
// Inside a transaction tx, a statement not prepared at New is prepared on
// tx alone (the pool's connection may be the one tx holds) and closed
// with it.
func (db *DB) stmt(ctx context.Context, tx *sqlx.Tx, p pool, q string) (*sqlx.Stmt, error) {
	p = db.pool(p)
	k := stmtKey{p, q}
	db.mu.Lock()
	st, ok := db.stmts[k]
	db.mu.Unlock()
	if ok {
		if tx != nil {
			return tx.StmtxContext(ctx, st), nil
		}
		return st, nil
	}
	if tx != nil {
		st, err := tx.PreparexContext(ctx, tx.Rebind(q))
		if err != nil {
			return nil, fmt.Errorf("prepare %q: %w", q, err)
		}
		return st, nil
	}
	h := db.handle(p)
	st, err := h.PreparexContext(context.WithoutCancel(ctx), h.Rebind(q))
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", q, err)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if have, ok := db.stmts[k]; ok {
		st.Close()
		return have, nil
	}
	db.stmts[k] = st
	return st, nil
}

// Close closes the prepared statements, then runs the backend's own
// cleanup (db.D.Close) and closes the handles. It is idempotent.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		var first error
		keep := func(err error) {
			if err != nil && first == nil {
				first = err
			}
		}
		db.mu.Lock()
		for _, st := range db.stmts {
			keep(st.Close())
		}
		db.stmts = nil
		db.mu.Unlock()
		if db.D.BeforeClose != nil {
			db.D.BeforeClose(db)
		}
		if db.B != nil {
			keep(db.B.Close())
		}
		if db.R != db.W {
			keep(db.R.Close())
		}
		keep(db.W.Close())
		db.closeErr = first
	})
	return db.closeErr
}

// View implements storage.Backend.
func (db *DB) View(ctx context.Context, fn func(storage.ReadTx) error) error {
	return db.view(ctx, poolRead, fn)
}

// ViewBulk implements storage.BulkViewer: View on the bulk read pool, or
// the read pool when there is none.
func (db *DB) ViewBulk(ctx context.Context, fn func(storage.ReadTx) error) error {
	return db.view(ctx, poolBulk, fn)
}

func (db *DB) view(ctx context.Context, p pool, fn func(storage.ReadTx) error) error {
	tx, err := db.handle(p).BeginTxx(ctx, db.D.ReadTxOptions)
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(&Tx{db: db, q: tx, tx: tx, p: p})
}

// TryView implements storage.SecondViewer: View on a read connection that
// is idle or can be opened now. When every one is in use (possibly by the
// caller itself) it returns at once; the pool may be taken between that
// look and BEGIN, so the wait is also cut short, after tryViewWait.
func (db *DB) TryView(ctx context.Context, fn func(storage.ReadTx) error) error {
	return db.tryView(ctx, poolRead, fn)
}

// TryViewBulk implements storage.BulkViewer: TryView on the bulk read
// pool, or the read pool when there is none.
func (db *DB) TryViewBulk(ctx context.Context, fn func(storage.ReadTx) error) error {
	return db.tryView(ctx, poolBulk, fn)
}

func (db *DB) tryView(ctx context.Context, p pool, fn func(storage.ReadTx) error) error {
	h := db.handle(p)
	if st := h.Stats(); st.MaxOpenConnections > 0 && st.InUse >= st.MaxOpenConnections {
		return storage.ErrBusy
	}
	g := &beginCtx{Context: ctx, done: make(chan struct{})}
	stop := context.AfterFunc(ctx, func() { g.cancel(ctx.Err()) })
	t := time.AfterFunc(tryViewWait, func() { g.cancel(storage.ErrBusy) })
	tx, err := h.BeginTxx(g, db.D.ReadTxOptions)
	t.Stop()
	stop()
	if !g.settle() {
		if tx != nil {
			tx.Rollback()
		}
		return g.Err()
	}
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(&Tx{db: db, q: tx, tx: tx, p: p})
}

// tryViewWait bounds TryView's wait for a connection: long enough to open
// one.
const tryViewWait = 100 * time.Millisecond

// Reader implements storage.Backend: statements run on the read pool, each
// in a transaction of its own.
func (db *DB) Reader() storage.ReadTx { return &Tx{db: db} }

// Update implements storage.Backend.
func (db *DB) Update(ctx context.Context, opts *storage.UpdateOptions, fn func(storage.WriteTx) error) error {
	err := db.gated(ctx, opts, fn)
	if err == nil && db.D.AfterCommit != nil {
		// Outside the gate: AfterCommit may wait for whoever holds it.
		db.D.AfterCommit()
	}
	return err
}

// gated is Update inside the dialect's WriteGate; it returns nil only when
// the transaction committed.
func (db *DB) gated(ctx context.Context, opts *storage.UpdateOptions, fn func(storage.WriteTx) error) error {
	if g := db.D.WriteGate; g != nil {
		g.RLock()
		defer g.RUnlock()
	}
	var o storage.UpdateOptions
	if opts != nil {
		o = *opts
	}
	if o.Attach != "" && db.D.StageImport != nil {
		return db.updateAttached(ctx, o.Attach, fn)
	}
	var tx *sqlx.Tx
	var err error
	if o.Wait == nil || o.Wait.Done() == nil {
		tx, err = db.W.BeginTxx(ctx, db.D.WriteTxOptions)
	} else {
		// database/sql watches the context of BeginTx for the life of the
		// transaction: hand it one that can end only before BEGIN returns.
		g := &beginCtx{Context: ctx, done: make(chan struct{})}
		stop := context.AfterFunc(o.Wait, func() { g.cancel(o.Wait.Err()) })
		tx, err = db.W.BeginTxx(g, db.D.WriteTxOptions)
		stop()
		if !g.settle() {
			if tx != nil {
				tx.Rollback()
			}
			return fmt.Errorf("begin: %w", o.Wait.Err())
		}
	}
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	return db.run(tx, false, fn)
}

// updateAttached runs fn in a write transaction with the SQLite file at
// uri attached to the write connection as "stage" (ATTACH cannot run
// inside a transaction: it is attached before BEGIN and detached after the
// end).
func (db *DB) updateAttached(ctx context.Context, uri string, fn func(storage.WriteTx) error) (err error) {
	conn, err := db.W.Connx(ctx)
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
			conn.Raw(func(any) error { return errBadConn })
			if err == nil {
				err = fmt.Errorf("detach staging file: %w", derr)
			}
		}
	}()
	tx, err := conn.BeginTxx(ctx, db.D.WriteTxOptions)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	return db.run(tx, true, fn)
}

// run runs fn in the begun transaction tx (with the staging file attached:
// attached): it commits when fn returns nil and rolls back on an error or a
// panic (which it re-raises).
func (db *DB) run(tx *sqlx.Tx, attached bool, fn func(storage.WriteTx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			tx.Rollback()
			panic(p)
		}
		if err != nil {
			tx.Rollback()
		}
	}()
	if err := fn(&Tx{db: db, q: tx, tx: tx, p: poolWrite, attached: attached}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// querier is what a Tx runs statements on: a transaction, or nothing
// (Reader: prepared statements on the read pool).
type querier interface {
	sqlx.ExtContext
	sqlx.QueryerContext
}

// Tx implements storage.ReadTx and storage.WriteTx.
type Tx struct {
	db *DB
	q  querier  // nil for Reader
	tx *sqlx.Tx // nil for Reader
	p  pool     // the handle tx is on: poolWrite in a write transaction, poolRead for Reader
	sp int      // savepoint depth

	bound    map[string]*sqlx.Stmt // statements bound to tx, once per transaction
	attached bool                  // a staging file is attached as "stage" (Dialect.StageImport)
}

// SQL returns the underlying transaction, nil outside one ([DB.Reader]),
// for tests that look at rows directly.
func (t *Tx) SQL() *sqlx.Tx { return t.tx }

// prep returns the prepared statement for q, bound to the transaction.
func (t *Tx) prep(ctx context.Context, q string) (*sqlx.Stmt, error) {
	if t.tx == nil {
		return t.db.stmt(ctx, nil, t.p, q)
	}
	// Binding a statement to a transaction may prepare it again on the
	// transaction's connection: do it once per transaction.
	if st, ok := t.bound[q]; ok {
		return st, nil
	}
	st, err := t.db.stmt(ctx, t.tx, t.p, q)
	if err != nil {
		return nil, err
	}
	if t.bound == nil {
		t.bound = make(map[string]*sqlx.Stmt, 8)
	}
	t.bound[q] = st
	return st, nil
}

// exec runs q with args.
func (t *Tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := t.prep(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// get scans the one row of q into dest; no row is storage.ErrNotFound.
func (t *Tx) get(ctx context.Context, dest any, q string, args ...any) error {
	st, err := t.prep(ctx, q)
	if err != nil {
		return err
	}
	if err := st.GetContext(ctx, dest, args...); err != nil {
		return notFound(err)
	}
	return nil
}

// sel scans the rows of q into dest, a pointer to a slice.
func (t *Tx) sel(ctx context.Context, dest any, q string, args ...any) error {
	st, err := t.prep(ctx, q)
	if err != nil {
		return err
	}
	return st.SelectContext(ctx, dest, args...)
}

// pointRead returns the context a read of a few rows by key runs under:
// ctx's values without its cancellation, once ctx is checked. With a
// context that can end, modernc.org/sqlite starts a goroutine for each
// statement, to interrupt it; for a statement of a few microseconds that
// costs more than it can save (getRecord: 4-14% of `atlite serve`'s CPU,
// 4 rounds of 5,000 calls).
func pointRead(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return context.WithoutCancel(ctx), nil
}

// notFound turns sql.ErrNoRows into storage.ErrNotFound.
func notFound(err error) error {
	if err == sql.ErrNoRows {
		return storage.ErrNotFound
	}
	return err
}

// Savepoint implements storage.WriteTx.
func (t *Tx) Savepoint(ctx context.Context, fn func() error) error {
	name := fmt.Sprintf("sp%d", t.sp)
	if _, err := t.tx.ExecContext(ctx, "SAVEPOINT "+name); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	t.sp++
	ferr := fn()
	t.sp--
	if ferr != nil {
		if _, err := t.tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+name); err != nil {
			return fmt.Errorf("rollback to savepoint: %w (after %w)", err, ferr)
		}
	}
	if _, err := t.tx.ExecContext(ctx, "RELEASE SAVEPOINT "+name); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return ferr
}

// beginCtx is the context of a transaction's BEGIN: cancel ends it until
// settle, and nothing ends it after. Values come from the embedded context.
type beginCtx struct {
	context.Context
	done chan struct{}

	mu      sync.Mutex
	err     error
	settled bool
}

func (g *beginCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (g *beginCtx) Done() <-chan struct{}       { return g.done }

func (g *beginCtx) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

// cancel ends the context with err, unless it has settled.
func (g *beginCtx) cancel(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.settled && g.err == nil {
		g.err = err
		close(g.done)
	}
}

// settle makes the context never end, and reports whether it had not
// ended before.
func (g *beginCtx) settle() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.settled = true
	return g.err == nil
}

// Vacuum implements storage.Vacuumer with the dialect's VacuumSQL, run on
// the write pool with this process's writers held off.
func (d *DB) Vacuum(ctx context.Context) error {
	if d.D.VacuumSQL == "" {
		return fmt.Errorf("no vacuum for %s: %w", d.D.Name, errors.ErrUnsupported)
	}
	if d.D.WriteGate != nil {
		d.D.WriteGate.Lock()
		defer d.D.WriteGate.Unlock()
	}
	if _, err := d.W.ExecContext(ctx, d.D.VacuumSQL); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	return nil
}

// Backup implements storage.Backuper with the dialect's Backup.
func (d *DB) Backup(ctx context.Context, dest string) error {
	if d.D.Backup == nil {
		return fmt.Errorf("no online backup for %s: %w", d.D.Name, errors.ErrUnsupported)
	}
	return d.D.Backup(ctx, d, dest)
}
