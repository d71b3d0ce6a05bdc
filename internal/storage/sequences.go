package storage

import "context"

// SequenceReader reads the gapless counters (the sequences table) and the
// event stream's last seq.
type SequenceReader interface {
	// LastSeq returns the last number handed out by the sequence nsid, or
	// 0 when none has been.
	LastSeq(ctx context.Context, nsid string) (int64, error)
	// LastEventSeq returns the largest seq of the committed events, or 0
	// when there are none.
	LastEventSeq(ctx context.Context) (int64, error)
}

// SequenceWriter allocates from the gapless counters.
type SequenceWriter interface {
	// AllocateSeq hands out the next number of the sequence nsid, starting
	// at 1: consumed only when the transaction commits.
	AllocateSeq(ctx context.Context, nsid string) (int64, error)
}

// Notifier is implemented by a backend that can tell when another process
// (or another connection) has committed events, such as PostgreSQL with
// LISTEN/NOTIFY. The engine's subscriptions, which poll the events table
// every Options.EventPollInterval, then also read it as soon as Wake's
// channel receives. A backend without it (SQLite) is only polled.
type Notifier interface {
	// Wake returns the channel that receives a value after events may
	// have been committed (a spurious value is harmless), and is closed
	// when the backend closes. Every call returns the same channel, and a
	// value goes to one receiver, which wakes every subscription: the
	// channel should be buffered (one value is enough), so that a commit
	// made while no one receives still wakes the next one to.
	Wake() <-chan struct{}
}
