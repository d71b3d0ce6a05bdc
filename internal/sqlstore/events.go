package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/atlite-dev/atlite/internal/storage"
)

var (
	eventsAllSQL    = Q(`SELECT seq, did, kind, time, rev, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?`)
	deleteEventsSQL = Q(`DELETE FROM events WHERE seq <= ?`)
	// The sequences row's next is one past the last seq pruned.
	markPrunedSQL = Q(`INSERT INTO sequences (nsid, next) VALUES ('` + storage.PrunedSeqName + `', ?)
ON CONFLICT (nsid) DO UPDATE SET next = excluded.next`)
	eventsDIDSQL = Q(`SELECT seq, did, kind, time, rev, body FROM events WHERE did = ? AND seq > ? ORDER BY seq LIMIT ?`)
	firstAtSQL   = Q(`SELECT seq FROM events WHERE seq > ? AND seq <= ? AND time >= ? ORDER BY seq LIMIT 1`)
)

// FirstEventAtOrAfter implements storage.EventReader: a scan of the seq
// range that stops at the first match.
func (t *Tx) FirstEventAtOrAfter(ctx context.Context, after, through, time int64) (int64, error) {
	var seq int64
	err := t.get(ctx, &seq, firstAtSQL, after, through, time)
	if errors.Is(err, storage.ErrNotFound) {
		return 0, nil
	}
	return seq, err
}

// Events implements storage.EventReader. The rows are scanned by hand: a
// firehose replay reads every event, and sqlx's scan by reflection cost
// half of the query.
func (t *Tx) Events(ctx context.Context, after int64, did string, limit int) ([]storage.EventRow, error) {
	q, args := eventsAllSQL, []any{after, limit}
	if did != "" {
		q, args = eventsDIDSQL, []any{did, after, limit}
	}
	st, err := t.prep(ctx, q)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storage.EventRow
	for rows.Next() {
		var r storage.EventRow
		if err := rows.Scan(&r.Seq, &r.DID, &r.Kind, &r.Time, &r.Rev, &r.Body); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// AppendEvent implements storage.EventWriter with the dialect's
// InsertEventSQL, which allocates the seq and stores the event in one
// statement.
func (t *Tx) AppendEvent(ctx context.Context, e storage.EventRow) (int64, error) {
	st, err := t.prep(ctx, t.db.D.InsertEventSQL)
	if err != nil {
		return 0, err
	}
	var seq int64
	if t.db.D.EventSeqIsRowID {
		res, err := st.ExecContext(ctx, e.DID, e.Kind, e.Time, e.Rev, e.Body)
		if err == nil {
			seq, err = res.LastInsertId()
		}
		if err != nil {
			return 0, fmt.Errorf("insert event: %w", err)
		}
	} else if err := st.QueryRowxContext(ctx, e.DID, e.Kind, e.Time, e.Rev, e.Body).Scan(&seq); err != nil {
		return 0, fmt.Errorf("insert event: %w", err)
	}
	if t.db.D.AfterEvent != "" {
		if _, err := t.exec(ctx, t.db.D.AfterEvent); err != nil {
			return 0, fmt.Errorf("after event: %w", err)
		}
	}
	return seq, nil
}

// DeleteEventsThrough implements storage.EventWriter.
func (t *Tx) DeleteEventsThrough(ctx context.Context, seq int64) (int64, error) {
	res, err := t.exec(ctx, deleteEventsSQL, seq)
	if err != nil {
		return 0, fmt.Errorf("delete events: %w", err)
	}
	if _, err := t.exec(ctx, markPrunedSQL, seq+1); err != nil {
		return 0, fmt.Errorf("mark pruned events: %w", err)
	}
	return res.RowsAffected()
}

// EventsPrunedThrough implements storage.EventReader.
func (t *Tx) EventsPrunedThrough(ctx context.Context) (int64, error) {
	return t.LastSeq(ctx, storage.PrunedSeqName)
}
