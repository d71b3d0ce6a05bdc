package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

// progress reports on stderr how far a long copy went.
type progress struct {
	w     io.Writer
	n     int64
	what  string
	last  time.Time
	start time.Time
}

func newProgress(w io.Writer, what string) *progress {
	return &progress{w: w, what: what, start: time.Now(), last: time.Now()}
}

func (p *progress) add(n int) {
	p.n += int64(n)
	if time.Since(p.last) > time.Second {
		p.last = time.Now()
		fmt.Fprintf(p.w, "%s: %.1f MB (%.1f MB/s)\n", p.what, float64(p.n)/1e6, float64(p.n)/1e6/time.Since(p.start).Seconds())
	}
}

type progressWriter struct {
	w io.Writer
	p *progress
}

func (pw progressWriter) Write(b []byte) (int, error) {
	n, err := pw.w.Write(b)
	pw.p.add(n)
	return n, err
}

type progressReader struct {
	r io.Reader
	p *progress
}

func (pr progressReader) Read(b []byte) (int, error) {
	n, err := pr.r.Read(b)
	pr.p.add(n)
	return n, err
}

func cmdExport(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	since := fs.String("since", "", "only what changed after this rev")
	out := fs.String("o", "", "write to this file instead of stdout")
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	d, err := parseDID(pos[0])
	if err != nil {
		return err
	}
	var opts atlite.ExportOptions
	if *since != "" {
		if opts.Since, err = syntax.ParseTID(*since); err != nil {
			return usagef("--since %q is not a rev: %v", *since, err)
		}
	}
	s, err := e.open()
	if err != nil {
		return err
	}
	defer s.Close()
	var w io.Writer = e.stdout
	var f *os.File
	if *out != "" {
		if f, err = os.Create(*out); err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(progressWriter{w, newProgress(e.stderr, "export")}, 256<<10)
	st, err := s.ExportCAR(ctx, d, bw, &opts)
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "wrote %s: %d blocks, %d bytes\n", *out, st.Blocks, st.Bytes)
	}
	return nil
}

// carCommand parses the arguments of import and verify (FILE.car and an
// optional --key) and runs fn on the open file and the key.
func carCommand(e *env, name string, args []string, fn func(r io.Reader, key keys.PublicKey) error) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	key := fs.String("key", "", "did:key that must have signed the commit")
	pos, err := parseFlags(fs, args, 1, 1)
	if err != nil {
		return err
	}
	var pub keys.PublicKey
	if *key != "" {
		if pub, err = keys.ParseDIDKey(*key); err != nil {
			return usagef("--key %q: %v", *key, err)
		}
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return err
	}
	defer f.Close()
	return fn(progressReader{f, newProgress(e.stderr, name)}, pub)
}

func cmdImport(ctx context.Context, e *env, args []string) error {
	return carCommand(e, "import", args, func(r io.Reader, pub keys.PublicKey) error {
		s, err := e.open()
		if err != nil {
			return err
		}
		defer s.Close()
		res, err := s.ImportCAR(ctx, r, &atlite.ImportOptions{VerifyKey: pub})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "imported %s: rev %s, %d records, %d blocks, seq %d\n", res.Repo.DID, res.Repo.Rev, res.Records, res.Blocks, res.Seq)
		return nil
	})
}

func cmdVerify(ctx context.Context, e *env, args []string) error {
	return carCommand(e, "verify", args, func(r io.Reader, pub keys.PublicKey) error {
		res, err := atlite.VerifyCAR(ctx, r, pub)
		if err != nil {
			return err
		}
		sig := "signature not checked (no --key)"
		if pub != nil {
			sig = "signature ok"
		}
		fmt.Fprintf(e.stdout, "ok: %s rev %s commit %s: %d records, %d blocks; %s\n", res.DID, res.Rev, res.Commit, res.Records, res.Blocks, sig)
		return nil
	})
}

var demoWords = []string{"atproto", "sqlite", "merkle", "search", "tree", "commit", "firehose", "record", "repo",
	"hello", "world", "today", "small", "server", "self-hosted", "bluesky", "sky", "garden", "coffee", "morning"}

