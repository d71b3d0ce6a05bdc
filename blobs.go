package atlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/internal/storage"
)

// Blob limits and policies.
const (
	// DefaultBlobMaxBytes is the largest blob accepted, uploaded or fetched
	// (arroba's BLOB_MAX_BYTES).
	DefaultBlobMaxBytes = 100_000_000
	// MaxVideoDuration is the longest video a blob may hold; exactly this
	// long passes.
	MaxVideoDuration = 3 * time.Minute
	// DefaultBlobGracePeriod is how long an uploaded blob that no record
	// cites is kept: the grace period to pass to [Store.GCBlobs].
	DefaultBlobGracePeriod = time.Hour
)

// ErrBlobTooLarge is returned when a blob is larger than the limit that
// applies: the upload or fetch limit, or a lexicon's maxSize.
var ErrBlobTooLarge = errors.New("blob too large")

// ErrBlobType is returned when a blob's MIME type is not in a lexicon's
// accept list, or is not a valid MIME type.
var ErrBlobType = errors.New("blob type not accepted")

// ErrBlobTooLong is returned when a video blob is longer than
// [MaxVideoDuration].
var ErrBlobTooLong = errors.New("video too long")

// ErrBlobInactive is returned when a remote blob is marked inactive (its URL
// answered 4xx, or never answered); it is not fetched again.
var ErrBlobInactive = errors.New("blob is inactive")

// ErrBlobFetch is returned when a remote blob cannot be fetched: a bad URL,
// a network error or timeout, a redirect to a non-HTTP scheme, or a response
// status other than 2xx.
var ErrBlobFetch = errors.New("cannot fetch blob")

// BlobRefs returns the blobs a record cites, each once, sorted by their
// binary form: maps with "$type": "blob" and a "ref" link, and legacy blob maps of
// exactly a "cid" string and a "mimeType" string. record is a decoded
// data-model value ([datamodel.Unmarshal]).
func BlobRefs(record any) []cid.Cid {
	var out []cid.Cid
	seen := map[cid.Cid]bool{}
	var walk func(v any, depth int)
	walk = func(v any, depth int) {
		if depth > datamodel.MaxDepth {
			return
		}
		switch v := v.(type) {
		case map[string]any:
			if c, ok := blobRef(v); ok {
				if !seen[c] {
					seen[c] = true
					out = append(out, c)
				}
				return
			}
			for _, e := range v {
				walk(e, depth+1)
			}
		case []any:
			for _, e := range v {
				walk(e, depth+1)
			}
		}
	}
	walk(record, 0)
	// Map iteration order is random: sort for a stable result.
	slices.SortFunc(out, func(a, b cid.Cid) int { return strings.Compare(a.KeyString(), b.KeyString()) })
	return out
}

// blobRef returns the CID of a blob object m, if it is one.
func blobRef(m map[string]any) (cid.Cid, bool) {
	if t, ok := m["$type"]; ok {
		if t != "blob" {
			return cid.Undef, false
		}
		c, ok := m["ref"].(cid.Cid)
		return c, ok && c.Defined()
	}
	if len(m) != 2 {
		return cid.Undef, false
	}
	s, ok := m["cid"].(string)
	if _, isStr := m["mimeType"].(string); !ok || !isStr {
		return cid.Undef, false
	}
	c, err := datamodel.ParseCID(s)
	return c, err == nil
}

// mayCiteBlobs reports whether the DAG-CBOR record could hold a blob object:
// both kinds have a "mimeType" key, and "$type": "blob" has the text "blob".
// It lets commits skip decoding records that cite no blob.
func mayCiteBlobs(record []byte) bool {
	return bytes.Contains(record, []byte("\x68mimeType")) || bytes.Contains(record, []byte("\x64blob"))
}

// recordBlobRefs decodes a DAG-CBOR record and returns the blobs it cites.
func recordBlobRefs(record []byte) ([]cid.Cid, error) {
	if !mayCiteBlobs(record) {
		return nil, nil
	}
	v, err := datamodel.Unmarshal(record)
	if err != nil {
		return nil, err
	}
	return BlobRefs(v), nil
}

// blobRefChanges computes which blobs a commit's records cite, for the
// commit's transaction to record: the references of updated and deleted
// records are dropped (by path, so the old record need not be read), and
// those of created and updated records added with the commit's rev. recs[i] is the
// CID of writes[i].Record; ops are those of commitTx, in write order (a
// no-op update has no op), and an op's record is found by its CID. Imports
// index references as they walk the tree (importRecords).
//
// A record may cite a blob that is not stored here (never uploaded, or
// served from elsewhere): the commit is accepted and the reference kept, so
// that a later upload of that blob counts as cited; [Store.ListBlobs] lists
// only stored blobs.
func blobRefChanges(writes []commit.Write, recs []cid.Cid, ops []commit.Op) (drop []string, add []storage.BlobRef, err error) {
	for _, op := range ops {
		if op.Action != commit.Create {
			drop = append(drop, op.Path)
		}
	}
	var records map[cid.Cid][]byte
	for i, w := range writes {
		if w.Action != commit.Delete && mayCiteBlobs(w.Record) {
			if records == nil {
				records = map[cid.Cid][]byte{}
			}
			records[recs[i]] = w.Record
		}
	}
	if records == nil {
		return drop, nil, nil
	}
	for _, op := range ops {
		rec, ok := records[op.CID]
		if !op.CID.Defined() || !ok {
			continue
		}
		refs, err := recordBlobRefs(rec)
		if err != nil {
			return nil, nil, fmt.Errorf("blob refs of %s: %w", op.Path, err)
		}
		for _, c := range refs {
			add = append(add, storage.BlobRef{Path: op.Path, CID: c})
		}
	}
	return drop, add, nil
}

// updateOpen is s.b.Update for methods that do not hold enter() for their
// whole duration (they wait on the network or on a caller's reader between
// transactions): it enters for the one transaction, or returns ErrClosed.
func (s *Store) updateOpen(ctx context.Context, fn func(tx storage.WriteTx) error) error {
	done, err := s.enter()
	if err != nil {
		return err
	}
	defer done()
	return s.b.Update(ctx, nil, fn)
}

// viewOpen is s.b.View as updateOpen is s.b.Update.
func (s *Store) viewOpen(ctx context.Context, fn func(tx storage.ReadTx) error) error {
	done, err := s.enter()
	if err != nil {
		return err
	}
	defer done()
	return s.b.View(ctx, fn)
}
