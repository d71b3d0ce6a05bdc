package atlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/atlite-dev/atlite/commit"
)

// testCID is the dag-cbor CID of the bytes of s.
func testCID(t testing.TB, s string) cid.Cid {
	c, err := cid.Prefix{Version: 1, Codec: cid.DagCBOR, MhType: multihash.SHA2_256, MhLength: -1}.Sum([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// compactCase is a #commit event with every kind of field, and its compact
// body written out by hand.
func compactCase(t testing.TB) (Event, []byte) {
	c := make([]cid.Cid, 7)
	for i := range c {
		c[i] = testCID(t, fmt.Sprint("block ", i))
	}
	e := Event{Kind: KindCommit, Commit: c[1], Since: "3jzfcijpj2z2a", PrevData: c[2],
		Ops: []commit.Op{
			{Action: commit.Create, Path: "app.bsky.feed.post/3k0000000000a", CID: c[3]},
			{Action: commit.Update, Path: "app.bsky.feed.post/3k0000000000b", CID: c[4], Prev: c[3]},
			{Action: commit.Delete, Path: "app.bsky.graph.follow/x", Prev: c[5]},
		},
		Blocks: []cid.Cid{c[1], c[3], c[6], c[4]},
	}
	var want []byte
	add := func(parts ...any) {
		for _, p := range parts {
			switch p := p.(type) {
			case int:
				want = append(want, byte(p))
			case string:
				want = append(want, p...)
			case cid.Cid:
				want = append(want, byte(p.ByteLen()))
				want = append(want, p.Bytes()...)
			}
		}
	}
	add(0x02, 1|2, c[1], "3jzfcijpj2z2a", c[2])
	add(3)
	add(0|4, 0, 32, "app.bsky.feed.post/3k0000000000a", c[3])
	add(1|4|8, 31, 1, "b", c[4], c[3])
	add(2|8, 9, 14, "graph.follow/x", c[5])
	add(4)
	add(0, c[1])
	add(1)
	add(0, c[6])
	add(2)
	return e, want
}

// TestCompactCommitBody: a #commit event's body is the compact form,
// byte for byte as eventbody.go lays it out; it decodes to the event it
// was made from; every stored #commit body is one, decodes as its
// DAG-CBOR form does, and is smaller.
func TestCompactCommitBody(t *testing.T) {
	e, want := compactCase(t)
	got, err := e.body()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("body\n%x, want\n%x", got, want)
	}
	back := Event{Kind: KindCommit}
	if err := back.decodeBody(got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, e) {
		t.Errorf("decoded %+v, want %+v", back, e)
	}
	old, err := e.cborBody()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 373 || len(old) != 641 {
		t.Errorf("compact %d bytes, DAG-CBOR %d; want 373 and 641", len(got), len(old))
	}

	rows := commitBodies(t)
	cbor := cborBodies(t, rows)
	for i, r := range rows {
		if r.Body[0] != commitBodyV2 {
			t.Fatalf("event %d: stored body starts %#x", r.Seq, r.Body[0])
		}
		compact := Event{Seq: r.Seq, Kind: KindCommit}
		if err := compact.decodeBody(r.Body); err != nil {
			t.Fatal(err)
		}
		generic := Event{Seq: r.Seq, Kind: KindCommit}
		if !decodeCommitBody(&generic, cbor[i].Body) {
			t.Fatalf("event %d: DAG-CBOR body not read", r.Seq)
		}
		if !reflect.DeepEqual(compact, generic) {
			t.Errorf("event %d: compact %+v, DAG-CBOR %+v", r.Seq, compact, generic)
		}
		if again, ok := compactCommitBody(&compact); !ok || !bytes.Equal(again, r.Body) {
			t.Errorf("event %d: written again as %x, stored %x", r.Seq, again, r.Body)
		}
		if len(r.Body) >= len(cbor[i].Body) {
			t.Errorf("event %d: compact %d bytes, DAG-CBOR %d", r.Seq, len(r.Body), len(cbor[i].Body))
		}
	}
}

// TestCompactCommitBodyLarge: the event of a 200-record commit takes less
// than half the bytes of its DAG-CBOR form, since its blocks name the
// records by their ops.
func TestCompactCommitBodyLarge(t *testing.T) {
	ctx := context.Background()
	s := openInternal(t, ":memory:", nil)
	did := internalRepo(t, s, "did:web:user.com")
	var ws []commit.Write
	for i := range 200 {
		w, err := commit.NewWrite(commit.Create, "app.bsky.feed.post", fmt.Sprintf("3k%011d", i), map[string]any{"$type": "app.bsky.feed.post", "text": fmt.Sprint("post ", i), "createdAt": "2024-01-01T00:00:00Z"})
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	if _, err := s.Commit(ctx, did, ws, nil); err != nil {
		t.Fatal(err)
	}
	r := lastEventRow(t, s)
	e, old := cborOf(t, r)
	if len(e.Ops) != 200 || len(e.Blocks) < 201 {
		t.Fatalf("%d ops, %d blocks", len(e.Ops), len(e.Blocks))
	}
	if 2*len(r.Body) >= len(old) {
		t.Errorf("compact body %d bytes, DAG-CBOR %d: not under half", len(r.Body), len(old))
	}
	t.Logf("200 creates, %d blocks: compact body %d bytes, DAG-CBOR %d", len(e.Blocks), len(r.Body), len(old))
}

// TestCompactCommitBodyFallback: an event the compact form cannot hold is
// stored as the DAG-CBOR map, and reads back the same.
func TestCompactCommitBodyFallback(t *testing.T) {
	base, _ := compactCase(t)
	for name, change := range map[string]func(e *Event){
		"unknown action":  func(e *Event) { e.Ops[0].Action = "frob" },
		"since not a tid": func(e *Event) { e.Since = "yesterday" },
	} {
		e := base
		e.Ops = append([]commit.Op(nil), base.Ops...)
		change(&e)
		if _, ok := compactCommitBody(&e); ok {
			t.Errorf("%s: compact body written", name)
		}
		b, err := e.body()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b[0] == commitBodyV2 {
			t.Errorf("%s: body is compact", name)
		}
	}
	e := base
	e.Commit = cid.Undef
	if _, ok := compactCommitBody(&e); ok {
		t.Error("undefined commit: compact body written")
	}
}

// TestCompactCommitBodyRefused: each way a compact body can be malformed
// gives an error wrapping ErrCorrupt; so does every truncation; and a body
// mutated at random is either refused or is the one body of what it
// decodes to.
func TestCompactCommitBodyRefused(t *testing.T) {
	e, good := compactCase(t)
	c := e.Blocks
	i := bytes.Index(good, []byte("3jzfcijpj2z2a"))
	opsAt := i + 13 + 1 + e.PrevData.ByteLen()
	op2 := bytes.Index(good, []byte{1 | 4 | 8, 31, 1, 'b'})
	blocksAt := len(good) - (1 + 2 + c[0].ByteLen() + 1 + 2 + c[2].ByteLen() + 1)
	if good[opsAt] != 3 || op2 < 0 || good[blocksAt] != 4 {
		t.Fatalf("offsets: ops %d (%#x), op 2 %d, blocks %d (%#x)", opsAt, good[opsAt], op2, blocksAt, good[blocksAt])
	}
	splice := func(at, drop int, with ...byte) []byte {
		return append(append(append([]byte(nil), good[:at]...), with...), good[at+drop:]...)
	}
	bad := map[string][]byte{
		"empty":                 nil,
		"trailing byte":         append(append([]byte(nil), good...), 0),
		"unknown flag":          splice(1, 1, 1|2|4),
		"since not a tid":       splice(i, 13, []byte("yesterday0000")...),
		"long op count":         splice(opsAt, 1, 0x83, 0x00),
		"op count past the end": splice(opsAt, 1, 0x7f),
		"action 3":              splice(op2, 1, 3|4|8),
		"unknown op bit":        splice(op2, 1, 1|4|8|16),
		"shared past the path":  splice(op2, 2, 1|4|8, 40),
		"shared not all of it":  splice(op2, 4, 1|4|8, 30, 2, '0', 'b'),
		"block written out that an op holds": splice(blocksAt+2+1+c[0].ByteLen(), 1,
			append([]byte{0, byte(c[1].ByteLen())}, c[1].Bytes()...)...),
		"block names an op without a cid": splice(blocksAt+2+1+c[0].ByteLen(), 1, 3),
		"block names no op":               splice(blocksAt+2+1+c[0].ByteLen(), 1, 9),
		"cid of length 0":                 splice(2, 1+c[0].ByteLen(), 0),
		"cid not a cid":                   splice(3, 1, 0x07),
	}
	for name, b := range bad {
		err := (&Event{Kind: KindCommit}).decodeBody(b)
		if name == "empty" {
			// No compact marker: the DAG-CBOR decoder refuses it.
			if err == nil {
				t.Errorf("%s: read", name)
			}
			continue
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %x: error %v, want ErrCorrupt", name, b, err)
		}
	}
	for n := 1; n < len(good); n++ {
		if err := decodeCompactCommitBody(&Event{Kind: KindCommit}, good[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}

	rows := commitBodies(t)
	rng := rand.New(rand.NewPCG(3, 4))
	accepted := 0
	for n := range 20000 {
		body := []byte(string(rows[n%len(rows)].Body))
		if n%2 == 0 {
			body = []byte(string(good))
		}
		for range 1 + rng.IntN(2) {
			body[1+rng.IntN(len(body)-1)] = byte(rng.Uint32())
		}
		var got Event
		if err := decodeCompactCommitBody(&got, body); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%x: %v", body, err)
			}
			continue
		}
		accepted++
		if again, ok := compactCommitBody(&got); !ok || !bytes.Equal(again, body) {
			t.Fatalf("mutated body %x decodes to %+v, written as %x", body, got, again)
		}
	}
	t.Logf("%d of 20000 mutated bodies read", accepted)
}

// FuzzCompactCommitBody: on any input the compact decoder returns an
// error or an event whose compact body is the input.
func FuzzCompactCommitBody(f *testing.F) {
	_, good := compactCase(f)
	f.Add(good)
	f.Add([]byte{commitBodyV2})
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Event
		if err := decodeCompactCommitBody(&e, b); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatal(err)
			}
			return
		}
		if again, ok := compactCommitBody(&e); !ok || !bytes.Equal(again, b) {
			t.Fatalf("%x decodes to %+v, written as %x", b, e, again)
		}
	})
}

// BenchmarkDecodeCommitBody decodes the stored body of a single-record
// commit's event, in its compact and its DAG-CBOR form, as a replay does
// for every event it sends.
func BenchmarkDecodeCommitBody(b *testing.B) {
	s, _ := memCommits(b, 2)
	r := lastEventRow(b, s)
	_, old := cborOf(b, r)
	for name, body := range map[string][]byte{"compact": r.Body, "cbor": old} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				e := Event{Kind: KindCommit}
				if err := e.decodeBody(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
