package storage

import "context"

// KeyCountsRow counts the repos by how their private keys are stored.
type KeyCountsRow struct {
	Sealed int `db:"sealed"` // a signing key, sealed (key_encrypted)
	Clear  int `db:"clear"`  // a signing key, in the clear
	Mirror int `db:"mirror"` // no signing key (an empty signing_key)
}

// RepoKeysRow is the private keys of a repo, as stored (sealed or clear).
type RepoKeysRow struct {
	ID           int64  `db:"id"`
	DID          string `db:"did"`
	SigningKey   []byte `db:"signing_key"`
	RotationKey  []byte `db:"rotation_key"` // nil when the repo has none
	KeyEncrypted bool   `db:"key_encrypted"`
}

// KeyReader reads how private keys and server secrets are stored.
type KeyReader interface {
	// SealedKeysExist reports whether a repo's keys are stored sealed
	// (key_encrypted).
	SealedKeysExist(ctx context.Context) (bool, error)
	// KeyCounts counts the repos by how their keys are stored.
	KeyCounts(ctx context.Context) (KeyCountsRow, error)
	// RepoKeys returns the keys of the repos that hold a private signing
	// key (a non-empty signing_key), in id order; with clearOnly, only of
	// those whose keys are in the clear.
	RepoKeys(ctx context.Context, clearOnly bool) ([]RepoKeysRow, error)
	// ServerSecrets returns the server secrets in name order; with
	// clearOnly, only those stored in the clear.
	ServerSecrets(ctx context.Context, clearOnly bool) ([]ServerSecretRow, error)
}

// KeyWriter rewrites sealed keys and secrets.
type KeyWriter interface {
	// SealRepoKeys stores the sealed keys of the repo id (rotation nil for
	// none) and marks them sealed.
	SealRepoKeys(ctx context.Context, id int64, signing, rotation []byte) error
	// SealServerSecret stores the sealed value of the server secret name
	// and marks it sealed.
	SealServerSecret(ctx context.Context, name string, value []byte) error
	// SecureDelete turns on (or back off) the overwriting of deleted and
	// rewritten content for the rest of the transaction, so that the clear
	// values that SealRepoKeys and SealServerSecret replace do not stay in
	// free space of the file. Turn it off before the transaction ends.
	//
	// SQLite overwrites the old cells (PRAGMA secure_delete). PostgreSQL
	// has no equivalent, and there it does nothing: the old tuple versions,
	// clear values included, stay in the table's pages until VACUUM
	// reclaims them (and in the WAL until it is recycled).
	SecureDelete(ctx context.Context, on bool) error
}
