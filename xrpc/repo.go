package xrpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/lexicon"
	"github.com/atlite-dev/atlite/syntax"
)

func init() { registrations = append(registrations, registerRepo) }

// registerRepo registers com.atproto.repo.*.
func registerRepo(s *Server) error {
	s.Procedure("com.atproto.repo.createRecord", s.createRecord)
	s.Procedure("com.atproto.repo.putRecord", s.putRecord)
	s.Procedure("com.atproto.repo.deleteRecord", s.deleteRecord)
	s.Query("com.atproto.repo.getRecord", s.getRecord)
	s.Query("com.atproto.repo.listRecords", s.listRecords)
	s.Query("com.atproto.repo.describeRepo", s.describeRepo)
	s.Procedure("com.atproto.repo.applyWrites", s.applyWrites)
	s.Procedure("com.atproto.repo.uploadBlob", s.uploadBlob)
	s.Procedure("com.atproto.repo.importRepo", s.importRepo)
	s.Query("com.atproto.repo.listMissingBlobs", s.listMissingBlobs)
	return nil
}

// The $type names of applyWrites' unions.
const (
	applyWritesCreate       = "com.atproto.repo.applyWrites#create"
	applyWritesUpdate       = "com.atproto.repo.applyWrites#update"
	applyWritesDelete       = "com.atproto.repo.applyWrites#delete"
	applyWritesCreateResult = "com.atproto.repo.applyWrites#createResult"
	applyWritesUpdateResult = "com.atproto.repo.applyWrites#updateResult"
	applyWritesDeleteResult = "com.atproto.repo.applyWrites#deleteResult"
)

// input checks the fields of a JSON input by their lexicon formats. Like
// Params, it keeps the first problem, naming the field ("Input/rkey").
type input struct{ err *Error }

func (in *input) fail(field, format string) {
	if in.err == nil {
		in.err = InvalidRequest("Input/%s must be a valid %s", field, format)
	}
}

func (in *input) missing(field string) {
	if in.err == nil {
		in.err = InvalidRequest("Input must have the property %q", field)
	}
}

func (in *input) atIdentifier(field string, v *string) syntax.AtIdentifier {
	if v == nil {
		in.missing(field)
		return ""
	}
	a, err := syntax.ParseAtIdentifier(*v)
	if err != nil {
		in.fail(field, "did or handle")
	}
	return a
}

func (in *input) nsid(field string, v *string) syntax.NSID {
	if v == nil {
		in.missing(field)
		return ""
	}
	n, err := syntax.ParseNSID(*v)
	if err != nil {
		in.fail(field, "nsid")
	}
	return n
}

// rkey reads a record key; a nil v is missing when required, else "".
func (in *input) rkey(field string, v *string, required bool) syntax.RecordKey {
	if v == nil {
		if required {
			in.missing(field)
		}
		return ""
	}
	k, err := syntax.ParseRecordKey(*v)
	if err != nil {
		in.fail(field, "record-key")
	}
	return k
}

// cid reads an optional CID ("" and nil are none).
func (in *input) cid(field string, v *string) cid.Cid {
	if v == nil || *v == "" {
		return cid.Undef
	}
	c, err := datamodel.ParseCID(*v)
	if err != nil {
		in.fail(field, "cid")
	}
	return c
}

// Err returns the first problem met, or nil.
func (in *input) Err() error {
	if in.err == nil {
		return nil
	}
	return in.err
}

// commitMeta is com.atproto.repo.defs#commitMeta.
type commitMeta struct {
	CID string     `json:"cid"`
	Rev syntax.TID `json:"rev"`
}

func metaOf(res *atlite.CommitResult) *commitMeta {
	if res == nil || res.NoOp {
		return nil
	}
	return &commitMeta{CID: res.CID.String(), Rev: res.Rev}
}

// writeOutput is the answer of createRecord and putRecord.
type writeOutput struct {
	URI              string      `json:"uri"`
	CID              string      `json:"cid"`
	Commit           *commitMeta `json:"commit,omitempty"`
	ValidationStatus string      `json:"validationStatus,omitempty"`
}

