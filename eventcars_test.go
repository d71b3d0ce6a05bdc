package atlite_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/car"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/testutil"
	"github.com/atlite-dev/atlite/syntax"
)

// eventStore makes a store with n commits (and the repo's #identity and
// #account events) and returns its events.
func eventStore(t testing.TB, n int) (*atlite.Store, []atlite.Event) {
	s := testutil.MustOpenStore(t, nil)
	d := newRepo(t, s, "did:web:events.example")
	for i := 0; i < n; i++ {
		w := mustWrite(t, commit.Create, "app.bsky.feed.post", s.NextTID().String(), map[string]any{"$type": "app.bsky.feed.post", "text": "post", "n": int64(i)})
		if _, err := s.Commit(ctx, d, []commit.Write{w}, nil); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := s.Events(ctx, &atlite.EventsOptions{Limit: n + 10})
	if err != nil {
		t.Fatal(err)
	}
	return s, evs
}

// TestWriteEventCARs: one snapshot for a batch gives, event by event, the
// CAR of the event's blocks in order (as WriteEventCAR does), and skips
// the kinds that carry no blocks.
func TestWriteEventCARs(t *testing.T) {
	s, evs := eventStore(t, 20)
	if len(evs) != 23 {
		t.Fatalf("%d events, want 23", len(evs))
	}
	var seen []int
	err := s.WriteEventCARs(ctx, evs, func(i int, got []byte) error {
		seen = append(seen, i)
		// The CAR an event carries, built here from its block list.
		e := evs[i]
		found, missing, err := s.GetBlocks(ctx, e.Blocks)
		if err != nil || len(missing) != 0 || len(found) != len(e.Blocks) {
			t.Fatalf("event %d: GetBlocks = %d found, %v missing, %v", e.Seq, len(found), missing, err)
		}
		byCID := map[cid.Cid][]byte{}
		for _, b := range found {
			byCID[b.CID] = b.Data
		}
		var want bytes.Buffer
		cw, _ := car.NewWriter(&want, []cid.Cid{e.Commit})
		for _, c := range e.Blocks {
			cw.WriteBlock(c, byCID[c])
		}
		cw.Flush()
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("event %d: batch CAR differs from its blocks in order", e.Seq)
		}
		var one bytes.Buffer
		if err := s.WriteEventCAR(ctx, e, &one); err != nil || !bytes.Equal(one.Bytes(), want.Bytes()) {
			t.Errorf("event %d: WriteEventCAR = %v, or differs", e.Seq, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Seqs 1 and 2 are #identity and #account; 3..23 are commits.
	if len(seen) != 21 || seen[0] != 2 || seen[20] != 22 {
		t.Errorf("fn called for indexes %v, want 2..22", seen)
	}
}

// eventCAR is the CAR of the blocks e carries (for a #sync event, its
// commit), built from Store.GetBlocks: the reference for WriteEventCARs.
func eventCAR(t *testing.T, s *atlite.Store, e atlite.Event) []byte {
	t.Helper()
	cids := e.Blocks
	if e.Kind == atlite.KindSync {
		cids = []cid.Cid{e.Commit}
	}
	found, missing, err := s.GetBlocks(ctx, cids)
	if err != nil || len(missing) != 0 || len(found) != len(cids) {
		t.Fatalf("event %d: GetBlocks = %d found, %v missing, %v", e.Seq, len(found), missing, err)
	}
	var want bytes.Buffer
	cw, _ := car.NewWriter(&want, []cid.Cid{e.Commit})
	for _, b := range found {
		cw.WriteBlock(b.CID, b.Data)
	}
	cw.Flush()
	return want.Bytes()
}

// TestWriteEventCARsMixed: batches of events whose blocks are not all
// stored next to their commit (a record stored before by another repo, the
// covering proofs of an update and a delete, a block in the overflow table,
// an import's many blocks between two commits, commits of two repos in
// turn) give, in batches of every size, the CARs of the events' blocks.
func TestWriteEventCARsMixed(t *testing.T) {
	s, path := testutil.MustOpenFileStore(t, nil)
	a := newRepo(t, s, "did:web:a.example")
	b := newRepo(t, s, "did:web:b.example")
	post := func(text string) map[string]any {
		return map[string]any{"$type": "app.bsky.feed.post", "text": text, "createdAt": "2022-01-02T03:04:05.000Z"}
	}
	write := func(did syntax.DID, ws ...commit.Write) {
		t.Helper()
		if _, err := s.Commit(ctx, did, ws, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 6 {
		write(a, mustWrite(t, commit.Create, "app.bsky.feed.post", fmt.Sprintf("3k%011d", i), post(fmt.Sprint("post ", i))))
		write(b, mustWrite(t, commit.Create, "app.bsky.feed.post", fmt.Sprintf("3k%011d", i), post(fmt.Sprint("b post ", i))))
	}
	// b writes a's first record again: its block is a's.
	write(b, mustWrite(t, commit.Create, "app.bsky.feed.post", "3kaaaaaaaaaaa", post("post 0")))
	write(a, mustWrite(t, commit.Update, "app.bsky.feed.post", "3k00000000001", post("edited")),
		mustWrite(t, commit.Delete, "app.bsky.feed.post", "3k00000000002", nil))
	// A record whose key another block holds goes to blocks_overflow.
	collide := post("collides")
	collide["$type"] = "app.bsky.feed.post"
	rc := cborCID(t, collide)
	db, err := testutil.OpenRawDB(path)
	if err != nil {
		t.Fatal(err)
	}
	fake := cborCID(t, "some other block")
	if _, err := db.Exec(`INSERT INTO blocks (k, cid, data) VALUES (?, ?, ?)`, int64(binary.BigEndian.Uint64(rc.Bytes()[4:12])), fake.Bytes(), []byte("other")); err != nil {
		t.Fatal(err)
	}
	db.DB.Close()
	write(a, mustWrite(t, commit.Create, "app.bsky.feed.post", "3kcollides000", collide))
	db, _ = testutil.OpenRawDB(path)
	var overflowed int
	db.QueryRow(`SELECT count(*) FROM blocks_overflow`).Scan(&overflowed)
	db.DB.Close()
	if overflowed != 1 {
		t.Fatalf("blocks_overflow has %d rows, want 1", overflowed)
	}
	// An import between two commits: a #sync event, whose one block is
	// the last of many.
	other := testutil.MustOpenStore(t, nil)
	c := newRepo(t, other, "did:web:c.example")
	var ws []commit.Write
	for i := range 100 {
		ws = append(ws, mustWrite(t, commit.Create, "app.bsky.feed.post", fmt.Sprintf("3k%011d", i), post(fmt.Sprint("c post ", i))))
	}
	if _, err := other.Commit(ctx, c, ws, nil); err != nil {
		t.Fatal(err)
	}
	var exported bytes.Buffer
	if _, err := other.ExportCAR(ctx, c, &exported, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ImportCAR(ctx, &exported, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		write(a, mustWrite(t, commit.Create, "app.bsky.feed.post", fmt.Sprintf("3kz%010d", i), post(fmt.Sprint("late post ", i))))
	}

	evs, err := s.Events(ctx, &atlite.EventsOptions{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var want [][]byte
	kinds := map[atlite.EventKind]int{}
	for _, e := range evs {
		kinds[e.Kind]++
		if e.Kind == atlite.KindCommit || e.Kind == atlite.KindSync {
			want = append(want, eventCAR(t, s, e))
		} else {
			want = append(want, nil)
		}
	}
	if kinds[atlite.KindCommit] != 20 || kinds[atlite.KindSync] != 1 {
		t.Fatalf("events by kind %v, want 20 commits and 1 sync", kinds)
	}
	for _, n := range []int{1, 2, 3, 5, 8, 100} {
		calls := 0
		for lo := 0; lo < len(evs); lo += n {
			batch := evs[lo:min(lo+n, len(evs))]
			err := s.WriteEventCARs(ctx, batch, func(i int, got []byte) error {
				calls++
				if !bytes.Equal(got, want[lo+i]) {
					t.Errorf("batches of %d: event %d (%s): CAR differs from its blocks'", n, batch[i].Seq, batch[i].Kind)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("batches of %d: WriteEventCARs = %v", n, err)
			}
		}
		if calls != 21 {
			t.Errorf("batches of %d: %d CARs, want 21", n, calls)
		}
	}
}

func BenchmarkEventCARs(b *testing.B) {
	s, evs := eventStore(b, 1000)
	b.Run("one-by-one", func(b *testing.B) {
		var buf bytes.Buffer
		for b.Loop() {
			for _, e := range evs {
				if e.Kind != atlite.KindCommit {
					continue
				}
				buf.Reset()
				if err := s.WriteEventCAR(ctx, e, &buf); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.N*len(evs))/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("batches-of-100", func(b *testing.B) {
		for b.Loop() {
			for i := 0; i < len(evs); i += 100 {
				if err := s.WriteEventCARs(ctx, evs[i:min(i+100, len(evs))], func(int, []byte) error { return nil }); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.N*len(evs))/b.Elapsed().Seconds(), "events/s")
	})
}

// TestEventsWithCARs: every event in seq order, each #commit and #sync
// one with the CAR WriteEventCAR writes for it, the others with none; the
// events returned are those Events returns.
func TestEventsWithCARs(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	alice := newRepo(t, s, "did:web:alice.example")
	if _, err := s.Commit(ctx, alice, []commit.Write{mustWrite(t, commit.Create, "app.bsky.feed.post", "3k00000000001", map[string]any{"text": "one"})}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateHandle(ctx, alice, "alice.example"); err != nil {
		t.Fatal(err)
	}
	bob := newRepo(t, s, "did:web:bob.example")
	if _, err := s.Commit(ctx, bob, []commit.Write{mustWrite(t, commit.Create, "app.bsky.feed.post", "3k00000000002", map[string]any{"text": "two"})}, nil); err != nil {
		t.Fatal(err)
	}
	want, err := s.Events(ctx, &atlite.EventsOptions{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range want {
		kinds = append(kinds, string(e.Kind))
	}
	// 3 events a new repo (identity, account, commit), alice's commit,
	// her #identity, bob's 3 and his commit.
	if got := strings.Join(kinds, " "); got != "identity account commit commit identity identity account commit commit" {
		t.Fatalf("kinds = %s", got)
	}
	var seqs []int64
	evs, err := s.EventsWithCARs(ctx, &atlite.EventsOptions{After: want[1].Seq, Limit: 100}, func(i int, e *atlite.Event, got []byte) error {
		seqs = append(seqs, e.Seq)
		if e.Seq != want[i+2].Seq {
			t.Errorf("call %d: event %d, want %d", len(seqs), e.Seq, want[i+2].Seq)
		}
		var w bytes.Buffer
		if e.Kind == atlite.KindCommit || e.Kind == atlite.KindSync {
			if err := s.WriteEventCAR(ctx, *e, &w); err != nil {
				return err
			}
			if !bytes.Equal(got, w.Bytes()) || len(got) == 0 {
				t.Errorf("event %d: CAR differs from WriteEventCAR's", e.Seq)
			}
		} else if got != nil {
			t.Errorf("event %d (%s): a CAR", e.Seq, e.Kind)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var wantSeqs []int64
	for _, e := range want[2:] {
		wantSeqs = append(wantSeqs, e.Seq)
	}
	if fmt.Sprint(seqs) != fmt.Sprint(wantSeqs) {
		t.Errorf("fn saw seqs %v, want %v in order", seqs, wantSeqs)
	}
	if len(evs) != 7 || len(seqs) != 7 || fmt.Sprint(evs) != fmt.Sprint(want[2:]) {
		t.Fatalf("EventsWithCARs = %d events, %d calls; want the 7 after seq %d", len(evs), len(seqs), want[1].Seq)
	}
}
