package xrpc

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/car"
	"github.com/atlite-dev/atlite/syntax"
)

// The com.atproto.sync methods: public, no auth. Each checks the repo
// first (LoadRepo), so that an unknown repo answers RepoNotFound and an
// inactive one RepoDeactivated, RepoTakendown or RepoSuspended, before
// anything is streamed.

// CARContentType is the content type of CAR answers.
const CARContentType = "application/vnd.ipld.car"

// BlobCacheControl is the Cache-Control header of getBlob answers: a blob
// is content-addressed and so never changes, but it may be taken down, so
// only the client's own cache keeps it, for a day.
const BlobCacheControl = "private, max-age=86400"

func init() {
	registrations = append(registrations, func(s *Server) error {
		s.Query("com.atproto.sync.getRepo", s.syncGetRepo)
		s.Query("com.atproto.sync.getCheckout", s.syncGetCheckout)
		s.Query("com.atproto.sync.getRecord", s.syncGetRecord)
		s.Query("com.atproto.sync.getBlocks", s.syncGetBlocks)
		s.Query("com.atproto.sync.getLatestCommit", s.syncGetLatestCommit)
		s.Query("com.atproto.sync.getHead", s.syncGetHead)
		s.Query("com.atproto.sync.getRepoStatus", s.syncGetRepoStatus)
		s.Query("com.atproto.sync.listRepos", s.syncListRepos)
		s.Query("com.atproto.sync.listBlobs", s.syncListBlobs)
		s.Query("com.atproto.sync.getBlob", s.syncGetBlob)
		return nil
	})
}

// syncRepoNotFound is the RepoNotFound answer for did.
func syncRepoNotFound(d syntax.DID) *Error {
	return Errorf(http.StatusBadRequest, "RepoNotFound", "Could not find repo for DID: %s", d)
}

// syncRepo returns the repo did, or RepoNotFound; with active set, an
// inactive repo gives its status's error (RepoDeactivated, RepoTakendown,
// RepoSuspended; a tombstoned or deleted repo is RepoNotFound).
func (s *Server) syncRepo(r *http.Request, d syntax.DID, active bool) (*atlite.Repo, error) {
	repo, err := s.store.LoadRepo(r.Context(), d.AtIdentifier())
	if errors.Is(err, atlite.ErrNotFound) {
		return nil, syncRepoNotFound(d)
	}
	if err != nil {
		return nil, err
	}
	if active && !repo.Active() {
		return nil, ErrorFor(&atlite.InactiveRepoError{DID: d.String(), Status: repo.Status})
	}
	return repo, nil
}

// syncStatus is the account status a repo's stored status is shown as:
// a tombstoned repo is "deleted", as in its #account event.
func syncStatus(status string) string {
	if status == atlite.StatusTombstoned {
		return atlite.StatusDeleted
	}
	return status
}

// lazyCARWriter sets the CAR content type and the 200 status on the first
// write, so that an error met before any byte is written can still be
// answered as an XRPC error.
type lazyCARWriter struct {
	w       http.ResponseWriter
	started bool
}

func (c *lazyCARWriter) Write(b []byte) (int, error) {
	if !c.started {
		c.started = true
		c.w.Header().Set("Content-Type", CARContentType)
		c.w.WriteHeader(http.StatusOK)
	}
	return c.w.Write(b)
}

// syncGetRepo streams the repo, or what changed since a rev, as a CAR.
func (s *Server) syncGetRepo(w http.ResponseWriter, r *http.Request) error {
	p := ParamsOf(r)
	d := p.DID("did", true)
	since := p.TID("since", false)
	if err := p.Err(); err != nil {
		return err
	}
	return s.exportRepo(w, r, d, since)
}

// syncGetCheckout streams the whole repo as a CAR (deprecated for getRepo).
func (s *Server) syncGetCheckout(w http.ResponseWriter, r *http.Request) error {
	p := ParamsOf(r)
	d := p.DID("did", true)
	if err := p.Err(); err != nil {
		return err
	}
	return s.exportRepo(w, r, d, "")
}

func (s *Server) exportRepo(w http.ResponseWriter, r *http.Request, d syntax.DID, since syntax.TID) error {
	if _, err := s.syncRepo(r, d, true); err != nil {
		return err
	}
	cw := &lazyCARWriter{w: w}
	_, err := s.store.ExportCAR(r.Context(), d, cw, &atlite.ExportOptions{Since: since})
	if err != nil && !cw.started && since != "" && errors.Is(err, atlite.ErrNotFound) && !errors.Is(err, atlite.ErrCorrupt) {
		// The repo was found just above: what is missing is the rev.
		return InvalidRequest("since: %s is not a rev of %s", since, d)
	}
	if err != nil && cw.started {
		// Too late for an XRPC error: cut the stream so that the client
		// sees a truncated CAR rather than a complete-looking one.
		panic(http.ErrAbortHandler)
	}
	return err
}

