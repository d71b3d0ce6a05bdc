package atlite

import (
	"context"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/datamodel"
)

// commitBodies returns the stored bodies of a repo's #commit events:
// its first commit, creates, an update, a delete, a commit of several
// writes.
func commitBodies(t *testing.T) []eventRow {
	ctx := context.Background()
	s, did := memCommits(t, 5)
	upd, _ := commit.NewWrite(commit.Update, "com.example.coll", "3k00000000001", map[string]any{"k": "edited", "é": "ünïcode"})
	del, _ := commit.NewWrite(commit.Delete, "com.example.coll", "3k00000000002", nil)
	cre, _ := commit.NewWrite(commit.Create, "com.example.other", "self", map[string]any{"k": "x"})
	if _, err := s.Commit(ctx, did, []commit.Write{upd, del, cre}, nil); err != nil {
		t.Fatal(err)
	}
	rows, err := s.b.Reader().Events(ctx, 0, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []eventRow
	for _, r := range rows {
		if r.Kind == string(KindCommit) {
			out = append(out, r)
		}
	}
	if len(out) != 7 {
		t.Fatalf("%d commit events, want 7", len(out))
	}
	return out
}

// cborBodies returns rows with each body rewritten as the DAG-CBOR map
// that files before schema 5 hold.
func cborBodies(t *testing.T, rows []eventRow) []eventRow {
	out := make([]eventRow, len(rows))
	for i, r := range rows {
		_, r.Body = cborOf(t, r)
		out[i] = r
	}
	return out
}

// cborOf decodes the stored body of #commit event r and returns the event
// and its DAG-CBOR body, as files before schema 5 hold it.
func cborOf(tb testing.TB, r eventRow) (Event, []byte) {
	tb.Helper()
	e := Event{Seq: r.Seq, Kind: KindCommit}
	if err := e.decodeBody(r.Body); err != nil {
		tb.Fatal(err)
	}
	b, err := e.cborBody()
	if err != nil {
		tb.Fatal(err)
	}
	return e, b
}

// decodeBoth decodes b with decodeCommitBody and with the generic decoder
// (datamodel.UnmarshalMap, as decodeBody reads a body decodeCommitBody
// refuses).
func decodeBoth(r eventRow, b []byte) (fast Event, fastOK bool, generic Event, genericErr error) {
	fast = Event{Seq: r.Seq, Kind: KindCommit}
	fastOK = decodeCommitBody(&fast, b)
	generic = Event{Seq: r.Seq, Kind: KindCommit}
	generic.Ops, generic.Blocks = nil, nil
	genericErr = generic.decodeGeneric(b)
	return
}

// TestDecodeCommitBody: decodeCommitBody reads every #commit body of the
// DAG-CBOR form files before schema 5 store
// (first commit, creates, update, delete, several writes) as the generic
// decoder does; on bodies mutated at random it either refuses or agrees
// with the generic decoder, which accepts them; and it refuses the shapes
// it does not expect, which the generic decoder reads.
func TestDecodeCommitBody(t *testing.T) {
	rows := cborBodies(t, commitBodies(t))
	for _, r := range rows {
		fast, ok, generic, err := decodeBoth(r, r.Body)
		if !ok || err != nil {
			t.Fatalf("event %d: fast %v, generic %v", r.Seq, ok, err)
		}
		if !reflect.DeepEqual(fast, generic) {
			t.Errorf("event %d: fast %+v, generic %+v", r.Seq, fast, generic)
		}
	}
	if first, _, _, _ := decodeBoth(rows[0], rows[0].Body); first.Since != "" || first.PrevData.Defined() || len(first.Ops) != 0 {
		t.Errorf("first commit: since %q, prevData %v, %d ops", first.Since, first.PrevData, len(first.Ops))
	}
	if last, _, _, _ := decodeBoth(rows[6], rows[6].Body); len(last.Ops) != 3 || last.Ops[1].Action != commit.Delete || last.Ops[1].CID.Defined() || !last.Ops[1].Prev.Defined() {
		t.Errorf("last commit: ops %+v", last.Ops)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	accepted := 0
	for i := range 20000 {
		r := rows[i%len(rows)]
		b := []byte(string(r.Body))
		for range 1 + rng.IntN(2) {
			b[rng.IntN(len(b))] = byte(rng.Uint32())
		}
		fast, ok, generic, err := decodeBoth(r, b)
		if !ok {
			continue
		}
		accepted++
		if err != nil {
			t.Fatalf("mutated body %x: fast accepts, generic: %v", b, err)
		}
		if !reflect.DeepEqual(fast, generic) {
			t.Fatalf("mutated body %x: fast %+v, generic %+v", b, fast, generic)
		}
	}
	t.Logf("%d of 20000 mutated bodies read by decodeCommitBody", accepted)

	// Bodies that are not canonical DAG-CBOR, which the generic decoder
	// refuses: decodeCommitBody must too.
	for name, b := range map[string][]byte{
		"trailing byte": append([]byte(string(rows[1].Body)), 0),
		"long map head": append([]byte{0xb8, 5}, rows[1].Body[1:]...),
		"truncated":     rows[1].Body[:len(rows[1].Body)-1],
		"empty":         nil,
	} {
		if decodeCommitBody(&Event{Kind: KindCommit}, b) {
			t.Errorf("%s: decodeCommitBody read it", name)
		}
		if _, err := datamodel.UnmarshalMap(b); err == nil {
			t.Errorf("%s: the generic decoder read it", name)
		}
	}

	// Shapes the generic decoder reads and decodeCommitBody leaves to it.
	c := rows[1]
	ev := Event{Kind: KindCommit}
	if err := ev.decodeGeneric(c.Body); err != nil {
		t.Fatal(err)
	}
	ops := opsValue(ev.Ops)
	base := func() map[string]any {
		return map[string]any{"ops": ops, "since": ev.Since.String(), "blocks": ev.Blocks, "commit": ev.Commit, "prevData": ev.PrevData}
	}
	shapes := map[string]func(m map[string]any){
		"extra key":       func(m map[string]any) { m["tooBig"] = false },
		"no prevData":     func(m map[string]any) { delete(m, "prevData") },
		"since not a tid": func(m map[string]any) { m["since"] = "yesterday" },
		"op without prev": func(m map[string]any) {
			m["ops"] = []any{map[string]any{"action": "create", "path": "a/b", "cid": ev.Commit}}
		},
		"block not a link": func(m map[string]any) { m["blocks"] = []any{"x"} },
	}
	for name, change := range shapes {
		m := base()
		change(m)
		b, err := datamodel.Marshal(m)
		if err != nil {
			t.Fatalf("%s: %v (prevData %v)", name, err, ev.PrevData)
		}
		if decodeCommitBody(&Event{Kind: KindCommit}, b) {
			t.Errorf("%s: decodeCommitBody read it", name)
		}
		if _, err := datamodel.UnmarshalMap(b); err != nil {
			t.Errorf("%s: generic decode: %v", name, err)
		}
	}
}
