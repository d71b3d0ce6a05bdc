package did_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/atlite-dev/atlite/did"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

var t0 = time.Date(2022, 1, 2, 3, 4, 5, 0, time.UTC)

// chainFixture is a DID with rotation keys [a, b] (a has priority) and a
// history holding its genesis operation, signed by a at t0.
type chainFixture struct {
	a, b, c keys.PrivateKey
	d       syntax.DID
	g       *did.Operation
	h       *did.History
}

func newChain(t *testing.T) *chainFixture {
	t.Helper()
	f := &chainFixture{a: k256(t, seedRepo), b: k256(t, seedOther), c: k256(t, seedThird)}
	f.g, f.d = genesis(t, f.a, f.a, f.b)
	f.h = did.NewHistory(f.d)
	if _, err := f.h.Append(f.g, t0); err != nil {
		t.Fatalf("Append(genesis) = %v", err)
	}
	return f
}

// next returns prev updated to handle, signed by k.
func next(t *testing.T, prev *did.Operation, handle syntax.Handle, k keys.PrivateKey) *did.Operation {
	t.Helper()
	op, err := did.NewUpdate(prev, did.Update{Handle: handle})
	if err != nil {
		t.Fatal(err)
	}
	return signed(t, op, k)
}

func nullified(h *did.History) []bool {
	var out []bool
	for _, e := range h.AuditLog() {
		out = append(out, e.Nullified)
	}
	return out
}

func TestHistoryAppend(t *testing.T) {
	f := newChain(t)
	op1 := next(t, f.g, "one.test", f.b)
	e, err := f.h.Append(op1, t0.Add(time.Hour))
	if err != nil {
		t.Fatalf("Append(op1) = %v", err)
	}
	want := did.LogEntry{DID: f.d, Operation: op1, CID: mustCID(t, op1), CreatedAt: "2022-01-02T04:04:05.000Z"}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("Append(op1) = %+v, want %+v", e, want)
	}
	last, ok := f.h.Last()
	if !ok || last.CID != want.CID {
		t.Errorf("Last() = %+v, %t", last, ok)
	}
	if ops := f.h.Operations(); len(ops) != 2 || !reflect.DeepEqual(ops[1], op1) {
		t.Errorf("Operations() = %v", ops)
	}
	// The returned entries are copies.
	log := f.h.AuditLog()
	log[0].Operation.AlsoKnownAs[0] = "at://changed.test"
	if again := f.h.AuditLog(); again[0].Operation.AlsoKnownAs[0] != "at://han.dull" {
		t.Error("AuditLog() shares operations with the history")
	}
}

