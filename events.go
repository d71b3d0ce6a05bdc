package atlite

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/car"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/internal/storage"
	"github.com/atlite-dev/atlite/syntax"
)

// EventKind names the kind of an event-stream message.
type EventKind string

// The kinds of stored events, as the subscribeRepos message types name them
// (without the leading '#').
const (
	KindCommit   EventKind = "commit"
	KindIdentity EventKind = "identity"
	KindAccount  EventKind = "account"
	KindSync     EventKind = "sync"
)

// Event is one stored message of the repository event stream. Which fields
// are set depends on Kind.
type Event struct {
	Seq  int64
	DID  syntax.DID
	Kind EventKind
	Time time.Time

	// Commit and sync events.
	Rev    syntax.TID // the commit's rev
	Commit cid.Cid    // the commit's CID

	// Commit events.
	Since    syntax.TID  // the repo's previous rev (zero for the first commit)
	PrevData cid.Cid     // the previous MST root (cid.Undef for the first commit)
	Ops      []commit.Op // record operations
	Blocks   []cid.Cid   // blocks the firehose frame carries: new blocks and covering proofs

	// Identity events.
	Handle syntax.Handle // "" when the repo has no handle

	// Account events.
	Active bool
	Status string // "" when active
}

// fields puts the event's kind-specific fields into m: for commits commit,
// since, prevData (null when absent), ops and blocks; for syncs commit; for
// identity events handle; for account events active and status.
func (e *Event) fields(m map[string]any) error {
	switch e.Kind {
	case KindCommit:
		m["commit"] = e.Commit
		m["since"] = nil
		if e.Since != "" {
			m["since"] = e.Since.String()
		}
		m["prevData"] = cidOrNil(e.PrevData)
		m["ops"] = opsValue(e.Ops)
		m["blocks"] = e.Blocks
	case KindSync:
		m["commit"] = e.Commit
	case KindIdentity:
		if e.Handle != "" {
			m["handle"] = e.Handle.String()
		}
	case KindAccount:
		m["active"] = e.Active
		if e.Status != "" {
			m["status"] = e.Status
		}
	default:
		return fmt.Errorf("unknown event kind %q", e.Kind)
	}
	return nil
}

// body is what events.body stores: for a #commit event its compact body
// (eventbody.go), else the DAG-CBOR map of the kind's fields.
func (e *Event) body() ([]byte, error) {
	if e.Kind == KindCommit {
		if b, ok := compactCommitBody(e); ok {
			return b, nil
		}
	}
	return e.cborBody()
}

// cborBody is the DAG-CBOR map of the event's fields, the only body before
// schema 5 and still the body of other kinds.
func (e *Event) cborBody() ([]byte, error) {
	m := map[string]any{}
	if err := e.fields(m); err != nil {
		return nil, err
	}
	return datamodel.Marshal(m)
}

// decodeBody fills e's kind-specific fields from a stored body.
func (e *Event) decodeBody(b []byte) error {
	if e.Kind == KindCommit && len(b) > 0 && b[0] == commitBodyV2 {
		return decodeCompactCommitBody(e, b)
	}
	if e.Kind == KindCommit && decodeCommitBody(e, b) {
		return nil
	}
	e.Ops, e.Blocks, e.Since = nil, nil, ""
	return e.decodeGeneric(b)
}

// decodeGeneric is decodeBody through datamodel.UnmarshalMap, for every
// body.
func (e *Event) decodeGeneric(b []byte) error {
	m, err := datamodel.UnmarshalMap(b)
	if err != nil {
		return fmt.Errorf("event %d: %w", e.Seq, err)
	}
	getCID := func(k string) cid.Cid {
		c, _ := m[k].(cid.Cid)
		return c
	}
	switch e.Kind {
	case KindCommit:
		e.Commit = getCID("commit")
		e.PrevData = getCID("prevData")
		if s, ok := m["since"].(string); ok {
			if e.Since, err = syntax.ParseTID(s); err != nil {
				return fmt.Errorf("event %d: since: %w", e.Seq, err)
			}
		}
		ops, _ := m["ops"].([]any)
		e.Ops = make([]commit.Op, 0, len(ops))
		for _, o := range ops {
			om, ok := o.(map[string]any)
			if !ok {
				return fmt.Errorf("event %d: malformed op", e.Seq)
			}
			a, _ := om["action"].(string)
			p, _ := om["path"].(string)
			op := commit.Op{Action: commit.Action(a), Path: p}
			op.CID, _ = om["cid"].(cid.Cid)
			op.Prev, _ = om["prev"].(cid.Cid)
			e.Ops = append(e.Ops, op)
		}
		bl, _ := m["blocks"].([]any)
		e.Blocks = make([]cid.Cid, 0, len(bl))
		for _, c := range bl {
			if cc, ok := c.(cid.Cid); ok {
				e.Blocks = append(e.Blocks, cc)
			}
		}
	case KindSync:
		e.Commit = getCID("commit")
	case KindIdentity:
		h, _ := m["handle"].(string)
		e.Handle = syntax.Handle(h)
	case KindAccount:
		e.Active, _ = m["active"].(bool)
		e.Status, _ = m["status"].(string)
	}
	return nil
}

