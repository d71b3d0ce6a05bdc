package sqlstore

import (
	"context"
	"fmt"

	"github.com/atlite-dev/atlite/internal/storage"
)

var (
	repoColumns     = `id, did, handle, head, data, rev, signing_key, rotation_key, key_encrypted, status, created, updated, signing_pub`
	repoByDIDSQL    = Q(`SELECT ` + repoColumns + ` FROM repos WHERE did = ?`)
	repoByHandleSQL = Q(`SELECT ` + repoColumns + ` FROM repos WHERE handle = ?`)
	repoExistsSQL   = Q(`SELECT count(*) FROM repos WHERE did = ?`)
	headSQL         = Q(`SELECT id, head, data, rev, signing_key, key_encrypted, status FROM repos WHERE did = ?`)
	moveHeadSQL     = Q(`UPDATE repos SET head = ?, data = ?, rev = ?, updated = ? WHERE id = ?`)
	upsertRecordSQL = Q(`INSERT INTO records (repo, collection, rkey, cid, k) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (repo, collection, rkey) DO UPDATE SET cid = excluded.cid, k = excluded.k`)
	deleteRecordSQL  = Q(`DELETE FROM records WHERE repo = ? AND collection = ? AND rkey = ?`)
	insertBlobRefSQL = Q(`INSERT INTO blob_refs (repo, path, cid, rev) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`)
	dropBlobRefsSQL  = Q(`DELETE FROM blob_refs WHERE repo = ? AND path = ?`)
)

// Repo implements storage.RepoReader.
func (t *Tx) Repo(ctx context.Context, did string) (storage.RepoRow, error) {
	var r storage.RepoRow
	err := t.get(ctx, &r, repoByDIDSQL, did)
	return r, err
}

// RepoByHandle implements storage.RepoReader.
func (t *Tx) RepoByHandle(ctx context.Context, handle string) (storage.RepoRow, error) {
	var r storage.RepoRow
	err := t.get(ctx, &r, repoByHandleSQL, handle)
	return r, err
}

// RepoExists implements storage.RepoReader.
func (t *Tx) RepoExists(ctx context.Context, did string) (bool, error) {
	var n int
	err := t.get(ctx, &n, repoExistsSQL, did)
	return n > 0, err
}

// LockHead implements storage.RepoWriter.
func (t *Tx) LockHead(ctx context.Context, did string) (storage.HeadRow, error) {
	var h storage.HeadRow
	err := t.get(ctx, &h, headSQL+t.db.D.ForUpdate, did)
	return h, err
}

// ApplyCommit implements storage.RepoWriter.
func (t *Tx) ApplyCommit(ctx context.Context, c *storage.CommitChange) error {
	if err := t.PutBlocks(ctx, c.Blocks); err != nil {
		return err
	}
	for _, r := range c.Records {
		var err error
		if r.CID.Defined() {
			_, err = t.exec(ctx, upsertRecordSQL, c.Repo, r.Collection, r.RKey, r.CID.Bytes(), BlockKey(r.CID))
		} else {
			_, err = t.exec(ctx, deleteRecordSQL, c.Repo, r.Collection, r.RKey)
		}
		if err != nil {
			return fmt.Errorf("index record %s/%s: %w", r.Collection, r.RKey, err)
		}
	}
	for _, p := range c.DropBlobRefs {
		if _, err := t.exec(ctx, dropBlobRefsSQL, c.Repo, p); err != nil {
			return fmt.Errorf("drop blob refs of %s: %w", p, err)
		}
	}
	for _, b := range c.AddBlobRefs {
		if _, err := t.exec(ctx, insertBlobRefSQL, c.Repo, b.Path, b.CID.Bytes(), c.Rev); err != nil {
			return fmt.Errorf("add blob ref %s of %s: %w", b.CID, b.Path, err)
		}
	}
	if _, err := t.exec(ctx, moveHeadSQL, c.Head.Bytes(), c.Data.Bytes(), c.Rev, c.Time, c.Repo); err != nil {
		return fmt.Errorf("move head: %w", err)
	}
	return nil
}
