package sqlstore

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strconv"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/atlite-dev/atlite/internal/storage"
)

// BlockKey is the blocks.k column for c: the first 8 bytes of its digest,
// as a signed big-endian integer. Two CIDs sharing a key cannot both be in
// blocks: the second goes to blocks_overflow.
func BlockKey(c cid.Cid) int64 {
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

var (
	insertBlockSQL    = Q(`INSERT INTO blocks (k, cid, data) VALUES (?, ?, ?) ON CONFLICT (k) DO NOTHING`)
	cidAtKSQL         = Q(`SELECT cid FROM blocks WHERE k = ?`)
	insertOverflowSQL = Q(`INSERT INTO blocks_overflow (cid, data) VALUES (?, ?) ON CONFLICT DO NOTHING`)
	getBlockSQL       = Q(`SELECT cid, data FROM blocks WHERE k = ?`)
	getOverflowSQL    = Q(`SELECT data FROM blocks_overflow WHERE cid = ?`)
)

// GetBlock implements storage.BlockReader: a look-up by key, then in the
// overflow table when another CID holds the key.
func (t *Tx) GetBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	st, err := t.prep(ctx, getBlockSQL)
	if err != nil {
		return nil, err
	}
	var have, data []byte
	cb := c.Bytes()
	err = st.QueryRowxContext(ctx, BlockKey(c)).Scan(&have, &data)
	if err == nil && !bytes.Equal(have, cb) {
		st, perr := t.prep(ctx, getOverflowSQL)
		if perr != nil {
			return nil, perr
		}
		err = st.QueryRowxContext(ctx, cb).Scan(&data)
	}
	if err = notFound(err); errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("block %s: %w", c, storage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get block %s: %w", c, err)
	}
	return data, nil
}

// GetBlocks implements storage.BlockReader, with one query for all the
// blocks (a block in the overflow table costs one more).
func (t *Tx) GetBlocks(ctx context.Context, cids []cid.Cid, into map[cid.Cid][]byte) error {
	if len(cids) == 0 {
		return nil
	}
	byCID := make(map[string]cid.Cid, len(cids))
	list := make([]byte, 0, 1+21*len(cids))
	list = append(list, '[')
	for i, c := range cids {
		byCID[c.KeyString()] = c
		if i > 0 {
			list = append(list, ',')
		}
		list = strconv.AppendInt(list, BlockKey(c), 10)
	}
	list = append(list, ']')
	st, err := t.prep(ctx, t.db.D.ManyBlocksSQL)
	if err != nil {
		return err
	}
	rows, err := st.QueryxContext(ctx, string(list))
	if err != nil {
		return fmt.Errorf("get blocks: %w", err)
	}
	defer rows.Close()
	found := 0
	for rows.Next() {
		var cb, data []byte
		if err := rows.Scan(&cb, &data); err != nil {
			return fmt.Errorf("get blocks: %w", err)
		}
		if c, ok := byCID[string(cb)]; ok {
			// A key listed twice (a CID asked twice, or two CIDs of one
			// key) may give its row twice, if the query joins the list to
			// blocks: count each CID once.
			if _, had := into[c]; !had {
				found++
			}
			into[c] = data
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("get blocks: %w", err)
	}
	if found == len(byCID) {
		return nil
	}
	for _, c := range cids {
		if _, ok := into[c]; ok {
			continue
		}
		data, err := t.GetBlock(ctx, c)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		into[c] = data
	}
	return nil
}

var (
	blockIDSQL    = Q(`SELECT cid, id FROM blocks WHERE k = ?`)
	blocksByIDSQL = Q(`SELECT cid, data FROM blocks WHERE id BETWEEN ? AND ?`)
)

// BlockIDs implements storage.BlockReader, with one look-up by key a
// block: it serves to find the ends of a range for GetBlocksByID, a few
// blocks at a time.
func (t *Tx) BlockIDs(ctx context.Context, cids []cid.Cid, into map[cid.Cid]int64) error {
	if len(cids) == 0 {
		return nil
	}
	st, err := t.prep(ctx, blockIDSQL)
	if err != nil {
		return err
	}
	for _, c := range cids {
		var have []byte
		var id int64
		err := st.QueryRowxContext(ctx, BlockKey(c)).Scan(&have, &id)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return fmt.Errorf("block id %s: %w", c, err)
		}
		if string(have) == c.KeyString() {
			into[c] = id
		}
	}
	return nil
}

