package stage

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/ipfs/go-cid"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/atlite-dev/atlite/internal/sqlstore"
	"github.com/atlite-dev/atlite/internal/storage"
)

// Error is a failure of the staging file: the host's problem, never the
// CAR's, so a walk does not report it as an invalid CAR.
type Error struct{ Err error }

// Error implements error.
func (e *Error) Error() string { return "staging file: " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

func wrap(err error) error {
	if err == nil {
		return nil
	}
	return &Error{err}
}

const (
	schemaSQL = `CREATE TABLE raw (k INTEGER NOT NULL, cid BLOB NOT NULL, data BLOB NOT NULL);
CREATE TABLE keep (k INTEGER NOT NULL, cid BLOB NOT NULL, data BLOB NOT NULL);
CREATE TABLE recs (collection TEXT NOT NULL, rkey TEXT NOT NULL, cid BLOB NOT NULL, k INTEGER NOT NULL, n INTEGER);
CREATE TABLE refs (rec BLOB NOT NULL, blob BLOB NOT NULL);`
	rawSQL      = `INSERT INTO raw (k, cid, data) VALUES (?, ?, ?)`
	rawIndexSQL = `CREATE INDEX raw_k ON raw (k)`
	rawGetSQL   = `SELECT cid, data FROM raw WHERE k = ?`
	rawDupSQL   = `SELECT cid, count(*) FROM raw GROUP BY k, cid HAVING count(*) > 1 LIMIT 1`
	keepSQL     = `INSERT INTO keep (k, cid, data) VALUES `
	recSQL      = `INSERT INTO recs (collection, rkey, cid, k, n) VALUES `
	refSQL      = `INSERT INTO refs (rec, blob) VALUES `
	refIndexSQL = `CREATE INDEX refs_rec ON refs (rec)`
	seenSQL     = `CREATE TABLE seen (cid BLOB PRIMARY KEY) WITHOUT ROWID`
	seenAddSQL  = `INSERT OR IGNORE INTO seen (cid) VALUES (?)`
	seenHasSQL  = `SELECT 1 FROM seen WHERE cid = ?`

	forEachBlockSQL   = `SELECT k, cid, data FROM keep`
	forEachRecordSQL  = `SELECT collection, rkey, cid, k FROM recs`
	forEachBlobRefSQL = `SELECT r.collection || '/' || r.rkey, f.blob FROM recs r JOIN refs f ON f.rec = r.cid`
)

// Copy holds the SQLite statements that copy a sealed File, attached as
// "stage" to a connection of an atlite SQLite file, into that file (its
// tables as "main"): the SQLite backend's [sqlstore.Dialect.StageImport],
// which runs them in an import's write transaction instead of streaming the
// rows.
var Copy = sqlstore.StageImport{
	// The block kept nth gets the id base + n (base: the argument), so
	// that a record's row can name it without a look-up when every block
	// was new. keep is only appended to, one batch after another, so its
	// rowid is n: SQLite gives a new row the highest rowid plus one.
	// (Keep counts n the same way for recs.n.) The ids are given, not left
	// to main.blocks' own next rowid, so that they do not depend on the
	// order of this scan.
	Blocks: `INSERT INTO main.blocks (id, k, cid, data) SELECT ? + rowid, k, cid, data FROM stage.keep WHERE true ON CONFLICT (k) DO NOTHING`,
	Overflow: `INSERT OR IGNORE INTO main.blocks_overflow (cid, data)
SELECT s.cid, s.data FROM stage.keep s JOIN main.blocks b ON b.k = s.k WHERE b.cid != s.cid`,
	// records.cid: NULL unless the block is in blocks_overflow; records.b:
	// the id of the blocks row at k (see sqlstore's recordCIDValue and
	// recordBlockValue). When every kept block was stored (the third
	// argument 1), the block kept nth (recs.n) is at base + n (base: the
	// second argument); the look-up by key is for the others.
	Records: `INSERT INTO main.records (repo, collection, rkey, cid, k, b)
SELECT ?1, s.collection, s.rkey, (SELECT o.cid FROM main.blocks_overflow o WHERE o.cid = s.cid), s.k,
	CASE WHEN ?3 AND s.n IS NOT NULL THEN ?2 + s.n ELSE (SELECT x.id FROM main.blocks x WHERE x.k = s.k) END
FROM stage.recs s WHERE true
ON CONFLICT (repo, collection, rkey) DO UPDATE SET cid = excluded.cid, k = excluded.k, b = excluded.b`,
	BlobRefs: `INSERT INTO main.blob_refs (repo, path, cid, rev)
SELECT ?, r.collection || '/' || r.rkey, f.blob, ? FROM stage.recs r JOIN stage.refs f ON f.rec = r.cid WHERE true ON CONFLICT DO NOTHING`,
	// 8 MiB: `atlite import` of bench/'s 100k-record CAR (28.9 MB) peaked
	// at 115 MB of RSS with the default 32 MiB cache through the copy, 64
	// MB with 8 MiB and 80 MB with 16 MiB, in the same time.
	CopyCacheKiB: 8 << 10,
}

// File is a staging file; see the package documentation.
type File struct {
	dir  string
	path string
	db   *sql.DB
	tx   *sql.Tx

	raw, rawGet, seenAdd, seenHas *sql.Stmt
	// Kept blocks and records go in multi-row inserts of batchRows rows.
	keep, rec, ref *batch
	// pending is the record staged last, held until the next Keep: if
	// that keeps the record's block, the record names its row (recs.n).
	pending    pendingRecord
	hasPending bool
}

// pendingRecord is a record index entry that File.Record holds back.
type pendingRecord struct {
	collection, rkey string
	cid              cid.Cid
}

// batchRows is the size of a staging file's multi-row inserts: one statement
// for batchRows rows instead of one each (the per-statement cost of
// database/sql and the driver was most of staging's time).
const batchRows = 128

// batch buffers the rows of one table and inserts them batchRows at a time.
type batch struct {
	tx    *sql.Tx
	head  string // INSERT ... VALUES
	row   string // (?, ...) of one row
	width int
	full  *sql.Stmt // prepared for batchRows rows
	args  []any
	n     int // rows added
}

func newBatch(ctx context.Context, tx *sql.Tx, head string, width int) (*batch, error) {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", width), ", ") + ")"
	b := &batch{tx: tx, head: head, row: row, width: width, args: make([]any, 0, width*batchRows)}
	var err error
	b.full, err = tx.PrepareContext(ctx, b.sql(batchRows))
	return b, err
}

