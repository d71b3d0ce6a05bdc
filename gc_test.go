package atlite_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/car"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/testutil"
	"github.com/atlite-dev/atlite/syntax"
)

// gcStore is a store whose clock moves one minute a call.
func gcStore(t *testing.T) *atlite.Store {
	t.Helper()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var minutes atomic.Int64
	return testutil.MustOpenStore(t, &atlite.Options{Now: func() time.Time {
		return base.Add(time.Duration(minutes.Add(1)) * time.Minute)
	}})
}

// gcPost is the record "post i", version v.
func gcPost(i, v int) map[string]any {
	return map[string]any{"$type": "app.bsky.feed.post", "text": fmt.Sprintf("post %d v%d", i, v), "createdAt": "2026-01-01T00:00:00.000Z"}
}

func gcRKey(i int) string { return fmt.Sprintf("3k%011d", i) }

// gcCommit commits writes of posts: for each i in from..to-1, action a
// with version v (v ignored for deletes).
func gcCommit(t *testing.T, s *atlite.Store, did syntax.DID, a commit.Action, from, to, v int) *atlite.CommitResult {
	t.Helper()
	var ws []commit.Write
	for i := from; i < to; i++ {
		var rec any
		if a != commit.Delete {
			rec = gcPost(i, v)
		}
		ws = append(ws, mustWrite(t, a, "app.bsky.feed.post", gcRKey(i), rec))
	}
	r, err := s.Commit(ctx, did, ws, nil)
	if err != nil {
		t.Fatalf("commit %s %d..%d: %v", a, from, to, err)
	}
	return r
}

// exportCIDs returns the full export of did and the CIDs of its blocks.
func exportCIDs(t *testing.T, s *atlite.Store, did syntax.DID, since syntax.TID) ([]byte, map[cid.Cid]bool) {
	t.Helper()
	var buf bytes.Buffer
	if _, err := s.ExportCAR(ctx, did, &buf, &atlite.ExportOptions{Since: since}); err != nil {
		t.Fatalf("export %s since %q: %v", did, since, err)
	}
	_, blocks, err := car.ReadAll(bytes.NewReader(buf.Bytes()), nil)
	if err != nil {
		t.Fatal(err)
	}
	set := make(map[cid.Cid]bool, len(blocks))
	for _, b := range blocks {
		set[b.CID] = true
	}
	return buf.Bytes(), set
}