// writeEvent allocates the event's seq and stores it, inside tx.
func (s *Store) writeEvent(ctx context.Context, tx storage.WriteTx, e *Event) error {
	if e.Time.IsZero() {
		e.Time = s.now().UTC()
	}
	body, err := e.body()
	if err != nil {
		return err
	}
	var rev *string
	if r := e.Rev.String(); r != "" {
		rev = &r
	}
	e.Seq, err = tx.AppendEvent(ctx, storage.EventRow{DID: e.DID.String(), Kind: string(e.Kind), Time: e.Time.UnixMicro(), Rev: rev, Body: body})
	return err
}

// EventsOptions select events for [Store.Events]. A nil pointer means all
// repos from the start, DefaultEventsLimit at a time.
type EventsOptions struct {
	// After is an exclusive cursor: only events with a larger seq are
	// returned. Zero means from the start. Unlike the string cursors of the
	// list methods, it is a seq, as the firehose's cursor is.
	After int64
	// DID, when set, selects one repo's events.
	DID syntax.DID
	// Limit caps the number of events; zero means DefaultEventsLimit.
	Limit int
}

// DefaultEventsLimit is the number of events [Store.Events] returns when
// EventsOptions.Limit is zero.
const DefaultEventsLimit = 1000

type eventRow = storage.EventRow

// event converts a stored event.
func eventOf(r *eventRow) (Event, error) {
	e := Event{Seq: r.Seq, Kind: EventKind(r.Kind), Time: time.UnixMicro(r.Time).UTC()}
	var err error
	if e.DID, err = syntax.ParseDID(r.DID); err != nil {
		return Event{}, fmt.Errorf("event %d: did: %w", r.Seq, err)
	}
	if r.Rev != nil {
		if e.Rev, err = syntax.ParseTID(*r.Rev); err != nil {
			return Event{}, fmt.Errorf("event %d: rev: %w", r.Seq, err)
		}
	}
	if err := e.decodeBody(r.Body); err != nil {
		return Event{}, err
	}
	return e, nil
}

// withDefaults returns a copy of o (none when nil) with its defaults set.
func (o *EventsOptions) withDefaults() EventsOptions {
	var c EventsOptions
	if o != nil {
		c = *o
	}
	if c.Limit <= 0 {
		c.Limit = DefaultEventsLimit
	}
	return c
}

// Events returns stored events in seq order, after an exclusive cursor,
// for all repos or one.
func (s *Store) Events(ctx context.Context, opts *EventsOptions) ([]Event, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	o := opts.withDefaults()
	rows, err := s.b.Reader().Events(ctx, o.After, o.DID.String(), o.Limit)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return convertRows(rows, eventOf)
}

// WriteEventCAR writes the blocks a #commit event carries as the CAR v1
// slice of a subscribeRepos frame: root the event's commit, then the
// commit's new blocks and its covering proofs, from one read snapshot. For
// a #sync event the CAR holds the commit block alone.
func (s *Store) WriteEventCAR(ctx context.Context, e Event, w io.Writer) error {
	if e.Kind != KindCommit && e.Kind != KindSync {
		return fmt.Errorf("event %d is a %s event: it carries no blocks", e.Seq, e.Kind)
	}
	return s.WriteEventCARs(ctx, []Event{e}, func(_ int, car []byte) error {
		_, err := w.Write(car)
		return err
	})
}

// WriteEventCARs does what [Store.WriteEventCAR] does for each #commit and
// #sync event of evs, from ONE read snapshot and one batched block read:
// fn gets the index of the event in evs and its CAR, in order; other kinds
// are skipped. A firehose replaying a backlog encodes its frames a batch
// at a time this way instead of one transaction an event. The CAR passed to
// fn is valid only during the call.
func (s *Store) WriteEventCARs(ctx context.Context, evs []Event, fn func(i int, car []byte) error) error {
	done, err := s.enter()
	if err != nil {
		return err
	}
	defer done()
	if !carriesBlocks(evs) {
		return nil
	}
	return s.b.View(ctx, func(tx storage.ReadTx) error {
		return writeEventCARs(ctx, tx, evs, fn)
	})
}

