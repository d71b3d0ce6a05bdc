package atlite

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"mime"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/internal/storage"
	"github.com/atlite-dev/atlite/syntax"
)

// BlobChunkSize is the size of the chunks blob bytes are stored in (the
// last chunk of a blob is shorter).
const BlobChunkSize = 256 << 10

// Limits of [Store.ListBlobs].
const (
	// DefaultListBlobsLimit is the page size when the limit is 0 or less.
	DefaultListBlobsLimit = 500
	// MaxListBlobsLimit is the largest page.
	MaxListBlobsLimit = 1000
)

// Blob describes a blob stored in the file.
type Blob struct {
	CID      cid.Cid // raw-codec CID of the bytes
	MIMEType string
	Size     int64
	// Uploaded is the time of the last upload of these bytes.
	Uploaded time.Time
	// Refs is the number of current records, in all repos, that cite the
	// blob.
	Refs int64
}

// UploadBlobOptions configure [Store.UploadBlob]. A nil pointer, and every
// zero field, mean the documented default.
type UploadBlobOptions struct {
	// MaxBytes is the largest blob accepted. Default: DefaultBlobMaxBytes.
	MaxBytes int64
}

// UploadBlob stores the bytes read from r, until EOF, as a blob uploaded to
// the repo did, and returns it. The bytes are streamed in chunks of
// BlobChunkSize while their CID is computed, so memory use does not grow
// with the blob. mimeType is stored as given ("" means
// application/octet-stream); it must parse as a MIME type ([ErrBlobType]).
//
// A blob longer than MaxBytes returns [ErrBlobTooLarge] and leaves nothing
// stored, as does a read error or a cancelled ctx. Uploading bytes already
// stored stores nothing new and restarts their grace period (the MIME type
// first given is kept). The repo must exist ([ErrNotFound]) and be active
// ([InactiveRepoError]).
//
// A blob that fits in one chunk is stored in one transaction. A larger one
// is written one chunk per transaction, so that commits are not held up
// while a slow client sends it; until the last transaction its rows are
// invisible (no CID), and [Store.GCBlobs] removes them if the process dies
// in the middle.
func (s *Store) UploadBlob(ctx context.Context, did syntax.DID, r io.Reader, mimeType string, opts *UploadBlobOptions) (*Blob, error) {
	// No enter() for the whole call: reading r may take long, and Close
	// must not wait for a slow client. Each transaction enters on its own.
	var o UploadBlobOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultBlobMaxBytes
	}
	if mimeType == "" {
		mimeType = "application/octet-stream"
	}
	if _, _, err := mime.ParseMediaType(mimeType); err != nil {
		return nil, fmt.Errorf("upload blob: %w: %q: %v", ErrBlobType, mimeType, err)
	}
	b, err := s.uploadBlob(ctx, did, r, mimeType, o.MaxBytes)
	if err != nil {
		return nil, fmt.Errorf("upload blob to %s: %w", did, err)
	}
	return b, nil
}

func (s *Store) uploadBlob(ctx context.Context, did syntax.DID, r io.Reader, mimeType string, maxBytes int64) (*Blob, error) {
	buf := make([]byte, BlobChunkSize)
	h := sha256.New()
	var size int64
	// next reads the next chunk; last is set at EOF.
	next := func() (chunk []byte, last bool, err error) {
		n, err := io.ReadFull(r, buf)
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			last = true
		case err != nil:
			return nil, false, fmt.Errorf("read: %w", err)
		}
		if size+int64(n) > maxBytes {
			return nil, false, fmt.Errorf("%w: over %d bytes", ErrBlobTooLarge, maxBytes)
		}
		size += int64(n)
		h.Write(buf[:n])
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		return buf[:n], last, nil
	}

	chunk, last, err := next()
	if err != nil {
		return nil, err
	}
	var b *Blob
	if last { // the whole blob in one transaction
		c := rawCID(h.Sum(nil))
		err := s.updateOpen(ctx, func(tx storage.WriteTx) error {
			repo, err := activeRepoID(ctx, tx, did)
			if err != nil {
				return err
			}
			if b, err = finishBlob(ctx, tx, 0, c, mimeType, size, chunk, s.now()); err != nil {
				return err
			}
			return noteUpload(ctx, tx, repo, c, s.now())
		})
		if err != nil {
			return nil, err
		}
		return b, nil
	}

	var id int64
	err = s.updateOpen(ctx, func(tx storage.WriteTx) error {
		if _, err := activeRepoID(ctx, tx, did); err != nil {
			return err
		}
		var err error
		if id, err = tx.InsertBlob(ctx, storage.BlobRow{MIMEType: mimeType, Size: size, Uploaded: s.now().UnixMicro()}); err != nil {
			return err
		}
		return putChunk(ctx, tx, id, 0, size, chunk, s.now())
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if b == nil { // failed: drop what was written
			bg := context.WithoutCancel(ctx)
			_ = s.updateOpen(bg, func(tx storage.WriteTx) error { return tx.DeleteBlob(bg, id, true) })
		}
	}()
	for n := int64(1); ; n++ {
		chunk, last, err := next()
		if err != nil {
			return nil, err
		}
		if last {
			c := rawCID(h.Sum(nil))
			var out *Blob
			err := s.updateOpen(ctx, func(tx storage.WriteTx) error {
				repo, err := activeRepoID(ctx, tx, did)
				if err != nil {
					return err
				}
				if len(chunk) > 0 {
					if err := putChunk(ctx, tx, id, n, size, chunk, s.now()); err != nil {
						return err
					}
				}
				if out, err = finishBlob(ctx, tx, id, c, mimeType, size, nil, s.now()); err != nil {
					return err
				}
				return noteUpload(ctx, tx, repo, c, s.now())
			})
			if err != nil {
				return nil, err
			}
			b = out
			return b, nil
		}
		if err := s.updateOpen(ctx, func(tx storage.WriteTx) error { return putChunk(ctx, tx, id, n, size, chunk, s.now()) }); err != nil {
			return nil, err
		}
	}
}

