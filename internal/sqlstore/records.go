package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/atlite-dev/atlite/internal/storage"
)

var (
	// records.cid is NULL for a record whose block is the blocks row at
	// records.k (all but a record whose key another CID holds, in
	// blocks_overflow): the CID comes from that row, whose id is records.b.
	// The join is by id (one table seek, not a blocks_k seek and a table
	// seek) and asks for k too, so that a b and a k naming different blocks
	// read as a record without its block.
	recordColumns = `SELECT r.collection, r.rkey, coalesce(r.cid, b.cid) AS cid, coalesce(b.data, o.data) AS data FROM `
	recordBlocks  = `
LEFT JOIN blocks b ON b.id = r.b AND b.k = r.k AND r.cid IS NULL
LEFT JOIN blocks_overflow o ON b.id IS NULL AND o.cid = r.cid
`
	// recordCIDValue is the records.cid a writer stores for the CID bound
	// to it, once the record's block is stored: NULL unless the block is in
	// blocks_overflow.
	recordCIDValue = `(SELECT o.cid FROM blocks_overflow o WHERE o.cid = ?)`
	// recordBlockValue is the records.b a writer stores for the id and the
	// key bound to it, once the record's block is stored: the id of the
	// blocks row at that key, which holds the record's CID unless
	// records.cid is set. The id is that of the block the writer just
	// inserted, or NULL: then a seek in blocks_k finds it.
	recordBlockValue = `coalesce(?, (SELECT x.id FROM blocks x WHERE x.k = ?))`

	// getRecordSQL reads the repo's status with the record: one statement
	// answers a read that serves active repos only, and tells a missing
	// record (a row without one) from a missing repo (no row).
	getRecordSQL = Q(`SELECT coalesce(p.status, ''), r.collection, r.rkey, coalesce(r.cid, b.cid), coalesce(b.data, o.data) FROM repos p
LEFT JOIN records r ON r.repo = p.id AND r.collection = ? AND r.rkey = ?` + recordBlocks + `WHERE p.did = ?`)
	listWhere           = `WHERE r.repo = (SELECT id FROM repos WHERE did = ?) AND r.collection = ?`
	listAscSQL          = Q(recordColumns + `records r` + recordBlocks + listWhere + ` AND r.rkey > ? ORDER BY r.rkey LIMIT ?`)
	listDescFromSQL     = Q(recordColumns + `records r` + recordBlocks + listWhere + ` AND r.rkey < ? ORDER BY r.rkey DESC LIMIT ?`)
	listDescSQL         = Q(recordColumns + `records r` + recordBlocks + listWhere + ` ORDER BY r.rkey DESC LIMIT ?`)
	repoRecordsSQL      = Q(`SELECT r.rkey, coalesce(r.cid, b.cid), coalesce(b.data, o.data) FROM records r` + recordBlocks + `WHERE r.repo = ? AND r.collection = ? AND r.rkey >= ? ORDER BY r.rkey LIMIT ?`)
	repoRecordsAfterSQL = Q(`SELECT r.rkey, coalesce(r.cid, b.cid), coalesce(b.data, o.data) FROM records r` + recordBlocks + `WHERE r.repo = ? AND r.collection = ? AND r.rkey > ? ORDER BY r.rkey LIMIT ?`)
)

// Record implements storage.RecordReader. It scans the row itself, without
// reflection: getRecord runs it once a request.
func (t *Tx) Record(ctx context.Context, did, collection, rkey string) (string, storage.RecordRow, error) {
	var r storage.RecordRow
	st, err := t.prep(ctx, getRecordSQL)
	if err != nil {
		return "", r, err
	}
	ctx, err = pointRead(ctx)
	if err != nil {
		return "", r, err
	}
	var status string
	var coll, key sql.NullString
	if err := st.QueryRowContext(ctx, collection, rkey, did).Scan(&status, &coll, &key, &r.CID, &r.Data); err != nil {
		return "", storage.RecordRow{}, notFound(err)
	}
	r.Collection, r.RKey = coll.String, key.String
	return status, r, nil
}

// Records implements storage.RecordReader.
func (t *Tx) Records(ctx context.Context, q storage.RecordsQuery) ([]storage.RecordRow, error) {
	query, args := listAscSQL, []any{q.DID, q.Collection, q.After, q.Limit}
	switch {
	case !q.Reverse:
	case q.After != "":
		query = listDescFromSQL
	default:
		query, args = listDescSQL, []any{q.DID, q.Collection, q.Limit}
	}
	st, err := t.prep(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args...)
	out, err := scanRecords(rows, err, q.Limit, func(r *storage.RecordRow) []any {
		return []any{&r.Collection, &r.RKey, &r.CID, &r.Data}
	})
	if err != nil {
		return nil, fmt.Errorf("records: %w", err)
	}
	return out, nil
}

// RepoRecords implements storage.RecordReader.
func (t *Tx) RepoRecords(ctx context.Context, repo int64, collection, from string, after bool, limit int) ([]storage.RecordRow, error) {
	q := repoRecordsSQL
	if after {
		q = repoRecordsAfterSQL
	}
	st, err := t.prep(ctx, q)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, repo, collection, from, limit)
	out, err := scanRecords(rows, err, limit, func(r *storage.RecordRow) []any {
		r.Collection = collection
		return []any{&r.RKey, &r.CID, &r.Data}
	})
	if err != nil {
		return nil, fmt.Errorf("repo records: %w", err)
	}
	return out, nil
}

// scanRecords reads the rows of a records query (err: the query's), at
// most limit, scanned by hand (no sqlx reflection, which export and
// listRecords would pay a row) into the fields of one RecordRow that dest
// names, copied out after each row: Scan gives each row new strings and
// slices, and overwrites every field it names.
func scanRecords(rows *sql.Rows, err error, limit int, dest func(*storage.RecordRow) []any) ([]storage.RecordRow, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]storage.RecordRow, 0, max(0, min(limit, 1024)))
	var r storage.RecordRow
	fields := dest(&r)
	for rows.Next() {
		if err := rows.Scan(fields...); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// recordRow is the VALUES row of a records insert (repo, collection, rkey,
// cid, k, b), whose recordRowArgs arguments recordArgs gives.
var recordRow = `(?, ?, ?, ` + recordCIDValue + `, ?, ` + recordBlockValue + `)`

// recordRowArgs is the number of arguments of recordRow.
const recordRowArgs = 7

// recordArgs returns the arguments of recordRow for the record at
// collection/rkey of repo whose CID is cb, with block key k; id is the
// row id of the block, if the caller has it, or nil.
func recordArgs(repo int64, collection, rkey string, cb []byte, k int64, id any) []any {
	return []any{repo, collection, rkey, cb, k, id, k}
}
