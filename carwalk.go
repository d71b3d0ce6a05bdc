package atlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/car"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/internal/sqlite"
	"github.com/atlite-dev/atlite/internal/sqlstore"
	"github.com/atlite-dev/atlite/mst"
)

// Reading a repo CAR in one pass.
//
// ImportCAR and VerifyCAR walk the repo's tree from its commit in the
// repository spec's pre-order (commit, node, left subtree, then for each
// entry its record and right subtree), the order mst.Tree.Blocks asks for
// blocks in and the order ExportCAR writes them in. carStream serves that
// walk from the CAR as it is read: while the CAR's next block is the one
// the walk asks for, it is handed over and forgotten, so only the nodes on
// the walk's path are held, plus the CIDs of the blocks read (to know a
// repeated record, and to refuse a repeated block), which move to a
// staging file past seenCap so that memory stays bounded. When the CAR comes in
// another order, the rest of it goes into a staging file (a private SQLite
// file in a temporary directory, never an atlite database), and the walk
// goes on from there: memory stays bounded either way.

// stage is a private SQLite file for blocks read ahead of the walk and, for
// an import, for what the import will store: the blocks the repo reaches
// (keep), its record index (recs) and the blobs its records cite (refs).
type stage struct {
	dir  string
	path string
	db   *sql.DB
	tx   *sql.Tx

	raw, rawGet, keep, rec, ref *sql.Stmt
}

const (
	stageSchemaSQL = `CREATE TABLE raw (k INTEGER NOT NULL, cid BLOB NOT NULL, data BLOB NOT NULL);
CREATE TABLE keep (k INTEGER NOT NULL, cid BLOB NOT NULL, data BLOB NOT NULL);
CREATE TABLE recs (collection TEXT NOT NULL, rkey TEXT NOT NULL, cid BLOB NOT NULL, k INTEGER NOT NULL);
CREATE TABLE refs (rec BLOB NOT NULL, blob BLOB NOT NULL);`
	stageRawSQL      = `INSERT INTO raw (k, cid, data) VALUES (?, ?, ?)`
	stageRawIndexSQL = `CREATE INDEX raw_k ON raw (k)`
	stageRawGetSQL   = `SELECT cid, data FROM raw WHERE k = ?`
	stageRawDupSQL   = `SELECT cid, count(*) FROM raw GROUP BY k, cid HAVING count(*) > 1 LIMIT 1`
	stageKeepSQL     = `INSERT INTO keep (k, cid, data) VALUES (?, ?, ?)`
	stageRecSQL      = `INSERT INTO recs (collection, rkey, cid, k) VALUES (?, ?, ?, ?)`
	stageRefSQL      = `INSERT INTO refs (rec, blob) VALUES (?, ?)`
	stageRefIndexSQL = `CREATE INDEX refs_rec ON refs (rec)`
)

// stageError is a failure of the staging file: the host's problem, never
// the CAR's, so a walk does not report it as ErrInvalidCAR.
type stageError struct{ err error }

func (e *stageError) Error() string { return "staging file: " + e.err.Error() }
func (e *stageError) Unwrap() error { return e.err }

// openStage creates a staging file in a new temporary directory.
func openStage(ctx context.Context) (st *stage, err error) {
	dir, err := os.MkdirTemp("", "atlite-stage-")
	if err != nil {
		return nil, fmt.Errorf("staging file: %w", err)
	}
	st = &stage{dir: dir, path: filepath.Join(dir, "stage.db")}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	dsn := "file:" + sqlite.EscapePath(st.path) + "?_pragma=journal_mode(off)&_pragma=synchronous(off)&_pragma=temp_store(file)"
	if st.db, err = sql.Open("sqlite", dsn); err != nil {
		return nil, fmt.Errorf("staging file: %w", err)
	}
	st.db.SetMaxOpenConns(1)
	if st.tx, err = st.db.BeginTx(ctx, nil); err != nil {
		return nil, fmt.Errorf("staging file: %w", err)
	}
	if _, err := st.tx.ExecContext(ctx, stageSchemaSQL); err != nil {
		return nil, fmt.Errorf("staging file: %w", err)
	}
	for _, p := range []struct {
		st **sql.Stmt
		q  string
	}{{&st.raw, stageRawSQL}, {&st.keep, stageKeepSQL}, {&st.rec, stageRecSQL}, {&st.ref, stageRefSQL}} {
		if *p.st, err = st.tx.PrepareContext(ctx, p.q); err != nil {
			return nil, fmt.Errorf("staging file: %w", err)
		}
	}
	return st, nil
}

