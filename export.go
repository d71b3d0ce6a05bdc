package atlite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/car"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/storage"
	"github.com/atlite-dev/atlite/mst"
	"github.com/atlite-dev/atlite/syntax"
)

// ExportOptions configure [Store.ExportCAR]. A nil pointer exports the whole
// repo.
type ExportOptions struct {
	// Since, when set, exports only what is newer than this rev of the
	// repo: the head commit, the MST nodes created since, and the records
	// created or updated since. The rev must be one of the repo's commits
	// (else ErrNotFound); one whose commit event [Store.PruneEvents]
	// deleted, older than the repo's oldest kept event, exports the whole
	// repo instead, a superset of what changed since.
	Since syntax.TID
	// IncludeInactive exports a repo that is deactivated, taken down,
	// suspended or tombstoned, which ExportCAR otherwise refuses
	// ([InactiveRepoError]): for backups by the repo's owner and the host.
	// A server must keep it false for the public, who must not be served
	// an inactive repo. A deleted repo is never exported.
	IncludeInactive bool
}

// ExportStats tells what [Store.ExportCAR] wrote.
type ExportStats struct {
	Blocks int   // blocks written, the commit included
	Bytes  int64 // bytes written, the header included
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// ExportCAR writes the repo did to w as a CAR v1 file whose root is the head
// commit, from one consistent read snapshot. Blocks come in the
// repository spec's pre-order: the commit, then each MST node followed by
// its left subtree and, for each entry in key order, the entry's record
// and right subtree, so that a reader can verify the CAR in one pass.
// Each block is written once, even when several records have identical
// bytes and so share a CID. Every block's hash is checked as it is read, so
// a damaged file gives an error wrapping ErrCorrupt rather than a CAR that
// does not verify. Memory use does not depend on the repo's size. Inactive
// repos are not exported ([InactiveRepoError]) unless
// [ExportOptions.IncludeInactive] is set.
func (s *Store) ExportCAR(ctx context.Context, did syntax.DID, w io.Writer, opts *ExportOptions) (ExportStats, error) {
	done, err := s.enter()
	if err != nil {
		return ExportStats{}, err
	}
	defer done()
	var o ExportOptions
	if opts != nil {
		o = *opts
	}
	cw := &countingWriter{w: w}
	var st ExportStats
	// A whole repo is read on the bulk pool, whose connections map the
	// file; the few blocks new since a rev are a short read.
	view := s.bulkView
	if o.Since != "" {
		view = s.b.View
	}
	err = view(ctx, func(tx storage.ReadTx) error {
		h, err := tx.Repo(ctx, did.String())
		if err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("%s: %w", did, ErrRepoNotFound)
			}
			return err
		}
		if h.Status != nil && (!o.IncludeInactive || *h.Status == StatusDeleted) {
			return &InactiveRepoError{DID: did.String(), Status: *h.Status}
		}
		head, err := cid.Cast(h.Head)
		if err != nil {
			return err
		}
		data, err := cid.Cast(h.Data)
		if err != nil {
			return err
		}
		src := viewBlocks(tx)
		cb, err := src.GetBlock(ctx, head)
		if err != nil {
			return err
		}
		if err := checkHash(head, cb); err != nil {
			return fmt.Errorf("head commit: %w", err)
		}
		// Record CIDs that more than one entry holds: the few blocks that
		// must be tracked to be written once (nodes are unique in a tree).
		repeated, err := repeatedRecords(ctx, tx, h.ID)
		if err != nil {
			return err
		}
		carw, err := car.NewWriter(cw, []cid.Cid{head})
		if err != nil {
			return err
		}
		put := func(c cid.Cid, b []byte) error {
			if written, ok := repeated[c]; ok {
				if written {
					return nil
				}
				repeated[c] = true
			}
			st.Blocks++
			return carw.WriteBlock(c, b)
		}
		if err := put(head, cb); err != nil {
			return err
		}
		full := o.Since == ""
		var since storage.EventRow
		if !full {
			since, err = tx.CommitEventAt(ctx, did.String(), o.Since.String())
			switch {
			case errors.Is(err, storage.ErrNotFound):
				// A rev whose commit event was pruned: the whole repo.
				if full, err = revPruned(ctx, tx, did, o.Since); err != nil {
					return err
				}
				if !full {
					return fmt.Errorf("rev %s of %s: %w", o.Since, did, ErrNotFound)
				}
			case err != nil:
				return err
			}
		}
		if full {
			recs := newRecordStream(tx, h.ID)
			recs.readAheadOn(ctx, s.b, did.String(), h.Head)
			defer recs.close()
			if err := mst.Load(newPrefetcher(tx), data).Blocks(ctx, recs, put); err != nil {
				// A node or record block that is missing or does not
				// hash is damage; an error of w is not.
				var ne *mst.NodeError
				if errors.As(err, &ne) || errors.Is(err, ErrNotFound) {
					return damage(fmt.Errorf("walk repo: %w", err))
				}
				return fmt.Errorf("walk repo: %w", err)
			}
		} else if err := s.exportSince(ctx, src, o.Since, since, mst.Load(src, data), put); err != nil {
			return err
		}
		return carw.Flush()
	})
	st.Bytes = cw.n
	if err != nil {
		return st, fmt.Errorf("export %s: %w", did, err)
	}
	return st, nil
}

