package atlite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/atlite-dev/atlite/syntax"
)

// DefaultSessionTTL is the lifetime of a refresh token when
// [Store.CreateSession] is given none: 90 days, as the reference PDS.
const DefaultSessionTTL = 90 * 24 * time.Hour

// Session is one refresh token of an account, as stored: the token itself
// is known only to the client. A refresh replaces it with a new Session of
// the same Chain.
type Session struct {
	// ID identifies the session (an access token can carry it, for
	// [Store.LookupSession]).
	ID int64
	// Chain is the ID of the chain's first session: the sign-in that the
	// refreshes continue.
	Chain int64
	DID   syntax.DID
	// AppPassword names the app password the session was opened with; ""
	// for the main password.
	AppPassword string
	// Privileged is copied from the app password (false for the main
	// password).
	Privileged bool
	Created    time.Time
	Expires    time.Time
}

// tokenHash is the stored form of a refresh token: the SHA-256 of its 32
// bytes. It fails with ErrInvalidToken for a string that is not a token
// this package made.
func tokenHash(token string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != 32 || base64.RawURLEncoding.EncodeToString(b) != token {
		return nil, ErrInvalidToken
	}
	h := sha256.Sum256(b)
	return h[:], nil
}

// newToken returns a new refresh token (32 random bytes, base64url without
// padding: 43 characters) and its hash.
func newToken() (string, []byte) {
	var b [32]byte
	rand.Read(b[:])
	h := sha256.Sum256(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:]), h[:]
}

type sessionRow struct {
	ID          int64   `db:"id"`
	Chain       int64   `db:"chain"`
	Repo        int64   `db:"repo"`
	DID         string  `db:"did"`
	Status      *string `db:"status"`
	AppPassword *string `db:"app_password"`
	Privileged  bool    `db:"privileged"`
	Created     int64   `db:"created"`
	Expires     int64   `db:"expires"`
	Revoked     *int64  `db:"revoked"`
	Rotated     bool    `db:"rotated"`
}

const sessionColumns = `s.id, s.chain, s.repo, r.did, r.status, s.app_password, s.privileged, s.created, s.expires, s.revoked, s.rotated`

// RefreshGracePeriod is how long a refresh token replaced by a refresh may
// still be used, while its chain has a live session: two clients sharing a
// session (a second tab, a retried request) both refresh without signing
// each other out, as the reference PDS allows. Each such use starts a new
// branch of the chain; signing out or revoking ends them all.
const RefreshGracePeriod = 2 * time.Hour

func (r *sessionRow) session() (*Session, error) {
	d, err := syntax.ParseDID(r.DID)
	if err != nil {
		return nil, fmt.Errorf("stored repo %q: %w", r.DID, err)
	}
	out := &Session{ID: r.ID, Chain: r.Chain, DID: d, Privileged: r.Privileged,
		Created: time.UnixMicro(r.Created).UTC(), Expires: time.UnixMicro(r.Expires).UTC()}
	if r.AppPassword != nil {
		out.AppPassword = *r.AppPassword
	}
	return out, nil
}

// insertSession writes a new session row; chain 0 starts a new chain.
func insertSession(ctx context.Context, tx *sqlx.Tx, r *sessionRow, hash []byte) error {
	const q = `INSERT INTO sessions (repo, chain, token_hash, app_password, privileged, created, expires) VALUES (?, ?, ?, ?, ?, ?, ?)`
	res, err := tx.ExecContext(ctx, q, r.Repo, r.Chain, hash, r.AppPassword, r.Privileged, r.Created, r.Expires)
	if err != nil {
		return err
	}
	if r.ID, err = res.LastInsertId(); err != nil {
		return err
	}
	if r.Chain == 0 {
		r.Chain = r.ID
		_, err = tx.ExecContext(ctx, `UPDATE sessions SET chain = id WHERE id = ?`, r.ID)
	}
	return err
}

