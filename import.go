package atlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/jmoiron/sqlx"

	"github.com/atlite-dev/atlite/car"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/mst"
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

// importMode holds what differs between ImportCAR and VerifyCAR.
type importMode struct {
	// verify: VerifyCAR. Duplicate blocks are refused, and revs are not
	// compared with the clock (a CAR is checked, not taken in).
	verify bool
}

// ImportCAR reads a repo CAR from r and stores it: a new repo, or a new head
// for a repo already in the store. It streams: blocks are staged in a
// temporary table as they are read (every block's hash verified), then the
// root commit is decoded and its signature checked (see [ImportOptions] for
// the key), the MST is walked from its root and must be complete and
// canonical, and every record must be present. Only then are the repo's
// blocks copied into the file, its record index rebuilt and one #sync event
// emitted, all in ONE transaction. Any failure leaves the file as it was.
// Blocks in the CAR that the repo does not reach are dropped, and a block
// the CAR holds more than once (identical bytes, since each copy's hash is
// checked) is stored once; [VerifyCAR] is stricter and refuses such a CAR.
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
	return s.importCAR(ctx, r, o, importMode{})
}

func (s *Store) importCAR(ctx context.Context, r io.Reader, o ImportOptions, mode importMode) (*ImportResult, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	if o.Handle != "" {
		h, err := syntax.ParseHandle(o.Handle.String())
		if err != nil {
			return nil, fmt.Errorf("import: handle: %w", err)
		}
		o.Handle = h.Normalize()
	}
	if o.SigningKey != nil {
		if o.VerifyKey != nil && o.VerifyKey.DIDKey() != o.SigningKey.PublicKey().DIDKey() {
			return nil, fmt.Errorf("import: the verify key %s is not the signing key's public key %s: %w",
				o.VerifyKey.DIDKey(), o.SigningKey.PublicKey().DIDKey(), ErrBadSignature)
		}
		if err := s.clearKeysAllowed(ctx); err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
	}
	var res ImportResult
	var ev Event
	err = s.update(ctx, func(tx *sqlx.Tx) error {
		var err error
		res, ev, err = s.importTx(ctx, tx, r, o, mode)
		return err
	})
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			// A cancelled import is not a bad CAR, whatever the reader or
			// the walk made of the cancellation.
			return nil, fmt.Errorf("import cancelled, nothing written: %w", cerr)
		}
		return nil, fmt.Errorf("import: %w", err)
	}
	if !res.NoOp {
		s.publish(ev)
	}
	return &res, nil
}

const (
	// The stage is a plain append-only table while the CAR streams in; its
	// index is built afterwards, which sorts once instead of inserting at
	// random places for every block.
	createStageSQL = `CREATE TEMP TABLE IF NOT EXISTS import_stage (k INTEGER NOT NULL, cid BLOB NOT NULL, data BLOB NOT NULL)`
	clearStageSQL  = `DELETE FROM temp.import_stage`
	dropStageKSQL  = `DROP INDEX IF EXISTS temp.import_stage_k`
	indexStageSQL  = `CREATE INDEX temp.import_stage_k ON import_stage (k)`
	stageBlockSQL  = `INSERT INTO temp.import_stage (k, cid, data) VALUES (?, ?, ?)`
	stagedSQL      = `SELECT cid, data FROM temp.import_stage WHERE k = ?`
	stagedManySQL  = `SELECT cid, data FROM temp.import_stage WHERE k IN (SELECT value FROM json_each(?))`
)

// stageBlocks reads blocks from the staging table.
type stageBlocks struct {
	st *sqlx.Stmt
}

func (b *stageBlocks) GetBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	rows, err := b.st.QueryxContext(ctx, blockKey(c))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cb := c.Bytes()
	for rows.Next() {
		var have, data []byte
		if err := rows.Scan(&have, &data); err != nil {
			return nil, err
		}
		if bytes.Equal(have, cb) {
			return data, nil
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("block %s: %w", c, mst.ErrNotFound)
}

func invalidCAR(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidCAR, fmt.Sprintf(format, args...))
}

// importHead is the stored state of a repo an import replaces.
type importHead struct {
	ID           int64   `db:"id"`
	Head         []byte  `db:"head"`
	Rev          string  `db:"rev"`
	SigningKey   []byte  `db:"signing_key"`
	RotationKey  []byte  `db:"rotation_key"`
	KeyEncrypted bool    `db:"key_encrypted"`
	Status       *string `db:"status"`
	SigningPub   *string `db:"signing_pub"`
}

