package syntax_test

import (
	"math"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/atlite-dev/atlite/syntax"
)

// now is the reference instant of the arroba test suite, 2022-01-02T03:04:05Z.
var now = time.Date(2022, 1, 2, 3, 4, 5, 0, time.UTC)

const nowMicros = 1641092645000000

// nowDigits is nowMicros written in base 32, most significant digit first:
//
//	1641092645000000 = 1·32^10 + 14·32^9 + 20·32^8 + 18·32^7 + 2·32^6 + 20·32^5
//	                 + 2·32^4 + 12·32^3 + 4·32^2 + 26·32 + 0
//
// In the alphabet "234567abcdefghijklmnopqrstuvwxyz" (digit d is the d-th
// character) these are "3iom4o4g6u2". Per the TID spec the integer is
// micros<<10 | clockID; a 10-bit shift appends two base-32 digits, which are
// the clock id's: 0 → "22", 17 → "2l" (17 = 0·32 + 17), 544 → "l2"
// (544 = 17·32 + 0). arroba left-aligns clock 17 as 544, hence its
// "3iom4o4g6u2l2".
var nowDigits = []uint64{1, 14, 20, 18, 2, 20, 2, 12, 4, 26, 0}

func TestNowDigits(t *testing.T) {
	var n uint64
	for _, d := range nowDigits {
		n = n*32 + d
	}
	if n != nowMicros {
		t.Fatalf("digits sum to %d, want %d", n, nowMicros)
	}
	if got := now.UnixMicro(); got != nowMicros {
		t.Fatalf("now.UnixMicro() = %d, want %d", got, nowMicros)
	}
}

func TestNewTID(t *testing.T) {
	tests := []struct {
		name    string
		got     syntax.TID
		want    syntax.TID
		integer uint64
	}{
		{"NewTID(0, 0)", syntax.NewTID(0, 0), "2222222222222", 0},
		{"NewTID(0, 1)", syntax.NewTID(0, 1), "2222222222223", 1},
		{"NewTID(1, 0)", syntax.NewTID(1, 0), "2222222222322", 1024},
		{"NewTID(0, 1023)", syntax.NewTID(0, 1023), "22222222222zz", 1023},
		{"NewTID(0, 1024) masks the clock id", syntax.NewTID(0, 1024), "2222222222222", 0},
		{"NewTIDFromInteger(42)", syntax.NewTIDFromInteger(42), "222222222223e", 42}, // 42 = 1·32 + 10 → "3" "e"
		{"NewTID(now, 0)", syntax.NewTID(nowMicros, 0), "3iom4o4g6u222", nowMicros << 10},
		{"NewTID(now, 17)", syntax.NewTID(nowMicros, 17), "3iom4o4g6u22l", nowMicros<<10 | 17},
		{"NewTID(now, 544) is arroba's left-aligned clock 17", syntax.NewTID(nowMicros, 544), "3iom4o4g6u2l2", nowMicros<<10 | 544},
		{"NewTIDFromTime(now, 0)", syntax.NewTIDFromTime(now, 0), "3iom4o4g6u222", nowMicros << 10},
		{"NewTIDFromTime truncates to µs", syntax.NewTIDFromTime(now.Add(999), 0), "3iom4o4g6u222", nowMicros << 10},
		{"NewTIDFromInteger(2^63-1)", syntax.NewTIDFromInteger(math.MaxInt64), "bzzzzzzzzzzzz", math.MaxInt64},
		{"NewTIDFromInteger(2^64-1)", syntax.NewTIDFromInteger(math.MaxUint64), "jzzzzzzzzzzzz", math.MaxUint64},
		{"NewTID(2^53, 0) wraps", syntax.NewTID(1<<53, 0), "2222222222222", 0},
		{"NewTID(2^53-1, 1023)", syntax.NewTID(1<<53-1, 1023), "bzzzzzzzzzzzz", math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
			}
			if got := tt.got.Integer(); got != tt.integer {
				t.Errorf("%s.Integer() = %d, want %d", tt.name, got, tt.integer)
			}
			if got := syntax.NewTIDFromInteger(tt.integer); got != tt.want {
				t.Errorf("NewTIDFromInteger(%d) = %q, want %q", tt.integer, got, tt.want)
			}
			if p, err := syntax.ParseTID(string(tt.want)); err != nil || p != tt.want {
				t.Errorf("ParseTID(%q) = %q, %v, want it back", tt.want, p, err)
			}
		})
	}
}