// seal commits what was staged, so that another connection can read it,
// and closes the staging file's own connection.
func (st *stage) seal() error {
	tx := st.tx
	st.tx = nil
	if err := tx.Commit(); err != nil {
		return &stageError{err}
	}
	if err := st.db.Close(); err != nil {
		return &stageError{err}
	}
	st.db = nil
	return nil
}

// uri is the staging file's URI for ATTACH from a connection of the store.
// The store's in-memory databases live in the memdb VFS; the staging file
// is a file of the operating system's VFS.
func (st *stage) uri(mem bool) string {
	u := "file:" + sqlite.EscapePath(st.path)
	if mem {
		vfs := "unix"
		if runtime.GOOS == "windows" {
			vfs = "win32"
		}
		u += "?vfs=" + vfs
	}
	return u
}

// close drops the staging file.
func (st *stage) close() {
	if st == nil {
		return
	}
	if st.tx != nil {
		st.tx.Rollback()
	}
	if st.db != nil {
		st.db.Close()
	}
	os.RemoveAll(st.dir)
}

// get returns the staged (read-ahead) block c, or nil.
func (st *stage) get(ctx context.Context, c cid.Cid) ([]byte, error) {
	rows, err := st.rawGet.QueryContext(ctx, sqlstore.BlockKey(c))
	if err != nil {
		return nil, &stageError{err}
	}
	defer rows.Close()
	cb := c.Bytes()
	for rows.Next() {
		var have, data []byte
		if err := rows.Scan(&have, &data); err != nil {
			return nil, &stageError{err}
		}
		if bytes.Equal(have, cb) {
			return data, nil
		}
	}
	if err := rows.Err(); err != nil {
		return nil, &stageError{err}
	}
	return nil, nil
}

// carStream serves a tree walk from a CAR read in order; see above.
type carStream struct {
	cr     *car.Reader
	next   *car.Block // the block read ahead, nil when none
	eof    bool
	strict bool // refuse a block the CAR holds twice (VerifyCAR)
	// seen holds the CIDs of the blocks the walk was given and,
	// in strict mode, of the blocks read after the walk.
	seen     *seenSet
	stage    *stage                                                           // set when staged, or from the start
	newStage func(context.Context) (*stage, error)                            // makes stage on demand
	staged   bool                                                             // the rest of the CAR is in stage.raw
	distinct int                                                              // blocks the walk was given, each counted once
	sink     func(c cid.Cid, data []byte) error                               // each block the walk reaches, once
	record   func(key string, c cid.Cid, m map[string]any, data []byte) error // each record entry; m nil for a repeat
	records  int                                                              // record entries
}

func (cs *carStream) peek() (*car.Block, error) {
	if cs.next != nil || cs.eof {
		return cs.next, nil
	}
	b, err := cs.cr.Next()
	if errors.Is(err, io.EOF) {
		cs.eof = true
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidCAR, err)
	}
	cs.next = &b
	return cs.next, nil
}

// notInCAR is the error for a block the CAR lacks: it wraps mst.ErrNotFound,
// as an mst.BlockSource's must, so the tree reports a missing node.
func notInCAR(c cid.Cid) error {
	return fmt.Errorf("block %s is not in the CAR: %w", c, mst.ErrNotFound)
}

func duplicate(c cid.Cid) error {
	return invalidCAR("block %s appears more than once", c)
}

// get returns the block c for the walk; repeat reports a block the walk
// was given before (a record that several keys hold), whose bytes are not
// returned again.
func (cs *carStream) get(ctx context.Context, c cid.Cid) (data []byte, repeat bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if !cs.staged {
		b, err := cs.peek()
		if err != nil {
			return nil, false, err
		}
		if b != nil && b.CID.Equals(c) {
			cs.next = nil
			fresh, err := cs.seen.add(ctx, c)
			if err != nil {
				return nil, false, err
			}
			if !fresh {
				// A writer that puts the block at each of its places.
				if cs.strict {
					return nil, false, duplicate(c)
				}
				return nil, true, nil
			}
			cs.distinct++
			return b.Data, false, nil
		}
	}
	if had, err := cs.seen.has(ctx, c); err != nil || had {
		return nil, had, err
	}
	if !cs.staged {
		if err := cs.stageRest(ctx); err != nil {
			return nil, false, err
		}
	}
	data, err = cs.stage.get(ctx, c)
	if err != nil {
		return nil, false, err
	}
	if data == nil {
		return nil, false, notInCAR(c)
	}
	if _, err := cs.seen.add(ctx, c); err != nil {
		return nil, false, err
	}
	cs.distinct++
	return data, false, nil
}