// noteUpload records that repo uploaded the blob c at now.
func noteUpload(ctx context.Context, tx storage.WriteTx, repo int64, c cid.Cid, now time.Time) error {
	if err := tx.NoteBlobUpload(ctx, repo, c.Bytes(), now.UnixMicro()); err != nil {
		return fmt.Errorf("note upload: %w", err)
	}
	return nil
}

// RepoHasBlob reports whether the blob c belongs to the repo did: a current
// record of the repo cites it, or the repo uploaded it less than
// gracePeriod ago (pass DefaultBlobGracePeriod) and may yet cite it. A
// server serves a repo's blob (com.atproto.sync.getBlob) only then, so
// that one repo's URLs do not serve another's blobs. It does not say that
// the blob's bytes are stored ([Store.StatBlob] does). An unknown repo
// gives ErrRepoNotFound.
func (s *Store) RepoHasBlob(ctx context.Context, did syntax.DID, c cid.Cid, gracePeriod time.Duration) (bool, error) {
	done, err := s.enter()
	if err != nil {
		return false, err
	}
	defer done()
	cited, uploaded, err := s.b.Reader().RepoHasBlob(ctx, did.String(), c.Bytes(), s.now().Add(-gracePeriod).UnixMicro())
	if errors.Is(err, storage.ErrNotFound) {
		return false, fmt.Errorf("%s: %w", did, ErrRepoNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("blob %s of %s: %w", c, did, err)
	}
	return cited || uploaded, nil
}

// activeRepoID returns the id of the repo did if it exists and is active.
func activeRepoID(ctx context.Context, tx storage.ReadTx, did syntax.DID) (int64, error) {
	r, err := tx.Repo(ctx, did.String())
	if errors.Is(err, storage.ErrNotFound) {
		return 0, fmt.Errorf("%s: %w", did, ErrRepoNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("read repo %s: %w", did, err)
	}
	if r.Status != nil {
		return 0, &InactiveRepoError{DID: did.String(), Status: *r.Status}
	}
	return r.ID, nil
}

// putChunk writes chunk n of the pending blob id and bumps its size and
// upload time.
func putChunk(ctx context.Context, tx storage.WriteTx, id, n, size int64, chunk []byte, now time.Time) error {
	if err := tx.PutBlobChunk(ctx, id, n, chunk); err != nil {
		return err
	}
	pending, err := tx.GrowBlob(ctx, id, size, now.UnixMicro())
	if err != nil {
		return fmt.Errorf("put chunk %d: %w", n, err)
	}
	if !pending {
		return errors.New("upload was garbage-collected while in progress")
	}
	return nil
}

// finishBlob completes an upload of c. If c is already stored, its upload
// time is bumped and the pending blob id (if any) dropped. Otherwise the
// pending blob id gets its CID, or, when id is 0, the one-chunk blob is
// inserted with its chunk.
func finishBlob(ctx context.Context, tx storage.WriteTx, id int64, c cid.Cid, mimeType string, size int64, chunk []byte, now time.Time) (*Blob, error) {
	existing, err := tx.Blob(ctx, c.Bytes())
	switch {
	case err == nil:
		if err := tx.TouchBlob(ctx, existing.ID, now.UnixMicro()); err != nil {
			return nil, fmt.Errorf("bump blob: %w", err)
		}
		if id != 0 {
			if err := tx.DeleteBlob(ctx, id, false); err != nil {
				return nil, fmt.Errorf("drop duplicate upload: %w", err)
			}
		}
		existing.Uploaded = now.UnixMicro()
		return blobOf(&existing)
	case !errors.Is(err, storage.ErrNotFound):
		return nil, fmt.Errorf("read blob: %w", err)
	}
	if id == 0 {
		if id, err = tx.InsertBlob(ctx, storage.BlobRow{CID: c.Bytes(), MIMEType: mimeType, Size: size, Uploaded: now.UnixMicro()}); err != nil {
			return nil, err
		}
		if len(chunk) > 0 {
			if err := tx.PutBlobChunk(ctx, id, 0, chunk); err != nil {
				return nil, err
			}
		}
	} else {
		pending, err := tx.FinishBlob(ctx, id, c.Bytes(), size, now.UnixMicro())
		if err != nil {
			return nil, fmt.Errorf("finish blob: %w", err)
		}
		if !pending {
			return nil, errors.New("upload was garbage-collected while in progress")
		}
	}
	refs, err := tx.BlobRefCount(ctx, c.Bytes())
	if err != nil {
		return nil, fmt.Errorf("count refs: %w", err)
	}
	return &Blob{CID: c, MIMEType: mimeType, Size: size, Uploaded: time.UnixMicro(now.UnixMicro()).UTC(), Refs: refs}, nil
}

// blobOf converts a row to a Blob.
func blobOf(r *storage.BlobRow) (*Blob, error) {
	c, err := datamodel.CIDFromBytes(r.CID)
	if err != nil {
		return nil, fmt.Errorf("stored blob %d: %w", r.ID, err)
	}
	return &Blob{CID: c, MIMEType: r.MIMEType, Size: r.Size, Uploaded: time.UnixMicro(r.Uploaded).UTC(), Refs: r.Refs}, nil
}

// StatBlob describes the stored blob c, or returns ErrNotFound.
func (s *Store) StatBlob(ctx context.Context, c cid.Cid) (*Blob, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	r, err := s.b.Reader().Blob(ctx, c.Bytes())
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("blob %s: %w", c, ErrNotFound)
		}
		return nil, fmt.Errorf("blob %s: %w", c, err)
	}
	return blobOf(&r)
}

