package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/did"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

func (e *env) open() (*atlite.Store, error) {
	kek, err := kekFromEnv()
	if err != nil {
		return nil, err
	}
	return atlite.Open(e.db, &atlite.Options{KeyEncryptionKey: kek})
}

// kekFromEnv reads an optional hex key-encryption key from $ATLITE_KEK.
func kekFromEnv() ([]byte, error) {
	v := os.Getenv("ATLITE_KEK")
	if v == "" {
		return nil, nil
	}
	b, err := hex.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("$ATLITE_KEK is not hex (want 64 hex digits): %v", err)
	}
	return b, nil
}

func parseDID(s string) (syntax.DID, error) {
	d, err := syntax.ParseDID(s)
	if err != nil {
		return "", usagef("%q is not a DID: %v", s, err)
	}
	return d, nil
}

func cmdInit(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	didFlag := fs.String("did", "", "the repo's DID; default: a did:plc derived offline from a signed genesis operation")
	handle := fs.String("handle", "", "the repo's handle")
	pds := fs.String("pds", "http://localhost:2583", "the PDS endpoint written in a new did:plc's genesis operation")
	plc := fs.String("plc", "", "publish the new did:plc's genesis operation to this PLC directory URL")
	p256 := fs.Bool("p256", false, "sign with a P-256 key instead of K-256")
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	var sk keys.PrivateKey
	var err error
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
	var d syntax.DID
	var genesis *did.Operation
	switch {
	case *didFlag != "":
		if *plc != "" {
			return usagef("--plc publishes a new did:plc: it does not go with --did")
		}
		if d, err = parseDID(*didFlag); err != nil {
			return err
		}
	default:
		if *handle == "" {
			return usagef("--handle is required to derive a did:plc (or give --did)")
		}
		h, err := syntax.ParseHandle(*handle)
		if err != nil {
			return usagef("--handle %q: %v", *handle, err)
		}
		if genesis, err = did.NewGenesis([]keys.PublicKey{rk.PublicKey()}, sk.PublicKey(), h, *pds); err != nil {
			return err
		}
		if err := genesis.Sign(rk); err != nil {
			return err
		}
		if d, err = genesis.DID(); err != nil {
			return err
		}
	}
	s, err := e.open()
	if err != nil {
		return err
	}
	defer s.Close()
	r, err := s.CreateRepo(ctx, d, &atlite.CreateRepoOptions{Handle: syntax.Handle(*handle), SigningKey: sk, RotationKey: rk})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "created %s in %s\nsigning key: %s\nrotation key: %s\nhead: %s rev %s\n",
		r.DID, e.db, r.SigningKey.DIDKey(), r.RotationKey.DIDKey(), r.Head, r.Rev)
	if genesis != nil {
		fmt.Fprintf(e.stdout, "did:plc derived offline from its signed genesis operation (PDS %s)\n", *pds)
		if *plc != "" {
			c, err := did.NewPLCClient(&did.PLCOptions{URL: *plc})
			if err != nil {
				return err
			}
			if _, err := c.Create(ctx, genesis); err != nil {
				return fmt.Errorf("publish %s to %s: %w (the repo is created; publish the operation again later)", d, *plc, err)
			}
			fmt.Fprintf(e.stdout, "published to %s\n", *plc)
		}
	}
	return nil
}

func cmdRepos(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("repos", flag.ContinueOnError)
	after := fs.String("after", "", "list DIDs after this one")
	limit := fs.Int("limit", 0, "at most this many")
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	s, err := e.open()
	if err != nil {
		return err
	}
	defer s.Close()
	repos, _, err := s.ListRepos(ctx, &atlite.ListReposOptions{Cursor: *after, Limit: *limit})
	if err != nil {
		return err
	}
	for _, r := range repos {
		status := r.Status
		if status == "" {
			status = "active"
		}
		handle := r.Handle
		if handle == "" {
			handle = "-"
		}
		fmt.Fprintf(e.stdout, "%s\t%s\t%s\t%s\t%s\n", r.DID, handle, status, r.Rev, r.Head)
	}
	return nil
}