// syncGetRecord writes the proof CAR of one record: the commit, the MST
// path to the record, and the record.
func (s *Server) syncGetRecord(w http.ResponseWriter, r *http.Request) error {
	p := ParamsOf(r)
	d := p.DID("did", true)
	collection := p.NSID("collection", true)
	rkey := p.RecordKey("rkey", true)
	if err := p.Err(); err != nil {
		return err
	}
	if _, err := s.syncRepo(r, d, true); err != nil {
		return err
	}
	// A proof is a few blocks: buffer it, to answer RecordNotFound when
	// the tree does not hold the record.
	var buf bytes.Buffer
	found, err := s.store.WriteRecordProof(r.Context(), d, collection, rkey, &buf)
	if err != nil {
		return err
	}
	if !found {
		return Errorf(http.StatusBadRequest, "RecordNotFound", "Could not locate record: at://%s/%s/%s", d, collection, rkey)
	}
	w.Header().Set("Content-Type", CARContentType)
	w.Header().Set("Content-Length", fmt.Sprint(buf.Len()))
	_, err = w.Write(buf.Bytes())
	return err
}

// syncGetBlocks writes a CAR of the blocks asked for, in the order asked,
// rooted at the repo's head; BlockNotFound names the first missing one.
func (s *Server) syncGetBlocks(w http.ResponseWriter, r *http.Request) error {
	p := ParamsOf(r)
	d := p.DID("did", true)
	cids := p.CIDs("cids", true)
	if err := p.Err(); err != nil {
		return err
	}
	repo, err := s.syncRepo(r, d, true)
	if err != nil {
		return err
	}
	// Each block once, in the order first asked; only the repo's own
	// (blocks are shared by every repo of the file: another repo's, taken
	// down or not, is not found here).
	seen := make(map[cid.Cid]bool, len(cids))
	uniq := cids[:0]
	for _, c := range cids {
		if !seen[c] {
			seen[c] = true
			uniq = append(uniq, c)
		}
	}
	found, missing, err := s.store.GetRepoBlocks(r.Context(), d, uniq)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		names := make([]string, len(missing))
		for i, c := range missing {
			names[i] = c.String()
		}
		return Errorf(http.StatusBadRequest, "BlockNotFound", "Could not find blocks: %s", strings.Join(names, ", "))
	}
	cw := &lazyCARWriter{w: w}
	if err := writeBlocksCAR(cw, repo.Head, found); err != nil {
		if cw.started {
			panic(http.ErrAbortHandler)
		}
		return err
	}
	return nil
}

// syncGetLatestCommit answers {cid, rev} of the repo's head.
func (s *Server) syncGetLatestCommit(w http.ResponseWriter, r *http.Request) error {
	p := ParamsOf(r)
	d := p.DID("did", true)
	if err := p.Err(); err != nil {
		return err
	}
	repo, err := s.syncRepo(r, d, true)
	if err != nil {
		return err
	}
	return WriteJSON(w, map[string]string{"cid": repo.Head.String(), "rev": repo.Rev.String()})
}

// syncGetHead answers {root}: the head commit (deprecated for
// getLatestCommit). Its lexicon names a missing repo HeadNotFound.
func (s *Server) syncGetHead(w http.ResponseWriter, r *http.Request) error {
	p := ParamsOf(r)
	d := p.DID("did", true)
	if err := p.Err(); err != nil {
		return err
	}
	repo, err := s.syncRepo(r, d, true)
	var xe *Error
	if errors.As(err, &xe) && xe.Name == "RepoNotFound" {
		return Errorf(http.StatusBadRequest, "HeadNotFound", "Could not find root for DID: %s", d)
	}
	if err != nil {
		return err
	}
	return WriteJSON(w, map[string]string{"root": repo.Head.String()})
}

// syncGetRepoStatus answers {did, active, status?, rev?}; rev only for an
// active repo.
func (s *Server) syncGetRepoStatus(w http.ResponseWriter, r *http.Request) error {
	p := ParamsOf(r)
	d := p.DID("did", true)
	if err := p.Err(); err != nil {
		return err
	}
	repo, err := s.syncRepo(r, d, false)
	if err != nil {
		return err
	}
	out := map[string]any{"did": repo.DID.String(), "active": repo.Active()}
	if repo.Active() {
		out["rev"] = repo.Rev.String()
	} else {
		out["status"] = syncStatus(repo.Status)
	}
	return WriteJSON(w, out)
}