// recordWrite builds a write from a record's atproto JSON; problems with
// the record itself are 400 InvalidRequest.
func recordWrite(action commit.Action, collection syntax.NSID, rkey syntax.RecordKey, record json.RawMessage, field string) (commit.Write, error) {
	if len(record) == 0 || string(record) == "null" {
		return commit.Write{}, InvalidRequest("Input must have the property %q", field)
	}
	w, err := commit.WriteFromJSON(action, collection.String(), rkey.String(), record)
	if err != nil {
		return commit.Write{}, InvalidRequest("Input/%s: %s", field, strings.TrimPrefix(err.Error(), "invalid write: "))
	}
	if len(w.Record) > atlite.MaxRecordSize {
		return commit.Write{}, InvalidRequest("Input/%s is %d bytes, at most %d allowed", field, len(w.Record), atlite.MaxRecordSize)
	}
	return w, nil
}

// validateRecord checks the write wr as the validate input of
// createRecord, putRecord and applyWrites asks, and returns the
// validationStatus to answer. As in the reference PDS: validate false skips
// the check and answers no status; otherwise a record of a collection with
// a known lexicon is checked ("valid", or 400 InvalidRequest naming the
// path), and one of an unknown collection is "unknown", or refused when
// validate is true. validate true also checks the record key against the
// lexicon's key type (a profile at "self", a post at a TID), as the record
// key spec defines it, where the reference checks only its syntax; see
// [lexicon.Catalog.ValidateWrite].
func (s *Server) validateRecord(wr commit.Write, validate *bool) (string, error) {
	if validate != nil && !*validate {
		return "", nil
	}
	coll := wr.Collection.String()
	known := s.opts.Lexicons.HasRecord(coll)
	var rec map[string]any
	if known {
		var err error
		if rec, err = datamodel.UnmarshalMap(wr.Record); err != nil {
			return "", err // recordWrite decoded it already
		}
	}
	status, err := s.opts.Lexicons.ValidateWrite(coll, wr.RKey.String(), rec, validate != nil)
	switch {
	case err == nil:
		return status, nil
	case errors.Is(err, lexicon.ErrInvalidRecord):
		return "", InvalidRequest("Invalid %s record: %s", coll, err)
	case errors.Is(err, lexicon.ErrInvalidRecordKey):
		return "", InvalidRequest("Invalid record key: %s", err)
	case errors.Is(err, lexicon.ErrUnknownLexicon) && !known:
		return "", InvalidRequest("Unknown lexicon type: %s", coll)
	default:
		return "", err // a lexicon refers to a definition the catalog lacks
	}
}

// atURI is the AT-URI of a record of the repo d.
func atURI(d syntax.DID, path string) string { return "at://" + d.String() + "/" + path }

func (s *Server) createRecord(w http.ResponseWriter, r *http.Request) (err error) {
	var body struct {
		Repo       *string         `json:"repo"`
		Collection *string         `json:"collection"`
		RKey       *string         `json:"rkey"`
		Validate   *bool           `json:"validate"`
		Record     json.RawMessage `json:"record"`
		SwapCommit *string         `json:"swapCommit"`
	}
	if err := DecodeJSON(r, s.opts.MaxBodySize, &body); err != nil {
		return err
	}
	var in input
	repoID := in.atIdentifier("repo", body.Repo)
	coll := in.nsid("collection", body.Collection)
	rkey := in.rkey("rkey", body.RKey, false)
	swap := in.cid("swapCommit", body.SwapCommit)
	if err := in.Err(); err != nil {
		return err
	}
	wa, err := s.authWrite(r, repoID)
	if err != nil {
		return err
	}
	defer wa.settle(&err)
	if rkey == "" {
		rkey = s.store.NextTID().RecordKey()
	}
	wr, err := recordWrite(commit.Create, coll, rkey, body.Record, "record")
	if err != nil {
		return err
	}
	status, err := s.validateRecord(wr, body.Validate)
	if err != nil {
		return err
	}
	res, err := s.store.Commit(r.Context(), wa.did, []commit.Write{wr}, wa.opts(swap))
	if err != nil {
		return err
	}
	return WriteJSON(w, writeOutput{URI: atURI(wa.did, wr.Path()), CID: datamodel.CBORCID(wr.Record).String(),
		Commit: metaOf(res), ValidationStatus: status})
}