func cmdDID(ctx context.Context, e *env, args []string) error {
	return onRepo(e, flag.NewFlagSet("did", flag.ContinueOnError), args, 1, 1, false, func(s *atlite.Store, d syntax.DID, _ []string, _ []byte) error {
		r, err := s.LoadRepo(ctx, d.AtIdentifier())
		if err != nil {
			return err
		}
		st := &did.State{DID: r.DID, VerificationMethods: map[string]string{}, AlsoKnownAs: []string{}}
		if r.SigningKey != nil {
			st.VerificationMethods["atproto"] = r.SigningKey.DIDKey()
		}
		if r.Handle != "" {
			st.AlsoKnownAs = []string{"at://" + r.Handle.String()}
		}
		return writeJSON(e.stdout, st.Document())
	})
}

func onRepo(e *env, fs *flag.FlagSet, args []string, min, max int, withRecord bool,
	fn func(s *atlite.Store, d syntax.DID, pos []string, rec []byte) error) error {
	pos, err := parseFlags(fs, args, min, max)
	if err != nil {
		return err
	}
	d, err := parseDID(pos[0])
	if err != nil {
		return err
	}
	var rec []byte
	if withRecord {
		if rec, err = readRecord(e.stdin); err != nil {
			return err
		}
	}
	s, err := e.open()
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s, d, pos, rec)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// readRecord reads one record as atproto JSON from r, for
// commit.WriteFromJSON (which fills in a missing $type).
func readRecord(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, atlite.MaxRecordSize*4))
	if err != nil {
		return nil, err
	}
	if _, err := datamodel.FromJSON(b); err != nil {
		return nil, fmt.Errorf("record on stdin: %w (want an atproto JSON object)", err)
	}
	return b, nil
}

func commitAndReport(ctx context.Context, e *env, s *atlite.Store, d syntax.DID, writes []commit.Write) error {
	res, err := s.Commit(ctx, d, writes, nil)
	if err != nil {
		return err
	}
	if res.NoOp {
		_, err := fmt.Fprintf(e.stdout, "no change: head %s rev %s\n", res.CID, res.Rev)
		return err
	}
	for _, op := range res.Ops {
		c := "-"
		if op.CID.Defined() {
			c = op.CID.String()
		}
		fmt.Fprintf(e.stdout, "%s\tat://%s/%s\t%s\n", op.Action, d, op.Path, c)
	}
	fmt.Fprintf(e.stdout, "commit %s rev %s seq %d\n", res.CID, res.Commit.Rev, res.Seq)
	return nil
}

func cmdCreate(ctx context.Context, e *env, args []string) error {
	return onRepo(e, flag.NewFlagSet("create", flag.ContinueOnError), args, 2, 3, true, func(s *atlite.Store, d syntax.DID, pos []string, rec []byte) error {
		rkey := s.NextTID().String()
		if len(pos) == 3 {
			rkey = pos[2]
		}
		w, err := commit.WriteFromJSON(commit.Create, pos[1], rkey, rec)
		if err != nil {
			return err
		}
		return commitAndReport(ctx, e, s, d, []commit.Write{w})
	})
}

func cmdPut(ctx context.Context, e *env, args []string) error {
	return onRepo(e, flag.NewFlagSet("put", flag.ContinueOnError), args, 3, 3, true, func(s *atlite.Store, d syntax.DID, pos []string, rec []byte) error {
		action := commit.Create
		old, err := s.GetRecord(ctx, d, syntax.NSID(pos[1]), syntax.RecordKey(pos[2]))
		switch {
		case err == nil:
			action = commit.Update
		case !errors.Is(err, atlite.ErrNotFound):
			return err
		}
		w, err := commit.WriteFromJSON(action, pos[1], pos[2], rec)
		if err != nil {
			return err
		}
		if old != nil {
			w.SwapRecord = old.CID
		}
		return commitAndReport(ctx, e, s, d, []commit.Write{w})
	})
}

func cmdDelete(ctx context.Context, e *env, args []string) error {
	return onRepo(e, flag.NewFlagSet("delete", flag.ContinueOnError), args, 3, 3, false, func(s *atlite.Store, d syntax.DID, pos []string, _ []byte) error {
		w, err := commit.NewWrite(commit.Delete, pos[1], pos[2], nil)
		if err != nil {
			return err
		}
		return commitAndReport(ctx, e, s, d, []commit.Write{w})
	})
}

func cmdApply(ctx context.Context, e *env, args []string) error {
	return onRepo(e, flag.NewFlagSet("apply", flag.ContinueOnError), args, 1, 1, false, func(s *atlite.Store, d syntax.DID, _ []string, _ []byte) error {
		writes, err := readWrites(s, e.stdin)
		if err != nil {
			return err
		}
		return commitAndReport(ctx, e, s, d, writes)
	})
}

