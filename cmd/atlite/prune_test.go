package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

// TestPruneLoop checks that serve's prune loop deletes the events older
// than its window at once, keeping the newest DefaultEventsKept, then the
// blocks that only they kept, and the uploaded blobs no record cites.
func TestPruneLoop(t *testing.T) {
	ctx := context.Background()
	var old atomic.Bool
	old.Store(true)
	s, err := atlite.Open(":memory:", &atlite.Options{Now: func() time.Time {
		if old.Load() {
			return time.Now().Add(-100 * time.Hour)
		}
		return time.Now()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	k, err := keys.GenerateK256()
	if err != nil {
		t.Fatal(err)
	}
	did := syntax.DID("did:web:alice.example")
	if _, err := s.CreateRepo(ctx, did, &atlite.CreateRepoOptions{SigningKey: k}); err != nil {
		t.Fatal(err)
	}
	// A blob uploaded 100 hours ago that no record cites.
	blob, err := s.UploadBlob(ctx, did, strings.NewReader("uncited"), "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	// 3 events of the new repo and 1,200 commits, 100 hours old, then 10
	// recent ones.
	for i := 0; i < 1210; i++ {
		if i == 1200 {
			old.Store(false)
		}
		w, err := commit.NewWrite(commit.Create, "app.bsky.feed.post", fmt.Sprintf("3k%011d", i), map[string]any{"$type": "app.bsky.feed.post", "i": int64(i)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Commit(ctx, did, []commit.Write{w}, nil); err != nil {
			t.Fatal(err)
		}
	}
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		pruneLoop(lctx, s, 72*time.Hour, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	deadline := time.Now().Add(20 * time.Second)
	var evs []atlite.Event
	for time.Now().Before(deadline) {
		if evs, err = s.Events(ctx, &atlite.EventsOptions{Limit: 2000}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.StatBlob(ctx, blob.CID); len(evs) <= atlite.DefaultEventsKept && errors.Is(err, atlite.ErrNotFound) {
			// Then GC collects the nodes only the pruned events kept.
			if r, err := s.GC(ctx, &atlite.GCOptions{DryRun: true}); err != nil || r.Deleted == 0 {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	// 1,213 events: all but the newest 1,000 were older than the window.
	if len(evs) != atlite.DefaultEventsKept || evs[0].Seq != 214 || evs[len(evs)-1].Seq != 1213 {
		t.Fatalf("after the prune loop: %d events from %d, want %d from 214 to 1213", len(evs), evs[0].Seq, atlite.DefaultEventsKept)
	}
	if err := s.Check(ctx); err != nil {
		t.Errorf("Check = %v", err)
	}
	if _, err := s.StatBlob(ctx, blob.CID); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("StatBlob(uncited blob) after the prune loop = %v, want ErrNotFound", err)
	}
	if r, err := s.GC(ctx, &atlite.GCOptions{DryRun: true}); err != nil || r.Deleted != 0 || r.Examined == 0 {
		t.Errorf("after the prune loop, GC would delete %+v (%v); want nothing: the loop collects", r, err)
	}
}

func TestGCDue(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		pruned int64
		lastGC time.Time
		want   bool
	}{
		{0, time.Time{}, false},                // nothing pruned
		{5, time.Time{}, true},                 // the first GC
		{5, now.Add(-59 * time.Minute), false}, // too soon
		{5, now.Add(-gcInterval), true},        // an hour on
		{0, now.Add(-2 * gcInterval), false},   // nothing pruned since
	} {
		if got := gcDue(tt.pruned, tt.lastGC, now); got != tt.want {
			t.Errorf("gcDue(%d, %v) = %v, want %v", tt.pruned, tt.lastGC, got, tt.want)
		}
	}
}
