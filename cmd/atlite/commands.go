package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/did"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/lexicon"
	"github.com/atlite-dev/atlite/syntax"
)

// runner is what a command's setup returns.
type runner = func(ctx context.Context, pos []string) error

// initJSON is the --json result of init.
type initJSON struct {
	DID         syntax.DID `json:"did"`
	Handle      string     `json:"handle,omitempty"`
	SigningKey  string     `json:"signingKey"`
	RotationKey string     `json:"rotationKey"`
	CID         string     `json:"cid"`
	Rev         string     `json:"rev"`
	PDS         string     `json:"pds,omitempty"`
	Published   string     `json:"published,omitempty"`
}

func cmdInit(fl *flag.FlagSet, e *env) runner {
	didFlag := fl.String("did", "", "the repo's `DID`; default: a did:plc derived offline from a signed genesis operation")
	handle := fl.String("handle", "", "the repo's `HANDLE` (required for a new did:plc)")
	pds := fl.String("pds", "http://localhost:2583", "the PDS endpoint `URL` written in a new did:plc's genesis operation")
	plc := fl.String("plc", "", "also publish the new did:plc's genesis operation to the PLC directory at `URL`")
	p256 := fl.Bool("p256", false, "sign with a P-256 key instead of K-256")
	pwStdin := fl.Bool("password-stdin", false, "also set the account's password (for \"atlite serve\" logins) from one line on stdin")
	return func(ctx context.Context, _ []string) error {
		var password string
		if *pwStdin {
			line, err := bufio.NewReader(e.stdin).ReadString('\n')
			if err != nil && line == "" {
				return usagef("--password-stdin: give the password as one line on stdin")
			}
			if password = strings.TrimRight(line, "\r\n"); len(password) < atlite.MinPasswordLength {
				return usagef("--password-stdin: the password is shorter than %d bytes", atlite.MinPasswordLength)
			}
		}
		var h syntax.Handle
		if *handle != "" {
			var err error
			if h, err = syntax.ParseHandle(strings.TrimPrefix(*handle, "@")); err != nil {
				return usagef("--handle %q is not a handle: %v", *handle, err)
			}
		}
		var d syntax.DID
		var err error
		switch {
		case *didFlag != "":
			if *plc != "" {
				return usagef("--plc publishes a new did:plc: it does not go with --did")
			}
			if d, err = parseDID(*didFlag); err != nil {
				return err
			}
		case h == "":
			return usagef("--handle is required to derive a did:plc (or give --did)")
		}
		var sk keys.PrivateKey
		if *p256 {
			sk, err = keys.GenerateP256()
		} else {
			sk, err = keys.GenerateK256()
		}
		if err != nil {
			return err
		}
		rk, err := keys.GenerateK256()
		if err != nil {
			return err
		}
		var plcc *did.PLCClient
		if *plc != "" {
			if plcc, err = plcClient(*plc); err != nil {
				return usagef("--plc %q: %v", *plc, err)
			}
		}
		s, err := e.open(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		// The library makes the account (the did:plc genesis operation, the
		// repo, the password, the publication), as createAccount does.
		acct, err := s.CreateAccount(ctx, &atlite.CreateAccountOptions{DID: d, Handle: h, PDSEndpoint: *pds,
			SigningKey: sk, RotationKey: rk, Password: password, PLC: plcc})
		var pubErr error
		switch {
		case errors.Is(err, atlite.ErrPLCPublish) && acct != nil:
			// The library's error says the account is kept; the CLI says so
			// its own way below, with the directory's error alone.
			pubErr = err
			if u, ok := err.(interface{ Unwrap() []error }); ok {
				if errs := u.Unwrap(); len(errs) == 2 {
					pubErr = errs[1]
				}
			}
		case errors.Is(err, atlite.ErrExists):
			return fmt.Errorf("repo %s already exists in %s", d, e.dbName())
		case errors.Is(err, atlite.ErrHandleTaken):
			return fmt.Errorf("handle %s is taken by another repo in %s", h, e.dbName())
		case err != nil:
			return errors.New(strings.TrimPrefix(err.Error(), "create account: "))
		}
		r := acct.Repo
		d = r.DID
		derived := *didFlag == ""
		res := initJSON{DID: r.DID, Handle: r.Handle.String(), SigningKey: r.SigningKey.DIDKey(), RotationKey: r.RotationKey.DIDKey(), CID: r.Head.String(), Rev: r.Rev.String()}
		if derived {
			res.PDS = *pds
		}
		if *plc != "" && pubErr == nil {
			res.Published = *plc
		}
		if e.json {
			writeJSON(e.stdout, res)
		} else {
			fmt.Fprintf(e.stdout, "created %s in %s\nsigning key: %s\nrotation key: %s\nhead: %s rev %s\n",
				r.DID, e.dbName(), res.SigningKey, res.RotationKey, r.Head, r.Rev)
			if derived {
				fmt.Fprintf(e.stdout, "did:plc derived offline from its signed genesis operation (PDS %s)\n", *pds)
			}
			if res.Published != "" {
				fmt.Fprintf(e.stdout, "published to %s\n", *plc)
			}
		}
		if pubErr != nil {
			return fmt.Errorf("publish %s to %s: %v (the repo is created; run \"atlite plc publish %s\" to try again)", d, *plc, pubErr, d)
		}
		return nil
	}
}

// repoJSON is how repos prints a repo with --json (the fields of
// com.atproto.sync.listRepos, and the handle).
type repoJSON struct {
	DID    syntax.DID `json:"did"`
	Handle string     `json:"handle,omitempty"`
	Head   string     `json:"head"`
	Rev    string     `json:"rev"`
	Active bool       `json:"active"`
	Status string     `json:"status,omitempty"`
	Mirror bool       `json:"mirror,omitempty"`
}

func cmdRepos(fl *flag.FlagSet, e *env) runner {
	after := fl.String("after", "", "list the repos whose DID sorts after `DID`")
	limit := fl.Int("limit", 0, "list at most `N` repos (default all)")
	return func(ctx context.Context, _ []string) error {
		if *limit < 0 {
			return usagef("--limit must not be negative")
		}
		s, err := e.open(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		cursor, n := *after, 0
		for {
			page := 500
			if *limit > 0 && *limit-n < page {
				page = *limit - n
			}
			repos, next, err := s.ListRepos(ctx, &atlite.ListReposOptions{Cursor: cursor, Limit: page})
			if err != nil {
				return err
			}
			for _, r := range repos {
				printRepo(e, r)
				n++
			}
			if next == "" || (*limit > 0 && n >= *limit) {
				return nil
			}
			cursor = next
		}
	}
}

func printRepo(e *env, r *atlite.Repo) {
	if e.json {
		writeJSON(e.stdout, repoJSON{DID: r.DID, Handle: r.Handle.String(), Head: r.Head.String(), Rev: r.Rev.String(), Active: r.Active(), Status: r.Status, Mirror: r.Mirror})
		return
	}
	status := r.Status
	if status == "" {
		status = "active"
	}
	if r.Mirror {
		status += ",mirror"
	}
	handle := r.Handle.String()
	if handle == "" {
		handle = "-"
	}
	fmt.Fprintf(e.stdout, "%s\t%s\t%s\t%s\t%s\n", r.DID, handle, status, r.Rev, r.Head)
}

func cmdDID(fl *flag.FlagSet, e *env) runner {
	pds := fl.String("pds", "", "the PDS endpoint `URL` of the #atproto_pds service when the file keeps no did:plc genesis operation")
	return func(ctx context.Context, pos []string) error {
		id, err := parseRepoID(pos[0])
		if err != nil {
			return err
		}
		s, r, err := e.openRepo(ctx, id)
		if err != nil {
			return err
		}
		defer s.Close()
		st := &did.State{DID: r.DID, VerificationMethods: map[string]string{}, AlsoKnownAs: []string{}, Services: map[string]did.Service{}}
		if r.SigningKey != nil {
			st.VerificationMethods["atproto"] = r.SigningKey.DIDKey()
		}
		if r.Handle != "" {
			st.AlsoKnownAs = []string{"at://" + r.Handle.String()}
		}
		endpoint := *pds
		if b, err := s.PLCOperation(ctx, r.DID); err == nil {
			op, err := did.ParseOperationCBOR(b)
			if err != nil {
				return fmt.Errorf("stored genesis operation: %v", err)
			}
			if svc, ok := op.Services["atproto_pds"]; ok && endpoint == "" {
				endpoint = svc.Endpoint
			}
		} else if !errors.Is(err, atlite.ErrNotFound) {
			return err
		}
		if endpoint != "" {
			st.Services["atproto_pds"] = did.Service{Type: "AtprotoPersonalDataServer", Endpoint: endpoint}
		}
		doc := st.Document()
		if e.json {
			return writeJSON(e.stdout, doc)
		}
		b, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.stdout, "%s\n", b)
		return err
	}
}

// recordCap is the most a record on stdin may weigh, in JSON.
const recordCap = 4 << 20

// readRecord reads one record as atproto JSON from r and sets a missing
// $type to the collection.
func readRecord(r io.Reader, collection string) (map[string]any, error) {
	b, err := readRecordJSON(r)
	if err != nil {
		return nil, err
	}
	return parseRecord(b, collection)
}

// readRecordJSON reads at most recordCap bytes of JSON.
func readRecordJSON(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, recordCap+1))
	if err != nil {
		return nil, err
	}
	if len(b) > recordCap {
		return nil, errors.New("record on stdin is larger than 4 MiB")
	}
	return b, nil
}

