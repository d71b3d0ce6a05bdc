package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/syntax"
)

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

// demoDB is the file demo uses unless --db (or $ATLITE_DB) names another:
// the demo never writes into the default ./atlite.db.
const demoDB = "atlite-demo.db"

// demoJSON is the --json result of demo.
type demoJSON struct {
	File     string     `json:"file"`
	DID      syntax.DID `json:"did"`
	Handle   string     `json:"handle"`
	Records  int        `json:"records"`
	Rev      string     `json:"rev"`
	Blocks   int        `json:"blocks"`
	Bytes    int64      `json:"bytes"`
	WriteMS  int64      `json:"writeMs"`
	ExportMS int64      `json:"exportMs"`
	VerifyMS int64      `json:"verifyMs"`
}

func cmdDemo(fl *flag.FlagSet, e *env) runner {
	n := fl.Int("records", 1000, "how many records to write, each as its own signed commit")
	return func(ctx context.Context, _ []string) error {
		if *n < 1 {
			return usagef("--records must be at least 1")
		}
		if !e.dbSet {
			e.db = demoDB
		}
		t0 := time.Now()
		s, err := e.open(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		tid := s.NextTID()
		d, _ := syntax.ParseDID("did:web:demo-" + tid.String() + ".atlite.example")
		handle := "demo-" + tid.String() + ".atlite.example"
		repo, err := s.CreateRepo(ctx, d, &atlite.CreateRepoOptions{Handle: syntax.Handle(handle)})
		if err != nil {
			return err
		}
		text := func(format string, args ...any) {
			if !e.json {
				fmt.Fprintf(e.stdout, format, args...)
			}
		}
		text("database %s\ncreated repo %s (%s), signing key %s\n", e.dbName(), d, handle, repo.SigningKey.DIDKey())

		r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
		var posts []string
		t1 := time.Now()
		p := e.progress("demo: writing", int64(*n), "records")
		for i := 0; i < *n; i++ {
			coll, rec := demoRecord(r, i, posts)
			rkey := s.NextTID().String()
			w, err := commit.NewWrite(commit.Create, coll, rkey, rec)
			if err != nil {
				p.Stop()
				return err
			}
			if _, err := s.Commit(ctx, d, []commit.Write{w}, nil); err != nil {
				p.Stop()
				return err
			}
			p.Add(1)
			if coll == "app.bsky.feed.post" {
				posts = append(posts, fmt.Sprintf("at://%s/%s/%s", d, coll, rkey))
			}
		}
		p.Stop()
		write := time.Since(t1)
		text("wrote %d records as %d signed commits in %v (%.0f commits/s)\n", *n, *n, write.Round(time.Millisecond), float64(*n)/write.Seconds())

		f, err := os.CreateTemp("", "atlite-demo-*.car")
		if err != nil {
			return err
		}
		carPath := f.Name()
		defer os.Remove(carPath)
		t2 := time.Now()
		p = e.progress("demo: exporting", -1, "bytes")
		bw := bufio.NewWriterSize(&countingWriter{w: f, p: p}, 256<<10)
		st, err := s.ExportCAR(ctx, d, bw, nil)
		if err == nil {
			err = bw.Flush()
		}
		p.Stop()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		export := time.Since(t2)
		text("exported a CAR of %d blocks, %d bytes in %v (to a temporary file, removed at the end)\n", st.Blocks, st.Bytes, export.Round(time.Millisecond))

		t3 := time.Now()
		rd, done, err := e.readCAR(carPath, "demo: verifying")
		if err != nil {
			return err
		}
		vr, err := atlite.VerifyCAR(ctx, rd, repo.SigningKey)
		done()
		if err != nil {
			return fmt.Errorf("verify the exported CAR: %s", trimPrefixes(err.Error(), "verify"))
		}
		verify := time.Since(t3)
		if e.json {
			return writeJSON(e.stdout, demoJSON{File: e.dbName(), DID: d, Handle: handle, Records: vr.Records, Rev: vr.Rev.String(), Blocks: vr.Blocks, Bytes: st.Bytes,
				WriteMS: write.Milliseconds(), ExportMS: export.Milliseconds(), VerifyMS: verify.Milliseconds()})
		}
		text("verified the CAR in %v: %d records, %d blocks, rev %s, signature ok\n", verify.Round(time.Millisecond), vr.Records, vr.Blocks, vr.Rev)
		text("done in %v; try: go run ./cmd/atlite --db %s ls %s app.bsky.feed.post --limit 5\n", time.Since(t0).Round(time.Millisecond), e.dbName(), handle)
		return nil
	}
}
