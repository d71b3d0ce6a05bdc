package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

// exportJSON is the --json result of export.
type exportJSON struct {
	DID    syntax.DID `json:"did"`
	Rev    string     `json:"rev"`
	File   string     `json:"file"`
	Blocks int        `json:"blocks"`
	Bytes  int64      `json:"bytes"`
}

func cmdExport(fl *flag.FlagSet, e *env) runner {
	since := fl.String("since", "", "export only what changed after the commit of rev `REV`")
	out := fl.String("o", "", "write the CAR to `FILE` (through a temporary file renamed when complete) instead of stdout")
	force := fl.Bool("force", false, "overwrite the -o file if it exists")
	inactive := fl.Bool("include-inactive", false, "export a deactivated, taken-down or tombstoned repo too (for backups)")
	return func(ctx context.Context, pos []string) error {
		id, err := parseRepoID(pos[0])
		if err != nil {
			return err
		}
		opts := atlite.ExportOptions{IncludeInactive: *inactive}
		if *since != "" {
			if opts.Since, err = syntax.ParseTID(*since); err != nil {
				return usagef("--since %q is not a rev: %v", *since, err)
			}
		}
		if e.json && (*out == "" || *out == "-") {
			return usagef("--json needs -o FILE: stdout holds the CAR")
		}
		s, r, err := e.openRepo(ctx, id)
		if err != nil {
			return err
		}
		defer s.Close()
		o, err := e.createOutput(*out, *force, "a CAR file")
		if err != nil {
			return err
		}
		defer o.abort()
		p := e.progress("export", -1, "bytes")
		bw := bufio.NewWriterSize(&countingWriter{w: o.w, p: p}, 256<<10)
		st, err := s.ExportCAR(ctx, r.DID, bw, &opts)
		if err == nil {
			err = bw.Flush()
		}
		p.Stop()
		var inactive *atlite.InactiveRepoError
		if errors.As(err, &inactive) && !opts.IncludeInactive {
			return fmt.Errorf("%s (add --include-inactive to export it anyway)", trimPrefixes(err.Error(), "export"))
		}
		if err != nil {
			return err
		}
		if err := o.commit(); err != nil {
			return err
		}
		if *out == "" || *out == "-" {
			return nil
		}
		if e.json {
			return writeJSON(e.stdout, exportJSON{DID: r.DID, Rev: r.Rev.String(), File: *out, Blocks: st.Blocks, Bytes: st.Bytes})
		}
		_, err = fmt.Fprintf(e.stdout, "wrote %s: %s rev %s, %d blocks, %d bytes\n", *out, r.DID, r.Rev, st.Blocks, st.Bytes)
		return err
	}
}

// readCAR opens FILE or stdin and returns a reader that reports progress:
// bytes read, then, once the whole CAR is in, the time the library spends
// checking and storing it (which it does not let us observe).
func (e *env) readCAR(name, phase string) (io.Reader, func(), error) {
	f, size, err := e.openInput(name)
	if err != nil {
		return nil, nil, err
	}
	p := e.progress(phase+": reading", size, "bytes")
	cr := &countingReader{r: f, p: p, atEOF: func() { p.Phase(phase+": checking the tree, records and signature", -1, "") }}
	return bufio.NewReaderSize(cr, 256<<10), func() { p.Stop(); f.Close() }, nil
}

func parseKeyFlag(key string) (keys.PublicKey, error) {
	if key == "" {
		return nil, nil
	}
	pub, err := keys.ParseDIDKey(key)
	if err != nil {
		return nil, usagef("--key %q is not a did:key: %v", key, err)
	}
	return pub, nil
}

// importJSON is the --json result of import.
type importJSON struct {
	DID              syntax.DID `json:"did"`
	Handle           string     `json:"handle,omitempty"`
	Rev              string     `json:"rev"`
	CID              string     `json:"cid"`
	Records          int        `json:"records"`
	Blocks           int        `json:"blocks"`
	Seq              int64      `json:"seq"`
	SignatureChecked bool       `json:"signatureChecked"`
	Mirror           bool       `json:"mirror"`
	NoOp             bool       `json:"noOp,omitempty"`
}

