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
	// Head returns the head of the repo did, as LockHead does but without
	// a lock, or ErrNotFound.
	Head(ctx context.Context, did string) (HeadRow, error)
	// Repos returns up to limit repos (all of them when limit <= 0) whose
	// DID is greater than after, in DID order.
	Repos(ctx context.Context, after string, limit int) ([]RepoRow, error)
	// PLCOperation returns the did:plc genesis operation kept for the repo
	// did (nil when none is), or ErrNotFound when there is no such repo.
	PLCOperation(ctx context.Context, did string) ([]byte, error)
	// Collections returns the distinct collections of the records of the
	// repo did, in order (none for an unknown repo).
	Collections(ctx context.Context, did string) ([]string, error)
}

// RepoWriter writes repos.
type RepoWriter interface {
	// LockHead returns the head of the repo did and locks its row until
	// the transaction ends, or returns ErrNotFound.
	LockHead(ctx context.Context, did string) (HeadRow, error)
	// ApplyCommit stores one commit's change to its repo.
	ApplyCommit(ctx context.Context, c *CommitChange) error
	// InsertRepo stores the new repo r (r.ID is ignored), with plcOp, the
	// did:plc genesis operation kept for it (nil for none), and returns its
	// id. created is false, and nothing is stored, when a repo r.DID is
	// stored already. r.Handle must be free (see RepoByHandle): the handle
	// column is unique.
	InsertRepo(ctx context.Context, r *RepoRow, plcOp []byte) (id int64, created bool, err error)
	// SetHandle sets the handle of the repo did (nil for none) and its
	// updated time, unless its status is final ("tombstoned" or
	// "deleted"); it reports whether it did. handle must be free.
	SetHandle(ctx context.Context, did string, handle *string, updated int64) (bool, error)
	// SetStatus sets the status of the repo did (nil for active) and its
	// updated time, unless its status is final ("tombstoned" or
	// "deleted"); it reports whether it did.
	SetStatus(ctx context.Context, did string, status *string, updated int64) (bool, error)
	// DropRepoIndex deletes the record index and the blob references of
	// the repo did. Its blocks, events and repos row stay.
	DropRepoIndex(ctx context.Context, did string) error
}
