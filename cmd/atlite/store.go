package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/syntax"
	"golang.org/x/term"
)

// open opens the database. Only commands marked create may create the file.
// It warns once a run, whatever --quiet says, when the file holds private
// keys in the clear and no $ATLITE_KEK is set.
func (e *env) open(ctx context.Context) (*atlite.Store, error) {
	kek, err := kekFromEnv("ATLITE_KEK")
	if err != nil {
		return nil, err
	}
	create := e.cmd != nil && e.cmd.create
	ext := e.extCheckpoints || os.Getenv("ATLITE_EXTERNAL_CHECKPOINTS") == "1"
	s, err := atlite.Open(e.db, &atlite.Options{KeyEncryptionKey: kek, NoCreate: !create, ExternalCheckpoints: ext})
	if errors.Is(err, fs.ErrNotExist) && !create {
		return nil, fmt.Errorf("no atlite database at %s (run \"atlite init\" to create one)", e.dbName())
	}
	if err != nil {
		return nil, err
	}
	if kek == nil {
		e.warnUnsealed(ctx, s)
	}
	return s, nil
}

func (e *env) warnUnsealed(ctx context.Context, s *atlite.Store) {
	if e.warned {
		return
	}
	kc, err := s.KeyCounts(ctx)
	if err != nil || kc.Clear == 0 {
		return
	}
	e.warned = true
	fmt.Fprintf(e.stderr, "atlite: warning: %s holds the private keys of %d repo(s) unsealed; set $ATLITE_KEK (64 hex digits) and run \"atlite keys seal\"\n", e.dbName(), kc.Clear)
}

// kekFromEnv reads an optional hex key-encryption key from an environment
// variable.
func kekFromEnv(name string) ([]byte, error) {
	v := os.Getenv(name)
	if v == "" {
		return nil, nil
	}
	b, err := hex.DecodeString(v)
	if err != nil || len(b) != 32 {
		return nil, usagef("$%s must be 64 hex digits (a 32-byte key)", name)
	}
	return b, nil
}

// parseRepoID checks that s is a DID or a handle (with or without "@") and
// returns it as LoadRepo takes it.
func parseRepoID(s string) (syntax.AtIdentifier, error) {
	if strings.HasPrefix(s, "did:") {
		d, err := syntax.ParseDID(s)
		if err != nil {
			return "", usagef("%q is not a DID: %v", s, err)
		}
		return d.AtIdentifier(), nil
	}
	id, err := syntax.ParseAtIdentifier(strings.TrimPrefix(s, "@"))
	if err != nil {
		return "", usagef("%q is not a DID or a handle", s)
	}
	return id, nil
}

// loadRepo finds the repo named by a DID or a handle checked by parseRepoID.
func (e *env) loadRepo(ctx context.Context, s *atlite.Store, id syntax.AtIdentifier) (*atlite.Repo, error) {
	r, err := s.LoadRepo(ctx, id)
	if errors.Is(err, atlite.ErrNotFound) {
		return nil, fmt.Errorf("no repo %s in %s", id, e.dbName())
	}
	return r, err
}

// openRepo opens the store and finds the repo id in it; on error the store
// is closed again.
func (e *env) openRepo(ctx context.Context, id syntax.AtIdentifier) (*atlite.Store, *atlite.Repo, error) {
	s, err := e.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	r, err := e.loadRepo(ctx, s, id)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, r, nil
}

func parseDID(s string) (syntax.DID, error) {
	d, err := syntax.ParseDID(s)
	if err != nil {
		return "", usagef("%q is not a DID: %v", s, err)
	}
	return d, nil
}

func parseNSID(s string) (string, error) {
	if _, err := syntax.ParseNSID(s); err != nil {
		return "", usagef("collection %q is not an NSID: %v", s, err)
	}
	return s, nil
}

func parseRKey(s string) (string, error) {
	if _, err := syntax.ParseRecordKey(s); err != nil {
		return "", usagef("%q is not a record key: %v", s, err)
	}
	return s, nil
}

// writeJSON writes v as one line of JSON.
func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// openInput opens FILE, or stdin for "-", and returns its size (-1 when
// unknown).
func (e *env) openInput(name string) (io.ReadCloser, int64, error) {
	if name == "-" {
		return io.NopCloser(e.stdin), -1, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, err
	}
	size := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	return f, size, nil
}

// output is where a command writes binary data: a temporary file renamed
// into place by commit, or stdout.
type output struct {
	w    io.Writer
	f    *os.File
	path string
}

// createOutput prepares writing to path ("" or "-": stdout, refused when it
// is a terminal). An existing file is refused unless force; the bytes go to
// a temporary file in the same directory, renamed on commit, so a failure
// leaves nothing behind.
func (e *env) createOutput(path string, force bool, what string) (*output, error) {
	if path == "" || path == "-" {
		if isTerminal(e.stdout) {
			return nil, usagef("refusing to write %s to a terminal (use -o FILE or a redirect)", what)
		}
		return &output{w: e.stdout}, nil
	}
	if _, err := os.Lstat(path); err == nil && !force {
		return nil, usagef("%s exists (use --force to overwrite it)", path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	return &output{w: f, f: f, path: path}, nil
}

// commit renames the temporary file into place.
func (o *output) commit() error {
	if o.f == nil {
		return nil
	}
	err := o.f.Close()
	if err == nil {
		err = os.Chmod(o.f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(o.f.Name(), o.path)
	}
	if err != nil {
		os.Remove(o.f.Name())
	}
	o.f = nil
	return err
}

// abort removes the temporary file unless commit ran.
func (o *output) abort() {
	if o.f != nil {
		o.f.Close()
		os.Remove(o.f.Name())
		o.f = nil
	}
}

// dbName is the database for messages: the file, or the PostgreSQL URL
// without its password.
func (e *env) dbName() string {
	if u, err := url.Parse(e.db); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		return u.String()
	}
	return e.db
}
