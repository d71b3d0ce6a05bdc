package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
	atrepo "github.com/bluesky-social/indigo/atproto/repo"
	"github.com/bluesky-social/indigo/carstore"
	lexutil "github.com/bluesky-social/indigo/lex/util"
	"github.com/bluesky-social/indigo/models"
	"github.com/bluesky-social/indigo/repo"
	"github.com/bluesky-social/indigo/repomgr"
	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

// peerDID is the repo's DID in both engines.
const peerDID = "did:plc:peersbenchpeersbenchpeer"

// indigoUID is the repo's user id in indigo's carstore.
const indigoUID models.Uid = 1

// keySeed makes the K-256 signing key, the same for both engines.
const keySeed = 2349872879569

// signingKeys returns the repo's K-256 key for atlite and the same key
// parsed by indigo's atcrypto.
func signingKeys() (*keys.K256PrivateKey, *keyManager, error) {
	k, err := keys.K256FromSeed(keySeed)
	if err != nil {
		return nil, nil, err
	}
	ik, err := atcrypto.ParsePrivateBytesK256(k.Bytes())
	if err != nil {
		return nil, nil, fmt.Errorf("indigo key: %w", err)
	}
	pub, err := ik.PublicKey()
	if err != nil {
		return nil, nil, fmt.Errorf("indigo public key: %w", err)
	}
	return k, &keyManager{priv: ik, pub: pub}, nil
}

// keyManager is repomgr's KeyManager over one real K-256 key: every commit
// indigo makes is signed with it, and every import checks it.
type keyManager struct {
	priv *atcrypto.PrivateKeyK256
	pub  atcrypto.PublicKey
}

var _ repomgr.KeyManager = (*keyManager)(nil)

// SignForUser signs msg with the key, as a PDS's key manager does.
func (k *keyManager) SignForUser(_ context.Context, _ string, msg []byte) ([]byte, error) {
	return k.priv.HashAndSign(msg)
}

// VerifyUserSignature checks sig over msg against the key.
func (k *keyManager) VerifyUserSignature(_ context.Context, _ string, sig, msg []byte) error {
	return k.pub.HashAndVerify(msg, sig)
}

// rawCBOR hands indigo a record's DAG-CBOR bytes as they are, so that it
// stores exactly the bytes atlite stores (its record types would re-encode
// them and drop what their lexicon does not know).
type rawCBOR []byte

// MarshalCBOR writes the bytes.
func (r rawCBOR) MarshalCBOR(w io.Writer) error {
	_, err := w.Write(r)
	return err
}

// atliteWrites converts records to atlite creates.
func atliteWrites(recs []record) ([]commit.Write, error) {
	ws := make([]commit.Write, len(recs))
	for i, r := range recs {
		coll, err := syntax.ParseNSID(r.collection)
		if err != nil {
			return nil, err
		}
		rkey, err := syntax.ParseRecordKey(r.rkey)
		if err != nil {
			return nil, err
		}
		ws[i] = commit.Write{Action: commit.Create, Collection: coll, RKey: rkey, Record: r.data}
	}
	return ws, nil
}

// indigoWrites converts records to the applyWrites creates repomgr.BatchWrite
// takes, with their record keys given (as a PDS's applyWrites passes them).
func indigoWrites(recs []record) []*comatproto.RepoApplyWrites_Input_Writes_Elem {
	ws := make([]*comatproto.RepoApplyWrites_Input_Writes_Elem, len(recs))
	for i, r := range recs {
		rkey := r.rkey
		ws[i] = &comatproto.RepoApplyWrites_Input_Writes_Elem{RepoApplyWrites_Create: &comatproto.RepoApplyWrites_Create{
			Collection: r.collection,
			Rkey:       &rkey,
			Value:      &lexutil.LexiconTypeDecoder{Val: rawCBOR(r.data)},
		}}
	}
	return ws
}

// openAtlite opens a file Store with atlite's defaults.
func openAtlite(path string) (*atlite.Store, error) {
	return atlite.Open(path, nil)
}

// createAtliteRepo creates the repo and commits its first record (the
// profile) on its own, as indigo's first commit holds it.
func createAtliteRepo(ctx context.Context, s *atlite.Store, key keys.PrivateKey, first record) error {
	if _, err := s.CreateRepo(ctx, peerDID, &atlite.CreateRepoOptions{SigningKey: key}); err != nil {
		return err
	}
	ws, err := atliteWrites([]record{first})
	if err != nil {
		return err
	}
	_, err = s.Commit(ctx, peerDID, ws, nil)
	return err
}

