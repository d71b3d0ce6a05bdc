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
}

// EventWriter appends to the event stream.
type EventWriter interface {
	// AppendEvent allocates the next seq (gapless, in commit order),
	// stores e under it (e.Seq is ignored) and returns the seq.
	AppendEvent(ctx context.Context, e EventRow) (int64, error)
}
