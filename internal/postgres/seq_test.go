package postgres_test

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jmoiron/sqlx"

	"github.com/atlite-dev/atlite/internal/postgres"
)

// insertEventSQL writes the event of an allocated seq.
const insertEventSQL = `INSERT INTO events (seq, did, kind, time, rev, body) VALUES (?, ?, 'commit', ?, NULL, '\x00')`

// TestAllocSeqConcurrent commits 8 x 50 transactions at once, each
// allocating a seq and writing its event, while an observer checks that no
// committed state ever shows a gap: seqs become visible in seq order, so
// commit order is seq order.
func TestAllocSeqConcurrent(t *testing.T) {
	db, _ := migrated(t)
	const writers, perWriter = 8, 50
	db.SetMaxOpenConns(writers + 1)
	ins := db.Rebind(insertEventSQL)

	var stop atomic.Bool
	observed := make(chan error, 1)
	var observations int
	go func() {
		var err error
		for !stop.Load() && err == nil {
			var n, maxSeq int64
			if e := db.QueryRowxContext(ctx, `SELECT count(*), coalesce(max(seq), 0) FROM events`).Scan(&n, &maxSeq); e != nil {
				err = e
			} else if n != maxSeq {
				err = fmt.Errorf("a snapshot holds %d events up to seq %d: a gap", n, maxSeq)
			}
			observations++
		}
		observed <- err
	}()

	seqs := make([][]int64, writers)
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				seq, err := commitEvent(db, ins, fmt.Sprintf("did:web:%d.example", w), i%7 == 0)
				if err != nil {
					errs <- err
					return
				}
				seqs[w] = append(seqs[w], seq)
			}
		}()
	}
	wg.Wait()
	stop.Store(true)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := <-observed; err != nil {
		t.Fatalf("observer: %v", err)
	}
	if observations < 10 {
		t.Errorf("the observer looked %d times, want at least 10", observations)
	}
	var all []int64
	for w, s := range seqs {
		if !slices.IsSorted(s) {
			t.Errorf("writer %d got seqs out of order: %v", w, s)
		}
		all = append(all, s...)
	}
	slices.Sort(all)
	for i, s := range all {
		if s != int64(i+1) {
			t.Fatalf("seqs sorted [%d] = %d, want %d (all: %v)", i, s, i+1, all)
		}
	}
	if len(all) != writers*perWriter {
		t.Fatalf("%d seqs, want %d", len(all), writers*perWriter)
	}
	var stored []int64
	if err := db.SelectContext(ctx, &stored, `SELECT seq FROM events ORDER BY seq`); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(stored, all) {
		t.Errorf("stored seqs = %v, want 1..%d", stored, writers*perWriter)
	}
	var last int64
	if err := db.QueryRowxContext(ctx, postgres.LastSeqSQL).Scan(&last); err != nil || last != writers*perWriter {
		t.Errorf("last seq = %d, %v, want %d", last, err, writers*perWriter)
	}
}

// commitEvent allocates a seq and writes its event in one transaction;
// slow holds the transaction open a little after the allocation, which
// would let a later seq commit first if the row lock did not hold.
func commitEvent(db *sqlx.DB, ins, did string, slow bool) (int64, error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	seq, err := postgres.AllocSeq(ctx, tx)
	if err != nil {
		return 0, err
	}
	if slow {
		time.Sleep(2 * time.Millisecond)
	}
	if _, err := tx.ExecContext(ctx, ins, seq, did, time.Now().UnixMicro()); err != nil {
		return 0, err
	}
	return seq, tx.Commit()
}

func TestAllocSeqRollback(t *testing.T) {
	db, _ := migrated(t)
	alloc := func(commit bool) int64 {
		t.Helper()
		tx, err := db.BeginTxx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		seq, err := postgres.AllocSeq(ctx, tx)
		if err != nil {
			t.Fatal(err)
		}
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	steps := []struct {
		commit bool
		want   int64
	}{{true, 1}, {false, 2}, {false, 2}, {true, 2}, {true, 3}}
	for i, st := range steps {
		if got := alloc(st.commit); got != st.want {
			t.Errorf("step %d (commit %v): AllocSeq = %d, want %d", i, st.commit, got, st.want)
		}
	}
}

// TestInsertEventSQL allocates and writes in one statement, interleaved
// with AllocSeq, from one counter.
func TestInsertEventSQL(t *testing.T) {
	db, _ := migrated(t)
	ins := db.Rebind(postgres.InsertEventSQL)
	for want := int64(1); want <= 3; want++ {
		var seq int64
		if err := db.QueryRowxContext(ctx, ins, "did:web:a.example", "commit", 1, "rev", []byte{0xa0}).Scan(&seq); err != nil || seq != want {
			t.Fatalf("InsertEventSQL = %d, %v, want %d", seq, err, want)
		}
	}
	seq, err := commitEvent(db, db.Rebind(insertEventSQL), "did:web:b.example", false)
	if err != nil || seq != 4 {
		t.Errorf("AllocSeq after three InsertEventSQL = %d, %v, want 4", seq, err)
	}
	var dids []string
	if err := db.SelectContext(ctx, &dids, `SELECT did FROM events ORDER BY seq`); err != nil {
		t.Fatal(err)
	}
	if want := []string{"did:web:a.example", "did:web:a.example", "did:web:a.example", "did:web:b.example"}; !slices.Equal(dids, want) {
		t.Errorf("events = %v, want %v", dids, want)
	}
}

// TestAllocSeqRepeatableRead pins what AllocSeq's doc says: above READ
// COMMITTED, an allocation racing a committed one fails with a
// serialization error instead of taking the next number.
func TestAllocSeqRepeatableRead(t *testing.T) {
	db, _ := migrated(t)
	t1, err := db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.AllocSeq(ctx, t1); err != nil {
		t.Fatal(err)
	}
	t2, err := db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
	if err != nil {
		t.Fatal(err)
	}
	defer t2.Rollback()
	if _, err := t2.ExecContext(ctx, `SELECT 1`); err != nil { // takes t2's snapshot
		t.Fatal(err)
	}
	if err := t1.Commit(); err != nil {
		t.Fatal(err)
	}
	_, err = postgres.AllocSeq(ctx, t2)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "40001" {
		t.Errorf("AllocSeq at REPEATABLE READ after a concurrent commit = %v, want SQLSTATE 40001", err)
	}
}
