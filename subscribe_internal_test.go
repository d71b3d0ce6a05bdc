package atlite

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/storage"
	"github.com/atlite-dev/atlite/syntax"
)

// notifyingBackend is a backend with a storage.Notifier, as PostgreSQL's
// is: notify stands for the NOTIFY of another process's commit.
type notifyingBackend struct {
	storage.Backend
	c chan struct{}
}

var _ storage.Notifier = (*notifyingBackend)(nil)

func (b *notifyingBackend) Wake() <-chan struct{} { return b.c }

func (b *notifyingBackend) notify() {
	select {
	case b.c <- struct{}{}:
	default:
	}
}

// TestSubscribeNotifier checks that a backend's Notifier wakes the tailers
// of every subscription for the commits of another process, long before
// the poll interval, and that the stream stays in order and without a gap
// when those commits mix with this process's own.
func TestSubscribeNotifier(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "notify.db")
	a := openInternal(t, path, &Options{EventPollInterval: time.Hour})
	nb := &notifyingBackend{Backend: a.b, c: make(chan struct{}, 1)}
	a.b = nb
	b := openInternal(t, path, nil) // the other process
	mine := internalRepo(t, a, "did:web:mine.example")
	theirs := internalRepo(t, b, "did:web:theirs.example")

	var subs [3]*Subscription
	for i := range subs {
		sub, err := a.Subscribe(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		subs[i] = sub
	}
	first := subs[0].last + 1

	// Without a notification, the other process's commit waits for the
	// poll (an hour). (The tailers' first reads, which could see it, are
	// done before.)
	time.Sleep(50 * time.Millisecond)
	if _, err := b.Commit(ctx, theirs, internalWrite(t, "3kaaaaaaaaa00"), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-subs[0].Events():
		t.Fatalf("event %d delivered without a notification or a poll", e.Seq)
	case <-time.After(200 * time.Millisecond):
	}

	const n = 40
	writes := make([][]commit.Write, n)
	for i := range writes {
		writes[i] = internalWrite(t, fmt.Sprintf("3kbbbbbbb%04d", i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, w := range []struct {
		s      *Store
		did    syntax.DID
		notify bool
	}{{a, mine, false}, {b, theirs, true}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				if _, err := w.s.Commit(ctx, w.did, writes[i], nil); err != nil {
					errs <- err
					return
				}
				if w.notify {
					nb.notify()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	last := first + 2*n
	for i, sub := range subs {
		want := first
		deadline := time.After(5 * time.Second)
		for want <= last {
			select {
			case e, ok := <-sub.Events():
				if !ok {
					t.Fatalf("subscription %d ended at seq %d: %v", i, want, sub.Err())
				}
				if e.Seq != want {
					t.Fatalf("subscription %d: event seq %d, want %d", i, e.Seq, want)
				}
				want++
			case <-deadline:
				t.Fatalf("subscription %d got seqs %d to %d of %d to %d in 5s", i, first, want-1, first, last)
			}
		}
	}
}