// GetBlocksByID implements storage.BlockReader. The rows of the range are
// matched with cids by their CID; a row no CID of cids names costs its
// read only.
func (t *Tx) GetBlocksByID(ctx context.Context, lo, hi int64, cids []cid.Cid, into map[cid.Cid][]byte) error {
	if len(cids) == 0 || lo > hi {
		return nil
	}
	byCID := make(map[string]cid.Cid, len(cids))
	for _, c := range cids {
		byCID[c.KeyString()] = c
	}
	st, err := t.prep(ctx, blocksByIDSQL)
	if err != nil {
		return err
	}
	rows, err := st.QueryxContext(ctx, lo, hi)
	if err != nil {
		return fmt.Errorf("get blocks by id: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		// Neither column is copied until the row is known to be wanted.
		var cb, data sql.RawBytes
		if err := rows.Scan(&cb, &data); err != nil {
			return fmt.Errorf("get blocks by id: %w", err)
		}
		if c, ok := byCID[string(cb)]; ok {
			if t.db.D.FreshBlobs {
				into[c] = []byte(data)
			} else {
				into[c] = bytes.Clone(data)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("get blocks by id: %w", err)
	}
	return nil
}

// PutBlocks implements storage.BlockWriter: one unique-index insert per
// block in the common case; when the key is taken, a look at which CID
// holds it, and the overflow table if it is another one.
func (t *Tx) PutBlocks(ctx context.Context, blocks []storage.Block) error {
	return t.putBlocks(ctx, blocks, nil)
}

// putBlocks is PutBlocks; when ids is not nil, it also gets the row id of
// each block it inserts one statement at a time (the others: a block
// stored already, or a backend that inserts several in one statement,
// are left to a look-up by key).
func (t *Tx) putBlocks(ctx context.Context, blocks []storage.Block, ids map[cid.Cid]int64) error {
	ins, err := t.prep(ctx, insertBlockSQL)
	if err != nil {
		return err
	}
	if t.db.D.SortBlocks && len(blocks) > 1 {
		blocks = slices.Clone(blocks)
		slices.SortFunc(blocks, func(a, b storage.Block) int { return cmp.Compare(BlockKey(a.CID), BlockKey(b.CID)) })
	}
	if t.db.D.MultiRowBlocks && len(blocks) > 1 {
		return t.putBlocksMultiRow(ctx, blocks)
	}
	for _, b := range blocks {
		cb := b.CID.Bytes()
		k := BlockKey(b.CID)
		res, err := ins.ExecContext(ctx, k, cb, b.Data)
		if err != nil {
			return fmt.Errorf("put block %s: %w", b.CID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 1 {
			if ids != nil {
				if id, err := res.LastInsertId(); err == nil {
					ids[b.CID] = id
				}
			}
			continue
		}
		var have []byte
		if err := t.get(ctx, &have, cidAtKSQL, k); err != nil {
			return fmt.Errorf("put block %s: %w", b.CID, err)
		}
		if bytes.Equal(have, cb) {
			continue // stored already
		}
		if _, err := t.exec(ctx, insertOverflowSQL, cb, b.Data); err != nil {
			return fmt.Errorf("put block %s: %w", b.CID, err)
		}
	}
	return nil
}

// multiRowBlocksSQL[i] inserts 1<<i blocks in one statement, returning the
// CIDs it stored (a block whose key is taken is skipped).
var multiRowBlocksSQL = func() []string {
	var qs []string
	for n := 1; n <= maxMultiRowBlocks; n *= 2 {
		qs = append(qs, Q(`INSERT INTO blocks (k, cid, data) VALUES `+values("(?, ?, ?)", n)+` ON CONFLICT (k) DO NOTHING RETURNING cid`))
	}
	return qs
}()

// maxMultiRowBlocks is the most blocks one statement of putBlocksMultiRow
// inserts.
const maxMultiRowBlocks = 64

// putBlocksMultiRow is PutBlocks in statements of 1, 2, 4 ... 64 blocks
// (a commit of 10 blocks: 2 statements, where one a block took 10 round
// trips to a database server); the blocks whose key was taken go to
// putTaken, 100 at a time.
func (t *Tx) putBlocksMultiRow(ctx context.Context, blocks []storage.Block) error {
	var taken []storage.Block
	args := make([]any, 0, 3*min(len(blocks), maxMultiRowBlocks))
	for len(blocks) > 0 {
		i := bits.Len(uint(min(len(blocks), maxMultiRowBlocks))) - 1
		chunk := blocks[:1<<i]
		blocks = blocks[1<<i:]
		args = args[:0]
		for _, b := range chunk {
			args = append(args, BlockKey(b.CID), b.CID.Bytes(), b.Data)
		}
		var err error
		if taken, err = t.insertBlocks(ctx, multiRowBlocksSQL[i], chunk, args, taken); err != nil {
			return fmt.Errorf("put blocks: %w", err)
		}
	}
	for len(taken) > 0 {
		n := min(len(taken), ImportBatch)
		if err := t.putTaken(ctx, taken[:n]); err != nil {
			return err
		}
		taken = taken[n:]
	}
	return nil
}

var (
	maxBlockIDSQL   = Q(`SELECT coalesce(max(id), 0) FROM blocks`)
	blockKeysSQL    = Q(`SELECT id, k, length(data) AS size FROM blocks WHERE id > ? AND id <= ? ORDER BY id LIMIT ?`)
	overflowKeysSQL = Q(`SELECT cid, length(data) AS size FROM blocks_overflow`)
	deleteBlockSQL  = Q(`DELETE FROM blocks WHERE id = ? AND k = ?`)
	deleteOverSQL   = Q(`DELETE FROM blocks_overflow WHERE cid = ?`)
)

// MaxBlockID implements storage.BlockSweeper.
func (t *Tx) MaxBlockID(ctx context.Context) (int64, error) {
	var id int64
	if err := t.get(ctx, &id, maxBlockIDSQL); err != nil {
		return 0, fmt.Errorf("max block id: %w", err)
	}
	return id, nil
}

// BlockKeys implements storage.BlockSweeper.
func (t *Tx) BlockKeys(ctx context.Context, after, through int64, limit int) ([]storage.BlockKey, error) {
	var rows []storage.BlockKey
	if err := t.sel(ctx, &rows, blockKeysSQL, after, through, limit); err != nil {
		return nil, fmt.Errorf("block keys: %w", err)
	}
	return rows, nil
}

// OverflowKeys implements storage.BlockSweeper.
func (t *Tx) OverflowKeys(ctx context.Context) ([]storage.BlockKey, error) {
	var rows []storage.BlockKey
	if err := t.sel(ctx, &rows, overflowKeysSQL); err != nil {
		return nil, fmt.Errorf("overflow keys: %w", err)
	}
	for i := range rows {
		c, err := cid.Cast(rows[i].CID)
		if err != nil {
			return nil, fmt.Errorf("overflow block %x: %w", rows[i].CID, err)
		}
		rows[i].K = BlockKey(c)
	}
	return rows, nil
}

// LockBlocks implements storage.BlockWriter with the dialect's
// LockBlocksSQL, run without preparing it (a lock is not a statement every
// database prepares).
func (t *Tx) LockBlocks(ctx context.Context) error {
	if t.db.D.LockBlocksSQL == "" {
		return nil
	}
	if _, err := t.tx.ExecContext(ctx, t.db.D.LockBlocksSQL); err != nil {
		return fmt.Errorf("lock blocks: %w", err)
	}
	return nil
}

// DeleteBlocks implements storage.BlockWriter, a prepared delete a row.
func (t *Tx) DeleteBlocks(ctx context.Context, rows []storage.BlockKey) (n, size int64, err error) {
	for _, r := range rows {
		var res sql.Result
		if r.CID != nil {
			res, err = t.exec(ctx, deleteOverSQL, r.CID)
		} else {
			res, err = t.exec(ctx, deleteBlockSQL, r.ID, r.K)
		}
		if err != nil {
			return n, size, fmt.Errorf("delete block %d: %w", r.ID, err)
		}
		d, err := res.RowsAffected()
		if err != nil {
			return n, size, err
		}
		if d > 0 {
			n++
			size += r.Size
		}
	}
	return n, size, nil
}
