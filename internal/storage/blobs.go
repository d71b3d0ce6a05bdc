package storage

import "context"

// BlobRow is a stored blob (the blobs table), with the number of current
// records that cite it when read by [BlobReader.Blob].
type BlobRow struct {
	ID       int64  `db:"id"`
	CID      []byte `db:"cid"` // raw-codec CID; nil while an upload is in progress
	MIMEType string `db:"mime_type"`
	Size     int64  `db:"size"`     // bytes (so far, while uploading)
	Uploaded int64  `db:"uploaded"` // Unix microseconds
	Refs     int64  `db:"refs"`     // blob_refs rows citing CID; not written
}

// RepoBlobsQuery selects, in the order of their binary CIDs, the stored
// blobs cited by the current records of one repo.
type RepoBlobsQuery struct {
	Repo  int64  // repos.id
	After []byte // exclusive cursor (nil or empty from the start)
	Since string // only references written by a rev after Since ("" for all)
	Limit int
}

// RemoteBlobRow is a blob served from a public URL (the remote_blobs
// table).
type RemoteBlobRow struct {
	URL         string  `db:"url"`
	CID         []byte  `db:"cid"`
	Size        *int64  `db:"size"`
	MIMEType    string  `db:"mime_type"`
	Width       *int64  `db:"width"`
	Height      *int64  `db:"height"`
	DurationMS  *int64  `db:"duration_ms"`
	Status      *string `db:"status"`
	LastFetched *int64  `db:"last_fetched"`
	Created     int64   `db:"created"`
	Updated     int64   `db:"updated"`
}

// BlobReader reads blobs, stored and remote.
type BlobReader interface {
	// Blob returns the stored blob whose CID is cid (its bytes), with its
	// reference count, or ErrNotFound.
	Blob(ctx context.Context, cid []byte) (BlobRow, error)
	// BlobRefCount returns the number of current records, in all repos,
	// that cite the blob cid.
	BlobRefCount(ctx context.Context, cid []byte) (int64, error)
	// BlobChunk returns chunk n of the stored blob cid appended to buf[:0]
	// (so that a reader can reuse one buffer), or ErrNotFound.
	BlobChunk(ctx context.Context, cid []byte, n int64, buf []byte) ([]byte, error)
	// RepoHasBlob reports whether a current record of the repo did cites
	// the blob cid, and whether the repo uploaded it at or after since
	// (Unix microseconds). It returns ErrNotFound when there is no repo
	// did.
	RepoHasBlob(ctx context.Context, did string, cid []byte, since int64) (cited, uploaded bool, err error)
	// RepoBlobs lists the CIDs of blobs cited by a repo and stored.
	RepoBlobs(ctx context.Context, q RepoBlobsQuery) ([][]byte, error)
	// RemoteBlob returns the remote blob at url, or ErrNotFound.
	RemoteBlob(ctx context.Context, url string) (RemoteBlobRow, error)
	// RemoteBlobRepos lists the DIDs of the repos that reference the
	// remote blob at url, in order.
	RemoteBlobRepos(ctx context.Context, url string) ([]string, error)
}

// BlobWriter writes blobs, stored and remote.
type BlobWriter interface {
	// InsertBlob stores a new blob row (a nil CID for an upload in
	// progress; ID and Refs are ignored) and returns its id.
	InsertBlob(ctx context.Context, b BlobRow) (int64, error)
	// PutBlobChunk stores chunk n of the blob id.
	PutBlobChunk(ctx context.Context, blob, n int64, data []byte) error
	// GrowBlob sets the size and upload time of the blob id, an upload in
	// progress, and reports whether it is still one (it may have been
	// collected).
	GrowBlob(ctx context.Context, id, size, uploaded int64) (bool, error)
	// FinishBlob gives the blob id, an upload in progress, its CID, size
	// and upload time, and reports whether it was still in progress.
	FinishBlob(ctx context.Context, id int64, cid []byte, size, uploaded int64) (bool, error)
	// TouchBlob sets the upload time of the blob id.
	TouchBlob(ctx context.Context, id, uploaded int64) error
	// DeleteBlob deletes the blob id and its chunks; with pending, only if
	// it is an upload in progress.
	DeleteBlob(ctx context.Context, id int64, pending bool) error
	// NoteBlobUpload records that the repo uploaded the blob cid at
	// uploaded (the latest upload wins).
	NoteBlobUpload(ctx context.Context, repo int64, cid []byte, uploaded int64) error
	// CollectBlobs deletes, with their chunks, at most limit blobs last
	// uploaded at or before cutoff that are uploads in progress or that no
	// current record cites, and returns how many it deleted.
	CollectBlobs(ctx context.Context, cutoff int64, limit int) (int64, error)
	// InsertRemoteBlob stores the remote blob at url, not fetched yet,
	// unless it is stored already.
	InsertRemoteBlob(ctx context.Context, url string, now int64) error
	// AddRemoteBlobRepo adds the repo did to those that reference the
	// remote blob at url, and when it was not one already sets the blob's
	// updated time to now.
	AddRemoteBlobRepo(ctx context.Context, url, did string, now int64) error
	// SaveRemoteBlob writes every column of the remote blob r.URL but
	// created.
	SaveRemoteBlob(ctx context.Context, r RemoteBlobRow) error
}