// sql is the insert of n rows.
func (b *batch) sql(n int) string {
	return b.head + strings.TrimSuffix(strings.Repeat(b.row+", ", n), ", ")
}

// add adds one row of b.width values.
func (b *batch) add(ctx context.Context, row ...any) error {
	b.args = append(b.args, row...)
	b.n++
	if len(b.args) < b.width*batchRows {
		return nil
	}
	_, err := b.full.ExecContext(ctx, b.args...)
	clear(b.args)
	b.args = b.args[:0]
	return err
}

// flush inserts the rows left.
func (b *batch) flush(ctx context.Context) error {
	if len(b.args) == 0 {
		return nil
	}
	_, err := b.tx.ExecContext(ctx, b.sql(len(b.args)/b.width), b.args...)
	clear(b.args)
	b.args = b.args[:0]
	return err
}

// Open creates a staging file in a new temporary directory. Close removes
// it.
func Open(ctx context.Context) (f *File, err error) {
	dir, err := os.MkdirTemp("", "atlite-stage-")
	if err != nil {
		return nil, wrap(err)
	}
	f = &File{dir: dir, path: filepath.Join(dir, "stage.db")}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	dsn := "file:" + escapePath(f.path) + "?_pragma=journal_mode(off)&_pragma=synchronous(off)&_pragma=temp_store(file)"
	if f.db, err = sql.Open("sqlite", dsn); err != nil {
		return nil, wrap(err)
	}
	f.db.SetMaxOpenConns(1)
	if f.tx, err = f.db.BeginTx(ctx, nil); err != nil {
		return nil, wrap(err)
	}
	if _, err := f.tx.ExecContext(ctx, schemaSQL); err != nil {
		return nil, wrap(err)
	}
	for _, p := range []struct {
		st **sql.Stmt
		q  string
	}{{&f.raw, rawSQL}} {
		if *p.st, err = f.tx.PrepareContext(ctx, p.q); err != nil {
			return nil, wrap(err)
		}
	}
	if f.keep, err = newBatch(ctx, f.tx, keepSQL, 3); err != nil {
		return nil, wrap(err)
	}
	if f.rec, err = newBatch(ctx, f.tx, recSQL, 5); err != nil {
		return nil, wrap(err)
	}
	if f.ref, err = newBatch(ctx, f.tx, refSQL, 2); err != nil {
		return nil, wrap(err)
	}
	return f, nil
}