// OpenBlob opens the stored blob c for reading, or returns ErrNotFound. The
// reader streams the blob a chunk at a time; it is an io.ReadSeeker (for
// http.ServeContent and its ranges) and an io.ReaderAt. ctx governs every
// read through it. Close it when done; a blob garbage-collected while open
// makes later reads fail with ErrNotFound.
func (s *Store) OpenBlob(ctx context.Context, c cid.Cid) (*BlobReader, error) {
	b, err := s.StatBlob(ctx, c)
	if err != nil {
		return nil, err
	}
	return &BlobReader{s: s, rd: s.b.Reader(), ctx: ctx, blob: *b, key: c.Bytes(), n: -1}, nil
}

// BlobReader reads a stored blob; see [Store.OpenBlob]. Its methods are safe
// for concurrent use, though concurrent Read and Seek calls share one
// offset.
type BlobReader struct {
	s    *Store
	rd   storage.ReadTx // reads outside any transaction, a statement per chunk
	ctx  context.Context
	blob Blob
	key  []byte

	mu     sync.Mutex
	off    int64
	n      int64  // index of the chunk in buf; -1 none
	buf    []byte // a copy of chunk n
	closed bool
}

var (
	_ io.ReadSeekCloser = (*BlobReader)(nil)
	_ io.ReaderAt       = (*BlobReader)(nil)
)

// Blob describes the blob being read.
func (r *BlobReader) Blob() Blob { return r.blob }

// Size returns the blob's size in bytes.
func (r *BlobReader) Size() int64 { return r.blob.Size }

