package xrpc

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/syntax"
)

// TestCommitFrameBytes checks that the direct #commit encoder gives the
// bytes of the generic one: for the stored commits of syncEnv (the first
// commit of a repo, creates of several records, an update, a blob) and of
// a commit with a delete, and for edge cases built by hand.
func TestCommitFrameBytes(t *testing.T) {
	ctx := context.Background()
	e := newSyncEnv(t, FirehoseOptions{})
	if _, err := e.st.Commit(ctx, e.alice, []commit.Write{
		{Action: commit.Delete, Collection: syncPostNSID, RKey: "a1"},
		syncPost(t, commit.Update, "a3", "three again", nil),
		syncPost(t, commit.Create, "a5", "five", nil),
	}, nil); err != nil {
		t.Fatal(err)
	}
	f := e.srv.firehose
	var evs []atlite.Event
	var cars [][]byte
	for _, ev := range allEvents(t, e.st) {
		if ev.Kind != atlite.KindCommit {
			continue
		}
		var car bytes.Buffer
		if err := e.st.WriteEventCAR(ctx, ev, &car); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
		cars = append(cars, car.Bytes())
	}
	if len(evs) < 5 {
		t.Fatalf("%d commit events, want at least 5", len(evs))
	}
	var sawDelete, sawFirst bool
	for _, ev := range evs {
		sawFirst = sawFirst || (ev.Since == "" && !ev.PrevData.Defined())
		for _, op := range ev.Ops {
			sawDelete = sawDelete || op.Action == commit.Delete
		}
	}
	if !sawDelete || !sawFirst {
		t.Fatalf("stored commits: a delete %v, a first commit %v; want both", sawDelete, sawFirst)
	}
	// Edge cases: heads of every size (a seq past 2^32, a long DID and
	// path, a CAR over 64 kB, 30 ops), no ops.
	long := evs[len(evs)-1]
	long.Seq = 1 << 40
	long.DID = syntax.DID("did:web:" + strings.Repeat("x", 300) + ".example")
	long.Ops = nil
	for range 30 {
		long.Ops = append(long.Ops, commit.Op{Action: commit.Update, Path: syncPostNSID + "/" + strings.Repeat("k", 400),
			CID: evs[0].Commit, Prev: evs[1].Commit})
	}
	evs = append(evs, long)
	cars = append(cars, bytes.Repeat([]byte{7}, 70_000))
	none := evs[0]
	none.Ops = nil
	none.Seq = 23
	evs = append(evs, none)
	cars = append(cars, nil)

	for i, ev := range evs {
		tm := ev.Time.UTC().Format(frameTime)
		want, err := f.encodeGeneric(ev, cars[i], tm)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := commitFrame(&ev, cars[i], tm)
		if !ok {
			t.Fatalf("event %d: commitFrame declined it", ev.Seq)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("event %d: commitFrame =\n%x\nwant (datamodel.Marshal)\n%x", ev.Seq, got, want)
		}
		if enc, err := f.encode(ev, cars[i]); err != nil || !bytes.Equal(enc, want) {
			t.Errorf("event %d: encode = %x, %v; want %x", ev.Seq, enc, err, want)
		}
	}
}

// TestCommitFrameDeclines checks that what the direct encoder does not
// handle goes to the generic one, which reports invalid text.
func TestCommitFrameDeclines(t *testing.T) {
	e := newSyncEnv(t, FirehoseOptions{})
	var ev atlite.Event
	for _, x := range allEvents(t, e.st) {
		if x.Kind == atlite.KindCommit && len(x.Ops) > 0 {
			ev = x
		}
	}
	tm := time.Unix(0, 0).UTC().Format(frameTime)
	bad := ev
	bad.Ops = append([]commit.Op(nil), ev.Ops...)
	bad.Ops[0].Path = "app.bsky.feed.post/\xff"
	if _, ok := commitFrame(&bad, nil, tm); ok {
		t.Errorf("commitFrame took a path of invalid UTF-8")
	}
	if _, err := e.srv.firehose.encode(bad, nil); err == nil || !strings.Contains(err.Error(), datamodel.ErrInvalidUTF8.Error()) {
		t.Errorf("encode(invalid path) = %v, want %v", err, datamodel.ErrInvalidUTF8)
	}
	acct := atlite.Event{Seq: 5, Kind: atlite.KindAccount, DID: ev.DID, Active: true}
	if _, ok := commitFrame(&acct, nil, tm); ok {
		t.Errorf("commitFrame took an #account event")
	}
}

// TestCommitFrameOneAllocation checks that the frame buffer is sized once:
// a commit frame costs one allocation.
func TestCommitFrameOneAllocation(t *testing.T) {
	e := newSyncEnv(t, FirehoseOptions{})
	var ev atlite.Event
	for _, x := range allEvents(t, e.st) {
		if x.Kind == atlite.KindCommit && len(x.Ops) > 0 && x.PrevData.Defined() {
			ev = x
		}
	}
	var car bytes.Buffer
	if err := e.st.WriteEventCAR(context.Background(), ev, &car); err != nil {
		t.Fatal(err)
	}
	tm := ev.Time.UTC().Format(frameTime)
	if n := testing.AllocsPerRun(10, func() { commitFrame(&ev, car.Bytes(), tm) }); n != 1 {
		t.Errorf("commitFrame: %v allocations, want 1", n)
	}
}