// seenCap is the number of CIDs a seenSet holds in memory (a few MB) before
// it moves them to the staging file.
var seenCap = 1 << 15

// seenSet is the set of the CIDs a carStream has read: in memory for the
// first seenCap, then in the staging file, so that memory stays bounded
// whatever the size of the repo.
type seenSet struct {
	m        map[string]struct{}
	stage    func(context.Context) (*stage, error)
	add1     *sql.Stmt // on the staging file, once spilled
	has1     *sql.Stmt
	spilled  bool
	capacity int
}

func newSeenSet(stage func(context.Context) (*stage, error)) *seenSet {
	return &seenSet{m: map[string]struct{}{}, stage: stage, capacity: seenCap}
}

// add adds c and reports whether it was not in the set.
func (s *seenSet) add(ctx context.Context, c cid.Cid) (fresh bool, err error) {
	if !s.spilled {
		ks := c.KeyString()
		if _, ok := s.m[ks]; ok {
			return false, nil
		}
		if len(s.m) < s.capacity {
			s.m[ks] = struct{}{}
			return true, nil
		}
		if err := s.spill(ctx); err != nil {
			return false, err
		}
	}
	res, err := s.add1.ExecContext(ctx, c.Bytes())
	if err != nil {
		return false, &stageError{err}
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, &stageError{err}
	}
	return n == 1, nil
}

// has reports whether c is in the set.
func (s *seenSet) has(ctx context.Context, c cid.Cid) (bool, error) {
	if !s.spilled {
		_, ok := s.m[c.KeyString()]
		return ok, nil
	}
	var one int
	err := s.has1.QueryRowContext(ctx, c.Bytes()).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, &stageError{err}
	}
	return true, nil
}

// spill moves the set into the staging file.
func (s *seenSet) spill(ctx context.Context) error {
	st, err := s.stage(ctx)
	if err != nil {
		return err
	}
	if _, err := st.tx.ExecContext(ctx, `CREATE TABLE seen (cid BLOB PRIMARY KEY) WITHOUT ROWID`); err != nil {
		return &stageError{err}
	}
	if s.add1, err = st.tx.PrepareContext(ctx, `INSERT OR IGNORE INTO seen (cid) VALUES (?)`); err != nil {
		return &stageError{err}
	}
	if s.has1, err = st.tx.PrepareContext(ctx, `SELECT 1 FROM seen WHERE cid = ?`); err != nil {
		return &stageError{err}
	}
	for ks := range s.m {
		if _, err := s.add1.ExecContext(ctx, []byte(ks)); err != nil {
			return &stageError{err}
		}
	}
	s.m, s.spilled = nil, true
	return nil
}