func TestTIDFields(t *testing.T) {
	tests := []struct {
		tid     syntax.TID
		time    time.Time
		clockID uint
	}{
		{"2222222222222", time.Unix(0, 0).UTC(), 0},
		{"3iom4o4g6u22l", now, 17},
		{"3iom4o4g6u2l2", now, 544},
		// From tid_syntax_valid.txt: integer 1728652679052295174.
		{"3jzfcijpj2z2a", time.Date(2023, 6, 30, 15, 3, 1, 887007000, time.UTC), 6},
		{"22222222222zz", time.Unix(0, 0).UTC(), 1023},
	}
	for _, tt := range tests {
		tid, err := syntax.ParseTID(string(tt.tid))
		if err != nil {
			t.Fatalf("ParseTID(%q) error = %v", tt.tid, err)
		}
		if got := tid.Time(); !got.Equal(tt.time) || got.Location() != time.UTC {
			t.Errorf("TID(%q).Time() = %v, want %v", tt.tid, got, tt.time)
		}
		if got := tid.ClockID(); got != tt.clockID {
			t.Errorf("TID(%q).ClockID() = %d, want %d", tt.tid, got, tt.clockID)
		}
	}
	if got := syntax.TID("3jzfcijpj2z2a").Integer(); got != 1728652679052295174 {
		t.Errorf(`TID("3jzfcijpj2z2a").Integer() = %d, want 1728652679052295174`, got)
	}
	if got := syntax.TID("").Integer(); got != 0 {
		t.Errorf(`TID("").Integer() = %d, want 0`, got)
	}
}

// TestTIDTimeRoundTrip checks µs-exact round trips through NewTIDFromTime and
// Time, including the arroba suite's odd microsecond values.
func TestTIDTimeRoundTrip(t *testing.T) {
	times := []time.Time{
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1987, 1, 1, 0, 0, 0, 2525000, time.UTC),
		time.Date(2040, 1, 1, 0, 0, 0, 213000, time.UTC),
		time.Date(2100, 12, 31, 23, 59, 59, 999999000, time.UTC),
		now,
	}
	for _, tm := range times {
		for _, clock := range []uint{0, 1, 17, 31, 544, 1023} {
			tid := syntax.NewTIDFromTime(tm, clock)
			if got := tid.Time(); !got.Equal(tm) {
				t.Errorf("NewTIDFromTime(%v, %d).Time() = %v, want %v", tm, clock, got, tm)
			}
			if got := tid.ClockID(); got != clock {
				t.Errorf("NewTIDFromTime(%v, %d).ClockID() = %d", tm, clock, got)
			}
			if len(tid) != syntax.TIDLength {
				t.Errorf("NewTIDFromTime(%v, %d) = %q, want 13 characters", tm, clock, tid)
			}
		}
	}
}

// TestTIDOrder checks that TIDs sort as strings exactly as their integers do.
func TestTIDOrder(t *testing.T) {
	ints := []uint64{0, 1, 31, 32, 33, 1023, 1024, 42 << 10, nowMicros << 10, nowMicros<<10 | 1023,
		(nowMicros + 1) << 10, 1 << 62, math.MaxInt64, 1 << 63, math.MaxUint64 - 1, math.MaxUint64}
	// A deterministic pseudo-random spread as well.
	x := uint64(0x9e3779b97f4a7c15)
	for range 200 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		ints = append(ints, x, x>>11)
	}
	tids := make([]syntax.TID, len(ints))
	for i, n := range ints {
		tids[i] = syntax.NewTIDFromInteger(n)
	}
	slices.Sort(ints)
	sort.Slice(tids, func(i, j int) bool { return tids[i] < tids[j] })
	for i := range ints {
		if got := tids[i].Integer(); got != ints[i] {
			t.Fatalf("sorted TIDs[%d].Integer() = %d, want %d", i, got, ints[i])
		}
	}
	for i := 1; i < len(tids); i++ {
		a, b := tids[i-1], tids[i]
		want := 0
		if a.Integer() < b.Integer() {
			want = -1
		}
		if got := a.Compare(b); got != want {
			t.Errorf("%q.Compare(%q) = %d, want %d", a, b, got, want)
		}
		if got := b.Compare(a); got != -want {
			t.Errorf("%q.Compare(%q) = %d, want %d", b, a, got, -want)
		}
	}
	if got := syntax.TID("").Compare("2222222222222"); got != -1 {
		t.Errorf(`zero TID Compare = %d, want -1`, got)
	}
}

func TestTIDRecordKey(t *testing.T) {
	tid := syntax.NewTID(nowMicros, 0)
	rk, err := syntax.ParseRecordKey(string(tid.RecordKey()))
	if err != nil || rk != "3iom4o4g6u222" {
		t.Errorf("ParseRecordKey(%q) = %q, %v", tid, rk, err)
	}
}
