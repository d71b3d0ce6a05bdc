package atlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// SubscribeReposNSID names the sequence shared by every event of the
// repository event stream (com.atproto.sync.subscribeRepos): commits,
// identity, account and sync events of all repos draw from one counter.
//
// This sequence is the events table itself: an event's seq is its primary
// key, allocated as the last seq plus one inside the transaction that
// writes the event, so a commit costs no separate counter row and a failed
// transaction leaves no gap. [Store.LastSeq] reads it; [Store.AllocateSeq]
// refuses it, since a seq without an event would be a gap in the stream.
const SubscribeReposNSID = "com.atproto.sync.subscribeRepos"

// AllocateSeq hands out the next number of the sequence named nsid, starting
// at 1. Sequences are gapless: a number is consumed only when the transaction
// that allocates it commits. The event stream's sequence
// (SubscribeReposNSID) is allocated only by the events themselves.
func (s *Store) AllocateSeq(ctx context.Context, nsid string) (int64, error) {
	done, err := s.enter()
	if err != nil {
		return 0, err
	}
	defer done()
	if nsid == SubscribeReposNSID {
		return 0, fmt.Errorf("allocate seq %s: the event stream's seqs are allocated by its events", nsid)
	}
	var seq int64
	err = s.update(ctx, func(tx *sqlx.Tx) error {
		seq, err = allocSeq(ctx, tx, nsid)
		return err
	})
	return seq, err
}

// LastSeq returns the last number handed out by the sequence named nsid, or 0
// when none has been (sequences start at 1).
func (s *Store) LastSeq(ctx context.Context, nsid string) (int64, error) {
	done, err := s.enter()
	if err != nil {
		return 0, err
	}
	defer done()
	const q = `SELECT next - 1 FROM sequences WHERE nsid = ?`
	const qEvents = `SELECT coalesce(max(seq), 0) FROM events`
	var last int64
	if nsid == SubscribeReposNSID {
		err = s.r.QueryRowxContext(ctx, qEvents).Scan(&last)
	} else {
		err = s.r.QueryRowxContext(ctx, q, nsid).Scan(&last)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("last seq %s: %w", nsid, err)
	}
	return last, nil
}

const allocSeqSQL = `INSERT INTO sequences (nsid, next) VALUES (?, 2)
ON CONFLICT (nsid) DO UPDATE SET next = next + 1
RETURNING next - 1`

// allocSeq allocates the next number of nsid inside tx.
func allocSeq(ctx context.Context, tx *sqlx.Tx, nsid string) (int64, error) {
	var seq int64
	if err := tx.QueryRowxContext(ctx, allocSeqSQL, nsid).Scan(&seq); err != nil {
		return 0, fmt.Errorf("allocate seq %s: %w", nsid, err)
	}
	return seq, nil
}
