package atlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/ipfs/go-cid"
	"github.com/jmoiron/sqlx"
	"github.com/multiformats/go-multihash"

	"github.com/atlite-dev/atlite/mst"
)

// Block is a content-addressed block: a commit, an MST node or a record.
type Block struct {
	CID  cid.Cid
	Data []byte
}

// blockKey is the blocks.k column for c: the first 8 bytes of its digest.
func blockKey(c cid.Cid) int64 {
	b := c.Bytes()
	// CIDv1, one-byte codec, sha2-256: 01 <codec> 12 20 <digest>.
	if len(b) == 36 && b[0] == 1 && b[2] == 0x12 && b[3] == 0x20 {
		return int64(binary.BigEndian.Uint64(b[4:12]))
	}
	if dm, err := multihash.Decode(c.Hash()); err == nil && len(dm.Digest) >= 8 {
		return int64(binary.BigEndian.Uint64(dm.Digest[:8]))
	}
	var d [8]byte
	copy(d[:], b[len(b)-min(8, len(b)):])
	return int64(binary.BigEndian.Uint64(d[:]))
}

const (
	insertBlockSQL    = `INSERT INTO blocks (k, cid, data) VALUES (?, ?, ?) ON CONFLICT (k) DO NOTHING`
	cidAtKSQL         = `SELECT cid FROM blocks WHERE k = ?`
	insertOverflowSQL = `INSERT OR IGNORE INTO blocks_overflow (cid, data) VALUES (?, ?)`
	getBlockSQL       = `SELECT cid, data FROM blocks WHERE k = ?`
	getOverflowSQL    = `SELECT data FROM blocks_overflow WHERE cid = ?`
)

// blockWriter stores blocks inside one write transaction.
type blockWriter struct {
	ins, at, ov *sqlx.Stmt
}

func (s *Store) blockWriter(ctx context.Context, tx *sqlx.Tx) *blockWriter {
	return &blockWriter{
		ins: tx.StmtxContext(ctx, s.stmts.insertBlock),
		at:  tx.StmtxContext(ctx, s.stmts.cidAtK),
		ov:  tx.StmtxContext(ctx, s.stmts.insertOverflow),
	}
}