func TestHistoryRefusals(t *testing.T) {
	f := newChain(t)
	unknown := genesisCID
	tests := []struct {
		name string
		op   func() *did.Operation
		at   time.Time
		want error
	}{
		{"wrong key", func() *did.Operation { return next(t, f.g, "x.test", f.c) }, t0.Add(time.Hour), did.ErrBadSignature},
		{"unknown prev", func() *did.Operation {
			op, _ := did.NewUpdate(f.g, did.Update{})
			op.Prev = &unknown
			return signed(t, op, f.a)
		}, t0.Add(time.Hour), did.ErrBrokenChain},
		{"second genesis", func() *did.Operation { op, _ := genesis(t, f.a, f.a); return op }, t0.Add(time.Hour), did.ErrBrokenChain},
		{"older than latest", func() *did.Operation { return next(t, f.g, "x.test", f.a) }, t0.Add(-time.Second), did.ErrBrokenChain},
		{"duplicate", func() *did.Operation { return f.g }, t0.Add(time.Hour), did.ErrBrokenChain},
		{"unsigned", func() *did.Operation { op, _ := did.NewUpdate(f.g, did.Update{}); return op }, t0.Add(time.Hour), did.ErrBadSignature},
		{"invalid", func() *did.Operation {
			op, _ := did.NewUpdate(f.g, did.Update{})
			op.RotationKeys = nil
			return signed(t, op, f.a)
		}, t0.Add(time.Hour), did.ErrInvalidOperation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.h.Append(tt.op(), tt.at); !errors.Is(err, tt.want) {
				t.Errorf("Append() = %v, want %v", err, tt.want)
			}
			if n := len(f.h.AuditLog()); n != 1 {
				t.Errorf("history has %d entries after a refusal, want 1", n)
			}
		})
	}

	// A genesis operation for another DID, or not signed by its own keys.
	g2, _ := genesis(t, f.a, f.a)
	if _, err := did.NewHistory(f.d).Append(g2, t0); !errors.Is(err, did.ErrBrokenChain) {
		t.Errorf("Append(genesis of another did) = %v, want ErrBrokenChain", err)
	}
	g3, _ := genesis(t, f.a, f.a)
	signed(t, g3, f.c)
	d3, _ := g3.DID()
	if _, err := did.NewHistory(d3).Append(g3, t0); !errors.Is(err, did.ErrBadSignature) {
		t.Errorf("Append(genesis signed by a stranger) = %v, want ErrBadSignature", err)
	}
	if _, err := did.NewHistory(f.d).Append(next(t, f.g, "x.test", f.a), t0); !errors.Is(err, did.ErrBrokenChain) {
		t.Errorf("Append(update first) = %v, want ErrBrokenChain", err)
	}
}

func TestHistoryRecovery(t *testing.T) {
	t.Run("higher key nullifies", func(t *testing.T) {
		f := newChain(t)
		op1 := next(t, f.g, "one.test", f.b)
		op2 := next(t, op1, "two.test", f.b)
		mustAppend(t, f.h, op1, t0.Add(time.Hour))
		mustAppend(t, f.h, op2, t0.Add(2*time.Hour))
		rec := next(t, f.g, "rec.test", f.a)
		mustAppend(t, f.h, rec, t0.Add(70*time.Hour))
		if got, want := nullified(f.h), []bool{false, true, true, false}; !reflect.DeepEqual(got, want) {
			t.Errorf("nullified = %v, want %v", got, want)
		}
		if last, _ := f.h.Last(); last.CID != mustCID(t, rec) {
			t.Errorf("Last() = %s, want the recovery", last.CID)
		}
		// A nullified operation can no longer be built on.
		if _, err := f.h.Append(next(t, op2, "three.test", f.a), t0.Add(71*time.Hour)); !errors.Is(err, did.ErrBrokenChain) {
			t.Errorf("Append(after nullified) = %v, want ErrBrokenChain", err)
		}
		// The genesis was re-signed from by key 0: nothing outranks it.
		if _, err := f.h.Append(next(t, f.g, "again.test", f.a), t0.Add(71*time.Hour)); !errors.Is(err, did.ErrRecoveryWindow) {
			t.Errorf("Append(second recovery) = %v, want ErrRecoveryWindow", err)
		}
	})
	t.Run("same key cannot nullify", func(t *testing.T) {
		f := newChain(t)
		mustAppend(t, f.h, next(t, f.g, "one.test", f.a), t0.Add(time.Hour))
		if _, err := f.h.Append(next(t, f.g, "rec.test", f.a), t0.Add(2*time.Hour)); !errors.Is(err, did.ErrRecoveryWindow) {
			t.Errorf("Append(recovery by same key) = %v, want ErrRecoveryWindow", err)
		}
		if _, err := f.h.Append(next(t, f.g, "rec.test", f.b), t0.Add(2*time.Hour)); !errors.Is(err, did.ErrRecoveryWindow) {
			t.Errorf("Append(recovery by lower key) = %v, want ErrRecoveryWindow", err)
		}
	})
	t.Run("window", func(t *testing.T) {
		f := newChain(t)
		mustAppend(t, f.h, next(t, f.g, "one.test", f.b), t0.Add(time.Hour))
		late := t0.Add(time.Hour + did.RecoveryWindow + time.Millisecond)
		if _, err := f.h.Append(next(t, f.g, "rec.test", f.a), late); !errors.Is(err, did.ErrRecoveryWindow) {
			t.Errorf("Append(recovery after 72h) = %v, want ErrRecoveryWindow", err)
		}
		mustAppend(t, f.h, next(t, f.g, "rec.test", f.a), t0.Add(time.Hour+did.RecoveryWindow))
	})
	t.Run("tombstone", func(t *testing.T) {
		f := newChain(t)
		tomb, err := did.NewTombstone(f.g)
		if err != nil {
			t.Fatal(err)
		}
		signed(t, tomb, f.b)
		mustAppend(t, f.h, tomb, t0.Add(time.Hour))
		last, _ := f.h.Last()
		if _, err := last.Operation.Document(f.d); !errors.Is(err, did.ErrDeactivated) {
			t.Errorf("Document(after tombstone) = %v, want ErrDeactivated", err)
		}
		after := &did.Operation{Type: did.TypeOperation, RotationKeys: []string{repoDIDKey}, VerificationMethods: map[string]string{}, Services: map[string]did.Service{}}
		p := mustCID(t, tomb)
		after.Prev = &p
		signed(t, after, f.a)
		if _, err := f.h.Append(after, t0.Add(2*time.Hour)); !errors.Is(err, did.ErrBadSignature) {
			t.Errorf("Append(after tombstone) = %v, want ErrBadSignature", err)
		}
		mustAppend(t, f.h, next(t, f.g, "back.test", f.a), t0.Add(2*time.Hour))
		last, _ = f.h.Last()
		if doc, err := last.Operation.Document(f.d); err != nil || doc.AlsoKnownAs[0] != "at://back.test" {
			t.Errorf("Document(after recovery) = %v, %v", doc, err)
		}
	})
}

