package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
)

// BenchmarkCommitDuringBackup: single-record commits into the 100k-record
// repo, alone ("idle") and while Store.Backup snapshots the file over and
// over in another goroutine ("backup"). It reports the commits' p50 and
// p99 latency, and the backups' MB/s; the bound is a p99 during a
// backup within 2x the idle one, so compare the two within one run.
func BenchmarkCommitDuringBackup(b *testing.B) {
	for _, mode := range []string{"idle", "backup"} {
		b.Run(mode, func(b *testing.B) {
			s := openCopy(b)
			dir := b.TempDir()
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var backups int
			var bytes int64
			var busy time.Duration
			if mode == "backup" {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						dest := filepath.Join(dir, fmt.Sprintf("copy-%d.db", i))
						res, err := s.Backup(ctx, dest)
						if err != nil {
							b.Error(err)
							return
						}
						backups++
						bytes += res.Bytes
						busy += res.Duration
						os.Remove(dest)
					}
				}()
			}
			lat := timedCommits(b, s)
			close(stop)
			wg.Wait()
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			if mode == "backup" {
				if backups == 0 {
					b.Fatal("no backup finished during the commits: raise -benchtime")
				}
				b.ReportMetric(float64(backups), "backups")
				b.ReportMetric(float64(bytes)/1e6/busy.Seconds(), "backup-MB/s")
			}
		})
	}
}

// timedCommits makes b.N single-record commits of a post into s's bench
// repo, in b.Loop, and returns their latencies, sorted.
func timedCommits(b *testing.B, s *atlite.Store) []time.Duration {
	lat := make([]time.Duration, 0, b.N)
	i := 0
	for b.Loop() {
		w, _ := commit.NewWrite(commit.Create, "app.bsky.feed.post", s.NextTID().String(), post(i))
		t0 := time.Now()
		if _, err := s.Commit(ctx, benchDID, []commit.Write{w}, nil); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
		i++
	}
	slices.Sort(lat)
	return lat
}
