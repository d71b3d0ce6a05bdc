package did

import (
	"fmt"
	"time"

	"github.com/atlite-dev/atlite/syntax"
)

// RecoveryWindow is how long after an operation a higher-priority rotation
// key may still nullify it with a recovery operation.
const RecoveryWindow = 72 * time.Hour

// LogEntry is an entry of a DID's audit log, as the directory's
// /{did}/log/audit endpoint serves it.
type LogEntry struct {
	DID       syntax.DID      `json:"did"`
	Operation *Operation      `json:"operation"`
	CID       string          `json:"cid"`
	Nullified bool            `json:"nullified"`
	CreatedAt syntax.Datetime `json:"createdAt"`
}

// History is the operation history of one did:plc, checked with the rules
// of the PLC directory. It is what a directory keeps per DID: the fake
// directory of package didtest is built on it, and [VerifyAuditLog] replays
// a served audit log through it.
//
// The rules: the first operation is a genesis operation (prev null) whose
// hash gives the DID and which is signed by one of its own rotation keys.
// Every later operation names in prev an operation of the history that is
// not nullified, and is signed by one of that operation's rotation keys. If
// prev is the latest active operation, the new one is appended. Otherwise
// the new operation is a recovery: the active operations after prev are
// nullified, which is allowed only if the first of them is at most
// [RecoveryWindow] old and the recovery is signed by a rotation key listed
// before the one that signed it. Operations must not be older than the
// latest active one. A tombstone has no rotation keys, so only a recovery
// can follow it.
//
// A History is not safe for concurrent use.
type History struct {
	did     syntax.DID
	entries []LogEntry
	// allowed[i] lists the keys that may sign an operation whose prev is
	// entry i: its rotation keys, cut before the key that signed its
	// successor each time one is accepted.
	allowed [][]string
	index   map[string]int
	head    int
}

// NewHistory returns an empty history for d.
func NewHistory(d syntax.DID) *History {
	return &History{did: d, index: map[string]int{}, head: -1}
}

// DID returns the DID whose history h holds.
func (h *History) DID() syntax.DID { return h.did }

// Append checks op with [Operation.Validate] and the directory rules (see
// [History]) and, if it passes, records it at time now and returns its log
// entry. On error h is unchanged.
func (h *History) Append(op *Operation, now time.Time) (LogEntry, error) {
	if err := op.Validate(); err != nil {
		return LogEntry{}, err
	}
	return h.add(op, syntax.NewDatetime(now), true)
}

// AuditLog returns a copy of the log: every entry accepted so far, in
// order, with its nullified flag.
func (h *History) AuditLog() []LogEntry {
	out := make([]LogEntry, len(h.entries))
	for i, e := range h.entries {
		e.Operation = e.Operation.Clone()
		out[i] = e
	}
	return out
}

// Operations returns copies of the active (not nullified) operations, in
// order.
func (h *History) Operations() []*Operation {
	var out []*Operation
	for _, e := range h.entries {
		if !e.Nullified {
			out = append(out, e.Operation.Clone())
		}
	}
	return out
}

// Last returns a copy of the latest active entry; ok is false if h is
// empty.
func (h *History) Last() (e LogEntry, ok bool) {
	if h.head < 0 {
		return LogEntry{}, false
	}
	e = h.entries[h.head]
	e.Operation = e.Operation.Clone()
	return e, true
}

// add applies the directory rules to op at time t. If timed is false, the
// time checks are skipped (for plain operation lists).
func (h *History) add(op *Operation, t syntax.Datetime, timed bool) (LogEntry, error) {
	c, err := op.CID()
	if err != nil {
		return LogEntry{}, err
	}
	cs := c.String()
	if _, dup := h.index[cs]; dup {
		return LogEntry{}, fmt.Errorf("%w: operation %s is already in the log", ErrBrokenChain, cs)
	}
	e := LogEntry{DID: h.did, Operation: op.Clone(), CID: cs, CreatedAt: t}
	if h.head < 0 {
		if op.Prev != nil || op.Type == TypeTombstone {
			return LogEntry{}, fmt.Errorf("%w: first operation of %s is not a genesis operation", ErrBrokenChain, h.did)
		}
		gd, err := op.DID()
		if err != nil {
			return LogEntry{}, err
		}
		if gd != h.did {
			return LogEntry{}, fmt.Errorf("%w: genesis operation is for %s, not %s", ErrBrokenChain, gd, h.did)
		}
		if _, err := op.verifyAny(op.rotationKeys()); err != nil {
			return LogEntry{}, fmt.Errorf("genesis of %s: %w", h.did, err)
		}
		h.push(e, op)
		return e, nil
	}
	if op.Prev == nil {
		return LogEntry{}, fmt.Errorf("%w: %s already has a genesis operation", ErrBrokenChain, h.did)
	}
	p, ok := h.index[*op.Prev]
	if !ok {
		return LogEntry{}, fmt.Errorf("%w: prev %s is not in the log of %s", ErrBrokenChain, *op.Prev, h.did)
	}
	if h.entries[p].Nullified {
		return LogEntry{}, fmt.Errorf("%w: prev %s is nullified", ErrBrokenChain, *op.Prev)
	}
	k, err := op.verifyAny(h.allowed[p])
	if err != nil {
		if p != h.head {
			if _, err2 := op.verifyAny(h.entries[p].Operation.rotationKeys()); err2 == nil {
				return LogEntry{}, fmt.Errorf("%w: recovery key does not outrank the key that signed the operation it would nullify", ErrRecoveryWindow)
			}
		}
		return LogEntry{}, fmt.Errorf("operation after %s: %w", *op.Prev, err)
	}
	var nullify []int
	if timed {
		now := t.Time()
		if now.Before(h.entries[h.head].CreatedAt.Time()) {
			return LogEntry{}, fmt.Errorf("%w: operation dated %s is older than the latest one (%s)", ErrBrokenChain, t, h.entries[h.head].CreatedAt)
		}
	}
	if p != h.head {
		for i := p + 1; i < len(h.entries); i++ {
			if !h.entries[i].Nullified {
				nullify = append(nullify, i)
			}
		}
		if timed {
			first := h.entries[nullify[0]].CreatedAt.Time()
			if age := t.Time().Sub(first); age > RecoveryWindow {
				return LogEntry{}, fmt.Errorf("%w: operation to nullify is %s old, more than %s", ErrRecoveryWindow, age, RecoveryWindow)
			}
		}
	}
	for _, i := range nullify {
		h.entries[i].Nullified = true
	}
	h.allowed[p] = h.allowed[p][:k:k]
	h.push(e, op)
	return e, nil
}