func demoText(r *rand.Rand) string {
	n := 4 + r.IntN(20)
	b := make([]byte, 0, 160)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, demoWords[r.IntN(len(demoWords))]...)
	}
	return string(b)
}

// demoRecord returns a realistic record: mostly posts, some likes and
// follows, like a real account's repo.
func demoRecord(r *rand.Rand, i int, posts []string) (coll string, rec map[string]any) {
	created := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	switch {
	case i%10 < 6 || len(posts) == 0:
		rec = map[string]any{"$type": "app.bsky.feed.post", "text": demoText(r), "createdAt": created, "langs": []any{"en"}}
		if len(posts) > 0 && r.IntN(3) == 0 {
			p := posts[r.IntN(len(posts))]
			ref := map[string]any{"uri": p, "cid": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"}
			rec["reply"] = map[string]any{"root": ref, "parent": ref}
		}
		return "app.bsky.feed.post", rec
	case i%10 < 9:
		return "app.bsky.feed.like", map[string]any{"$type": "app.bsky.feed.like", "createdAt": created,
			"subject": map[string]any{"uri": posts[r.IntN(len(posts))], "cid": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"}}
	default:
		return "app.bsky.graph.follow", map[string]any{"$type": "app.bsky.graph.follow", "createdAt": created,
			"subject": fmt.Sprintf("did:plc:%024d", r.IntN(1_000_000))}
	}
}

func cmdDemo(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	n := fs.Int("records", 1000, "how many records to write")
	if _, err := parseFlags(fs, args, 0, 0); err != nil {
		return err
	}
	if *n < 1 {
		return usagef("--records must be at least 1")
	}
	t0 := time.Now()
	s, err := e.open()
	if err != nil {
		return err
	}
	defer s.Close()
	tid := s.NextTID()
	d, _ := syntax.ParseDID("did:web:demo-" + tid.String() + ".atlite.example")
	handle := syntax.Handle("demo-" + tid.String() + ".atlite.example")
	repo, err := s.CreateRepo(ctx, d, &atlite.CreateRepoOptions{Handle: handle})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "database %s\ncreated repo %s (%s), signing key %s\n", e.db, d, handle, repo.SigningKey.DIDKey())

	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var posts []string
	t1 := time.Now()
	for i := 0; i < *n; i++ {
		coll, rec := demoRecord(r, i, posts)
		rkey := s.NextTID().String()
		w, err := commit.NewWrite(commit.Create, coll, rkey, rec)
		if err != nil {
			return err
		}
		if _, err := s.Commit(ctx, d, []commit.Write{w}, nil); err != nil {
			return err
		}
		if coll == "app.bsky.feed.post" {
			posts = append(posts, fmt.Sprintf("at://%s/%s/%s", d, coll, rkey))
		}
	}
	write := time.Since(t1)
	fmt.Fprintf(e.stdout, "wrote %d records as %d signed commits in %v (%.0f commits/s)\n", *n, *n, write.Round(time.Millisecond), float64(*n)/write.Seconds())

	carPath := filepath.Join(os.TempDir(), "atlite-demo-"+tid.String()+".car")
	f, err := os.Create(carPath)
	if err != nil {
		return err
	}
	t2 := time.Now()
	bw := bufio.NewWriterSize(f, 256<<10)
	st, err := s.ExportCAR(ctx, d, bw, nil)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "exported %s: %d blocks, %d bytes in %v\n", carPath, st.Blocks, st.Bytes, time.Since(t2).Round(time.Millisecond))

	t3 := time.Now()
	f, err = os.Open(carPath)
	if err != nil {
		return err
	}
	defer f.Close()
	vr, err := atlite.VerifyCAR(ctx, bufio.NewReader(f), repo.SigningKey)
	if err != nil {
		return fmt.Errorf("verify %s: %w", carPath, err)
	}
	fmt.Fprintf(e.stdout, "verified the CAR in %v: %d records, %d blocks, rev %s, signature ok\n", time.Since(t3).Round(time.Millisecond), vr.Records, vr.Blocks, vr.Rev)
	fmt.Fprintf(e.stdout, "done in %v; try: go run ./cmd/atlite ls %s app.bsky.feed.post --limit 5\n", time.Since(t0).Round(time.Millisecond), d)
	return nil
}
