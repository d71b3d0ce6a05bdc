package atlite

import (
	"context"
	"errors"
	"sync"
)

// ErrSubscriberTooSlow is returned by [Subscription.Err] when the subscriber's
// buffer filled up and it was dropped. It can resume with [Store.Events]
// after the last seq it saw.
var ErrSubscriberTooSlow = errors.New("subscriber too slow")

// DefaultSubscriptionBuffer is the channel buffer of a subscription made with
// a buffer size of zero.
const DefaultSubscriptionBuffer = 1024

// Subscription delivers events to one subscriber as their transactions
// commit, in seq order. Events delivers them; it is closed when the
// subscription ends (Close, its context done, Store.Close, or a full
// buffer).
type Subscription struct {
	s    *Store
	ch   chan Event
	stop func() bool // stops the watch on the subscription's context
	once sync.Once
	mu   sync.Mutex
	err  error
}

// Subscribe starts delivering every event committed from now on, until ctx
// is done or the subscription is closed. buffer is the channel size (zero
// means DefaultSubscriptionBuffer); a subscriber that falls further behind
// is dropped with ErrSubscriberTooSlow rather than slow down commits. To
// replay history first, read [Store.Events] after subscribing and skip seqs
// already seen.
func (s *Store) Subscribe(ctx context.Context, buffer int) (*Subscription, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if buffer <= 0 {
		buffer = DefaultSubscriptionBuffer
	}
	sub := &Subscription{s: s, ch: make(chan Event, buffer)}
	s.subsMu.Lock()
	s.subs[sub] = struct{}{}
	s.subsMu.Unlock()
	sub.stop = context.AfterFunc(ctx, func() { sub.end(ctx.Err()) })
	return sub, nil
}

// Events returns the channel of events.
func (sub *Subscription) Events() <-chan Event { return sub.ch }

// Err returns why the subscription ended: nil while it runs or after Close,
// ErrSubscriberTooSlow when it was dropped, ErrClosed when the store closed,
// the context's error (context.Canceled, context.DeadlineExceeded) when its
// context ended it.
func (sub *Subscription) Err() error {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.err
}

// Close ends the subscription. It is idempotent.
func (sub *Subscription) Close() {
	if sub.stop != nil {
		sub.stop()
	}
	sub.end(nil)
}

// end removes the subscription from the store and ends it with err.
func (sub *Subscription) end(err error) {
	sub.s.subsMu.Lock()
	defer sub.s.subsMu.Unlock()
	if sub.s.subs != nil {
		delete(sub.s.subs, sub)
	}
	sub.finish(err)
}

// closeLocked ends the subscription because the store closes; s.subsMu held.
func (sub *Subscription) closeLocked() { sub.finish(ErrClosed) }

func (sub *Subscription) finish(err error) {
	sub.once.Do(func() {
		sub.mu.Lock()
		sub.err = err
		sub.mu.Unlock()
		close(sub.ch)
	})
}

// publish hands committed events to every subscriber, dropping those whose
// buffer is full.
func (s *Store) publish(events ...Event) {
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	for sub := range s.subs {
	deliver:
		for _, e := range events {
			select {
			case sub.ch <- e:
			default:
				delete(s.subs, sub)
				sub.finish(ErrSubscriberTooSlow)
				break deliver
			}
		}
	}
}
