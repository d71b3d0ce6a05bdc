package atlite_test

import (
	"bytes"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/car"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/testutil"
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
