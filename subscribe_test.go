package atlite_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/testutil"
	"github.com/atlite-dev/atlite/syntax"
)

// collect reads events from sub until it has n of them or timeout passes,
// and returns them.
func collect(t *testing.T, sub *atlite.Subscription, n int, timeout time.Duration) []atlite.Event {
	t.Helper()
	var got []atlite.Event
	deadline := time.After(timeout)
	for len(got) < n {
		select {
		case e, ok := <-sub.Events():
			if !ok {
				t.Fatalf("subscription ended after %d of %d events: %v", len(got), n, sub.Err())
			}
			got = append(got, e)
		case <-deadline:
			t.Fatalf("got %d of %d events in %s", len(got), n, timeout)
		}
	}
	return got
}

// checkConsecutive reports the first event whose seq is not the previous
// one plus one, starting at first.
func checkConsecutive(t *testing.T, evs []atlite.Event, first int64) {
	t.Helper()
	for i, e := range evs {
		if want := first + int64(i); e.Seq != want {
			t.Fatalf("event %d has seq %d, want %d (previous %d)", i, e.Seq, want, want-1)
		}
	}
}

// TestSubscribeOtherProcess checks that a subscriber hears the commits made
// through another Store on the same file (as another process would make
// them), all of them and in order.
func TestSubscribeOtherProcess(t *testing.T) {
	a, path := testutil.MustOpenFileStore(t, &atlite.Options{EventPollInterval: 50 * time.Millisecond})
	b, err := atlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sub, err := a.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	did := newRepo(t, b, "did:web:other.example") // 3 events
	for i := 0; i < 10; i++ {
		w := mustWrite(t, commit.Create, "app.bsky.feed.post", fmt.Sprintf("3k%011d", i), map[string]any{"i": int64(i)})
		if _, err := b.Commit(ctx, did, []commit.Write{w}, nil); err != nil {
			t.Fatal(err)
		}
	}
	evs := collect(t, sub, 13, 5*time.Second)
	checkConsecutive(t, evs, 1)
	for _, e := range evs[3:] {
		if e.Kind != atlite.KindCommit || e.DID != did {
			t.Errorf("event %d = %s of %s, want a commit of %s", e.Seq, e.Kind, e.DID, did)
		}
	}
}