// readWrites reads JSON lines of writes.
func readWrites(s *atlite.Store, r io.Reader) ([]commit.Write, error) {
	var writes []commit.Write
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*atlite.MaxRecordSize)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var jw jsonWrite
		if err := json.Unmarshal([]byte(text), &jw); err != nil {
			return nil, fmt.Errorf("line %d: %v", line, err)
		}
		a, err := commit.ParseAction(jw.Action)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", line, err)
		}
		if jw.RKey == "" && a == commit.Create {
			jw.RKey = s.NextTID().String()
		}
		w, err := commit.WriteFromJSON(a, jw.Collection, jw.RKey, jw.Record)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", line, err)
		}
		writes = append(writes, w)
	}
	return writes, sc.Err()
}

func cmdGet(ctx context.Context, e *env, args []string) error {
	return onRepo(e, flag.NewFlagSet("get", flag.ContinueOnError), args, 3, 3, false, func(s *atlite.Store, d syntax.DID, pos []string, _ []byte) error {
		rec, err := s.GetRecord(ctx, d, syntax.NSID(pos[1]), syntax.RecordKey(pos[2]))
		if err != nil {
			return err
		}
		v, err := datamodel.Unmarshal(rec.Data)
		if err != nil {
			return err
		}
		j, err := datamodel.ToJSON(map[string]any{"uri": fmt.Sprintf("at://%s/%s", d, rec.Path()), "cid": rec.CID.String(), "value": v})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.stdout, "%s\n", j)
		return err
	})
}

func cmdLs(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("ls", flag.ContinueOnError)
	limit := fs.Int("limit", 0, "at most this many records (default all)")
	return onRepo(e, fs, args, 1, 2, false, func(s *atlite.Store, d syntax.DID, pos []string, _ []byte) error {
		if len(pos) == 1 {
			cols, err := s.Collections(ctx, d)
			if err != nil {
				return err
			}
			for _, c := range cols {
				fmt.Fprintln(e.stdout, c)
			}
			return nil
		}
		cursor, n := "", 0
		for {
			recs, next, err := s.ListRecords(ctx, d, syntax.NSID(pos[1]), &atlite.ListRecordsOptions{Cursor: cursor, Limit: 500})
			if err != nil {
				return err
			}
			for _, r := range recs {
				fmt.Fprintf(e.stdout, "%s\t%s\n", r.Path(), r.CID)
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
	})
}

func cmdLog(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("log", flag.ContinueOnError)
	since := fs.Int64("since", 0, "print events with a seq after this one")
	didFlag := fs.String("did", "", "only this repo's events")
	limit := fs.Int("limit", 0, "at most this many events (default all)")
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	var d syntax.DID
	if *didFlag != "" {
		var err error
		if d, err = parseDID(*didFlag); err != nil {
			return err
		}
	}
	s, err := e.open()
	if err != nil {
		return err
	}
	defer s.Close()
	after, n := *since, 0
	for {
		evs, err := s.Events(ctx, &atlite.EventsOptions{After: after, DID: d, Limit: 1000})
		if err != nil {
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
		if len(evs) < 1000 {
			return nil
		}
	}
}

func statusCmd(which string) func(ctx context.Context, e *env, args []string) error {
	return func(ctx context.Context, e *env, args []string) error {
		return onRepo(e, flag.NewFlagSet(which, flag.ContinueOnError), args, 1, 1, false, func(s *atlite.Store, d syntax.DID, _ []string, _ []byte) error {
			var err error
			switch which {
			case "deactivate":
				err = s.Deactivate(ctx, d)
			case "activate":
				err = s.Activate(ctx, d)
			case "tombstone":
				err = s.Tombstone(ctx, d)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s: %sd\n", d, which)
			return nil
		})
	}
}

// jsonWrite is one line of "atlite apply".
type jsonWrite struct {
	Action     string          `json:"action"`
	Collection string          `json:"collection"`
	RKey       string          `json:"rkey"`
	Record     json.RawMessage `json:"record"`
}

func cmdCheck(ctx context.Context, e *env, args []string) error {
	if _, err := parseFlags(flag.NewFlagSet("check", flag.ContinueOnError), args, 0, 0); err != nil {
		return err
	}
	s, err := e.open()
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Check(ctx); err != nil {
		return fmt.Errorf("%s is damaged: %w", e.db, err)
	}
	seq, err := s.LastSeq(ctx, atlite.SubscribeReposNSID)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: ok (%d events)\n", e.db, seq)
	return nil
}
