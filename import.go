package atlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

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
type ImportOptions struct {
	// VerifyKey, when set, must have signed the CAR's commit. When nil and
	// the repo is already in the store, its stored signing key is used;
	// when nil for a new repo, the signature is not checked.
	VerifyKey keys.PublicKey
	// SigningKey signs the repo's later commits when the import creates the
	// repo. Default: a new K-256 key (publish it in the DID document to
	// keep the repo verifiable).
	SigningKey keys.PrivateKey
	// Handle is the handle of a repo the import creates.
	Handle string
}

// ImportResult tells what [Store.ImportCAR] stored.
type ImportResult struct {
	Repo    *Repo
	Records int   // records in the repo
	Blocks  int   // blocks of the repo (commit, nodes, records) stored
	Seq     int64 // seq of the #sync event
}

// ImportCAR reads a repo CAR from r and stores it: a new repo, or a new head
// for a repo already in the store. It streams: blocks are staged in a
// temporary table as they are read (every block's hash verified), then the
// root commit is decoded and its signature checked, the MST is walked from
// its root and must be complete and canonical, and every record must be
// present. Only then are the repo's blocks copied into the file, its record
// index rebuilt and one #sync event emitted, all in ONE transaction. Any
// failure leaves the file as it was. Blocks in the CAR that the repo does not
// reach are dropped.
func (s *Store) ImportCAR(ctx context.Context, r io.Reader, opts *ImportOptions) (*ImportResult, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	var o ImportOptions
	if opts != nil {
		o = *opts
	}
	var res ImportResult
	var ev Event
	err = s.update(ctx, func(tx *sqlx.Tx) error {
		var err error
		res, ev, err = s.importTx(ctx, tx, r, o)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	s.publish(ev)
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

func (s *Store) importTx(ctx context.Context, tx *sqlx.Tx, r io.Reader, o ImportOptions) (ImportResult, Event, error) {
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

	// The repo as stored now, if any.
	var h headRow
	exists := true
	if err := tx.GetContext(ctx, &h, headSQL, did.String()); err != nil {
		if !isNoRows(err) {
			return res, Event{}, err
		}
		exists = false
	}
	if exists && h.Status != nil {
		return res, Event{}, &InactiveRepoError{DID: did.String(), Status: *h.Status}
	}
	verify := o.VerifyKey
	if verify == nil && exists && (!h.KeyEncrypted || s.kek != nil) {
		k, err := s.signingKey(did.String(), h.SigningKey, h.KeyEncrypted)
		if err != nil {
			return res, Event{}, err
		}
		verify = k.PublicKey()
	}
	if verify != nil {
		if err := cmt.Verify(verify); err != nil {
			return res, Event{}, fmt.Errorf("commit %s: %w", roots[0], ErrBadSignature)
		}
	}

	// The repo row first: the record index refers to it.
	now := s.now().UTC()
	var repoID int64
	if exists {
		repoID = h.ID
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
		sk := o.SigningKey
		if sk == nil {
			if sk, err = keys.GenerateK256(); err != nil {
				return res, Event{}, err
			}
		}
		sealed, enc, err := s.sealKey(did.String(), sk)
		if err != nil {
			return res, Event{}, err
		}
		if o.Handle != "" {
			if _, err := syntax.ParseHandle(o.Handle); err != nil {
				return res, Event{}, fmt.Errorf("handle: %w", err)
			}
		}
		err = tx.QueryRowxContext(ctx, `INSERT INTO repos (did, handle, head, data, rev, signing_key, key_encrypted, created, updated)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, did.String(), nullString(strings.ToLower(o.Handle)), roots[0].Bytes(), cmt.Data.Bytes(),
			cmt.Rev.String(), sealed, enc, now.UnixMicro(), now.UnixMicro()).Scan(&repoID)
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
	copyBlock := func(c cid.Cid, data []byte) error {
		res.Blocks++
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

	ev := Event{DID: did, Kind: KindSync, Time: now, Rev: cmt.Rev, Commit: roots[0]}
	if err := s.writeEvent(ctx, tx, &ev); err != nil {
		return res, Event{}, err
	}
	res.Seq = ev.Seq
	s.keyCache.Delete(did.String())
	res.Repo = &Repo{DID: did, Head: roots[0], Data: cmt.Data, Rev: cmt.Rev, Handle: syntax.Handle(strings.ToLower(o.Handle)), Updated: now}
	return res, ev, nil
}

// VerifyResult describes a CAR that [VerifyCAR] checked.
type VerifyResult struct {
	DID     syntax.DID
	Rev     syntax.TID
	Commit  cid.Cid
	Data    cid.Cid
	Records int
	Blocks  int
}

// VerifyCAR checks a repo CAR without keeping it: every block's hash, the
// root commit (and its signature when key is not nil), the MST's
// completeness and canonical form, and the presence of every record. It
// stages the blocks in a temporary database file, so memory does not grow
// with the CAR's size.
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
	res, err := s.ImportCAR(ctx, r, &ImportOptions{VerifyKey: key})
	if err != nil {
		return nil, err
	}
	return &VerifyResult{DID: res.Repo.DID, Rev: res.Repo.Rev, Commit: res.Repo.Head, Data: res.Repo.Data, Records: res.Records, Blocks: res.Blocks}, nil
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