// nullable is a JSON field that tells absent (Set false) from null.
type nullable struct {
	Set   bool
	Value *string
}

// UnmarshalJSON implements json.Unmarshaler.
func (n *nullable) UnmarshalJSON(b []byte) error {
	n.Set = true
	return json.Unmarshal(b, &n.Value)
}

func (s *Server) putRecord(w http.ResponseWriter, r *http.Request) (err error) {
	var body struct {
		Repo       *string         `json:"repo"`
		Collection *string         `json:"collection"`
		RKey       *string         `json:"rkey"`
		Validate   *bool           `json:"validate"`
		Record     json.RawMessage `json:"record"`
		SwapRecord nullable        `json:"swapRecord"`
		SwapCommit *string         `json:"swapCommit"`
	}
	if err := DecodeJSON(r, s.opts.MaxBodySize, &body); err != nil {
		return err
	}
	var in input
	repoID := in.atIdentifier("repo", body.Repo)
	coll := in.nsid("collection", body.Collection)
	rkey := in.rkey("rkey", body.RKey, true)
	swapRecord := in.cid("swapRecord", body.SwapRecord.Value)
	swapCommit := in.cid("swapCommit", body.SwapCommit)
	if err := in.Err(); err != nil {
		return err
	}
	wa, err := s.authWrite(r, repoID)
	if err != nil {
		return err
	}
	defer wa.settle(&err)
	// A swapRecord of null asks for a create, so an existing record fails
	// the swap; otherwise the store creates or updates, as it finds the
	// record inside the commit.
	create := body.SwapRecord.Set && body.SwapRecord.Value == nil
	wr, err := recordWrite(commit.Create, coll, rkey, body.Record, "record")
	if err != nil {
		return err
	}
	status, err := s.validateRecord(wr, body.Validate)
	if err != nil {
		return err
	}
	wr.SwapRecord = swapRecord
	var res *atlite.CommitResult
	if create {
		res, err = s.store.Commit(r.Context(), wa.did, []commit.Write{wr}, wa.opts(swapCommit))
	} else {
		res, err = s.store.PutRecord(r.Context(), wa.did, wr, wa.opts(swapCommit))
	}
	if err != nil {
		if create && errors.Is(err, atlite.ErrInvalidWrite) {
			return Errorf(http.StatusBadRequest, "InvalidSwap", "record %s exists, and swapRecord is null", wr.Path())
		}
		return err
	}
	return WriteJSON(w, writeOutput{URI: atURI(wa.did, wr.Path()), CID: datamodel.CBORCID(wr.Record).String(),
		Commit: metaOf(res), ValidationStatus: status})
}

func (s *Server) deleteRecord(w http.ResponseWriter, r *http.Request) (err error) {
	var body struct {
		Repo       *string `json:"repo"`
		Collection *string `json:"collection"`
		RKey       *string `json:"rkey"`
		SwapRecord *string `json:"swapRecord"`
		SwapCommit *string `json:"swapCommit"`
	}
	if err := DecodeJSON(r, s.opts.MaxBodySize, &body); err != nil {
		return err
	}
	var in input
	repoID := in.atIdentifier("repo", body.Repo)
	coll := in.nsid("collection", body.Collection)
	rkey := in.rkey("rkey", body.RKey, true)
	swapRecord := in.cid("swapRecord", body.SwapRecord)
	swapCommit := in.cid("swapCommit", body.SwapCommit)
	if err := in.Err(); err != nil {
		return err
	}
	wa, err := s.authWrite(r, repoID)
	if err != nil {
		return err
	}
	defer wa.settle(&err)
	if _, err := s.store.GetRecord(r.Context(), wa.did, coll, rkey); errors.Is(err, atlite.ErrNotFound) {
		// Deleting a missing record changes nothing, as in the reference
		// PDS; a swap on it still fails. No commit checks the session.
		if err := wa.verify(); err != nil {
			return err
		}
		if swapRecord.Defined() {
			return Errorf(http.StatusBadRequest, "InvalidSwap", "record %s/%s does not exist, not %s", coll, rkey, swapRecord)
		}
		return WriteJSON(w, map[string]any{})
	} else if err != nil {
		return err
	}
	wr := commit.Write{Action: commit.Delete, Collection: coll, RKey: rkey, SwapRecord: swapRecord}
	res, err := s.store.Commit(r.Context(), wa.did, []commit.Write{wr}, wa.opts(swapCommit))
	if err != nil {
		return err
	}
	return WriteJSON(w, map[string]any{"commit": metaOf(res)})
}

