package storage

import "context"

// AccountRow is a repo's login data (the accounts table).
type AccountRow struct {
	Repo     int64   `db:"repo"`
	Email    *string `db:"email"`    // nil for none; unique whatever its ASCII case
	Password *string `db:"password"` // argon2id PHC string; nil for none
	Created  int64   `db:"created"`  // Unix microseconds
	Updated  int64   `db:"updated"`  // Unix microseconds
}

// AppPasswordRow is an app password of a repo (the app_passwords table).
type AppPasswordRow struct {
	Repo       int64  `db:"repo"`
	Name       string `db:"name"`
	Hash       []byte `db:"hash"`
	Privileged bool   `db:"privileged"`
	Created    int64  `db:"created"` // Unix microseconds
}

// SessionRow is a refresh token's session (the sessions table), with the
// DID and status of its repo.
type SessionRow struct {
	ID          int64   `db:"id"`
	Chain       int64   `db:"chain"` // the id of the chain's first session
	Repo        int64   `db:"repo"`
	DID         string  `db:"did"`    // of the repo; not written
	Status      *string `db:"status"` // of the repo; not written
	AppPassword *string `db:"app_password"`
	Privileged  bool    `db:"privileged"`
	Created     int64   `db:"created"` // Unix microseconds
	Expires     int64   `db:"expires"` // Unix microseconds
	Revoked     *int64  `db:"revoked"` // Unix microseconds; nil while valid
	Rotated     bool    `db:"rotated"` // revoked by the refresh that replaced it
}

// ServerSecretRow is a server secret (the server_secrets table).
type ServerSecretRow struct {
	Name      string `db:"name"`
	Value     []byte `db:"value"`
	Encrypted bool   `db:"encrypted"` // Value is sealed with the key-encryption key
	Created   int64  `db:"created"`   // Unix microseconds
}

// AccountReader reads accounts, app passwords, sessions and server
// secrets.
type AccountReader interface {
	// RepoByEmail returns the repo whose account has email, compared
	// without regard to ASCII case, or ErrNotFound.
	RepoByEmail(ctx context.Context, email string) (RepoRow, error)
	// EmailOwner returns the DID of the repo, other than the repo except,
	// whose account has email (without regard to ASCII case), or
	// ErrNotFound.
	EmailOwner(ctx context.Context, email string, except int64) (string, error)
	// Account returns the account row of the repo id, or ErrNotFound.
	Account(ctx context.Context, repo int64) (AccountRow, error)
	// AppPassword returns the app password name of the repo, or
	// ErrNotFound.
	AppPassword(ctx context.Context, repo int64, name string) (AppPasswordRow, error)
	// AppPasswordByHash returns the app password of the repo whose hash is
	// hash, or ErrNotFound.
	AppPasswordByHash(ctx context.Context, repo int64, hash []byte) (AppPasswordRow, error)
	// AppPasswords lists the app passwords of the repo, newest first, then
	// by name (Hash is not read).
	AppPasswords(ctx context.Context, repo int64) ([]AppPasswordRow, error)
	// Session returns the session id, or ErrNotFound.
	Session(ctx context.Context, id int64) (SessionRow, error)
	// SessionState returns the ID, Repo, Expires and Revoked of the
	// session id (its other fields zero), or ErrNotFound: the columns a
	// commit's check of its session reads, without the join of Session.
	SessionState(ctx context.Context, id int64) (SessionRow, error)
	// SessionByToken returns the session whose token hash is hash, or
	// ErrNotFound. In a write transaction the session's row stays locked
	// until the transaction ends, so that two refreshes of one token run
	// one after the other.
	SessionByToken(ctx context.Context, hash []byte) (SessionRow, error)
	// ChainLive reports whether the chain has a session that is neither
	// revoked nor expired at now.
	ChainLive(ctx context.Context, chain, now int64) (bool, error)
	// ServerSecret returns the server secret name, or ErrNotFound.
	ServerSecret(ctx context.Context, name string) (ServerSecretRow, error)
}

// AccountWriter writes accounts, app passwords, sessions and server
// secrets.
type AccountWriter interface {
	// InsertAccount stores a new account row.
	InsertAccount(ctx context.Context, a AccountRow) error
	// SetAccountPassword sets the password hash of the repo's account,
	// creating the row (created = now) when there is none.
	SetAccountPassword(ctx context.Context, repo int64, hash string, now int64) error
	// SetAccountEmail sets the email (nil for none) of the repo's account,
	// creating the row (created = now) when there is none.
	SetAccountEmail(ctx context.Context, repo int64, email *string, now int64) error
	// InsertAppPassword stores a new app password and reports whether it
	// did: false when the repo has one of that name already.
	InsertAppPassword(ctx context.Context, p AppPasswordRow) (bool, error)
	// DeleteAppPassword deletes the app password name of the repo and
	// reports whether there was one.
	DeleteAppPassword(ctx context.Context, repo int64, name string) (bool, error)
	// InsertSession stores a new session (ID, DID, Status, Revoked and
	// Rotated are ignored) with the token hash, and returns its id, never
	// one used before. Chain 0 starts a new chain: the session's chain is
	// then its own id.
	InsertSession(ctx context.Context, s SessionRow, tokenHash []byte) (int64, error)
	// DeleteExpiredSessions deletes the sessions of the repo that expire
	// at or before now.
	DeleteExpiredSessions(ctx context.Context, repo, now int64) error
	// RotateSession revokes the session id at now as replaced by a
	// refresh.
	RotateSession(ctx context.Context, id, now int64) error
	// RevokeChain revokes, at now, the sessions of the chain not revoked
	// yet.
	RevokeChain(ctx context.Context, chain, now int64) error
	// RevokeAppPasswordSessions revokes, at now, the sessions of the repo
	// opened with the app password name and not revoked yet.
	RevokeAppPasswordSessions(ctx context.Context, repo int64, name string, now int64) error
	// RevokeRepoSessions revokes, at now, the live sessions of the repo
	// (neither revoked nor expired) and returns how many there were.
	RevokeRepoSessions(ctx context.Context, repo, now int64) (int64, error)
	// InsertServerSecret stores a server secret unless one of that name is
	// stored already (then it does nothing).
	InsertServerSecret(ctx context.Context, s ServerSecretRow) error
}
