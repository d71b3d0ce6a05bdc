package atlite_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/testutil"
)

// litestreamModule is the Litestream release the replication tests are
// written against; the README's instructions and .ci/run install the same.
const litestreamModule = "github.com/benbjohnson/litestream/cmd/litestream@v0.5.18"

var replicationFigures = flag.Bool("replication-figures", false, "TestLitestreamFigures: measure replication lag and restore time")

// litestream returns the path of the litestream binary the test runs:
// $ATLITE_LITESTREAM (.ci/run installs the release and sets it; a missing
// file then fails the test), or else litestream on $PATH. Without either
// the test is skipped, saying how to run it: tests do not fetch or build
// anything themselves (a first build of Litestream downloads its storage
// SDKs and takes minutes, and tests reach no further than loopback).
func litestream(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: replicates with Litestream for several seconds")
	}
	if runtime.GOOS == "windows" {
		t.Skip("the test stops litestream with SIGTERM")
	}
	if p := os.Getenv("ATLITE_LITESTREAM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("$ATLITE_LITESTREAM: %v", err)
		}
		return p
	}
	p, err := exec.LookPath("litestream")
	if err != nil {
		t.Skipf("no litestream: set $ATLITE_LITESTREAM to a binary of it, or put one on $PATH (GOBIN=DIR go install %s)", litestreamModule)
	}
	return p
}

// replicating runs `litestream replicate` on the file at db into the file
// replica dir, until the test ends, with the given config lines under the
// db entry; it returns the replica URL.
func replicating(t *testing.T, bin, db, replica string, dbConfig string) string {
	t.Helper()
	url := "file://" + replica
	cfg := filepath.Join(t.TempDir(), "litestream.yml")
	yml := fmt.Sprintf("logging:\n  level: info\ndbs:\n  - path: %s\n%s    replica:\n      url: %s\n      sync-interval: 100ms\n", db, dbConfig, url)
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command(bin, "replicate", "-config", cfg)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() || testing.Verbose() {
			t.Logf("litestream replicate:\n%s", log.String())
		}
	})
	return url
}

// restore runs `litestream restore` of the replica at url into the new
// file out and returns how long it took.
func restore(t *testing.T, bin, url, out string) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	b, err := exec.Command(bin, "restore", "-o", out, url).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("litestream restore: %v\n%s", err, b)
	}
	return time.Since(start), nil
}

