package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/internal/storage"
)

// ImportBatch is the number of rows of one batched insert of an import
// streamed from its staging file (the rows left over go one by one).
const ImportBatch = 100

// values returns n copies of the row of placeholders, comma-separated.
func values(row string, n int) string {
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

var (
	countRecordsSQL  = Q(`SELECT count(*) FROM records WHERE repo = ?`)
	recordKeysSQL    = Q(`SELECT k FROM records WHERE repo = ? LIMIT ?`)
	recordKeyCIDsSQL = Q(`SELECT k, cid FROM records WHERE repo = ?`)
	// A NULL records.cid is the CID of the blocks row at k.
	repeatedRecordsSQL = Q(`SELECT coalesce(g.cid, (SELECT b.cid FROM blocks b WHERE b.k = g.k)) FROM
(SELECT k, cid FROM records WHERE repo = ? GROUP BY k, cid HAVING count(*) > 1) g`)
	commitEventAtSQL = Q(`SELECT seq, did, kind, time, rev, body FROM events WHERE did = ? AND kind IN ('commit', 'sync') AND rev = ? ORDER BY seq DESC LIMIT 1`)
	reposAfterIDSQL  = Q(`SELECT ` + repoColumns + ` FROM repos WHERE id > ? ORDER BY id LIMIT ?`)
	eventSeqsSQL     = Q(`SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), 0) FROM events`)

	importRepoSQL = Q(`INSERT INTO repos (did, handle, head, data, rev, signing_key, key_encrypted, created, updated, signing_pub)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`)
	dropRecordsSQL      = Q(`DELETE FROM records WHERE repo = ?`)
	dropRepoBlobRefsSQL = Q(`DELETE FROM blob_refs WHERE repo = ?`)
	replaceKeySQL       = Q(`UPDATE repos SET signing_key = ?, rotation_key = ?, key_encrypted = ?, signing_pub = ? WHERE id = ?`)
	setSigningPubSQL    = Q(`UPDATE repos SET signing_pub = ? WHERE id = ?`)

	importBlocksSQL   = Q(`INSERT INTO blocks (k, cid, data) VALUES ` + values("(?, ?, ?)", ImportBatch) + ` ON CONFLICT (k) DO NOTHING RETURNING cid`)
	importRecordsSQL  = Q(`INSERT INTO records (repo, collection, rkey, cid, k, b) VALUES ` + values(recordRow, ImportBatch) + ` ON CONFLICT (repo, collection, rkey) DO UPDATE SET cid = excluded.cid, k = excluded.k, b = excluded.b`)
	cidsAtKSQL        = Q(`SELECT k, cid FROM blocks WHERE k IN (` + values("?", ImportBatch) + `)`)
	importBlobRefsSQL = Q(`INSERT INTO blob_refs (repo, path, cid, rev) VALUES ` + values("(?, ?, ?, ?)", ImportBatch) + ` ON CONFLICT DO NOTHING`)
)

// CountRecords implements storage.ImportReader.
func (t *Tx) CountRecords(ctx context.Context, repo int64) (int, error) {
	var n int
	err := t.get(ctx, &n, countRecordsSQL, repo)
	return n, err
}

// RepeatedRecords implements storage.ImportReader. Up to
// RepeatedRecordsInMemory records, it reads the repo's record keys and
// sorts them here (8 bytes a record), then reads the CIDs of the few keys
// found twice, if any: several times faster than the GROUP BY, which sorts
// every (k, cid) row in the database engine and is used for larger repos.
func (t *Tx) RepeatedRecords(ctx context.Context, repo int64) ([][]byte, error) {
	ks, err := t.recordKeys(ctx, repo, RepeatedRecordsInMemory+1)
	if err != nil {
		return nil, err
	}
	var cids [][]byte
	if len(ks) > RepeatedRecordsInMemory {
		err := t.sel(ctx, &cids, repeatedRecordsSQL, repo)
		return cids, err
	}
	slices.Sort(ks)
	dup := map[int64]struct{}{}
	for i := 1; i < len(ks); i++ {
		if ks[i] == ks[i-1] {
			dup[ks[i]] = struct{}{}
		}
	}
	if len(dup) == 0 {
		return nil, nil
	}
	// The CIDs held more than once among the records of those keys.
	st, err := t.prep(ctx, recordKeyCIDsSQL)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, repo)
	if err != nil {
		return nil, fmt.Errorf("repeated records: %w", err)
	}
	defer rows.Close()
	// A NULL cid (most rows) is the CID of the blocks row at k.
	type keyCID struct {
		k   int64
		cid string
	}
	times := map[keyCID]int{}
	for rows.Next() {
		var k int64
		var c []byte
		if err := rows.Scan(&k, &c); err != nil {
			return nil, fmt.Errorf("repeated records: %w", err)
		}
		if _, ok := dup[k]; ok {
			times[keyCID{k, string(c)}]++
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("repeated records: %w", err)
	}
	rows.Close()
	for kc, n := range times {
		if n < 2 {
			continue
		}
		c := []byte(kc.cid)
		if kc.cid == "" {
			if err := t.get(ctx, &c, cidAtKSQL, kc.k); err != nil {
				return nil, fmt.Errorf("repeated records: %w", err)
			}
		}
		cids = append(cids, c)
	}
	return cids, nil
}

// RepeatedRecordsInMemory is the most record keys RepeatedRecords sorts
// in memory (8 MiB); a variable for the tests.
var RepeatedRecordsInMemory = 1 << 20

// recordKeys returns the blocks.k of up to limit records of the repo.
func (t *Tx) recordKeys(ctx context.Context, repo int64, limit int) ([]int64, error) {
	st, err := t.prep(ctx, recordKeysSQL)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, repo, limit)
	if err != nil {
		return nil, fmt.Errorf("record keys: %w", err)
	}
	defer rows.Close()
	var ks []int64
	for rows.Next() {
		var k int64
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("record keys: %w", err)
		}
		ks = append(ks, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("record keys: %w", err)
	}
	return ks, nil
}

