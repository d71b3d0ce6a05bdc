package atlite

import (
	"context"
	"fmt"
	"time"

	"github.com/atlite-dev/atlite/internal/storage"
	"github.com/atlite-dev/atlite/syntax"
)

const (
	// DefaultEventRetention is how long events are kept by
	// [Store.PruneEvents] with default options: the firehose's backfill
	// window.
	DefaultEventRetention = 72 * time.Hour
	// DefaultEventsKept is the number of newest events PruneEvents keeps
	// whatever their age, with default options.
	DefaultEventsKept = 1000
	// DefaultPruneLimit is the most events one PruneEvents call deletes,
	// with default options: one short transaction.
	DefaultPruneLimit = 5000
)

// PruneEventsOptions configure [Store.PruneEvents]. A nil pointer or a
// zero field means its default.
type PruneEventsOptions struct {
	// Before is the cutoff: events older than it may go. Default: the
	// Store's clock minus DefaultEventRetention.
	Before time.Time
	// Keep is the number of newest events kept whatever their age; at
	// least 1 (the newest event, whose seq the next one follows), which is
	// also what a negative value means. Default: DefaultEventsKept.
	Keep int
	// Limit is the most events deleted in this call. Default:
	// DefaultPruneLimit.
	Limit int
}

// PruneResult says what [Store.PruneEvents] did.
type PruneResult struct {
	// Deleted is the number of events deleted.
	Deleted int64
	// Oldest is the seq of the oldest event kept; 0 when there is none.
	Oldest int64
	// More reports that the limit stopped the call while older events
	// were still due: call again.
	More bool
}

// PruneEvents deletes the oldest events of the event stream in one short
// write transaction: those older than the cutoff, never the Keep newest,
// at most Limit of them, and only from the start of the stream, so the seqs
// left stay gapless (a newer event with an older time, from a clock set
// back, stops the prune there). Seqs are never reused: the next event
// follows the newest, which is always kept.
//
// A firehose cursor older than the oldest kept event gets #info
// OutdatedCursor and the stream from there. An export since a rev whose
// commit event was pruned, older than the repo's oldest kept commit event,
// writes the whole repo: a superset of what changed since that rev.
// Blocks are not deleted here: [Store.GC] then collects those that only the
// pruned events kept.
func (s *Store) PruneEvents(ctx context.Context, opts *PruneEventsOptions) (*PruneResult, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	var o PruneEventsOptions
	if opts != nil {
		o = *opts
	}
	if o.Before.IsZero() {
		o.Before = s.now().Add(-DefaultEventRetention)
	}
	switch {
	case o.Keep == 0:
		o.Keep = DefaultEventsKept
	case o.Keep < 0:
		o.Keep = 1
	}
	if o.Limit <= 0 {
		o.Limit = DefaultPruneLimit
	}
	cutoff := o.Before.UnixMicro()
	res := &PruneResult{}
	err = s.b.Update(ctx, nil, func(tx storage.WriteTx) error {
		n, lo, hi, err := tx.EventSeqs(ctx)
		if err != nil || n == 0 {
			return err
		}
		// Never past the Keep newest, nor more than Limit.
		last := min(hi-int64(o.Keep), lo+int64(o.Limit)-1)
		// Up to the first event at or after the cutoff.
		through := last // the last seq to delete
		if last >= lo {
			first, err := tx.FirstEventAtOrAfter(ctx, lo-1, last, cutoff)
			if err != nil {
				return err
			}
			if first != 0 {
				through = first - 1
			}
		}
		res.Oldest = through + 1
		if through < lo {
			res.Oldest = lo
			return nil
		}
		if res.Deleted, err = tx.DeleteEventsThrough(ctx, through); err != nil {
			return err
		}
		if through == lo+int64(o.Limit)-1 && through < hi-int64(o.Keep) {
			// The limit stopped it: is the next event due too?
			next, err := tx.Events(ctx, through, "", 1)
			if err != nil {
				return err
			}
			res.More = len(next) == 1 && next[0].Time < cutoff
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("prune events: %w", err)
	}
	return res, nil
}

// revPruned reports, for a rev of did whose commit event is not stored,
// whether that event was pruned (so that an export since rev must write the
// whole repo, and a head at rev is not damage): events were pruned from the
// start of the stream, and rev is older than the repo's oldest kept event
// with a rev (or the repo has none). The caller has looked the event up.
func revPruned(ctx context.Context, tx storage.ReadTx, did syntax.DID, rev syntax.TID) (bool, error) {
	pruned, err := tx.EventsPrunedThrough(ctx)
	if err != nil || pruned == 0 {
		return false, err // nothing was pruned: an unknown rev
	}
	after := int64(0)
	for {
		rows, err := tx.Events(ctx, after, did.String(), 50)
		if err != nil {
			return false, err
		}
		if len(rows) == 0 {
			return true, nil // every event of the repo with a rev was pruned
		}
		for _, r := range rows {
			if r.Rev != nil {
				return rev.String() < *r.Rev, nil
			}
		}
		after = rows[len(rows)-1].Seq
	}
}