// TestSubscribeOrderUnderLoad runs four committers and one goroutine that
// changes a repo's handle and status, for two seconds: the subscriber must
// see every seq once, in order, each the previous plus one.
func TestSubscribeOrderUnderLoad(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	sub, err := s.Subscribe(ctx, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var dids []syntax.DID
	for i := 0; i < 5; i++ {
		dids = append(dids, newRepo(t, s, fmt.Sprintf("did:web:u%d.example", i)))
	}
	stop := time.Now().Add(2 * time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(did syntax.DID) {
			defer wg.Done()
			for n := 0; time.Now().Before(stop); n++ {
				w, err := commit.NewWrite(commit.Create, "app.bsky.feed.post", fmt.Sprintf("3k%011d", n), map[string]any{"n": int64(n)})
				if err == nil {
					_, err = s.Commit(ctx, did, []commit.Write{w}, nil)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}(dids[i])
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		did := dids[4]
		for n := 0; time.Now().Before(stop); n++ {
			err := s.UpdateHandle(ctx, did, syntax.Handle(fmt.Sprintf("h%d.example", n)))
			if err == nil {
				err = s.Deactivate(ctx, did)
			}
			if err == nil {
				err = s.Activate(ctx, did)
			}
			if err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	last, err := s.LastSeq(ctx, atlite.SubscribeReposNSID)
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, sub, int(last), 10*time.Second)
	select {
	case e := <-sub.Events():
		t.Errorf("extra event %d after LastSeq %d", e.Seq, last)
	case <-time.After(300 * time.Millisecond):
	}
	if int64(len(got)) != last {
		t.Errorf("subscriber got %d events, LastSeq is %d", len(got), last)
	}
	checkConsecutive(t, got, 1)
	if sub.Err() != nil {
		t.Errorf("Err = %v, want nil", sub.Err())
	}
}

// TestSubscribeReplay replays from a cursor, then goes live while commits
// go on: no gap and no repeat where the replay meets the live events.
func TestSubscribeReplay(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	did := seedRepo(t, s, "did:web:user.com", 100) // 3 + 2 commits of 50
	for i := 0; i < 20; i++ {
		w := mustWrite(t, commit.Create, "app.bsky.feed.like", fmt.Sprintf("3l%011d", i), map[string]any{"i": int64(i)})
		if _, err := s.Commit(ctx, did, []commit.Write{w}, nil); err != nil {
			t.Fatal(err)
		}
	}
	head, _ := s.LastSeq(ctx, atlite.SubscribeReposNSID) // 25
	sub, err := s.SubscribeWith(ctx, &atlite.SubscribeOptions{Replay: true, After: 4, Buffer: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	// Live commits while the replay runs; the small buffer makes the
	// replay wait for the reader, which must not cost it the live events.
	// The writer stays less than a buffer ahead of the reader (a live
	// subscriber further behind is dropped by design), whatever the
	// backend's commit speed against the reader's.
	var read atomic.Int64 // seq of the last event read
	read.Store(4)
	done := make(chan error, 1)
	go func() {
		for i := 0; i < 30; i++ {
			for deadline := time.Now().Add(10 * time.Second); head+int64(i)+1-read.Load() >= 8; {
				if time.Now().After(deadline) {
					done <- fmt.Errorf("the reader stopped at seq %d", read.Load())
					return
				}
				time.Sleep(time.Millisecond)
			}
			w, _ := commit.NewWrite(commit.Create, "app.bsky.feed.repost", fmt.Sprintf("3m%011d", i), map[string]any{"i": int64(i)})
			if _, err := s.Commit(ctx, did, []commit.Write{w}, nil); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var evs []atlite.Event
	for i := int64(5); i <= head; i++ {
		evs = append(evs, collect(t, sub, 1, 5*time.Second)...)
		read.Store(evs[len(evs)-1].Seq)
		time.Sleep(2 * time.Millisecond) // a slow reader during the replay
	}
	// The live events: keep reading while the commits go on.
	for i := 0; i < 30; i++ {
		evs = append(evs, collect(t, sub, 1, 10*time.Second)...)
		read.Store(evs[len(evs)-1].Seq)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	last, _ := s.LastSeq(ctx, atlite.SubscribeReposNSID)
	if last != head+30 {
		t.Fatalf("last seq %d, want %d", last, head+30)
	}
	checkConsecutive(t, evs, 5)
	if got := evs[len(evs)-1].Seq; got != last {
		t.Errorf("last event %d, want %d", got, last)
	}
	// A replay from zero starts at seq 1.
	all, err := s.SubscribeWith(ctx, &atlite.SubscribeOptions{Replay: true})
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	checkConsecutive(t, collect(t, all, int(last), 5*time.Second), 1)
}

// TestSubscribeTooSlow checks that a subscriber that never reads is dropped
// with ErrSubscriberTooSlow once its buffer is full, while commits keep
// their speed and another subscriber gets every event.
func TestSubscribeTooSlow(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	did := newRepo(t, s, "did:web:user.com")
	commits := func(prefix string, n int) time.Duration {
		start := time.Now()
		for i := 0; i < n; i++ {
			w := mustWrite(t, commit.Create, "app.bsky.feed.post", fmt.Sprintf("%s%011d", prefix, i), map[string]any{"i": int64(i)})
			if _, err := s.Commit(ctx, did, []commit.Write{w}, nil); err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(start)
	}
	base := commits("3a", 100)

	first, _ := s.LastSeq(ctx, atlite.SubscribeReposNSID)
	stuck, err := s.Subscribe(ctx, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	reader, err := s.Subscribe(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan []atlite.Event, 1)
	go func() {
		var evs []atlite.Event
		for len(evs) < 300 {
			select {
			case e, ok := <-reader.Events():
				if !ok {
					got <- evs
					return
				}
				evs = append(evs, e)
			case <-sctx.Done():
				got <- evs
				return
			}
		}
		got <- evs
	}()
	with := commits("3b", 300)
	if limit := 3*base*3 + 500*time.Millisecond; with > limit {
		t.Errorf("300 commits with a stuck subscriber took %s, 100 without %s", with, base)
	}
	// The stuck subscriber holds its first 8 events, then is dropped.
	var held []atlite.Event
	for e := range stuck.Events() {
		held = append(held, e)
	}
	if !errors.Is(stuck.Err(), atlite.ErrSubscriberTooSlow) {
		t.Errorf("stuck subscriber: Err = %v, want ErrSubscriberTooSlow", stuck.Err())
	}
	if len(held) != 8 {
		t.Errorf("stuck subscriber held %d events, want its buffer of 8", len(held))
	}
	checkConsecutive(t, held, first+1)
	select {
	case evs := <-got:
		if len(evs) != 300 {
			t.Fatalf("reader got %d of 300 events (Err %v)", len(evs), reader.Err())
		}
		checkConsecutive(t, evs, first+1)
	case <-time.After(5 * time.Second):
		cancel()
		t.Fatalf("reader did not get its 300 events: %d", len(<-got))
	}
}