// CommitEventAt implements storage.ImportReader.
func (t *Tx) CommitEventAt(ctx context.Context, did, rev string) (storage.EventRow, error) {
	var e storage.EventRow
	err := t.get(ctx, &e, commitEventAtSQL, did, rev)
	return e, err
}

// ReposAfterID implements storage.ImportReader.
func (t *Tx) ReposAfterID(ctx context.Context, after int64, limit int) ([]storage.RepoRow, error) {
	var rows []storage.RepoRow
	err := t.sel(ctx, &rows, reposAfterIDSQL, after, limit)
	return rows, err
}

// EventSeqs implements storage.ImportReader.
func (t *Tx) EventSeqs(ctx context.Context) (n, lowest, highest int64, err error) {
	st, err := t.prep(ctx, eventSeqsSQL)
	if err != nil {
		return 0, 0, 0, err
	}
	err = st.QueryRowxContext(ctx).Scan(&n, &lowest, &highest)
	return n, lowest, highest, err
}

// IntegrityCheck implements storage.ImportReader with the dialect's
// IntegrityCheckSQL (none: no problem).
func (t *Tx) IntegrityCheck(ctx context.Context) (string, error) {
	if t.db.D.IntegrityCheckSQL == "" {
		return "", nil
	}
	var res string
	if err := t.get(ctx, &res, t.db.D.IntegrityCheckSQL); err != nil {
		return "", err
	}
	if res == "ok" {
		return "", nil
	}
	return res, nil
}

// ReplaceSigningKey implements storage.ImportWriter.
func (t *Tx) ReplaceSigningKey(ctx context.Context, repo int64, signingKey, rotationKey []byte, encrypted bool, pub string) error {
	_, err := t.exec(ctx, replaceKeySQL, signingKey, rotationKey, boolInt(encrypted), pub, repo)
	return err
}

// SetSigningPub implements storage.ImportWriter.
func (t *Tx) SetSigningPub(ctx context.Context, repo int64, pub string) error {
	_, err := t.exec(ctx, setSigningPubSQL, pub, repo)
	return err
}

// ImportRepo implements storage.ImportWriter: the repo row first (the
// record index refers to it), then the staged rows, copied from the
// attached staging file with the dialect's StageImport statements when the
// Update attached it, streamed from c.Staged in batches otherwise.
func (t *Tx) ImportRepo(ctx context.Context, c *storage.ImportChange) (int64, error) {
	id := c.Repo
	if id == 0 {
		n := c.New
		if err := t.get(ctx, &id, importRepoSQL, n.DID, n.Handle, c.Head.Bytes(), c.Data.Bytes(), c.Rev,
			n.SigningKey, boolInt(n.KeyEncrypted), c.Time, c.Time, n.SigningPub); err != nil {
			return 0, fmt.Errorf("insert repo: %w", err)
		}
	} else {
		if _, err := t.exec(ctx, moveHeadSQL, c.Head.Bytes(), c.Data.Bytes(), c.Rev, c.Time, id); err != nil {
			return 0, fmt.Errorf("move head: %w", err)
		}
		for _, q := range []string{dropRecordsSQL, dropRepoBlobRefsSQL} {
			if _, err := t.exec(ctx, q, id); err != nil {
				return 0, err
			}
		}
	}
	var err error
	if si := t.db.D.StageImport; t.attached && si != nil {
		err = t.copyStage(ctx, si, c.Staged, id, c.Rev)
	} else {
		err = t.streamStage(ctx, c.Staged, id, c.Rev)
	}
	if err != nil {
		return 0, fmt.Errorf("copy staged rows: %w", err)
	}
	return id, nil
}

