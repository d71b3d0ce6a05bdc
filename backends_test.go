package atlite_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/testutil"
	"github.com/atlite-dev/atlite/syntax"
)

// needPostgres skips unless ATLITE_TEST_POSTGRES names a server. The tests
// that use it open their stores themselves, so they run in the SQLite half
// of the matrix only (once).
func needPostgres(t *testing.T) {
	t.Helper()
	if os.Getenv(testutil.EnvPostgres) == "" {
		t.Skip("set ATLITE_TEST_POSTGRES to a PostgreSQL server URL to run this test (see .ci/postgres.sh)")
	}
	if testutil.Backend() == testutil.BackendPostgres {
		t.Skip("runs once, in the SQLite half of the matrix")
	}
}

// backendWrites applies the same commits to s: creates, an update, a
// delete, a 50-record commit and a record citing a blob.
func backendWrites(t *testing.T, s *atlite.Store, did syntax.DID) {
	t.Helper()
	ctx := context.Background()
	mk := func(a commit.Action, coll, rkey string, rec map[string]any) commit.Write {
		w, err := commit.NewWrite(a, coll, rkey, rec)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	post := func(text string) map[string]any {
		return map[string]any{"$type": "app.bsky.feed.post", "text": text, "createdAt": "2022-01-02T03:04:05.000Z"}
	}
	var batch []commit.Write
	for i := range 50 {
		batch = append(batch, mk(commit.Create, "app.bsky.feed.post", fmt.Sprintf("3k%011d", i), post(fmt.Sprint("post ", i))))
	}
	b, err := s.UploadBlob(ctx, did, bytes.NewReader([]byte("an image")), "image/png", nil)
	if err != nil {
		t.Fatal(err)
	}
	blob := map[string]any{"$type": "blob", "ref": b.CID, "mimeType": "image/png", "size": int64(8)}
	commits := [][]commit.Write{
		{mk(commit.Create, "app.bsky.actor.profile", "self", map[string]any{"$type": "app.bsky.actor.profile", "displayName": "Alice"})},
		batch,
		{mk(commit.Update, "app.bsky.feed.post", "3k00000000007", post("edited")), mk(commit.Delete, "app.bsky.feed.post", "3k00000000008", nil)},
		{mk(commit.Update, "app.bsky.actor.profile", "self", map[string]any{"$type": "app.bsky.actor.profile", "displayName": "Alice", "avatar": blob})},
	}
	for i, ws := range commits {
		if _, err := s.Commit(ctx, did, ws, nil); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
}

// TestBackendsSameBytes writes one repo through the same writes on SQLite
// and on PostgreSQL: the head, the CAR export and the event stream must be
// byte for byte the same.
func TestBackendsSameBytes(t *testing.T) {
	needPostgres(t)
	ctx := context.Background()
	did := syntax.DID("did:web:same.example")
	open := func(path string) *atlite.Store {
		// A clock that stands still: the backends may read it a different
		// number of times; the TID clock still hands out increasing revs.
		now := func() time.Time { return testutil.Now }
		s, err := atlite.Open(path, &atlite.Options{Now: now, ClockID: 7})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if _, err := s.CreateRepo(ctx, did, &atlite.CreateRepoOptions{Handle: "same.example", SigningKey: testutil.TestKey(t)}); err != nil {
			t.Fatal(err)
		}
		backendWrites(t, s, did)
		return s
	}
	lite, pg := open(":memory:"), open(testutil.PostgresURL(t))

	rl, err := lite.LoadRepo(ctx, did.AtIdentifier())
	if err != nil {
		t.Fatal(err)
	}
	rp, err := pg.LoadRepo(ctx, did.AtIdentifier())
	if err != nil {
		t.Fatal(err)
	}
	if rl.Head != rp.Head || rl.Rev != rp.Rev || rl.Data != rp.Data {
		t.Errorf("heads differ: sqlite %s rev %s data %s, postgres %s rev %s data %s", rl.Head, rl.Rev, rl.Data, rp.Head, rp.Rev, rp.Data)
	}
	var cl, cp bytes.Buffer
	if _, err := lite.ExportCAR(ctx, did, &cl, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := pg.ExportCAR(ctx, did, &cp, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cl.Bytes(), cp.Bytes()) || cl.Len() == 0 {
		t.Errorf("exports differ: sqlite %d bytes, postgres %d bytes", cl.Len(), cp.Len())
	}
	el, err := lite.Events(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := pg.Events(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(el) != 7 || len(ep) != len(el) {
		t.Fatalf("events: sqlite %d, postgres %d, want 7 (identity, account, 5 commits)", len(el), len(ep))
	}
	for i := range el {
		jl, _ := atlite.EventJSON(el[i])
		jp, _ := atlite.EventJSON(ep[i])
		if !bytes.Equal(jl, jp) {
			t.Errorf("event %d differs:\nsqlite   %s\npostgres %s", i, jl, jp)
		}
		if el[i].Kind != atlite.KindCommit {
			continue
		}
		var fl, fp bytes.Buffer
		if err := lite.WriteEventCAR(ctx, el[i], &fl); err != nil {
			t.Fatal(err)
		}
		if err := pg.WriteEventCAR(ctx, ep[i], &fp); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fl.Bytes(), fp.Bytes()) {
			t.Errorf("event %d: frame CARs differ (%d and %d bytes)", i, fl.Len(), fp.Len())
		}
	}
	for _, s := range []*atlite.Store{lite, pg} {
		if err := s.Check(ctx); err != nil {
			t.Errorf("Check: %v", err)
		}
	}
}

// TestPostgresConcurrentStores runs 4 Stores, each with its own connection
// pool, on one PostgreSQL database: 8 goroutines each commit 100 records
// over 8 repos. No write is lost, seqs run 1..N with no gap, every repo's
// prev chain is whole, and Check is clean.
func TestPostgresConcurrentStores(t *testing.T) {
	needPostgres(t)
	if testing.Short() {
		t.Skip("3,200 commits; skipped with -short")
	}
	ctx := context.Background()
	url := testutil.PostgresURL(t)
	var stores []*atlite.Store
	for range 4 {
		s, err := atlite.Open(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	var dids []syntax.DID
	for i := range 8 {
		d := syntax.DID(fmt.Sprintf("did:web:r%d.example", i))
		if _, err := stores[i%4].CreateRepo(ctx, d, nil); err != nil {
			t.Fatal(err)
		}
		dids = append(dids, d)
	}
	const perWriter = 100
	var wg sync.WaitGroup
	errs := make(chan error, 4*8)
	for si, s := range stores {
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range perWriter {
					d := dids[(si*8+g+n)%8] // every writer hits every repo
					rkey := fmt.Sprintf("s%dg%dn%03d", si, g, n)
					w, err := commit.NewWrite(commit.Create, "app.bsky.feed.post", rkey, map[string]any{"$type": "app.bsky.feed.post", "text": rkey, "createdAt": "2022-01-02T03:04:05.000Z"})
					if err == nil {
						_, err = s.Commit(ctx, d, []commit.Write{w}, nil)
					}
					if err != nil {
						errs <- fmt.Errorf("store %d writer %d commit %d: %w", si, g, n, err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s := stores[0]
	total := 0
	for _, d := range dids {
		var n int
		cursor := ""
		for {
			recs, next, err := s.ListRecords(ctx, d, "app.bsky.feed.post", &atlite.ListRecordsOptions{Limit: 100, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			n += len(recs)
			if next == "" {
				break
			}
			cursor = next
		}
		total += n
		// The prev chain: one commit per record, plus the first.
		r, err := s.LoadRepo(ctx, d.AtIdentifier())
		if err != nil {
			t.Fatal(err)
		}
		chain := 0
		for c := r.Head; c.Defined(); chain++ {
			b, err := s.GetBlock(ctx, c)
			if err != nil {
				t.Fatalf("%s: commit %s: %v", d, c, err)
			}
			cm, err := commit.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			c = cm.Prev
		}
		if chain != n+1 {
			t.Errorf("%s: prev chain of %d commits, want %d (records + the first)", d, chain, n+1)
		}
	}
	if want := 4 * 8 * perWriter; total != want {
		t.Errorf("%d records, want %d", total, want)
	}
	// 8 repos x 3 first events, then one #commit per record.
	wantEvents := 8*3 + 4*8*perWriter
	var seqs []int64
	for after := int64(0); ; {
		evs, err := s.Events(ctx, &atlite.EventsOptions{After: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		for _, e := range evs {
			seqs = append(seqs, e.Seq)
		}
		after = evs[len(evs)-1].Seq
	}
	if len(seqs) != wantEvents {
		t.Errorf("%d events, want %d", len(seqs), wantEvents)
	}
	for i, q := range seqs {
		if q != int64(i+1) {
			t.Fatalf("event %d has seq %d: seqs must run 1, 2, ... with no gap", i, q)
		}
	}
	if err := s.Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}
}
