package storage

import (
	"context"

	"github.com/ipfs/go-cid"
)

// Staged is what an import staged before its write transaction, read back
// in a stream (internal/stage implements it). Slices passed to the
// callbacks are the callee's to keep.
type Staged interface {
	// ForEachBlock calls fn with each block to store: its key (blocks.k),
	// CID and bytes, each block once.
	ForEachBlock(ctx context.Context, fn func(k int64, c, data []byte) error) error
	// ForEachRecord calls fn with each record index entry of the repo.
	ForEachRecord(ctx context.Context, fn func(collection, rkey string, c []byte, k int64) error) error
	// ForEachBlobRef calls fn with each blob that the record at path
	// (collection/rkey) cites.
	ForEachBlobRef(ctx context.Context, fn func(path string, blob []byte) error) error
	// Counts returns the number of blocks ForEachBlock gives and of blob
	// references staged (one per record block citing a blob), so that a
	// backend can skip work that has nothing to do.
	Counts() (blocks, blobRefs int)
}

// ImportChange is what one import stores, as the engine checked it: in one
// transaction the backend creates the repo row or moves the stored one to
// the new head, replaces the repo's record index and blob references with
// the staged ones, and stores the staged blocks.
type ImportChange struct {
	// Repo is the repos.id of the repo the import moves; 0 creates the
	// repo New.
	Repo int64
	// New is the repo to create when Repo is 0: its DID, Handle,
	// SigningKey, KeyEncrypted and SigningPub are stored (the other fields
	// are ignored; a new repo has no rotation key and no status).
	New *RepoRow
	// Head, Data and Rev are the imported commit, its MST root and rev.
	Head, Data cid.Cid
	Rev        string
	// Time is the repo's updated time (and created time, for a new repo),
	// in Unix microseconds.
	Time int64
	// Staged are the blocks, record index and blob references to store.
	Staged Staged
}

// ImportReader reads what import, export, record proofs and Check read
// beyond the other readers.
type ImportReader interface {
	// CountRecords returns the number of records in the record index of
	// the repo.
	CountRecords(ctx context.Context, repo int64) (int, error)
	// RepeatedRecords returns the record CIDs that more than one key of
	// the repo holds.
	RepeatedRecords(ctx context.Context, repo int64) ([][]byte, error)
	// CommitEventAt returns the latest #commit or #sync event of the repo
	// did at rev, or ErrNotFound.
	CommitEventAt(ctx context.Context, did, rev string) (EventRow, error)
	// ReposAfterID returns up to limit repos whose id is above after, in id
	// order.
	ReposAfterID(ctx context.Context, after int64, limit int) ([]RepoRow, error)
	// EventSeqs returns the number of events and their lowest and highest
	// seq (0, 0 with no event).
	EventSeqs(ctx context.Context) (n, lowest, highest int64, err error)
	// IntegrityCheck runs the backend's own check of its storage and
	// returns the first problem it reports, "" when none (or when the
	// backend has no such check).
	IntegrityCheck(ctx context.Context) (string, error)
}

// ImportWriter writes what an import writes.
type ImportWriter interface {
	// ImportRepo stores an import (see ImportChange) and returns the
	// repo's id. A SQLite backend inside an Update whose
	// UpdateOptions.Attach is the staged file copies the rows from it
	// directly; any backend may instead stream them from c.Staged.
	ImportRepo(ctx context.Context, c *ImportChange) (int64, error)
	// ReplaceSigningKey stores the repo's signing key and rotation key
	// (sealed, encrypted or not as said) and its public signing key.
	ReplaceSigningKey(ctx context.Context, repo int64, signingKey, rotationKey []byte, encrypted bool, pub string) error
	// SetSigningPub stores the public signing key of the repo.
	SetSigningPub(ctx context.Context, repo int64, pub string) error
}