// escapePath makes a file path safe inside a file: URI.
func escapePath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

// Close drops the staging file. A nil File is a no-op.
func (f *File) Close() {
	if f == nil {
		return
	}
	if f.tx != nil {
		f.tx.Rollback()
	}
	if f.db != nil {
		f.db.Close()
	}
	os.RemoveAll(f.dir)
}

// Seal indexes and commits what was staged, so that another connection can
// read it, and closes the staging file's own connection. After Seal only
// URI, the ForEach methods and Close may be called.
func (f *File) Seal(ctx context.Context) error {
	if err := f.flushPending(ctx); err != nil {
		return err
	}
	for _, b := range []*batch{f.keep, f.rec, f.ref} {
		if err := b.flush(ctx); err != nil {
			return wrap(err)
		}
	}
	if _, err := f.tx.ExecContext(ctx, refIndexSQL); err != nil {
		return wrap(err)
	}
	tx := f.tx
	f.tx = nil
	if err := tx.Commit(); err != nil {
		return wrap(err)
	}
	if err := f.db.Close(); err != nil {
		return wrap(err)
	}
	f.db = nil
	return nil
}

// URI is the staging file's URI, for ATTACH from a connection of a SQLite
// store. A store's in-memory databases live in the memdb VFS (mem); the
// staging file is a file of the operating system's VFS.
func (f *File) URI(mem bool) string {
	u := "file:" + escapePath(f.path)
	if mem {
		vfs := "unix"
		if runtime.GOOS == "windows" {
			vfs = "win32"
		}
		u += "?vfs=" + vfs
	}
	return u
}

// PutRaw stages the block c, read ahead of the walk.
func (f *File) PutRaw(ctx context.Context, c cid.Cid, data []byte) error {
	_, err := f.raw.ExecContext(ctx, sqlstore.BlockKey(c), c.Bytes(), data)
	return wrap(err)
}

// EndRaw ends the staging of blocks read ahead: it indexes them for GetRaw.
// With strict, it returns the first block staged more than once and its
// count (cid.Undef when none).
func (f *File) EndRaw(ctx context.Context, strict bool) (dup cid.Cid, n int, err error) {
	if _, err := f.tx.ExecContext(ctx, rawIndexSQL); err != nil {
		return cid.Undef, 0, wrap(err)
	}
	if strict {
		var cb []byte
		err := f.tx.QueryRowContext(ctx, rawDupSQL).Scan(&cb, &n)
		if err == nil {
			c, _ := cid.Cast(cb)
			return c, n, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return cid.Undef, 0, wrap(err)
		}
	}
	f.rawGet, err = f.tx.PrepareContext(ctx, rawGetSQL)
	return cid.Undef, 0, wrap(err)
}

// GetRaw returns the block c staged by PutRaw, or nil. EndRaw must have
// run.
func (f *File) GetRaw(ctx context.Context, c cid.Cid) ([]byte, error) {
	rows, err := f.rawGet.QueryContext(ctx, sqlstore.BlockKey(c))
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	cb := c.Bytes()
	for rows.Next() {
		var have, data []byte
		if err := rows.Scan(&have, &data); err != nil {
			return nil, wrap(err)
		}
		if bytes.Equal(have, cb) {
			return data, nil
		}
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err)
	}
	return nil, nil
}