// eventBlocks returns the CIDs every event of s lists (commit and blocks).
func eventBlocks(t *testing.T, s *atlite.Store) (map[cid.Cid]bool, []atlite.Event) {
	t.Helper()
	evs, err := s.Events(ctx, &atlite.EventsOptions{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	set := map[cid.Cid]bool{}
	for _, e := range evs {
		if e.Commit.Defined() {
			set[e.Commit] = true
		}
		for _, c := range e.Blocks {
			set[c] = true
		}
	}
	return set, evs
}

func mustGC(t *testing.T, s *atlite.Store, o *atlite.GCOptions) *atlite.GCResult {
	t.Helper()
	r, err := s.GC(ctx, o)
	if err != nil {
		t.Fatalf("GC(%+v) = %v", o, err)
	}
	return r
}

func mustCheck(t *testing.T, s *atlite.Store) {
	t.Helper()
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check = %v", err)
	}
}

// TestGC: with every event kept, nothing is garbage; once they are pruned,
// GC deletes exactly the blocks no repo's current tree holds (counted from
// the events, which list every block ever written, and the full exports),
// shares blocks between repos, frees a deleted repo's, and changes no
// export or retained event by one byte. A commit that rebuilds nodes GC
// deleted stores them again.
func TestGC(t *testing.T) {
	s := gcStore(t)
	alice := newRepo(t, s, "did:web:alice.example")
	bob := newRepo(t, s, "did:web:bob.example")
	carol := newRepo(t, s, "did:web:carol.example")
	for i := 0; i < 30; i += 10 {
		gcCommit(t, s, alice, commit.Create, i, i+10, 0)
	}
	gcCommit(t, s, bob, commit.Create, 0, 30, 0) // the same 30 records
	gcCommit(t, s, alice, commit.Update, 0, 10, 1)
	gcCommit(t, s, alice, commit.Delete, 10, 15, 0)
	gcCommit(t, s, bob, commit.Delete, 20, 25, 0) // alice keeps these
	gcCommit(t, s, carol, commit.Create, 100, 105, 0)
	if err := s.DeleteRepo(ctx, carol); err != nil {
		t.Fatal(err)
	}
	last := gcCommit(t, s, alice, commit.Create, 30, 31, 0) // the newest event

	written, evs := eventBlocks(t, s)
	aCAR, aSet := exportCIDs(t, s, alice, "")
	bCAR, bSet := exportCIDs(t, s, bob, "")
	live := map[cid.Cid]bool{}
	for c := range aSet {
		live[c] = true
	}
	for c := range bSet {
		live[c] = true
	}
	for c := range live {
		if !written[c] {
			t.Fatalf("block %s of an export is in no event", c)
		}
	}

	// Every event kept: every block is still served by one.
	dry := mustGC(t, s, &atlite.GCOptions{DryRun: true})
	if dry.Examined != int64(len(written)) || dry.Deleted != 0 {
		t.Fatalf("dry run, events kept = %+v, want %d examined, 0 deleted", dry, len(written))
	}
	if r := mustGC(t, s, nil); r.Examined != int64(len(written)) || r.Deleted != 0 || r.Repos != 2 {
		t.Fatalf("GC, events kept = %+v, want %d examined, 0 deleted, 2 repos", r, len(written))
	}

	// Keep only the newest event (alice's last commit, whose tree is her
	// current one): the garbage is what no export holds.
	newest := evs[len(evs)-1]
	if newest.Commit != last.CID {
		t.Fatalf("newest event is %s, want %s", newest.Commit, last.CID)
	}
	var evCAR bytes.Buffer
	if err := s.WriteEventCAR(ctx, newest, &evCAR); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PruneEvents(ctx, &atlite.PruneEventsOptions{Before: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), Keep: 1}); err != nil {
		t.Fatal(err)
	}
	garbage := len(written) - len(live)
	if garbage < 20 {
		t.Fatalf("only %d garbage blocks: the scenario is wrong", garbage)
	}
	dry = mustGC(t, s, &atlite.GCOptions{DryRun: true})
	if dry.Examined != int64(len(written)) || dry.Deleted != int64(garbage) || dry.Live != len(live) {
		t.Fatalf("dry run, pruned = %+v, want %d examined, %d deleted, %d live", dry, len(written), garbage, len(live))
	}
	r := mustGC(t, s, &atlite.GCOptions{Batch: 7, Pace: 3})
	if r.Examined != int64(len(written)) || r.Deleted != int64(garbage) || r.DeletedBytes != dry.DeletedBytes || r.DeletedBytes <= 0 {
		t.Fatalf("GC, pruned = %+v, want %d examined, %d deleted (%d bytes)", r, len(written), garbage, dry.DeletedBytes)
	}
	for c := range written {
		has, err := s.HasBlock(ctx, c)
		if err != nil || has != live[c] {
			t.Fatalf("HasBlock(%s) = %v, %v after GC, want %v", c, has, err, live[c])
		}
	}
	mustCheck(t, s)
	if got, _ := exportCIDs(t, s, alice, ""); !bytes.Equal(got, aCAR) {
		t.Fatal("alice's export changed")
	}
	if got, _ := exportCIDs(t, s, bob, ""); !bytes.Equal(got, bCAR) {
		t.Fatal("bob's export changed")
	}
	var evCAR2 bytes.Buffer
	if err := s.WriteEventCAR(ctx, newest, &evCAR2); err != nil || !bytes.Equal(evCAR2.Bytes(), evCAR.Bytes()) {
		t.Fatalf("the kept event's CAR changed (%v)", err)
	}
	if again := mustGC(t, s, nil); again.Deleted != 0 || again.Examined != int64(len(live)) {
		t.Fatalf("second GC = %+v, want 0 deleted of %d", again, len(live))
	}

	// Deleting the last post rebuilds alice's tree before it: nodes GC
	// deleted, stored again by the commit.
	gcCommit(t, s, alice, commit.Delete, 30, 31, 0)
	mustCheck(t, s)
	if _, err := s.PruneEvents(ctx, &atlite.PruneEventsOptions{Before: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), Keep: 1}); err != nil {
		t.Fatal(err)
	}
	mustGC(t, s, nil)
	mustCheck(t, s)
	if got, _ := exportCIDs(t, s, bob, ""); !bytes.Equal(got, bCAR) {
		t.Fatal("bob's export changed")
	}
}