func parseRecord(b []byte, collection string) (map[string]any, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("record on stdin: empty (want an atproto JSON object)")
	}
	v, err := datamodel.FromJSON(b)
	if err != nil {
		return nil, fmt.Errorf("record on stdin: %v (want an atproto JSON object)", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("record on stdin: not a JSON object")
	}
	if _, ok := m["$type"]; !ok {
		m["$type"] = collection
	}
	return m, nil
}

// validateFlag adds --validate to a command that writes records.
func validateFlag(fl *flag.FlagSet) *string {
	return fl.String("validate", "auto", "check records against their lexicons, as the validate input of com.atproto.repo writes: auto checks records of collections with a known lexicon (app.bsky, chat.bsky, com.atproto), true also refuses unknown collections and record keys of the wrong type, false checks nothing")
}

// checkRecord checks a record to be written at collection/rkey against the
// embedded lexicons, as mode (the --validate value, checked by checkMode
// when the command starts) asks.
func checkRecord(mode, collection, rkey string, rec map[string]any) error {
	if mode == "false" {
		return nil
	}
	_, err := lexicon.Default().ValidateWrite(collection, rkey, rec, mode == "true")
	if err != nil {
		return fmt.Errorf("%s/%s: %w (--validate false writes it unchecked)", collection, rkey, err)
	}
	return nil
}

