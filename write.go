package atlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/internal/storage"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/mst"
	"github.com/atlite-dev/atlite/syntax"
)

// Limits a commit must respect (sync 1.1).
const (
	// MaxWritesPerCommit is the largest number of writes in one commit.
	MaxWritesPerCommit = 200
	// MaxRecordSize is the largest encoded record, in bytes.
	MaxRecordSize = 1_000_000
	// MaxCommitBlocksSize is the largest total size of the new blocks of one
	// commit (records, MST nodes and the commit), in bytes.
	MaxCommitBlocksSize = 2_000_000
)

// CommitOptions configure [Store.Commit]. A nil pointer means no options.
type CommitOptions struct {
	// SwapCommit, when defined, makes the commit apply only if the repo's
	// head is this commit ([ErrSwapMismatch] otherwise).
	SwapCommit cid.Cid
	// Session, when not 0, makes the commit apply only if the session with
	// this ID (see [Store.LookupSession]) is live and is one of the repo's:
	// ErrInvalidToken when it is unknown, revoked or another repo's,
	// ErrExpiredToken when it has expired. The check reads the session in
	// the commit's own write transaction, after the repo's row is locked,
	// so a revocation that committed before it, in this process or another
	// one on the same file or database, is always seen (in SQLite, whose
	// write transactions exclude each other, none can even land between
	// the check and the write). A server that checks an access token's
	// signature alone can thus leave its session's check to the commit.
	Session int64
}

// CommitResult describes the outcome of [Store.Commit]: the commit it
// wrote or, when NoOp, the repo's current head.
type CommitResult struct {
	Commit   *commit.Commit // the signed commit (when NoOp, the current head)
	CID      cid.Cid        // its CID
	Rev      syntax.TID     // its rev
	Seq      int64          // the event-stream seq of its #commit event; 0 when NoOp
	Ops      []commit.Op    // the record operations, in write order; none when NoOp
	Blocks   []Block        // the new blocks: records, MST nodes, the commit; none when NoOp
	Since    syntax.TID     // the previous rev (when NoOp, Rev)
	PrevData cid.Cid        // the previous MST root (when NoOp, the current one)
	// NoOp reports that the writes changed nothing (no writes, or only
	// updates to the value a record already has): nothing was written, no
	// seq was consumed and no event was emitted.
	NoOp bool
}

// Commit applies writes to the repo did as one signed commit. In ONE write
// transaction it validates the writes (at most MaxWritesPerCommit, records
// of at most MaxRecordSize whose "$type" is their collection, at most
// MaxCommitBlocksSize of new blocks, at most one write per path, no create
// of an existing path, no update or delete of a missing one, record swaps),
// applies them to the repo's MST (loaded lazily from the file), signs the
// commit with the repo's key, stores the new blocks, moves the head,
// allocates the seq and stores the #commit event. If anything fails nothing
// is written and no seq is consumed.
//
// A commit that changes nothing writes nothing: an update whose record has
// the CID of the current one is a no-op and is dropped (it records no op;
// the other writes still commit), and when no write is left, Commit returns
// the current head with NoOp set, without signing, consuming a seq or
// emitting an event. The repo must still exist and be active, and
// SwapCommit still applies.
//
// ctx bounds the wait for the write lock: when it is done before the
// commit's transaction work has begun, Commit returns ctx.Err() (wrapped)
// and writes nothing. Once begun, the commit runs to completion regardless
// of ctx, so a cancellation never leaves a commit half-applied.
//
// Commits to one store are serialized; when several goroutines commit at
// once, their commits share one SQLite transaction (each in its own
// savepoint, so each is still atomic; see Options.MaxGroupCommits).
// Subscribers hear of the event after it commits.
func (s *Store) Commit(ctx context.Context, did syntax.DID, writes []commit.Write, opts *CommitOptions) (*CommitResult, error) {
	return s.commit(ctx, did, writes, opts, false)
}