// Keep stages the block c for the import to store. It holds data until
// the next batch is written: the caller must not change it.
func (f *File) Keep(ctx context.Context, c cid.Cid, data []byte) error {
	if p := f.pending; f.hasPending && p.cid == c {
		// The block of the record staged just before: it is the next row.
		f.hasPending = false
		if err := f.rec.add(ctx, p.collection, p.rkey, c.Bytes(), sqlstore.BlockKey(c), f.keep.n+1); err != nil {
			return wrap(err)
		}
	} else if err := f.flushPending(ctx); err != nil {
		return err
	}
	return wrap(f.keep.add(ctx, sqlstore.BlockKey(c), c.Bytes(), data))
}

// Record stages the record index entry collection/rkey -> c. When the
// next block kept is c (a walk stages a record, then its block), the entry
// names that row of keep, so that the copy need not look the block up.
func (f *File) Record(ctx context.Context, collection, rkey string, c cid.Cid) error {
	if err := f.flushPending(ctx); err != nil {
		return err
	}
	f.pending, f.hasPending = pendingRecord{collection: collection, rkey: rkey, cid: c}, true
	return nil
}

// flushPending stages the record held back, if any, as one whose block
// was kept before (recs.n NULL: the copy finds it by key).
func (f *File) flushPending(ctx context.Context) error {
	if !f.hasPending {
		return nil
	}
	p := f.pending
	f.hasPending = false
	return wrap(f.rec.add(ctx, p.collection, p.rkey, p.cid.Bytes(), sqlstore.BlockKey(p.cid), nil))
}

// BlobRef stages a blob that the record block rec cites (once per record
// block: every key that holds rec cites it).
func (f *File) BlobRef(ctx context.Context, rec, blob cid.Cid) error {
	return wrap(f.ref.add(ctx, rec.Bytes(), blob.Bytes()))
}

// Counts implements storage.Staged: the blocks kept and the blob references
// staged.
func (f *File) Counts() (blocks, blobRefs int) { return f.keep.n, f.ref.n }

// ForEachBlock calls fn with each kept block: its key (sqlstore.BlockKey),
// CID and bytes. The File must be sealed.
func (f *File) ForEachBlock(ctx context.Context, fn func(k int64, c, data []byte) error) error {
	return f.forEach(ctx, forEachBlockSQL, func(rows *sql.Rows) error {
		var k int64
		var c, data []byte
		if err := rows.Scan(&k, &c, &data); err != nil {
			return wrap(err)
		}
		return fn(k, c, data)
	})
}

// ForEachRecord calls fn with each staged record index entry: collection,
// record key, the record's CID and its block key. The File must be sealed.
func (f *File) ForEachRecord(ctx context.Context, fn func(collection, rkey string, c []byte, k int64) error) error {
	return f.forEach(ctx, forEachRecordSQL, func(rows *sql.Rows) error {
		var coll, rkey string
		var c []byte
		var k int64
		if err := rows.Scan(&coll, &rkey, &c, &k); err != nil {
			return wrap(err)
		}
		return fn(coll, rkey, c, k)
	})
}

// ForEachBlobRef calls fn with each blob reference of the staged records:
// the record's path (collection/rkey) and the blob's CID, for every key
// that holds a record block citing blobs. The File must be sealed.
func (f *File) ForEachBlobRef(ctx context.Context, fn func(path string, blob []byte) error) error {
	return f.forEach(ctx, forEachBlobRefSQL, func(rows *sql.Rows) error {
		var path string
		var blob []byte
		if err := rows.Scan(&path, &blob); err != nil {
			return wrap(err)
		}
		return fn(path, blob)
	})
}

