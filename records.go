package atlite

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/internal/storage"
	"github.com/atlite-dev/atlite/syntax"
)

// Record is a stored record: where it is, its CID and its DAG-CBOR bytes.
type Record struct {
	DID        syntax.DID // the repo that holds it
	Collection syntax.NSID
	RKey       syntax.RecordKey
	CID        cid.Cid
	Data       []byte // DAG-CBOR; see Value and JSON
}

// Path returns "collection/rkey".
func (r *Record) Path() string { return r.Collection.String() + "/" + r.RKey.String() }

// URI returns the record's AT-URI, "at://did/collection/rkey".
func (r *Record) URI() syntax.ATURI {
	return syntax.ATURI("at://" + r.DID.String() + "/" + r.Path())
}

// JSON returns the record's value as atproto JSON (see datamodel.ToJSON:
// CIDs as {"$link": ...}, bytes as {"$bytes": ...}), keys sorted.
func (r *Record) JSON() ([]byte, error) {
	j, err := datamodel.CBORToJSON(r.Data)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", r.Path(), err)
	}
	return j, nil
}

// Value decodes the record into the data model: a map whose values are
// nil, bool, int64, string, []byte, cid.Cid, []any and map[string]any (see
// package datamodel; datamodel.ToJSON renders it as atproto JSON).
func (r *Record) Value() (map[string]any, error) {
	m, err := datamodel.UnmarshalMap(r.Data)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", r.Path(), err)
	}
	return m, nil
}

type recordRow = storage.RecordRow

// record converts a row, checking that the stored bytes hash to the CID: a
// damaged block is reported (ErrCorrupt), never served under its old CID.
func recordOf(r *recordRow, did syntax.DID) (Record, error) {
	c, err := cid.Cast(r.CID)
	if err != nil {
		return Record{}, fmt.Errorf("stored record %s/%s: %w", r.Collection, r.RKey, err)
	}
	if r.Data == nil {
		return Record{}, fmt.Errorf("%w: record %s/%s/%s: block %s is missing", ErrCorrupt, did, r.Collection, r.RKey, c)
	}
	if err := checkHash(c, r.Data); err != nil {
		return Record{}, fmt.Errorf("record %s/%s/%s: %w", did, r.Collection, r.RKey, err)
	}
	return Record{DID: did, Collection: syntax.NSID(r.Collection), RKey: syntax.RecordKey(r.RKey), CID: c, Data: r.Data}, nil
}

// GetRecord returns the current record at collection/rkey in the repo did,
// whatever the repo's status. It returns ErrRecordNotFound when the repo
// holds no such record and ErrRepoNotFound when there is no such repo (both
// wrap ErrNotFound). Its bytes are checked against its CID ([ErrCorrupt]).
func (s *Store) GetRecord(ctx context.Context, did syntax.DID, collection syntax.NSID, rkey syntax.RecordKey) (*Record, error) {
	return s.getRecord(ctx, did, collection, rkey, false)
}

// GetActiveRecord is [Store.GetRecord] for a server that answers for
// active repos only, as a PDS serves com.atproto.repo.getRecord: when the
// repo did is not active (deactivated, taken down, suspended, ...) it
// returns an [*InactiveRepoError], whether or not the record exists. The
// repo's status and the record are read in one statement.
func (s *Store) GetActiveRecord(ctx context.Context, did syntax.DID, collection syntax.NSID, rkey syntax.RecordKey) (*Record, error) {
	return s.getRecord(ctx, did, collection, rkey, true)
}

// getRecord is GetRecord, and GetActiveRecord when active is set.
func (s *Store) getRecord(ctx context.Context, did syntax.DID, collection syntax.NSID, rkey syntax.RecordKey, active bool) (*Record, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	status, row, err := s.b.Reader().Record(ctx, did.String(), collection.String(), rkey.String())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, fmt.Errorf("%s: %w", did, ErrRepoNotFound)
	case err != nil:
		return nil, fmt.Errorf("get record %s/%s/%s: %w", did, collection, rkey, err)
	case active && status != StatusActive:
		return nil, &InactiveRepoError{DID: did.String(), Status: status}
	case row.Collection == "":
		return nil, fmt.Errorf("%s/%s/%s: %w", did, collection, rkey, ErrRecordNotFound)
	}
	rec, err := recordOf(&row, did)
	if err != nil {
		return nil, err
	}
	return &rec, nil
}

// ListRecordsOptions select records for [Store.ListRecords]. A nil pointer
// means the first DefaultListLimit records in record-key order.
type ListRecordsOptions struct {
	// Limit caps the number of records; zero means DefaultListLimit.
	Limit int
	// Cursor is an exclusive record-key cursor: listing resumes after it
	// (before it when Reverse).
	Cursor string
	// Reverse lists in descending record-key order.
	Reverse bool
}

// DefaultListLimit is the number of records [Store.ListRecords] returns when
// ListRecordsOptions.Limit is zero.
const DefaultListLimit = 50

// ListRecords lists the records of one collection of the repo did in
// record-key order, with their bytes, in one query, and returns the cursor
// of the next page: the record key of the last record returned when more
// records follow it, "" when the list is complete (as [Store.ListBlobs]
// does). Pass the cursor back as ListRecordsOptions.Cursor, with the same
// Reverse, for the next page. It returns ErrRepoNotFound when there is no
// such repo (an empty collection is an empty list).
func (s *Store) ListRecords(ctx context.Context, did syntax.DID, collection syntax.NSID, opts *ListRecordsOptions) ([]Record, string, error) {
	done, err := s.enter()
	if err != nil {
		return nil, "", err
	}
	defer done()
	var o ListRecordsOptions
	if opts != nil {
		o = *opts
	}
	opts = &o
	limit := opts.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	// One row more than asked tells whether another page follows.
	rows, err := s.b.Reader().Records(ctx, storage.RecordsQuery{DID: did.String(), Collection: collection.String(), After: opts.Cursor, Reverse: opts.Reverse, Limit: limit + 1})
	if err != nil {
		return nil, "", fmt.Errorf("list records %s/%s: %w", did, collection, err)
	}
	if len(rows) == 0 {
		if err := s.repoExists(ctx, did); err != nil {
			return nil, "", err
		}
	}
	cursor := ""
	if len(rows) > limit {
		rows = rows[:limit]
		cursor = rows[limit-1].RKey
	}
	recs, err := convertRows(rows, func(r *recordRow) (Record, error) { return recordOf(r, did) })
	if err != nil {
		return nil, "", err
	}
	return recs, cursor, nil
}

// repoExists returns ErrRepoNotFound when the store has no repo did.
func (s *Store) repoExists(ctx context.Context, did syntax.DID) error {
	ok, err := s.b.Reader().RepoExists(ctx, did.String())
	if err != nil {
		return fmt.Errorf("repo %s: %w", did, err)
	}
	if !ok {
		return fmt.Errorf("%s: %w", did, ErrRepoNotFound)
	}
	return nil
}
