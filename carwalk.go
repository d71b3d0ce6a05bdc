package atlite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/car"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/internal/dagcbor"
	"github.com/atlite-dev/atlite/internal/stage"
	"github.com/atlite-dev/atlite/mst"
)

// Reading a repo CAR in one pass.
//
// ImportCAR and VerifyCAR walk the repo's tree from its commit in the
// repository spec's pre-order (commit, node, left subtree, then for each
// entry its record and right subtree), the order mst.Tree.Blocks asks for
// blocks in and the order ExportCAR writes them in. carStream serves that
// walk from the CAR as it is read: while the CAR's next block is the one
// the walk asks for, it is handed over and forgotten, so only the nodes on
// the walk's path are held, plus the CIDs of the blocks read (to know a
// repeated record, and to refuse a repeated block), which move to a
// staging file past seenCap so that memory stays bounded. When the CAR comes in
// another order, the rest of it goes into a staging file (internal/stage: a
// private SQLite file in a temporary directory, never an atlite database,
// whatever the store's backend), and the walk goes on from there: memory
// stays bounded either way.

// stageError is a failure of the staging file: the host's problem, never
// the CAR's, so a walk does not report it as ErrInvalidCAR.
type stageError = stage.Error

// carStream serves a tree walk from a CAR read in order; see above.
type carStream struct {
	cr     *car.Reader
	next   *car.Block // the block read ahead, nil when none
	eof    bool
	strict bool // refuse a block the CAR holds twice (VerifyCAR)
	// seen holds the CIDs of the blocks the walk was given and,
	// in strict mode, of the blocks read after the walk.
	seen     *stage.Seen
	stage    *stage.File                                    // set when staged, or from the start
	newStage func(context.Context) (*stage.File, error)     // makes stage on demand
	staged   bool                                           // the rest of the CAR is in the stage's raw blocks
	distinct int                                            // blocks the walk was given, each counted once
	sink     func(c cid.Cid, data []byte) error             // each block the walk reaches, once
	record   func(key string, c cid.Cid, data []byte) error // each record entry, checked; data nil for a repeat
	records  int                                            // record entries
}

func (cs *carStream) peek() (*car.Block, error) {
	if cs.next != nil || cs.eof {
		return cs.next, nil
	}
	b, err := cs.cr.Next()
	if errors.Is(err, io.EOF) {
		cs.eof = true
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidCAR, err)
	}
	cs.next = &b
	return cs.next, nil
}

// notInCAR is the error for a block the CAR lacks: it wraps mst.ErrNotFound,
// as an mst.BlockSource's must, so the tree reports a missing node.
func notInCAR(c cid.Cid) error {
	return fmt.Errorf("block %s is not in the CAR: %w", c, mst.ErrNotFound)
}

func duplicate(c cid.Cid) error {
	return invalidCAR("block %s appears more than once", c)
}

// get returns the block c for the walk; repeat reports a block the walk
// was given before (a record that several keys hold), whose bytes are not
// returned again.
func (cs *carStream) get(ctx context.Context, c cid.Cid) (data []byte, repeat bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if !cs.staged {
		b, err := cs.peek()
		if err != nil {
			return nil, false, err
		}
		if b != nil && b.CID.Equals(c) {
			cs.next = nil
			fresh, err := cs.seen.Add(ctx, c)
			if err != nil {
				return nil, false, err
			}
			if !fresh {
				// A writer that puts the block at each of its places.
				if cs.strict {
					return nil, false, duplicate(c)
				}
				return nil, true, nil
			}
			cs.distinct++
			return b.Data, false, nil
		}
	}
	if had, err := cs.seen.Has(ctx, c); err != nil || had {
		return nil, had, err
	}
	if !cs.staged {
		if err := cs.stageRest(ctx); err != nil {
			return nil, false, err
		}
	}
	data, err = cs.stage.GetRaw(ctx, c)
	if err != nil {
		return nil, false, err
	}
	if data == nil {
		return nil, false, notInCAR(c)
	}
	if _, err := cs.seen.Add(ctx, c); err != nil {
		return nil, false, err
	}
	cs.distinct++
	return data, false, nil
}

// seenCap is the number of CIDs a carStream's seen set holds in memory
// before it moves them to the staging file: 262,144, 20 MiB of heap when
// full (measured; less while the map is smaller), enough for a repo of some 200,000 records
// (about 1.27 blocks a record). Past it every CID costs a statement on the
// staging file, which took 71% of VerifyCAR's time on a 100,000-record
// repo when the bound was 32,768 (bench/peers, a CPU profile).
var seenCap = 1 << 18

