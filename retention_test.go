package atlite_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/testutil"
)

// retentionStore is a store whose clock moves one minute a call, with a
// repo of 3 events (identity, account, first commit) followed by n one-record
// commits: events at known times.
func retentionStore(t *testing.T, n int) (*atlite.Store, *atomic.Int64, []*atlite.CommitResult) {
	t.Helper()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var minutes atomic.Int64
	s := testutil.MustOpenStore(t, &atlite.Options{Now: func() time.Time {
		return base.Add(time.Duration(minutes.Load()) * time.Minute)
	}})
	did := newRepo(t, s, "did:web:alice.example")
	var res []*atlite.CommitResult
	for i := 0; i < n; i++ {
		minutes.Add(1)
		r, err := s.Commit(ctx, did, []commit.Write{mustWrite(t, commit.Create, "app.bsky.feed.post", fmt.Sprintf("3k%011d", i), map[string]any{"i": int64(i)})}, nil)
		if err != nil {
			t.Fatal(err)
		}
		res = append(res, r)
	}
	return s, &minutes, res
}

func TestPruneEvents(t *testing.T) {
	s, minutes, res := retentionStore(t, 20)
	evs, err := s.Events(ctx, &atlite.EventsOptions{Limit: 100})
	if err != nil || len(evs) != 23 {
		t.Fatalf("events = %d, %v, want 23", len(evs), err)
	}
	first, last := evs[0].Seq, evs[22].Seq
	// Nothing is old enough by default: the newest event is 20 minutes old.
	if r, err := s.PruneEvents(ctx, nil); err != nil || r.Deleted != 0 || r.Oldest != first || r.More {
		t.Fatalf("PruneEvents(defaults) = %+v, %v, want nothing deleted", r, err)
	}
	// Cut at the time of the 10th commit (minute 10), keeping 3: every event
	// before it goes, at most 4 a call.
	before := evs[0].Time.Add(10 * time.Minute)
	r, err := s.PruneEvents(ctx, &atlite.PruneEventsOptions{Before: before, Keep: 3, Limit: 4})
	if err != nil || r.Deleted != 4 || r.Oldest != first+4 || !r.More {
		t.Fatalf("PruneEvents(limit 4) = %+v, %v, want 4 deleted, oldest %d, more", r, err, first+4)
	}
	// The rest of what is due: the events before minute 10.
	var due int
	for _, ev := range evs {
		if ev.Time.Before(before) {
			due++
		}
	}
	r, err = s.PruneEvents(ctx, &atlite.PruneEventsOptions{Before: before, Keep: 3, Limit: 100})
	if err != nil || r.Deleted != int64(due-4) || r.Oldest != first+int64(due) || r.More {
		t.Fatalf("PruneEvents(rest) = %+v, %v, want %d deleted, oldest %d", r, err, due-4, first+int64(due))
	}
	got, _ := s.Events(ctx, &atlite.EventsOptions{Limit: 100})
	if len(got) != 23-due || got[0].Seq != first+int64(due) || got[len(got)-1].Seq != last {
		t.Fatalf("after pruning: %d events from %d to %d, want %d from %d to %d", len(got), got[0].Seq, got[len(got)-1].Seq, 23-due, first+int64(due), last)
	}
	if err := s.Check(ctx); err != nil {
		t.Errorf("Check after pruning = %v", err)
	}
	// Keep bounds it: everything is old an hour later, but 3 stay.
	minutes.Add(60)
	r, err = s.PruneEvents(ctx, &atlite.PruneEventsOptions{Keep: 3, Before: evs[22].Time.Add(time.Hour)})
	if err != nil || r.Oldest != last-2 {
		t.Fatalf("PruneEvents(keep 3) = %+v, %v, want oldest %d", r, err, last-2)
	}
	// A negative Keep still keeps the newest, and the next seq follows it.
	if r, err = s.PruneEvents(ctx, &atlite.PruneEventsOptions{Before: evs[22].Time.Add(time.Hour), Keep: -1}); err != nil || r.Oldest != last || r.Deleted != 2 {
		t.Fatalf("PruneEvents(keep -1) = %+v, %v, want only seq %d left", r, err, last)
	}
	next, err := s.Commit(ctx, res[0].Commit.DID, []commit.Write{mustWrite(t, commit.Create, "app.bsky.feed.post", "3kzzzzzzzzzzz", map[string]any{"i": int64(99)})}, nil)
	if err != nil || next.Seq != last+1 {
		t.Fatalf("commit after pruning = seq %v, %v, want %d", next, err, last+1)
	}
	if err := s.Check(ctx); err != nil {
		t.Errorf("Check after pruning to one event = %v", err)
	}
}

