package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-car"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/mst"
	"github.com/atlite-dev/atlite/syntax"
)

// config is one run's settings.
type config struct {
	N       int    // records in the generated repo
	Rounds  int    // rounds of each workload
	Singles int    // single-record commits per engine per round
	Gets    int    // GetRecord calls per engine per round
	Dir     string // working directory
	Mem     bool   // measure import and verify memory in child processes
	Log     io.Writer
}

// row is one line of the table: a value per round for each engine.
type row struct {
	name   string
	unit   string // "ms", "us", "MB", "records/s"
	higher bool   // a higher value is better (throughput)
	atlite []float64
	indigo []float64
	note   string
}

// result is what a run measured and the counts it checked.
type result struct {
	cfg  config
	rows []row
	// What each engine holds after the preload and the single commits.
	AtliteRecords, IndigoRecords int
	AtliteData, IndigoData       cid.Cid // MST roots after the preload
	// Blocks in each engine's full export.
	AtliteExportBlocks, IndigoExportBlocks int
	// Records each side found verifying and importing atlite's export.
	AtliteVerified, IndigoVerified int
	AtliteImported, IndigoImported int
	// Records atlite imported from indigo's export.
	CrossImported int
	// Child-process memory measures (MB), when cfg.Mem.
	Mem map[string]childResult
}

func (r *result) logf(format string, args ...any) {
	if r.cfg.Log != nil {
		fmt.Fprintf(r.cfg.Log, format+"\n", args...)
	}
}

