package atlite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atlite-dev/atlite/internal/storage"
)

// ErrSubscriberTooSlow is returned by [Subscription.Err] when the subscriber's
// buffer filled up with live events and it was dropped. It can resume with
// [Store.SubscribeWith] (Replay, After the last seq it saw) or [Store.Events].
var ErrSubscriberTooSlow = errors.New("subscriber too slow")

// DefaultSubscriptionBuffer is the channel buffer of a subscription made with
// a buffer size of zero.
const DefaultSubscriptionBuffer = 1024

// DefaultEventPollInterval is how often a subscription looks for events
// written by other processes, unless [Options.EventPollInterval] says
// otherwise.
const DefaultEventPollInterval = 200 * time.Millisecond

// tailBatch is the number of events a subscription reads from the events
// table at a time.
const tailBatch = 512

// How a subscription stays gapless and in order.
//
// A subscription tails the events table: it delivers the rows whose seq is
// larger than the last one it delivered, read in seq order from committed
// data, whoever wrote them (this process or another one on the same file).
// A seq is allocated as max(seq)+1 inside the transaction that writes the
// event, and SQLite lets one write transaction run at a time on a file, so
// the transaction that takes seq N began after the one that took N-1 had
// committed: seqs become visible strictly in order, and every read snapshot
// holds exactly the seqs 1..M for some M. Reading "seq > last" therefore
// gives last+1, last+2, ... with no hole, and the subscription never has to
// skip past a seq that is not visible yet.
//
// A commit in this process hands its events, after its transaction
// commits, to every live subscription (publish): a subscription takes an
// event only if its seq is exactly one more than the last it delivered, so
// writers that publish out of seq order (CreateRepo finishing after a later
// group commit, say) cannot reorder the stream; any other event just wakes
// the subscription's tailer, which reads what it missed from the table. The
// tailer also polls (Options.EventPollInterval) for the writes of other
// processes, which nothing in this process announces, unless the backend
// can: one that implements storage.Notifier (PostgreSQL's LISTEN/NOTIFY)
// wakes the tailers as well when another process commits, and the poll is
// then only a fallback. Its channel hands each notification to one
// tailer, which wakes all the others.
//
// A replaying subscription (SubscribeOptions.Replay) reads the table at the
// pace of its reader, events committed during the replay included, and
// goes live when a read of the table finds nothing more: it has caught up.
// Live events are never waited for: when a live subscription's buffer is
// full it ends with ErrSubscriberTooSlow, so a slow reader delays neither
// the writers nor the other subscribers. (A replaying reader is never
// dropped: it costs nobody else anything, since it only reads the table.)

// Subscription delivers events to one subscriber in seq order, each once,
// without a gap: committed by this process or by another one on the same
// file. Events delivers them; it is closed when the subscription ends
// (Close, its context done, Store.Close, or a full buffer).
type Subscription struct {
	s    *Store
	ch   chan Event
	stop func() bool // stops the watch on the subscription's context

	wake chan struct{} // a tailer wake-up, buffered (1)
	done chan struct{} // closed when the subscription ends
	once sync.Once

	errMu sync.Mutex
	err   error

	// mu serializes deliveries (the tailer's and publish's) and guards
	// last and closed.
	mu     sync.Mutex
	last   int64       // seq of the last event delivered (or the start cursor)
	closed bool        // ch is closed
	live   atomic.Bool // false while replaying
}

// SubscribeOptions configure [Store.SubscribeWith]. A nil pointer means live
// events only, with a buffer of DefaultSubscriptionBuffer.
type SubscribeOptions struct {
	// Buffer is the channel size; zero means DefaultSubscriptionBuffer. A
	// live subscriber that falls further behind is dropped with
	// ErrSubscriberTooSlow.
	Buffer int
	// Replay first delivers the stored events whose seq is larger than
	// After, at the subscriber's pace, then the live ones, with no gap and
	// no repeat between the two. Without Replay, After is ignored and the
	// subscription delivers the events committed after it began.
	Replay bool
	// After is the exclusive seq cursor of a replay (zero: from the first
	// event). A cursor beyond the last seq delivers the events after it as
	// they come.
	After int64
}

// Subscribe starts delivering every event committed from now on, until ctx
// is done or the subscription is closed: the same as [Store.SubscribeWith]
// with Buffer set to buffer and no replay. buffer is the channel size (zero
// means DefaultSubscriptionBuffer); a subscriber that falls further behind
// is dropped with ErrSubscriberTooSlow rather than slow down commits.
func (s *Store) Subscribe(ctx context.Context, buffer int) (*Subscription, error) {
	return s.SubscribeWith(ctx, &SubscribeOptions{Buffer: buffer})
}

