package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/syntax"
)

// The -gc workload (atlite only; issue 12's figures): the generated repo
// preloaded in 200-record commits, then gcSingles single-record creates,
// gcSingles updates and gcSingles deletes of preloaded records. It reports
// the file size with GC off, then after pruning the events to the newest
// 1,000 and to the newest one, each followed by GC and by VACUUM (or, on a
// file made with auto_vacuum=INCREMENTAL, PRAGMA incremental_vacuum), against
// the live data exported as a CAR; then single-record commit latency with
// GCs running beside the commits (at full speed and paced) against
// without.
const gcSingles = 1000

// gcLatency is how long each latency measurement of -gc commits (a
// variable for the test).
var gcLatency = 3 * time.Second

// gcFile is one file of the -gc workload and what was measured on it.
type gcFile struct {
	name string
	path string
	incr bool
	rows [][2]string
}

func runGC(ctx context.Context, cfg config) (string, error) {
	if cfg.N <= 2*gcSingles || cfg.Rounds < 1 {
		return "", fmt.Errorf("-gc needs -n > %d (it updates and deletes %d records) and -rounds >= 1", 2*gcSingles, 2*gcSingles)
	}
	recs := genRecords(cfg.N)
	akey, _, err := signingKeys()
	if err != nil {
		return "", err
	}
	var out strings.Builder
	var live int64
	for _, f := range []*gcFile{
		{name: "default (auto_vacuum off), GC then VACUUM", path: filepath.Join(cfg.Dir, "gc", "full.db")},
		{name: "auto_vacuum=INCREMENTAL, GC then PRAGMA incremental_vacuum", path: filepath.Join(cfg.Dir, "gc", "incr.db"), incr: true},
	} {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return "", err
		}
		if f.incr {
			// Set before the first table: the header keeps it.
			db, err := sql.Open("sqlite", f.path)
			if err != nil {
				return "", err
			}
			_, err = db.Exec(`PRAGMA auto_vacuum = INCREMENTAL; PRAGMA application_id = 1096043604`)
			db.Close()
			if err != nil {
				return "", err
			}
		}
		s, err := openAtlite(f.path)
		if err != nil {
			return "", err
		}
		t0 := time.Now()
		if err := createAtliteRepo(ctx, s, akey, recs[0]); err != nil {
			return "", err
		}
		rest := recs[1:]
		for i := 0; i < len(rest); i += atlite.MaxWritesPerCommit {
			ws, err := atliteWrites(rest[i:min(i+atlite.MaxWritesPerCommit, len(rest))])
			if err != nil {
				return "", err
			}
			if _, err := s.Commit(ctx, peerDID, ws, nil); err != nil {
				return "", err
			}
		}
		preload := time.Since(t0)
		fmt.Fprintf(cfg.Log, "gc: %s: preloaded %d records in %v\n", f.name, len(recs), preload.Round(time.Millisecond))
		// Creates, then updates and deletes of distinct preloaded records.
		rng := rand.New(rand.NewPCG(7, 8))
		picks := rng.Perm(len(rest))[:2*gcSingles]
		single := func(w commit.Write) error {
			_, err := s.Commit(ctx, peerDID, []commit.Write{w}, nil)
			return err
		}
		t0 = time.Now()
		for i := range gcSingles {
			ws, err := atliteWrites([]record{singlePost(i)})
			if err != nil {
				return "", err
			}
			if err := single(ws[0]); err != nil {
				return "", err
			}
		}
		for i, p := range picks {
			r := rest[p]
			w := commit.Write{Action: commit.Delete, Collection: syntax.NSID(r.collection), RKey: syntax.RecordKey(r.rkey)}
			if i < gcSingles {
				v, err := datamodel.UnmarshalMap(r.data)
				if err != nil {
					return "", err
				}
				v["edited"] = int64(i)
				b, err := datamodel.Marshal(v)
				if err != nil {
					return "", err
				}
				w = commit.Write{Action: commit.Update, Collection: w.Collection, RKey: w.RKey, Record: b}
			}
			if err := single(w); err != nil {
				return "", fmt.Errorf("%s %s: %w", w.Action, r.path(), err)
			}
		}
		fmt.Fprintf(cfg.Log, "gc: %s: %d creates, updates and deletes in %v\n", f.name, gcSingles, time.Since(t0).Round(time.Millisecond))

		// The live data, as a CAR.
		carPath := filepath.Join(cfg.Dir, "gc", "live.car")
		if err := writeFile(carPath, func(w io.Writer) error {
			_, err := s.ExportCAR(ctx, peerDID, w, nil)
			return err
		}); err != nil {
			return "", err
		}
		live = fileSize(carPath)

		// Single-record commit latency, GC off and on (a GC loop beside
		// the commits), interleaved.
		size := func() (int64, error) {
			if err := s.Close(); err != nil {
				return 0, err
			}
			n := fileSize(f.path)
			s, err = openAtlite(f.path)
			return n, err
		}
		n, err := size()
		if err != nil {
			return "", err
		}
		f.rows = append(f.rows, [2]string{"GC off (all events kept)", mb(n, live)})
		for _, keep := range []int{1000, 1} {
			if _, err := s.PruneEvents(ctx, &atlite.PruneEventsOptions{Before: time.Now().Add(time.Hour), Keep: keep, Limit: 1 << 30}); err != nil {
				return "", err
			}
			t := time.Now()
			r, err := s.GC(ctx, nil)
			if err != nil {
				return "", err
			}
			gcTime := time.Since(t)
			n, err := size()
			if err != nil {
				return "", err
			}
			f.rows = append(f.rows, [2]string{fmt.Sprintf("events pruned to the newest %d, GC (%d of %d blocks deleted, %.1f MB, in %v)", keep, r.Deleted, r.Examined, float64(r.DeletedBytes)/1e6, gcTime.Round(time.Millisecond)), mb(n, live)})
			t = time.Now()
			if f.incr {
				err = incrementalVacuum(f.path)
			} else {
				err = s.Vacuum(ctx)
			}
			if err != nil {
				return "", err
			}
			vt := time.Since(t)
			if n, err = size(); err != nil {
				return "", err
			}
			verb := "VACUUM"
			if f.incr {
				verb = "incremental_vacuum"
			}
			f.rows = append(f.rows, [2]string{fmt.Sprintf("... then %s (%v)", verb, vt.Round(time.Millisecond)), mb(n, live)})
		}
		// Single-record commit latency for 3 s each: no GC; GCs one after
		// another beside the commits, each after pruning the events to the
		// newest 1,000 (as serve does, but back to back), at full speed and
		// paced (GCOptions.Pace 3, serve's); rounds interleaved.
		next := 10 * gcSingles // singlePost's index: a new record key each
		lat := func(o *atlite.GCOptions) ([]time.Duration, int64, error) {
			var gcs atomic.Int64
			stop := make(chan struct{})
			done := make(chan error, 1)
			if o != nil {
				go func() {
					for {
						select {
						case <-stop:
							done <- nil
							return
						default:
						}
						if _, err := s.PruneEvents(ctx, &atlite.PruneEventsOptions{Before: time.Now().Add(time.Hour), Keep: 1000, Limit: 1 << 30}); err != nil {
							done <- err
							return
						}
						if _, err := s.GC(ctx, o); err != nil {
							done <- err
							return
						}
						gcs.Add(1)
					}
				}()
			}
			var ds []time.Duration
			for t0 := time.Now(); time.Since(t0) < gcLatency; {
				next++
				ws, err := atliteWrites([]record{singlePost(next)})
				if err != nil {
					return nil, 0, err
				}
				t := time.Now()
				if err := single(ws[0]); err != nil {
					return nil, 0, err
				}
				ds = append(ds, time.Since(t))
			}
			close(stop)
			if o != nil {
				if err := <-done; err != nil {
					return nil, 0, err
				}
			}
			slices.Sort(ds)
			return ds, gcs.Load(), nil
		}
		if !f.incr {
			for round := 1; round <= cfg.Rounds; round++ {
				for _, mode := range []struct {
					name string
					o    *atlite.GCOptions
				}{{"no GC", nil}, {"GC at full speed beside", &atlite.GCOptions{}}, {"GC paced (Pace 3) beside", &atlite.GCOptions{Pace: 3}}} {
					ds, n, err := lat(mode.o)
					if err != nil {
						return "", err
					}
					f.rows = append(f.rows, [2]string{fmt.Sprintf("single-record commits for %v, %s, round %d", gcLatency, mode.name, round),
						fmt.Sprintf("p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d commits, %d GCs)", ms(ds[len(ds)/2]), ms(ds[len(ds)*99/100]), ms(ds[len(ds)-1]), len(ds), n)})
				}
			}
		}
		if err := s.Check(ctx); err != nil {
			return "", fmt.Errorf("check after GC: %w", err)
		}
		if err := s.Close(); err != nil {
			return "", err
		}
		fmt.Fprintf(&out, "\n### %s\n\n| step | result |\n|---|---|\n", f.name)
		for _, r := range f.rows {
			fmt.Fprintf(&out, "| %s | %s |\n", r[0], r[1])
		}
	}
	fmt.Fprintf(&out, "\nlive data exported as a CAR: %.1f MB (%d records preloaded, %d creates, updates and deletes)\n", float64(live)/1e6, cfg.N, gcSingles)
	return out.String(), nil
}

// incrementalVacuum runs PRAGMA incremental_vacuum on the file, on a
// connection of its own (the store is idle meanwhile).
func incrementalVacuum(path string) error {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return err
	}
	defer db.Close()
	var mode int
	if err := db.QueryRow(`PRAGMA auto_vacuum`).Scan(&mode); err != nil {
		return err
	}
	if mode != 2 {
		return fmt.Errorf("auto_vacuum is %d, not 2 (incremental)", mode)
	}
	_, err = db.Exec(`PRAGMA busy_timeout = 10000; PRAGMA incremental_vacuum`)
	return err
}

// mb formats a file size and its ratio to the live CAR's.
func mb(n, live int64) string {
	return fmt.Sprintf("%.1f MB (%.2fx the live CAR)", float64(n)/1e6, float64(n)/float64(live))
}
