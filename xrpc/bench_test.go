package xrpc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/testutil"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

// The workloads of bench/pdsload in process, over loopback: getRepo of a
// repo of benchCommits one-record commits, against ExportCAR of the same
// repo to a file, and firehose replay of its events from cursor 0.

// benchCommits is the number of one-record commits of the benchmark repo:
// with its creation's events, about the 6,003 records and events of the
// bench/pdsload runs of bench/README.md.
const benchCommits = 6000

var (
	benchOnce sync.Once
	benchPath string
	benchErr  error
	benchDID  = syntax.DID("did:web:load.example")
)

// benchPost is the record of pdsload's createRecord workload.
func benchPost(i int) map[string]any {
	return map[string]any{
		"$type":     "app.bsky.feed.post",
		"text":      fmt.Sprintf("pdsload post number %d: a typical short post about atproto and load", i),
		"createdAt": "2026-12-01T00:00:00.000Z",
		"langs":     []any{"en"},
	}
}

// benchTemplate builds, once per process, a file holding the benchmark
// repo, and returns its path. The file is kept in the temporary directory
// between runs, keyed by the schema and its migrations (testutil.SchemaKey);
// ATLITE_BENCH_REBUILD=1 rebuilds
// it.
func benchTemplate(b *testing.B) string {
	benchOnce.Do(func() {
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("atlite-xrpc-bench-%s-%d", testutil.SchemaKey(".."), benchCommits))
		benchPath = filepath.Join(dir, "template.db")
		if _, err := os.Stat(benchPath + ".done"); err == nil && os.Getenv("ATLITE_BENCH_REBUILD") == "" {
			return
		}
		os.RemoveAll(dir)
		if benchErr = os.MkdirAll(dir, 0o700); benchErr != nil {
			return
		}
		benchErr = buildBenchRepo(benchPath)
		if benchErr == nil {
			benchErr = os.WriteFile(benchPath+".done", nil, 0o600)
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchPath
}

func buildBenchRepo(path string) error {
	ctx := context.Background()
	st, err := atlite.Open(path, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	k, err := keys.K256FromSeed(2349872879569)
	if err != nil {
		return err
	}
	if _, err := st.CreateRepo(ctx, benchDID, &atlite.CreateRepoOptions{Handle: "load.test", SigningKey: k}); err != nil {
		return err
	}
	for i := range benchCommits {
		w, err := commit.NewWrite(commit.Create, "app.bsky.feed.post", st.NextTID().String(), benchPost(i))
		if err != nil {
			return err
		}
		if _, err := st.Commit(ctx, benchDID, []commit.Write{w}, nil); err != nil {
			return err
		}
	}
	return nil
}

// benchServer opens the benchmark file (read only in effect) and serves it
// on a loopback listener.
func benchServer(b *testing.B) (*atlite.Store, *httptest.Server) {
	st, err := atlite.Open(benchTemplate(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(st, &Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Firehose: FirehoseOptions{Retention: -1}})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	b.Cleanup(func() {
		srv.Close()
		hs.Close()
		st.Close()
	})
	return st, hs
}

// BenchmarkGetRepo: the whole benchmark repo as a CAR, through
// sync.getRepo over loopback (http), and through Store.ExportCAR to a file
// (file), the floor getRepo is compared with. cpu-ms/op is the CPU time of
// the whole process, the HTTP client's included.
func BenchmarkGetRepo(b *testing.B) {
	ctx := context.Background()
	st, hs := benchServer(b)
	b.Run("http", func(b *testing.B) {
		b.ReportAllocs()
		u := hs.URL + "/xrpc/com.atproto.sync.getRepo?did=" + benchDID.String()
		client := &http.Client{}
		cpu := testutil.ProcessCPU()
		for b.Loop() {
			resp, err := client.Get(u)
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatalf("getRepo: %d, %v", resp.StatusCode, err)
			}
			b.SetBytes(n)
		}
		b.ReportMetric(float64(testutil.ProcessCPU()-cpu)/1e6/float64(b.N), "cpu-ms/op")
	})
	b.Run("file", func(b *testing.B) {
		b.ReportAllocs()
		f, err := os.Create(filepath.Join(b.TempDir(), "repo.car"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		cpu := testutil.ProcessCPU()
		for b.Loop() {
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				b.Fatal(err)
			}
			stats, err := st.ExportCAR(ctx, benchDID, f, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(stats.Bytes)
		}
		b.ReportMetric(float64(testutil.ProcessCPU()-cpu)/1e6/float64(b.N), "cpu-ms/op")
	})
}

// BenchmarkFirehoseReplay: subscribeRepos from cursor 0 to the last event
// of the benchmark repo, on 1 and 10 connections at once over loopback.
// cold replays on a new Server each time, so that every frame is read
// from the file (the firehose's frame cache is empty; SQLite's pages are
// not); cached replays again on one Server, after a first replay. frames/s
// counts the frames of every connection, and cpu-us/frame is the CPU time
// of the whole process (server and readers) a frame.
func BenchmarkFirehoseReplay(b *testing.B) {
	st, hs := benchServer(b)
	last, err := st.LastSeq(context.Background(), atlite.SubscribeReposNSID)
	if err != nil {
		b.Fatal(err)
	}
	for _, cold := range []bool{true, false} {
		for _, subs := range []int{1, 10} {
			name := fmt.Sprintf("cached/subscribers=%d", subs)
			if cold {
				name = fmt.Sprintf("cold/subscribers=%d", subs)
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				if !cold {
					if _, err := replayAll(hs, 1, last); err != nil {
						b.Fatal(err)
					}
				}
				var frames int64
				var elapsed time.Duration
				cpu := testutil.ProcessCPU()
				for b.Loop() {
					target, closeTarget := hs, func() {}
					if cold {
						target, closeTarget = benchFreshServer(b, st)
					}
					start := time.Now()
					n, err := replayAll(target, subs, last)
					elapsed += time.Since(start)
					if err != nil {
						b.Fatal(err)
					}
					frames += n
					closeTarget()
				}
				b.ReportMetric(float64(frames)/elapsed.Seconds(), "frames/s")
				b.ReportMetric(float64(testutil.ProcessCPU()-cpu)/1e3/float64(frames), "cpu-us/frame")
			})
		}
	}
}

// benchFreshServer serves st on a new Server and listener, whose firehose
// has an empty frame cache, and the function that closes them.
func benchFreshServer(b *testing.B, st *atlite.Store) (*httptest.Server, func()) {
	srv, err := New(st, &Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Firehose: FirehoseOptions{Retention: -1}})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	return hs, func() {
		srv.Close()
		hs.Close()
	}
}

// replayAll replays from cursor 0 to seq last on subs connections at
// once, checking that each gets every seq in order, and returns the
// number of frames read.
func replayAll(hs *httptest.Server, subs int, last int64) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conns := make([]*websocket.Conn, subs)
	for i := range conns {
		c, _, err := websocket.Dial(ctx, firehoseURL(hs, "0"), nil)
		if err != nil {
			return 0, err
		}
		defer c.CloseNow()
		c.SetReadLimit(16 << 20)
		conns[i] = c
	}
	errs := make(chan error, subs)
	for _, c := range conns {
		go func() {
			// One buffer for every frame, as a consumer that decodes each
			// frame before the next would use.
			var buf bytes.Buffer
			for want := int64(1); want <= last; want++ {
				_, r, err := c.Reader(ctx)
				if err == nil {
					buf.Reset()
					_, err = buf.ReadFrom(r)
				}
				if err != nil {
					errs <- fmt.Errorf("frame %d: %w", want, err)
					return
				}
				if seq, ok := commitSeq(buf.Bytes()); ok && seq != want {
					errs <- fmt.Errorf("seq %d, want %d", seq, want)
					return
				}
			}
			errs <- nil
		}()
	}
	for range conns {
		if err := <-errs; err != nil {
			return 0, err
		}
	}
	return int64(subs) * last, nil
}

// BenchmarkCreateRecord: one post a commit into a fresh file, through
// com.atproto.repo.createRecord over loopback (http: JSON, the access
// token, the request log line to a file), and through Store.Commit
// (direct), the floor createRecord is compared with. cpu-ms/op is the CPU
// time of the whole process, the HTTP client's included.
func BenchmarkCreateRecord(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	st, err := atlite.Open(filepath.Join(dir, "create.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	const password = "a long load password"
	if _, err := st.CreateAccount(ctx, &atlite.CreateAccountOptions{DID: benchDID, Handle: "load.test", Password: password}); err != nil {
		b.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer logFile.Close()
	srv, err := New(st, &Options{Logger: slog.New(slog.NewTextHandler(logFile, nil)), HandleDomains: []string{".test"}})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	client := &http.Client{}
	call := func(nsid, token string, body any, out any) {
		raw, err := json.Marshal(body)
		if err != nil {
			b.Fatal(err)
		}
		req, err := http.NewRequest("POST", hs.URL+"/xrpc/"+nsid, bytes.NewReader(raw))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		rb, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %d %s %v", nsid, resp.StatusCode, rb, err)
		}
		if out != nil {
			if err := json.Unmarshal(rb, out); err != nil {
				b.Fatal(err)
			}
		}
	}
	var sess struct{ AccessJwt string }
	call("com.atproto.server.createSession", "", map[string]string{"identifier": "load.test", "password": password}, &sess)
	i := 0
	b.Run("http", func(b *testing.B) {
		b.ReportAllocs()
		cpu := testutil.ProcessCPU()
		for b.Loop() {
			i++
			call("com.atproto.repo.createRecord", sess.AccessJwt,
				map[string]any{"repo": benchDID.String(), "collection": "app.bsky.feed.post", "record": benchPost(i)}, nil)
		}
		b.ReportMetric(float64(testutil.ProcessCPU()-cpu)/1e6/float64(b.N), "cpu-ms/op")
	})
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		cpu := testutil.ProcessCPU()
		for b.Loop() {
			i++
			w, err := commit.NewWrite(commit.Create, "app.bsky.feed.post", st.NextTID().String(), benchPost(i))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := st.Commit(ctx, benchDID, []commit.Write{w}, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(testutil.ProcessCPU()-cpu)/1e6/float64(b.N), "cpu-ms/op")
	})
}

// BenchmarkGetRecord: com.atproto.repo.getRecord over loopback (http), as
// bench/pdsload's getRecord workload calls it (the repo's first 1000
// records in turn, no token), against Store.GetRecord of the same records
// (direct). cpu-us/op is the CPU time of the whole process, the HTTP
// client's included.
func BenchmarkGetRecord(b *testing.B) {
	st, hs := benchServer(b)
	ctx := context.Background()
	recs, _, err := st.ListRecords(ctx, benchDID, "app.bsky.feed.post", &atlite.ListRecordsOptions{Limit: 1000})
	if err != nil || len(recs) != 1000 {
		b.Fatalf("ListRecords = %d records, %v", len(recs), err)
	}
	// each runs get on the records in turn, one a benchmark iteration.
	each := func(get func(b *testing.B, rec *atlite.Record)) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			cpu := testutil.ProcessCPU()
			i := 0
			for b.Loop() {
				get(b, &recs[i%len(recs)])
				i++
			}
			b.ReportMetric(float64(testutil.ProcessCPU()-cpu)/1e3/float64(b.N), "cpu-us/op")
		}
	}
	client := &http.Client{}
	b.Run("http", each(func(b *testing.B, rec *atlite.Record) {
		resp, err := client.Get(hs.URL + "/xrpc/com.atproto.repo.getRecord?repo=" + benchDID.String() + "&collection=app.bsky.feed.post&rkey=" + rec.RKey.String())
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(rec.CID.String())) {
			b.Fatalf("getRecord: %d %s %v", resp.StatusCode, body, err)
		}
	}))
	b.Run("direct", each(func(b *testing.B, rec *atlite.Record) {
		if _, err := st.GetRecord(ctx, benchDID, "app.bsky.feed.post", rec.RKey); err != nil {
			b.Fatal(err)
		}
	}))
}

// BenchmarkListRecords pages through the posts of the bench repo with
// listRecords, 100 records a page (the lexicon's most), from the start
// again after the last page: records/s and the process's CPU a record.
func BenchmarkListRecords(b *testing.B) {
	_, hs := benchServer(b)
	client := &http.Client{}
	b.ReportAllocs()
	cpu := testutil.ProcessCPU()
	cursor, n := "", 0
	for b.Loop() {
		u := hs.URL + "/xrpc/com.atproto.repo.listRecords?repo=" + benchDID.String() + "&collection=app.bsky.feed.post&limit=100"
		if cursor != "" {
			u += "&cursor=" + cursor
		}
		resp, err := client.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		var page struct {
			Cursor  string
			Records []json.RawMessage
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || len(page.Records) == 0 {
			b.Fatalf("listRecords: %d, %d records, %v", resp.StatusCode, len(page.Records), err)
		}
		n += len(page.Records)
		cursor = page.Cursor
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(testutil.ProcessCPU()-cpu)/1e3/float64(n), "cpu-us/record")
}
