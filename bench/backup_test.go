package bench

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	sqlite "modernc.org/sqlite"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	atsqlite "github.com/atlite-dev/atlite/internal/sqlite"
)

// backupMethod is one way to snapshot the file at src to dest; run
// returns the number of steps it took.
type backupMethod struct {
	name string
	run  func(ctx context.Context, db *sql.DB, src, dest string) (steps int, err error)
}

// vacuumInto copies the file with VACUUM INTO (one read transaction).
func vacuumInto(ctx context.Context, db *sql.DB, src, dest string) (int, error) {
	_, err := db.ExecContext(ctx, "VACUUM INTO ?", fileURI(dest)+"?vfs=unix")
	return 1, err
}

// online copies the file with the online backup API in steps of pages
// (-1: all at once) inside one read transaction, sleeping pause between
// steps.
func online(pages int32, pause time.Duration) func(ctx context.Context, db *sql.DB, src, dest string) (int, error) {
	return func(ctx context.Context, db *sql.DB, src, dest string) (int, error) {
		conn, err := db.Conn(ctx)
		if err != nil {
			return 0, err
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
			return 0, err
		}
		defer conn.ExecContext(context.Background(), "ROLLBACK")
		var n int
		if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM repos").Scan(&n); err != nil {
			return 0, err
		}
		steps := 0
		err = conn.Raw(func(dc any) error {
			bk, err := dc.(interface {
				NewBackup(string) (*sqlite.Backup, error)
			}).NewBackup(fileURI(dest) + "?vfs=unix")
			if err != nil {
				return err
			}
			for {
				more, err := bk.Step(pages)
				steps++
				if err != nil {
					bk.Finish()
					return err
				}
				if !more {
					break
				}
				time.Sleep(pause)
			}
			return bk.Finish()
		})
		return steps, err
	}
}

// fileURI is the file: URI of path (sub-benchmark names, and so temporary
// directories, hold '#').
func fileURI(path string) string { return "file:" + atsqlite.EscapePath(path) }

// syncFileSize fsyncs the file at p and returns its size.
func syncFileSize(p string) (int64, error) {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// backupMethods are the ways to snapshot the file that were measured
// against each other; "store" is Store.Backup (the online backup API, paced).
var backupMethods = []backupMethod{
	{"idle", nil},
	{"vacuum-into", vacuumInto},
	{"online-unpaced", online(-1, 0)},
	{"store", nil},
}

// BenchmarkBackupMethods compares ways to snapshot the 100k-record file
// while single-record commits run (one snapshot after another, for the
// whole run): VACUUM INTO and the unpaced online backup from a connection
// pool of their own on the same file, and Store.Backup. It reports the
// commits' p50, p99 and max latency and the snapshots' MB/s; it runs the
// methods in turn, backupRounds times, so compare within one run:
//
//	go test -run '^$' -bench BackupMethods -benchtime 3000x ./bench/   # about 4 min
func BenchmarkBackupMethods(b *testing.B) {
	for range backupRounds {
		for _, m := range backupMethods {
			backupMethodRun(b, m)
		}
	}
}

// backupRounds is how many times BenchmarkBackupMethods runs every method,
// in turn: idle, vacuum-into, ..., then idle#01, vacuum-into#01, ...
const backupRounds = 3

// backupMethodRun runs the commits, with m's snapshots, as sub-benchmark
// m.name.
func backupMethodRun(b *testing.B, m backupMethod) {
	{
		b.Run(m.name, func(b *testing.B) {
			src := template(b)
			path := filepath.Join(b.TempDir(), "bench.db")
			data, err := os.ReadFile(src)
			if err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(path, data, 0o600); err != nil {
				b.Fatal(err)
			}
			s, err := atlite.Open(path, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			db, err := sql.Open("sqlite", fileURI(path)+"?_pragma=busy_timeout(5000)&_pragma=mmap_size(268435456)")
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			dir := b.TempDir()
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var backups, steps int
			var bytes int64
			var busy time.Duration
			run := m.run
			if m.name == "store" {
				run = func(ctx context.Context, db *sql.DB, src, dest string) (int, error) {
					_, err := s.Backup(ctx, dest)
					return 1, err
				}
			}
			if run != nil {
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
						t0 := time.Now()
						n, err := run(ctx, db, path, dest)
						if err != nil {
							b.Error(err)
							return
						}
						size, err := syncFileSize(dest)
						if err != nil {
							b.Error(err)
							return
						}
						busy += time.Since(t0)
						backups++
						steps += n
						bytes += size
						os.Remove(dest)
					}
				}()
			}
			lat := timedCommits(b, s)
			close(stop)
			wg.Wait()
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
			if run != nil {
				if backups == 0 {
					b.Fatal("no backup finished during the commits: raise -benchtime")
				}
				b.ReportMetric(float64(backups), "backups")
				b.ReportMetric(float64(bytes)/1e6/busy.Seconds(), "MB/s")
				b.ReportMetric(float64(steps)/float64(backups), "steps/backup")
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