func cmdImport(fl *flag.FlagSet, e *env) runner {
	key := fl.String("key", "", "the did:key (`did:key:...`) that must have signed the CAR's commit (default: the stored key of a known repo; none for a new one)")
	handle := fl.String("handle", "", "the `HANDLE` of a repo the import creates")
	force := fl.Bool("force", false, "import a CAR whose rev is not newer than the stored one, moving the repo back to it (records written since are dropped)")
	keyFile := fl.String("signing-key-file", "", "read the repo's private signing key (multibase, one line) from `FILE`: the CAR must be signed with it, and this file then signs the repo's commits; without it a new repo is a read-only mirror")
	return func(ctx context.Context, pos []string) error {
		pub, err := parseKeyFlag(*key)
		if err != nil {
			return err
		}
		var h syntax.Handle
		if *handle != "" {
			if h, err = syntax.ParseHandle(strings.TrimPrefix(*handle, "@")); err != nil {
				return usagef("--handle %q is not a handle: %v", *handle, err)
			}
		}
		s, err := e.open(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		r, done, err := e.readCAR(pos[0], "import")
		if err != nil {
			return err
		}
		opts := &atlite.ImportOptions{VerifyKey: pub, Handle: h, Force: *force}
		if *keyFile != "" {
			b, err := os.ReadFile(*keyFile)
			if err != nil {
				return err
			}
			if opts.SigningKey, err = keys.ParsePrivateMultibase(strings.TrimSpace(string(b))); err != nil {
				return usagef("--signing-key-file %s does not hold a private key multibase: %v", *keyFile, err)
			}
		}
		res, err := s.ImportCAR(ctx, r, opts)
		done()
		if errors.Is(err, atlite.ErrRevConflict) {
			return fmt.Errorf("%s (use --force to move the repo back to the CAR's rev)", trimPrefixes(err.Error(), "import"))
		}
		if err != nil {
			return err
		}
		checked := res.SignatureChecked
		if !checked {
			fmt.Fprintln(e.stderr, "atlite import: warning: the commit's signature was not checked: no key to check it with (give --key did:key:...)")
		}
		out := importJSON{DID: res.Repo.DID, Handle: res.Repo.Handle.String(), Rev: res.Repo.Rev.String(), CID: res.Repo.Head.String(),
			Records: res.Records, Blocks: res.Blocks, Seq: res.Seq, SignatureChecked: checked, Mirror: res.Repo.Mirror, NoOp: res.NoOp}
		if e.json {
			return writeJSON(e.stdout, out)
		}
		if res.NoOp {
			_, err := fmt.Fprintf(e.stdout, "no change: %s is at rev %s already; %s\n", out.DID, out.Rev, sigText(checked))
			return err
		}
		fmt.Fprintf(e.stdout, "imported %s: rev %s, %d records, %d blocks, seq %d; %s\n", out.DID, out.Rev, out.Records, out.Blocks, out.Seq, sigText(checked))
		if out.Mirror {
			fmt.Fprintf(e.stdout, "%s is a read-only mirror: this file does not hold its signing key (see --signing-key-file)\n", out.DID)
		}
		return nil
	}
}

func sigText(checked bool) string {
	if checked {
		return "signature ok"
	}
	return "signature not checked (no key to check it with; give --key)"
}

// verifyJSON is the --json result of verify.
type verifyJSON struct {
	DID              syntax.DID `json:"did"`
	Rev              string     `json:"rev"`
	CID              string     `json:"cid"`
	Data             string     `json:"data"`
	Records          int        `json:"records"`
	Blocks           int        `json:"blocks"`
	SignatureChecked bool       `json:"signatureChecked"`
}

func cmdVerify(fl *flag.FlagSet, e *env) runner {
	key := fl.String("key", "", "the did:key (`did:key:...`) that must have signed the CAR's commit (default: the signature is not checked)")
	return func(ctx context.Context, pos []string) error {
		pub, err := parseKeyFlag(*key)
		if err != nil {
			return err
		}
		r, done, err := e.readCAR(pos[0], "verify")
		if err != nil {
			return err
		}
		res, err := atlite.VerifyCAR(ctx, r, pub)
		done()
		if err != nil {
			return err
		}
		checked := res.SignatureChecked
		if !checked {
			fmt.Fprintln(e.stderr, "atlite verify: warning: the commit's signature was not checked: no key to check it with (give --key did:key:...)")
		}
		out := verifyJSON{DID: res.DID, Rev: res.Rev.String(), CID: res.Commit.String(), Data: res.Data.String(), Records: res.Records, Blocks: res.Blocks, SignatureChecked: checked}
		if e.json {
			return writeJSON(e.stdout, out)
		}
		_, err = fmt.Fprintf(e.stdout, "ok: %s rev %s commit %s: %d records, %d blocks; %s\n", res.DID, res.Rev, res.Commit, res.Records, res.Blocks, sigText(checked))
		return err
	}
}

// withCARRecords imports a CAR into a temporary store in a temporary
// directory (deleted on return), so that records are read in MST order
// whatever the order of the CAR's blocks, with memory that does not grow with
// the CAR, then calls fn with each record.
func (e *env) withCARRecords(ctx context.Context, name string, fn func(d syntax.DID, rec atlite.Record) error) error {
	dir, err := os.MkdirTemp("", "atlite-car-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	s, err := atlite.Open(filepath.Join(dir, "car.db"), nil)
	if err != nil {
		return err
	}
	defer s.Close()
	r, done, err := e.readCAR(name, e.cmd.name)
	if err != nil {
		return err
	}
	res, err := s.ImportCAR(ctx, r, nil)
	done()
	if err != nil {
		return err
	}
	d := res.Repo.DID
	cols, err := s.Collections(ctx, d)
	if err != nil {
		return err
	}
	for _, coll := range cols {
		cursor := ""
		for {
			recs, next, err := listRecords(ctx, s, d, coll, cursor, 500)
			if err != nil {
				return err
			}
			for _, rec := range recs {
				if err := fn(d, rec); err != nil {
					return err
				}
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
	return nil
}

func cmdCarLs(fl *flag.FlagSet, e *env) runner {
	return func(ctx context.Context, pos []string) error {
		return e.withCARRecords(ctx, pos[0], func(d syntax.DID, rec atlite.Record) error {
			if e.json {
				return writeJSON(e.stdout, map[string]string{"uri": fmt.Sprintf("at://%s/%s", d, rec.Path()), "cid": rec.CID.String()})
			}
			_, err := fmt.Fprintf(e.stdout, "%s\t%s\n", rec.Path(), rec.CID)
			return err
		})
	}
}

func cmdCarUnpack(fl *flag.FlagSet, e *env) runner {
	out := fl.String("o", "", "write the records under directory `DIR` (required; created if missing)")
	force := fl.Bool("force", false, "overwrite record files that exist")
	return func(ctx context.Context, pos []string) error {
		if *out == "" {
			return usagef("-o DIR is required")
		}
		n := 0
		err := e.withCARRecords(ctx, pos[0], func(d syntax.DID, rec atlite.Record) error {
			j, err := rec.JSON()
			if err != nil {
				return err
			}
			// A valid NSID or record key holds no slash, and "." and
			// ".." are not record keys: the path stays under DIR.
			if _, err := syntax.ParseNSID(rec.Collection.String()); err != nil {
				return fmt.Errorf("record %s: bad collection: %v", rec.Path(), err)
			}
			if _, err := syntax.ParseRecordKey(rec.RKey.String()); err != nil {
				return fmt.Errorf("record %s: bad record key: %v", rec.Path(), err)
			}
			dir := filepath.Join(*out, rec.Collection.String())
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			path := filepath.Join(dir, rec.RKey.String()+".json")
			flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
			if *force {
				flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			}
			f, err := os.OpenFile(path, flags, 0o644)
			if errors.Is(err, os.ErrExist) {
				return fmt.Errorf("%s exists (use --force to overwrite it)", path)
			}
			if err != nil {
				return err
			}
			_, err = f.Write(append(j, '\n'))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			n++
			if e.json {
				return writeJSON(e.stdout, map[string]string{"uri": fmt.Sprintf("at://%s/%s", d, rec.Path()), "cid": rec.CID.String(), "file": path})
			}
			return nil
		})
		if err != nil {
			return err
		}
		if !e.json {
			fmt.Fprintf(e.stdout, "wrote %d records under %s\n", n, *out)
		}
		return nil
	}
}
