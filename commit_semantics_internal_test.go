package atlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/jmoiron/sqlx"

	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/storage"
	"github.com/atlite-dev/atlite/syntax"
)

func openInternal(t testing.TB, path string, opts *Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func internalRepo(t testing.TB, s *Store, d string) syntax.DID {
	t.Helper()
	did := syntax.DID(d)
	if _, err := s.CreateRepo(context.Background(), did, nil); err != nil {
		t.Fatal(err)
	}
	return did
}

// memCommits opens an in-memory store with the repo did:web:user.com and
// n single-record commits to it (internalWrite at rkeys 3k00000000000,
// 3k00000000001, ...).
func memCommits(t testing.TB, n int) (*Store, syntax.DID) {
	t.Helper()
	s := openInternal(t, ":memory:", nil)
	did := internalRepo(t, s, "did:web:user.com")
	for i := range n {
		if _, err := s.Commit(context.Background(), did, internalWrite(t, fmt.Sprintf("3k%011d", i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	return s, did
}

// lastEventRow returns the stored row of the newest of s's first 100
// events.
func lastEventRow(t testing.TB, s *Store) storage.EventRow {
	t.Helper()
	rows, err := s.b.Reader().Events(context.Background(), 0, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatal("no event stored")
	}
	return rows[len(rows)-1]
}

func internalWrite(t testing.TB, rkey string) []commit.Write {
	t.Helper()
	w, err := commit.NewWrite(commit.Create, "com.example.coll", rkey, map[string]any{"k": rkey})
	if err != nil {
		t.Fatal(err)
	}
	return []commit.Write{w}
}

// TestCommitFutureRevKeepsClock checks that a commit to a repo whose rev is
// far in the future (as an imported repo may have) gets a rev just above it
// without dragging the store's clock, so that other repos' revs and new
// record keys stay at the wall-clock time.
func TestCommitFutureRevKeepsClock(t *testing.T) {
	ctx := context.Background()
	s := openInternal(t, ":memory:", nil)
	a, b := internalRepo(t, s, "did:web:a.example"), internalRepo(t, s, "did:web:b.example")
	future := syntax.NewTIDFromTime(time.Now().AddDate(1, 0, 0), 5)
	err := s.sqlUpdate(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE repos SET rev = ? WHERE did = ?`, future.String(), a.String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	resA, err := s.Commit(ctx, a, internalWrite(t, "one"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := syntax.NewTID(future.Time().UnixMicro()+1, s.clock.ClockID()); resA.Rev != want || resA.Commit.Rev != want || resA.Since != future {
		t.Errorf("rev of A = %s (since %s), want %s, one microsecond above %s", resA.Rev, resA.Since, want, future)
	}
	resB, err := s.Commit(ctx, b, internalWrite(t, "one"), nil)
	if err != nil {
		t.Fatal(err)
	}
	tid := s.NextTID()
	now := time.Now()
	for name, got := range map[string]syntax.TID{"rev of B": resB.Rev, "NextTID": tid} {
		if d := now.Sub(got.Time()); d < 0 || d > 5*time.Second {
			t.Errorf("%s = %s (%s), want within 5s before %s", name, got, got.Time(), now)
		}
	}
	// A's next rev follows its own, still without moving the clock.
	resA2, err := s.Commit(ctx, a, internalWrite(t, "two"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := syntax.NewTID(future.Time().UnixMicro()+2, s.clock.ClockID()); resA2.Rev != want {
		t.Errorf("second rev of A = %s, want %s", resA2.Rev, want)
	}
	if got := s.NextTID(); time.Since(got.Time()) > 5*time.Second || got.Time().After(time.Now()) {
		t.Errorf("NextTID after A's second commit = %s (%s)", got, got.Time())
	}
}

// TestCommitDeadlineExternalLock holds SQLite's write lock from another
// connection: a Commit with a 200 ms deadline must give up with
// context.DeadlineExceeded well before the 5 s busy timeout, and write
// nothing.
func TestCommitDeadlineExternalLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lock.db")
	s := openInternal(t, path, nil)
	did := internalRepo(t, s, "did:web:lock.example")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.Commit(dctx, did, internalWrite(t, "late"), nil)
	if took := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || took > time.Second {
		t.Errorf("Commit with the lock held elsewhere = %v after %v, want DeadlineExceeded within 1s", err, took)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRecord(ctx, did, "com.example.coll", "late"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetRecord(late) = %v, want ErrNotFound", err)
	}
	if seq, _ := s.LastSeq(ctx, SubscribeReposNSID); seq != 3 {
		t.Errorf("last seq %d, want 3 (the repo's creation)", seq)
	}
	// The store still commits.
	if res, err := s.Commit(ctx, did, internalWrite(t, "after"), nil); err != nil || res.Seq != 4 {
		t.Errorf("Commit after = %+v, %v; want seq 4", res, err)
	}
}

// TestCommitDeadlineQueued checks that commits waiting for the group leave
// when their context ends: queued behind a leader, or inside a group (as
// its leader or as a member) whose transaction has not begun. The others
// commit, seqs stay gapless and the lead is never lost.
func TestCommitDeadlineQueued(t *testing.T) {
	for _, tt := range []struct {
		name string
		// which of the second group's two commits is cancelled (1 leads
		// the group); 0: a lone queued commit with a deadline instead
		late int
	}{{"queued", 0}, {"group leader", 1}, {"group member", 2}} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := openInternal(t, ":memory:", nil)
			did := internalRepo(t, s, "did:web:queue.example")
			began, release := holdGroups(s)
			run := func(c context.Context, rkey string) <-chan error { return commitAsync(c, t, s, did, rkey) }
			pending := func(n int) { t.Helper(); waitPending(t, s, n) }
			first := run(ctx, "first") // leads alone, held before its transaction
			if n := <-began; n != 1 {
				t.Fatalf("first group of %d", n)
			}
			want := int64(5) // last seq: 3 for the repo, first, second
			if tt.late == 0 {
				dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
				defer cancel()
				start := time.Now()
				_, err := s.Commit(dctx, did, internalWrite(t, "late"), nil)
				if took := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || took > time.Second {
					t.Errorf("queued Commit = %v after %v, want DeadlineExceeded within 1s", err, took)
				}
				release <- struct{}{}
				want = 4 // no second
			} else {
				cctx, cancel := context.WithCancel(ctx)
				defer cancel()
				var late, onTime <-chan error
				if tt.late == 1 {
					late = run(cctx, "late")
					pending(1)
					onTime = run(ctx, "second")
				} else {
					onTime = run(ctx, "second")
					pending(1)
					late = run(cctx, "late")
				}
				pending(2)
				release <- struct{}{} // first commits; the two queued ones form a group
				if n := <-began; n != 2 {
					t.Fatalf("second group of %d, want 2", n)
				}
				cancel() // while the group waits to begin
				select {
				case err := <-late:
					if !errors.Is(err, context.Canceled) {
						t.Errorf("cancelled Commit = %v, want context.Canceled", err)
					}
				case <-time.After(2 * time.Second):
					t.Fatal("a cancelled commit did not return while its group waited")
				}
				release <- struct{}{}
				if err := <-onTime; err != nil {
					t.Fatalf("the other commit of the group = %v", err)
				}
			}
			if err := <-first; err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetRecord(ctx, did, "com.example.coll", "late"); !errors.Is(err, ErrNotFound) {
				t.Errorf("GetRecord(late) = %v, want ErrNotFound", err)
			}
			if seq, _ := s.LastSeq(ctx, SubscribeReposNSID); seq != want {
				t.Errorf("last seq %d, want %d", seq, want)
			}
			// The lead was handed on: a new commit runs.
			s.group.beforeBegin = nil
			next := want + 1
			if res, err := s.Commit(ctx, did, internalWrite(t, "after"), nil); err != nil || res.Seq != next {
				t.Errorf("Commit after = %+v, %v; want seq %d", res, err, next)
			}
			if err := s.Check(ctx); err != nil {
				t.Error(err)
			}
		})
	}
}

// holdGroups makes each group of s wait, before its transaction begins,
// until it takes a value from release (which buffers 2) or release is
// closed; began gets each group's size.
func holdGroups(s *Store) (began chan int, release chan struct{}) {
	began, release = make(chan int, 4), make(chan struct{}, 2)
	s.group.beforeBegin = func(n int) {
		began <- n
		<-release
	}
	return began, release
}

// commitAsync commits a record at rkey to did in a goroutine and returns
// the channel of its error.
func commitAsync(ctx context.Context, t *testing.T, s *Store, did syntax.DID, rkey string) <-chan error {
	ch := make(chan error, 1)
	go func() {
		_, err := s.Commit(ctx, did, internalWrite(t, rkey), nil)
		ch <- err
	}()
	return ch
}

// waitPending waits up to 5 s until n commits are queued in s's group
// commit.
func waitPending(t *testing.T, s *Store, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		s.group.mu.Lock()
		got := len(s.group.pending)
		s.group.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d commits queued, never %d", got, n)
		}
	}
}

// TestCloseWaitsForAbandonedGroup: when every caller of a group gives up
// while the group waits to begin, the group still runs in its goroutine;
// Close must wait for it rather than close the database under it.
func TestCloseWaitsForAbandonedGroup(t *testing.T) {
	ctx := context.Background()
	s := openInternal(t, ":memory:", nil)
	did := internalRepo(t, s, "did:web:abandon.example")
	began, release := holdGroups(s)
	first := commitAsync(ctx, t, s, did, "first")
	if n := <-began; n != 1 {
		t.Fatalf("first group of %d", n)
	}
	cctx, cancel := context.WithCancel(ctx)
	a, b := commitAsync(cctx, t, s, did, "a"), commitAsync(cctx, t, s, did, "b")
	waitPending(t, s, 2)
	release <- struct{}{} // first commits; a and b form a group
	if n := <-began; n != 2 {
		t.Fatalf("second group of %d, want 2", n)
	}
	cancel()
	for _, ch := range []<-chan error{a, b} {
		if err := <-ch; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled commit = %v", err)
		}
	}
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a group was still to run", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return after the group ran")
	}
}

// TestCommitPreparedOutsideLock checks the commits prepared while another
// group's transaction runs: one whose repo's head has not moved is stored
// as prepared; one whose head moved in between (another process committed
// to the repo, or took it down) is computed again under the lock, so no
// commit is lost and none lands on a stale head.
func TestCommitPreparedOutsideLock(t *testing.T) {
	for _, tt := range []struct {
		name string
		// between runs after the commit to b was prepared and before the
		// held group is released, on a second store over the same file.
		between  func(t *testing.T, other *Store, b syntax.DID)
		reused   int64
		inactive bool // the second commit fails: its repo is not active
	}{
		{"head unchanged", nil, 1, false},
		{"head moved", func(t *testing.T, other *Store, b syntax.DID) {
			if _, err := other.Commit(context.Background(), b, internalWrite(t, "other"), nil); err != nil {
				t.Fatal(err)
			}
		}, 0, false},
		{"taken down", func(t *testing.T, other *Store, b syntax.DID) {
			if err := other.Takedown(context.Background(), b); err != nil {
				t.Fatal(err)
			}
		}, 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "prep.db")
			s := openInternal(t, path, nil)
			a := internalRepo(t, s, "did:web:a.example")
			b := internalRepo(t, s, "did:web:b.example")
			if _, err := s.Commit(ctx, b, internalWrite(t, "base"), nil); err != nil {
				t.Fatal(err)
			}
			other := openInternal(t, path, nil)
			began, release := holdGroups(s)
			first := commitAsync(ctx, t, s, a, "first") // leads, held before its transaction
			if n := <-began; n != 1 {
				t.Fatalf("first group of %d", n)
			}
			second := commitAsync(ctx, t, s, b, "second") // prepared while first is held
			waitPending(t, s, 1)
			if got := s.group.prepared.Load(); got != 1 {
				t.Fatalf("%d commits prepared outside the lock, want 1", got)
			}
			if tt.between != nil {
				tt.between(t, other, b)
			}
			s.group.beforeBegin = nil
			close(release)
			if err := <-first; err != nil {
				t.Fatal(err)
			}
			err := <-second
			if tt.inactive {
				var ie *InactiveRepoError
				if !errors.As(err, &ie) {
					t.Fatalf("second commit = %v, want an InactiveRepoError", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if got := s.group.reused.Load(); got != tt.reused {
				t.Errorf("%d prepared commits stored as prepared, want %d", got, tt.reused)
			}
			if !tt.inactive {
				// Every record is there, and the head's prev is the head
				// the second commit found under the lock.
				want := []string{"base", "second"}
				if tt.between != nil {
					want = []string{"base", "other", "second"}
				}
				recs, _, err := s.ListRecords(ctx, b, "com.example.coll", nil)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, r := range recs {
					got = append(got, r.RKey.String())
				}
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("records of b: %v, want %v", got, want)
				}
				evs, err := s.Events(ctx, &EventsOptions{DID: b})
				if err != nil {
					t.Fatal(err)
				}
				last, prev := evs[len(evs)-1], evs[len(evs)-2]
				if last.Since != prev.Rev || last.PrevData == (cid.Cid{}) {
					t.Errorf("last event of b: since %s, want the rev before it, %s", last.Since, prev.Rev)
				}
			}
			if err := s.Check(ctx); err != nil {
				t.Error(err)
			}
		})
	}
}