// TestGCExportSince: an export since any kept rev is the same bytes after
// GC, though the nodes it diffs against are no longer in any current tree.
func TestGCExportSince(t *testing.T) {
	s := gcStore(t)
	alice := newRepo(t, s, "did:web:alice.example")
	var revs []syntax.TID
	for i := 0; i < 40; i += 5 {
		revs = append(revs, gcCommit(t, s, alice, commit.Create, i, i+5, 0).Rev)
	}
	for v := 1; v <= 3; v++ {
		revs = append(revs, gcCommit(t, s, alice, commit.Update, 0, 8, v).Rev)
		revs = append(revs, gcCommit(t, s, alice, commit.Delete, 8*v, 8*v+2, 0).Rev)
	}
	// Keep the last 6 commits' events.
	if _, err := s.PruneEvents(ctx, &atlite.PruneEventsOptions{Before: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), Keep: 6}); err != nil {
		t.Fatal(err)
	}
	kept := revs[len(revs)-6:]
	before := map[syntax.TID][]byte{}
	for _, rev := range kept {
		before[rev], _ = exportCIDs(t, s, alice, rev)
	}
	if r := mustGC(t, s, nil); r.Deleted == 0 {
		t.Fatalf("GC = %+v, want some garbage (the pruned commits' nodes)", r)
	}
	mustCheck(t, s)
	for _, rev := range kept {
		if got, _ := exportCIDs(t, s, alice, rev); !bytes.Equal(got, before[rev]) {
			t.Fatalf("export since %s changed after GC", rev)
		}
	}
}

// TestGCCatchUp: what commits and new repos make live between GC's mark
// and its sweep (nodes rebuilt identical to garbage ones, a record block
// that was garbage, cited again by a new repo) is kept: the sweep's
// transactions mark it first.
func TestGCCatchUp(t *testing.T) {
	s := gcStore(t)
	alice := newRepo(t, s, "did:web:alice.example")
	gcCommit(t, s, alice, commit.Create, 0, 20, 0)
	gcCommit(t, s, alice, commit.Delete, 0, 5, 0)   // records 0-4: garbage once pruned
	gcCommit(t, s, alice, commit.Create, 50, 51, 0) // its old tree: garbage once pruned
	if _, err := s.PruneEvents(ctx, &atlite.PruneEventsOptions{Before: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), Keep: 1}); err != nil {
		t.Fatal(err)
	}
	var bob syntax.DID
	s.SetGCMarked(func() {
		gcCommit(t, s, alice, commit.Delete, 50, 51, 0) // back to the garbage tree
		bob = newRepo(t, s, "did:web:bob.example")
		gcCommit(t, s, bob, commit.Create, 0, 5, 0) // alice's deleted records
	})
	r := mustGC(t, s, &atlite.GCOptions{Batch: 5})
	mustCheck(t, s)
	if r.Deleted == 0 || r.Repos != 2 {
		t.Fatalf("GC = %+v, want some deleted, 2 repos", r)
	}
	for i := 0; i < 5; i++ {
		if _, err := s.GetRecord(ctx, bob, "app.bsky.feed.post", syntax.RecordKey(gcRKey(i))); err != nil {
			t.Fatalf("bob's record %d: %v", i, err)
		}
	}
	s.SetGCMarked(nil)
	if again := mustGC(t, s, &atlite.GCOptions{DryRun: true}); again.Deleted != 0 {
		t.Fatalf("dry run after GC = %+v, want nothing more to delete", again)
	}
}

