package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/atlite-dev/atlite/internal/storage"
)

var (
	// The existing row is named sequences.next: a bare next would be
	// ambiguous with excluded.next on PostgreSQL.
	allocSeqSQL = Q(`INSERT INTO sequences (nsid, next) VALUES (?, 2)
ON CONFLICT (nsid) DO UPDATE SET next = sequences.next + 1
RETURNING next - 1`)
	lastSeqSQL      = Q(`SELECT next - 1 FROM sequences WHERE nsid = ?`)
	lastEventSeqSQL = Q(`SELECT coalesce(max(seq), 0) FROM events`)
)

// AllocateSeq implements storage.SequenceWriter: one upsert, whose row
// lock (PostgreSQL) or write transaction (SQLite) keeps a number from
// being handed out twice.
func (t *Tx) AllocateSeq(ctx context.Context, nsid string) (int64, error) {
	var seq int64
	if err := t.get(ctx, &seq, allocSeqSQL, nsid); err != nil {
		return 0, fmt.Errorf("allocate seq %s: %w", nsid, err)
	}
	return seq, nil
}

// LastSeq implements storage.SequenceReader.
func (t *Tx) LastSeq(ctx context.Context, nsid string) (int64, error) {
	var last int64
	err := t.get(ctx, &last, lastSeqSQL, nsid)
	if errors.Is(err, storage.ErrNotFound) {
		return 0, nil
	}
	return last, err
}

// LastEventSeq implements storage.SequenceReader.
func (t *Tx) LastEventSeq(ctx context.Context) (int64, error) {
	var last int64
	err := t.get(ctx, &last, lastEventSeqSQL)
	return last, err
}
