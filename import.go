package atlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/car"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/stage"
	"github.com/atlite-dev/atlite/internal/storage"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

// ImportOptions configure [Store.ImportCAR]. A nil pointer means defaults.
//
// Keys. A commit is checked against one key, chosen in this order:
// VerifyKey; else the public half of SigningKey; else, for a repo already in
// the store, its stored key (the public half of its private key, or the
// did:key kept for a read-only mirror). When there is no key at all the
// import goes ahead unchecked and says so ([ImportResult.SignatureChecked]
// false). A commit that does not verify with the chosen key is refused with
// ErrBadSignature. atlite never generates a signing key on import: a repo
// the import creates without SigningKey is a read-only mirror, which refuses
// commits ([ErrReadOnlyRepo]).
type ImportOptions struct {
	// VerifyKey, when set, must have signed the CAR's commit. For a new
	// repo made without SigningKey it is also kept as the mirror's signing
	// key ([Repo.SigningKey]); for a repo already in the store it only
	// overrides the key the commit is checked against: the stored key is
	// kept (give SigningKey to replace it), except that a mirror that has
	// no public key yet takes VerifyKey's.
	VerifyKey keys.PublicKey
	// SigningKey, when set, is the repo's private signing key: the host
	// takes it and signs the repo's later commits with it. The CAR's commit
	// must verify with it, and when VerifyKey is set too both must be the
	// same key (ErrBadSignature otherwise). It is stored as keys are
	// ([Options.KeyEncryptionKey]), for a new repo and also for a repo in
	// the store, whose stored key it replaces (a mirror becomes a repo
	// this host writes to). Nil: a new repo is a read-only mirror, and a
	// repo in the store keeps the key it has.
	SigningKey keys.PrivateKey
	// Handle is the handle of a repo the import creates ([ErrHandleTaken]
	// when another repo has it). It is ignored for a repo in the store.
	Handle syntax.Handle
	// Force imports a CAR whose rev is not newer than the stored head's,
	// moving the repo back to it: records newer than the CAR are dropped
	// and a #sync event with the lower rev is emitted. Without Force such
	// an import is refused with ErrRevConflict. Even with Force, a CAR
	// whose commit is the stored head already is a no-op
	// ([ImportResult.NoOp]).
	Force bool
	// DID, when set, is the repo the CAR must hold: a CAR whose commit names
	// another DID is refused with ErrInvalidCAR before anything is stored
	// (a server importing into an account passes the account's DID).
	DID syntax.DID
}

// ImportResult tells what [Store.ImportCAR] stored.
type ImportResult struct {
	Repo    *Repo
	Records int   // records in the repo
	Blocks  int   // distinct blocks of the repo (commit, nodes, records) stored; 0 for a no-op
	Seq     int64 // seq of the #sync event; 0 for a no-op
	// NoOp reports that the CAR's commit is the repo's head already:
	// no block, record or event was written. Keys are still taken as
	// ImportOptions says (a SigningKey that verifies the commit replaces
	// the stored key; a mirror without a public key takes VerifyKey).
	NoOp bool
	// SignatureChecked reports whether the commit's signature was checked
	// against a key (see ImportOptions). When it is false nothing vouches
	// for who made the repo; a tool should say so.
	SignatureChecked bool
}

// maxRevSkew is how far ahead of the store's clock an imported rev may be,
// the relay's rule: a rev from the future would make every later local rev
// come from the future too.
const maxRevSkew = 5 * time.Minute

// ImportCAR reads a repo CAR from r and stores it: a new repo, or a new head
// for a repo already in the store. It reads and checks the whole CAR before
// it takes the file's write lock, so a slow stream holds up no other writer:
// every block's hash is verified as it is read, the root commit is decoded
// and its signature checked (see [ImportOptions] for the key), the MST is
// walked from its root and must be complete and canonical, and every record
// must be present; what the repo reaches is staged in a temporary file.
// Memory is bounded: it holds the MST nodes on the walk's path and the CIDs
// of up to 32768 blocks read (more go to the staging file), never the
// blocks themselves (a CAR in the spec's pre-order, as ExportCAR writes it,
// streams through; another order is staged first). Only then, in ONE short write
// transaction that checks the repo's state again, are the repo's blocks
// copied into the file, its record index rebuilt and one #sync event
// emitted. Any failure leaves the file as it was. Blocks in the CAR that
// the repo does not reach are dropped, and a block the CAR holds more than
// once (identical bytes, since each copy's hash is checked) is stored once;
// [VerifyCAR] is stricter and refuses such a CAR.
//
// It refuses, writing nothing: a CAR whose rev is not newer than the stored
// head's (ErrRevConflict, unless [ImportOptions.Force]); a rev dated more
// than five minutes after the store's clock (ErrFutureRev); an inactive repo
// ([InactiveRepoError]). A CAR whose commit is the stored head already is a
// no-op: nothing is written and no event emitted ([ImportResult.NoOp]). An
// import cancelled through ctx returns an error wrapping the context's
// error, not ErrInvalidCAR.
func (s *Store) ImportCAR(ctx context.Context, r io.Reader, opts *ImportOptions) (*ImportResult, error) {
	var o ImportOptions
	if opts != nil {
		o = *opts
	}
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	res, err := s.importCAR(ctx, r, o)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			// A cancelled import is not a bad CAR, whatever the reader or
			// the walk made of the cancellation.
			return nil, fmt.Errorf("import cancelled, nothing written: %w", cerr)
		}
		return nil, fmt.Errorf("import: %w", err)
	}
	return res, nil
}

