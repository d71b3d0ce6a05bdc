package atlite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/atlite-dev/atlite/internal/storage"
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

type sessionRow = storage.SessionRow

// RefreshGracePeriod is how long a refresh token replaced by a refresh may
// still be used, while its chain has a live session: two clients sharing a
// session (a second tab, a retried request) both refresh without signing
// each other out, as the reference PDS allows. Each such use starts a new
// branch of the chain; signing out or revoking ends them all.
const RefreshGracePeriod = 2 * time.Hour

// sessionOf converts a row to a Session.
func sessionOf(r *sessionRow) (*Session, error) {
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

// insertSession writes a new session row and sets r.ID; chain 0 starts a
// new chain (r.Chain is then set to r.ID).
func insertSession(ctx context.Context, tx storage.WriteTx, r *sessionRow, hash []byte) error {
	id, err := tx.InsertSession(ctx, *r, hash)
	if err != nil {
		return err
	}
	r.ID = id
	if r.Chain == 0 {
		r.Chain = id
	}
	return nil
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
	err = s.b.Update(ctx, nil, func(tx storage.WriteTx) error {
		if row.Repo, err = repoID(ctx, tx, d); err != nil {
			return err
		}
		if appPasswordName != "" {
			row.AppPassword = &appPasswordName
			ap, err := tx.AppPassword(ctx, row.Repo, appPasswordName)
			if errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("app password %q: %w", appPasswordName, ErrNotFound)
			}
			if err != nil {
				return err
			}
			row.Privileged = ap.Privileged
		}
		if err := tx.DeleteExpiredSessions(ctx, row.Repo, row.Created); err != nil {
			return err
		}
		return insertSession(ctx, tx, &row, hash)
	})
	if err != nil {
		return "", nil, fmt.Errorf("create session for %s: %w", d, err)
	}
	sess, err := sessionOf(&row)
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
	err = s.b.Update(ctx, nil, func(tx storage.WriteTx) error {
		var err error
		row, err = tx.SessionByToken(ctx, hash)
		if errors.Is(err, storage.ErrNotFound) {
			return ErrInvalidToken
		}
		if err != nil {
			return err
		}
		if row.Revoked != nil {
			live, err := tx.ChainLive(ctx, row.Chain, now)
			if err != nil {
				return err
			}
			if !(row.Rotated && live && now-*row.Revoked < RefreshGracePeriod.Microseconds() && now < row.Expires && row.Status == nil) {
				// Commit the chain's revocation, then fail.
				reused = true
				return tx.RevokeChain(ctx, row.Chain, now)
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
		if err := tx.RotateSession(ctx, row.ID, now); err != nil {
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
	sess, err := sessionOf(&row)
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
	err = s.b.Update(ctx, nil, func(tx storage.WriteTx) error {
		row, err := tx.SessionByToken(ctx, hash)
		if errors.Is(err, storage.ErrNotFound) {
			return ErrInvalidToken
		}
		if err != nil {
			return err
		}
		return tx.RevokeChain(ctx, row.Chain, s.now().UnixMicro())
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
	err = s.b.Update(ctx, nil, func(tx storage.WriteTx) error {
		id, err := repoID(ctx, tx, d)
		if err != nil {
			return err
		}
		n, err = tx.RevokeRepoSessions(ctx, id, s.now().UnixMicro())
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
	row, err := s.b.Reader().Session(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("session %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("lookup session %d: %w", id, err)
	}
	if err := liveSession(id, row.Revoked != nil, row.Expires, s.now().UnixMicro()); err != nil {
		return nil, err
	}
	return sessionOf(&row)
}

// liveSession is the check of a session's state that LookupSession and
// commitSession share: not revoked (ErrInvalidToken), not expired at now
// (ErrExpiredToken).
func liveSession(id int64, revoked bool, expires, now int64) error {
	if revoked {
		return fmt.Errorf("session %d: %w", id, ErrInvalidToken)
	}
	if now >= expires {
		return fmt.Errorf("session %d: %w", id, ErrExpiredToken)
	}
	return nil
}

// commitSession checks, inside a commit's transaction, that the session id
// is live at now and belongs to the repo whose row id is repo
// (CommitOptions.Session).
func commitSession(ctx context.Context, tx storage.WriteTx, id, repo, now int64) error {
	row, err := tx.SessionState(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("session %d: unknown: %w", id, ErrInvalidToken)
	case err != nil:
		return fmt.Errorf("session %d: %w", id, err)
	case row.Repo != repo:
		return fmt.Errorf("session %d is not the repo's: %w", id, ErrInvalidToken)
	}
	return liveSession(id, row.Revoked != nil, row.Expires, now)
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
	r, err := s.b.Reader().ServerSecret(ctx, name)
	if errors.Is(err, storage.ErrNotFound) {
		fresh := make([]byte, size)
		rand.Read(fresh)
		sealed, encrypted, serr := s.sealSecret(name, fresh)
		if serr != nil {
			return nil, fmt.Errorf("server secret %q: %w", name, serr)
		}
		err = s.b.Update(ctx, nil, func(tx storage.WriteTx) error {
			if !encrypted {
				anySealed, err := tx.SealedKeysExist(ctx)
				if err != nil {
					return err
				}
				if anySealed {
					return fmt.Errorf("the file holds sealed keys; give the key-encryption key to add a secret: %w", ErrKeyEncrypted)
				}
			}
			err := tx.InsertServerSecret(ctx, storage.ServerSecretRow{Name: name, Value: sealed, Encrypted: encrypted, Created: s.now().UnixMicro()})
			if err != nil {
				return err
			}
			r, err = tx.ServerSecret(ctx, name)
			return err
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