// commit runs Commit; with put, a Create of a path that holds a record
// updates it instead (see PutRecordJSON).
func (s *Store) commit(ctx context.Context, did syntax.DID, writes []commit.Write, opts *CommitOptions, put bool) (*CommitResult, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	var o CommitOptions
	if opts != nil {
		o = *opts
	}
	if len(writes) > MaxWritesPerCommit {
		return nil, fmt.Errorf("commit to %s: %d writes, at most %d allowed: %w", did, len(writes), MaxWritesPerCommit, ErrInvalidWrite)
	}
	// Validate and hash records before taking the write lock.
	recs := make([]cid.Cid, len(writes))
	size := 0
	paths := make(map[string]struct{}, len(writes))
	for i, w := range writes {
		if err := w.Validate(); err != nil {
			return nil, fmt.Errorf("commit to %s: %w: %v", did, ErrInvalidWrite, err)
		}
		// The event stream carries at most one op per path, and consumers
		// (indigo's commit verification, sync 1.1 inversion) rely on it.
		if _, dup := paths[w.Path()]; dup {
			return nil, fmt.Errorf("commit to %s: more than one write to %s: %w", did, w.Path(), ErrInvalidWrite)
		}
		paths[w.Path()] = struct{}{}
		if w.Action == commit.Delete {
			continue
		}
		if len(w.Record) > MaxRecordSize {
			return nil, fmt.Errorf("commit to %s: record %s is %d bytes, at most %d allowed: %w", did, w.Path(), len(w.Record), MaxRecordSize, ErrInvalidWrite)
		}
		recs[i] = datamodel.CBORCID(w.Record)
		size += len(w.Record)
	}
	if size > MaxCommitBlocksSize {
		return nil, fmt.Errorf("commit to %s: %d bytes of records, at most %d allowed: %w", did, size, MaxCommitBlocksSize, ErrInvalidWrite)
	}

	req := &commitReq{ctx: ctx, did: did, writes: writes, recs: recs, opts: o, put: put, wake: make(chan bool, 1)}
	s.runCommit(req)
	if req.err != nil {
		return nil, fmt.Errorf("commit to %s: %w", did, req.err)
	}
	return req.res, nil
}

// signingKey returns the repo's private signing key, decrypting and caching it.
func (s *Store) signingKey(did string, sealed []byte, encrypted bool) (keys.PrivateKey, error) {
	if k, ok := s.keyCache.Load(did); ok {
		return k.(keys.PrivateKey), nil
	}
	if len(sealed) == 0 {
		return nil, fmt.Errorf("repo %s: %w", did, ErrReadOnlyRepo)
	}
	k, err := s.openKey(did, sealed, encrypted)
	if err != nil {
		return nil, err
	}
	s.keyCache.Store(did, k)
	return k, nil
}

// commitTx runs one commit inside tx: see Commit. recs[i] is the CID of
// writes[i].Record; with put, a Create of an existing path is an Update.
// overlay, when not nil, holds MST nodes that earlier commits of the same
// transaction wrote (group commit); they are read from it first. pre, when
// not nil, is the commit prepared outside the write lock (see
// Store.prepareUnlocked); it is used when the head it was computed from is
// still the repo's, and computed again otherwise. A no-op commit writes
// nothing and returns a zero Event.
func (s *Store) commitTx(ctx context.Context, tx storage.WriteTx, did syntax.DID, writes []commit.Write, recs []cid.Cid, o CommitOptions, put bool, overlay map[cid.Cid][]byte, pre *preparedCommit) (*CommitResult, Event, []Block, *mst.Tree, error) {
	h, err := tx.LockHead(ctx, did.String())
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, Event{}, nil, nil, fmt.Errorf("%s: %w", did, ErrRepoNotFound)
		}
		return nil, Event{}, nil, nil, err
	}
	if o.Session != 0 {
		if err := commitSession(ctx, tx, o.Session, h.ID, s.now().UnixMicro()); err != nil {
			return nil, Event{}, nil, nil, err
		}
	}
	if h.Status != nil {
		return nil, Event{}, nil, nil, &InactiveRepoError{DID: did.String(), Status: *h.Status}
	}
	p := pre
	if p != nil && p.from(&h) {
		s.group.reused.Add(1)
	} else {
		src := s.cachedBlocks(tx)
		src.overlay = overlay
		if p, err = s.prepareCommit(ctx, src, &h, did, writes, recs, o, put); err != nil {
			return nil, Event{}, nil, nil, err
		}
	}
	if p.res.NoOp {
		return p.res, Event{}, nil, nil, nil
	}
	now := s.now().UTC()
	change := &storage.CommitChange{Repo: h.ID, Blocks: p.res.Blocks, Records: p.recRows, DropBlobRefs: p.drop, AddBlobRefs: p.add,
		Head: p.res.CID, Data: p.res.Commit.Data, Rev: p.res.Rev.String(), Time: now.UnixMicro()}
	if err := tx.ApplyCommit(ctx, change); err != nil {
		return nil, Event{}, nil, nil, err
	}
	res := *p.res
	ev := Event{DID: did, Kind: KindCommit, Time: now, Rev: res.Rev, Commit: res.CID, Since: res.Since, PrevData: res.PrevData, Ops: res.Ops, Blocks: p.evBlocks}
	if err := s.writeEvent(ctx, tx, &ev); err != nil {
		return nil, Event{}, nil, nil, err
	}
	res.Seq = ev.Seq
	return &res, ev, p.nodes, p.tree, nil
}