// checkMode checks a --validate value.
func checkMode(mode string) error {
	switch mode {
	case "auto", "true", "false":
		return nil
	}
	return fmt.Errorf("--validate %q: want auto, true or false", mode)
}

// commitJSON is the --json result of create, put, delete and apply, shaped
// like com.atproto.repo.applyWrites's output.
type commitJSON struct {
	Commit  commitRef `json:"commit"`
	Seq     int64     `json:"seq"`
	NoOp    bool      `json:"noOp,omitempty"`
	Results []opJSON  `json:"results"`
}

type commitRef struct {
	CID string `json:"cid"`
	Rev string `json:"rev"`
}

type opJSON struct {
	Action string `json:"action"`
	URI    string `json:"uri"`
	CID    string `json:"cid,omitempty"`
}

func commitAndReport(ctx context.Context, e *env, s *atlite.Store, d syntax.DID, writes []commit.Write) error {
	res, err := s.Commit(ctx, d, writes, nil)
	if err != nil {
		return err
	}
	return report(e, d, res)
}

// report prints what a commit did.
func report(e *env, d syntax.DID, res *atlite.CommitResult) error {
	out := commitJSON{Commit: commitRef{CID: res.CID.String(), Rev: res.Rev.String()}, Seq: res.Seq, NoOp: res.NoOp, Results: []opJSON{}}
	if res.NoOp {
		if e.json {
			return writeJSON(e.stdout, out)
		}
		_, err := fmt.Fprintf(e.stdout, "no change: head %s rev %s\n", res.CID, res.Rev)
		return err
	}
	for _, op := range res.Ops {
		o := opJSON{Action: string(op.Action), URI: fmt.Sprintf("at://%s/%s", d, op.Path)}
		if op.CID.Defined() {
			o.CID = op.CID.String()
		}
		out.Results = append(out.Results, o)
	}
	if e.json {
		return writeJSON(e.stdout, out)
	}
	for _, o := range out.Results {
		c := o.CID
		if c == "" {
			c = "-"
		}
		fmt.Fprintf(e.stdout, "%s\t%s\t%s\n", o.Action, o.URI, c)
	}
	fmt.Fprintf(e.stdout, "commit %s rev %s seq %d\n", res.CID, res.Rev, res.Seq)
	return nil
}