// Read implements io.Reader.
func (r *BlobReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := r.readAt(p, r.off, true)
	r.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// ReadAt implements io.ReaderAt.
func (r *BlobReader) ReadAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if off < 0 {
		return 0, errors.New("blob: negative offset")
	}
	n, err := r.readAt(p, off, false)
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

// readAt reads from off until p is full or a chunk ends (Read) or the blob
// ends (ReadAt). It returns io.EOF only when off is at or past the end.
func (r *BlobReader) readAt(p []byte, off int64, oneChunk bool) (int, error) {
	if r.closed {
		return 0, errors.New("blob: read after close")
	}
	if off >= r.blob.Size {
		return 0, io.EOF
	}
	total := 0
	for len(p) > 0 && off < r.blob.Size {
		n := off / BlobChunkSize
		if err := r.load(n); err != nil {
			return total, err
		}
		k := copy(p, r.buf[off-n*BlobChunkSize:])
		if k == 0 {
			return total, fmt.Errorf("blob %s: chunk %d is short", r.blob.CID, n)
		}
		total += k
		off += int64(k)
		p = p[k:]
		if oneChunk {
			break
		}
	}
	return total, nil
}

// load makes chunk n the one in buf.
func (r *BlobReader) load(n int64) error {
	if r.n == n {
		return nil
	}
	done, err := r.s.enter()
	if err != nil {
		return err
	}
	defer done()
	// One statement outside any transaction, into the one reused buffer:
	// no copy allocated per chunk.
	buf, err := r.rd.BlobChunk(r.ctx, r.key, n, r.buf)
	if err != nil {
		r.n = -1 // buf may be partly overwritten
		return fmt.Errorf("blob %s chunk %d: %w", r.blob.CID, n, err)
	}
	r.buf, r.n = buf, n
	return nil
}

// Seek implements io.Seeker.
func (r *BlobReader) Seek(offset int64, whence int) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = r.off + offset
	case io.SeekEnd:
		abs = r.blob.Size + offset
	default:
		return 0, errors.New("blob: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("blob: negative position")
	}
	r.off = abs
	return abs, nil
}

// Close releases the reader's buffer; later reads fail.
func (r *BlobReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed, r.buf, r.n = true, nil, -1
	return nil
}

// ListBlobsOptions select blobs for [Store.ListBlobs]. A nil pointer means
// the first page of all of them.
type ListBlobsOptions struct {
	// Since, when set, selects the blobs cited by records written after
	// that rev.
	Since syntax.TID
	// Cursor is the cursor ListBlobs returned for the previous page; ""
	// starts at the beginning.
	Cursor string
	// Limit caps the page: DefaultListBlobsLimit when <= 0, at most
	// MaxListBlobsLimit.
	Limit int
}

// ListBlobs lists, for com.atproto.sync.listBlobs, the stored blobs cited by
// the current records of the repo did, in the order of their binary CIDs,
// and returns the cursor of the next page: "" when there are no more. Blobs
// cited but not stored here are not listed. It returns ErrNotFound if the
// repo does not exist.
func (s *Store) ListBlobs(ctx context.Context, did syntax.DID, opts *ListBlobsOptions) ([]cid.Cid, string, error) {
	done, err := s.enter()
	if err != nil {
		return nil, "", err
	}
	defer done()
	var o ListBlobsOptions
	if opts != nil {
		o = *opts
	}
	since, cursor, limit := o.Since, o.Cursor, o.Limit
	if limit <= 0 {
		limit = DefaultListBlobsLimit
	}
	limit = min(limit, MaxListBlobsLimit)
	var after []byte
	if cursor != "" {
		c, err := datamodel.ParseCID(cursor)
		if err != nil {
			return nil, "", fmt.Errorf("list blobs of %s: cursor: %w", did, err)
		}
		after = c.Bytes()
	}
	var out []cid.Cid
	err = s.b.View(ctx, func(tx storage.ReadTx) error {
		repo, err := repoID(ctx, tx, did)
		if err != nil {
			return err
		}
		keys, err := tx.RepoBlobs(ctx, storage.RepoBlobsQuery{Repo: repo, After: after, Since: since.String(), Limit: limit + 1})
		if err != nil {
			return err
		}
		for _, k := range keys {
			c, err := datamodel.CIDFromBytes(k)
			if err != nil {
				return fmt.Errorf("stored blob ref: %w", err)
			}
			out = append(out, c)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("list blobs of %s: %w", did, err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = out[len(out)-1].String()
	}
	return out, next, nil
}

// gcBatch is how many blobs one GCBlobs transaction deletes at most, so
// that the write lock is released between batches.
const gcBatch = 16

// GCBlobs deletes the stored blobs that no current record cites and that
// were last uploaded more than gracePeriod ago (pass
// DefaultBlobGracePeriod; 0 collects every uncited blob), and the
// leftovers of uploads that stopped that long ago. It returns the number of
// blobs deleted. It runs in batches of short transactions, so commits are
// not held up (nor Close); a blob cited again, or uploaded again, before
// its batch runs is kept.
func (s *Store) GCBlobs(ctx context.Context, gracePeriod time.Duration) (int, error) {
	cutoff := s.now().Add(-gracePeriod).UnixMicro()
	total := 0
	for {
		var n int64
		err := s.updateOpen(ctx, func(tx storage.WriteTx) error {
			var err error
			n, err = tx.CollectBlobs(ctx, cutoff, gcBatch)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("gc blobs: %w", err)
		}
		total += int(n)
		if n < gcBatch {
			return total, nil
		}
	}
}