// servedRepo loads the repo id for a read: 400 RepoNotFound, or the repo's
// status (RepoDeactivated, RepoTakendown, ...) when it is not active.
func (s *Server) servedRepo(ctx context.Context, id syntax.AtIdentifier) (*atlite.Repo, error) {
	repo, err := s.repoByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if !repo.Active() {
		return nil, ErrorFor(&atlite.InactiveRepoError{DID: repo.DID.String(), Status: repo.Status})
	}
	return repo, nil
}

func (s *Server) getRecord(w http.ResponseWriter, r *http.Request) error {
	p := ParamsOf(r)
	id := p.AtIdentifier("repo", true)
	coll := p.NSID("collection", true)
	rkey := p.RecordKey("rkey", true)
	c := p.CID("cid", false)
	if err := p.Err(); err != nil {
		return err
	}
	// GetActiveRecord reads the repo's status with the record, in one
	// statement; a handle is only resolved to its DID first.
	d, ok := id.AsDID()
	if !ok {
		repo, err := s.repoByID(r.Context(), id)
		if err != nil {
			return err
		}
		d = repo.DID
	}
	rec, err := s.store.GetActiveRecord(r.Context(), d, coll, rkey)
	if errors.Is(err, atlite.ErrRepoNotFound) {
		return repoNotFound(id)
	}
	if errors.Is(err, atlite.ErrRecordNotFound) || (err == nil && c.Defined() && !c.Equals(rec.CID)) {
		return Errorf(http.StatusBadRequest, "RecordNotFound", "Could not locate record: %s", atURI(d, coll.String()+"/"+rkey.String()))
	}
	if err != nil {
		return err
	}
	return writeRecord(w, rec)
}

// writeRecord writes getRecord's answer, {"uri", "cid", "value"}, built by
// hand with its Content-Length: the value is atproto JSON already, which
// json.Encoder would scan and copy again (and escape <, > and & in), and an
// answer past 2 KiB would go out chunked.
func writeRecord(w http.ResponseWriter, rec *atlite.Record) error {
	buf, err := appendRecord(make([]byte, 0, 2*len(rec.Data)+160), rec)
	if err != nil {
		return err
	}
	return writeJSONBytes(w, append(buf, '\n'))
}

// appendRecord appends {"uri", "cid", "value"} for rec to buf.
func appendRecord(buf []byte, rec *atlite.Record) ([]byte, error) {
	j, err := rec.JSON()
	if err != nil {
		return nil, err
	}
	buf = append(buf, `{"uri":`...)
	buf = appendJSONString(buf, rec.URI().String())
	buf = append(buf, `,"cid":`...)
	buf = appendJSONString(buf, rec.CID.String())
	buf = append(buf, `,"value":`...)
	buf = append(buf, j...)
	return append(buf, '}'), nil
}

// writeJSONBytes writes buf, a JSON answer, with status 200 and its
// Content-Length.
func writeJSONBytes(w http.ResponseWriter, buf []byte) error {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(buf)))
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(buf)
	return err
}