// recordArgs checks DID|HANDLE COLLECTION [RKEY] and opens the repo.
func (e *env) recordArgs(ctx context.Context, pos []string) (*atlite.Store, *atlite.Repo, error) {
	id, err := parseRepoID(pos[0])
	if err != nil {
		return nil, nil, err
	}
	if len(pos) > 1 {
		if _, err := parseNSID(pos[1]); err != nil {
			return nil, nil, err
		}
	}
	if len(pos) > 2 {
		if _, err := parseRKey(pos[2]); err != nil {
			return nil, nil, err
		}
	}
	return e.openRepo(ctx, id)
}

func cmdCreate(fl *flag.FlagSet, e *env) runner {
	validate := validateFlag(fl)
	return func(ctx context.Context, pos []string) error {
		if err := checkMode(*validate); err != nil {
			return err
		}
		s, r, err := e.recordArgs(ctx, pos)
		if err != nil {
			return err
		}
		defer s.Close()
		rec, err := readRecord(e.stdin, pos[1])
		if err != nil {
			return err
		}
		rkey := s.NextTID().String()
		if len(pos) == 3 {
			rkey = pos[2]
		}
		if err := checkRecord(*validate, pos[1], rkey, rec); err != nil {
			return err
		}
		w, err := commit.NewWrite(commit.Create, pos[1], rkey, rec)
		if err != nil {
			return err
		}
		return commitAndReport(ctx, e, s, r.DID, []commit.Write{w})
	}
}

func cmdPut(fl *flag.FlagSet, e *env) runner {
	validate := validateFlag(fl)
	return func(ctx context.Context, pos []string) error {
		if err := checkMode(*validate); err != nil {
			return err
		}
		s, r, err := e.recordArgs(ctx, pos)
		if err != nil {
			return err
		}
		defer s.Close()
		b, err := readRecordJSON(e.stdin)
		if err != nil {
			return err
		}
		rec, err := parseRecord(b, pos[1])
		if err != nil {
			return err
		}
		if err := checkRecord(*validate, pos[1], pos[2], rec); err != nil {
			return err
		}
		w, err := commit.NewWrite(commit.Create, pos[1], pos[2], rec)
		if err != nil {
			return err
		}
		// Create or update is decided inside the commit's transaction.
		res, err := s.PutRecord(ctx, r.DID, w, nil)
		if err != nil {
			return err
		}
		return report(e, r.DID, res)
	}
}

func cmdDelete(fl *flag.FlagSet, e *env) runner {
	return func(ctx context.Context, pos []string) error {
		s, r, err := e.recordArgs(ctx, pos)
		if err != nil {
			return err
		}
		defer s.Close()
		w, err := commit.NewWrite(commit.Delete, pos[1], pos[2], nil)
		if err != nil {
			return err
		}
		return commitAndReport(ctx, e, s, r.DID, []commit.Write{w})
	}
}

