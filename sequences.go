package atlite

import (
	"context"
	"fmt"

	"github.com/atlite-dev/atlite/internal/storage"
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
	if nsid == storage.PrunedSeqName {
		return 0, fmt.Errorf("allocate seq %s: the name is the store's own", nsid)
	}
	var seq int64
	err = s.b.Update(ctx, nil, func(tx storage.WriteTx) error {
		seq, err = tx.AllocateSeq(ctx, nsid)
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
	var last int64
	if nsid == SubscribeReposNSID {
		last, err = s.b.Reader().LastEventSeq(ctx)
	} else {
		last, err = s.b.Reader().LastSeq(ctx, nsid)
	}
	if err != nil {
		return 0, fmt.Errorf("last seq %s: %w", nsid, err)
	}
	return last, nil
}