// appendJSONString appends s as a JSON string. AT URIs and CIDs are
// printable ASCII without quotes or backslashes, which need no escape;
// anything else goes through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func (s *Server) listRecords(w http.ResponseWriter, r *http.Request) error {
	p := ParamsOf(r)
	id := p.AtIdentifier("repo", true)
	coll := p.NSID("collection", true)
	limit := p.Int("limit", 50, 1, 100)
	cursor := p.String("cursor", false)
	reverse := p.Bool("reverse", false)
	if err := p.Err(); err != nil {
		return err
	}
	repo, err := s.servedRepo(r.Context(), id)
	if err != nil {
		return err
	}
	// The reference PDS lists newest (highest rkey) first, and oldest first
	// when reverse=true: the opposite of the store's order.
	recs, next, err := s.store.ListRecords(r.Context(), repo.DID, coll, &atlite.ListRecordsOptions{Limit: int(limit), Cursor: cursor, Reverse: !reverse})
	if err != nil {
		return err
	}
	// {"cursor", "records": [{"uri", "cid", "value"}, ...]}, built by hand
	// as getRecord's is.
	buf := make([]byte, 0, 1024+len(recs)*512)
	buf = append(buf, '{')
	if next != "" {
		buf = append(buf, `"cursor":`...)
		buf = appendJSONString(buf, next)
		buf = append(buf, ',')
	}
	buf = append(buf, `"records":[`...)
	for i := range recs {
		if i > 0 {
			buf = append(buf, ',')
		}
		if buf, err = appendRecord(buf, &recs[i]); err != nil {
			return err
		}
	}
	buf = append(buf, "]}\n"...)
	return writeJSONBytes(w, buf)
}

func (s *Server) describeRepo(w http.ResponseWriter, r *http.Request) error {
	p := ParamsOf(r)
	id := p.AtIdentifier("repo", true)
	if err := p.Err(); err != nil {
		return err
	}
	repo, err := s.servedRepo(r.Context(), id)
	if err != nil {
		return err
	}
	colls, err := s.store.Collections(r.Context(), repo.DID)
	if err != nil {
		return err
	}
	if colls == nil {
		colls = []syntax.NSID{}
	}
	return WriteJSON(w, map[string]any{
		"handle":          handleOrInvalid(repo),
		"did":             repo.DID,
		"didDoc":          s.didDoc(repo),
		"collections":     colls,
		"handleIsCorrect": repo.Handle != "" && s.localHandle(repo.Handle),
	})
}

// applyWrite is one write of applyWrites' input.
type applyWrite struct {
	Type       string          `json:"$type"`
	Collection *string         `json:"collection"`
	RKey       *string         `json:"rkey"`
	Value      json.RawMessage `json:"value"`
}

// applyResult is one result of applyWrites' output.
type applyResult struct {
	Type             string `json:"$type"`
	URI              string `json:"uri,omitempty"`
	CID              string `json:"cid,omitempty"`
	ValidationStatus string `json:"validationStatus,omitempty"`
}

