package storage

import "context"

// EventRow is a stored event (the events table).
type EventRow struct {
	Seq  int64   `db:"seq"`
	DID  string  `db:"did"`
	Kind string  `db:"kind"`
	Time int64   `db:"time"`
	Rev  *string `db:"rev"`
	Body []byte  `db:"body"`
}

// EventReader reads the event stream.
type EventReader interface {
	// Events returns up to limit events with seq > after, in seq order,
	// of every repo or, when did is not "", of one.
	Events(ctx context.Context, after int64, did string, limit int) ([]EventRow, error)
	// FirstEventAtOrAfter returns the lowest seq in (after, through] of an
	// event whose time is at or after time (Unix microseconds), or 0 when
	// there is none. It reads no event body.
	FirstEventAtOrAfter(ctx context.Context, after, through, time int64) (int64, error)
	// EventsPrunedThrough returns the last seq DeleteEventsThrough
	// deleted through, 0 when none was: the stream then starts at seq 1.
	EventsPrunedThrough(ctx context.Context) (int64, error)
}

// PrunedSeqName names the row of the sequences table that records how far
// the event stream was pruned (not an NSID, so no sequence of the API
// takes it).
const PrunedSeqName = "#events-pruned-through"

// EventWriter appends to the event stream.
type EventWriter interface {
	// AppendEvent allocates the next seq (gapless, in commit order),
	// stores e under it (e.Seq is ignored) and returns the seq.
	AppendEvent(ctx context.Context, e EventRow) (int64, error)
	// DeleteEventsThrough deletes the events with seq <= seq, returning
	// how many, and records seq as EventsPrunedThrough. The engine never
	// deletes the newest event, whose seq the next one follows.
	DeleteEventsThrough(ctx context.Context, seq int64) (int64, error)
}
