package atlite_test

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/internal/testutil"
	"github.com/atlite-dev/atlite/mst"
	"github.com/atlite-dev/atlite/syntax"
)

func mustWrite(t testing.TB, a commit.Action, coll, rkey string, rec any) commit.Write {
	t.Helper()
	w, err := commit.NewWrite(a, coll, rkey, rec)
	if err != nil {
		t.Fatalf("NewWrite(%s %s/%s) = %v", a, coll, rkey, err)
	}
	return w
}

func newRepo(t testing.TB, s *atlite.Store, d string) syntax.DID {
	t.Helper()
	did := mustDID(t, d)
	if _, err := s.CreateRepo(ctx, did, &atlite.CreateRepoOptions{SigningKey: testutil.TestKey(t)}); err != nil {
		t.Fatal(err)
	}
	return did
}

func cborCID(t testing.TB, v any) cid.Cid {
	t.Helper()
	b, err := datamodel.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return datamodel.CBORCID(b)
}

func TestCommitCreateUpdateDelete(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	did := newRepo(t, s, "did:web:user.com")
	before, _ := s.LoadRepo(ctx, did.AtIdentifier())

	// Create: one op, MST root with a single entry, commit chained to the first.
	res, err := s.Commit(ctx, did, []commit.Write{mustWrite(t, commit.Create, "com.example.coll", "abc", map[string]any{"foo": "bar"})}, nil)
	if err != nil {
		t.Fatalf("Commit(create) = %v", err)
	}
	// {"$type": "com.example.coll", "foo": "bar"}: mustWrite fills in $type.
	fooBar := cid.MustParse("bafyreidy2u5krmjvfpsvh4rgvbt4w5vroptay3m3ted2i6nexgiphe4xmi")
	if len(res.Ops) != 1 || res.Ops[0] != (commit.Op{Action: commit.Create, Path: "com.example.coll/abc", CID: fooBar}) {
		t.Errorf("create ops = %+v", res.Ops)
	}
	if res.Commit.Prev != before.Head || res.Since != before.Rev || res.PrevData != before.Data {
		t.Errorf("commit prev/since/prevData = %s %s %s, want %s %s %s", res.Commit.Prev, res.Since, res.PrevData, before.Head, before.Rev, before.Data)
	}
	if res.Commit.Rev.Compare(before.Rev) <= 0 {
		t.Errorf("rev %s not after %s", res.Commit.Rev, before.Rev)
	}
	if err := res.Commit.Verify(testutil.TestKey(t).PublicKey()); err != nil {
		t.Errorf("commit signature: %v", err)
	}
	// Blocks: the record, the one MST node, the commit.
	if len(res.Blocks) != 3 {
		t.Errorf("create wrote %d blocks, want 3", len(res.Blocks))
	}
	rec, err := s.GetRecord(ctx, did, "com.example.coll", "abc")
	if err != nil || rec.CID != fooBar || !bytes.Equal(rec.Data, []byte("\xa2cfoocbare$typepcom.example.coll")) {
		t.Errorf("GetRecord = %+v, %v", rec, err)
	}
	if v, err := rec.Value(); err != nil || len(v) != 2 || v["foo"] != "bar" || v["$type"] != "com.example.coll" {
		t.Errorf("Record.Value = %v, %v", v, err)
	}

	// Update.
	res, err = s.Commit(ctx, did, []commit.Write{mustWrite(t, commit.Update, "com.example.coll", "abc", map[string]any{"x": "y"})}, nil)
	if err != nil {
		t.Fatalf("Commit(update) = %v", err)
	}
	xy := cborCID(t, map[string]any{"$type": "com.example.coll", "x": "y"})
	if res.Ops[0] != (commit.Op{Action: commit.Update, Path: "com.example.coll/abc", CID: xy, Prev: fooBar}) {
		t.Errorf("update op = %+v", res.Ops[0])
	}
	// A no-op update writes nothing: the current head comes back.
	head := res.CID
	res, err = s.Commit(ctx, did, []commit.Write{mustWrite(t, commit.Update, "com.example.coll", "abc", map[string]any{"x": "y"})}, nil)
	if err != nil || !res.NoOp || len(res.Ops) != 0 || res.CID != head || res.Seq != 0 {
		t.Errorf("no-op update = %+v, %v; want NoOp, head %s, seq 0", res, err, head)
	}
	// Delete carrying a record: cid is null, prev the deleted record.
	del := mustWrite(t, commit.Delete, "com.example.coll", "abc", nil)
	del.Record = []byte("\xa1ax\x61y")
	res, err = s.Commit(ctx, did, []commit.Write{del}, nil)
	if err != nil {
		t.Fatalf("Commit(delete) = %v", err)
	}
	if res.Ops[0] != (commit.Op{Action: commit.Delete, Path: "com.example.coll/abc", Prev: xy}) {
		t.Errorf("delete op = %+v", res.Ops[0])
	}
	if _, err := s.GetRecord(ctx, did, "com.example.coll", "abc"); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("GetRecord after delete = %v, want ErrNotFound", err)
	}
	after, _ := s.LoadRepo(ctx, did.AtIdentifier())
	if after.Data != before.Data {
		t.Errorf("data after create+delete = %s, want the empty root %s", after.Data, before.Data)
	}
	// Events: 3 from creation, then 3 commits (the no-op wrote none), gapless.
	evs, _ := s.Events(ctx, &atlite.EventsOptions{DID: did})
	if len(evs) != 6 || evs[5].Seq != 6 || evs[5].Kind != atlite.KindCommit || evs[5].Commit != after.Head {
		t.Errorf("events = %d, last %+v", len(evs), evs[len(evs)-1])
	}
	if err := s.Check(ctx); err != nil {
		t.Errorf("Check = %v", err)
	}
}