// TestGCWhileCommitting: GC in batches of 3 while a writer creates and
// deletes the same records over and over (so that it keeps rebuilding
// nodes GC may have found garbage) and events are pruned: nothing live is
// deleted.
func TestGCWhileCommitting(t *testing.T) {
	s := gcStore(t)
	alice := newRepo(t, s, "did:web:alice.example")
	gcCommit(t, s, alice, commit.Create, 0, 30, 0)
	// Garbage for the first GC, whatever the writer has done by then.
	gcCommit(t, s, alice, commit.Update, 0, 10, 1)
	if _, err := s.PruneEvents(ctx, &atlite.PruneEventsOptions{Before: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), Keep: 1}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var errs atomic.Value
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			a := commit.Create
			if i%2 == 1 {
				a = commit.Delete
			}
			var rec any
			if a == commit.Create {
				rec = gcPost(100, 0)
			}
			if _, err := s.Commit(ctx, alice, []commit.Write{mustWrite(t, a, "app.bsky.feed.post", gcRKey(100), rec)}, nil); err != nil {
				errs.Store(err)
				return
			}
			if _, err := s.PruneEvents(ctx, &atlite.PruneEventsOptions{Before: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), Keep: 1}); err != nil {
				errs.Store(err)
				return
			}
		}
	}()
	var deleted int64
	for range 5 {
		deleted += mustGC(t, s, &atlite.GCOptions{Batch: 3}).Deleted
	}
	close(stop)
	wg.Wait()
	if err, _ := errs.Load().(error); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, s)
	if deleted == 0 {
		t.Fatal("GC deleted nothing")
	}
	if _, err := s.PruneEvents(ctx, &atlite.PruneEventsOptions{Before: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), Keep: 1}); err != nil {
		t.Fatal(err)
	}
	mustGC(t, s, nil)
	mustCheck(t, s)
	if _, set := exportCIDs(t, s, alice, ""); len(set) == 0 {
		t.Fatal("empty export")
	}
}

