package sqlstore

import (
	"context"
	"fmt"

	"github.com/atlite-dev/atlite/internal/storage"
)

var (
	sessionColumns    = `SELECT s.id, s.chain, s.repo, r.did, r.status, s.app_password, s.privileged, s.created, s.expires, s.revoked, s.rotated FROM sessions s JOIN repos r ON r.id = s.repo `
	sessionSQL        = Q(sessionColumns + `WHERE s.id = ?`)
	sessionStateSQL   = Q(`SELECT id, repo, expires, revoked FROM sessions WHERE id = ?`)
	sessionByTokenSQL = Q(sessionColumns + `WHERE s.token_hash = ?`)
	// lockSessionSQL locks a session's row, on a backend with row locks
	// (SQLite's write transactions lock the file, and never run it).
	lockSessionSQL = QLock(`SELECT id FROM sessions WHERE token_hash = ?`)
	chainLiveSQL   = Q(`SELECT EXISTS (SELECT 1 FROM sessions WHERE chain = ? AND revoked IS NULL AND expires > ?)`)
	// The id comes from the table (AUTOINCREMENT in SQLite, an identity
	// column in PostgreSQL): never one used before.
	insertSessionSQL = Q(`INSERT INTO sessions (repo, chain, token_hash, app_password, privileged, created, expires)
VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`)
	startChainSQL         = Q(`UPDATE sessions SET chain = id WHERE id = ?`)
	deleteExpiredSQL      = Q(`DELETE FROM sessions WHERE repo = ? AND expires <= ?`)
	rotateSessionSQL      = Q(`UPDATE sessions SET revoked = ?, rotated = 1 WHERE id = ?`)
	revokeChainSQL        = Q(`UPDATE sessions SET revoked = ? WHERE chain = ? AND revoked IS NULL`)
	revokeAppPasswordSQL  = Q(`UPDATE sessions SET revoked = ? WHERE repo = ? AND app_password = ? AND revoked IS NULL`)
	revokeRepoSessionsSQL = Q(`UPDATE sessions SET revoked = ? WHERE repo = ? AND revoked IS NULL AND expires > ?`)
)

// Session implements storage.AccountReader.
func (t *Tx) Session(ctx context.Context, id int64) (storage.SessionRow, error) {
	var s storage.SessionRow
	err := t.get(ctx, &s, sessionSQL, id)
	return s, err
}

// SessionState implements storage.AccountReader.
func (t *Tx) SessionState(ctx context.Context, id int64) (storage.SessionRow, error) {
	var s storage.SessionRow
	err := t.get(ctx, &s, sessionStateSQL, id)
	return s, err
}

// SessionByToken implements storage.AccountReader. In a write
// transaction of a backend with row locks (Dialect.ForUpdate), the
// session's row is locked first, and only it (not its repo's).
func (t *Tx) SessionByToken(ctx context.Context, hash []byte) (storage.SessionRow, error) {
	var s storage.SessionRow
	if t.p == poolWrite && t.db.D.ForUpdate != "" {
		var id int64
		if err := t.get(ctx, &id, t.locking(lockSessionSQL), hash); err != nil {
			return s, err
		}
	}
	err := t.get(ctx, &s, sessionByTokenSQL, hash)
	return s, err
}

// ChainLive implements storage.AccountReader.
func (t *Tx) ChainLive(ctx context.Context, chain, now int64) (bool, error) {
	var live bool
	err := t.get(ctx, &live, chainLiveSQL, chain, now)
	return live, err
}

// InsertSession implements storage.AccountWriter: the row is inserted with
// chain 0 for a new chain, then given its own id as chain.
func (t *Tx) InsertSession(ctx context.Context, s storage.SessionRow, tokenHash []byte) (int64, error) {
	var id int64
	err := t.get(ctx, &id, insertSessionSQL, s.Repo, s.Chain, tokenHash, s.AppPassword, flag(s.Privileged), s.Created, s.Expires)
	if err != nil {
		return 0, fmt.Errorf("insert session: %w", err)
	}
	if s.Chain == 0 {
		if _, err := t.exec(ctx, startChainSQL, id); err != nil {
			return 0, fmt.Errorf("insert session: %w", err)
		}
	}
	return id, nil
}

// DeleteExpiredSessions implements storage.AccountWriter.
func (t *Tx) DeleteExpiredSessions(ctx context.Context, repo, now int64) error {
	if _, err := t.exec(ctx, deleteExpiredSQL, repo, now); err != nil {
		return fmt.Errorf("delete expired sessions: %w", err)
	}
	return nil
}

// RotateSession implements storage.AccountWriter.
func (t *Tx) RotateSession(ctx context.Context, id, now int64) error {
	if _, err := t.exec(ctx, rotateSessionSQL, now, id); err != nil {
		return fmt.Errorf("rotate session: %w", err)
	}
	return nil
}

// RevokeChain implements storage.AccountWriter.
func (t *Tx) RevokeChain(ctx context.Context, chain, now int64) error {
	if _, err := t.exec(ctx, revokeChainSQL, now, chain); err != nil {
		return fmt.Errorf("revoke chain: %w", err)
	}
	return nil
}

// RevokeAppPasswordSessions implements storage.AccountWriter.
func (t *Tx) RevokeAppPasswordSessions(ctx context.Context, repo int64, name string, now int64) error {
	if _, err := t.exec(ctx, revokeAppPasswordSQL, now, repo, name); err != nil {
		return fmt.Errorf("revoke sessions: %w", err)
	}
	return nil
}

// RevokeRepoSessions implements storage.AccountWriter.
func (t *Tx) RevokeRepoSessions(ctx context.Context, repo, now int64) (int64, error) {
	res, err := t.exec(ctx, revokeRepoSessionsSQL, now, repo, now)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	return res.RowsAffected()
}