// SubscribeWith starts a subscription (see [Subscription]): live events, or
// with opts.Replay the stored events after opts.After first. Events written
// through another Store or another process on the same file are delivered
// too, within Options.EventPollInterval; those of this Store at once.
func (s *Store) SubscribeWith(ctx context.Context, opts *SubscribeOptions) (*Subscription, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var o SubscribeOptions
	if opts != nil {
		o = *opts
	}
	if o.Buffer <= 0 {
		o.Buffer = DefaultSubscriptionBuffer
	}
	head, err := s.b.Reader().LastEventSeq(ctx)
	if err != nil {
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	sub := &Subscription{s: s, ch: make(chan Event, o.Buffer), wake: make(chan struct{}, 1), done: make(chan struct{}), last: head}
	if o.Replay {
		sub.last = max(o.After, 0)
	}
	sub.live.Store(!o.Replay)
	s.subsMu.Lock()
	s.subs[sub] = struct{}{}
	s.subsMu.Unlock()
	go sub.tail()
	sub.stop = context.AfterFunc(ctx, func() { sub.finish(ctx.Err()) })
	return sub, nil
}

// Events returns the channel of events.
func (sub *Subscription) Events() <-chan Event { return sub.ch }

// Err returns why the subscription ended: nil while it runs or after Close,
// ErrSubscriberTooSlow when it was dropped, ErrClosed when the store closed,
// the context's error (context.Canceled, context.DeadlineExceeded) when its
// context ended it, or the error of a failed read of the events table.
func (sub *Subscription) Err() error {
	sub.errMu.Lock()
	defer sub.errMu.Unlock()
	return sub.err
}

// Close ends the subscription. It is idempotent. Events is closed soon
// after, once the events already buffered have been read.
func (sub *Subscription) Close() {
	if sub.stop != nil {
		sub.stop()
	}
	sub.finish(nil)
}

// closeLocked ends the subscription because the store closes; s.subsMu held.
func (sub *Subscription) closeLocked() { sub.finish(ErrClosed) }

// finish ends the subscription with err, the first time it is called. The
// tailer then leaves, and closes the channel.
func (sub *Subscription) finish(err error) {
	sub.once.Do(func() {
		sub.errMu.Lock()
		sub.err = err
		sub.errMu.Unlock()
		close(sub.done)
	})
}

func (sub *Subscription) ended() bool {
	select {
	case <-sub.done:
		return true
	default:
		return false
	}
}

// poke wakes the tailer.
func (sub *Subscription) poke() {
	select {
	case sub.wake <- struct{}{}:
	default:
	}
}

// tail runs for the life of the subscription: it delivers what the events
// table holds after the last seq delivered, when woken by this store's
// writers or by the backend (storage.Notifier) and every poll interval, and
// closes the channel at the end.
func (sub *Subscription) tail() {
	defer func() {
		s := sub.s
		s.subsMu.Lock()
		if s.subs != nil {
			delete(s.subs, sub)
		}
		s.subsMu.Unlock()
		sub.mu.Lock()
		sub.closed = true
		close(sub.ch)
		sub.mu.Unlock()
	}()
	t := time.NewTicker(sub.s.opts.EventPollInterval)
	defer t.Stop()
	var notified <-chan struct{} // nil, never ready, without a Notifier
	if n, ok := sub.s.b.(storage.Notifier); ok {
		notified = n.Wake()
	}
	for {
		if err := sub.catchUp(); err != nil {
			sub.finish(err)
			return
		}
		select {
		case <-sub.done:
			return
		case <-sub.wake:
		case <-t.C:
		case _, ok := <-notified:
			if !ok {
				notified = nil // the backend is closing
				continue
			}
			// The notification came to this tailer alone: wake the others.
			sub.s.pokeAll(sub)
		}
	}
}

// catchUp delivers the stored events after the last one delivered, until
// the table has no more or the subscription ends.
func (sub *Subscription) catchUp() error {
	for !sub.ended() {
		sub.mu.Lock()
		after := sub.last
		sub.mu.Unlock()
		evs, err := sub.s.Events(context.Background(), &EventsOptions{After: after, Limit: tailBatch})
		if err != nil {
			if errors.Is(err, ErrClosed) {
				return ErrClosed
			}
			return fmt.Errorf("subscription: %w", err)
		}
		if len(evs) == 0 {
			if !sub.live.Load() {
				// Caught up: from now on events are live.
				sub.mu.Lock()
				sub.live.Store(true)
				sub.mu.Unlock()
			}
			return nil
		}
		if !sub.live.Load() {
			sub.replay(evs)
		} else {
			sub.deliver(evs)
		}
		if len(evs) < tailBatch && sub.live.Load() {
			return nil
		}
	}
	return nil
}

// replay sends events read from the table at the reader's pace: while a
// subscription replays, nothing else delivers to it.
func (sub *Subscription) replay(evs []Event) {
	for _, e := range evs {
		if e.Seq <= sub.last {
			continue
		}
		select {
		case sub.ch <- e:
		case <-sub.done:
			return
		}
		sub.mu.Lock()
		sub.last = e.Seq
		sub.mu.Unlock()
	}
}

// deliver hands live events to the subscriber without waiting: it takes
// them in seq order from the one after the last delivered, skips those
// delivered already, and ends the subscription with ErrSubscriberTooSlow
// when the buffer is full. It reports whether it stopped short at a gap
// (events published out of order), which the tailer fills from the table.
func (sub *Subscription) deliver(evs []Event) (gap bool) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	for _, e := range evs {
		if sub.closed || sub.ended() {
			return false
		}
		if e.Seq <= sub.last {
			continue
		}
		if e.Seq != sub.last+1 {
			return true
		}
		select {
		case sub.ch <- e:
			sub.last = e.Seq
		default:
			sub.finish(ErrSubscriberTooSlow)
			return false
		}
	}
	return false
}

// pokeAll wakes the tailer of every subscription but except.
func (s *Store) pokeAll(except *Subscription) {
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	for sub := range s.subs {
		if sub != except {
			sub.poke()
		}
	}
}

// publish hands events that have just committed to every live subscriber;
// a subscriber for which they are not the next seqs (or that replays) is
// woken to read the table instead.
func (s *Store) publish(events ...Event) {
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	for sub := range s.subs {
		if !sub.live.Load() || sub.deliver(events) {
			sub.poke()
		}
	}
}