// TestGCImport: a repo moved by imports keeps, after GC, the trees that
// its kept #sync events name (an export since an imported rev diffs
// against it) and its current tree, whose blocks no event lists.
func TestGCImport(t *testing.T) {
	src := gcStore(t)
	alice := newRepo(t, src, "did:web:alice.example")
	gcCommit(t, src, alice, commit.Create, 0, 20, 0)
	car1, _ := exportCIDs(t, src, alice, "")
	gcCommit(t, src, alice, commit.Update, 0, 5, 1)
	gcCommit(t, src, alice, commit.Delete, 10, 15, 0)
	car2, _ := exportCIDs(t, src, alice, "")

	s := gcStore(t)
	imp := func(b []byte) *atlite.ImportResult {
		t.Helper()
		r, err := s.ImportCAR(ctx, bytes.NewReader(b), &atlite.ImportOptions{SigningKey: testutil.TestKey(t), Force: true})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	imp(car1)
	gcCommit(t, s, alice, commit.Create, 30, 35, 0)
	second := imp(car2)
	gcCommit(t, s, alice, commit.Create, 40, 43, 0)
	gcCommit(t, s, alice, commit.Update, 0, 3, 2)
	// Keep the second import's #sync event, the commit before it and what
	// follows.
	evs, err := s.Events(ctx, &atlite.EventsOptions{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	keep := -1
	for i, e := range evs {
		if e.Kind == atlite.KindSync && e.Rev == second.Repo.Rev {
			// From the commit before it: the oldest kept event is a
			// commit, so the sync's own tree must be kept for its rev.
			if evs[i-1].Kind != atlite.KindCommit {
				t.Fatalf("event before the #sync is %s", evs[i-1].Kind)
			}
			keep = len(evs) - i + 1
		}
	}
	if keep < 0 {
		t.Fatalf("no #sync event at rev %s", second.Repo.Rev)
	}
	if _, err := s.PruneEvents(ctx, &atlite.PruneEventsOptions{Before: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), Keep: keep}); err != nil {
		t.Fatal(err)
	}
	full, _ := exportCIDs(t, s, alice, "")
	since, _ := exportCIDs(t, s, alice, second.Repo.Rev)
	if r := mustGC(t, s, nil); r.Deleted == 0 {
		t.Fatalf("GC = %+v, want the first import's replaced nodes deleted", r)
	}
	mustCheck(t, s)
	if got, _ := exportCIDs(t, s, alice, ""); !bytes.Equal(got, full) {
		t.Fatal("the export changed")
	}
	if got, _ := exportCIDs(t, s, alice, second.Repo.Rev); !bytes.Equal(got, since) {
		t.Fatalf("the export since %s changed", second.Repo.Rev)
	}
}

// TestGCVacuum: after GC, Vacuum gives the freed pages back (a SQLite file
// shrinks) and the store is whole.
func TestGCVacuum(t *testing.T) {
	s, path := testutil.MustOpenFileStore(t, nil)
	alice := newRepo(t, s, "did:web:alice.example")
	for v := 0; v < 8; v++ {
		for i := 0; i < 400; i += 100 {
			a := commit.Create
			if v > 0 {
				a = commit.Update
			}
			gcCommit(t, s, alice, a, i, i+100, v)
		}
	}
	if _, err := s.PruneEvents(ctx, &atlite.PruneEventsOptions{Before: time.Now().Add(time.Hour), Keep: 1}); err != nil {
		t.Fatal(err)
	}
	full, _ := exportCIDs(t, s, alice, "")
	if r := mustGC(t, s, nil); r.Deleted < 7*400 {
		t.Fatalf("GC = %+v, want the 2,800 replaced records deleted at least", r)
	}
	// The file's size: SQLite only (a PostgreSQL VACUUM makes the space
	// reusable without shrinking the files, so there is nothing to
	// compare; the rest of the test runs on both).
	sqlite := testutil.Backend() != testutil.BackendPostgres
	size := func() int64 {
		var n int64
		for _, suffix := range []string{"", "-wal"} {
			if fi, err := os.Stat(path + suffix); err == nil {
				n += fi.Size()
			}
		}
		return n
	}
	// Checkpoint what GC wrote, so the file holds its pages.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var before int64
	if sqlite {
		before = size()
	}
	s2, err := atlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.Vacuum(ctx); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, s2)
	if got, _ := exportCIDs(t, s2, alice, ""); !bytes.Equal(got, full) {
		t.Fatal("the export changed")
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if !sqlite {
		return
	}
	after := size()
	t.Logf("file: %d bytes before VACUUM, %d after", before, after)
	if after > before/2 {
		t.Fatalf("file is %d bytes after VACUUM, %d before: want at most half", after, before)
	}
}

// TestGetRepoBlocks: a repo's blocks are its head, what its kept events
// carry and its current tree; another repo's blocks, its own replaced ones
// whose events were pruned, and unknown CIDs are missing.
func TestGetRepoBlocks(t *testing.T) {
	s := gcStore(t)
	alice := newRepo(t, s, "did:web:alice.example")
	bob := newRepo(t, s, "did:web:bob.example")
	gcCommit(t, s, alice, commit.Create, 0, 20, 0)
	old, err := s.GetRecord(ctx, alice, "app.bsky.feed.post", syntax.RecordKey(gcRKey(0)))
	if err != nil {
		t.Fatal(err)
	}
	ar := gcCommit(t, s, alice, commit.Update, 0, 2, 1)
	gcCommit(t, s, bob, commit.Create, 10, 12, 0) // alice's records 10 and 11
	br := gcCommit(t, s, bob, commit.Create, 100, 101, 0)
	// Keep bob's last commit's event only.
	if _, err := s.PruneEvents(ctx, &atlite.PruneEventsOptions{Before: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), Keep: 1}); err != nil {
		t.Fatal(err)
	}
	rec := func(did syntax.DID, i int) cid.Cid {
		t.Helper()
		r, err := s.GetRecord(ctx, did, "app.bsky.feed.post", syntax.RecordKey(gcRKey(i)))
		if err != nil {
			t.Fatal(err)
		}
		return r.CID
	}
	shared, bobOnly, aliceOnly := rec(bob, 10), rec(bob, 100), rec(alice, 5)
	unknown := cborCID(t, map[string]any{"not": "stored"})
	for _, tt := range []struct {
		did           syntax.DID
		ask           []cid.Cid
		found, absent []cid.Cid
	}{
		// Alice's events are all pruned: her tree (walked) and head.
		{alice, []cid.Cid{ar.CID, ar.Commit.Data, shared, aliceOnly, bobOnly, old.CID, br.CID, unknown},
			[]cid.Cid{ar.CID, ar.Commit.Data, shared, aliceOnly}, []cid.Cid{bobOnly, old.CID, br.CID, unknown}},
		// Bob's: his kept event carries his head and the new record.
		{bob, []cid.Cid{br.CID, bobOnly, shared, aliceOnly, ar.CID, ar.Commit.Data},
			[]cid.Cid{br.CID, bobOnly, shared}, []cid.Cid{aliceOnly, ar.CID, ar.Commit.Data}},
	} {
		found, missing, err := s.GetRepoBlocks(ctx, tt.did, tt.ask)
		if err != nil {
			t.Fatalf("GetRepoBlocks(%s) = %v", tt.did, err)
		}
		var got []cid.Cid
		for _, b := range found {
			stored, err := s.GetBlock(ctx, b.CID)
			if err != nil || !bytes.Equal(stored, b.Data) {
				t.Fatalf("block %s: %v", b.CID, err)
			}
			got = append(got, b.CID)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.found) || fmt.Sprint(missing) != fmt.Sprint(tt.absent) {
			t.Errorf("GetRepoBlocks(%s):\nfound   %v\nmissing %v\nwant    %v\nand     %v", tt.did, got, missing, tt.found, tt.absent)
		}
	}
	if _, _, err := s.GetRepoBlocks(ctx, "did:web:nobody.example", []cid.Cid{unknown}); !errors.Is(err, atlite.ErrRepoNotFound) {
		t.Errorf("GetRepoBlocks(unknown repo) = %v, want ErrRepoNotFound", err)
	}
}

// TestGCOldFile: GC needs no schema change, so it runs on a file made by
// the version-1 code (testdata/schema-v1.db, migrated on open): with its
// events kept nothing goes, and once they are pruned the replaced blocks
// do, leaving a file that Check passes with every export unchanged.
func TestGCOldFile(t *testing.T) {
	s, err := atlite.Open(copyFixture(t, "schema-v1.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	repos, _, err := s.ListRepos(ctx, nil)
	if err != nil || len(repos) != 3 {
		t.Fatalf("ListRepos = %d, %v", len(repos), err)
	}
	cars := map[syntax.DID][]byte{}
	for _, r := range repos {
		cars[r.DID], _ = exportCIDs(t, s, r.DID, "")
	}
	written, _ := eventBlocks(t, s)
	if r := mustGC(t, s, nil); r.Deleted != 0 || r.Examined != int64(len(written)) || r.Repos != 3 {
		t.Fatalf("GC, events kept = %+v, want none of %d deleted, 3 repos", r, len(written))
	}
	if _, err := s.PruneEvents(ctx, &atlite.PruneEventsOptions{Before: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), Keep: 1}); err != nil {
		t.Fatal(err)
	}
	// 13 blocks: each repo's genesis commit, the empty tree's node they
	// share, and each repo's second commit, its root node and its record.
	// The genesis commits and the empty node are garbage.
	r := mustGC(t, s, nil)
	if r.Deleted != 4 || r.Live != 9 || r.Examined != 13 {
		t.Fatalf("GC after pruning = %+v, want 4 of 13 deleted, 9 live", r)
	}
	mustCheck(t, s)
	for _, rp := range repos {
		if got, _ := exportCIDs(t, s, rp.DID, ""); !bytes.Equal(got, cars[rp.DID]) {
			t.Errorf("export of %s changed", rp.DID)
		}
	}
}

// TestGCConcurrentGCs: a GC that runs between another's mark and sweep
// deletes the newest rows, and SQLite gives their ids to the next commit's
// blocks; the second GC must not delete those by id (it deletes a row
// only while it holds the key it marked garbage).
func TestGCConcurrentGCs(t *testing.T) {
	s := gcStore(t)
	alice := newRepo(t, s, "did:web:alice.example")
	carol := newRepo(t, s, "did:web:carol.example")
	gcCommit(t, s, alice, commit.Create, 0, 10, 0)
	gcCommit(t, s, carol, commit.Create, 500, 510, 0) // the newest blocks
	if err := s.DeleteRepo(ctx, carol); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PruneEvents(ctx, &atlite.PruneEventsOptions{Before: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), Keep: 1}); err != nil {
		t.Fatal(err)
	}
	var inner *atlite.GCResult
	s.SetGCMarked(func() {
		s.SetGCMarked(nil)
		inner = mustGC(t, s, nil) // deletes carol's blocks, the newest rows
		gcCommit(t, s, alice, commit.Create, 10, 20, 0)
	})
	outer := mustGC(t, s, nil)
	mustCheck(t, s)
	if inner == nil || inner.Deleted == 0 {
		t.Fatalf("inner GC = %+v, want carol's blocks deleted", inner)
	}
	if outer.Deleted != 0 {
		t.Errorf("outer GC deleted %d blocks the inner one had deleted already", outer.Deleted)
	}
	for i := 0; i < 20; i++ {
		if _, err := s.GetRecord(ctx, alice, "app.bsky.feed.post", syntax.RecordKey(gcRKey(i))); err != nil {
			t.Fatalf("alice's record %d: %v", i, err)
		}
	}
}

// TestGCKeepsInactiveRepos: the trees of deactivated, taken-down and
// tombstoned repos are live (an export with IncludeInactive still serves
// them, and they may come back); only a deleted repo's go.
func TestGCKeepsInactiveRepos(t *testing.T) {
	s := gcStore(t)
	type repo struct {
		did    syntax.DID
		status func(context.Context, syntax.DID) error
		car    []byte
	}
	repos := []*repo{
		{did: "did:web:deactivated.example", status: s.Deactivate},
		{did: "did:web:takendown.example", status: s.Takedown},
		{did: "did:web:tombstoned.example", status: s.Tombstone},
	}
	for i, r := range repos {
		newRepo(t, s, r.did.String())
		gcCommit(t, s, r.did, commit.Create, 1000*i, 1000*i+20, 0)
		var buf bytes.Buffer
		if _, err := s.ExportCAR(ctx, r.did, &buf, nil); err != nil {
			t.Fatal(err)
		}
		r.car = buf.Bytes()
		if err := r.status(ctx, r.did); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PruneEvents(ctx, &atlite.PruneEventsOptions{Before: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), Keep: 1}); err != nil {
		t.Fatal(err)
	}
	// Each repo's genesis commit and empty node are garbage; nothing else.
	r := mustGC(t, s, nil)
	if r.Repos != 3 || r.Deleted != 4 {
		t.Fatalf("GC = %+v, want 3 repos, 4 deleted (3 genesis commits and the empty node)", r)
	}
	mustCheck(t, s)
	for _, rp := range repos {
		var buf bytes.Buffer
		if _, err := s.ExportCAR(ctx, rp.did, &buf, &atlite.ExportOptions{IncludeInactive: true}); err != nil || !bytes.Equal(buf.Bytes(), rp.car) {
			t.Errorf("export of %s after GC: %v, same bytes %v", rp.did, err, bytes.Equal(buf.Bytes(), rp.car))
		}
	}
}