func cmdApply(fl *flag.FlagSet, e *env) runner {
	validate := validateFlag(fl)
	return func(ctx context.Context, pos []string) error {
		if err := checkMode(*validate); err != nil {
			return err
		}
		s, r, err := e.recordArgs(ctx, pos)
		if err != nil {
			return err
		}
		defer s.Close()
		writes, err := readWrites(s, e.stdin, *validate)
		if err != nil {
			return err
		}
		if len(writes) == 0 {
			return errors.New("no writes on stdin")
		}
		return commitAndReport(ctx, e, s, r.DID, writes)
	}
}

// jsonWrite is one line of "atlite apply".
type jsonWrite struct {
	Action     string          `json:"action"`
	Collection string          `json:"collection"`
	RKey       string          `json:"rkey"`
	Record     json.RawMessage `json:"record"`
}

// maxLine is the longest line apply accepts: a record's JSON and the rest of
// its write.
const maxLine = recordCap + 4096

// readWrites reads JSON lines of writes. It stops with an error at the line
// that goes past atlite.MaxWritesPerCommit writes, without reading further.
func readWrites(s *atlite.Store, r io.Reader, validate string) ([]commit.Write, error) {
	var writes []commit.Write
	br := bufio.NewReaderSize(r, 64<<10)
	for line := 1; ; line++ {
		b, err := readLine(br, maxLine)
		if errors.Is(err, errLineTooLong) {
			return nil, fmt.Errorf("line %d is longer than the limit of %d bytes", line, maxLine)
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		if text := bytes.TrimSpace(b); len(text) > 0 {
			if len(writes) == atlite.MaxWritesPerCommit {
				return nil, fmt.Errorf("line %d: more than %d writes (the limit of one commit)", line, atlite.MaxWritesPerCommit)
			}
			w, werr := parseWrite(s, text, validate)
			if werr != nil {
				return nil, fmt.Errorf("line %d: %v", line, werr)
			}
			writes = append(writes, w)
		}
		if err == io.EOF {
			return writes, nil
		}
	}
}

var errLineTooLong = errors.New("line too long")

// readLine reads a line of at most max bytes (the newline excluded),
// returning io.EOF with the last line.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var buf []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(buf)+len(frag) > max+1 {
			return nil, errLineTooLong
		}
		buf = append(buf, frag...)
		switch {
		case err == nil:
			return buf[:len(buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return buf, err
		}
	}
}

func parseWrite(s *atlite.Store, text []byte, validate string) (commit.Write, error) {
	var jw jsonWrite
	if err := json.Unmarshal(text, &jw); err != nil {
		return commit.Write{}, err
	}
	a, err := commit.ParseAction(jw.Action)
	if err != nil {
		return commit.Write{}, err
	}
	if _, err := syntax.ParseNSID(jw.Collection); err != nil {
		return commit.Write{}, fmt.Errorf("collection %q is not an NSID", jw.Collection)
	}
	var rec any
	if a != commit.Delete {
		m, err := parseRecord(jw.Record, jw.Collection)
		if err != nil {
			return commit.Write{}, errors.New(strings.Replace(err.Error(), "record on stdin", "record", 1))
		}
		rec = m
	}
	if jw.RKey == "" && a == commit.Create {
		jw.RKey = s.NextTID().String()
	}
	if m, ok := rec.(map[string]any); ok {
		if err := checkRecord(validate, jw.Collection, jw.RKey, m); err != nil {
			return commit.Write{}, err
		}
	}
	return commit.NewWrite(a, jw.Collection, jw.RKey, rec)
}