// preparedCommit is a commit computed from one head of its repo, not yet
// stored: everything but its time, its seq and its event's bytes.
type preparedCommit struct {
	h        storage.HeadRow // the head it was computed from
	res      *CommitResult   // Seq unset; NoOp for a commit that changes nothing
	recRows  []storage.RecordChange
	drop     []string
	add      []storage.BlobRef
	evBlocks []cid.Cid
	nodes    []Block
	tree     *mst.Tree
}

// from reports whether p was computed from the head h: then it is the
// commit h's repo would get now. Both repos are active: commitTx refuses
// an inactive one before it asks, and prepareUnlocked prepares none.
func (p *preparedCommit) from(h *storage.HeadRow) bool {
	return p.h.ID == h.ID && p.h.Rev == h.Rev && bytes.Equal(p.h.Head, h.Head) && bytes.Equal(p.h.Data, h.Data) &&
		bytes.Equal(p.h.SigningKey, h.SigningKey) && p.h.KeyEncrypted == h.KeyEncrypted
}

// prepareCommit computes the commit of writes to the repo did whose head is
// h, reading its tree from src: the checks that depend on the tree, the new
// tree and its nodes, the signed commit and the event's block list. It
// writes nothing.
func (s *Store) prepareCommit(ctx context.Context, src *txBlocks, h *storage.HeadRow, did syntax.DID, writes []commit.Write, recs []cid.Cid, o CommitOptions, put bool) (*preparedCommit, error) {
	head, err := cid.Cast(h.Head)
	if err != nil {
		return nil, fmt.Errorf("stored head: %w", err)
	}
	prevData, err := cid.Cast(h.Data)
	if err != nil {
		return nil, fmt.Errorf("stored data: %w", err)
	}
	if o.SwapCommit.Defined() && !o.SwapCommit.Equals(head) {
		return nil, fmt.Errorf("head is %s, not %s: %w", head, o.SwapCommit, ErrSwapMismatch)
	}
	key, err := s.signingKey(did.String(), h.SigningKey, h.KeyEncrypted)
	if err != nil {
		return nil, err
	}

	tree, err := newRepoTree(src, prevData, s.decoded)
	if err != nil {
		return nil, err
	}
	ops := make([]commit.Op, 0, len(writes))
	newBlocks := make([]Block, 0, len(writes)+8)
	recRows := make([]storage.RecordChange, 0, len(writes))
	for i, w := range writes {
		path := w.Path()
		cur, err := tree.get(ctx, path)
		if err != nil {
			return nil, treeDamage(err)
		}
		if w.SwapRecord.Defined() && !w.SwapRecord.Equals(cur) {
			return nil, fmt.Errorf("record %s is %s, not %s: %w", path, cidOrNone(cur), w.SwapRecord, ErrSwapMismatch)
		}
		if put && w.Action == commit.Create && cur.Defined() {
			w.Action = commit.Update
		}
		op := commit.Op{Action: w.Action, Path: path, Prev: cur}
		switch w.Action {
		case commit.Create:
			if cur.Defined() {
				return nil, fmt.Errorf("create %s: record exists: %w", path, ErrInvalidWrite)
			}
			op.CID = recs[i]
		case commit.Update:
			if !cur.Defined() {
				return nil, fmt.Errorf("update %s: no such record: %w", path, ErrInvalidWrite)
			}
			if recs[i].Equals(cur) {
				continue // a no-op update changes nothing and records no op
			}
			op.CID = recs[i]
		case commit.Delete:
			if !cur.Defined() {
				return nil, fmt.Errorf("delete %s: no such record: %w", path, ErrInvalidWrite)
			}
		}
		if err := tree.set(ctx, path, op.CID); err != nil {
			return nil, err
		}
		if op.CID.Defined() {
			newBlocks = append(newBlocks, Block{CID: op.CID, Data: w.Record})
		}
		ops = append(ops, op)
		recRows = append(recRows, storage.RecordChange{Collection: w.Collection.String(), RKey: w.RKey.String(), CID: op.CID})
	}
	if len(ops) == 0 {
		// Nothing changes: no commit, no seq, no event.
		hb, err := src.GetBlock(ctx, head)
		if err != nil {
			return nil, fmt.Errorf("head commit %s: %w", head, err)
		}
		cur, err := commit.Decode(hb)
		if err != nil {
			return nil, fmt.Errorf("head commit %s: %w", head, err)
		}
		rev := syntax.TID(h.Rev)
		return &preparedCommit{h: *h, res: &CommitResult{Commit: cur, CID: head, Rev: rev, Ops: ops, Since: rev, PrevData: prevData, NoOp: true}}, nil
	}
	root, nodes, err := tree.commit(ctx)
	if err != nil {
		return nil, treeDamage(err)
	}
	newBlocks = append(newBlocks, nodes...)

	rev, err := commit.NextRev(s.clock, syntax.TID(h.Rev))
	if err != nil {
		return nil, err
	}
	cmt := &commit.Commit{DID: did, Data: root, Rev: rev, Prev: head}
	if err := cmt.Sign(key); err != nil {
		return nil, err
	}
	cb, cc, err := cmt.EncodeCID()
	if err != nil {
		return nil, err
	}
	newBlocks = append(newBlocks, Block{CID: cc, Data: cb})
	total := 0
	for _, b := range newBlocks {
		total += len(b.Data)
	}
	if total > MaxCommitBlocksSize {
		return nil, fmt.Errorf("%d bytes of new blocks, at most %d allowed: %w", total, MaxCommitBlocksSize, ErrInvalidWrite)
	}
	drop, add, err := blobRefChanges(writes, recs, ops)
	if err != nil {
		return nil, err
	}
	proofs, err := tree.proofs(ctx, ops)
	if err != nil {
		return nil, treeDamage(err)
	}
	evBlocks := make([]cid.Cid, 0, len(newBlocks)+len(proofs))
	seen := make(map[cid.Cid]bool, len(newBlocks)+len(proofs))
	for _, b := range newBlocks {
		if !seen[b.CID] {
			seen[b.CID] = true
			evBlocks = append(evBlocks, b.CID)
		}
	}
	for _, c := range proofs {
		if !seen[c] {
			seen[c] = true
			evBlocks = append(evBlocks, c)
		}
	}
	since := syntax.TID(h.Rev)
	return &preparedCommit{
		h:        *h,
		res:      &CommitResult{Commit: cmt, CID: cc, Rev: cmt.Rev, Ops: ops, Blocks: newBlocks, Since: since, PrevData: prevData},
		recRows:  recRows,
		drop:     drop,
		add:      add,
		evBlocks: evBlocks,
		nodes:    nodes,
		tree:     tree.t,
	}, nil
}