// stageRest puts the rest of the CAR into the staging file: the CAR is not
// in the walk's order.
func (cs *carStream) stageRest(ctx context.Context) error {
	st, err := cs.getStage(ctx)
	if err != nil {
		return err
	}
	cs.staged = true
	for {
		b, err := cs.peek()
		if err != nil {
			return err
		}
		if b == nil {
			break
		}
		cs.next = nil
		if err := ctx.Err(); err != nil {
			return err
		}
		had, err := cs.seen.has(ctx, b.CID)
		if err != nil {
			return err
		}
		if had {
			if cs.strict {
				return duplicate(b.CID)
			}
			continue
		}
		if _, err := st.raw.ExecContext(ctx, sqlstore.BlockKey(b.CID), b.CID.Bytes(), b.Data); err != nil {
			return &stageError{err}
		}
	}
	if _, err := st.tx.ExecContext(ctx, stageRawIndexSQL); err != nil {
		return &stageError{err}
	}
	if cs.strict {
		var cb []byte
		var n int
		err := st.tx.QueryRowContext(ctx, stageRawDupSQL).Scan(&cb, &n)
		if err == nil {
			c, _ := cid.Cast(cb)
			return invalidCAR("block %s appears %d times", c, n)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	st.rawGet, err = st.tx.PrepareContext(ctx, stageRawGetSQL)
	return err
}

// getStage returns the staging file, making it first if needed.
func (cs *carStream) getStage(ctx context.Context) (*stage, error) {
	if cs.stage == nil {
		st, err := cs.newStage(ctx)
		if err != nil {
			return nil, err
		}
		cs.stage = st
	}
	return cs.stage, nil
}

// newCARStream returns a carStream over cr; st is its staging file, or nil
// to make one when it is needed.
func newCARStream(cr *car.Reader, strict bool, st *stage) *carStream {
	cs := &carStream{cr: cr, strict: strict, stage: st, newStage: openStage,
		sink:   func(cid.Cid, []byte) error { return nil },
		record: func(string, cid.Cid, map[string]any, []byte) error { return nil },
	}
	cs.seen = newSeenSet(cs.getStage)
	return cs
}

// finish reads what the walk left of the CAR: blocks the repo does not
// reach, dropped; in strict mode none may repeat a block.
func (cs *carStream) finish(ctx context.Context) error {
	for !cs.staged {
		b, err := cs.peek()
		if err != nil {
			return err
		}
		if b == nil {
			return nil
		}
		cs.next = nil
		if err := ctx.Err(); err != nil {
			return err
		}
		if cs.strict {
			fresh, err := cs.seen.add(ctx, b.CID)
			if err != nil {
				return err
			}
			if !fresh {
				return duplicate(b.CID)
			}
		}
	}
	return nil
}

// nodes returns the walk's source of MST nodes.
func (cs *carStream) nodes() mst.BlockSource {
	return mst.BlockSourceFunc(func(ctx context.Context, c cid.Cid) ([]byte, error) {
		data, repeat, err := cs.get(ctx, c)
		if err != nil {
			return nil, err
		}
		if repeat {
			return nil, invalidCAR("MST node %s is reached twice", c)
		}
		return data, nil
	})
}

// carRecords serves record blocks to the walk (mst.RecordSource) and
// checks each one: DAG-CBOR, and a map, as every repo record must be.
type carRecords struct{ cs *carStream }

func (r carRecords) GetBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	return nil, fmt.Errorf("record %s read without its key", c)
}

func (r carRecords) GetRecord(ctx context.Context, key string, c cid.Cid) ([]byte, error) {
	cs := r.cs
	data, repeat, err := cs.get(ctx, c)
	if err != nil {
		return nil, err
	}
	cs.records++
	if !strings.Contains(key, "/") {
		return nil, invalidCAR("record key %q has no collection", key)
	}
	if repeat {
		return nil, cs.record(key, c, nil, nil)
	}
	if c.Prefix().Codec != datamodel.CodecDagCBOR {
		return nil, invalidCAR("record %s is not dag-cbor", c)
	}
	m, err := datamodel.UnmarshalMap(data)
	if err != nil {
		return nil, invalidCAR("record %s: %v", c, err)
	}
	if err := cs.record(key, c, m, data); err != nil {
		return nil, err
	}
	return data, nil
}

// walkCAR reads the CAR's commit, hands it to check (which may refuse it),
// then walks the whole tree from the CAR's blocks: every node must be
// there, canonical and hash-checked (the mst package checks), every record
// present and a DAG-CBOR map. cs.sink gets each block reached once, the
// commit first.
func walkCAR(ctx context.Context, cs *carStream, root cid.Cid, check func(*commit.Commit) error) (*commit.Commit, error) {
	cb, _, err := cs.get(ctx, root)
	if errors.Is(err, mst.ErrNotFound) {
		return nil, invalidCAR("root commit %s is not in the CAR", root)
	}
	if err != nil {
		return nil, err
	}
	cmt, err := commit.Decode(cb)
	if err != nil {
		return nil, invalidCAR("root %s is not a commit: %v", root, err)
	}
	if err := check(cmt); err != nil {
		return nil, err
	}
	if err := cs.sink(root, cb); err != nil {
		return nil, err
	}
	err = mst.Load(cs.nodes(), cmt.Data).Blocks(ctx, carRecords{cs}, func(c cid.Cid, data []byte) error {
		if data == nil {
			return nil // a repeated record, given once already
		}
		return cs.sink(c, data)
	})
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		var se *stageError
		if errors.Is(err, ErrInvalidCAR) || errors.As(err, &se) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: repo tree: %v", ErrInvalidCAR, err)
	}
	if err := cs.finish(ctx); err != nil {
		return nil, err
	}
	return cmt, nil
}