// restoreCovering restores the replica into new files until one holds
// every event up to lastSeq (Litestream uploads in the background), for
// at most 60 s, and returns it open.
func restoreCovering(t *testing.T, bin, url string, lastSeq int64) *atlite.Store {
	t.Helper()
	dir := t.TempDir()
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; ; i++ {
		out := filepath.Join(dir, fmt.Sprintf("restored-%d.db", i))
		_, err := restore(t, bin, url, out)
		if err == nil {
			c, oerr := atlite.Open(out, &atlite.Options{NoCreate: true})
			if oerr != nil {
				t.Fatalf("Open(restored) = %v", oerr)
			}
			got, serr := c.LastSeq(ctx, atlite.SubscribeReposNSID)
			if serr != nil {
				t.Fatal(serr)
			}
			if got == lastSeq {
				t.Cleanup(func() { c.Close() })
				return c
			}
			c.Close()
			if got > lastSeq {
				t.Fatalf("restored last seq %d, beyond the source's %d", got, lastSeq)
			}
			err = fmt.Errorf("restored last seq %d, want %d", got, lastSeq)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica did not catch up in 60 s: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestLitestreamReplicate replicates a file with the external `litestream
// replicate` process while two writers commit into it, then restores the
// replica into a new file: Check passes on it, and it holds every event of
// the source, byte for byte, and the same heads.
func TestLitestreamReplicate(t *testing.T) {
	testutil.SQLiteOnly(t, "Litestream replicates SQLite files")
	bin := litestream(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "atlite.db")
	s, err := atlite.Open(path, &atlite.Options{ExternalCheckpoints: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dids := []string{"did:web:a.example", "did:web:b.example"}
	for _, d := range dids {
		seedRepo(t, s, d, 120)
	}
	// Litestream checkpoints at 200 pages, so that the run crosses several
	// of its checkpoints (and WAL restarts).
	url := replicating(t, bin, path, filepath.Join(dir, "replica"), "    monitor-interval: 100ms\n    min-checkpoint-page-count: 200\n")
	seeded, err := s.LastSeq(ctx, atlite.SubscribeReposNSID)
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	for _, d := range dids {
		wg.Add(1)
		go func(d string) {
			defer wg.Done()
			for i := range 150 {
				w := mustWrite(t, commit.Create, "app.bsky.feed.post", fmt.Sprintf("3m%011d", i), map[string]any{"text": "replicated", "i": int64(i)})
				if _, err := s.Commit(ctx, mustDID(t, d), []commit.Write{w}, nil); err != nil {
					t.Errorf("Commit(%s) = %v", d, err)
					return
				}
				if i%10 == 0 {
					time.Sleep(20 * time.Millisecond) // spread the commits over several syncs
				}
			}
		}(d)
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	last, err := s.LastSeq(ctx, atlite.SubscribeReposNSID)
	if err != nil {
		t.Fatal(err)
	}
	if want := seeded + 2*150; last != want {
		t.Fatalf("source last seq = %d, want %d", last, want)
	}

	c := restoreCovering(t, bin, url, last)
	if err := c.Check(ctx); err != nil {
		t.Fatalf("Check(restored) = %v", err)
	}
	for _, d := range dids {
		want, err := s.LoadRepo(ctx, mustDID(t, d).AtIdentifier())
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.LoadRepo(ctx, mustDID(t, d).AtIdentifier())
		if err != nil || got.Head != want.Head || got.Rev != want.Rev {
			t.Errorf("restored %s = %+v, %v, want head %s rev %s", d, got, err, want.Head, want.Rev)
		}
	}
	srcEvents, gotEvents := allEvents(t, s), allEvents(t, c)
	if len(gotEvents) != int(last) || len(srcEvents) != int(last) {
		t.Fatalf("restored %d events, source %d, want %d", len(gotEvents), len(srcEvents), last)
	}
	for i, e := range srcEvents {
		g := gotEvents[i]
		if g.seq != e.seq || g.seq != int64(i+1) || g.key != e.key || !bytes.Equal(g.car, e.car) {
			t.Fatalf("restored event %d = seq %d %s (%d bytes), want seq %d %s (%d bytes)", i, g.seq, g.key, len(g.car), e.seq, e.key, len(e.car))
		}
	}
}

type eventBytes struct {
	seq int64
	key string // DID, kind, rev, commit
	car []byte // the commit's CAR, for commit events
}

// allEvents reads every event of s, with the CAR of each commit event.
func allEvents(t *testing.T, s *atlite.Store) []eventBytes {
	t.Helper()
	var out []eventBytes
	var after int64
	for {
		evs, err := s.Events(ctx, &atlite.EventsOptions{After: after, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return out
		}
		for _, e := range evs {
			var car bytes.Buffer
			if e.Commit.Defined() {
				if err := s.WriteEventCAR(ctx, e, &car); err != nil {
					t.Fatalf("WriteEventCAR(%d) = %v", e.Seq, err)
				}
			}
			out = append(out, eventBytes{seq: e.Seq, key: fmt.Sprint(e.DID, e.Kind, e.Rev, e.Commit), car: car.Bytes()})
			after = e.Seq
		}
	}
}

// TestLitestreamFigures measures, with -replication-figures, the
// replication lag under a commit load (the time from a commit's return to
// the replica's first LTX file that holds it) and the restore time of the
// replica, with Litestream's default intervals but a 100 ms sync-interval.
func TestLitestreamFigures(t *testing.T) {
	if !*replicationFigures {
		t.Skip("run with -replication-figures")
	}
	testutil.SQLiteOnly(t, "Litestream replicates SQLite files")
	bin := litestream(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "atlite.db")
	s, err := atlite.Open(path, &atlite.Options{ExternalCheckpoints: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	did := seedRepo(t, s, "did:web:a.example", 20000)
	replica := filepath.Join(dir, "replica")
	url := replicating(t, bin, path, replica, "    monitor-interval: 100ms\n")
	l0 := filepath.Join(replica, "ltx", "0")
	newest := func() string {
		es, _ := os.ReadDir(l0)
		if len(es) == 0 {
			return ""
		}
		return es[len(es)-1].Name() // named by TXID range, hex: sorted
	}
	time.Sleep(2 * time.Second) // the first snapshot
	// lag commits n records one by one, and after each waits for the
	// replica's next LTX files: with no other writer the first new file
	// holds the commit; under a load, a sync that read the WAL just before
	// the commit can land after it, so the first new file is a lower bound
	// and the second an upper one.
	lag := func(n int, prefix string, two bool) (first, second []time.Duration) {
		for i := range n {
			before := newest()
			w := mustWrite(t, commit.Create, "app.bsky.feed.post", fmt.Sprintf("%s%011d", prefix, i), map[string]any{"i": int64(i)})
			if _, err := s.Commit(ctx, did, []commit.Write{w}, nil); err != nil {
				t.Fatal(err)
			}
			t0 := time.Now()
			seen := 0
			for (two && seen < 2) || seen < 1 {
				if nw := newest(); nw != before {
					seen++
					before = nw
					if seen == 1 {
						first = append(first, time.Since(t0))
					} else {
						second = append(second, time.Since(t0))
					}
				}
				if time.Since(t0) > 30*time.Second {
					t.Fatal("no new LTX file in 30 s")
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
		slices.Sort(first)
		slices.Sort(second)
		return first, second
	}
	quiet, _ := lag(30, "3m", false)
	t.Logf("replication lag, one commit at a time: p50 %v, p90 %v, max %v (%d commits)", quiet[len(quiet)/2], quiet[len(quiet)*9/10], quiet[len(quiet)-1], len(quiet))

	// A load: one commit every 10 ms from a second goroutine.
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; cctx.Err() == nil; i++ {
			w := mustWrite(t, commit.Create, "app.bsky.feed.like", fmt.Sprintf("3l%011d", i), map[string]any{"i": int64(i)})
			if _, err := s.Commit(cctx, did, []commit.Write{w}, nil); err != nil && cctx.Err() == nil {
				t.Error(err)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	lo, hi := lag(30, "3n", true)
	cancel()
	wg.Wait()
	t.Logf("replication lag under a ~100 commits/s load: between p50 %v and %v, p90 %v and %v, max %v and %v (%d commits)",
		lo[len(lo)/2], hi[len(hi)/2], lo[len(lo)*9/10], hi[len(hi)*9/10], lo[len(lo)-1], hi[len(hi)-1], len(lo))
	last, _ := s.LastSeq(ctx, atlite.SubscribeReposNSID)
	fi, _ := os.Stat(path)
	c := restoreCovering(t, bin, url, last)
	c.Close()
	took, err := restore(t, bin, url, filepath.Join(t.TempDir(), "timed.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("restore of the replica of a %.1f MB file (%d events): %v", float64(fi.Size())/1e6, last, took)
}
