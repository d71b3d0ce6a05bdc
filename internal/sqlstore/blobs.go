package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/atlite-dev/atlite/internal/storage"
)

var (
	blobSQL = Q(`SELECT id, cid, mime_type, size, uploaded,
(SELECT count(*) FROM blob_refs r WHERE r.cid = blobs.cid) AS refs FROM blobs WHERE cid = ?`)
	blobRefCountSQL = Q(`SELECT count(*) FROM blob_refs WHERE cid = ?`)
	blobChunkSQL    = Q(`SELECT data FROM blob_chunks WHERE blob = (SELECT id FROM blobs WHERE cid = ?) AND n = ?`)
	repoHasBlobSQL  = Q(`SELECT p.id,
	EXISTS (SELECT 1 FROM blob_refs r WHERE r.repo = p.id AND r.cid = ?),
	EXISTS (SELECT 1 FROM blob_uploads u WHERE u.repo = p.id AND u.cid = ? AND u.uploaded >= ?)
FROM repos p WHERE p.did = ?`)
	// The cursor is compared as bytes: an empty one is less than any CID.
	repoBlobsSQL = Q(`SELECT DISTINCT r.cid FROM blob_refs r JOIN blobs b ON b.cid = r.cid
WHERE r.repo = ? AND r.cid > ? AND (r.rev IS NULL OR r.rev > ?) ORDER BY r.cid LIMIT ?`)

	insertBlobSQL    = Q(`INSERT INTO blobs (cid, mime_type, size, uploaded) VALUES (?, ?, ?, ?) RETURNING id`)
	putBlobChunkSQL  = Q(`INSERT INTO blob_chunks (blob, n, data) VALUES (?, ?, ?)`)
	growBlobSQL      = Q(`UPDATE blobs SET size = ?, uploaded = ? WHERE id = ? AND cid IS NULL`)
	finishBlobSQL    = Q(`UPDATE blobs SET cid = ?, size = ?, uploaded = ? WHERE id = ? AND cid IS NULL`)
	touchBlobSQL     = Q(`UPDATE blobs SET uploaded = ? WHERE id = ?`)
	deleteBlobSQL    = Q(`DELETE FROM blobs WHERE id = ?`)
	deletePendingSQL = Q(`DELETE FROM blobs WHERE id = ? AND cid IS NULL`)
	noteUploadSQL    = Q(`INSERT INTO blob_uploads (repo, cid, uploaded) VALUES (?, ?, ?)
ON CONFLICT (repo, cid) DO UPDATE SET uploaded = excluded.uploaded`)
	collectBlobsSQL = Q(`DELETE FROM blobs WHERE id IN (SELECT b.id FROM blobs b WHERE b.uploaded <= ?
AND (b.cid IS NULL OR NOT EXISTS (SELECT 1 FROM blob_refs r WHERE r.cid = b.cid)) LIMIT ?)`)

	remoteBlobSQL        = Q(`SELECT url, cid, size, mime_type, width, height, duration_ms, status, last_fetched, created, updated FROM remote_blobs WHERE url = ?`)
	remoteBlobReposSQL   = Q(`SELECT did FROM remote_blob_repos WHERE url = ? ORDER BY did`)
	insertRemoteBlobSQL  = Q(`INSERT INTO remote_blobs (url, created, updated) VALUES (?, ?, ?) ON CONFLICT (url) DO NOTHING`)
	addRemoteBlobRepoSQL = Q(`INSERT INTO remote_blob_repos (url, did) VALUES (?, ?) ON CONFLICT DO NOTHING`)
	touchRemoteBlobSQL   = Q(`UPDATE remote_blobs SET updated = ? WHERE url = ?`)
	saveRemoteBlobSQL    = Q(`UPDATE remote_blobs SET cid = ?, size = ?, mime_type = ?, width = ?, height = ?, duration_ms = ?,
status = ?, last_fetched = ?, updated = ? WHERE url = ?`)
)

// Blob implements storage.BlobReader.
func (t *Tx) Blob(ctx context.Context, cid []byte) (storage.BlobRow, error) {
	var b storage.BlobRow
	err := t.get(ctx, &b, blobSQL, cid)
	return b, err
}

// BlobRefCount implements storage.BlobReader.
func (t *Tx) BlobRefCount(ctx context.Context, cid []byte) (int64, error) {
	var n int64
	err := t.get(ctx, &n, blobRefCountSQL, cid)
	return n, err
}

// BlobChunk implements storage.BlobReader. The chunk is scanned as
// sql.RawBytes and copied once, into buf.
func (t *Tx) BlobChunk(ctx context.Context, cid []byte, n int64, buf []byte) ([]byte, error) {
	st, err := t.prep(ctx, blobChunkSQL)
	if err != nil {
		return buf, err
	}
	rows, err := st.QueryContext(ctx, cid, n)
	if err != nil {
		return buf, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return buf, err
		}
		return buf, storage.ErrNotFound
	}
	var data sql.RawBytes
	if err := rows.Scan(&data); err != nil {
		return buf, err
	}
	buf = append(buf[:0], data...)
	return buf, rows.Close()
}