// listedRepo is one repo of listRepos.
type listedRepo struct {
	DID    string `json:"did"`
	Head   string `json:"head"`
	Rev    string `json:"rev"`
	Active bool   `json:"active"`
	Status string `json:"status,omitempty"`
}

// syncListRepos lists the repos in DID order, inactive ones included.
func (s *Server) syncListRepos(w http.ResponseWriter, r *http.Request) error {
	p := ParamsOf(r)
	limit := p.Int("limit", 500, 1, 1000)
	cursor := p.String("cursor", false)
	if err := p.Err(); err != nil {
		return err
	}
	repos, next, err := s.store.ListRepos(r.Context(), &atlite.ListReposOptions{Cursor: cursor, Limit: int(limit)})
	if err != nil {
		return err
	}
	out := struct {
		Cursor string       `json:"cursor,omitempty"`
		Repos  []listedRepo `json:"repos"`
	}{Cursor: next, Repos: make([]listedRepo, 0, len(repos))}
	for _, repo := range repos {
		out.Repos = append(out.Repos, listedRepo{DID: repo.DID.String(), Head: repo.Head.String(), Rev: repo.Rev.String(),
			Active: repo.Active(), Status: syncStatus(repo.Status)})
	}
	return WriteJSON(w, out)
}

// syncListBlobs lists the stored blobs the repo's records cite.
func (s *Server) syncListBlobs(w http.ResponseWriter, r *http.Request) error {
	p := ParamsOf(r)
	d := p.DID("did", true)
	since := p.TID("since", false)
	limit := p.Int("limit", 500, 1, 1000)
	cursor := p.CID("cursor", false)
	if err := p.Err(); err != nil {
		return err
	}
	if _, err := s.syncRepo(r, d, true); err != nil {
		return err
	}
	opts := &atlite.ListBlobsOptions{Since: since, Limit: int(limit)}
	if cursor.Defined() {
		opts.Cursor = cursor.String()
	}
	cids, next, err := s.store.ListBlobs(r.Context(), d, opts)
	if err != nil {
		return err
	}
	out := struct {
		Cursor string   `json:"cursor,omitempty"`
		CIDs   []string `json:"cids"`
	}{Cursor: next, CIDs: make([]string, len(cids))}
	for i, c := range cids {
		out.CIDs[i] = c.String()
	}
	return WriteJSON(w, out)
}

// syncGetBlob streams a stored blob, with ranges (http.ServeContent), its
// MIME type and headers that keep a browser from running it.
func (s *Server) syncGetBlob(w http.ResponseWriter, r *http.Request) error {
	p := ParamsOf(r)
	d := p.DID("did", true)
	c := p.CID("cid", true)
	if err := p.Err(); err != nil {
		return err
	}
	if _, err := s.syncRepo(r, d, true); err != nil {
		return err
	}
	// Only a blob of this repo: cited by its records, or uploaded by it
	// within the grace period (one repo's URLs never serve another's).
	has, err := s.store.RepoHasBlob(r.Context(), d, c, atlite.DefaultBlobGracePeriod)
	if err != nil {
		return err
	}
	if !has {
		return Errorf(http.StatusBadRequest, "BlobNotFound", "Blob not found: %s", c)
	}
	br, err := s.store.OpenBlob(r.Context(), c)
	if errors.Is(err, atlite.ErrNotFound) {
		return Errorf(http.StatusBadRequest, "BlobNotFound", "Blob not found: %s", c)
	}
	if err != nil {
		return err
	}
	defer br.Close()
	mt := br.Blob().MIMEType
	if mt == "" {
		mt = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", mt)
	h.Set("Cache-Control", BlobCacheControl)
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", `"`+c.String()+`"`)
	http.ServeContent(w, r, "", time.Time{}, br)
	return nil
}

// writeBlocksCAR writes a CAR v1 of blocks rooted at root.
func writeBlocksCAR(w *lazyCARWriter, root cid.Cid, blocks []atlite.Block) error {
	cw, err := car.NewWriter(w, []cid.Cid{root})
	if err != nil {
		return err
	}
	for _, b := range blocks {
		if err := cw.WriteBlock(b.CID, b.Data); err != nil {
			return err
		}
	}
	return cw.Flush()
}