const (
	importHeadSQL   = `SELECT id, head, rev, signing_key, rotation_key, key_encrypted, status, signing_pub FROM repos WHERE did = ?`
	duplicateSQL    = `SELECT cid, count(*) FROM temp.import_stage GROUP BY k, cid HAVING count(*) > 1 LIMIT 1`
	repeatedRecsSQL = `SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM records WHERE repo = ? GROUP BY k, cid HAVING n > 1)`
)

// storedPublicKey returns the key a repo's commits are checked against: the
// public half of its private key, or its did:key (a mirror, or a sealed key
// without the key-encryption key); nil when it has neither.
func (s *Store) storedPublicKey(did string, h *importHead) (keys.PublicKey, error) {
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

func (s *Store) importTx(ctx context.Context, tx *sqlx.Tx, r io.Reader, o ImportOptions, mode importMode) (ImportResult, Event, error) {
	var res ImportResult
	for _, q := range []string{createStageSQL, clearStageSQL, dropStageKSQL} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return res, Event{}, fmt.Errorf("stage: %w", err)
		}
	}
	defer tx.ExecContext(context.WithoutCancel(ctx), clearStageSQL)

	cr, err := car.NewReader(r, nil)
	if err != nil {
		return res, Event{}, fmt.Errorf("%w: %v", ErrInvalidCAR, err)
	}
	roots := cr.Roots()
	if len(roots) != 1 {
		return res, Event{}, invalidCAR("%d roots, want 1 (the commit)", len(roots))
	}
	stage, err := tx.PreparexContext(ctx, stageBlockSQL)
	if err != nil {
		return res, Event{}, err
	}
	defer stage.Close()
	for {
		b, err := cr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return res, Event{}, fmt.Errorf("%w: %v", ErrInvalidCAR, err)
		}
		if _, err := stage.ExecContext(ctx, blockKey(b.CID), b.CID.Bytes(), b.Data); err != nil {
			return res, Event{}, fmt.Errorf("stage block: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, indexStageSQL); err != nil {
		return res, Event{}, fmt.Errorf("index stage: %w", err)
	}
	if mode.verify {
		// The spec's CAR holds each block once, and strict readers
		// (indigo's among them) refuse repeats.
		var cb []byte
		var n int
		err := tx.QueryRowxContext(ctx, duplicateSQL).Scan(&cb, &n)
		if err == nil {
			c, _ := cid.Cast(cb)
			return res, Event{}, invalidCAR("block %s appears %d times", c, n)
		}
		if !isNoRows(err) {
			return res, Event{}, err
		}
	}
	staged, err := tx.PreparexContext(ctx, stagedSQL)
	if err != nil {
		return res, Event{}, err
	}
	defer staged.Close()
	src := &stageBlocks{st: staged}

	cb, err := src.GetBlock(ctx, roots[0])
	if err != nil {
		return res, Event{}, invalidCAR("root commit %s is not in the CAR", roots[0])
	}
	cmt, err := commit.Decode(cb)
	if err != nil {
		return res, Event{}, invalidCAR("root %s is not a commit: %v", roots[0], err)
	}
	did := cmt.DID
	now := s.now().UTC()
	if !mode.verify {
		if t := cmt.Rev.Time(); t.After(now.Add(maxRevSkew)) {
			return res, Event{}, fmt.Errorf("%w: rev %s is dated %s, more than %s after this host's clock (%s)",
				ErrFutureRev, cmt.Rev, t.Format(time.RFC3339), maxRevSkew, now.Format(time.RFC3339))
		}
	}

	// The repo as stored now, if any.
	var h importHead
	exists := true
	if err := tx.GetContext(ctx, &h, importHeadSQL, did.String()); err != nil {
		if !isNoRows(err) {
			return res, Event{}, err
		}
		exists = false
	}
	if exists && h.Status != nil {
		return res, Event{}, &InactiveRepoError{DID: did.String(), Status: *h.Status}
	}
	verify := o.VerifyKey
	if verify == nil && o.SigningKey != nil {
		verify = o.SigningKey.PublicKey()
	}
	if verify == nil && exists {
		if verify, err = s.storedPublicKey(did.String(), &h); err != nil {
			return res, Event{}, err
		}
	}
	if verify != nil {
		if err := cmt.Verify(verify); err != nil {
			return res, Event{}, fmt.Errorf("commit %s does not verify with %s: %w", roots[0], verify.DIDKey(), ErrBadSignature)
		}
		res.SignatureChecked = true
	}

	var repoID int64
	if exists {
		repoID = h.ID
		if o.SigningKey != nil {
			if err := s.replaceSigningKey(ctx, tx, did.String(), &h, o.SigningKey); err != nil {
				return res, Event{}, err
			}
		} else if o.VerifyKey != nil && len(h.SigningKey) == 0 && h.SigningPub == nil {
			if _, err := tx.ExecContext(ctx, `UPDATE repos SET signing_pub = ? WHERE id = ?`, o.VerifyKey.DIDKey(), repoID); err != nil {
				return res, Event{}, err
			}
		}
		if bytes.Equal(h.Head, roots[0].Bytes()) {
			res.NoOp = true
			if err := tx.QueryRowxContext(ctx, `SELECT count(*) FROM records WHERE repo = ?`, repoID).Scan(&res.Records); err != nil {
				return res, Event{}, err
			}
			s.keyCache.Delete(did.String())
			res.Repo, err = s.importedRepo(ctx, tx, did)
			return res, Event{}, err
		}
		if cmt.Rev.Compare(syntax.TID(h.Rev)) <= 0 && !o.Force {
			return res, Event{}, fmt.Errorf("rev %s of the CAR is not newer than rev %s of the stored head of %s (ImportOptions.Force imports it anyway): %w",
				cmt.Rev, h.Rev, did, ErrRevConflict)
		}
		// The repo row first: the record index refers to it.
		if _, err := tx.ExecContext(ctx, `UPDATE repos SET head = ?, data = ?, rev = ?, updated = ? WHERE id = ?`,
			roots[0].Bytes(), cmt.Data.Bytes(), cmt.Rev.String(), now.UnixMicro(), repoID); err != nil {
			return res, Event{}, err
		}
		for _, q := range []string{`DELETE FROM records WHERE repo = ?`, `DELETE FROM blob_refs WHERE repo = ?`} {
			if _, err := tx.ExecContext(ctx, q, repoID); err != nil {
				return res, Event{}, err
			}
		}
	} else {
		// No SigningKey: a read-only mirror, with an empty signing_key
		// and, when known, the public key.
		sealed, enc, pub := []byte{}, false, any(nil)
		if o.VerifyKey != nil {
			pub = o.VerifyKey.DIDKey()
		}
		if o.SigningKey != nil {
			if sealed, enc, err = s.sealKey(did.String(), o.SigningKey); err != nil {
				return res, Event{}, err
			}
			pub = o.SigningKey.PublicKey().DIDKey()
		}
		if err := s.handleFree(ctx, tx, did, o.Handle); err != nil {
			return res, Event{}, err
		}
		err = tx.QueryRowxContext(ctx, `INSERT INTO repos (did, handle, head, data, rev, signing_key, key_encrypted, created, updated, signing_pub)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, did.String(), nullString(o.Handle.String()), roots[0].Bytes(), cmt.Data.Bytes(),
			cmt.Rev.String(), sealed, enc, now.UnixMicro(), now.UnixMicro(), pub).Scan(&repoID)
		if err != nil {
			return res, Event{}, err
		}
	}

	// Walk the whole tree once from the staged blocks: every node must be
	// there, canonical and hash-checked (mst checks), every record present
	// and a DAG-CBOR map. Copy what the repo reaches into blocks; the
	// records reader indexes each record and its blob references as the
	// walk reads it.
	pf, err := newPrefetcher(ctx, tx, stagedManySQL, src)
	if err != nil {
		return res, Event{}, err
	}
	defer pf.close()
	records := &importRecords{
		src: pf.records(), repo: repoID, rev: cmt.Rev.String(),
		index: tx.StmtxContext(ctx, s.stmts.upsertRecord),
		refs:  tx.StmtxContext(ctx, s.stmts.insertBlobRef),
	}
	tree := mst.Load(pf, cmt.Data)
	bw := s.blockWriter(ctx, tx)
	visits := 0
	copyBlock := func(c cid.Cid, data []byte) error {
		visits++
		return bw.put(ctx, c, data)
	}
	if err := copyBlock(roots[0], cb); err != nil {
		return res, Event{}, err
	}
	if err := tree.Blocks(ctx, records, copyBlock); err != nil {
		if errors.Is(err, ErrInvalidCAR) {
			return res, Event{}, err
		}
		return res, Event{}, fmt.Errorf("%w: repo tree: %v", ErrInvalidCAR, err)
	}
	res.Records = records.n
	// Records with identical bytes share a block: count it once.
	var repeats int
	if err := tx.QueryRowxContext(ctx, repeatedRecsSQL, repoID).Scan(&repeats); err != nil {
		return res, Event{}, err
	}
	res.Blocks = visits - repeats

	ev := Event{DID: did, Kind: KindSync, Time: now, Rev: cmt.Rev, Commit: roots[0]}
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
func (s *Store) replaceSigningKey(ctx context.Context, tx *sqlx.Tx, did string, h *importHead, k keys.PrivateKey) error {
	sealed, enc, err := s.sealKey(did, k)
	if err != nil {
		return err
	}
	rotation := h.RotationKey
	if rotation != nil && enc != h.KeyEncrypted {
		rk, err := s.openKey(did, rotation, h.KeyEncrypted)
		if err != nil {
			return err
		}
		if rotation, _, err = s.sealKey(did, rk); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, `UPDATE repos SET signing_key = ?, rotation_key = ?, key_encrypted = ?, signing_pub = ? WHERE id = ?`,
		sealed, rotation, enc, k.PublicKey().DIDKey(), h.ID)
	return err
}

// importedRepo reads back the repo an import wrote.
func (s *Store) importedRepo(ctx context.Context, tx *sqlx.Tx, did syntax.DID) (*Repo, error) {
	var row repoRow
	if err := tx.GetContext(ctx, &row, repoByDIDSQL, did.String()); err != nil {
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
// (ImportCAR does that). It stages the blocks in a temporary database file,
// so memory does not grow with the CAR's size.
func VerifyCAR(ctx context.Context, r io.Reader, key keys.PublicKey) (*VerifyResult, error) {
	dir, err := os.MkdirTemp("", "atlite-verify-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	s, err := Open(dir+"/verify.db", nil)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	res, err := s.importCAR(ctx, r, ImportOptions{VerifyKey: key}, importMode{verify: true})
	if err != nil {
		return nil, err
	}
	return &VerifyResult{DID: res.Repo.DID, Rev: res.Repo.Rev, Commit: res.Repo.Head, Data: res.Repo.Data,
		Records: res.Records, Blocks: res.Blocks, SignatureChecked: res.SignatureChecked}, nil
}

// importRecords serves record blocks to an import's tree walk
// (mst.RecordSource): it refuses records that are not DAG-CBOR maps, as
// every repo record must be, and indexes each record and the blobs it
// cites under the key the walk reads it for.
type importRecords struct {
	src         recordSource
	repo        int64
	rev         string
	index, refs *sqlx.Stmt
	n           int // records indexed
}

func (r *importRecords) GetBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	return nil, fmt.Errorf("import: record %s read without its key", c)
}

func (r *importRecords) GetRecord(ctx context.Context, key string, c cid.Cid) ([]byte, error) {
	data, err := r.src.GetBlock(ctx, c)
	if err != nil {
		return nil, err
	}
	if c.Prefix().Codec != datamodel.CodecDagCBOR {
		return nil, invalidCAR("record %s is not dag-cbor", c)
	}
	m, err := datamodel.UnmarshalMap(data)
	if err != nil {
		return nil, invalidCAR("record %s: %v", c, err)
	}
	coll, rkey, ok := strings.Cut(key, "/")
	if !ok {
		return nil, invalidCAR("record key %q has no collection", key)
	}
	r.n++
	if _, err := r.index.ExecContext(ctx, r.repo, coll, rkey, c.Bytes(), blockKey(c)); err != nil {
		return nil, fmt.Errorf("index record %s: %w", key, err)
	}
	if mayCiteBlobs(data) {
		for _, b := range BlobRefs(m) {
			if _, err := r.refs.ExecContext(ctx, r.repo, key, b.Bytes(), r.rev); err != nil {
				return nil, fmt.Errorf("add blob ref %s of %s: %w", b, key, err)
			}
		}
	}
	return data, nil
}
