package atlite

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/storage"
	"github.com/atlite-dev/atlite/mst"
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
//
// A commit that arrives while a group's transaction runs, and is the only
// one in flight for its repo, is first prepared without the lock
// (prepareUnlocked: its tree, nodes and signed commit, from the committed
// head, in a read transaction), so that this work overlaps the running
// transaction on another core. Under the lock it is stored as prepared
// when its repo's head is still the one it was prepared from, and computed
// again otherwise (another process committed to the repo, or changed its
// status): the head check makes the preparation an optimisation only.
//
// Contexts: a request whose context ends while it waits (in the queue, or
// in a group whose transaction has not reached it yet) leaves at once with
// ctx.Err(); the leader skips it. A lone leader's own context bounds its
// wait for the write lock (a free write connection, then BEGIN IMMEDIATE).
// A group of several runs in a goroutine of its own, so that its leader,
// too, can leave while the group waits for the lock (that wait, shared by
// the members, is bounded by Options.BusyTimeout). Once a request's
// savepoint work has begun it runs to completion under a context that is
// never cancelled.

// Request states: a queued request may still be abandoned by its caller;
// once the leader owns it, it runs (or fails) and its caller waits for it.
const (
	reqQueued int32 = iota
	reqOwned
	reqAbandoned
)

// commitReq is one queued commit and, once done, its outcome.
type commitReq struct {
	ctx    context.Context
	did    syntax.DID
	writes []commit.Write
	recs   []cid.Cid
	opts   CommitOptions
	put    bool
	pre    *preparedCommit // prepared outside the lock, or nil

	state atomic.Int32 // reqQueued, reqOwned or reqAbandoned

	res   *CommitResult
	ev    Event
	nodes []Block
	tree  *mst.Tree // the new tree, whose nodes join the decoded cache
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
	// repos counts, per repo, the commits that are between entering
	// runCommit and leaving it: a commit is prepared outside the lock only
	// when it is its repo's only one, since another one would move the
	// head it was prepared from.
	repos map[syntax.DID]int
	// prepared and reused count, for tests, the commits prepared outside
	// the lock and those whose preparation was stored as it was.
	prepared, reused atomic.Int64

	// beforeBegin, when set (by tests), runs before a group's transaction
	// begins, with the number of requests in the group.
	beforeBegin func(n int)
}

// runCommit commits req, alone or in a group, and returns when req is done
// or, if req.ctx ends before its commit began, with req.err set to
// req.ctx.Err().
func (s *Store) runCommit(req *commitReq) {
	if !s.b.SingleWriter() {
		// Commits to different repos run in parallel, each in its own
		// transaction: nothing to gain from a group.
		s.commitGroup([]*commitReq{req})
		return
	}
	c := &s.group
	c.mu.Lock()
	if c.repos == nil {
		c.repos = map[syntax.DID]int{}
	}
	c.repos[req.did]++
	defer c.leave(req.did)
	if c.leading && c.repos[req.did] == 1 {
		// A transaction runs, none of whose commits is to req's repo
		// (nor is any queued one): prepare req's commit while it runs.
		c.mu.Unlock()
		if req.pre = s.prepareUnlocked(req); req.pre != nil {
			c.prepared.Add(1)
		}
		c.mu.Lock()
	}
	c.pending = append(c.pending, req)
	if c.leading {
		c.mu.Unlock()
		if lead := s.await(req); !lead {
			return
		}
		c.mu.Lock()
	}
	// req leads: it is c.pending[0].
	c.leading = true
	n := min(len(c.pending), s.opts.MaxGroupCommits)
	batch := c.pending[:n:n]
	c.pending = c.pending[n:]
	c.largest = max(c.largest, n)
	c.mu.Unlock()

	if n == 1 {
		s.commitGroup(batch)
		s.endGroup(batch, req)
		return
	}
	// Close waits for the group even if every caller has left it.
	s.groups.Add(1)
	go func() {
		defer s.groups.Done()
		s.commitGroup(batch)
		s.endGroup(batch, nil)
	}()
	s.await(req) // req is in batch: it is woken with false
}

