package syntax

import (
	"sync"
	"time"
)

// Clock hands out TIDs that strictly increase, with a fixed clock identifier,
// even when the wall clock stands still or goes backwards: each TID uses the
// current time in microseconds, or one microsecond more than the previous
// TID's timestamp if that is later.
//
// A Clock is safe for concurrent use and must not be copied after first use.
// Create one with NewClock or NewClockWithSource; the zero Clock reads
// time.Now and has clock identifier 0.
type Clock struct {
	id  uint
	now func() time.Time

	mu   sync.Mutex
	next uint64 // smallest timestamp (µs) the next TID may carry
}

// NewClock returns a Clock with the given clock identifier (only its low 10
// bits are used) that reads time.Now.
func NewClock(clockID uint) *Clock {
	return NewClockWithSource(clockID, time.Now)
}

// NewClockWithSource returns a Clock with the given clock identifier (only its
// low 10 bits are used) that reads the time from now, for tests and replays.
func NewClockWithSource(clockID uint, now func() time.Time) *Clock {
	return &Clock{id: clockID & clockIDMask, now: now}
}

// ClockID returns the clock identifier of every TID c hands out.
func (c *Clock) ClockID() uint { return c.id }

// Next returns a TID greater than every TID c has handed out before.
//
// Next returns the zero TID only if the timestamps reached 2^53 µs (the year
// 2255), which happens only after NextAfter was given such a TID.
func (c *Clock) Next() TID {
	return c.issue(0)
}

// NextAfter returns a TID greater than both prev and every TID c has handed
// out before. A zero prev is ignored. It advances c past prev: a clock shared
// by many repositories should not be given one repository's revision
// (commit.NextRev computes a revision above a future prev without moving the
// clock).
//
// If no such TID exists with the top bit clear (prev carries a timestamp at
// or beyond 2^53-1 µs, after the year 2255), NextAfter returns the zero TID
// and leaves c unchanged.
func (c *Clock) NextAfter(prev TID) TID {
	var floor uint64
	if prev != "" {
		floor = prev.Integer()>>clockIDBits + 1
	}
	return c.issue(floor)
}

// issue returns the TID for max(now, c.next, floor) and advances c.next past it.
func (c *Clock) issue(floor uint64) TID {
	nowFunc := c.now
	if nowFunc == nil {
		nowFunc = time.Now
	}
	var m uint64
	if now := nowFunc().UnixMicro(); now > 0 {
		m = uint64(now)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m = max(m, c.next, floor)
	if m >= maxTIDMicros {
		return ""
	}
	c.next = m + 1
	return NewTIDFromInteger(m<<clockIDBits | uint64(c.id))
}
