package syntax_test

import (
	"sync"
	"testing"
	"time"

	"github.com/atlite-dev/atlite/syntax"
)

// fakeTime is a settable time source.
type fakeTime struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeTime) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeTime) set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = t
}

func TestClockSequence(t *testing.T) {
	ft := &fakeTime{t: now}
	c := syntax.NewClockWithSource(17, ft.now)
	if got := c.ClockID(); got != 17 {
		t.Errorf("ClockID() = %d, want 17", got)
	}
	steps := []struct {
		name string
		set  time.Time // zero: leave the time as is
		want syntax.TID
	}{
		{"first at now", time.Time{}, "3iom4o4g6u22l"},
		{"same instant: +1µs", time.Time{}, "3iom4o4g6u32l"},
		{"same instant again: +2µs", time.Time{}, "3iom4o4g6u42l"},
		{"clock back one hour", now.Add(-time.Hour), "3iom4o4g6u52l"},
		{"clock back to 1970", time.Unix(0, 0), "3iom4o4g6u62l"},
		{"clock before 1970", time.Unix(-100, 0), "3iom4o4g6u72l"},
		{"clock forward one second", now.Add(time.Second), syntax.NewTIDFromTime(now.Add(time.Second), 17)},
	}
	var prev syntax.TID
	for _, st := range steps {
		if !st.set.IsZero() {
			ft.set(st.set)
		}
		got := c.Next()
		if got != st.want {
			t.Errorf("%s: Next() = %q, want %q", st.name, got, st.want)
		}
		if got <= prev {
			t.Errorf("%s: Next() = %q, not greater than %q", st.name, got, prev)
		}
		if got.ClockID() != 17 {
			t.Errorf("%s: Next().ClockID() = %d, want 17", st.name, got.ClockID())
		}
		prev = got
	}
}

func TestClockNextAfter(t *testing.T) {
	ft := &fakeTime{t: now}
	c := syntax.NewClockWithSource(0, ft.now)
	tests := []struct {
		name string
		prev syntax.TID
		want syntax.TID
	}{
		{"zero prev is ignored", "", "3iom4o4g6u222"},
		{"old prev: clock wins", "2222222222222", "3iom4o4g6u322"},
		{"prev in the future", syntax.NewTID(nowMicros+1000, 5), syntax.NewTID(nowMicros+1001, 0)},
		{"prev with a higher clock id at the same µs", syntax.NewTID(nowMicros+2000, 1023), syntax.NewTID(nowMicros+2001, 0)},
		{"prev behind the clock's last", syntax.NewTID(nowMicros+10, 0), syntax.NewTID(nowMicros+2002, 0)},
		{"prev just below the limit", syntax.NewTID(1<<53-2, 9), "bzzzzzzzzzz22"}, // (2^53-1)<<10
		{"prev at the limit: no TID", syntax.NewTID(1<<53-1, 0), ""},
		{"prev beyond the top bit: no TID", "jzzzzzzzzzzzz", ""},
	}
	for _, tt := range tests {
		got := c.NextAfter(tt.prev)
		if got != tt.want {
			t.Errorf("%s: NextAfter(%q) = %q, want %q", tt.name, tt.prev, got, tt.want)
		}
		if got != "" && got <= tt.prev {
			t.Errorf("%s: NextAfter(%q) = %q, not greater", tt.name, tt.prev, got)
		}
	}
	// After the limit was hit, the clock cannot move on either.
	if got := c.Next(); got != "" {
		t.Errorf("Next() after the limit = %q, want zero TID", got)
	}
}

// TestClockNextAfterKeepsClockOrdered checks that Next stays above a TID that
// NextAfter pushed forward.
func TestClockNextAfterKeepsClockOrdered(t *testing.T) {
	ft := &fakeTime{t: now}
	c := syntax.NewClockWithSource(3, ft.now)
	a := c.NextAfter(syntax.NewTID(nowMicros+5_000_000, 0))
	b := c.Next()
	if want := syntax.NewTID(nowMicros+5_000_001, 3); a != want {
		t.Errorf("NextAfter = %q, want %q", a, want)
	}
	if want := syntax.NewTID(nowMicros+5_000_002, 3); b != want {
		t.Errorf("Next after NextAfter = %q, want %q", b, want)
	}
}

func TestClockRealTime(t *testing.T) {
	c := syntax.NewClock(1)
	before := time.Now().Truncate(time.Microsecond)
	tid := c.Next()
	after := time.Now()
	if _, err := syntax.ParseTID(string(tid)); err != nil {
		t.Fatalf("ParseTID(%q) error = %v", tid, err)
	}
	if got := tid.Time(); got.Before(before) || got.After(after) {
		t.Errorf("Next().Time() = %v, want between %v and %v", got, before, after)
	}
	if got := tid.ClockID(); got != 1 {
		t.Errorf("Next().ClockID() = %d, want 1", got)
	}
}

// TestClockConcurrent draws TIDs from 8 goroutines on a clock that stands
// still: each goroutine must see increasing TIDs and all must be distinct.
func TestClockConcurrent(t *testing.T) {
	const goroutines, perG = 8, 2000
	ft := &fakeTime{t: now}
	c := syntax.NewClockWithSource(7, ft.now)
	results := make([][]syntax.TID, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			out := make([]syntax.TID, 0, perG)
			for i := range perG {
				if i%500 == 0 && g == 0 {
					ft.set(now.Add(-time.Duration(i) * time.Millisecond)) // and backwards
				}
				out = append(out, c.Next())
			}
			results[g] = out
		})
	}
	wg.Wait()
	seen := make(map[syntax.TID]bool, goroutines*perG)
	for g, out := range results {
		for i, tid := range out {
			if i > 0 && tid <= out[i-1] {
				t.Fatalf("goroutine %d: TID %d = %q, not greater than %q", g, i, tid, out[i-1])
			}
			if seen[tid] {
				t.Fatalf("goroutine %d: TID %q handed out twice", g, tid)
			}
			seen[tid] = true
		}
	}
	if len(seen) != goroutines*perG {
		t.Errorf("%d distinct TIDs, want %d", len(seen), goroutines*perG)
	}
	// The clock never went forward, so the TIDs are exactly the next
	// goroutines*perG microseconds from now.
	last := syntax.NewTID(nowMicros+goroutines*perG-1, 7)
	if !seen[last] || seen[syntax.NewTID(nowMicros+goroutines*perG, 7)] {
		t.Errorf("TIDs do not fill [now, now+%d) µs", goroutines*perG)
	}
}

func TestClockZeroValue(t *testing.T) {
	var c syntax.Clock
	a, b := c.Next(), c.Next()
	if a >= b || a.ClockID() != 0 {
		t.Errorf("zero Clock: Next() = %q then %q, want increasing with clock id 0", a, b)
	}
}
