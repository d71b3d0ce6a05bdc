package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/testutil"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

var ctx = context.Background()

const repoRecords = 100_000

var (
	templateOnce sync.Once
	templateDir  string
	templateErr  error
	benchDID     = syntax.DID("did:plc:benchbenchbenchbenchbench")
)

func post(i int) map[string]any {
	return map[string]any{
		"$type":     "app.bsky.feed.post",
		"text":      fmt.Sprintf("post number %d: a typical short post about atproto, sqlite and merkle search trees", i),
		"createdAt": "2026-11-22T01:02:03.456Z",
		"langs":     []any{"en"},
	}
}

// template builds, once per process, a file database holding one repo of
// repoRecords posts, and returns its path.
func template(b *testing.B) string {
	templateOnce.Do(func() {
		// The template is kept between runs, keyed by the schema with its
		// migrations (testutil.SchemaKey) and the size;
		// ATLITE_BENCH_REBUILD=1 rebuilds it.
		templateDir = filepath.Join(os.TempDir(), fmt.Sprintf("atlite-bench-%s-%d", testutil.SchemaKey(".."), repoRecords))
		path := filepath.Join(templateDir, "template.db")
		if _, err := os.Stat(path + ".done"); err == nil && os.Getenv("ATLITE_BENCH_REBUILD") == "" {
			return
		}
		os.RemoveAll(templateDir)
		if templateErr = os.MkdirAll(templateDir, 0o700); templateErr != nil {
			return
		}
		defer func() {
			if templateErr == nil {
				templateErr = os.WriteFile(path+".done", nil, 0o600)
			}
		}()
		s, err := atlite.Open(path, nil)
		if err != nil {
			templateErr = err
			return
		}
		defer s.Close()
		k, _ := keys.K256FromSeed(2349872879569)
		if _, err := s.CreateRepo(ctx, benchDID, &atlite.CreateRepoOptions{SigningKey: k}); err != nil {
			templateErr = err
			return
		}
		for i := 0; i < repoRecords; i += atlite.MaxWritesPerCommit {
			writes := make([]commit.Write, 0, atlite.MaxWritesPerCommit)
			for j := i; j < i+atlite.MaxWritesPerCommit && j < repoRecords; j++ {
				w, _ := commit.NewWrite(commit.Create, "app.bsky.feed.post", s.NextTID().String(), post(j))
				writes = append(writes, w)
			}
			if _, err := s.Commit(ctx, benchDID, writes, nil); err != nil {
				templateErr = err
				return
			}
		}
	})
	if templateErr != nil {
		b.Fatal(templateErr)
	}
	return filepath.Join(templateDir, "template.db")
}

// openCopy opens a fresh copy of the template database.
func openCopy(b *testing.B) *atlite.Store { return openCopyWith(b, nil) }

func openCopyWith(b *testing.B, opts *atlite.Options) *atlite.Store {
	src := template(b)
	dst := filepath.Join(b.TempDir(), "bench.db")
	data, err := os.ReadFile(src)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		b.Fatal(err)
	}
	s, err := atlite.Open(dst, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkCommitSingle: one-record commits into a 100k-record repo.
func BenchmarkCommitSingle(b *testing.B) { commitSingle(b, openCopy(b)) }

// commitSingle runs one-record commits into benchDID of s. Beside wall
// time it reports CPU time per commit: the committing thread's (cpu-ns/op,
// the commit's own path; a lone commit runs on its caller's goroutine,
// locked here to its thread) and the whole process's (proc-cpu-ns/op,
// background work such as checkpoints included), which a loaded machine
// moves less than wall time.
func commitSingle(b *testing.B, s *atlite.Store) {
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	i := 0
	var tcpu time.Duration
	pcpu := testutil.ProcessCPU()
	for b.Loop() {
		w, _ := commit.NewWrite(commit.Create, "app.bsky.feed.post", s.NextTID().String(), post(i))
		t0 := testutil.ThreadCPU()
		if _, err := s.Commit(ctx, benchDID, []commit.Write{w}, nil); err != nil {
			b.Fatal(err)
		}
		tcpu += testutil.ThreadCPU() - t0
		i++
	}
	pcpu = testutil.ProcessCPU() - pcpu
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
	b.ReportMetric(float64(tcpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(pcpu.Nanoseconds())/float64(b.N), "proc-cpu-ns/op")
}

// BenchmarkCommitBatch200: 200-record commits into a 100k-record repo.
func BenchmarkCommitBatch200(b *testing.B) { commitBatch200(b, openCopy(b)) }

// commitBatch200 runs 200-record commits into benchDID of s.
func commitBatch200(b *testing.B, s *atlite.Store) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		writes := make([]commit.Write, 0, 200)
		for j := 0; j < 200; j++ {
			w, _ := commit.NewWrite(commit.Create, "app.bsky.feed.post", s.NextTID().String(), post(i))
			writes = append(writes, w)
			i++
		}
		if _, err := s.Commit(ctx, benchDID, writes, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*200)/b.Elapsed().Seconds(), "records/s")
}