// EventsWithCARs reads the events that [Store.Events] with opts returns
// and, from the same read snapshot, the CAR of each #commit and #sync one
// (as [Store.WriteEventCARs] writes it): fn gets each event in seq order,
// with its index and its CAR (nil for other kinds; valid only during the
// call). It returns the events. A firehose replaying a backlog reads a
// batch this way: an event that PruneEvents and GC remove meanwhile is
// either read with its blocks or not read at all.
func (s *Store) EventsWithCARs(ctx context.Context, opts *EventsOptions, fn func(i int, e *Event, car []byte) error) ([]Event, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	o := opts.withDefaults()
	var evs []Event
	err = s.b.View(ctx, func(tx storage.ReadTx) error {
		rows, err := tx.Events(ctx, o.After, o.DID.String(), o.Limit)
		if err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		if evs, err = convertRows(rows, eventOf); err != nil {
			return err
		}
		// In seq order: the events before each one with a CAR first.
		next := 0
		upTo := func(i int) error {
			for ; next < i; next++ {
				if err := fn(next, &evs[next], nil); err != nil {
					return err
				}
			}
			return nil
		}
		if carriesBlocks(evs) {
			err := writeEventCARs(ctx, tx, evs, func(i int, car []byte) error {
				if err := upTo(i); err != nil {
					return err
				}
				next = i + 1
				return fn(i, &evs[i], car)
			})
			if err != nil {
				return err
			}
		}
		return upTo(len(evs))
	})
	if err != nil {
		return nil, err
	}
	return evs, nil
}

// carriesBlocks reports whether some event of evs carries blocks.
func carriesBlocks(evs []Event) bool {
	for i := range evs {
		if len(blocksOf(&evs[i])) > 0 {
			return true
		}
	}
	return false
}