func mustAppend(t *testing.T, h *did.History, op *did.Operation, at time.Time) {
	t.Helper()
	if _, err := h.Append(op, at); err != nil {
		t.Fatalf("Append(%s) = %v", op.AlsoKnownAs, err)
	}
}

// recoveredLog returns the JSON audit log of a DID with a nullified
// operation.
func recoveredLog(t *testing.T) (*chainFixture, []byte) {
	f := newChain(t)
	op1 := next(t, f.g, "one.test", f.b)
	mustAppend(t, f.h, op1, t0.Add(time.Hour))
	mustAppend(t, f.h, next(t, op1, "two.test", f.a), t0.Add(2*time.Hour))
	mustAppend(t, f.h, next(t, f.g, "rec.test", f.a), t0.Add(3*time.Hour))
	b, err := json.Marshal(f.h.AuditLog())
	if err != nil {
		t.Fatal(err)
	}
	return f, b
}

func TestVerifyAuditLog(t *testing.T) {
	f, b := recoveredLog(t)
	var log []did.LogEntry
	if err := json.Unmarshal(b, &log); err != nil {
		t.Fatal(err)
	}
	h, err := did.VerifyAuditLog(f.d, log)
	if err != nil {
		t.Fatalf("VerifyAuditLog = %v", err)
	}
	if !reflect.DeepEqual(h.AuditLog(), log) {
		t.Errorf("replayed log = %+v\nwant %+v", h.AuditLog(), log)
	}
	if last, _ := h.Last(); last.Operation.AlsoKnownAs[0] != "at://rec.test" {
		t.Errorf("Last() = %+v", last)
	}

	fresh := func() []did.LogEntry {
		var l []did.LogEntry
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	otherSig := base64.RawURLEncoding.EncodeToString(make([]byte, 64))
	tests := []struct {
		name string
		edit func(l []did.LogEntry) []did.LogEntry
		want error
	}{
		{"empty", func([]did.LogEntry) []did.LogEntry { return nil }, did.ErrBrokenChain},
		{"nullified flag", func(l []did.LogEntry) []did.LogEntry { l[1].Nullified = false; return l }, did.ErrBrokenChain},
		{"active flagged nullified", func(l []did.LogEntry) []did.LogEntry { l[3].Nullified = true; return l }, did.ErrBrokenChain},
		{"cid", func(l []did.LogEntry) []did.LogEntry { l[2].CID = genesisCID; return l }, did.ErrBrokenChain},
		{"other did", func(l []did.LogEntry) []did.LogEntry { l[1].DID = genesisDID; return l }, did.ErrBrokenChain},
		{"swapped", func(l []did.LogEntry) []did.LogEntry { l[1], l[2] = l[2], l[1]; return l }, did.ErrBrokenChain},
		{"dropped genesis", func(l []did.LogEntry) []did.LogEntry { return l[1:] }, did.ErrBrokenChain},
		{"bad signature", func(l []did.LogEntry) []did.LogEntry { l[2].Operation.Sig = otherSig; return l }, did.ErrBadSignature},
		{"bad date", func(l []did.LogEntry) []did.LogEntry { l[2].CreatedAt = "2022-01-2T00:00:00Z"; return l }, did.ErrBrokenChain},
		{"late recovery", func(l []did.LogEntry) []did.LogEntry {
			l[3].CreatedAt = syntax.NewDatetime(t0.Add(80 * time.Hour))
			return l
		}, did.ErrRecoveryWindow},
		{"no operation", func(l []did.LogEntry) []did.LogEntry { l[1].Operation = nil; return l }, did.ErrBrokenChain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if h, err := did.VerifyAuditLog(f.d, tt.edit(fresh())); h != nil || !errors.Is(err, tt.want) {
				t.Errorf("VerifyAuditLog() = %v, %v; want nil, %v", h, err, tt.want)
			}
		})
	}
}