func (s *Store) importCAR(ctx context.Context, r io.Reader, o ImportOptions) (*ImportResult, error) {
	if o.Handle != "" {
		h, err := syntax.ParseHandle(o.Handle.String())
		if err != nil {
			return nil, fmt.Errorf("handle: %w", err)
		}
		o.Handle = h.Normalize()
	}
	if o.SigningKey != nil {
		if o.VerifyKey != nil && o.VerifyKey.DIDKey() != o.SigningKey.PublicKey().DIDKey() {
			return nil, fmt.Errorf("the verify key %s is not the signing key's public key %s: %w",
				o.VerifyKey.DIDKey(), o.SigningKey.PublicKey().DIDKey(), ErrBadSignature)
		}
		if err := s.clearKeysAllowed(ctx); err != nil {
			return nil, err
		}
	}
	cr, err := car.NewReader(r, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidCAR, err)
	}
	roots := cr.Roots()
	if len(roots) != 1 {
		return nil, invalidCAR("%d roots, want 1 (the commit)", len(roots))
	}
	st, err := stage.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer st.Close()

	// Outside the write lock: read, check and stage the CAR.
	cs := newCARStream(cr, false, st)
	cs.sink = func(c cid.Cid, data []byte) error { return st.Keep(ctx, c, data) }
	cs.record = func(key string, c cid.Cid, data []byte) error {
		coll, rkey, _ := strings.Cut(key, "/")
		if err := st.Record(ctx, coll, rkey, c); err != nil {
			return err
		}
		if data != nil {
			// Decoded only when it may cite a blob (the walk checked it).
			refs, err := recordBlobRefs(data)
			if err != nil {
				return invalidCAR("record %s: %v", c, err)
			}
			for _, b := range refs {
				if err := st.BlobRef(ctx, c, b); err != nil {
					return err
				}
			}
		}
		return nil
	}
	now := s.now().UTC()
	var signed bool
	var verified keys.PublicKey // the key the commit was checked with, if any
	cmt, err := walkCAR(ctx, cs, roots[0], func(cmt *commit.Commit) error {
		if o.DID != "" && cmt.DID != o.DID {
			return invalidCAR("the CAR holds the repo %s, not %s", cmt.DID, o.DID)
		}
		if t := cmt.Rev.Time(); t.After(now.Add(maxRevSkew)) {
			return fmt.Errorf("%w: rev %s is dated %s, more than %s after this host's clock (%s)",
				ErrFutureRev, cmt.Rev, t.Format(time.RFC3339), maxRevSkew, now.Format(time.RFC3339))
		}
		// Refuse early what the write transaction would refuse (it checks
		// again: the repo may change meanwhile).
		h, err := s.b.Reader().Repo(ctx, cmt.DID.String())
		exists := err == nil
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		verified, err = s.checkImport(cmt, roots[0], o, exists, &h, nil)
		signed = verified != nil
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := st.Seal(ctx); err != nil {
		return nil, err
	}

	// One short write transaction, which stores the staged rows: a SQLite
	// store copies them with a few INSERT ... SELECT from the staging file
	// attached to the write connection, another backend streams them.
	var res ImportResult
	var ev Event
	err = s.b.Update(ctx, &storage.UpdateOptions{Attach: st.URI(s.mem)}, func(tx storage.WriteTx) error {
		var err error
		res, ev, err = s.importTx(ctx, tx, st, cmt, roots[0], o, now, verified)
		return err
	})
	if err != nil {
		return nil, err
	}
	res.SignatureChecked = signed
	if !res.NoOp {
		res.Records = cs.records
		res.Blocks = cs.distinct
		s.publish(ev)
	}
	return &res, nil
}

// checkImport checks the commit of a CAR against the repo as stored (h,
// when exists): the repo must be active, the rev newer (unless o.Force or
// a no-op), and the signature must verify with the key ImportOptions
// choose. It returns the key the signature verified with (nil: there was
// no key to check it with); a signature already verified with the same key
// (verified) is not checked again.
func (s *Store) checkImport(cmt *commit.Commit, root cid.Cid, o ImportOptions, exists bool, h *repoRow, verified keys.PublicKey) (key keys.PublicKey, err error) {
	did := cmt.DID.String()
	if exists && h.Status != nil {
		return nil, &InactiveRepoError{DID: did, Status: *h.Status}
	}
	verify := o.VerifyKey
	if verify == nil && o.SigningKey != nil {
		verify = o.SigningKey.PublicKey()
	}
	if verify == nil && exists {
		if verify, err = s.storedPublicKey(did, h); err != nil {
			return nil, err
		}
	}
	// A signature already checked with this very key (before the write
	// lock) is not checked again inside it.
	if verify != nil && (verified == nil || verified.DIDKey() != verify.DIDKey()) {
		if err := cmt.Verify(verify); err != nil {
			return nil, fmt.Errorf("commit %s does not verify with %s: %w", root, verify.DIDKey(), ErrBadSignature)
		}
	}
	if exists && !bytes.Equal(h.Head, root.Bytes()) && cmt.Rev.Compare(syntax.TID(h.Rev)) <= 0 && !o.Force {
		return nil, fmt.Errorf("rev %s of the CAR is not newer than rev %s of the stored head of %s (ImportOptions.Force imports it anyway): %w",
			cmt.Rev, h.Rev, did, ErrRevConflict)
	}
	return verify, nil
}

func invalidCAR(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidCAR, fmt.Sprintf(format, args...))
}

