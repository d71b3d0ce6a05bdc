package atlite

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/storage"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/mst"
	"github.com/atlite-dev/atlite/syntax"
)

// Check verifies the whole file from one read snapshot: SQLite's
// integrity_check; event seqs that run 1, 2, ... with no gap and match the
// subscribeRepos sequence; for every repo, a head commit that decodes, is
// signed by the repo's key (when readable) and has its #commit or #sync
// event, and a complete MST whose records are all present and match the
// record index. Every block it reads (commits, MST nodes, records) must hash
// to its CID. It returns the first problem found.
//
// Damage is reported with an error wrapping ErrCorrupt that names the repo
// and the record path (collection/rkey) or block. A key-encryption key that
// does not open a repo's signing key is not damage: that error wraps
// ErrInvalidKey and not ErrCorrupt.
func (s *Store) Check(ctx context.Context) error {
	done, err := s.enter()
	if err != nil {
		return err
	}
	defer done()
	return s.bulkView(ctx, func(tx storage.ReadTx) error {
		ic, err := tx.IntegrityCheck(ctx)
		if err != nil {
			return fmt.Errorf("integrity_check: %w", err)
		}
		if ic != "" {
			return fmt.Errorf("%w: integrity_check: %s", ErrCorrupt, ic)
		}
		n, minSeq, maxSeq, err := tx.EventSeqs(ctx)
		if err != nil {
			return err
		}
		// The stream starts at 1, or just after what PruneEvents deleted.
		pruned, err := tx.EventsPrunedThrough(ctx)
		if err != nil {
			return err
		}
		if n > 0 && (minSeq != pruned+1 || maxSeq != pruned+n) {
			return fmt.Errorf("%w: event seqs are not gapless: %d events, seq %d..%d (pruned through %d)", ErrCorrupt, n, minSeq, maxSeq, pruned)
		}
		// Every commit and sync event names a stored commit of its repo.
		src := viewBlocks(tx)
		err = eachEvent(ctx, tx, 0, "", func(ev *storage.EventRow) error {
			if ev.Kind != string(KindCommit) && ev.Kind != string(KindSync) {
				return nil
			}
			seq, did := ev.Seq, ev.DID
			e := Event{Seq: seq, Kind: EventKind(ev.Kind)}
			if err := e.decodeBody(ev.Body); err != nil {
				return fmt.Errorf("%w: event %d of %s: %v", ErrCorrupt, seq, did, err)
			}
			b, err := src.GetBlock(ctx, e.Commit)
			if err == nil {
				err = checkHash(e.Commit, b)
			}
			if err != nil {
				return damage(fmt.Errorf("event %d of %s: commit: %w", seq, did, err))
			}
			if c, err := commit.Decode(b); err != nil || c.DID.String() != did {
				return fmt.Errorf("%w: event %d: commit %s is not a commit of %s", ErrCorrupt, seq, e.Commit, did)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return eachRepo(ctx, tx, func(r *repoRow) error {
			return s.checkRepo(ctx, tx, src, r)
		})
	})
}

// checkPage is the number of events, and of repos, Check reads at a time.
const checkPage = 1000

// eachRepo calls fn with every repo of tx in id order, checkPage rows at a
// time; an error of fn stops it and is returned naming the repo.
func eachRepo(ctx context.Context, tx storage.ReadTx, fn func(*repoRow) error) error {
	for after := int64(0); ; {
		rows, err := tx.ReposAfterID(ctx, after, checkPage)
		if err != nil {
			return err
		}
		for i := range rows {
			after = rows[i].ID
			if err := fn(&rows[i]); err != nil {
				return fmt.Errorf("repo %s: %w", rows[i].DID, err)
			}
		}
		if len(rows) < checkPage {
			return nil
		}
	}
}

// errStop, returned by the fn of eachEvent, stops it without an error.
var errStop = errors.New("stop")

// eachEvent calls fn with every event of tx after seq after, of every
// repo or of did alone, in seq order, checkPage rows at a time, until fn
// returns an error (errStop: stop, and return nil).
func eachEvent(ctx context.Context, tx storage.ReadTx, after int64, did string, fn func(*storage.EventRow) error) error {
	for {
		evs, err := tx.Events(ctx, after, did, checkPage)
		if err != nil {
			return err
		}
		for i := range evs {
			after = evs[i].Seq
			if err := fn(&evs[i]); err == errStop {
				return nil
			} else if err != nil {
				return err
			}
		}
		if len(evs) < checkPage {
			return nil
		}
	}
}

// damage marks err as damage to the file (ErrCorrupt) unless it is the
// context's error, a key problem, or damage already.
func damage(err error) error {
	switch {
	case err == nil, errors.Is(err, ErrCorrupt), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, ErrInvalidKey), errors.Is(err, ErrKeyEncrypted):
		return err
	}
	return fmt.Errorf("%w: %w", ErrCorrupt, err)
}

// checkHash returns an error wrapping ErrCorrupt when data does not hash to c.
func checkHash(c cid.Cid, data []byte) error {
	// Fast path, without allocating: the sha2-256 digest ends the CID.
	if p := c.Prefix(); p.MhType == multihash.SHA2_256 && p.MhLength == sha256.Size {
		sum := sha256.Sum256(data)
		if k := c.KeyString(); k[len(k)-sha256.Size:] == string(sum[:]) {
			return nil
		}
	}
	got, err := c.Prefix().Sum(data)
	if err != nil {
		return fmt.Errorf("%w: block %s: cannot hash: %v", ErrCorrupt, c, err)
	}
	if !got.Equals(c) {
		return fmt.Errorf("%w: block %s does not hash to its CID (its bytes hash to %s)", ErrCorrupt, c, got)
	}
	return nil
}

func (s *Store) checkRepo(ctx context.Context, tx storage.ReadTx, src *txBlocks, r *repoRow) error {
	if r.Status != nil && (*r.Status == StatusDeleted || *r.Status == StatusTombstoned) {
		return nil
	}
	head, err := cid.Cast(r.Head)
	if err != nil {
		return fmt.Errorf("%w: head %x: %v", ErrCorrupt, r.Head, err)
	}
	cb, err := src.GetBlock(ctx, head)
	if err == nil {
		err = checkHash(head, cb)
	}
	if err != nil {
		return damage(fmt.Errorf("head commit: %w", err))
	}
	cmt, err := commit.Decode(cb)
	if err != nil {
		return fmt.Errorf("%w: head commit %s: %v", ErrCorrupt, head, err)
	}
	if cmt.DID.String() != r.DID || cmt.Rev.String() != r.Rev || !cmt.Data.Equals(cidOrUndef(r.Data)) {
		return fmt.Errorf("%w: head commit %s does not match the repo row", ErrCorrupt, head)
	}
	var kind string
	ev, err := tx.CommitEventAt(ctx, r.DID, r.Rev)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		// PruneEvents may have deleted the head's event (the repo wrote
		// nothing since): then whether it was a #commit or a #sync is
		// not known, and the signature is not checked. A head with no
		// event in a stream not pruned that far is damage.
		pruned, perr := revPruned(ctx, tx, syntax.DID(r.DID), syntax.TID(r.Rev))
		if perr != nil {
			return perr
		}
		if !pruned {
			return fmt.Errorf("%w: head commit %s (rev %s) has no event", ErrCorrupt, head, r.Rev)
		}
	case err != nil:
		return err
	default:
		kind = ev.Kind
	}
	// A head this store signed verifies with the stored key; an imported
	// head (#sync) was signed by whoever exported it.
	if kind == string(KindCommit) {
		var pub keys.PublicKey
		switch {
		case len(r.SigningKey) > 0 && (!r.KeyEncrypted || s.kek != nil):
			k, err := s.openKey(r.DID, r.SigningKey, r.KeyEncrypted)
			if errors.Is(err, ErrInvalidKey) && r.KeyEncrypted {
				return fmt.Errorf("the key-encryption key is wrong: it does not open the signing key (the file is not damaged): %w", ErrInvalidKey)
			}
			if err != nil {
				return damage(err)
			}
			pub = k.PublicKey()
		case r.SigningPub != nil:
			if pub, err = keys.ParseDIDKey(*r.SigningPub); err != nil {
				return fmt.Errorf("%w: stored signing key %q: %v", ErrCorrupt, *r.SigningPub, err)
			}
		}
		if pub != nil {
			if err := cmt.Verify(pub); err != nil {
				return fmt.Errorf("%w: head commit %s does not verify with the repo's key %s", ErrCorrupt, head, pub.DIDKey())
			}
		}
	}
	// One walk: every node and record must be present, hash to its CID and
	// be valid, and each record must be in the index under its key with its
	// CID. (The tree checks the hash of every node it reads.)
	// Records come a chunk at a time from the index (recordStream, strict;
	// on a second connection when one is free), nodes from the prefetcher.
	recs := newRecordStream(tx, r.ID)
	recs.strict = true
	recs.readAheadOn(ctx, s.b, r.DID, r.Head)
	defer recs.close()
	if err := mst.Load(newPrefetcher(tx), cmt.Data).Blocks(ctx, recs, func(cid.Cid, []byte) error { return nil }); err != nil {
		return damage(fmt.Errorf("tree: %w", err))
	}
	leaves := recs.n
	indexed, err := tx.CountRecords(ctx, r.ID)
	if err != nil {
		return err
	}
	if indexed != leaves {
		return fmt.Errorf("%w: record index has %d records, the MST %d", ErrCorrupt, indexed, leaves)
	}
	return nil
}

func cidOrUndef(b []byte) cid.Cid {
	c, err := cid.Cast(b)
	if err != nil {
		return cid.Undef
	}
	return c
}