func TestVerifyChainErrors(t *testing.T) {
	f := newChain(t)
	op1 := next(t, f.g, "one.test", f.b)
	op2 := next(t, op1, "two.test", f.a)
	if err := did.VerifyChain(f.d, []*did.Operation{f.g, op1, op2}); err != nil {
		t.Fatalf("VerifyChain = %v", err)
	}
	tests := []struct {
		name string
		ops  []*did.Operation
		want error
	}{
		{"empty", nil, did.ErrBrokenChain},
		{"gap", []*did.Operation{f.g, op2}, did.ErrBrokenChain},
		{"fork", []*did.Operation{f.g, op1, next(t, f.g, "x.test", f.a)}, did.ErrBrokenChain},
		{"wrong key", []*did.Operation{f.g, next(t, f.g, "x.test", f.c)}, did.ErrBadSignature},
		{"wrong did", []*did.Operation{op1}, did.ErrBrokenChain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := did.VerifyChain(f.d, tt.ops); !errors.Is(err, tt.want) {
				t.Errorf("VerifyChain() = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestRollback(t *testing.T) {
	f, b := recoveredLog(t)
	var log []did.LogEntry
	if err := json.Unmarshal(b, &log); err != nil {
		t.Fatal(err)
	}
	// Active operations: genesis (han.dull) and the recovery (rec.test).
	op, err := did.Rollback(log, 1)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := did.NewUpdate(f.g, did.Update{})
	p := log[3].CID
	want.Prev = &p
	if !reflect.DeepEqual(op, want) {
		t.Errorf("Rollback(1) = %+v\nwant %+v", op, want)
	}
	signed(t, op, f.a)
	if _, err := f.h.Append(op, t0.Add(4*time.Hour)); err != nil {
		t.Errorf("Append(rollback) = %v", err)
	}
	for _, n := range []int{0, -1, 2} {
		if op, err := did.Rollback(log, n); op != nil || !errors.Is(err, did.ErrInvalidOperation) {
			t.Errorf("Rollback(%d) = %v, %v; want ErrInvalidOperation", n, op, err)
		}
	}
}