// forEach runs q on a read-only connection of the sealed file and calls
// row for each row.
func (f *File) forEach(ctx context.Context, q string, row func(*sql.Rows) error) error {
	if f.tx != nil {
		return errors.New("stage: read before Seal")
	}
	db, err := sql.Open("sqlite", "file:"+escapePath(f.path)+"?mode=ro")
	if err != nil {
		return wrap(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return wrap(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return err
		}
	}
	return wrap(rows.Err())
}

// Seen is the set of the CIDs a walk has read: in memory for the first
// capacity, then in a staging file, so that memory stays bounded whatever
// the size of the repo.
//
// In memory, the CIDs of the usual form (CIDv1, SHA-256: 36 bytes) are
// kept as fixed-size array keys, about 80 bytes a CID with the map's
// overhead (262,144 of them took 20 MiB) and no allocation a CID; others
// as strings.
type Seen struct {
	m36      map[[36]byte]struct{}
	m        map[string]struct{}
	file     func(context.Context) (*File, error)
	f        *File // once spilled
	capacity int
}

// NewSeen returns an empty set that holds up to capacity CIDs in memory and
// then moves them to the staging file that file returns (made on demand).
func NewSeen(capacity int, file func(context.Context) (*File, error)) *Seen {
	return &Seen{m36: map[[36]byte]struct{}{}, m: map[string]struct{}{}, file: file, capacity: capacity}
}

// key36 returns c's bytes as an array when they are 36 long.
func key36(c cid.Cid) (k [36]byte, ok bool) {
	ks := c.KeyString()
	if len(ks) != len(k) {
		return k, false
	}
	copy(k[:], ks)
	return k, true
}

// memHas reports whether c, whose key36 is k and is36, is in the
// in-memory set.
func (s *Seen) memHas(c cid.Cid, k [36]byte, is36 bool) bool {
	var had bool
	if is36 {
		_, had = s.m36[k]
	} else {
		_, had = s.m[c.KeyString()]
	}
	return had
}

// Add adds c and reports whether it was not in the set.
func (s *Seen) Add(ctx context.Context, c cid.Cid) (fresh bool, err error) {
	if s.f == nil {
		k, is36 := key36(c)
		if s.memHas(c, k, is36) {
			return false, nil
		}
		if len(s.m36)+len(s.m) < s.capacity {
			if is36 {
				s.m36[k] = struct{}{}
			} else {
				s.m[c.KeyString()] = struct{}{}
			}
			return true, nil
		}
		if err := s.spill(ctx); err != nil {
			return false, err
		}
	}
	res, err := s.f.seenAdd.ExecContext(ctx, c.Bytes())
	if err != nil {
		return false, wrap(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrap(err)
	}
	return n == 1, nil
}

// Has reports whether c is in the set.
func (s *Seen) Has(ctx context.Context, c cid.Cid) (bool, error) {
	if s.f == nil {
		k, is36 := key36(c)
		return s.memHas(c, k, is36), nil
	}
	var one int
	err := s.f.seenHas.QueryRowContext(ctx, c.Bytes()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, wrap(err)
	}
	return true, nil
}

// spill moves the set into the staging file.
func (s *Seen) spill(ctx context.Context) error {
	f, err := s.file(ctx)
	if err != nil {
		return err
	}
	if _, err := f.tx.ExecContext(ctx, seenSQL); err != nil {
		return wrap(err)
	}
	if f.seenAdd, err = f.tx.PrepareContext(ctx, seenAddSQL); err != nil {
		return wrap(err)
	}
	if f.seenHas, err = f.tx.PrepareContext(ctx, seenHasSQL); err != nil {
		return wrap(err)
	}
	for k := range s.m36 {
		if _, err := f.seenAdd.ExecContext(ctx, k[:]); err != nil {
			return wrap(err)
		}
	}
	for ks := range s.m {
		if _, err := f.seenAdd.ExecContext(ctx, []byte(ks)); err != nil {
			return wrap(err)
		}
	}
	s.m36, s.m, s.f = nil, nil, f
	return nil
}

var _ storage.Staged = (*File)(nil)