// run generates the repo, feeds it to both engines and runs every workload.
func run(ctx context.Context, cfg config) (*result, error) {
	if cfg.N < 10 || cfg.Rounds < 1 || cfg.Singles < 1 || cfg.Gets < 1 {
		return nil, errors.New("need -n >= 10 and -rounds, -singles, -gets >= 1")
	}
	res := &result{cfg: cfg, Mem: map[string]childResult{}}
	recs := genRecords(cfg.N)
	akey, km, err := signingKeys()
	if err != nil {
		return nil, err
	}
	res.logf("generated %d records", len(recs))

	// Preload: the profile in a first commit, then 200-record commits,
	// alternating engines commit by commit.
	apath := filepath.Join(cfg.Dir, "atlite", "repo.db")
	idir := filepath.Join(cfg.Dir, "indigo", "repo")
	if err := os.MkdirAll(filepath.Dir(apath), 0o755); err != nil {
		return nil, err
	}
	as, err := openAtlite(apath)
	if err != nil {
		return nil, err
	}
	defer func() { as.Close() }()
	ie, err := openIndigo(idir, km)
	if err != nil {
		return nil, err
	}
	defer func() { ie.close() }()
	if err := createAtliteRepo(ctx, as, akey, recs[0]); err != nil {
		return nil, fmt.Errorf("atlite create repo: %w", err)
	}
	if err := ie.createRepo(ctx, km, recs[0]); err != nil {
		return nil, fmt.Errorf("indigo create repo: %w", err)
	}
	const batch = atlite.MaxWritesPerCommit
	rest := recs[1:]
	pre := row{name: fmt.Sprintf("%d-record commits (the preload; each of %d parts of the repo)", batch, cfg.Rounds), unit: "records/s", higher: true}
	part := (len(rest) + cfg.Rounds - 1) / cfg.Rounds
	for p := 0; p < cfg.Rounds; p++ {
		lo, hi := p*part, min((p+1)*part, len(rest))
		var ta, ti time.Duration
		for i := lo; i < hi; i += batch {
			chunk := rest[i:min(i+batch, hi)]
			aw, err := atliteWrites(chunk)
			if err != nil {
				return nil, err
			}
			iw := indigoWrites(chunk)
			t0 := time.Now()
			cr, err := as.Commit(ctx, peerDID, aw, nil)
			if err != nil {
				return nil, fmt.Errorf("atlite commit: %w", err)
			}
			t1 := time.Now()
			if err := ie.rm.BatchWrite(ctx, indigoUID, iw); err != nil {
				return nil, fmt.Errorf("indigo BatchWrite: %w", err)
			}
			ti += time.Since(t1)
			ta += t1.Sub(t0)
			res.AtliteData = cr.Commit.Data
		}
		pre.atlite = append(pre.atlite, float64(hi-lo)/ta.Seconds())
		pre.indigo = append(pre.indigo, float64(hi-lo)/ti.Seconds())
	}
	if res.IndigoData, _, err = ie.head(ctx); err != nil {
		return nil, fmt.Errorf("indigo head: %w", err)
	}
	if res.AtliteData != res.IndigoData {
		return nil, fmt.Errorf("MST roots differ after the preload: atlite %s, indigo %s", res.AtliteData, res.IndigoData)
	}
	res.logf("preloaded; MST root %s in both", res.AtliteData)
	if _, err := os.Stat(filepath.Join(idir, "db.sqlite3-wal")); err != nil {
		return nil, fmt.Errorf("indigo's carstore is not in WAL mode: %w", err)
	}

	// File size, after a checkpoint: closing the last connection
	// checkpoints the WAL in both.
	if err := as.Close(); err != nil {
		return nil, err
	}
	if err := ie.close(); err != nil {
		return nil, err
	}
	size := row{name: "file size after the preload (checkpointed)", unit: "MB",
		atlite: []float64{float64(fileSize(apath)) / 1e6},
		indigo: []float64{float64(fileSize(filepath.Join(idir, "db.sqlite3"))) / 1e6},
		note:   "ratio < 1: atlite's file is larger"}
	if as, err = openAtlite(apath); err != nil {
		return nil, err
	}
	if ie, err = openIndigo(idir, km); err != nil {
		return nil, err
	}

	// GetRecord at head, plain posts, the same keys in both.
	var posts []record
	for _, r := range recs {
		if r.collection == collPost && len(r.data) < 400 {
			posts = append(posts, r)
		}
	}
	get := row{name: "GetRecord at head, median", unit: "us", note: "indigo: repomgr.GetRecord, which also decodes the record"}
	rng := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < cfg.Rounds; round++ {
		da := make([]time.Duration, cfg.Gets)
		di := make([]time.Duration, cfg.Gets)
		for i := range da {
			r := posts[rng.IntN(len(posts))]
			coll, rkey := syntax.NSID(r.collection), syntax.RecordKey(r.rkey)
			t0 := time.Now()
			got, err := as.GetRecord(ctx, peerDID, coll, rkey)
			if err != nil {
				return nil, fmt.Errorf("atlite GetRecord %s: %w", r.path(), err)
			}
			t1 := time.Now()
			c, _, err := ie.rm.GetRecord(ctx, indigoUID, r.collection, r.rkey, cid.Undef)
			if err != nil {
				return nil, fmt.Errorf("indigo GetRecord %s: %w", r.path(), err)
			}
			di[i] = time.Since(t1)
			da[i] = t1.Sub(t0)
			if got.CID != c {
				return nil, fmt.Errorf("GetRecord %s: atlite %s, indigo %s", r.path(), got.CID, c)
			}
		}
		get.atlite = append(get.atlite, us(median(da)))
		get.indigo = append(get.indigo, us(median(di)))
	}
	res.logf("GetRecord done")

	// Single-record commits, with the floor given the blocks of the atlite
	// commit just before it.
	fl, err := newFloor(cfg.Dir, cfg.N*13/10, akey)
	if err != nil {
		return nil, err
	}
	defer fl.close()
	single := row{name: "single-record commit, median", unit: "ms"}
	floorRow := row{name: "floor: bare SQLite tx of atlite's blocks + head + signature, median", unit: "ms", note: "the floor's own time, in the atlite column"}
	next := 0
	for round := 0; round < cfg.Rounds; round++ {
		da := make([]time.Duration, cfg.Singles)
		di := make([]time.Duration, cfg.Singles)
		df := make([]time.Duration, cfg.Singles)
		for i := range da {
			r := singlePost(next)
			next++
			aw, err := atliteWrites([]record{r})
			if err != nil {
				return nil, err
			}
			iw := indigoWrites([]record{r})
			t0 := time.Now()
			cr, err := as.Commit(ctx, peerDID, aw, nil)
			if err != nil {
				return nil, fmt.Errorf("atlite commit: %w", err)
			}
			t1 := time.Now()
			if err := ie.rm.BatchWrite(ctx, indigoUID, iw); err != nil {
				return nil, fmt.Errorf("indigo BatchWrite: %w", err)
			}
			t2 := time.Now()
			bufs := make([][]byte, len(cr.Blocks))
			for j, b := range cr.Blocks {
				bufs[j] = make([]byte, len(b.Data))
			}
			t3 := time.Now()
			if err := fl.commit(bufs); err != nil {
				return nil, fmt.Errorf("floor: %w", err)
			}
			df[i] = time.Since(t3)
			di[i] = t2.Sub(t1)
			da[i] = t1.Sub(t0)
		}
		single.atlite = append(single.atlite, ms(median(da)))
		single.indigo = append(single.indigo, ms(median(di)))
		floorRow.atlite = append(floorRow.atlite, ms(median(df)))
	}
	res.logf("single commits done")
	indigoHead, n, err := ie.head(ctx)
	if err != nil {
		return nil, err
	}
	res.IndigoRecords = n

	// Full export to a file.
	acar := filepath.Join(cfg.Dir, "atlite-export.car")
	icar := filepath.Join(cfg.Dir, "indigo-export.car")
	export := row{name: "full export to a file", unit: "ms"}
	exportRate := row{name: "full export, blocks/s", unit: "blocks/s", higher: true}
	for round := 0; round < cfg.Rounds; round++ {
		var st atlite.ExportStats
		t0 := time.Now()
		if err := writeFile(acar, func(w io.Writer) error {
			var err error
			st, err = as.ExportCAR(ctx, peerDID, w, nil)
			return err
		}); err != nil {
			return nil, fmt.Errorf("atlite export: %w", err)
		}
		t1 := time.Now()
		if err := writeFile(icar, func(w io.Writer) error { return ie.rm.ReadRepo(ctx, indigoUID, "", w) }); err != nil {
			return nil, fmt.Errorf("indigo export: %w", err)
		}
		ti := time.Since(t1)
		ta := t1.Sub(t0)
		res.AtliteExportBlocks = st.Blocks
		if res.IndigoExportBlocks, err = countBlocks(icar); err != nil {
			return nil, fmt.Errorf("indigo export: %w", err)
		}
		export.atlite = append(export.atlite, ms(ta))
		export.indigo = append(export.indigo, ms(ti))
		exportRate.atlite = append(exportRate.atlite, float64(res.AtliteExportBlocks)/ta.Seconds())
		exportRate.indigo = append(exportRate.indigo, float64(res.IndigoExportBlocks)/ti.Seconds())
	}
	fi, err := os.Stat(acar)
	if err != nil {
		return nil, err
	}
	export.note = fmt.Sprintf("blocks: atlite %d (live, pre-order), indigo %d (every block stored, newest rev first); atlite CAR %.1f MB", res.AtliteExportBlocks, res.IndigoExportBlocks, float64(fi.Size())/1e6)
	res.logf("export done")

	// Load + verify the atlite export, no store.
	verify := row{name: "load + verify only (no store), atlite's CAR", unit: "ms", note: "indigo: atproto/repo LoadRepoFromCAR + VerifySignature + MST Verify + every record's block"}
	for round := 0; round < cfg.Rounds; round++ {
		// Each side starts on a collected heap, so that neither pays for
		// the garbage the other left (indigo's load peaks at 141-144 MB of Go
		// heap in its child process).
		runtime.GC()
		t0 := time.Now()
		var vr *atlite.VerifyResult
		if err := readFile(acar, func(r io.Reader) error {
			var err error
			vr, err = atlite.VerifyCAR(ctx, r, akey.PublicKey())
			return err
		}); err != nil {
			return nil, fmt.Errorf("atlite verify: %w", err)
		}
		t1 := time.Now()
		runtime.GC()
		t1b := time.Now()
		if err := readFile(acar, func(r io.Reader) error {
			var err error
			res.IndigoVerified, err = indigoVerify(ctx, r, km.pub)
			return err
		}); err != nil {
			return nil, fmt.Errorf("indigo verify: %w", err)
		}
		ti := time.Since(t1b)
		res.AtliteVerified = vr.Records
		res.AtliteRecords = vr.Records
		if vr.Data != indigoHead {
			return nil, fmt.Errorf("MST roots differ after the single commits: atlite %s, indigo %s", vr.Data, indigoHead)
		}
		verify.atlite = append(verify.atlite, ms(t1.Sub(t0)))
		verify.indigo = append(verify.indigo, ms(ti))
	}
	res.logf("verify done")

	// Import of the atlite export into a fresh store.
	imp := row{name: "import of atlite's CAR into a fresh store", unit: "ms", note: "atlite ImportCAR; indigo repomgr.ImportNewRepo; both check the signature"}
	for round := 0; round < cfg.Rounds; round++ {
		ta, ni, err := importAtlite(ctx, acar, filepath.Join(cfg.Dir, fmt.Sprintf("import-atlite-%d.db", round)), akey.PublicKey())
		if err != nil {
			return nil, err
		}
		ti, nj, err := importIndigo(ctx, acar, filepath.Join(cfg.Dir, fmt.Sprintf("import-indigo-%d", round)), km)
		if err != nil {
			return nil, err
		}
		res.AtliteImported, res.IndigoImported = ni, nj
		imp.atlite = append(imp.atlite, ms(ta))
		imp.indigo = append(imp.indigo, ms(ti))
	}
	// And the other way: atlite imports indigo's export (not timed).
	if _, res.CrossImported, err = importAtlite(ctx, icar, filepath.Join(cfg.Dir, "import-cross.db"), akey.PublicKey()); err != nil {
		return nil, fmt.Errorf("atlite import of indigo's export: %w", err)
	}
	res.logf("import done")

	if cfg.Mem {
		for _, mode := range []string{"import-atlite", "import-indigo", "verify-atlite", "verify-indigo"} {
			cr, err := runChild(mode, acar, filepath.Join(cfg.Dir, "child-"+mode))
			if err != nil {
				return nil, fmt.Errorf("child %s: %w", mode, err)
			}
			res.Mem[mode] = cr
		}
		memNote := func(a, i childResult) string {
			return fmt.Sprintf("; in a child process, atlite / indigo: peak RSS growth %.0f / %.0f MB, peak Go heap %.0f / %.0f MB, CPU %.2f / %.2f s (user+sys, whole process)",
				a.RSSMB, i.RSSMB, a.HeapMB, i.HeapMB, a.CPUSec, i.CPUSec)
		}
		imp.note += memNote(res.Mem["import-atlite"], res.Mem["import-indigo"])
		verify.note += memNote(res.Mem["verify-atlite"], res.Mem["verify-indigo"])
	}

	// The MST in memory, over the repo's keys.
	entries := make([]mst.Entry, len(recs))
	for i, r := range recs {
		entries[i] = mst.Entry{Key: r.path(), Value: datamodel.CBORCID(r.data)}
	}
	slices.SortFunc(entries, func(a, b mst.Entry) int { return strings.Compare(a.Key, b.Key) })
	build := row{name: "MST build (in memory), per key", unit: "us", note: "indigo: legacy mst (what repomgr uses), Add of every key + GetPointer; atlite: mst.Build"}
	insert := row{name: "MST insert of one key + root CID (in memory), median", unit: "us"}
	build2 := row{name: "MST build (in memory), per key, indigo atproto/repo/mst", unit: "us", note: "indigo's newer mutable tree, Insert of every key + RootCID"}
	insert2 := row{name: "MST insert of one key + root CID, indigo atproto/repo/mst, median", unit: "us", note: "in place, no copy"}
	diff := row{name: "MST diff, 10 keys apart (in memory), median", unit: "ms"}
	for round := 0; round < cfg.Rounds; round++ {
		am, ar, err := atliteMST(ctx, entries, round)
		if err != nil {
			return nil, err
		}
		im, ir, err := indigoMST(ctx, entries, round)
		if err != nil {
			return nil, err
		}
		nm, nr, err := indigoNewMST(entries, round)
		if err != nil {
			return nil, err
		}
		if ar != ir || ar != nr || ar != res.AtliteData {
			return nil, fmt.Errorf("in-memory MST roots differ: atlite %s, indigo %s and %s, repo %s", ar, ir, nr, res.AtliteData)
		}
		build2.atlite = append(build2.atlite, us(am.buildPerKey))
		build2.indigo = append(build2.indigo, us(nm.buildPerKey))
		insert2.atlite = append(insert2.atlite, us(am.insert))
		insert2.indigo = append(insert2.indigo, us(nm.insert))
		build.atlite = append(build.atlite, us(am.buildPerKey))
		build.indigo = append(build.indigo, us(im.buildPerKey))
		insert.atlite = append(insert.atlite, us(am.insert))
		insert.indigo = append(insert.indigo, us(im.insert))
		diff.atlite = append(diff.atlite, ms(am.diff))
		diff.indigo = append(diff.indigo, ms(im.diff))
	}
	res.logf("mst done")

	res.rows = []row{export, exportRate, imp, verify, pre, single, floorRow, size, get, build, insert, diff, build2, insert2}
	return res, nil
}