func (s *Server) applyWrites(w http.ResponseWriter, r *http.Request) (err error) {
	var body struct {
		Repo       *string       `json:"repo"`
		Validate   *bool         `json:"validate"`
		Writes     *[]applyWrite `json:"writes"`
		SwapCommit *string       `json:"swapCommit"`
	}
	if err := DecodeJSON(r, s.opts.MaxBodySize, &body); err != nil {
		return err
	}
	var in input
	repoID := in.atIdentifier("repo", body.Repo)
	swap := in.cid("swapCommit", body.SwapCommit)
	if body.Writes == nil {
		in.missing("writes")
	}
	if err := in.Err(); err != nil {
		return err
	}
	if len(*body.Writes) > atlite.MaxWritesPerCommit {
		return InvalidRequest("Too many writes. Max: %d", atlite.MaxWritesPerCommit)
	}
	wa, err := s.authWrite(r, repoID)
	if err != nil {
		return err
	}
	defer wa.settle(&err)
	writes := make([]commit.Write, 0, len(*body.Writes))
	results := make([]applyResult, 0, len(*body.Writes))
	for i, aw := range *body.Writes {
		field := fmt.Sprintf("writes/%d", i)
		var action commit.Action
		var res applyResult
		switch aw.Type {
		case applyWritesCreate:
			action, res.Type = commit.Create, applyWritesCreateResult
		case applyWritesUpdate:
			action, res.Type = commit.Update, applyWritesUpdateResult
		case applyWritesDelete:
			action, res.Type = commit.Delete, applyWritesDeleteResult
		default:
			return InvalidRequest("Input/%s/$type must be one of %s, %s, %s, not %q", field, applyWritesCreate, applyWritesUpdate, applyWritesDelete, aw.Type)
		}
		coll := in.nsid(field+"/collection", aw.Collection)
		rkey := in.rkey(field+"/rkey", aw.RKey, action != commit.Create)
		if err := in.Err(); err != nil {
			return err
		}
		if rkey == "" {
			rkey = s.store.NextTID().RecordKey()
		}
		var wr commit.Write
		if action == commit.Delete {
			wr = commit.Write{Action: commit.Delete, Collection: coll, RKey: rkey}
		} else {
			if wr, err = recordWrite(action, coll, rkey, aw.Value, field+"/value"); err != nil {
				return err
			}
			if res.ValidationStatus, err = s.validateRecord(wr, body.Validate); err != nil {
				return err
			}
			res.URI, res.CID = atURI(wa.did, wr.Path()), datamodel.CBORCID(wr.Record).String()
		}
		writes = append(writes, wr)
		results = append(results, res)
	}
	res, err := s.store.Commit(r.Context(), wa.did, writes, wa.opts(swap))
	if err != nil {
		return err
	}
	return WriteJSON(w, struct {
		Commit  *commitMeta   `json:"commit,omitempty"`
		Results []applyResult `json:"results"`
	}{metaOf(res), results})
}

// blobOutput is a blob reference in atproto JSON.
type blobOutput struct {
	Type     string            `json:"$type"`
	Ref      map[string]string `json:"ref"`
	MIMEType string            `json:"mimeType"`
	Size     int64             `json:"size"`
}

func (s *Server) uploadBlob(w http.ResponseWriter, r *http.Request) error {
	a, err := s.auth(r)
	if err != nil {
		return err
	}
	limit := s.opts.MaxBlobSize
	if r.ContentLength > limit {
		return Errorf(http.StatusRequestEntityTooLarge, "PayloadTooLarge", "request entity too large: at most %d bytes", limit)
	}
	mt := r.Header.Get("Content-Type")
	if mt == "*/*" {
		mt = ""
	}
	b, err := s.store.UploadBlob(r.Context(), a.DID, r.Body, mt, &atlite.UploadBlobOptions{MaxBytes: limit})
	switch {
	case errors.Is(err, atlite.ErrBlobTooLarge):
		return Errorf(http.StatusRequestEntityTooLarge, "PayloadTooLarge", "request entity too large: at most %d bytes", limit)
	case errors.Is(err, atlite.ErrBlobType):
		return InvalidRequest("bad Content-Type %q", mt)
	case err != nil:
		return err
	}
	return WriteJSON(w, map[string]any{"blob": blobOutput{Type: "blob", Ref: map[string]string{"$link": b.CID.String()}, MIMEType: b.MIMEType, Size: b.Size}})
}

