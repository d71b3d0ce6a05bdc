package storage

import (
	"context"

	"github.com/ipfs/go-cid"
)

// RecordRow is a current record with its bytes (nil when its block is
// missing).
type RecordRow struct {
	Collection string `db:"collection"`
	RKey       string `db:"rkey"`
	CID        []byte `db:"cid"`
	Data       []byte `db:"data"`
}

// RecordsQuery selects records of one collection of one repo, in record-key
// order.
type RecordsQuery struct {
	DID        string
	Collection string
	After      string // exclusive cursor ("" from the start)
	Reverse    bool   // descending order; After then reads as "before"
	Limit      int
}

// RecordChange is a change to the record index: CID undefined deletes.
type RecordChange struct {
	Collection, RKey string
	CID              cid.Cid
}

// BlobRef is a blob that the record at Path cites.
type BlobRef struct {
	Path string
	CID  cid.Cid
}

// CommitChange is what one commit stores, as the engine computed it: in one
// transaction the backend stores the new blocks, applies the record-index
// and blob-reference changes and moves the repo's head.
type CommitChange struct {
	Repo    int64   // repos.id
	Blocks  []Block // new blocks: records, MST nodes, the commit
	Records []RecordChange
	// DropBlobRefs are the paths whose blob references go (updated and
	// deleted records), before AddBlobRefs are added.
	DropBlobRefs []string
	AddBlobRefs  []BlobRef
	Head, Data   cid.Cid // the new commit and its MST root
	Rev          string
	Time         int64 // Unix microseconds
}

// RecordReader reads the record index.
type RecordReader interface {
	// Record returns, in one read, the status of the repo did ("" when it
	// is active) and its record collection/rkey: ErrNotFound when there is
	// no such repo, a RecordRow with an empty Collection when the repo
	// holds no such record.
	Record(ctx context.Context, did, collection, rkey string) (status string, r RecordRow, err error)
	// Records lists records.
	Records(ctx context.Context, q RecordsQuery) ([]RecordRow, error)
	// RepoRecords returns up to limit records of one collection of the
	// repo id whose rkey is from or after it (only after it when after is
	// set), in rkey order (bytewise), each with its block's bytes (Data
	// nil when the block is missing).
	RepoRecords(ctx context.Context, repo int64, collection, from string, after bool, limit int) ([]RecordRow, error)
}

// RecordWriter writes the record index (outside ApplyCommit).
type RecordWriter interface {
}
