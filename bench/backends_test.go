package bench

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/testutil"
	"github.com/atlite-dev/atlite/syntax"
)

// The backend benchmarks (issue 10) run the same workloads on SQLite (a
// file in b.TempDir, default options) and, when ATLITE_TEST_POSTGRES names
// a server, on PostgreSQL (a fresh schema), in the same run:
//
//	go test ./bench -run XXX -bench Backend -benchtime 200x
//
// Each starts from a repo of backendRecords posts written in 200-record
// commits.
const backendRecords = 10_000

type backend struct {
	name string
	open func(b *testing.B) *atlite.Store
}

func backends(b *testing.B) []backend {
	bs := []backend{{"sqlite", func(b *testing.B) *atlite.Store {
		return mustOpen(b, b.TempDir()+"/bench.db")
	}}}
	if os.Getenv(testutil.EnvPostgres) != "" {
		bs = append(bs, backend{"postgres", func(b *testing.B) *atlite.Store {
			return mustOpen(b, testutil.PostgresURL(b))
		}})
	}
	return bs
}

func mustOpen(b *testing.B, path string) *atlite.Store {
	s, err := atlite.Open(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// preload creates the repos dids, each with n posts in 200-record commits.
func preload(b *testing.B, s *atlite.Store, dids []syntax.DID, n int) {
	for _, d := range dids {
		if _, err := s.CreateRepo(ctx, d, nil); err != nil {
			b.Fatal(err)
		}
		for i := 0; i < n; i += 200 {
			var ws []commit.Write
			for j := i; j < min(i+200, n); j++ {
				w, _ := commit.NewWrite(commit.Create, "app.bsky.feed.post", fmt.Sprintf("3k%011d", j), post(j))
				ws = append(ws, w)
			}
			if _, err := s.Commit(ctx, d, ws, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkBackend(b *testing.B) {
	for _, be := range backends(b) {
		b.Run(be.name+"/CommitSingle", func(b *testing.B) {
			s := be.open(b)
			preload(b, s, []syntax.DID{benchDID}, backendRecords)
			commitSingle(b, s)
		})
		b.Run(be.name+"/CommitBatch200", func(b *testing.B) {
			s := be.open(b)
			preload(b, s, []syntax.DID{benchDID}, backendRecords)
			commitBatch200(b, s)
		})
		for _, writers := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("%s/Writers%d", be.name, writers), func(b *testing.B) {
				s := be.open(b)
				dids := make([]syntax.DID, writers)
				for i := range dids {
					dids[i] = syntax.DID(fmt.Sprintf("did:web:w%d.example", i))
				}
				preload(b, s, dids, 1000)
				var n atomic.Int64
				b.ResetTimer()
				var wg sync.WaitGroup
				for _, d := range dids {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							i := n.Add(1)
							if i > int64(b.N) {
								return
							}
							w, _ := commit.NewWrite(commit.Create, "app.bsky.feed.post", s.NextTID().String(), post(int(i)))
							if _, err := s.Commit(ctx, d, []commit.Write{w}, nil); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
			})
		}
		b.Run(be.name+"/GetRecord", func(b *testing.B) {
			s := be.open(b)
			preload(b, s, []syntax.DID{benchDID}, backendRecords)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				rkey := syntax.RecordKey(fmt.Sprintf("3k%011d", i%backendRecords))
				if _, err := s.GetRecord(ctx, benchDID, "app.bsky.feed.post", rkey); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		var car []byte
		b.Run(be.name+"/Export", func(b *testing.B) {
			s := be.open(b)
			preload(b, s, []syntax.DID{benchDID}, backendRecords)
			var buf bytes.Buffer
			for b.Loop() {
				buf.Reset()
				if _, err := s.ExportCAR(ctx, benchDID, &buf, nil); err != nil {
					b.Fatal(err)
				}
			}
			car = bytes.Clone(buf.Bytes())
			b.ReportMetric(float64(buf.Len())*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
		})
		b.Run(be.name+"/Import", func(b *testing.B) {
			if car == nil {
				b.Skip("needs the Export benchmark's CAR")
			}
			for b.Loop() {
				b.StopTimer()
				s := be.open(b)
				b.StartTimer()
				if _, err := s.ImportCAR(ctx, bytes.NewReader(car), nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(backendRecords)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