// commitShape measures the blocks a one-record commit writes into the
// 100k-record repo: their count and sizes.
func commitShape(b *testing.B) []int {
	s := openCopy(b)
	var sizes []int
	const samples = 50
	for i := 0; i < samples; i++ {
		w, _ := commit.NewWrite(commit.Create, "app.bsky.feed.post", s.NextTID().String(), post(i))
		res, err := s.Commit(ctx, benchDID, []commit.Write{w}, nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, bl := range res.Blocks {
			sizes = append(sizes, len(bl.Data))
		}
	}
	// The average commit: len(sizes)/samples blocks, cycling through the
	// sizes seen.
	n := (len(sizes) + samples/2) / samples
	out := make([]int, n)
	for i := range out {
		total := 0
		cnt := 0
		for j := i; j < len(sizes); j += n {
			total += sizes[j]
			cnt++
		}
		out[i] = total / cnt
	}
	return out
}

// BenchmarkFloorCommit is the floor a one-record commit is compared with: a
// bare SQLite transaction (same driver, WAL, synchronous=NORMAL, prepared
// statement) inserting as many new blocks of the same sizes as atlite's
// average one-record commit into a blocks table shaped like atlite's,
// plus one K-256 signature. The ratio CommitSingle / FloorCommit is what
// atlite's bookkeeping (head, records index, sequence, event) and its MST
// work cost.
func BenchmarkFloorCommit(b *testing.B) {
	f := newFloor(b, commitShape(b), false)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		f.commit(b)
	}
	b.ReportMetric(float64(len(f.bufs)), "blocks/op")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}

// floor is a bare SQLite database shaped like atlite's blocks table.
type floor struct {
	db   *sql.DB
	ins  *sql.Stmt
	key  keys.PrivateKey
	bufs [][]byte
}