// CreateSession opens a session for the account d, after the caller has
// checked its password ([Store.CheckPassword]), and returns its refresh
// token. appPasswordName is the app password that signed in ("" for the
// main password; ErrNotFound if it does not exist). ttl is the token's
// lifetime, DefaultSessionTTL when zero or negative; every refresh gives the
// new token the same lifetime. Sessions of d that have expired are deleted.
func (s *Store) CreateSession(ctx context.Context, d syntax.DID, appPasswordName string, ttl time.Duration) (string, *Session, error) {
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	done, err := s.enter()
	if err != nil {
		return "", nil, err
	}
	defer done()
	token, hash := newToken()
	now := s.now().UTC()
	row := sessionRow{DID: d.String(), Created: now.UnixMicro(), Expires: now.Add(ttl).UnixMicro()}
	err = s.update(ctx, func(tx *sqlx.Tx) error {
		if row.Repo, err = repoID(ctx, tx, d); err != nil {
			return err
		}
		if appPasswordName != "" {
			row.AppPassword = &appPasswordName
			const q = `SELECT privileged FROM app_passwords WHERE repo = ? AND name = ?`
			err := tx.QueryRowxContext(ctx, q, row.Repo, appPasswordName).Scan(&row.Privileged)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("app password %q: %w", appPasswordName, ErrNotFound)
			}
			if err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE repo = ? AND expires <= ?`, row.Repo, row.Created); err != nil {
			return err
		}
		return insertSession(ctx, tx, &row, hash)
	})
	if err != nil {
		return "", nil, fmt.Errorf("create session for %s: %w", d, err)
	}
	sess, err := row.session()
	if err != nil {
		return "", nil, err
	}
	return token, sess, nil
}

// RefreshSession exchanges a refresh token for a new one, in one
// transaction: the old token is revoked and the new session continues its
// chain, with the same lifetime from now. A token that is unknown or
// revoked fails with ErrInvalidToken; a revoked token presented again (a
// stolen token replayed, or a client that kept an old one) also revokes
// every session of its chain, unless it was replaced by a refresh less
// than RefreshGracePeriod ago and its chain is still alive: then it gets a
// new session of the chain too. An expired token fails with ErrExpiredToken,
// and a repo that is taken down, suspended or gone with an
// *InactiveRepoError (the token stays valid). A deactivated account may
// refresh, as it may sign in: to reactivate itself.
func (s *Store) RefreshSession(ctx context.Context, refreshToken string) (string, *Session, error) {
	hash, err := tokenHash(refreshToken)
	if err != nil {
		return "", nil, fmt.Errorf("refresh session: %w", err)
	}
	done, err := s.enter()
	if err != nil {
		return "", nil, err
	}
	defer done()
	token, newHash := newToken()
	now := s.now().UTC().UnixMicro()
	var row sessionRow
	reused := false
	err = s.update(ctx, func(tx *sqlx.Tx) error {
		const q = `SELECT ` + sessionColumns + ` FROM sessions s JOIN repos r ON r.id = s.repo WHERE s.token_hash = ?`
		err := tx.GetContext(ctx, &row, q, hash)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrInvalidToken
		}
		if err != nil {
			return err
		}
		if row.Revoked != nil {
			var live bool
			if err := tx.QueryRowxContext(ctx, `SELECT EXISTS (SELECT 1 FROM sessions WHERE chain = ? AND revoked IS NULL AND expires > ?)`, row.Chain, now).Scan(&live); err != nil {
				return err
			}
			if !(row.Rotated && live && now-*row.Revoked < RefreshGracePeriod.Microseconds() && now < row.Expires && row.Status == nil) {
				// Commit the chain's revocation, then fail.
				reused = true
				_, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked = ? WHERE chain = ? AND revoked IS NULL`, now, row.Chain)
				return err
			}
			// Within the grace period: a new branch of the live chain.
			row.Expires = now + (row.Expires - row.Created)
			row.Created = now
			return insertSession(ctx, tx, &row, newHash)
		}
		if now >= row.Expires {
			return ErrExpiredToken
		}
		if row.Status != nil && *row.Status != StatusDeactivated {
			return &InactiveRepoError{DID: row.DID, Status: *row.Status}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked = ?, rotated = 1 WHERE id = ?`, now, row.ID); err != nil {
			return err
		}
		row.Expires = now + (row.Expires - row.Created)
		row.Created = now
		return insertSession(ctx, tx, &row, newHash)
	})
	if err == nil && reused {
		err = fmt.Errorf("token reused; its chain %d is revoked: %w", row.Chain, ErrInvalidToken)
	}
	if err != nil {
		return "", nil, fmt.Errorf("refresh session: %w", err)
	}
	sess, err := row.session()
	if err != nil {
		return "", nil, err
	}
	return token, sess, nil
}

// RevokeSession signs out: it revokes the session of refreshToken and every
// session of its chain. It returns ErrInvalidToken for a token it does not
// know; revoking a revoked token again is not an error.
func (s *Store) RevokeSession(ctx context.Context, refreshToken string) error {
	hash, err := tokenHash(refreshToken)
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	done, err := s.enter()
	if err != nil {
		return err
	}
	defer done()
	err = s.update(ctx, func(tx *sqlx.Tx) error {
		var chain int64
		err := tx.QueryRowxContext(ctx, `SELECT chain FROM sessions WHERE token_hash = ?`, hash).Scan(&chain)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrInvalidToken
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE sessions SET revoked = ? WHERE chain = ? AND revoked IS NULL`, s.now().UnixMicro(), chain)
		return err
	})
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

