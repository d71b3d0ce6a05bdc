package atlite_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/testutil"
	"github.com/atlite-dev/atlite/syntax"
)

// TestPutRecordJSON writes records from atproto JSON: create, update,
// identical put (a no-op), a new TID key, and refusals. CIDs computed
// independently of the code under test.
func TestPutRecordJSON(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	did := newRepo(t, s, "did:web:user.com")
	const link = `{"$link":"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"}`
	hi := cid.MustParse("bafyreibcajto5np6bdtkglg7urr742x6w5cymzlkpg3jfyfwblz4stdm3a")  // {"$type":"com.example.doc","ref":...,"text":"hi"}
	bye := cid.MustParse("bafyreigmjfp4wmiboqltfop5td44ulqkz6cikdgyjqe6k7gpl6f2w2wtbi") // the same with "text":"bye"

	res, err := s.PutRecordJSON(ctx, did, "com.example.doc", "self", []byte(`{"text":"hi","ref":`+link+`}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.NoOp || res.Seq != 4 || len(res.Ops) != 1 || res.Ops[0] != (commit.Op{Action: commit.Create, Path: "com.example.doc/self", CID: hi}) {
		t.Errorf("PutRecordJSON(new) = seq %d ops %+v, want seq 4 create %s", res.Seq, res.Ops, hi)
	}
	rec, err := s.GetRecord(ctx, did, "com.example.doc", "self")
	if err != nil {
		t.Fatal(err)
	}
	j, err := rec.JSON()
	if want := `{"$type":"com.example.doc","ref":` + link + `,"text":"hi"}`; err != nil || string(j) != want {
		t.Errorf("Record.JSON = %s, %v; want %s", j, err, want)
	}
	if rec.DID != did || rec.URI() != "at://did:web:user.com/com.example.doc/self" || rec.CID != hi {
		t.Errorf("record = %s %s %s, want %s at://did:web:user.com/com.example.doc/self %s", rec.DID, rec.URI(), rec.CID, did, hi)
	}

	// An existing record is updated, with an explicit matching $type.
	res, err = s.PutRecordJSON(ctx, did, "com.example.doc", "self", []byte(`{"$type":"com.example.doc","text":"bye","ref":`+link+`}`))
	if err != nil || res.Seq != 5 || len(res.Ops) != 1 || res.Ops[0] != (commit.Op{Action: commit.Update, Path: "com.example.doc/self", CID: bye, Prev: hi}) {
		t.Errorf("PutRecordJSON(update) = %+v, %v", res, err)
	}
	head := res.CID
	// The same value again changes nothing.
	res, err = s.PutRecordJSON(ctx, did, "com.example.doc", "self", []byte(`{"text":"bye","ref":`+link+`}`))
	if err != nil || !res.NoOp || res.CID != head || res.Seq != 0 || len(res.Ops) != 0 {
		t.Errorf("PutRecordJSON(same) = %+v, %v; want NoOp at %s", res, err, head)
	}
	// An empty rkey makes a TID key.
	res, err = s.PutRecordJSON(ctx, did, "com.example.doc", "", []byte(`{"text":"new"}`))
	if err != nil || res.Seq != 6 || len(res.Ops) != 1 || res.Ops[0].Action != commit.Create {
		t.Fatalf("PutRecordJSON(no rkey) = %+v, %v", res, err)
	}
	rkey := strings.TrimPrefix(res.Ops[0].Path, "com.example.doc/")
	if _, err := syntax.ParseTID(rkey); err != nil {
		t.Errorf("record key %q is not a TID: %v", rkey, err)
	}
	if _, err := s.GetRecord(ctx, did, "com.example.doc", syntax.RecordKey(rkey)); err != nil {
		t.Errorf("GetRecord(%s) = %v", rkey, err)
	}
	for name, js := range map[string]string{
		"other $type": `{"$type":"com.example.other","text":"x"}`,
		"not JSON":    `{"text":`,
		"array":       `[]`,
		"float":       `{"n":1.5}`,
	} {
		if _, err := s.PutRecordJSON(ctx, did, "com.example.doc", "bad", []byte(js)); !errors.Is(err, atlite.ErrInvalidWrite) {
			t.Errorf("PutRecordJSON(%s) = %v, want ErrInvalidWrite", name, err)
		}
	}
	if seq, _ := s.LastSeq(ctx, atlite.SubscribeReposNSID); seq != 6 {
		t.Errorf("last seq %d, want 6", seq)
	}
	if _, err := s.PutRecordJSON(ctx, mustDID(t, "did:web:nobody.com"), "com.example.doc", "self", []byte(`{}`)); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("PutRecordJSON(unknown repo) = %v, want ErrNotFound", err)
	}
}

// TestListRecordsPages walks a 5-record collection two at a time.
func TestListRecordsPages(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	did := newRepo(t, s, "did:web:user.com")
	var writes []commit.Write
	for _, k := range []string{"c", "a", "e", "b", "d"} {
		writes = append(writes, mustWrite(t, commit.Create, "com.example.coll", k, map[string]any{"k": k}))
	}
	writes = append(writes, mustWrite(t, commit.Create, "com.example.other", "a", map[string]any{"k": "other"}))
	if _, err := s.Commit(ctx, did, writes, nil); err != nil {
		t.Fatal(err)
	}
	for _, reverse := range []bool{false, true} {
		var pages []string
		cursor := ""
		for range 10 {
			recs, next, err := s.ListRecords(ctx, did, "com.example.coll", &atlite.ListRecordsOptions{Limit: 2, Cursor: cursor, Reverse: reverse})
			if err != nil {
				t.Fatal(err)
			}
			var ks []string
			for _, r := range recs {
				ks = append(ks, r.RKey.String())
				if want := "at://did:web:user.com/com.example.coll/" + r.RKey.String(); r.DID != did || r.URI().String() != want {
					t.Errorf("record %s: DID %s URI %s, want %s", r.RKey, r.DID, r.URI(), want)
				}
			}
			pages = append(pages, fmt.Sprintf("%v:%q", ks, next))
			if next == "" {
				break
			}
			cursor = next
		}
		want := `[a b]:"b" [c d]:"d" [e]:""`
		if reverse {
			want = `[e d]:"d" [c b]:"b" [a]:""`
		}
		if got := strings.Join(pages, " "); got != want {
			t.Errorf("pages (reverse %v) = %s, want %s", reverse, got, want)
		}
	}
	// A page that ends exactly at the last record has no next cursor.
	recs, next, err := s.ListRecords(ctx, did, "com.example.coll", &atlite.ListRecordsOptions{Limit: 5})
	if err != nil || len(recs) != 5 || next != "" {
		t.Errorf("ListRecords(limit 5) = %d records, cursor %q, %v; want 5, \"\"", len(recs), next, err)
	}
}

// TestSubscribeContext checks that a subscription ends when its context
// does.
func TestSubscribeContext(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	sctx, cancel := context.WithCancel(ctx)
	sub, err := s.Subscribe(sctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	did := newRepo(t, s, "did:web:user.com")
	for i := int64(1); i <= 3; i++ {
		if e := <-sub.Events(); e.Seq != i || e.DID != did {
			t.Errorf("event %d = %d %s", i, e.Seq, e.DID)
		}
	}
	cancel()
	if _, ok := <-sub.Events(); ok {
		t.Error("Events still open after the context was cancelled")
	}
	if err := sub.Err(); !errors.Is(err, context.Canceled) {
		t.Errorf("Err = %v, want context.Canceled", err)
	}
	sub.Close() // still idempotent
	// Commits after it go on; a cancelled context cannot subscribe.
	if _, err := s.Commit(ctx, did, []commit.Write{mustWrite(t, commit.Create, "com.example.coll", "a", map[string]any{"n": 1})}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Subscribe(sctx, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Subscribe(cancelled) = %v, want context.Canceled", err)
	}
	// Close before the context ends leaves Err nil.
	sub2, _ := s.Subscribe(ctx, 0)
	sub2.Close()
	if _, ok := <-sub2.Events(); ok || sub2.Err() != nil {
		t.Errorf("after Close: open %v, Err %v", ok, sub2.Err())
	}
}

// TestPutRecordSwap: PutRecord creates or updates as the tree holds the
// record, honours SwapRecord, and refuses a delete.
func TestPutRecordSwap(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	did := newRepo(t, s, "did:web:user.com")
	w1 := mustWrite(t, commit.Update, "com.example.doc", "a", map[string]any{"$type": "com.example.doc", "n": int64(1)})
	r1, err := s.PutRecord(ctx, did, w1, nil) // an Update of a missing record creates it
	if err != nil || len(r1.Ops) != 1 || r1.Ops[0].Action != commit.Create {
		t.Fatalf("PutRecord(new) = %+v, %v; want one create", r1, err)
	}
	w2 := mustWrite(t, commit.Create, "com.example.doc", "a", map[string]any{"$type": "com.example.doc", "n": int64(2)})
	w2.SwapRecord = r1.Ops[0].CID
	r2, err := s.PutRecord(ctx, did, w2, nil)
	if err != nil || len(r2.Ops) != 1 || r2.Ops[0].Action != commit.Update || r2.Ops[0].Prev != r1.Ops[0].CID {
		t.Fatalf("PutRecord(existing, right swap) = %+v, %v; want an update of %s", r2, err, r1.Ops[0].CID)
	}
	w2.SwapRecord = r1.Ops[0].CID // now stale
	if _, err := s.PutRecord(ctx, did, w2, nil); !errors.Is(err, atlite.ErrSwapMismatch) {
		t.Errorf("PutRecord(stale swap) = %v, want ErrSwapMismatch", err)
	}
	if _, err := s.PutRecord(ctx, did, commit.Write{Action: commit.Delete, Collection: "com.example.doc", RKey: "a"}, nil); !errors.Is(err, atlite.ErrInvalidWrite) {
		t.Errorf("PutRecord(delete) = %v, want ErrInvalidWrite", err)
	}
	if seq, _ := s.LastSeq(ctx, atlite.SubscribeReposNSID); seq != 5 {
		t.Errorf("last seq %d, want 5 (3 for the repo, then the create and the update)", seq)
	}
}

// TestGetActiveRecord checks that GetActiveRecord answers as GetRecord for
// an active repo and with an *InactiveRepoError for any other, record or
// not, while GetRecord still reads an inactive repo's records.
func TestGetActiveRecord(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	did := seedRepo(t, s, "did:web:user.com", 3)
	want := cid.MustParse("bafyreidzffww2yjhrth55guhjgvi22rxbvsippq5dvczan3x55yvcrcqvq") // {"$type":"app.bsky.feed.post","i":0,"text":"hello"}
	get := func(name string, f func(context.Context, syntax.DID, syntax.NSID, syntax.RecordKey) (*atlite.Record, error)) {
		t.Helper()
		rec, err := f(ctx, did, "app.bsky.feed.post", "3k00000000000")
		if err != nil || rec.CID != want || rec.DID != did || rec.URI() != "at://did:web:user.com/app.bsky.feed.post/3k00000000000" {
			t.Fatalf("%s = %+v, %v; want the record %s", name, rec, err, want)
		}
	}
	get("GetActiveRecord(active)", s.GetActiveRecord)
	for _, tc := range inactiveSteps(s) {
		if err := tc.set(ctx, did); err != nil {
			t.Fatal(err)
		}
		for _, rkey := range []syntax.RecordKey{"3k00000000000", "3k00000000099"} {
			rec, err := s.GetActiveRecord(ctx, did, "app.bsky.feed.post", rkey)
			var inactive *atlite.InactiveRepoError
			if !errors.As(err, &inactive) || inactive.DID != did.String() || inactive.Status != tc.status || rec != nil || errors.Is(err, atlite.ErrNotFound) {
				t.Errorf("GetActiveRecord(%s, %s) = %v, %v; want an InactiveRepoError %s", tc.status, rkey, rec, err, tc.status)
			}
		}
		get("GetRecord("+tc.status+")", s.GetRecord)
	}
	if err := s.Activate(ctx, did); err != nil {
		t.Fatal(err)
	}
	get("GetActiveRecord(active again)", s.GetActiveRecord)
}

// TestGetRecordCancelled checks that a read with a context already ended
// fails with the context's error: the record read does not arm SQLite's
// interrupt (pointRead), so it checks the context first.
func TestGetRecordCancelled(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	did := seedRepo(t, s, "did:web:user.com", 3)
	c, cancel := context.WithCancel(ctx)
	cancel()
	for name, f := range map[string]func(context.Context, syntax.DID, syntax.NSID, syntax.RecordKey) (*atlite.Record, error){
		"GetRecord": s.GetRecord, "GetActiveRecord": s.GetActiveRecord,
	} {
		if rec, err := f(c, did, "app.bsky.feed.post", "3k00000000000"); !errors.Is(err, context.Canceled) || rec != nil {
			t.Errorf("%s(cancelled) = %v, %v; want context.Canceled", name, rec, err)
		}
	}
	if _, err := s.GetActiveRecord(ctx, did, "app.bsky.feed.post", "3k00000000000"); err != nil {
		t.Errorf("GetActiveRecord after = %v", err)
	}
}

// statusStep makes a repo inactive: set gives it status.
type statusStep struct {
	status string
	set    func(context.Context, syntax.DID) error
}

// inactiveSteps deactivates, then takes down a repo of s.
func inactiveSteps(s *atlite.Store) []statusStep {
	return []statusStep{{atlite.StatusDeactivated, s.Deactivate}, {atlite.StatusTakendown, s.Takedown}}
}