// RepoHasBlob implements storage.BlobReader.
func (t *Tx) RepoHasBlob(ctx context.Context, did string, cid []byte, since int64) (cited, uploaded bool, err error) {
	st, err := t.prep(ctx, repoHasBlobSQL)
	if err != nil {
		return false, false, err
	}
	var id int64
	err = st.QueryRowxContext(ctx, cid, cid, since, did).Scan(&id, &cited, &uploaded)
	return cited, uploaded, notFound(err)
}

// RepoBlobs implements storage.BlobReader.
func (t *Tx) RepoBlobs(ctx context.Context, q storage.RepoBlobsQuery) ([][]byte, error) {
	after := q.After
	if after == nil {
		after = []byte{}
	}
	var keys [][]byte
	err := t.sel(ctx, &keys, repoBlobsSQL, q.Repo, after, q.Since, q.Limit)
	return keys, err
}

// InsertBlob implements storage.BlobWriter.
func (t *Tx) InsertBlob(ctx context.Context, b storage.BlobRow) (int64, error) {
	var id int64
	if err := t.get(ctx, &id, insertBlobSQL, b.CID, b.MIMEType, b.Size, b.Uploaded); err != nil {
		return 0, fmt.Errorf("insert blob: %w", err)
	}
	return id, nil
}

// PutBlobChunk implements storage.BlobWriter.
func (t *Tx) PutBlobChunk(ctx context.Context, blob, n int64, data []byte) error {
	if _, err := t.exec(ctx, putBlobChunkSQL, blob, n, data); err != nil {
		return fmt.Errorf("put chunk %d: %w", n, err)
	}
	return nil
}

// affected runs q and reports whether it changed a row.
func (t *Tx) affected(ctx context.Context, q string, args ...any) (bool, error) {
	res, err := t.exec(ctx, q, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// GrowBlob implements storage.BlobWriter.
func (t *Tx) GrowBlob(ctx context.Context, id, size, uploaded int64) (bool, error) {
	return t.affected(ctx, growBlobSQL, size, uploaded, id)
}

// FinishBlob implements storage.BlobWriter.
func (t *Tx) FinishBlob(ctx context.Context, id int64, cid []byte, size, uploaded int64) (bool, error) {
	return t.affected(ctx, finishBlobSQL, cid, size, uploaded, id)
}

// TouchBlob implements storage.BlobWriter.
func (t *Tx) TouchBlob(ctx context.Context, id, uploaded int64) error {
	_, err := t.exec(ctx, touchBlobSQL, uploaded, id)
	return err
}

// DeleteBlob implements storage.BlobWriter; the chunks go by the foreign
// key's ON DELETE CASCADE.
func (t *Tx) DeleteBlob(ctx context.Context, id int64, pending bool) error {
	q := deleteBlobSQL
	if pending {
		q = deletePendingSQL
	}
	_, err := t.exec(ctx, q, id)
	return err
}

// NoteBlobUpload implements storage.BlobWriter.
func (t *Tx) NoteBlobUpload(ctx context.Context, repo int64, cid []byte, uploaded int64) error {
	_, err := t.exec(ctx, noteUploadSQL, repo, cid, uploaded)
	return err
}

// CollectBlobs implements storage.BlobWriter.
func (t *Tx) CollectBlobs(ctx context.Context, cutoff int64, limit int) (int64, error) {
	res, err := t.exec(ctx, collectBlobsSQL, cutoff, limit)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// RemoteBlob implements storage.BlobReader.
func (t *Tx) RemoteBlob(ctx context.Context, url string) (storage.RemoteBlobRow, error) {
	var r storage.RemoteBlobRow
	err := t.get(ctx, &r, remoteBlobSQL, url)
	return r, err
}

// RemoteBlobRepos implements storage.BlobReader.
func (t *Tx) RemoteBlobRepos(ctx context.Context, url string) ([]string, error) {
	var dids []string
	err := t.sel(ctx, &dids, remoteBlobReposSQL, url)
	return dids, err
}

// InsertRemoteBlob implements storage.BlobWriter.
func (t *Tx) InsertRemoteBlob(ctx context.Context, url string, now int64) error {
	_, err := t.exec(ctx, insertRemoteBlobSQL, url, now, now)
	return err
}

// AddRemoteBlobRepo implements storage.BlobWriter.
func (t *Tx) AddRemoteBlobRepo(ctx context.Context, url, did string, now int64) error {
	added, err := t.affected(ctx, addRemoteBlobRepoSQL, url, did)
	if err != nil || !added {
		return err
	}
	_, err = t.exec(ctx, touchRemoteBlobSQL, now, url)
	return err
}

// SaveRemoteBlob implements storage.BlobWriter.
func (t *Tx) SaveRemoteBlob(ctx context.Context, r storage.RemoteBlobRow) error {
	_, err := t.exec(ctx, saveRemoteBlobSQL, r.CID, r.Size, r.MIMEType, r.Width, r.Height, r.DurationMS,
		r.Status, r.LastFetched, r.Updated, r.URL)
	return err
}