// writeEventCARs is WriteEventCARs inside tx.
func writeEventCARs(ctx context.Context, tx storage.ReadTx, evs []Event, fn func(i int, car []byte) error) error {
	n := 0
	for i := range evs {
		n += len(blocksOf(&evs[i]))
	}
	all := make([]cid.Cid, 0, n)
	seen := make(map[cid.Cid]struct{}, n)
	for i := range evs {
		for _, c := range blocksOf(&evs[i]) {
			if _, ok := seen[c]; !ok {
				seen[c] = struct{}{}
				all = append(all, c)
			}
		}
	}
	got, err := readEventBlocks(ctx, tx, evs, all)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for i := range evs {
		e := &evs[i]
		cids := blocksOf(e)
		if cids == nil {
			continue
		}
		buf.Reset()
		cw, err := car.NewWriter(&buf, []cid.Cid{e.Commit})
		if err != nil {
			return err
		}
		for _, c := range cids {
			b, ok := got[c]
			if !ok {
				return fmt.Errorf("%w: event %d: block %s is missing", ErrCorrupt, e.Seq, c)
			}
			if err := cw.WriteBlock(c, b); err != nil {
				return err
			}
		}
		if err := cw.Flush(); err != nil {
			return err
		}
		if err := fn(i, buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// blocksOf returns the blocks the frame of e carries: a #commit event's
// Blocks, a #sync event's commit; nil for other kinds.
func blocksOf(e *Event) []cid.Cid {
	switch e.Kind {
	case KindSync:
		return []cid.Cid{e.Commit}
	case KindCommit:
		return e.Blocks
	}
	return nil
}

// readEventBlocks returns the stored blocks among all, the blocks that the
// events evs carry. The blocks a commit wrote are stored together, in
// rows whose ids follow each other, and the commits of successive events
// one after the other: so most of a run of events' blocks lie in the id
// range from the first event's commit block to the last one's, and one
// scan of that range (storage.BlockReader.GetBlocksByID) reads them at a
// fraction of the cost of a look-up by key each. What the ranges miss
// (blocks an earlier commit stored, as a covering proof or a record
// written before, or blocks in the overflow table) is then read by key.
func readEventBlocks(ctx context.Context, tx storage.ReadTx, evs []Event, all []cid.Cid) (map[cid.Cid][]byte, error) {
	got := make(map[cid.Cid][]byte, len(all))
	var carrying []*Event
	for i := range evs {
		if e := &evs[i]; len(blocksOf(e)) > 0 && e.Commit.Defined() {
			carrying = append(carrying, e)
		}
	}
	r := rangeReader{tx: tx, ids: make(map[cid.Cid]int64, 8), got: got}
	if err := r.read(ctx, carrying); err != nil {
		return nil, err
	}
	if len(got) == len(all) {
		return got, nil
	}
	var rest []cid.Cid
	for _, c := range all {
		if _, ok := got[c]; !ok {
			rest = append(rest, c)
		}
	}
	if err := tx.GetBlocks(ctx, rest, got); err != nil {
		return nil, err
	}
	return got, nil
}

// rangeReader reads the blocks of runs of events by id range, for
// readEventBlocks.
type rangeReader struct {
	tx  storage.ReadTx
	ids map[cid.Cid]int64 // the ids of the commit blocks looked up
	got map[cid.Cid][]byte
}

// rangeSlack is how many rows beyond the blocks it wants a range may hold
// and still be scanned (twice the blocks wanted plus rangeSlack): the
// rows of blocks stored between two events' commits without an event of
// their own (an import's) or by a concurrent transaction are read for
// nothing.
const rangeSlack = 64

// read adds to r.got the blocks of evs (in seq order, each with a commit)
// that lie in the id range of their commits. A range too wide for the
// blocks it should hold, or whose ends are out of order, is split in two
// halves, each read the same way, down to single events.
func (r *rangeReader) read(ctx context.Context, evs []*Event) error {
	if len(evs) == 0 {
		return nil
	}
	first, last := evs[0], evs[len(evs)-1]
	var ask []cid.Cid
	for _, c := range []cid.Cid{first.Commit, last.Commit} {
		if _, ok := r.ids[c]; !ok {
			ask = append(ask, c)
		}
	}
	if err := r.tx.BlockIDs(ctx, ask, r.ids); err != nil {
		return err
	}
	for _, c := range ask {
		if _, ok := r.ids[c]; !ok {
			r.ids[c] = -1 // not in the blocks table: no range ends there
		}
	}
	a, b := r.ids[first.Commit], r.ids[last.Commit]
	n := 0
	for _, e := range evs {
		n += len(blocksOf(e))
	}
	if a >= 0 && b >= 0 {
		// Around the ends, the commit's other blocks, stored before it
		// (or, by a backend that sorts a commit's blocks, either side).
		lo, hi := a-int64(len(blocksOf(first))), b+int64(len(blocksOf(last)))
		if lo <= hi && hi-lo < int64(2*n+rangeSlack) {
			want := make([]cid.Cid, 0, n)
			for _, e := range evs {
				want = append(want, blocksOf(e)...)
			}
			return r.tx.GetBlocksByID(ctx, lo, hi, want, r.got)
		}
	}
	if len(evs) == 1 {
		return nil // left to the look-up by key
	}
	mid := len(evs) / 2
	if err := r.read(ctx, evs[:mid]); err != nil {
		return err
	}
	return r.read(ctx, evs[mid:])
}

// BlocksBySeq returns the blocks that the event with this seq carries (see
// [Event.Blocks]; for a #sync event, its commit), or ErrNotFound when there
// is no such event (ErrCorrupt when one of its blocks is missing).
func (s *Store) BlocksBySeq(ctx context.Context, seq int64) ([]Block, error) {
	evs, err := s.Events(ctx, &EventsOptions{After: seq - 1, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 || evs[0].Seq != seq {
		return nil, fmt.Errorf("event %d: %w", seq, ErrNotFound)
	}
	cids := evs[0].Blocks
	if evs[0].Kind == KindSync {
		cids = []cid.Cid{evs[0].Commit}
	}
	found, missing, err := s.GetBlocks(ctx, cids)
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: event %d: block %s is missing", ErrCorrupt, seq, missing[0])
	}
	return found, nil
}

// opsValue renders ops as data-model values: action, path, and cid and
// prev as CIDs or null.
func opsValue(ops []commit.Op) []any {
	out := make([]any, len(ops))
	for i, op := range ops {
		out[i] = map[string]any{"action": string(op.Action), "path": op.Path, "cid": cidOrNil(op.CID), "prev": cidOrNil(op.Prev)}
	}
	return out
}

// cidOrNil returns c, or nil (null) when c is undefined.
func cidOrNil(c cid.Cid) any {
	if c.Defined() {
		return c
	}
	return nil
}