// RevokeSessions revokes every session of the account d, for instance after
// its password changed, and returns how many were live. It returns
// ErrRepoNotFound when the store has no repo d.
func (s *Store) RevokeSessions(ctx context.Context, d syntax.DID) (int, error) {
	done, err := s.enter()
	if err != nil {
		return 0, err
	}
	defer done()
	var n int64
	err = s.update(ctx, func(tx *sqlx.Tx) error {
		id, err := repoID(ctx, tx, d)
		if err != nil {
			return err
		}
		const q = `UPDATE sessions SET revoked = ? WHERE repo = ? AND revoked IS NULL AND expires > ?`
		now := s.now().UnixMicro()
		res, err := tx.ExecContext(ctx, q, now, id, now)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("revoke sessions of %s: %w", d, err)
	}
	return int(n), nil
}

// LookupSession returns the session id if it is live: ErrNotFound when
// there is no such session, ErrInvalidToken when it has been revoked
// (refreshed, signed out, or its app password revoked), ErrExpiredToken
// when it has expired. The repo's status is not checked.
func (s *Store) LookupSession(ctx context.Context, id int64) (*Session, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	var row sessionRow
	const q = `SELECT ` + sessionColumns + ` FROM sessions s JOIN repos r ON r.id = s.repo WHERE s.id = ?`
	err = s.r.GetContext(ctx, &row, q, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("session %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("lookup session %d: %w", id, err)
	}
	if row.Revoked != nil {
		return nil, fmt.Errorf("session %d: %w", id, ErrInvalidToken)
	}
	if s.now().UnixMicro() >= row.Expires {
		return nil, fmt.Errorf("session %d: %w", id, ErrExpiredToken)
	}
	return row.session()
}

// MaxServerSecretSize is the largest secret [Store.ServerSecret] makes.
const MaxServerSecretSize = 1024

// ServerSecret returns the server secret name, size random bytes created and
// stored in the file on first use (two callers racing for a new secret get
// the same value). An existing secret of another size is an error. When the
// store has a key-encryption key, a new secret is stored sealed with it
// (AES-256-GCM, the name as additional data); a sealed secret needs the key
// to be read (ErrKeyEncrypted).
func (s *Store) ServerSecret(ctx context.Context, name string, size int) ([]byte, error) {
	if name == "" || size <= 0 || size > MaxServerSecretSize {
		return nil, fmt.Errorf("server secret %q: want a name and 1 to %d bytes, not %d", name, MaxServerSecretSize, size)
	}
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	type row struct {
		Value     []byte `db:"value"`
		Encrypted bool   `db:"encrypted"`
	}
	const sel = `SELECT value, encrypted FROM server_secrets WHERE name = ?`
	var r row
	err = s.r.GetContext(ctx, &r, sel, name)
	if errors.Is(err, sql.ErrNoRows) {
		fresh := make([]byte, size)
		rand.Read(fresh)
		sealed, encrypted, serr := s.sealSecret(name, fresh)
		if serr != nil {
			return nil, fmt.Errorf("server secret %q: %w", name, serr)
		}
		err = s.update(ctx, func(tx *sqlx.Tx) error {
			if !encrypted {
				var anySealed bool
				if err := tx.QueryRowxContext(ctx, `SELECT EXISTS (SELECT 1 FROM repos WHERE key_encrypted = 1)`).Scan(&anySealed); err != nil {
					return err
				}
				if anySealed {
					return fmt.Errorf("the file holds sealed keys; give the key-encryption key to add a secret: %w", ErrKeyEncrypted)
				}
			}
			const ins = `INSERT INTO server_secrets (name, value, encrypted, created) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`
			if _, err := tx.ExecContext(ctx, ins, name, sealed, encrypted, s.now().UnixMicro()); err != nil {
				return err
			}
			return tx.GetContext(ctx, &r, sel, name)
		})
	}
	if err != nil {
		return nil, fmt.Errorf("server secret %q: %w", name, err)
	}
	v, err := s.openSecret(name, r.Value, r.Encrypted)
	if err != nil {
		return nil, fmt.Errorf("server secret %q: %w", name, err)
	}
	if len(v) != size {
		return nil, fmt.Errorf("server secret %q is %d bytes, not %d", name, len(v), size)
	}
	return v, nil
}

// sealSecret seals a server secret like sealKey seals a private key, with
// the secret's name as additional data.
func (s *Store) sealSecret(name string, plain []byte) (sealed []byte, encrypted bool, err error) {
	return seal(s.kek, plain, []byte("server secret "+name))
}

// openSecret reverses sealSecret.
func (s *Store) openSecret(name string, sealed []byte, encrypted bool) ([]byte, error) {
	return unseal(s.kek, sealed, []byte("server secret "+name), encrypted, "secret")
}