// prepareUnlocked prepares req's commit from the repo's committed head, in
// a read transaction, without the write lock, so that the work overlaps the
// transaction of the group before it. It returns nil when that fails for
// any reason: the commit is then computed under the lock, as it is when
// the head moved in between.
func (s *Store) prepareUnlocked(req *commitReq) *preparedCommit {
	var p *preparedCommit
	err := s.b.View(req.ctx, func(tx storage.ReadTx) error {
		h, err := tx.Head(req.ctx, req.did.String())
		if err != nil {
			return err
		}
		if h.Status != nil {
			return nil // not active: the locked commit reports it
		}
		p, err = s.prepareCommit(req.ctx, s.cachedBlocks(tx), &h, req.did, req.writes, req.recs, req.opts, req.put)
		return err
	})
	if err != nil {
		return nil
	}
	return p
}

func cidOrNone(c cid.Cid) string {
	if !c.Defined() {
		return "none"
	}
	return c.String()
}

// PutRecordJSON creates or updates, as one commit (see [Store.Commit]), the
// record at collection/rkey of the repo did from its atproto JSON (see
// [commit.WriteFromJSON]: a missing "$type" becomes collection, another
// collection's is refused with ErrInvalidWrite). An empty rkey means a new
// TID record key from [Store.NextTID]; the path written is in the result's
// Ops[0].Path. Whether the record exists is decided inside the commit's
// transaction, so a concurrent writer cannot turn the create into a
// failure. Putting the value a record already has is a no-op (NoOp set,
// nothing written).
func (s *Store) PutRecordJSON(ctx context.Context, did syntax.DID, collection syntax.NSID, rkey syntax.RecordKey, recordJSON []byte) (*CommitResult, error) {
	if rkey == "" {
		rkey = syntax.RecordKey(s.NextTID().String())
	}
	w, err := commit.WriteFromJSON(commit.Create, collection.String(), rkey.String(), recordJSON)
	if err != nil {
		return nil, fmt.Errorf("put record %s/%s in %s: %w: %v", collection, rkey, did, ErrInvalidWrite, err)
	}
	return s.PutRecord(ctx, did, w, nil)
}

// PutRecord writes w.Record at w's path as one commit (see [Store.Commit]),
// creating the record or updating it, as the tree holds it inside the
// commit's transaction: a concurrent writer cannot turn the choice into a
// failure. w.Action must be Create or Update; w.SwapRecord, when defined,
// must be the current record's CID ([ErrSwapMismatch]). Putting the value
// a record already has is a no-op (NoOp set, nothing written).
func (s *Store) PutRecord(ctx context.Context, did syntax.DID, w commit.Write, opts *CommitOptions) (*CommitResult, error) {
	if w.Action != commit.Create && w.Action != commit.Update {
		return nil, fmt.Errorf("put record %s in %s: action %q, want create or update: %w", w.Path(), did, w.Action, ErrInvalidWrite)
	}
	w.Action = commit.Create // an existing record turns it into an update
	return s.commit(ctx, did, []commit.Write{w}, opts, true)
}