func (s *Server) importRepo(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authFull(r)
	if err != nil {
		return err
	}
	repo, err := s.repoByID(r.Context(), a.DID.AtIdentifier())
	if err != nil {
		return err
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/vnd.ipld.car") {
		return InvalidRequest("wrong content type %q: want application/vnd.ipld.car", ct)
	}
	if r.ContentLength > s.opts.MaxImportSize {
		return Errorf(http.StatusRequestEntityTooLarge, "PayloadTooLarge", "request body is larger than %d bytes", s.opts.MaxImportSize)
	}
	body := &limitedReader{r: http.MaxBytesReader(w, r.Body, s.opts.MaxImportSize)}
	_, err = s.store.ImportCAR(r.Context(), body, &atlite.ImportOptions{VerifyKey: repo.SigningKey, DID: repo.DID})
	switch {
	case err != nil && body.over:
		return Errorf(http.StatusRequestEntityTooLarge, "PayloadTooLarge", "request body is larger than %d bytes", s.opts.MaxImportSize)
	case errors.Is(err, atlite.ErrBadSignature):
		return InvalidRequest("the CAR's commit is not signed with the repo's key")
	case errors.Is(err, atlite.ErrRevConflict):
		return InvalidRequest("the CAR's rev is not newer than the repo's")
	case err != nil:
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// limitedReader remembers whether the http.MaxBytesReader under it hit its
// limit, since ImportCAR reports a read error as a malformed CAR.
type limitedReader struct {
	r    io.Reader
	over bool
}

// Read implements io.Reader.
func (l *limitedReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		l.over = true
	}
	return n, err
}

// repoStats are the counts checkAccountStatus answers.
type repoStats struct {
	blocks, records              int
	expectedBlobs, importedBlobs int
	missing                      []missingBlob // sorted by CID string
}

type missingBlob struct {
	CID       string `json:"cid"`
	RecordURI string `json:"recordUri"`
}

// repoStats walks the repo: its blocks (through an export to nowhere), its
// records and the blobs they cite.
//
// TODO(lead): this reads the whole repo; Store methods counting records and
// blocks and listing cited-but-missing blobs (blob_refs LEFT JOIN blobs)
// would answer from indexes.
func (s *Server) repoStats(ctx context.Context, repo *atlite.Repo) (*repoStats, error) {
	st := &repoStats{}
	ex, err := s.store.ExportCAR(ctx, repo.DID, io.Discard, &atlite.ExportOptions{IncludeInactive: true})
	if err != nil {
		return nil, err
	}
	st.blocks = ex.Blocks
	colls, err := s.store.Collections(ctx, repo.DID)
	if err != nil {
		return nil, err
	}
	cited := map[string]string{} // blob CID → first record citing it
	for _, coll := range colls {
		cursor := ""
		for {
			recs, next, err := s.store.ListRecords(ctx, repo.DID, coll, &atlite.ListRecordsOptions{Limit: 100, Cursor: cursor})
			if err != nil {
				return nil, err
			}
			for i := range recs {
				st.records++
				v, err := recs[i].Value()
				if err != nil {
					return nil, err
				}
				for _, c := range atlite.BlobRefs(v) {
					if _, ok := cited[c.String()]; !ok {
						cited[c.String()] = recs[i].URI().String()
					}
				}
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
	st.expectedBlobs = len(cited)
	for c, u := range cited {
		pc, err := datamodel.ParseCID(c)
		if err != nil {
			return nil, err
		}
		if _, err := s.store.StatBlob(ctx, pc); errors.Is(err, atlite.ErrNotFound) {
			st.missing = append(st.missing, missingBlob{CID: c, RecordURI: u})
			continue
		} else if err != nil {
			return nil, err
		}
		st.importedBlobs++
	}
	sort.Slice(st.missing, func(i, j int) bool { return st.missing[i].CID < st.missing[j].CID })
	return st, nil
}

func (s *Server) listMissingBlobs(w http.ResponseWriter, r *http.Request) error {
	a, err := s.auth(r)
	if err != nil {
		return err
	}
	p := ParamsOf(r)
	limit := p.Int("limit", 500, 1, 1000)
	cursor := p.String("cursor", false)
	if err := p.Err(); err != nil {
		return err
	}
	repo, err := s.repoByID(r.Context(), a.DID.AtIdentifier())
	if err != nil {
		return err
	}
	st, err := s.repoStats(r.Context(), repo)
	if err != nil {
		return err
	}
	blobs := st.missing
	if cursor != "" {
		i := sort.Search(len(blobs), func(i int) bool { return blobs[i].CID > cursor })
		blobs = blobs[i:]
	}
	out := struct {
		Cursor string        `json:"cursor,omitempty"`
		Blobs  []missingBlob `json:"blobs"`
	}{Blobs: []missingBlob{}}
	if len(blobs) > int(limit) {
		blobs = blobs[:limit]
		out.Cursor = blobs[len(blobs)-1].CID
	}
	out.Blobs = append(out.Blobs, blobs...)
	return WriteJSON(w, out)
}