func cmdGet(fl *flag.FlagSet, e *env) runner {
	return func(ctx context.Context, pos []string) error {
		switch len(pos) {
		case 1:
			u, err := syntax.ParseATURI(pos[0])
			if err != nil || u.Collection() == "" || u.RecordKey() == "" {
				return usagef("%q is not the AT-URI of a record (at://DID/COLLECTION/RKEY)", pos[0])
			}
			pos = []string{u.Authority().String(), u.Collection().String(), u.RecordKey().String()}
		case 2:
			return usagef("wrong number of arguments")
		}
		s, r, err := e.recordArgs(ctx, pos)
		if err != nil {
			return err
		}
		defer s.Close()
		rec, err := s.GetRecord(ctx, r.DID, syntax.NSID(pos[1]), syntax.RecordKey(pos[2]))
		if errors.Is(err, atlite.ErrNotFound) {
			return fmt.Errorf("no record at://%s/%s/%s", r.DID, pos[1], pos[2])
		}
		if err != nil {
			return err
		}
		v, err := datamodel.Unmarshal(rec.Data)
		if err != nil {
			return err
		}
		j, err := datamodel.ToJSON(map[string]any{"uri": fmt.Sprintf("at://%s/%s", r.DID, rec.Path()), "cid": rec.CID.String(), "value": v})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.stdout, "%s\n", j)
		return err
	}
}

// listRecords lists a page of records and returns the cursor of the next
// page ("" at the end).
func listRecords(ctx context.Context, s *atlite.Store, d syntax.DID, coll syntax.NSID, cursor string, limit int) ([]atlite.Record, string, error) {
	return s.ListRecords(ctx, d, coll, &atlite.ListRecordsOptions{Cursor: cursor, Limit: limit})
}

func cmdLs(fl *flag.FlagSet, e *env) runner {
	limit := fl.Int("limit", 0, "list at most `N` records (default all)")
	return func(ctx context.Context, pos []string) error {
		if *limit < 0 {
			return usagef("--limit must not be negative")
		}
		s, r, err := e.recordArgs(ctx, pos)
		if err != nil {
			return err
		}
		defer s.Close()
		if len(pos) == 1 {
			cols, err := s.Collections(ctx, r.DID)
			if err != nil {
				return err
			}
			for _, c := range cols {
				if e.json {
					writeJSON(e.stdout, map[string]string{"collection": c.String()})
				} else {
					fmt.Fprintln(e.stdout, c)
				}
			}
			return nil
		}
		cursor, n := "", 0
		for {
			recs, next, err := listRecords(ctx, s, r.DID, syntax.NSID(pos[1]), cursor, 500)
			if err != nil {
				return err
			}
			for _, rec := range recs {
				if e.json {
					writeJSON(e.stdout, map[string]string{"uri": fmt.Sprintf("at://%s/%s", r.DID, rec.Path()), "cid": rec.CID.String()})
				} else {
					fmt.Fprintf(e.stdout, "%s\t%s\n", rec.Path(), rec.CID)
				}
				n++
				if *limit > 0 && n >= *limit {
					return nil
				}
			}
			if next == "" {
				return nil
			}
			cursor = next
		}
	}
}

// followInterval is how often log --follow polls for new events.
const followInterval = 200 * time.Millisecond