// copyStage copies the staged rows from the attached staging file. The
// overflow query (a join of every staged block with blocks) runs only when
// some staged block was not inserted (its key taken), and the blob
// references only when some were staged.
func (t *Tx) copyStage(ctx context.Context, si *StageImport, s storage.Staged, repo int64, rev string) error {
	blocks, refs := s.Counts()
	if si.CopyCacheKiB > 0 {
		restore, err := t.CapCache(ctx, si.CopyCacheKiB)
		if err != nil {
			return err
		}
		defer restore()
	}
	var base int64
	if err := t.tx.QueryRowxContext(ctx, maxBlockIDSQL).Scan(&base); err != nil {
		return err
	}
	res, err := t.tx.ExecContext(ctx, si.Blocks, base)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	all := n == int64(blocks)
	if !all {
		if _, err := t.tx.ExecContext(ctx, si.Overflow); err != nil {
			return err
		}
	}
	if _, err := t.tx.ExecContext(ctx, si.Records, repo, base, all); err != nil {
		return err
	}
	if refs > 0 {
		if _, err := t.tx.ExecContext(ctx, si.BlobRefs, repo, rev); err != nil {
			return err
		}
	}
	return nil
}

// CapCache lowers the page cache of the main database on t's connection
// to at most kib KiB (SQLite), and returns the function that sets it back.
func (t *Tx) CapCache(ctx context.Context, kib int) (func(), error) {
	var prev int64
	if err := t.tx.QueryRowxContext(ctx, "PRAGMA main.cache_size").Scan(&prev); err != nil {
		return nil, fmt.Errorf("cache size: %w", err)
	}
	have := -prev // negative: KiB; positive: pages
	if prev > 0 {
		var pageSize int64
		if err := t.tx.QueryRowxContext(ctx, "PRAGMA main.page_size").Scan(&pageSize); err != nil {
			return nil, fmt.Errorf("page size: %w", err)
		}
		have = prev * pageSize / 1024
	}
	if have <= int64(kib) {
		return func() {}, nil
	}
	if _, err := t.tx.ExecContext(ctx, fmt.Sprintf("PRAGMA main.cache_size = %d", -kib)); err != nil {
		return nil, fmt.Errorf("cache size: %w", err)
	}
	return func() {
		// The pragma is no part of the transaction: set it back whether
		// the copy went through or not, even when ctx is done.
		_, _ = t.tx.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("PRAGMA main.cache_size = %d", prev))
	}, nil
}

// streamStage stores the rows of s with batched inserts: ImportBatch rows a
// statement, the rest one by one.
func (t *Tx) streamStage(ctx context.Context, s storage.Staged, repo int64, rev string) error {
	// Blocks: a block whose key is taken (by itself, stored already, or by
	// another CID) is not returned by the batch and goes through
	// PutBlocks, which sorts out which.
	var batch []storage.Block
	args := make([]any, 0, 3*ImportBatch)
	flushBlocks := func() error {
		if len(batch) < ImportBatch {
			err := t.PutBlocks(ctx, batch)
			batch, args = batch[:0], args[:0]
			return err
		}
		rest, err := t.insertBlocks(ctx, importBlocksSQL, batch, args, nil)
		batch, args = batch[:0], args[:0]
		if err != nil {
			return err
		}
		return t.putTaken(ctx, rest)
	}
	err := s.ForEachBlock(ctx, func(k int64, cb, data []byte) error {
		c, err := cid.Cast(cb)
		if err != nil {
			return fmt.Errorf("staged block %x: %w", cb, err)
		}
		batch = append(batch, storage.Block{CID: c, Data: data})
		args = append(args, k, cb, data)
		if len(batch) == ImportBatch {
			return flushBlocks()
		}
		return nil
	})
	if err == nil {
		err = flushBlocks()
	}
	if err != nil {
		return fmt.Errorf("blocks: %w", err)
	}

	recs := newBatcher(t, importRecordsSQL, upsertRecordSQL, recordRowArgs)
	err = s.ForEachRecord(ctx, func(coll, rkey string, cb []byte, k int64) error {
		return recs.add(ctx, recordArgs(repo, coll, rkey, cb, k, nil)...)
	})
	if err == nil {
		err = recs.flush(ctx)
	}
	if err != nil {
		return fmt.Errorf("records: %w", err)
	}

	refs := newBatcher(t, importBlobRefsSQL, insertBlobRefSQL, 4)
	err = s.ForEachBlobRef(ctx, func(path string, blob []byte) error {
		return refs.add(ctx, repo, path, blob, rev)
	})
	if err == nil {
		err = refs.flush(ctx)
	}
	if err != nil {
		return fmt.Errorf("blob refs: %w", err)
	}
	return nil
}