// indigoDSN is how the benchmark opens indigo's SQLite carstore.
// carstore.NewSqliteStore passes a bare path to mattn/go-sqlite3 and sets no
// pragma: the file would run in rollback-journal mode with
// synchronous=FULL. Its users run it in WAL with synchronous=NORMAL (as
// repomgr's own benchmark sets up its database), so the DSN sets both, for
// every connection of the pool (mattn applies DSN parameters per
// connection; its busy timeout defaults to 5 s).
func indigoDSN(dir string) string {
	return "file:" + filepath.Join(dir, "db.sqlite3") + "?_journal_mode=WAL&_synchronous=NORMAL"
}

// indigoEngine is indigo's sqlite carstore driven through repomgr.
type indigoEngine struct {
	dir string
	cs  *carstore.SQLiteStore
	rm  *repomgr.RepoManager
}

// openIndigo opens (creating) the carstore in dir: SQLiteStore.Open, which
// NewSqliteStore calls, with indigoDSN.
func openIndigo(dir string, km *keyManager) (*indigoEngine, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cs := new(carstore.SQLiteStore)
	if err := cs.Open(indigoDSN(dir)); err != nil {
		return nil, err
	}
	return &indigoEngine{dir: dir, cs: cs, rm: repomgr.NewRepoManager(cs, km)}, nil
}

// close closes the carstore (SQLite checkpoints the WAL on the last close).
func (e *indigoEngine) close() error { return e.cs.Close() }

// createRepo makes the repo's first commit holding first, the way
// repomgr.InitNewActor does (a delta session, repo.NewRepo, PutRecord,
// Commit, CloseWithRoot), but with our record's bytes instead of its
// generated profile.
func (e *indigoEngine) createRepo(ctx context.Context, km *keyManager, first record) error {
	ds, err := e.cs.NewDeltaSession(ctx, indigoUID, nil)
	if err != nil {
		return err
	}
	r := repo.NewRepo(ctx, peerDID, ds)
	if _, err := r.PutRecord(ctx, first.path(), rawCBOR(first.data)); err != nil {
		return err
	}
	root, rev, err := r.Commit(ctx, km.SignForUser)
	if err != nil {
		return err
	}
	_, err = ds.CloseWithRoot(ctx, root, rev)
	return err
}

// head returns the repo's MST root and its record count, walking the tree.
func (e *indigoEngine) head(ctx context.Context) (cid.Cid, int, error) {
	root, err := e.rm.GetRepoRoot(ctx, indigoUID)
	if err != nil {
		return cid.Undef, 0, err
	}
	ses, err := e.cs.ReadOnlySession(indigoUID)
	if err != nil {
		return cid.Undef, 0, err
	}
	r, err := repo.OpenRepo(ctx, ses, root)
	if err != nil {
		return cid.Undef, 0, err
	}
	n := 0
	err = r.ForEach(ctx, "", func(string, cid.Cid) error { n++; return nil })
	return r.DataCid(), n, err
}

// writeFile streams fn's output to path through a 1 MiB buffer.
func writeFile(path string, fn func(w io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = fn(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readFile streams path to fn through a 1 MiB buffer.
func readFile(path string, fn func(r io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return fn(bufio.NewReaderSize(f, 1<<20))
}

// indigoVerify checks a CAR the way indigo's atproto/repo package does:
// LoadRepoFromCAR (go-car checks every block's hash; every block is kept in
// memory), the commit's signature, the MST's structure (Tree.Verify: no
// missing node, heights and key order), and every record's block present.
// It returns the record count.
func indigoVerify(ctx context.Context, r io.Reader, pub atcrypto.PublicKey) (int, error) {
	cmt, rp, err := atrepo.LoadRepoFromCAR(ctx, r)
	if err != nil {
		return 0, err
	}
	if err := cmt.VerifySignature(pub); err != nil {
		return 0, err
	}
	if rp.MST.IsPartial() {
		return 0, errors.New("indigo verify: MST is partial")
	}
	if err := rp.MST.Verify(); err != nil {
		return 0, err
	}
	n := 0
	err = rp.MST.Walk(func(_ []byte, v cid.Cid) error {
		if _, err := rp.RecordStore.Get(ctx, v); err != nil {
			return err
		}
		n++
		return nil
	})
	return n, err
}

// fileSize is the size of a SQLite database: the file, its WAL and its
// shared-memory file.
func fileSize(path string) int64 {
	var n int64
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}
