package sqlstore

import (
	"context"
	"fmt"

	"github.com/atlite-dev/atlite/internal/storage"
)

var (
	eventsAllSQL = Q(`SELECT seq, did, kind, time, rev, body FROM events WHERE seq > ? ORDER BY seq LIMIT ?`)
	eventsDIDSQL = Q(`SELECT seq, did, kind, time, rev, body FROM events WHERE did = ? AND seq > ? ORDER BY seq LIMIT ?`)
)

// Events implements storage.EventReader.
func (t *Tx) Events(ctx context.Context, after int64, did string, limit int) ([]storage.EventRow, error) {
	var rows []storage.EventRow
	var err error
	if did == "" {
		err = t.sel(ctx, &rows, eventsAllSQL, after, limit)
	} else {
		err = t.sel(ctx, &rows, eventsDIDSQL, did, after, limit)
	}
	return rows, err
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
	if err := st.QueryRowxContext(ctx, e.DID, e.Kind, e.Time, e.Rev, e.Body).Scan(&seq); err != nil {
		return 0, fmt.Errorf("insert event: %w", err)
	}
	if t.db.D.AfterEvent != "" {
		if _, err := t.exec(ctx, t.db.D.AfterEvent); err != nil {
			return 0, fmt.Errorf("after event: %w", err)
		}
	}
	return seq, nil
}