// TestCommitEmpty checks that a commit that changes nothing writes
// nothing: no writes, or only updates to a record's current value, return
// the current head with NoOp set, consume no seq and emit no event.
func TestCommitEmpty(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	did := newRepo(t, s, "did:web:user.com")
	created, err := s.Commit(ctx, did, []commit.Write{mustWrite(t, commit.Create, "com.example.coll", "a", map[string]any{"n": 1})}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := s.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	same := mustWrite(t, commit.Update, "com.example.coll", "a", map[string]any{"n": 1})
	for name, writes := range map[string][]commit.Write{"no writes": nil, "identical update": {same}} {
		res, err := s.Commit(ctx, did, writes, nil)
		if err != nil {
			t.Fatalf("%s: Commit = %v", name, err)
		}
		if !res.NoOp || res.CID != created.CID || res.Rev != created.Commit.Rev || res.Commit.Rev != created.Commit.Rev ||
			res.Commit.Data != created.Commit.Data || res.PrevData != created.Commit.Data || res.Since != created.Commit.Rev ||
			res.Seq != 0 || len(res.Ops) != 0 || len(res.Blocks) != 0 {
			t.Errorf("%s: Commit = %+v, want NoOp at head %s rev %s, seq 0, no ops or blocks", name, res, created.CID, created.Commit.Rev)
		}
		repo, _ := s.LoadRepo(ctx, did.AtIdentifier())
		seq, _ := s.LastSeq(ctx, atlite.SubscribeReposNSID)
		evs, _ := s.Events(ctx, &atlite.EventsOptions{})
		if repo.Head != created.CID || repo.Rev != created.Commit.Rev || seq != 4 || len(evs) != 4 {
			t.Errorf("%s: head %s rev %s, last seq %d, %d events; want %s %s 4 4", name, repo.Head, repo.Rev, seq, len(evs), created.CID, created.Commit.Rev)
		}
	}
	// An identical update next to a real change is dropped from the commit.
	res, err := s.Commit(ctx, did, []commit.Write{same, mustWrite(t, commit.Create, "com.example.coll", "b", map[string]any{"n": 2})}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.NoOp || res.Seq != 5 || len(res.Ops) != 1 || res.Ops[0].Path != "com.example.coll/b" || res.Since != created.Commit.Rev {
		t.Errorf("Commit(identical update, create) = %+v; want seq 5 and the create's op alone", res)
	}
	// Subscribers heard only of the real commit.
	if e := <-sub.Events(); e.Seq != 5 || e.Commit != res.CID {
		t.Errorf("first event after the no-ops = seq %d %s, want 5 %s", e.Seq, e.Commit, res.CID)
	}
	select {
	case e := <-sub.Events():
		t.Errorf("unexpected event %d", e.Seq)
	default:
	}
	if err := s.Check(ctx); err != nil {
		t.Errorf("Check = %v", err)
	}
}

func TestCommitRejects(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	did := newRepo(t, s, "did:web:user.com")
	if _, err := s.Commit(ctx, did, []commit.Write{mustWrite(t, commit.Create, "com.example.coll", "a", map[string]any{"n": 1})}, nil); err != nil {
		t.Fatal(err)
	}
	many := make([]commit.Write, 201)
	for i := range many {
		many[i] = mustWrite(t, commit.Create, "com.example.coll", fmt.Sprintf("k%d", i), map[string]any{"n": i})
	}
	big := mustWrite(t, commit.Create, "com.example.coll", "big", map[string]any{"text": strings.Repeat("x", 1_000_000)})
	record := func(v map[string]any) []byte {
		b, err := datamodel.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	raw := func(coll string, v map[string]any) commit.Write {
		return commit.Write{Action: commit.Create, Collection: syntax.NSID(coll), RKey: "typed", Record: record(v)}
	}
	tests := []struct {
		name   string
		did    syntax.DID
		writes []commit.Write
		opts   *atlite.CommitOptions
		want   error
	}{
		{"create existing", did, []commit.Write{mustWrite(t, commit.Create, "com.example.coll", "a", map[string]any{"n": 2})}, nil, atlite.ErrInvalidWrite},
		{"update missing", did, []commit.Write{mustWrite(t, commit.Update, "com.example.coll", "b", map[string]any{"n": 2})}, nil, atlite.ErrInvalidWrite},
		{"delete missing", did, []commit.Write{mustWrite(t, commit.Delete, "com.example.coll", "b", nil)}, nil, atlite.ErrInvalidWrite},
		{"201 writes", did, many, nil, atlite.ErrInvalidWrite},
		{"record over the limit", did, []commit.Write{big}, nil, atlite.ErrInvalidWrite},
		{"not a map", did, []commit.Write{{Action: commit.Create, Collection: "com.example.coll", RKey: "c", Record: []byte{0x01}}}, nil, atlite.ErrInvalidWrite},
		{"bad cbor", did, []commit.Write{{Action: commit.Create, Collection: "com.example.coll", RKey: "c", Record: []byte{0xa1, 0x61}}}, nil, atlite.ErrInvalidWrite},
		{"second write fails", did, []commit.Write{
			mustWrite(t, commit.Create, "com.example.coll", "new", map[string]any{"n": 3}),
			mustWrite(t, commit.Delete, "com.example.coll", "missing", nil)}, nil, atlite.ErrInvalidWrite},
		{"no $type", did, []commit.Write{raw("com.example.coll", map[string]any{"n": 1})}, nil, atlite.ErrInvalidWrite},
		{"other collection's $type", did, []commit.Write{raw("com.example.coll", map[string]any{"$type": "app.bsky.feed.post"})}, nil, atlite.ErrInvalidWrite},
		{"$type not a string", did, []commit.Write{raw("com.example.coll", map[string]any{"$type": int64(1)})}, nil, atlite.ErrInvalidWrite},
		{"create then update", did, []commit.Write{
			mustWrite(t, commit.Create, "com.example.coll", "tmp", map[string]any{"v": 1}),
			mustWrite(t, commit.Update, "com.example.coll", "tmp", map[string]any{"v": 2})}, nil, atlite.ErrInvalidWrite},
		{"delete then create", did, []commit.Write{
			mustWrite(t, commit.Delete, "com.example.coll", "a", nil),
			mustWrite(t, commit.Create, "com.example.coll", "a", map[string]any{"v": 3})}, nil, atlite.ErrInvalidWrite},
		{"update then delete", did, []commit.Write{
			mustWrite(t, commit.Update, "com.example.coll", "a", map[string]any{"v": 4}),
			mustWrite(t, commit.Delete, "com.example.coll", "a", nil)}, nil, atlite.ErrInvalidWrite},
		{"swap commit", did, nil, &atlite.CommitOptions{SwapCommit: cborCID(t, "nope")}, atlite.ErrSwapMismatch},
		{"unknown repo", mustDID(t, "did:web:nobody.com"), nil, nil, atlite.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := s.LoadRepo(ctx, did.AtIdentifier())
			seq, _ := s.LastSeq(ctx, atlite.SubscribeReposNSID)
			_, err := s.Commit(ctx, tt.did, tt.writes, tt.opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Commit = %v, want %v", err, tt.want)
			}
			after, _ := s.LoadRepo(ctx, did.AtIdentifier())
			seq2, _ := s.LastSeq(ctx, atlite.SubscribeReposNSID)
			if after.Head != before.Head || seq2 != seq {
				t.Errorf("failed commit changed head %s -> %s or seq %d -> %d", before.Head, after.Head, seq, seq2)
			}
		})
	}
	// Record swaps.
	a, _ := s.GetRecord(ctx, did, "com.example.coll", "a")
	w := mustWrite(t, commit.Update, "com.example.coll", "a", map[string]any{"n": 9})
	w.SwapRecord = cborCID(t, "other")
	if _, err := s.Commit(ctx, did, []commit.Write{w}, nil); !errors.Is(err, atlite.ErrSwapMismatch) {
		t.Errorf("Commit(bad swapRecord) = %v, want ErrSwapMismatch", err)
	}
	w.SwapRecord = a.CID
	if _, err := s.Commit(ctx, did, []commit.Write{w}, nil); err != nil {
		t.Errorf("Commit(good swapRecord) = %v", err)
	}
	// Inactive repo.
	s.Deactivate(ctx, did)
	var inactive *atlite.InactiveRepoError
	if _, err := s.Commit(ctx, did, nil, nil); !errors.As(err, &inactive) {
		t.Errorf("Commit(deactivated) = %v, want InactiveRepoError", err)
	}
}

func TestCommitSharedRecord(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	for _, d := range []string{"did:web:alice.com", "did:web:bob.com"} {
		did := newRepo(t, s, d)
		res, err := s.Commit(ctx, did, []commit.Write{mustWrite(t, commit.Create, "com.example.coll", "x", map[string]any{"foo": "bar"})}, nil)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, b := range res.Blocks {
			found = found || b.CID.String() == "bafyreidy2u5krmjvfpsvh4rgvbt4w5vroptay3m3ted2i6nexgiphe4xmi" // {"$type": "com.example.coll", "foo": "bar"}
		}
		if !found {
			t.Errorf("%s: commit blocks lack the shared record", d)
		}
		if _, err := s.GetRecord(ctx, did, "com.example.coll", "x"); err != nil {
			t.Errorf("%s: GetRecord = %v", d, err)
		}
	}
	if err := s.Check(ctx); err != nil {
		t.Error(err)
	}
}

func TestListRecords(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	did := newRepo(t, s, "did:web:user.com")
	var writes []commit.Write
	for _, c := range []string{"a.b.c", "x.y.z"} {
		for i := 0; i < 6; i++ {
			writes = append(writes, mustWrite(t, commit.Create, c, fmt.Sprintf("r%d", i), map[string]any{"i": i, "c": c}))
		}
	}
	if _, err := s.Commit(ctx, did, writes, nil); err != nil {
		t.Fatal(err)
	}
	keys := func(recs []atlite.Record) string {
		var ks []string
		for _, r := range recs {
			ks = append(ks, r.RKey.String())
		}
		return strings.Join(ks, ",")
	}
	tests := []struct {
		opts       atlite.ListRecordsOptions
		want, next string
	}{
		{atlite.ListRecordsOptions{}, "r0,r1,r2,r3,r4,r5", ""},
		{atlite.ListRecordsOptions{Limit: 2}, "r0,r1", "r1"},
		{atlite.ListRecordsOptions{Limit: 2, Cursor: "r1"}, "r2,r3", "r3"},
		{atlite.ListRecordsOptions{Limit: 2, Cursor: "r3"}, "r4,r5", ""},
		{atlite.ListRecordsOptions{Reverse: true, Limit: 2}, "r5,r4", "r4"},
		{atlite.ListRecordsOptions{Reverse: true, Cursor: "r4", Limit: 2}, "r3,r2", "r2"},
		{atlite.ListRecordsOptions{Reverse: true, Cursor: "r2", Limit: 2}, "r1,r0", ""},
		{atlite.ListRecordsOptions{Cursor: "r5"}, "", ""},
	}
	for _, tt := range tests {
		recs, next, err := s.ListRecords(ctx, did, "x.y.z", &tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := keys(recs); got != tt.want || next != tt.next {
			t.Errorf("ListRecords(%+v) = %s, cursor %q; want %s, cursor %q", tt.opts, got, next, tt.want, tt.next)
		}
		for _, r := range recs {
			if r.Collection != "x.y.z" || datamodel.CBORCID(r.Data) != r.CID {
				t.Errorf("record %s: collection %s, data does not hash to its CID", r.Path(), r.Collection)
			}
		}
	}
	cols, _ := s.Collections(ctx, did)
	if fmt.Sprint(cols) != "[a.b.c x.y.z]" {
		t.Errorf("Collections = %v", cols)
	}
	if recs, next, err := s.ListRecords(ctx, did, "no.such.coll", &atlite.ListRecordsOptions{}); err != nil || len(recs) != 0 || next != "" {
		t.Errorf("ListRecords(empty collection) = %v, %q, %v; want an empty list", recs, next, err)
	}
	nobody := mustDID(t, "did:web:nobody.example")
	if _, _, err := s.ListRecords(ctx, nobody, "x.y.z", &atlite.ListRecordsOptions{}); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("ListRecords(unknown repo) = %v, want ErrNotFound", err)
	}
	if _, err := s.Collections(ctx, nobody); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("Collections(unknown repo) = %v, want ErrNotFound", err)
	}
}

func TestConcurrentCommits(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	dids := []syntax.DID{newRepo(t, s, "did:web:a.com"), newRepo(t, s, "did:web:b.com")}
	perG := 200
	if testing.Short() {
		perG = 20
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			did := dids[g%2]
			for i := 0; i < perG; i++ {
				w, _ := commit.NewWrite(commit.Create, "com.example.coll", fmt.Sprintf("g%d-%04d", g, i), map[string]any{"g": g, "i": i})
				if _, err := s.Commit(ctx, did, []commit.Write{w}, nil); err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, did := range dids {
		recs, _, err := s.ListRecords(ctx, did, "com.example.coll", &atlite.ListRecordsOptions{Limit: 10000})
		if err != nil || len(recs) != 4*perG {
			t.Errorf("%s: %d records, %v; want %d", did, len(recs), err, 4*perG)
		}
		// The prev chain is intact and revs strictly increase.
		evs, _ := s.Events(ctx, &atlite.EventsOptions{DID: did, Limit: 100000})
		var commits []atlite.Event
		for _, e := range evs {
			if e.Kind == atlite.KindCommit {
				commits = append(commits, e)
			}
		}
		if len(commits) != 4*perG+1 {
			t.Errorf("%s: %d commit events, want %d", did, len(commits), 4*perG+1)
		}
		for i := 1; i < len(commits); i++ {
			if commits[i].Since != commits[i-1].Rev || commits[i].Rev.Compare(commits[i-1].Rev) <= 0 {
				t.Fatalf("%s: commit %d since %s rev %s after rev %s", did, i, commits[i].Since, commits[i].Rev, commits[i-1].Rev)
			}
			b, err := s.GetBlock(ctx, commits[i].Commit)
			if err != nil {
				t.Fatal(err)
			}
			c, err := commit.Decode(b)
			if err != nil || c.Prev != commits[i-1].Commit {
				t.Fatalf("%s: commit %d prev %v, want %s (%v)", did, i, c.Prev, commits[i-1].Commit, err)
			}
		}
	}
	evs, _ := s.Events(ctx, &atlite.EventsOptions{Limit: 100000})
	seqs := make([]int, len(evs))
	for i, e := range evs {
		seqs[i] = int(e.Seq)
	}
	if !sort.IntsAreSorted(seqs) || seqs[0] != 1 || seqs[len(seqs)-1] != len(seqs) {
		t.Errorf("seqs not gapless: %d events, last %d", len(seqs), seqs[len(seqs)-1])
	}
	if err := s.Check(ctx); err != nil {
		t.Error(err)
	}
}

// TestCommitEventInverts checks sync 1.1: the blocks a #commit event
// carries let a consumer invert its ops on the new tree and get prevData,
// and the covering proofs are needed for that (new blocks alone do not
// always suffice).
func TestCommitEventInverts(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	did := seedRepo(t, s, "did:web:user.com", 500)
	check := func(writes []commit.Write) (bareOK bool) {
		t.Helper()
		res, err := s.Commit(ctx, did, writes, nil)
		if err != nil {
			t.Fatal(err)
		}
		evs, _ := s.Events(ctx, &atlite.EventsOptions{After: res.Seq - 1, Limit: 1})
		ev := evs[0]
		if ev.Seq != res.Seq || ev.PrevData != res.PrevData || len(ev.Ops) != len(res.Ops) {
			t.Fatalf("event = %+v", ev)
		}
		found, missing, err := s.GetBlocks(ctx, ev.Blocks)
		if err != nil || len(missing) > 0 {
			t.Fatalf("GetBlocks = %d missing, %v", len(missing), err)
		}
		ops := make([]mst.RecordOp, len(ev.Ops))
		for i, op := range ev.Ops {
			ops[i] = mst.RecordOp{Key: op.Path, Old: op.Prev, New: op.CID}
		}
		mem := mst.NewMemBlocks(nil)
		for _, b := range found {
			mem.Put(b.CID, b.Data)
		}
		if err := mst.VerifyInversion(ctx, mem, res.Commit.Data, ops, ev.PrevData); err != nil {
			t.Fatalf("VerifyInversion over the event's blocks = %v", err)
		}
		bare := mst.NewMemBlocks(nil)
		for _, b := range res.Blocks {
			bare.Put(b.CID, b.Data)
		}
		return mst.VerifyInversion(ctx, bare, res.Commit.Data, ops, ev.PrevData) == nil
	}
	check([]commit.Write{
		mustWrite(t, commit.Create, "app.bsky.feed.post", "3zzz", map[string]any{"new": true}),
		mustWrite(t, commit.Update, "app.bsky.feed.like", "3k00000000001", map[string]any{"changed": true}),
		mustWrite(t, commit.Delete, "app.bsky.graph.follow", "3k00000000002", nil),
	})
	bareFailed := 0
	for i := 5; i < 500; i += 7 {
		coll := []string{"app.bsky.feed.post", "app.bsky.feed.like", "app.bsky.graph.follow"}[i%3]
		if !check([]commit.Write{mustWrite(t, commit.Delete, coll, fmt.Sprintf("3k%011d", i), nil)}) {
			bareFailed++
		}
	}
	if bareFailed == 0 {
		t.Error("no delete needed proof nodes beyond the new blocks; the test does not exercise covering proofs")
	}
}

// TestGroupCommitIsolation commits from many goroutines at once, every
// other commit bound to fail, and checks that commits sharing a
// transaction stay atomic: each failure leaves nothing, each success is
// whole, seqs stay gapless.
func TestGroupCommitIsolation(t *testing.T) {
	testutil.SQLiteOnly(t, "group commit (SQLite has one writer; PostgreSQL commits in parallel)")
	s, _ := testutil.MustOpenFileStore(t, nil)
	did := newRepo(t, s, "did:web:group.example")
	if _, err := s.Commit(ctx, did, []commit.Write{mustWrite(t, commit.Create, "com.example.coll", "taken", map[string]any{"x": 1})}, nil); err != nil {
		t.Fatal(err)
	}
	const goroutines, per = 16, 30
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := map[string]bool{}
	failed := 0
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				key := fmt.Sprintf("g%02d-%03d", g, i)
				writes := []commit.Write{mustWrite(t, commit.Create, "com.example.coll", key, map[string]any{"g": g, "i": i})}
				if i%2 == 1 {
					// Valid first write, then a create of an existing key:
					// the whole commit must fail, its first write included.
					writes = append(writes, mustWrite(t, commit.Create, "com.example.coll", "taken", map[string]any{"x": 2}))
				}
				_, err := s.Commit(ctx, did, writes, nil)
				mu.Lock()
				switch {
				case i%2 == 0 && err == nil:
					ok[key] = true
				case i%2 == 1 && errors.Is(err, atlite.ErrInvalidWrite):
					failed++
				default:
					t.Errorf("commit %s: %v", key, err)
				}
				mu.Unlock()
			}
		}(g)
	}
	wg.Wait()
	recs, _, err := s.ListRecords(ctx, did, "com.example.coll", &atlite.ListRecordsOptions{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(ok)+1 || failed != goroutines*per/2 {
		t.Errorf("%d records, want %d; %d failures, want %d", len(recs), len(ok)+1, failed, goroutines*per/2)
	}
	for _, r := range recs {
		if r.RKey != "taken" && !ok[r.RKey.String()] {
			t.Errorf("record %s from a failed commit is present", r.RKey)
		}
	}
	seq, _ := s.LastSeq(ctx, atlite.SubscribeReposNSID)
	if want := int64(3 + 1 + len(ok)); seq != want {
		t.Errorf("last seq %d, want %d (one per successful commit)", seq, want)
	}
	if err := s.Check(ctx); err != nil {
		t.Error(err)
	}
	t.Logf("largest group: %d commits in one transaction", s.LargestGroup())
	if s.LargestGroup() < 2 {
		t.Error("no two commits ever shared a transaction")
	}
}

// TestCommitSequentialWrites checks that a commit of writes to distinct
// paths (update, delete, create) ends in the same tree as the same writes
// committed one by one. Several writes to one path in one commit are
// refused (TestCommitRejects).
func TestCommitSequentialWrites(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	batch, single := newRepo(t, s, "did:web:batch.example"), newRepo(t, s, "did:web:single.example")
	base := []commit.Write{
		mustWrite(t, commit.Create, "com.example.coll", "keep", map[string]any{"v": 0}),
		mustWrite(t, commit.Create, "com.example.coll", "gone", map[string]any{"v": 0}),
		mustWrite(t, commit.Create, "com.example.coll", "again", map[string]any{"v": 0}),
	}
	for _, d := range []syntax.DID{batch, single} {
		if _, err := s.Commit(ctx, d, base, nil); err != nil {
			t.Fatal(err)
		}
	}
	writes := []commit.Write{
		mustWrite(t, commit.Create, "com.example.coll", "tmp", map[string]any{"v": 1}),
		mustWrite(t, commit.Delete, "com.example.coll", "gone", nil),
		mustWrite(t, commit.Update, "com.example.coll", "again", map[string]any{"v": 3}),
		mustWrite(t, commit.Update, "com.example.coll", "keep", map[string]any{"v": 4}),
		mustWrite(t, commit.Create, "com.example.coll", "new", map[string]any{"v": 5}),
	}
	res, err := s.Commit(ctx, batch, writes, nil)
	if err != nil {
		t.Fatalf("Commit(sequence) = %v", err)
	}
	if len(res.Ops) != len(writes) {
		t.Errorf("%d ops, want %d", len(res.Ops), len(writes))
	}
	v0 := cborCID(t, map[string]any{"$type": "com.example.coll", "v": 0})
	if res.Ops[0].Prev.Defined() || res.Ops[1].Prev != v0 || res.Ops[1].CID.Defined() || res.Ops[2].Prev != v0 {
		t.Errorf("ops = %+v", res.Ops)
	}
	var last *atlite.CommitResult
	for _, w := range writes {
		if last, err = s.Commit(ctx, single, []commit.Write{w}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if res.Commit.Data != last.Commit.Data {
		t.Errorf("data after one commit %s, after one commit a write %s", res.Commit.Data, last.Commit.Data)
	}
	if _, err := s.GetRecord(ctx, batch, "com.example.coll", "gone"); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("GetRecord(gone) = %v, want ErrNotFound", err)
	}
	if r, err := s.GetRecord(ctx, batch, "com.example.coll", "again"); err != nil || r.CID != cborCID(t, map[string]any{"$type": "com.example.coll", "v": 3}) {
		t.Errorf("GetRecord(again) = %+v, %v", r, err)
	}
	if err := s.Check(ctx); err != nil {
		t.Error(err)
	}
}