// await waits until req is woken, and reports whether it must lead. When
// req.ctx ends first and req can still be withdrawn, it sets req.err and
// returns false at once.
func (s *Store) await(req *commitReq) (lead bool) {
	select {
	case lead := <-req.wake:
		return lead
	case <-req.ctx.Done():
	}
	if s.group.withdraw(req) {
		req.res, req.err = nil, req.ctx.Err()
		return false
	}
	return <-req.wake // too late: its commit has begun
}

// withdraw takes req out of the queue, or marks it abandoned in the batch
// that holds it, and reports whether it did; it fails once a leader owns
// req.
func (c *committer) withdraw(req *commitReq) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := slices.Index(c.pending, req); i >= 0 {
		c.pending = slices.Delete(c.pending, i, i+1)
		select {
		case lead := <-req.wake:
			if lead { // the lead was just handed to req: pass it on
				c.handOver()
			}
		default:
		}
		return true
	}
	return req.state.CompareAndSwap(reqQueued, reqAbandoned)
}

// leave counts out one commit to did that is leaving runCommit.
func (c *committer) leave(did syntax.DID) {
	c.mu.Lock()
	if c.repos[did]--; c.repos[did] == 0 {
		delete(c.repos, did)
	}
	c.mu.Unlock()
}

// handOver gives the lead to the first queued request, or ends it; c.mu
// held.
func (c *committer) handOver() {
	if len(c.pending) > 0 {
		c.pending[0].wake <- true
	} else {
		c.leading = false
	}
}

// endGroup hands over the lead after batch ran and wakes its requests but
// self (the caller, who needs no waking).
func (s *Store) endGroup(batch []*commitReq, self *commitReq) {
	c := &s.group
	c.mu.Lock()
	c.handOver()
	c.mu.Unlock()
	for _, r := range batch {
		if r != self {
			r.wake <- false // buffered: never blocks, even for an abandoned request
		}
	}
}

// commitGroup runs batch in one write transaction and, after it commits,
// caches the new nodes and publishes the events in seq order. Abandoned
// requests are skipped and left alone.
func (s *Store) commitGroup(batch []*commitReq) {
	// Work that has begun is never cancelled: ctx carries only values.
	ctx := context.WithoutCancel(batch[0].ctx)
	wait := ctx // a group waits for the lock while any member still might
	if len(batch) == 1 {
		wait = batch[0].ctx
	}
	if hook := s.group.beforeBegin; hook != nil {
		hook(len(batch))
	}
	err := s.b.Update(ctx, &storage.UpdateOptions{Wait: wait}, func(tx storage.WriteTx) error {
		if len(batch) == 1 {
			r := batch[0]
			if !r.state.CompareAndSwap(reqQueued, reqOwned) {
				return nil
			}
			r.res, r.ev, r.nodes, r.tree, r.err = s.commitTx(ctx, tx, r.did, r.writes, r.recs, r.opts, r.put, nil, r.pre)
			return r.err
		}
		// Nodes written by the group's earlier commits are not in the node
		// cache until the transaction commits; the overlay serves them to
		// the later ones.
		overlay := map[cid.Cid][]byte{}
		for _, r := range batch {
			if !r.state.CompareAndSwap(reqQueued, reqOwned) {
				continue // abandoned by its caller
			}
			if r.err = r.ctx.Err(); r.err != nil {
				continue
			}
			err := tx.Savepoint(ctx, func() error {
				r.res, r.ev, r.nodes, r.tree, r.err = s.commitTx(context.WithoutCancel(r.ctx), tx, r.did, r.writes, r.recs, r.opts, r.put, overlay, r.pre)
				return r.err
			})
			if err != nil && err != r.err {
				return err // the savepoint itself failed
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
		if err != nil && r.state.CompareAndSwap(reqQueued, reqOwned) {
			r.err = err // the transaction never reached it
			continue
		}
		if r.state.Load() != reqOwned {
			continue
		}
		if err != nil && r.err == nil {
			r.err, r.res = err, nil // the transaction failed: nothing was written
		}
		if r.err == nil && !r.res.NoOp {
			s.cacheNodes(r.nodes)
			s.decoded.AddStored(ctx, r.tree)
			s.publish(r.ev)
		}
	}
}