// storedPublicKey returns the key a repo's commits are checked against: the
// public half of its private key, or its did:key (a mirror, or a sealed key
// without the key-encryption key); nil when it has neither.
func (s *Store) storedPublicKey(did string, h *repoRow) (keys.PublicKey, error) {
	if len(h.SigningKey) > 0 && (!h.KeyEncrypted || s.kek != nil) {
		k, err := s.openKey(did, h.SigningKey, h.KeyEncrypted)
		if err != nil {
			return nil, err
		}
		return k.PublicKey(), nil
	}
	if h.SigningPub != nil {
		k, err := keys.ParseDIDKey(*h.SigningPub)
		if err != nil {
			return nil, fmt.Errorf("repo %s: stored signing key: %w", did, err)
		}
		return k, nil
	}
	return nil, nil
}

// importTx stores a checked, staged CAR inside tx: it reads the repo's
// state again and checks it as checkImport does, then writes the repo row,
// the blocks, the record index, the blob references and the #sync event.
func (s *Store) importTx(ctx context.Context, tx storage.WriteTx, st *stage.File, cmt *commit.Commit, root cid.Cid, o ImportOptions, now time.Time, verified keys.PublicKey) (ImportResult, Event, error) {
	var res ImportResult
	did := cmt.DID
	h, err := tx.Repo(ctx, did.String())
	exists := err == nil
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return res, Event{}, err
	}
	if _, err := s.checkImport(cmt, root, o, exists, &h, verified); err != nil {
		return res, Event{}, err
	}

	change := &storage.ImportChange{Head: root, Data: cmt.Data, Rev: cmt.Rev.String(), Time: now.UnixMicro(), Staged: st}
	if exists {
		change.Repo = h.ID
		if o.SigningKey != nil {
			if err := s.replaceSigningKey(ctx, tx, &h, o.SigningKey); err != nil {
				return res, Event{}, err
			}
		} else if o.VerifyKey != nil && len(h.SigningKey) == 0 && h.SigningPub == nil {
			if err := tx.SetSigningPub(ctx, h.ID, o.VerifyKey.DIDKey()); err != nil {
				return res, Event{}, err
			}
		}
		if bytes.Equal(h.Head, root.Bytes()) {
			res.NoOp = true
			if res.Records, err = tx.CountRecords(ctx, h.ID); err != nil {
				return res, Event{}, err
			}
			s.keyCache.Delete(did.String())
			res.Repo, err = s.importedRepo(ctx, tx, did)
			return res, Event{}, err
		}
	} else {
		// No SigningKey: a read-only mirror, with an empty signing_key
		// and, when known, the public key.
		n := &repoRow{DID: did.String(), SigningKey: []byte{}}
		if o.Handle != "" {
			hs := o.Handle.String()
			n.Handle = &hs
		}
		if o.VerifyKey != nil {
			pub := o.VerifyKey.DIDKey()
			n.SigningPub = &pub
		}
		if o.SigningKey != nil {
			if n.SigningKey, n.KeyEncrypted, err = s.sealKey(did.String(), o.SigningKey); err != nil {
				return res, Event{}, err
			}
			pub := o.SigningKey.PublicKey().DIDKey()
			n.SigningPub = &pub
		}
		if err := s.handleFree(ctx, tx, did, o.Handle); err != nil {
			return res, Event{}, err
		}
		change.New = n
	}
	if _, err := tx.ImportRepo(ctx, change); err != nil {
		return res, Event{}, err
	}

	ev := Event{DID: did, Kind: KindSync, Time: now, Rev: cmt.Rev, Commit: root}
	if err := s.writeEvent(ctx, tx, &ev); err != nil {
		return res, Event{}, err
	}
	res.Seq = ev.Seq
	s.keyCache.Delete(did.String())
	if res.Repo, err = s.importedRepo(ctx, tx, did); err != nil {
		return res, Event{}, err
	}
	return res, ev, nil
}

