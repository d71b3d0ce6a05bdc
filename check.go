package atlite

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/jmoiron/sqlx"
	"github.com/multiformats/go-multihash"

	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/mst"
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
	return s.view(ctx, func(tx *sqlx.Tx) error {
		var ic string
		if err := tx.QueryRowxContext(ctx, "PRAGMA integrity_check").Scan(&ic); err != nil {
			return fmt.Errorf("integrity_check: %w", err)
		}
		if ic != "ok" {
			return fmt.Errorf("%w: integrity_check: %s", ErrCorrupt, ic)
		}
		var n, minSeq, maxSeq int64
		if err := tx.QueryRowxContext(ctx, "SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), 0) FROM events").Scan(&n, &minSeq, &maxSeq); err != nil {
			return err
		}
		if n > 0 && (minSeq != 1 || maxSeq != n) {
			return fmt.Errorf("%w: event seqs are not gapless: %d events, seq %d..%d", ErrCorrupt, n, minSeq, maxSeq)
		}
		// Every commit and sync event names a stored commit of its repo.
		evRows, err := tx.QueryxContext(ctx, `SELECT seq, did, body FROM events WHERE kind IN ('commit', 'sync') ORDER BY seq`)
		if err != nil {
			return err
		}
		src := viewBlocks(s.rtx(tx))
		for evRows.Next() {
			var seq int64
			var did string
			var body []byte
			if err := evRows.Scan(&seq, &did, &body); err != nil {
				evRows.Close()
				return err
			}
			e := Event{Seq: seq, Kind: KindSync}
			if err := e.decodeBody(body); err != nil {
				evRows.Close()
				return fmt.Errorf("%w: event %d of %s: %v", ErrCorrupt, seq, did, err)
			}
			b, err := src.GetBlock(ctx, e.Commit)
			if err == nil {
				err = checkHash(e.Commit, b)
			}
			if err != nil {
				evRows.Close()
				return damage(fmt.Errorf("event %d of %s: commit: %w", seq, did, err))
			}
			if c, err := commit.Decode(b); err != nil || c.DID.String() != did {
				evRows.Close()
				return fmt.Errorf("%w: event %d: commit %s is not a commit of %s", ErrCorrupt, seq, e.Commit, did)
			}
		}
		if err := evRows.Close(); err != nil {
			return err
		}
		var rows []repoRow
		if err := tx.SelectContext(ctx, &rows, `SELECT `+repoColumns+` FROM repos ORDER BY id`); err != nil {
			return err
		}
		for i := range rows {
			if err := s.checkRepo(ctx, tx, src, &rows[i]); err != nil {
				return fmt.Errorf("repo %s: %w", rows[i].DID, err)
			}
		}
		return nil
	})
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

// hashedBlocks checks the hash of every block it serves.
type hashedBlocks struct {
	src mst.BlockSource
}

func (h hashedBlocks) GetBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	data, err := h.src.GetBlock(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := checkHash(c, data); err != nil {
		return nil, err
	}
	return data, nil
}

func (s *Store) checkRepo(ctx context.Context, tx *sqlx.Tx, src *txBlocks, r *repoRow) error {
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
	err = tx.QueryRowxContext(ctx, `SELECT kind FROM events WHERE did = ? AND kind IN ('commit', 'sync') AND rev = ? ORDER BY seq DESC LIMIT 1`, r.DID, r.Rev).Scan(&kind)
	if isNoRows(err) {
		return fmt.Errorf("%w: head commit %s (rev %s) has no event", ErrCorrupt, head, r.Rev)
	}
	if err != nil {
		return err
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
	lookup, err := tx.PreparexContext(ctx, `SELECT cid FROM records WHERE repo = ? AND collection = ? AND rkey = ?`)
	if err != nil {
		return err
	}
	defer lookup.Close()
	recs := &checkRecords{src: src, lookup: lookup, repo: r.ID}
	if err := mst.Load(src, cmt.Data).Blocks(ctx, recs, func(cid.Cid, []byte) error { return nil }); err != nil {
		return damage(fmt.Errorf("tree: %w", err))
	}
	leaves := recs.n
	var indexed int
	if err := tx.QueryRowxContext(ctx, `SELECT count(*) FROM records WHERE repo = ?`, r.ID).Scan(&indexed); err != nil {
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

// checkRecords reads record blocks for Check's tree walk (mst.RecordSource),
// checks each one's hash and checks it against the record index.
type checkRecords struct {
	src    *txBlocks
	lookup *sqlx.Stmt
	repo   int64
	n      int
}

func (c *checkRecords) GetBlock(ctx context.Context, id cid.Cid) ([]byte, error) {
	return hashedBlocks{c.src}.GetBlock(ctx, id)
}

func (c *checkRecords) GetRecord(ctx context.Context, key string, id cid.Cid) ([]byte, error) {
	c.n++
	coll, rkey, _ := strings.Cut(key, "/")
	var got []byte
	if err := c.lookup.QueryRowxContext(ctx, c.repo, coll, rkey).Scan(&got); err != nil {
		if isNoRows(err) {
			return nil, fmt.Errorf("%w: record index lacks %s", ErrCorrupt, key)
		}
		return nil, fmt.Errorf("record index lookup of %s: %w", key, err)
	}
	if !cidOrUndef(got).Equals(id) {
		return nil, fmt.Errorf("%w: record index has another CID for %s", ErrCorrupt, key)
	}
	return hashedBlocks{c.src}.GetBlock(ctx, id)
}