// TestPruneEventsStopsAtClockStep checks that a prune deletes only a
// prefix of the stream: an event newer than the cutoff stops it even when
// later events are older (a clock set back), so seqs stay gapless.
func TestPruneEventsStopsAtClockStep(t *testing.T) {
	s, minutes, _ := retentionStore(t, 3)
	minutes.Add(-100) // the clock goes back: the next events are "older"
	did := mustDID(t, "did:web:alice.example")
	for i := 0; i < 3; i++ {
		if _, err := s.Commit(ctx, did, []commit.Write{mustWrite(t, commit.Create, "app.bsky.feed.post", fmt.Sprintf("3l%011d", i), map[string]any{"i": int64(i)})}, nil); err != nil {
			t.Fatal(err)
		}
	}
	evs, _ := s.Events(ctx, &atlite.EventsOptions{Limit: 100})
	// Cut after the first two events (minutes 0 and 1), before minute 2.
	r, err := s.PruneEvents(ctx, &atlite.PruneEventsOptions{Before: evs[0].Time.Add(90 * time.Second), Keep: 1})
	if err != nil || r.Deleted != 4 || r.Oldest != evs[4].Seq {
		// identity, account and first commit at minute 0, a commit at
		// minute 1: 4; then minute 2, and the older ones after it stay.
		t.Fatalf("PruneEvents = %+v, %v, want 4 deleted, oldest %d", r, err, evs[4].Seq)
	}
	if err := s.Check(ctx); err != nil {
		t.Errorf("Check = %v", err)
	}
}

// TestExportSincePruned checks that an export since a rev whose commit
// event was pruned writes the whole repo, while an unknown rev on a store
// that pruned nothing of it stays ErrNotFound.
func TestExportSincePruned(t *testing.T) {
	s, minutes, res := retentionStore(t, 10)
	did := res[0].Commit.DID
	full := exportCAR(t, s, did, nil)
	sinceCAR := exportCAR(t, s, did, &atlite.ExportOptions{Since: res[2].Rev})
	if bytes.Equal(sinceCAR, full) {
		t.Fatal("export since rev 3 equals the full export before pruning")
	}
	minutes.Add(100)
	evs, _ := s.Events(ctx, &atlite.EventsOptions{Limit: 100})
	// Prune through the 5th commit's event.
	if _, err := s.PruneEvents(ctx, &atlite.PruneEventsOptions{Before: evs[6].Time, Keep: 1}); err != nil {
		t.Fatal(err)
	}
	if got := exportCAR(t, s, did, &atlite.ExportOptions{Since: res[2].Rev}); !bytes.Equal(got, full) {
		t.Errorf("export since a pruned rev: %d bytes, want the full export's %d", len(got), len(full))
	}
	// A kept rev still exports only what changed.
	if got, want := exportCAR(t, s, did, &atlite.ExportOptions{Since: res[8].Rev}), len(full); len(got) >= want {
		t.Errorf("export since a kept rev: %d bytes, want fewer than the full %d", len(got), want)
	}
	// A rev newer than the oldest kept one, yet unknown, is not found.
	if _, err := s.ExportCAR(ctx, did, &bytes.Buffer{}, &atlite.ExportOptions{Since: "3zzzzzzzzzzzz"}); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("export since an unknown new rev = %v, want ErrNotFound", err)
	}
}

// TestCheckAfterPruningIdleRepo: a repo idle past the retention window has
// its head's event pruned; that is not damage, while a head with no event
// in a stream never pruned is.
func TestCheckAfterPruningIdleRepo(t *testing.T) {
	s, minutes, _ := retentionStore(t, 2)
	bob := newRepo(t, s, "did:web:bob.example")
	minutes.Add(10)
	if _, err := s.Commit(ctx, bob, []commit.Write{mustWrite(t, commit.Create, "app.bsky.feed.post", "3k00000000000", map[string]any{"i": int64(1)})}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check before pruning = %v", err)
	}
	// Everything but bob's last commit goes: alice's head event with it.
	minutes.Add(60)
	r, err := s.PruneEvents(ctx, &atlite.PruneEventsOptions{Keep: 1, Before: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil || r.Deleted != 8 {
		t.Fatalf("PruneEvents = %+v, %v, want 8 deleted", r, err)
	}
	evs, err := s.Events(ctx, &atlite.EventsOptions{Limit: 10})
	if err != nil || len(evs) != 1 || evs[0].DID.String() != "did:web:bob.example" {
		t.Fatalf("events left = %+v, %v, want bob's last commit", evs, err)
	}
	if err := s.Check(ctx); err != nil {
		t.Errorf("Check after pruning alice's head event = %v, want nil", err)
	}
}