func (h *History) push(e LogEntry, op *Operation) {
	h.index[e.CID] = len(h.entries)
	h.head = len(h.entries)
	h.entries = append(h.entries, e)
	h.allowed = append(h.allowed, append([]string(nil), op.rotationKeys()...))
}

// VerifyAuditLog checks a DID's audit log as served by a directory: every
// entry is for d, has a valid createdAt and the CID of its operation, and
// replaying the operations in order through the rules of [History] (at their
// createdAt times) accepts each of them and gives the same nullified flags.
// It returns the replayed history, whose [History.Last] is the current
// operation. The limits of [Operation.Validate] are not applied, since they
// are newer than some logs.
func VerifyAuditLog(d syntax.DID, log []LogEntry) (*History, error) {
	if len(log) == 0 {
		return nil, fmt.Errorf("%w: empty audit log for %s", ErrBrokenChain, d)
	}
	h := NewHistory(d)
	for i, e := range log {
		if e.DID != d {
			return nil, fmt.Errorf("%w: entry %d is for %s, not %s", ErrBrokenChain, i, e.DID, d)
		}
		if e.Operation == nil {
			return nil, fmt.Errorf("%w: entry %d has no operation", ErrBrokenChain, i)
		}
		t, err := syntax.ParseDatetime(string(e.CreatedAt))
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d: %w", ErrBrokenChain, i, err)
		}
		got, err := h.add(e.Operation, t, true)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		if got.CID != e.CID {
			return nil, fmt.Errorf("%w: entry %d has cid %s, its operation hashes to %s", ErrBrokenChain, i, e.CID, got.CID)
		}
	}
	for i, e := range log {
		if h.entries[i].Nullified != e.Nullified {
			return nil, fmt.Errorf("%w: entry %d (%s) says nullified=%t, the rules give %t", ErrBrokenChain, i, e.CID, e.Nullified, h.entries[i].Nullified)
		}
	}
	return h, nil
}

// VerifyChain checks a plain list of operations, such as the directory's
// /{did}/log serves (active operations only, without times): the first is a
// genesis operation whose hash gives d, each later one has as prev the CID
// of the one before it, and each is signed by a rotation key of the one
// before it (the first by one of its own).
func VerifyChain(d syntax.DID, ops []*Operation) error {
	if len(ops) == 0 {
		return fmt.Errorf("%w: no operations for %s", ErrBrokenChain, d)
	}
	h := NewHistory(d)
	for i, op := range ops {
		if i > 0 {
			last := h.entries[h.head].CID
			if op.Prev == nil || *op.Prev != last {
				return fmt.Errorf("%w: operation %d does not follow operation %d (%s)", ErrBrokenChain, i, i-1, last)
			}
		}
		if _, err := h.add(op, "", false); err != nil {
			return fmt.Errorf("operation %d: %w", i, err)
		}
	}
	return nil
}

// Rollback returns an unsigned operation that restores the state of n
// operations back: a copy of the content of the active operation n+1 from
// the end of log (legacy genesis operations converted), whose prev is the
// CID of the latest active operation. Nullified entries are ignored. It is
// an ordinary update, not a recovery: it goes at the end of the chain and
// needs a current rotation key. n must be at least 1 and the log must hold
// n+1 active operations, the target not being a tombstone.
func Rollback(log []LogEntry, n int) (*Operation, error) {
	var active []LogEntry
	for _, e := range log {
		if !e.Nullified {
			active = append(active, e)
		}
	}
	if n < 1 || len(active) < n+1 {
		return nil, fmt.Errorf("%w: cannot roll back %d operations of a log with %d active ones", ErrInvalidOperation, n, len(active))
	}
	last := active[len(active)-1]
	target := active[len(active)-1-n]
	if target.DID != last.DID || target.Operation == nil {
		return nil, fmt.Errorf("%w: log mixes dids", ErrBrokenChain)
	}
	op, err := target.Operation.regular()
	if err != nil {
		return nil, err
	}
	p := last.CID
	op.Prev = &p
	return op, nil
}