// insertBlocks runs q, a multi-row insert of blocks that returns the CIDs
// it stored (ON CONFLICT (k) DO NOTHING RETURNING cid), with args, the
// (k, cid, data) of blocks, and appends to taken the blocks it did not
// store: their key was taken, by themselves or by another CID (putTaken
// sorts out which).
func (t *Tx) insertBlocks(ctx context.Context, q string, blocks []storage.Block, args []any, taken []storage.Block) ([]storage.Block, error) {
	st, err := t.prep(ctx, q)
	if err != nil {
		return taken, err
	}
	rows, err := st.QueryxContext(ctx, args...)
	if err != nil {
		return taken, err
	}
	stored := make(map[string]bool, len(blocks))
	for rows.Next() {
		var cb []byte
		if err := rows.Scan(&cb); err != nil {
			rows.Close()
			return taken, err
		}
		stored[string(cb)] = true
	}
	if err := rows.Close(); err != nil {
		return taken, err
	}
	if err := rows.Err(); err != nil {
		return taken, err
	}
	for _, b := range blocks {
		if !stored[b.CID.KeyString()] {
			taken = append(taken, b)
		}
	}
	return taken, nil
}

// putTaken stores blocks whose key was taken when a batch was inserted:
// one query finds which CIDs hold their keys; a block stored already is
// left, one whose key another CID holds goes to blocks_overflow.
func (t *Tx) putTaken(ctx context.Context, blocks []storage.Block) error {
	if len(blocks) == 0 {
		return nil
	}
	args := make([]any, ImportBatch)
	for i := range args {
		args[i] = BlockKey(blocks[min(i, len(blocks)-1)].CID) // padded with the last key
	}
	st, err := t.prep(ctx, cidsAtKSQL)
	if err != nil {
		return err
	}
	rows, err := st.QueryxContext(ctx, args...)
	if err != nil {
		return err
	}
	atK := make(map[int64]string, len(blocks))
	for rows.Next() {
		var k int64
		var cb []byte
		if err := rows.Scan(&k, &cb); err != nil {
			rows.Close()
			return err
		}
		atK[k] = string(cb)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, b := range blocks {
		have, ok := atK[BlockKey(b.CID)]
		switch {
		case !ok:
			// Not expected (the key was taken): the one-block path decides.
			if err := t.PutBlocks(ctx, []storage.Block{b}); err != nil {
				return err
			}
		case have == b.CID.KeyString():
			// Stored already.
		default:
			if _, err := t.exec(ctx, insertOverflowSQL, b.CID.Bytes(), b.Data); err != nil {
				return fmt.Errorf("put block %s: %w", b.CID, err)
			}
		}
	}
	return nil
}

// batcher runs the rows added to it as statements of ImportBatch rows
// (full), and the rows left at flush one by one (one).
type batcher struct {
	t         *Tx
	full, one string
	width     int
	args      []any
}

func newBatcher(t *Tx, full, one string, width int) *batcher {
	return &batcher{t: t, full: full, one: one, width: width, args: make([]any, 0, width*ImportBatch)}
}

// add adds a row of b.width arguments.
func (b *batcher) add(ctx context.Context, row ...any) error {
	b.args = append(b.args, row...)
	if len(b.args) < b.width*ImportBatch {
		return nil
	}
	_, err := b.t.exec(ctx, b.full, b.args...)
	b.args = b.args[:0]
	return err
}

// flush runs the rows left.
func (b *batcher) flush(ctx context.Context) error {
	for i := 0; i < len(b.args); i += b.width {
		if _, err := b.t.exec(ctx, b.one, b.args[i:i+b.width]...); err != nil {
			return err
		}
	}
	b.args = b.args[:0]
	return nil
}