// repeatedRecords returns the record CIDs that more than one key of the
// repo holds, each mapped to false (not written yet).
func repeatedRecords(ctx context.Context, tx storage.ReadTx, repo int64) (map[cid.Cid]bool, error) {
	cbs, err := tx.RepeatedRecords(ctx, repo)
	if err != nil {
		return nil, fmt.Errorf("repeated records: %w", err)
	}
	out := make(map[cid.Cid]bool, len(cbs))
	for _, b := range cbs {
		c, err := cid.Cast(b)
		if err != nil {
			return nil, fmt.Errorf("%w: record index holds CID %x: %v", ErrCorrupt, b, err)
		}
		out[c] = false
	}
	return out, nil
}

// exportSince writes the nodes and records that are new since rev, whose
// commit event is row.
func (s *Store) exportSince(ctx context.Context, src *txBlocks, rev syntax.TID, row storage.EventRow, tree *mst.Tree, put func(cid.Cid, []byte) error) error {
	e := Event{Kind: KindCommit}
	if err := e.decodeBody(row.Body); err != nil {
		return err
	}
	old, err := src.GetBlock(ctx, e.Commit)
	if err != nil {
		return err
	}
	oc, err := commit.Decode(old)
	if err != nil {
		return err
	}
	d, err := mst.DiffChanges(ctx, mst.Load(src, oc.Data), tree)
	if err != nil {
		var ne *mst.NodeError
		if errors.As(err, &ne) {
			return damage(fmt.Errorf("diff since %s: %w", rev, err))
		}
		return fmt.Errorf("diff since %s: %w", rev, err)
	}
	// The new nodes, then each new record once, read in one query.
	want := slices.Clone(d.CreatedNodes)
	// A record can share its CID with another record, or (forged) with a
	// node: each block goes in once.
	seen := make(map[cid.Cid]bool, len(want))
	for _, c := range want {
		seen[c] = true
	}
	for _, op := range d.RecordOps {
		if op.New.Defined() && !seen[op.New] {
			seen[op.New] = true
			want = append(want, op.New)
		}
	}
	got, err := src.getMany(ctx, want)
	if err != nil {
		return err
	}
	for _, c := range want {
		b, ok := got[c]
		if !ok {
			return fmt.Errorf("%w: block %s is missing", ErrCorrupt, c)
		}
		if err := checkHash(c, b); err != nil {
			return err
		}
		if err := put(c, b); err != nil {
			return err
		}
	}
	return nil
}
