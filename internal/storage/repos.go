package storage

import "context"

// RepoRow is a stored repo (the repos table).
type RepoRow struct {
	ID           int64   `db:"id"`
	DID          string  `db:"did"`
	Handle       *string `db:"handle"`
	Head         []byte  `db:"head"`
	Data         []byte  `db:"data"`
	Rev          string  `db:"rev"`
	SigningKey   []byte  `db:"signing_key"`
	RotationKey  []byte  `db:"rotation_key"`
	KeyEncrypted bool    `db:"key_encrypted"`
	Status       *string `db:"status"`
	Created      int64   `db:"created"`
	Updated      int64   `db:"updated"`
	SigningPub   *string `db:"signing_pub"`
}

// HeadRow is what a commit reads of its repo.
type HeadRow struct {
	ID           int64   `db:"id"`
	Head         []byte  `db:"head"`
	Data         []byte  `db:"data"`
	Rev          string  `db:"rev"`
	SigningKey   []byte  `db:"signing_key"`
	KeyEncrypted bool    `db:"key_encrypted"`
	Status       *string `db:"status"`
}

// RepoReader reads repos.
type RepoReader interface {
	// Repo returns the repo did, or ErrNotFound.
	Repo(ctx context.Context, did string) (RepoRow, error)
	// RepoByHandle returns the repo whose handle is handle (lower case),
	// or ErrNotFound.
	RepoByHandle(ctx context.Context, handle string) (RepoRow, error)
	// RepoExists reports whether the repo did is stored.
	RepoExists(ctx context.Context, did string) (bool, error)
}

// RepoWriter writes repos.
type RepoWriter interface {
	// LockHead returns the head of the repo did and locks its row until
	// the transaction ends, or returns ErrNotFound.
	LockHead(ctx context.Context, did string) (HeadRow, error)
	// ApplyCommit stores one commit's change to its repo.
	ApplyCommit(ctx context.Context, c *CommitChange) error
}