// put stores a block unless it is stored already: one unique-index insert
// in the common case; when the key is taken, a look at which CID holds it,
// and the overflow table if it is another one.
func (w *blockWriter) put(ctx context.Context, c cid.Cid, data []byte) error {
	cb := c.Bytes()
	k := blockKey(c)
	res, err := w.ins.ExecContext(ctx, k, cb, data)
	if err != nil {
		return fmt.Errorf("put block %s: %w", c, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	var have []byte
	if err := w.at.QueryRowxContext(ctx, k).Scan(&have); err != nil {
		return fmt.Errorf("put block %s: %w", c, err)
	}
	if bytes.Equal(have, cb) {
		return nil // stored already
	}
	if _, err := w.ov.ExecContext(ctx, cb, data); err != nil {
		return fmt.Errorf("put block %s: %w", c, err)
	}
	return nil
}

// putBlocks stores blocks that are not stored yet, inside tx.
func (s *Store) putBlocks(ctx context.Context, tx *sqlx.Tx, blocks []Block) error {
	w := s.blockWriter(ctx, tx)
	for _, b := range blocks {
		if err := w.put(ctx, b.CID, b.Data); err != nil {
			return err
		}
	}
	return nil
}

var errNoRows = sql.ErrNoRows

// txBlocks reads blocks through a transaction; it implements mst.BlockSource.
// When cache is set, blocks are looked up there first and added to it when
// read from the file.
type txBlocks struct {
	st    *sqlx.Stmt
	ov    *sqlx.Stmt
	many  *sqlx.Stmt // read transactions only: manyBlocksSQL
	cache *lru.Cache[cid.Cid, []byte]
	// overlay, when set, holds blocks written earlier in the transaction.
	overlay map[cid.Cid][]byte
}

// txBlocks reads blocks inside a write transaction.
func (s *Store) txBlocks(ctx context.Context, tx *sqlx.Tx) *txBlocks {
	return &txBlocks{st: tx.StmtxContext(ctx, s.stmts.getBlock), ov: tx.StmtxContext(ctx, s.stmts.getOverflow)}
}

// cachedBlocks reads MST nodes inside a write transaction through the node
// cache. Only blocks read from the file or written by committed
// transactions enter the cache.
func (s *Store) cachedBlocks(ctx context.Context, tx *sqlx.Tx) *txBlocks {
	b := s.txBlocks(ctx, tx)
	b.cache = s.nodeCache
	return b
}

// cacheNodes adds the MST nodes of a committed transaction to the cache.
func (s *Store) cacheNodes(blocks []Block) {
	if s.nodeCache == nil {
		return
	}
	for _, b := range blocks {
		s.nodeCache.Add(b.CID, b.Data)
	}
}

// viewBlocks reads blocks inside a read transaction.
func (s *Store) viewBlocks(ctx context.Context, tx *sqlx.Tx) *txBlocks {
	return &txBlocks{st: tx.StmtxContext(ctx, s.stmts.getBlockR), ov: tx.StmtxContext(ctx, s.stmts.getOverflowR),
		many: tx.StmtxContext(ctx, s.stmts.getManyR)}
}

// GetBlock returns the block's bytes. txBlocks reads the blocks that stored
// repos refer to (head commits, MST nodes, records), so a missing one is
// damage: the error wraps ErrCorrupt and, as the mst.BlockSource contract
// asks, mst.ErrNotFound; never ErrNotFound, which would read as a missing
// repo or record.
func (b *txBlocks) GetBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	if data, ok := b.overlay[c]; ok {
		return data, nil
	}
	if b.cache != nil {
		if data, ok := b.cache.Get(c); ok {
			return data, nil
		}
	}
	data, err := readBlock(ctx, b.st, b.ov, c)
	if errors.Is(err, ErrNotFound) {
		return nil, &missingBlockError{c: c}
	}
	if err != nil {
		return nil, err
	}
	if b.cache != nil {
		b.cache.Add(c, data)
	}
	return data, nil
}

// getMany returns the blocks among cids that are stored, with one query for
// all of them (a block in the overflow table costs one more).
func (b *txBlocks) getMany(ctx context.Context, cids []cid.Cid) (map[cid.Cid][]byte, error) {
	got := make(map[cid.Cid][]byte, len(cids))
	if err := fetchMany(ctx, b.many, cids, got); err != nil {
		return nil, fmt.Errorf("get blocks: %w", err)
	}
	for _, c := range cids {
		if _, ok := got[c]; ok {
			continue
		}
		data, err := readBlock(ctx, b.st, b.ov, c)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		got[c] = data
	}
	return got, nil
}

// missingBlockError reports a block that a stored repo refers to and the
// file lacks. It matches ErrCorrupt and mst.ErrNotFound (the mst.BlockSource
// contract for a block the source does not hold), not ErrNotFound.
type missingBlockError struct{ c cid.Cid }

func (e *missingBlockError) Error() string {
	return fmt.Sprintf("%v: block %s is missing", ErrCorrupt, e.c)
}

func (e *missingBlockError) Is(target error) bool {
	return target == ErrCorrupt || target == mst.ErrNotFound
}

// treeDamage marks as damage (ErrCorrupt) an error of a walk over a stored
// tree that reports a missing or malformed node: the tree reports those
// inside an *mst.NodeError wrapping mst.ErrMissingBlock or
// mst.ErrMalformedNode, and no longer carries the block source's error.
// Other errors (the context's, a bad write) are returned as they are.
func treeDamage(err error) error {
	if err == nil || errors.Is(err, ErrCorrupt) {
		return err
	}
	var ne *mst.NodeError
	if errors.As(err, &ne) && (errors.Is(err, mst.ErrMissingBlock) || errors.Is(err, mst.ErrMalformedNode)) {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return err
}

// readBlock looks c up by its key, then in the overflow table when another
// CID holds the key.
func readBlock(ctx context.Context, st, ov *sqlx.Stmt, c cid.Cid) ([]byte, error) {
	var have, data []byte
	cb := c.Bytes()
	err := st.QueryRowxContext(ctx, blockKey(c)).Scan(&have, &data)
	if err == nil && !bytes.Equal(have, cb) {
		err = ov.QueryRowxContext(ctx, cb).Scan(&data)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("block %s: %w", c, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get block %s: %w", c, err)
	}
	return data, nil
}

// GetBlock returns the bytes of the block c, or ErrNotFound.
func (s *Store) GetBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	return readBlock(ctx, s.stmts.getBlockR, s.stmts.getOverflowR, c)
}

// HasBlock reports whether the block c is stored.
func (s *Store) HasBlock(ctx context.Context, c cid.Cid) (bool, error) {
	_, err := s.GetBlock(ctx, c)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// GetBlocks returns the stored blocks among cids, in the order asked, from
// one consistent snapshot; missing CIDs are listed in missing.
func (s *Store) GetBlocks(ctx context.Context, cids []cid.Cid) (found []Block, missing []cid.Cid, err error) {
	done, err := s.enter()
	if err != nil {
		return nil, nil, err
	}
	defer done()
	err = s.view(ctx, func(tx *sqlx.Tx) error {
		got, err := s.viewBlocks(ctx, tx).getMany(ctx, cids)
		if err != nil {
			return err
		}
		for _, c := range cids {
			if data, ok := got[c]; ok {
				found = append(found, Block{CID: c, Data: data})
			} else {
				missing = append(missing, c)
			}
		}
		return nil
	})
	return found, missing, err
}

// stmts are the statements prepared once at Open for the hot paths.
type stmts struct {
	insertBlock    *sqlx.Stmt // on the write handle
	cidAtK         *sqlx.Stmt
	insertOverflow *sqlx.Stmt
	getBlock       *sqlx.Stmt // on the write handle, for reads inside commits
	getOverflow    *sqlx.Stmt
	getOverflowR   *sqlx.Stmt // on the read pool
	getManyR       *sqlx.Stmt
	eventsAll      *sqlx.Stmt
	eventsDID      *sqlx.Stmt
	repoByDID      *sqlx.Stmt
	repoByHandle   *sqlx.Stmt
	getRecord      *sqlx.Stmt
	listAsc        *sqlx.Stmt
	listDesc       *sqlx.Stmt
	listDescFrom   *sqlx.Stmt
	insertEvent    *sqlx.Stmt
	upsertRecord   *sqlx.Stmt
	deleteRecord   *sqlx.Stmt
	insertBlobRef  *sqlx.Stmt
	dropBlobRefs   *sqlx.Stmt
	head           *sqlx.Stmt
	moveHead       *sqlx.Stmt
	getBlockR      *sqlx.Stmt // on the read pool
	all            []*sqlx.Stmt
}

func prepareStmts(ctx context.Context, w, r *sqlx.DB) (*stmts, error) {
	st := &stmts{}
	var firstErr error
	prep := func(db *sqlx.DB, q string) *sqlx.Stmt {
		if firstErr != nil {
			return nil
		}
		p, err := db.PreparexContext(ctx, q)
		if err != nil {
			firstErr = fmt.Errorf("prepare %q: %w", q, err)
			return nil
		}
		st.all = append(st.all, p)
		return p
	}
	st.insertBlock = prep(w, insertBlockSQL)
	st.cidAtK = prep(w, cidAtKSQL)
	st.insertOverflow = prep(w, insertOverflowSQL)
	st.getBlock = prep(w, getBlockSQL)
	st.getOverflow = prep(w, getOverflowSQL)
	st.getOverflowR = prep(r, getOverflowSQL)
	st.getManyR = prep(r, manyBlocksSQL)
	st.eventsAll = prep(r, eventsAllSQL)
	st.eventsDID = prep(r, eventsDIDSQL)
	st.repoByDID = prep(r, repoByDIDSQL)
	st.repoByHandle = prep(r, repoByHandleSQL)
	st.getRecord = prep(r, getRecordSQL)
	st.listAsc = prep(r, listAscSQL)
	st.listDesc = prep(r, listDescSQL)
	st.listDescFrom = prep(r, listDescFromSQL)
	st.insertEvent = prep(w, insertEventSQL)
	st.upsertRecord = prep(w, upsertRecordSQL)
	st.deleteRecord = prep(w, deleteRecordSQL)
	st.insertBlobRef = prep(w, insertBlobRefSQL)
	st.dropBlobRefs = prep(w, dropBlobRefsSQL)
	st.head = prep(w, headSQL)
	st.moveHead = prep(w, moveHeadSQL)
	st.getBlockR = prep(r, getBlockSQL)
	if firstErr != nil {
		st.close()
		return nil, firstErr
	}
	return st, nil
}

func (st *stmts) close() error {
	var first error
	for _, p := range st.all {
		if err := p.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