// newFloor opens the floor database with SQLite's default settings (WAL,
// synchronous=NORMAL), or, when tuned, with atlite's page cache and
// checkpoint size too.
func newFloor(b *testing.B, sizes []int, tuned bool) *floor {
	dir := b.TempDir()
	dsn := "file:" + dir + "/floor.db?_pragma=journal_mode(wal)&_pragma=synchronous(normal)&_pragma=busy_timeout(5000)&_txlock=immediate"
	if tuned {
		dsn += fmt.Sprintf("&_pragma=cache_size(%d)&_pragma=wal_autocheckpoint(%d)", -atlite.DefaultCacheSize/1024, atlite.DefaultCheckpointPages)
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE blocks (id INTEGER PRIMARY KEY, k INTEGER NOT NULL, cid BLOB NOT NULL, data BLOB NOT NULL);
CREATE UNIQUE INDEX blocks_k ON blocks (k)`); err != nil {
		b.Fatal(err)
	}
	ins, err := db.Prepare(`INSERT INTO blocks (k, cid, data) VALUES (?, ?, ?) ON CONFLICT (k) DO NOTHING`)
	if err != nil {
		b.Fatal(err)
	}
	// Pre-fill with as many blocks as the 100k-record repo holds.
	tx, _ := db.Begin()
	st := tx.Stmt(ins)
	buf := make([]byte, 300)
	for i := 0; i < repoRecords*14/10; i++ {
		rand.Read(buf)
		h := sha256.Sum256(buf)
		st.Exec(int64(binary.BigEndian.Uint64(h[:8])), h[:], buf)
	}
	tx.Commit()
	key, _ := keys.K256FromSeed(2349872879569)
	f := &floor{db: db, ins: ins, key: key}
	for _, n := range sizes {
		f.bufs = append(f.bufs, make([]byte, n))
	}
	return f
}

// commit runs one floor transaction: the blocks and one signature.
func (f *floor) commit(b *testing.B) {
	tx, err := f.db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	st := tx.Stmt(f.ins)
	for _, buf := range f.bufs {
		rand.Read(buf[:32])
		h := sha256.Sum256(buf)
		if _, err := st.Exec(int64(binary.BigEndian.Uint64(h[:8])), h[:], buf); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := f.key.Sign(f.bufs[len(f.bufs)-1]); err != nil {
		b.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCommitVsFloor interleaves one atlite single-record commit and one
// floor transaction per iteration, so that the load of a shared machine
// weighs on both alike, and reports each one's time and their ratio. The
// floor runs with SQLite's defaults ("default") or with atlite's page cache
// and checkpoint settings ("tuned").
func BenchmarkCommitVsFloor(b *testing.B) {
	for _, tuned := range []bool{false, true} {
		name := "default"
		if tuned {
			name = "tuned"
		}
		b.Run(name, func(b *testing.B) { commitVsFloor(b, tuned) })
	}
}

func commitVsFloor(b *testing.B, tuned bool) {
	f := newFloor(b, commitShape(b), tuned)
	s := openCopy(b)
	// Each commit runs on this goroutine (a lone commit runs on its
	// caller's): locked to its thread, the thread's CPU time is the
	// commit's own path, without background work (checkpoints).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ta, tf, ca, cf time.Duration
	i := 0
	for b.Loop() {
		w, _ := commit.NewWrite(commit.Create, "app.bsky.feed.post", s.NextTID().String(), post(i))
		c0, t0 := testutil.ThreadCPU(), time.Now()
		if _, err := s.Commit(ctx, benchDID, []commit.Write{w}, nil); err != nil {
			b.Fatal(err)
		}
		c1, t1 := testutil.ThreadCPU(), time.Now()
		f.commit(b)
		tf += time.Since(t1)
		cf += testutil.ThreadCPU() - c1
		ta += t1.Sub(t0)
		ca += c1 - c0
		i++
	}
	b.ReportMetric(float64(ta.Nanoseconds())/float64(b.N), "ns/atlite-commit")
	b.ReportMetric(float64(tf.Nanoseconds())/float64(b.N), "ns/floor-commit")
	b.ReportMetric(float64(ta)/float64(tf), "ratio")
	if cf > 0 {
		b.ReportMetric(float64(ca.Nanoseconds())/float64(b.N), "cpu-ns/atlite-commit")
		b.ReportMetric(float64(cf.Nanoseconds())/float64(b.N), "cpu-ns/floor-commit")
		b.ReportMetric(float64(ca)/float64(cf), "cpu-ratio")
	}
}

// BenchmarkExport: full CAR export of the 100k-record repo.
func BenchmarkExport(b *testing.B) {
	s := openCopy(b)
	var st atlite.ExportStats
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	stop := make(chan struct{})
	peak := peakHeap(stop)
	b.ReportAllocs()
	cpu0 := testutil.ProcessCPU()
	for b.Loop() {
		var err error
		if st, err = s.ExportCAR(ctx, benchDID, io.Discard, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(testutil.ProcessCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	close(stop)
	b.SetBytes(st.Bytes)
	b.ReportMetric(float64(st.Blocks)*float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
	b.ReportMetric(float64(peak()-base.HeapInuse)/1e6, "peak-heap-MB")
}

// BenchmarkCheck: Store.Check of the file holding the 100k-record repo
// (every node and record read, hashed and matched with the index).
func BenchmarkCheck(b *testing.B) {
	s := openCopy(b)
	b.ReportAllocs()
	cpu0 := testutil.ProcessCPU()
	for b.Loop() {
		if err := s.Check(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(testutil.ProcessCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// peakHeap samples the Go heap until stop is closed and returns the peak.
func peakHeap(stop <-chan struct{}) func() uint64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { <-done; return peak.Load() }
}

// BenchmarkImport: import of the 100k-record repo's CAR into a new file.
func BenchmarkImport(b *testing.B) {
	s := openCopy(b)
	var buf bytes.Buffer
	if _, err := s.ExportCAR(ctx, benchDID, &buf, nil); err != nil {
		b.Fatal(err)
	}
	carPath := filepath.Join(b.TempDir(), "repo.car")
	if err := os.WriteFile(carPath, buf.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	buf = bytes.Buffer{}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	stop := make(chan struct{})
	peak := peakHeap(stop)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		dst, err := atlite.Open(filepath.Join(b.TempDir(), fmt.Sprintf("import%d.db", i)), nil)
		if err != nil {
			b.Fatal(err)
		}
		f, _ := os.Open(carPath)
		res, err := dst.ImportCAR(ctx, bufio.NewReaderSize(f, 1<<20), nil)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		if res.Records != repoRecords {
			b.Fatalf("imported %d records, want %d", res.Records, repoRecords)
		}
		dst.Close()
		i++
	}
	b.StopTimer()
	close(stop)
	b.ReportMetric(float64(repoRecords*b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(peak()-base.HeapInuse)/1e6, "peak-heap-MB")
}

// BenchmarkGetRecord: one record by path, from the 100k-record repo.
func BenchmarkGetRecord(b *testing.B) { getRecords(b, openCopy(b)) }

// getRecords is b's loop: GetRecord of the repo's first 1,000 posts in
// turn.
func getRecords(b *testing.B, s *atlite.Store) {
	recs, _, err := s.ListRecords(ctx, benchDID, "app.bsky.feed.post", &atlite.ListRecordsOptions{Limit: 1000})
	if err != nil || len(recs) == 0 {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := recs[i%len(recs)]
		if _, err := s.GetRecord(ctx, benchDID, r.Collection, r.RKey); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkGetRecordBesideCommits: GetRecord from the 100k-record repo
// while another goroutine makes single-record commits to it without a
// pause, as a PDS reads while it is written to. It reports both rates.
func BenchmarkGetRecordBesideCommits(b *testing.B) {
	s := openCopy(b)
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		defer func() { done <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			w, _ := commit.NewWrite(commit.Create, "app.bsky.feed.post", s.NextTID().String(), post(n))
			if _, err := s.Commit(ctx, benchDID, []commit.Write{w}, nil); err != nil {
				b.Error(err)
				return
			}
			n++
		}
	}()
	getRecords(b, s)
	b.StopTimer()
	close(stop)
	commits := <-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "gets/s")
	b.ReportMetric(float64(commits)/b.Elapsed().Seconds(), "commits/s")
}

// BenchmarkListRecords: a page of 50 records with their bytes.
func BenchmarkListRecords(b *testing.B) {
	s := openCopy(b)
	recs, _, err := s.ListRecords(ctx, benchDID, "app.bsky.feed.post", &atlite.ListRecordsOptions{Limit: 1000})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		got, _, err := s.ListRecords(ctx, benchDID, "app.bsky.feed.post", &atlite.ListRecordsOptions{Limit: 50, Cursor: recs[i%len(recs)].RKey.String()})
		if err != nil || len(got) != 50 {
			b.Fatal(len(got), err)
		}
		i++
	}
}

// BenchmarkCommitParallel: one-record commits from 8 goroutines into the
// 100k-record repo, each in its own transaction (group=1) or sharing
// transactions (group=64, the default), with the default durability and
// with DurabilityFull (an fsync per transaction).
func BenchmarkCommitParallel(b *testing.B) {
	for _, d := range []atlite.Durability{atlite.DurabilityNormal, atlite.DurabilityFull} {
		for _, group := range []int{1, atlite.DefaultMaxGroupCommits} {
			b.Run(fmt.Sprintf("full=%v/group=%d", d == atlite.DurabilityFull, group), func(b *testing.B) {
				commitParallel(b, &atlite.Options{MaxGroupCommits: group, Durability: d})
			})
		}
	}
}

func commitParallel(b *testing.B, opts *atlite.Options) {
	s := openCopyWith(b, opts)
	b.ReportAllocs()
	b.SetParallelism(4) // 4 x GOMAXPROCS(2) = 8 goroutines
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			w, _ := commit.NewWrite(commit.Create, "app.bsky.feed.post", s.NextTID().String(), post(int(i)))
			if _, err := s.Commit(ctx, benchDID, []commit.Write{w}, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}

// BenchmarkCommitRepos: one-record commits from 1 goroutine into one repo
// (writers=1) against 8 goroutines each committing into a repo of its own
// (writers=8), the group-commit measure of issue 11. The 8 repos hold
// 1,000 posts each, in the 100k-record template's file; commits/s is the
// figure to compare.
func BenchmarkCommitRepos(b *testing.B) {
	for _, d := range []atlite.Durability{atlite.DurabilityNormal, atlite.DurabilityFull} {
		for _, writers := range []int{1, 8} {
			b.Run(fmt.Sprintf("full=%v/writers=%d", d == atlite.DurabilityFull, writers), func(b *testing.B) {
				commitRepos(b, &atlite.Options{Durability: d}, writers)
			})
		}
	}
}

func commitRepos(b *testing.B, opts *atlite.Options, writers int) {
	s := openCopyWith(b, opts)
	dids := make([]syntax.DID, writers)
	for r := range dids {
		dids[r] = syntax.DID(fmt.Sprintf("did:plc:groupgroupgroupgroupgro%d", r))
		k, _ := keys.K256FromSeed(uint64(1000 + r))
		if _, err := s.CreateRepo(ctx, dids[r], &atlite.CreateRepoOptions{SigningKey: k}); err != nil {
			b.Fatal(err)
		}
		for i := 0; i < 1000; i += atlite.MaxWritesPerCommit {
			writes := make([]commit.Write, 0, atlite.MaxWritesPerCommit)
			for j := i; j < i+atlite.MaxWritesPerCommit; j++ {
				w, _ := commit.NewWrite(commit.Create, "app.bsky.feed.post", s.NextTID().String(), post(j))
				writes = append(writes, w)
			}
			if _, err := s.Commit(ctx, dids[r], writes, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	var n atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for r := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := n.Add(1); i <= int64(b.N); i = n.Add(1) {
				w, _ := commit.NewWrite(commit.Create, "app.bsky.feed.post", s.NextTID().String(), post(int(i)))
				if _, err := s.Commit(ctx, dids[r], []commit.Write{w}, nil); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}
