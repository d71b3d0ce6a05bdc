package atlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/sqlstore"
	"github.com/atlite-dev/atlite/internal/storage"
	"github.com/atlite-dev/atlite/mst"
)

// DefaultGCBatch is the most blocks one write transaction of [Store.GC]
// deletes, with default options.
const DefaultGCBatch = 1000

// GCOptions configure [Store.GC]. A nil pointer or a zero field means its
// default.
type GCOptions struct {
	// DryRun counts what GC would delete, from one read snapshot, and
	// deletes nothing.
	DryRun bool
	// Batch is the most blocks deleted in one write transaction.
	// Default: DefaultGCBatch.
	Batch int
	// Pace, when above 0, makes GC sleep Pace times as long as each
	// stretch of its work took (outside any write transaction), so that it
	// keeps at most 1/(1+Pace) of a core busy and leaves the rest to
	// writers: a background GC (atlite serve uses 3). 0 runs at full
	// speed.
	Pace float64
}

// GCResult says what [Store.GC] found and did.
type GCResult struct {
	// Repos is the number of repos whose trees were marked.
	Repos int
	// Live is the number of distinct block keys marked live.
	Live int
	// Examined is the number of stored blocks looked at: those stored at
	// the mark's snapshot.
	Examined int64
	// Deleted is the number of blocks deleted (with DryRun: that would
	// be), and DeletedBytes the size of their data.
	Deleted, DeletedBytes int64
}