// stageRest puts the rest of the CAR into the staging file: the CAR is not
// in the walk's order.
func (cs *carStream) stageRest(ctx context.Context) error {
	st, err := cs.getStage(ctx)
	if err != nil {
		return err
	}
	cs.staged = true
	for {
		b, err := cs.peek()
		if err != nil {
			return err
		}
		if b == nil {
			break
		}
		cs.next = nil
		if err := ctx.Err(); err != nil {
			return err
		}
		had, err := cs.seen.Has(ctx, b.CID)
		if err != nil {
			return err
		}
		if had {
			if cs.strict {
				return duplicate(b.CID)
			}
			continue
		}
		if err := st.PutRaw(ctx, b.CID, b.Data); err != nil {
			return err
		}
	}
	dup, n, err := st.EndRaw(ctx, cs.strict)
	if err != nil {
		return err
	}
	if dup.Defined() {
		return invalidCAR("block %s appears %d times", dup, n)
	}
	return nil
}

// getStage returns the staging file, making it first if needed.
func (cs *carStream) getStage(ctx context.Context) (*stage.File, error) {
	if cs.stage == nil {
		st, err := cs.newStage(ctx)
		if err != nil {
			return nil, err
		}
		cs.stage = st
	}
	return cs.stage, nil
}

// newCARStream returns a carStream over cr; st is its staging file, or nil
// to make one when it is needed.
func newCARStream(cr *car.Reader, strict bool, st *stage.File) *carStream {
	cs := &carStream{cr: cr, strict: strict, stage: st, newStage: stage.Open,
		sink:   func(cid.Cid, []byte) error { return nil },
		record: func(string, cid.Cid, []byte) error { return nil },
	}
	cs.seen = stage.NewSeen(seenCap, cs.getStage)
	return cs
}

// finish reads what the walk left of the CAR: blocks the repo does not
// reach, dropped; in strict mode none may repeat a block.
func (cs *carStream) finish(ctx context.Context) error {
	for !cs.staged {
		b, err := cs.peek()
		if err != nil {
			return err
		}
		if b == nil {
			return nil
		}
		cs.next = nil
		if err := ctx.Err(); err != nil {
			return err
		}
		if cs.strict {
			fresh, err := cs.seen.Add(ctx, b.CID)
			if err != nil {
				return err
			}
			if !fresh {
				return duplicate(b.CID)
			}
		}
	}
	return nil
}

// nodes returns the walk's source of MST nodes.
func (cs *carStream) nodes() mst.BlockSource {
	return mst.BlockSourceFunc(func(ctx context.Context, c cid.Cid) ([]byte, error) {
		data, repeat, err := cs.get(ctx, c)
		if err != nil {
			return nil, err
		}
		if repeat {
			return nil, invalidCAR("MST node %s is reached twice", c)
		}
		return data, nil
	})
}

// carRecords serves record blocks to the walk (mst.RecordSource) and
// checks each one: DAG-CBOR, and a map, as every repo record must be.
type carRecords struct{ cs *carStream }

func (r carRecords) GetBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	return nil, fmt.Errorf("record %s read without its key", c)
}

func (r carRecords) GetRecord(ctx context.Context, key string, c cid.Cid) ([]byte, error) {
	cs := r.cs
	data, repeat, err := cs.get(ctx, c)
	if err != nil {
		return nil, err
	}
	cs.records++
	if !strings.Contains(key, "/") {
		return nil, invalidCAR("record key %q has no collection", key)
	}
	if repeat {
		return nil, cs.record(key, c, nil)
	}
	if c.Prefix().Codec != datamodel.CodecDagCBOR {
		return nil, invalidCAR("record %s is not dag-cbor", c)
	}
	// Checked as datamodel.UnmarshalMap would, without building the map.
	if err := dagcbor.ValidateMap(data); err != nil {
		return nil, invalidCAR("record %s: %v", c, err)
	}
	if err := cs.record(key, c, data); err != nil {
		return nil, err
	}
	return data, nil
}

// walkCAR reads the CAR's commit, hands it to check (which may refuse it),
// then walks the whole tree from the CAR's blocks: every node must be
// there, canonical and hash-checked (the mst package checks), every record
// present and a DAG-CBOR map. cs.sink gets each block reached once, the
// commit first.
func walkCAR(ctx context.Context, cs *carStream, root cid.Cid, check func(*commit.Commit) error) (*commit.Commit, error) {
	cb, _, err := cs.get(ctx, root)
	if errors.Is(err, mst.ErrNotFound) {
		return nil, invalidCAR("root commit %s is not in the CAR", root)
	}
	if err != nil {
		return nil, err
	}
	cmt, err := commit.Decode(cb)
	if err != nil {
		return nil, invalidCAR("root %s is not a commit: %v", root, err)
	}
	if err := check(cmt); err != nil {
		return nil, err
	}
	if err := cs.sink(root, cb); err != nil {
		return nil, err
	}
	err = mst.Load(cs.nodes(), cmt.Data).Blocks(ctx, carRecords{cs}, func(c cid.Cid, data []byte) error {
		if data == nil {
			return nil // a repeated record, given once already
		}
		return cs.sink(c, data)
	})
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		var se *stageError
		if errors.Is(err, ErrInvalidCAR) || errors.As(err, &se) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: repo tree: %v", ErrInvalidCAR, err)
	}
	if err := cs.finish(ctx); err != nil {
		return nil, err
	}
	return cmt, nil
}