// replaceSigningKey stores k as the signing key of the repo h, sealed as
// the store seals keys. A rotation key is sealed again when the sealing
// changes (a clear file opened with a key-encryption key).
func (s *Store) replaceSigningKey(ctx context.Context, tx storage.WriteTx, h *repoRow, k keys.PrivateKey) error {
	sealed, enc, err := s.sealKey(h.DID, k)
	if err != nil {
		return err
	}
	rotation := h.RotationKey
	if rotation != nil && enc != h.KeyEncrypted {
		rk, err := s.openKey(h.DID, rotation, h.KeyEncrypted)
		if err != nil {
			return err
		}
		if rotation, _, err = s.sealKey(h.DID, rk); err != nil {
			return err
		}
	}
	return tx.ReplaceSigningKey(ctx, h.ID, sealed, rotation, enc, k.PublicKey().DIDKey())
}

// importedRepo reads back the repo an import wrote.
func (s *Store) importedRepo(ctx context.Context, tx storage.ReadTx, did syntax.DID) (*Repo, error) {
	row, err := tx.Repo(ctx, did.String())
	if err != nil {
		return nil, err
	}
	return s.repo(&row)
}

// VerifyResult describes a CAR that [VerifyCAR] checked.
type VerifyResult struct {
	DID     syntax.DID
	Rev     syntax.TID
	Commit  cid.Cid
	Data    cid.Cid
	Records int
	Blocks  int
	// SignatureChecked reports whether the commit's signature was checked:
	// false when VerifyCAR was given no key.
	SignatureChecked bool
}

// VerifyCAR checks a repo CAR without keeping it: every block's hash, the
// root commit (and its signature when key is not nil), the MST's
// completeness and canonical form, and the presence of every record. A
// block that appears more than once is refused (ErrInvalidCAR naming its
// CID), as strict readers refuse it; the rev is not compared with the clock
// (ImportCAR does that). It opens no database: a CAR in the spec's
// pre-order (as ExportCAR writes) is checked as it streams, holding the MST
// nodes on the path being walked and the CIDs of the blocks read (to know a
// repeated record and refuse a repeated block: up to 32768 in memory, a few
// MB, beyond which they move to a temporary file); a CAR in another order
// has its remaining blocks staged in a temporary file (a private SQLite
// file, not an atlite database). Memory is bounded either way. A cancelled ctx
// gives an error wrapping the context's error, not ErrInvalidCAR.
func VerifyCAR(ctx context.Context, r io.Reader, key keys.PublicKey) (*VerifyResult, error) {
	res, err := verifyCAR(ctx, r, key)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("verify cancelled: %w", cerr)
		}
		return nil, fmt.Errorf("verify: %w", err)
	}
	return res, nil
}

func verifyCAR(ctx context.Context, r io.Reader, key keys.PublicKey) (*VerifyResult, error) {
	cr, err := car.NewReader(r, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidCAR, err)
	}
	roots := cr.Roots()
	if len(roots) != 1 {
		return nil, invalidCAR("%d roots, want 1 (the commit)", len(roots))
	}
	cs := newCARStream(cr, true, nil)
	defer func() { cs.stage.Close() }()
	cmt, err := walkCAR(ctx, cs, roots[0], func(cmt *commit.Commit) error {
		if key != nil {
			if err := cmt.Verify(key); err != nil {
				return fmt.Errorf("commit %s does not verify with %s: %w", roots[0], key.DIDKey(), ErrBadSignature)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &VerifyResult{DID: cmt.DID, Rev: cmt.Rev, Commit: roots[0], Data: cmt.Data,
		Records: cs.records, Blocks: cs.distinct, SignatureChecked: key != nil}, nil
}