func cmdLog(fl *flag.FlagSet, e *env) runner {
	since := fl.Int64("since", 0, "print the events whose seq is after `SEQ`")
	didFlag := fl.String("did", "", "print only the events of this repo (a `DID` or a handle)")
	limit := fl.Int("limit", 0, "print at most `N` events (default all)")
	follow := fl.Bool("follow", false, "keep printing new events as they are written, by this or another process, until interrupted")
	return func(ctx context.Context, _ []string) error {
		var id syntax.AtIdentifier
		if *didFlag != "" {
			var err error
			if id, err = parseRepoID(*didFlag); err != nil {
				return err
			}
		}
		if *limit < 0 || *since < 0 {
			return usagef("--limit and --since must not be negative")
		}
		s, err := e.open(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		var d syntax.DID
		if id != "" {
			r, err := e.loadRepo(ctx, s, id)
			if err != nil {
				return err
			}
			d = r.DID
		}
		after, n := *since, 0
		var tick *time.Ticker
		for {
			evs, err := s.Events(ctx, &atlite.EventsOptions{After: after, DID: d, Limit: 1000})
			if err != nil {
				if *follow && ctx.Err() != nil {
					return nil
				}
				return err
			}
			for _, ev := range evs {
				j, err := atlite.EventJSON(ev)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%s\n", j)
				after = ev.Seq
				n++
				if *limit > 0 && n >= *limit {
					return nil
				}
			}
			if len(evs) == 1000 {
				continue
			}
			if !*follow {
				return nil
			}
			if tick == nil {
				tick = time.NewTicker(followInterval)
				defer tick.Stop()
			}
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
		}
	}
}

func statusCmd(which string) func(fl *flag.FlagSet, e *env) runner {
	return func(fl *flag.FlagSet, e *env) runner {
		var yes *bool
		if which == "tombstone" {
			yes = fl.Bool("yes", false, "confirm: a tombstone cannot be undone")
		}
		return func(ctx context.Context, pos []string) error {
			id, err := parseRepoID(pos[0])
			if err != nil {
				return err
			}
			if yes != nil && !*yes {
				return usagef("tombstoning %s cannot be undone: add --yes", pos[0])
			}
			s, r, err := e.openRepo(ctx, id)
			if err != nil {
				return err
			}
			defer s.Close()
			var done string
			switch which {
			case "deactivate":
				err, done = s.Deactivate(ctx, r.DID), atlite.StatusDeactivated
			case "activate":
				err, done = s.Activate(ctx, r.DID), "active"
			case "takedown":
				err, done = s.Takedown(ctx, r.DID), atlite.StatusTakendown
			case "tombstone":
				err, done = s.Tombstone(ctx, r.DID), atlite.StatusTombstoned
			}
			if err != nil {
				return err
			}
			if e.json {
				return writeJSON(e.stdout, map[string]any{"did": r.DID, "status": done})
			}
			_, err = fmt.Fprintf(e.stdout, "%s: %s\n", r.DID, done)
			return err
		}
	}
}

func cmdDeleteRepo(fl *flag.FlagSet, e *env) runner {
	yes := fl.Bool("yes", false, "confirm: deleting a repo cannot be undone")
	return func(ctx context.Context, pos []string) error {
		id, err := parseRepoID(pos[0])
		if err != nil {
			return err
		}
		if !*yes {
			return usagef("deleting %s cannot be undone: add --yes", pos[0])
		}
		s, r, err := e.openRepo(ctx, id)
		if err != nil {
			return err
		}
		defer s.Close()
		if err := s.DeleteRepo(ctx, r.DID); err != nil {
			return err
		}
		if e.json {
			return writeJSON(e.stdout, map[string]any{"did": r.DID, "status": atlite.StatusDeleted})
		}
		_, err = fmt.Fprintf(e.stdout, "%s: deleted\n", r.DID)
		return err
	}
}

func cmdCheck(fl *flag.FlagSet, e *env) runner {
	return func(ctx context.Context, _ []string) error {
		s, err := e.open(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		p := e.progress("check", -1, "")
		err = s.Check(ctx)
		p.Stop()
		switch {
		case errors.Is(err, atlite.ErrInvalidKey), errors.Is(err, atlite.ErrKeyEncrypted):
			return fmt.Errorf("%s: %w (check $ATLITE_KEK)", e.dbName(), err)
		case errors.Is(err, atlite.ErrCorrupt):
			return fmt.Errorf("%s: %w", e.dbName(), err)
		case err != nil:
			return fmt.Errorf("cannot check %s: %w", e.dbName(), err)
		}
		seq, err := s.LastSeq(ctx, atlite.SubscribeReposNSID)
		if err != nil {
			return err
		}
		// Blocks nothing needs are not damage; say how many there are.
		gc, err := s.GC(ctx, &atlite.GCOptions{DryRun: true})
		if err != nil {
			return fmt.Errorf("cannot check %s: %w", e.dbName(), err)
		}
		if e.json {
			return writeJSON(e.stdout, map[string]any{"file": e.dbName(), "ok": true, "seq": seq, "unreachable": gc.Deleted, "unreachableBytes": gc.DeletedBytes})
		}
		if gc.Deleted == 0 {
			_, err = fmt.Fprintf(e.stdout, "%s: ok (%d events, 0 unreachable blocks)\n", e.dbName(), seq)
			return err
		}
		_, err = fmt.Fprintf(e.stdout, "%s: ok (%d events, %d unreachable block(s) of %d bytes: \"atlite gc\" deletes them)\n", e.dbName(), seq, gc.Deleted, gc.DeletedBytes)
		return err
	}
}

func cmdGC(fl *flag.FlagSet, e *env) runner {
	prune := fl.Duration("prune", 0, "first prune the events older than `DURATION` (0: all but the --keep newest)")
	keep := fl.Int("keep", atlite.DefaultEventsKept, "with --prune, keep the `N` newest events whatever their age (at least 1)")
	dry := fl.Bool("dry-run", false, "count what would be deleted; delete nothing")
	vacuum := fl.Bool("vacuum", false, "then rewrite the file to give the freed space back (needs as much free disk again)")
	return func(ctx context.Context, _ []string) error {
		pruning := false
		fl.Visit(func(f *flag.Flag) { pruning = pruning || f.Name == "prune" })
		if *prune < 0 {
			return usagef("--prune must not be negative")
		}
		if *keep < 1 {
			return usagef("--keep must be at least 1")
		}
		if *dry && *vacuum {
			return usagef("--dry-run and --vacuum do not go together")
		}
		s, err := e.open(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		var pruned int64
		if pruning && !*dry {
			for {
				r, err := s.PruneEvents(ctx, &atlite.PruneEventsOptions{Before: time.Now().Add(-*prune), Keep: *keep})
				if err != nil {
					return err
				}
				pruned += r.Deleted
				if !r.More {
					break
				}
			}
		}
		p := e.progress("gc", -1, "")
		r, err := s.GC(ctx, &atlite.GCOptions{DryRun: *dry})
		p.Stop()
		if err != nil {
			return fmt.Errorf("%s: %w", e.dbName(), err)
		}
		if *vacuum {
			if err := s.Vacuum(ctx); err != nil {
				return fmt.Errorf("%s: %w", e.dbName(), err)
			}
		}
		if e.json {
			return writeJSON(e.stdout, map[string]any{"file": e.dbName(), "dryRun": *dry, "prunedEvents": pruned, "examined": r.Examined,
				"deleted": r.Deleted, "deletedBytes": r.DeletedBytes, "live": r.Live, "repos": r.Repos, "vacuumed": *vacuum})
		}
		verb := "deleted"
		if *dry {
			verb = "would delete"
		}
		if pruning && !*dry {
			if _, err := fmt.Fprintf(e.stdout, "pruned %d event(s)\n", pruned); err != nil {
				return err
			}
		}
		_, err = fmt.Fprintf(e.stdout, "%s %d of %d block(s), %d bytes; %d live in %d repo(s)\n", verb, r.Deleted, r.Examined, r.DeletedBytes, r.Live, r.Repos)
		if err == nil && *vacuum {
			_, err = fmt.Fprintln(e.stdout, "vacuumed")
		}
		return err
	}
}

func cmdBackup(fl *flag.FlagSet, e *env) runner {
	return func(ctx context.Context, args []string) error {
		s, err := e.open(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		p := e.progress("backup", -1, "")
		res, err := s.Backup(ctx, args[0])
		p.Stop()
		switch {
		case errors.Is(err, errors.ErrUnsupported):
			return fmt.Errorf("%s: no online backup here (back up a PostgreSQL store with pg_dump)", e.dbName())
		case errors.Is(err, fs.ErrExist):
			return fmt.Errorf("%s exists: backup writes only a new file", args[0])
		case err != nil:
			return fmt.Errorf("cannot back up %s: %w", e.dbName(), err)
		}
		if e.json {
			return writeJSON(e.stdout, map[string]any{"file": e.dbName(), "backup": res.Path, "bytes": res.Bytes, "seq": res.Seq})
		}
		_, err = fmt.Fprintf(e.stdout, "%s: wrote %s, %d bytes, up to seq %d, in %s\n", e.dbName(), res.Path, res.Bytes, res.Seq, res.Duration.Round(time.Millisecond))
		return err
	}
}