// importAtlite imports the CAR at car into a new Store at path and returns
// the time ImportCAR took and the records imported. The store is removed.
func importAtlite(ctx context.Context, carPath, path string, pub keys.PublicKey) (time.Duration, int, error) {
	s, err := openAtlite(path)
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(path)
	defer s.Close()
	opts := &atlite.ImportOptions{VerifyKey: pub}
	var ir *atlite.ImportResult
	t0 := time.Now()
	err = readFile(carPath, func(r io.Reader) error {
		var err error
		ir, err = s.ImportCAR(ctx, r, opts)
		return err
	})
	d := time.Since(t0)
	if err != nil {
		return 0, 0, fmt.Errorf("atlite import: %w", err)
	}
	return d, ir.Records, nil
}

// importIndigo imports the CAR into a new carstore in dir through
// repomgr.ImportNewRepo and returns the time and the records the store then
// holds. The store is removed.
func importIndigo(ctx context.Context, carPath, dir string, km *keyManager) (time.Duration, int, error) {
	e, err := openIndigo(dir, km)
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	defer e.close()
	t0 := time.Now()
	err = readFile(carPath, func(r io.Reader) error {
		return e.rm.ImportNewRepo(ctx, indigoUID, peerDID, r, nil)
	})
	d := time.Since(t0)
	if err != nil {
		return 0, 0, fmt.Errorf("indigo import: %w", err)
	}
	_, n, err := e.head(ctx)
	return d, n, err
}

// countBlocks counts the blocks of the CAR at path.
func countBlocks(path string) (int, error) {
	n := 0
	err := readFile(path, func(r io.Reader) error {
		cr, err := car.NewCarReader(r)
		if err != nil {
			return err
		}
		for {
			if _, err := cr.Next(); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			n++
		}
	})
	return n, err
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