// GC deletes the blocks that nothing needs any more: a full mark and
// sweep, safe while writers and the server run.
//
// A block is live, and kept, when it is part of a repo's current state
// (its head commit, a node of its MST, a record) or of what the retained
// event stream still serves: the commit and the blocks of every kept
// #commit event, and, for each repo, the trees of its oldest kept commit
// or sync event and of every kept sync event, so that an export since any
// kept rev still finds the old nodes it diffs against. The repos whose
// status is deleted are not live. Every other block is garbage: the nodes
// and records that later commits replaced, once the events that carried
// them are pruned ([Store.PruneEvents]). So GC frees little until events
// have been pruned.
//
// The mark reads every repo's tree from one read snapshot, holding the
// keys of the live blocks in memory (a map entry of an 8-byte key each),
// and lists the blocks stored at the snapshot that it did not find live
// (48 bytes each). The sweep deletes those in batches of opts.Batch, each
// in one short write transaction that first marks what commits, imports
// and new repos since the snapshot made live: it diffs each changed repo's
// tree against what was marked, and adds the blocks of the new events. A
// block written after the snapshot is never deleted by this call. An error
// stops GC before its current batch deletes anything; batches done stay
// done, and what they deleted was garbage. Two GCs may run at once (say,
// atlite serve's and atlite gc): each deletes only what it found garbage.
//
// GC does not give the space back to the file system: SQLite reuses the
// freed pages for later writes; [Store.Vacuum] shrinks the file.
func (s *Store) GC(ctx context.Context, opts *GCOptions) (*GCResult, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	var o GCOptions
	if opts != nil {
		o = *opts
	}
	if o.Batch <= 0 {
		o.Batch = DefaultGCBatch
	}
	m := &marker{live: make(map[int64]struct{}), repos: make(map[int64]markedRepo)}
	pace := &pacer{pace: o.Pace, start: time.Now()}
	m.pace, m.ctx = pace, ctx
	res := &GCResult{}
	// The mark, and the candidates: the blocks stored at its snapshot
	// that it did not find live.
	var cands []storage.BlockKey
	err = s.bulkView(ctx, func(tx storage.ReadTx) error {
		maxID, err := tx.MaxBlockID(ctx)
		if err != nil {
			return err
		}
		if err := m.mark(ctx, tx); err != nil {
			return err
		}
		if m.err != nil {
			return m.err // the context ended during a pause
		}
		m.pace = nil // the sweep's marks run in write transactions
		for after := int64(0); after < maxID; {
			rows, err := tx.BlockKeys(ctx, after, maxID, gcScan)
			if err != nil {
				return err
			}
			cands = m.garbage(rows, cands, res)
			if err := pace.rest(ctx); err != nil {
				return err
			}
			if len(rows) < gcScan {
				break
			}
			after = rows[len(rows)-1].ID
		}
		rows, err := tx.OverflowKeys(ctx)
		if err != nil {
			return err
		}
		cands = m.garbage(rows, cands, res)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gc: mark: %w", err)
	}
	if o.DryRun {
		for _, c := range cands {
			res.Deleted++
			res.DeletedBytes += c.Size
		}
		res.Repos, res.Live = len(m.repos), len(m.live)
		return res, nil
	}
	if s.gcMarked != nil {
		s.gcMarked()
	}
	// The sweep: a batch of candidates a write transaction, each first
	// marking what became live since.
	for len(cands) > 0 {
		batch := cands[:min(len(cands), o.Batch)]
		var n, size int64
		err := s.b.Update(ctx, nil, func(tx storage.WriteTx) error {
			if err := tx.LockBlocks(ctx); err != nil {
				return err
			}
			if err := m.mark(ctx, tx); err != nil {
				return err
			}
			var del []storage.BlockKey
			for _, c := range batch {
				if _, ok := m.live[c.K]; !ok {
					del = append(del, c) // not live again
				}
			}
			var err error
			n, size, err = tx.DeleteBlocks(ctx, del)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("gc: sweep: %w", err)
		}
		res.Deleted += n
		res.DeletedBytes += size
		cands = cands[len(batch):]
		if err := pace.rest(ctx); err != nil {
			return nil, fmt.Errorf("gc: %w", err)
		}
	}
	res.Repos, res.Live = len(m.repos), len(m.live)
	return res, nil
}

// gcScan is the number of block rows the mark reads at a time.
const gcScan = 10000

// garbage appends to cands the rows whose key is not live, counting every
// row in res.Examined.
func (m *marker) garbage(rows []storage.BlockKey, cands []storage.BlockKey, res *GCResult) []storage.BlockKey {
	for _, r := range rows {
		res.Examined++
		if _, ok := m.live[r.K]; !ok {
			cands = append(cands, r)
		}
	}
	return cands
}

// Vacuum gives the space that GC and deletions freed back to the file
// system: SQLite rewrites the whole file (it needs as much free disk space
// again, and holds off writers until it is done); PostgreSQL vacuums the
// block tables, whose space becomes reusable without the files shrinking.
// Without it, SQLite reuses the freed pages for later writes, so the file
// stops growing but does not shrink.
func (s *Store) Vacuum(ctx context.Context) error {
	done, err := s.enter()
	if err != nil {
		return err
	}
	defer done()
	v, ok := s.b.(storage.Vacuumer)
	if !ok {
		return fmt.Errorf("vacuum: %w", errors.ErrUnsupported)
	}
	return v.Vacuum(ctx)
}

// marker holds the live set of a GC: the keys (blocks.k) of the live
// blocks, and for each repo marked the head and tree marked. Every node
// and record of a marked repo's tree at its marked head is in live, so a
// changed repo is marked by a diff from there.
type marker struct {
	live    map[int64]struct{}
	repos   map[int64]markedRepo
	lastSeq int64           // the newest event whose blocks are marked
	pace    *pacer          // nil: no pauses (inside a write transaction)
	ctx     context.Context // the GC's, for the pacer
	n       int             // blocks marked, for the pacer
	err     error           // the pacer's (the context's) error
}

type markedRepo struct {
	did        string
	head, data cid.Cid
}

func (m *marker) add(c cid.Cid) {
	m.live[sqlstore.BlockKey(c)] = struct{}{}
	if m.n++; m.pace != nil && m.n%256 == 0 && m.err == nil {
		m.err = m.pace.rest(m.ctx)
	}
}

// pacer spaces a background GC's work (see GCOptions.Pace).
type pacer struct {
	pace  float64
	start time.Time // of the current stretch of work
}

// rest sleeps pace times as long as the work since the last rest took,
// once that is at least 2 ms; it returns ctx's error if ctx ends first.
func (p *pacer) rest(ctx context.Context) error {
	if p == nil || p.pace <= 0 {
		return nil
	}
	work := time.Since(p.start)
	if work < 2*time.Millisecond {
		return nil
	}
	t := time.NewTimer(time.Duration(float64(work) * p.pace))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	p.start = time.Now()
	return nil
}

// mark marks, from tx's snapshot, every repo's current state, then what
// the retained events serve (see Store.GC).
func (m *marker) mark(ctx context.Context, tx storage.ReadTx) error {
	src := viewBlocks(tx)
	if err := eachRepo(ctx, tx, func(r *repoRow) error { return m.markRepo(ctx, tx, src, r) }); err != nil {
		return err
	}
	return m.markEvents(ctx, tx, src)
}

// markRepo marks the current state of the repo r, all of it when it was
// not marked yet, else by a diff from its marked tree; a deleted repo is
// not live (what was marked of it stays marked).
func (m *marker) markRepo(ctx context.Context, tx storage.ReadTx, src *txBlocks, r *repoRow) error {
	if r.Status != nil && *r.Status == StatusDeleted {
		return nil
	}
	head, err := cid.Cast(r.Head)
	if err != nil {
		return fmt.Errorf("%w: head %x: %v", ErrCorrupt, r.Head, err)
	}
	data, err := cid.Cast(r.Data)
	if err != nil {
		return fmt.Errorf("%w: data %x: %v", ErrCorrupt, r.Data, err)
	}
	was, ok := m.repos[r.ID]
	if ok && was.head.Equals(head) {
		return nil
	}
	m.add(head)
	base := cid.Undef
	if ok {
		base = was.data
	}
	if err := m.markTree(ctx, tx, src, base, data); err != nil {
		return err
	}
	m.repos[r.ID] = markedRepo{did: r.DID, head: head, data: data}
	return nil
}

// markTree marks the nodes and records of the tree root: all of them when
// base is undefined, else those not in the tree base, which is marked
// already.
func (m *marker) markTree(ctx context.Context, tx storage.ReadTx, src *txBlocks, base, root cid.Cid) error {
	if !base.Defined() {
		return damage(mst.Load(newPrefetcher(tx), root).Blocks(ctx, noRecords{}, func(c cid.Cid, _ []byte) error {
			m.add(c)
			return nil
		}))
	}
	if base.Equals(root) {
		return nil
	}
	d, err := mst.DiffChanges(ctx, mst.Load(src, base), mst.Load(src, root))
	if err != nil {
		return damage(fmt.Errorf("diff %s..%s: %w", base, root, err))
	}
	for _, c := range d.CreatedNodes {
		m.add(c)
	}
	for _, op := range d.RecordOps {
		if op.New.Defined() {
			m.add(op.New)
		}
	}
	return nil
}

// markEvents marks what the events after m.lastSeq serve: the commit and
// blocks of each, and the trees of each repo's oldest commit or sync event
// (on the first pass) and of each sync event.
func (m *marker) markEvents(ctx context.Context, tx storage.ReadTx, src *txBlocks) error {
	first := m.lastSeq == 0
	seen := make(map[string]bool) // DIDs whose oldest tree is marked
	byDID := make(map[string]markedRepo, len(m.repos))
	for _, r := range m.repos {
		byDID[r.did] = r
	}
	return eachEvent(ctx, tx, m.lastSeq, "", func(row *storage.EventRow) error {
		if row.Kind != string(KindCommit) && row.Kind != string(KindSync) {
			m.lastSeq = row.Seq
			return nil
		}
		e := Event{Seq: row.Seq, Kind: EventKind(row.Kind)}
		if err := e.decodeBody(row.Body); err != nil {
			return fmt.Errorf("%w: event %d: %v", ErrCorrupt, row.Seq, err)
		}
		m.add(e.Commit)
		for _, c := range e.Blocks {
			m.add(c)
		}
		r, live := byDID[row.DID]
		oldest := first && !seen[row.DID]
		seen[row.DID] = true
		if live && (oldest || e.Kind == KindSync) {
			if err := m.markCommitTree(ctx, tx, src, r.data, e.Commit); err != nil {
				return fmt.Errorf("event %d of %s: %w", row.Seq, row.DID, err)
			}
		}
		m.lastSeq = row.Seq
		return nil
	})
}

// markCommitTree marks the tree of the commit c by a diff from the marked
// tree base.
func (m *marker) markCommitTree(ctx context.Context, tx storage.ReadTx, src *txBlocks, base, c cid.Cid) error {
	b, err := src.GetBlock(ctx, c)
	if err != nil {
		return damage(fmt.Errorf("commit %s: %w", c, err))
	}
	cmt, err := commit.Decode(b)
	if err != nil {
		return fmt.Errorf("%w: commit %s: %v", ErrCorrupt, c, err)
	}
	return m.markTree(ctx, tx, src, base, cmt.Data)
}

// noRecords is the record source of a mark: each record's CID is passed
// on, its block not read.
type noRecords struct{}

func (noRecords) GetBlock(context.Context, cid.Cid) ([]byte, error) { return nil, nil }
