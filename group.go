package atlite

import (
	"context"
	"fmt"
	"sync"

	"github.com/ipfs/go-cid"
	"github.com/jmoiron/sqlx"

	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/syntax"
)

// DefaultMaxGroupCommits is the largest number of commits that share one
// SQLite transaction when several goroutines commit at once, unless
// Options.MaxGroupCommits says otherwise.
const DefaultMaxGroupCommits = 64

// Group commit: concurrent Commit calls queue up; one of them, the leader,
// runs everything queued in ONE write transaction, each commit inside its
// own SAVEPOINT, so each stays atomic (a failing one is rolled back alone)
// and gets its own seq, while the cost of the transaction's commit is
// shared. A lone caller runs its commit at once. When the leader is done it
// hands the lead to the first queued request.

// commitReq is one queued commit and, once done, its outcome.
type commitReq struct {
	ctx    context.Context
	did    syntax.DID
	writes []commit.Write
	recs   []cid.Cid
	opts   CommitOptions

	res   *CommitResult
	ev    Event
	nodes []Block
	err   error

	// wake receives true when the request must lead the next group, false
	// when it has been committed (or failed).
	wake chan bool
}

type committer struct {
	mu      sync.Mutex
	pending []*commitReq
	leading bool
	largest int // the largest group so far, for tests
}

// runCommit commits req, alone or in a group, and returns when req is done.
func (s *Store) runCommit(req *commitReq) {
	c := &s.group
	c.mu.Lock()
	c.pending = append(c.pending, req)
	if c.leading {
		c.mu.Unlock()
		if lead := <-req.wake; !lead {
			return
		}
		c.mu.Lock()
	}
	c.leading = true
	n := min(len(c.pending), s.opts.MaxGroupCommits)
	batch := c.pending[:n:n]
	c.pending = c.pending[n:]
	c.largest = max(c.largest, n)
	c.mu.Unlock()

	s.commitGroup(batch)

	c.mu.Lock()
	if len(c.pending) > 0 {
		c.pending[0].wake <- true // hand over the lead
	} else {
		c.leading = false
	}
	c.mu.Unlock()
	for _, r := range batch {
		if r != req {
			r.wake <- false
		}
	}
}

// commitGroup runs batch in one write transaction and, after it commits,
// caches the new nodes and publishes the events in seq order.
func (s *Store) commitGroup(batch []*commitReq) {
	ctx := context.WithoutCancel(batch[0].ctx)
	err := s.update(ctx, func(tx *sqlx.Tx) error {
		if len(batch) == 1 {
			r := batch[0]
			r.res, r.ev, r.nodes, r.err = s.commitTx(r.ctx, tx, r.did, r.writes, r.recs, r.opts, nil)
			return r.err
		}
		// Nodes written by the group's earlier commits are not in the node
		// cache until the transaction commits; the overlay serves them to
		// the later ones.
		overlay := map[cid.Cid][]byte{}
		for _, r := range batch {
			if r.err = r.ctx.Err(); r.err != nil {
				continue
			}
			if _, err := tx.ExecContext(ctx, "SAVEPOINT c"); err != nil {
				return fmt.Errorf("savepoint: %w", err)
			}
			r.res, r.ev, r.nodes, r.err = s.commitTx(r.ctx, tx, r.did, r.writes, r.recs, r.opts, overlay)
			if r.err != nil {
				if _, err := tx.ExecContext(ctx, "ROLLBACK TO c"); err != nil {
					return fmt.Errorf("rollback to savepoint: %w", err)
				}
			}
			if _, err := tx.ExecContext(ctx, "RELEASE c"); err != nil {
				return fmt.Errorf("release savepoint: %w", err)
			}
			if r.err == nil {
				for _, b := range r.nodes {
					overlay[b.CID] = b.Data
				}
			}
		}
		return nil
	})
	for _, r := range batch {
		if err != nil && r.err == nil {
			r.err, r.res = err, nil // the transaction failed: nothing was written
		}
		if r.err == nil {
			s.cacheNodes(r.nodes)
			s.publish(r.ev)
		}
	}
}
