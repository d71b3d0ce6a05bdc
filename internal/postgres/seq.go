package postgres

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// AllocSeqSQL allocates the firehose's next seq inside the caller's
// transaction. The row lock it takes is held until that transaction ends,
// so a concurrent allocation waits for it: seqs are gapless (a rollback
// gives the number back) and increase in commit order.
const AllocSeqSQL = `UPDATE seq_counter SET last = last + 1 WHERE id = 1 RETURNING last`

// InsertEventSQL is SQLite's insert of an event with the seq allocated in
// the same statement, for PostgreSQL: it takes (did, kind, time, rev, body)
// as ? placeholders (rebind them with sqlx) and returns the seq. It allocates
// as [AllocSeqSQL] does.
const InsertEventSQL = `WITH s AS (` + AllocSeqSQL + `)
INSERT INTO events (seq, did, kind, time, rev, body) SELECT s.last, ?, ?, ?, ?, ? FROM s RETURNING seq`

// LastSeqSQL reads the last seq handed out by a committed transaction (0
// when none has been).
const LastSeqSQL = `SELECT last FROM seq_counter WHERE id = 1`

// AllocSeq allocates the firehose's next seq inside tx (see [AllocSeqSQL]).
// Call it as late in the transaction as possible: concurrent commits wait
// for tx from then on. tx must run at READ COMMITTED, PostgreSQL's default:
// there a waiting allocation proceeds with the committed value, where
// REPEATABLE READ or SERIALIZABLE would fail it with a serialization error
// (SQLSTATE 40001).
func AllocSeq(ctx context.Context, tx *sqlx.Tx) (int64, error) {
	var seq int64
	if err := tx.QueryRowxContext(ctx, AllocSeqSQL).Scan(&seq); err != nil {
		return 0, fmt.Errorf("allocate seq: %w", err)
	}
	return seq, nil
}
