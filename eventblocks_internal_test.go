package atlite

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/storage"
)

// readCounter counts how readEventBlocks reads: by key, the CIDs asked;
// by id, the ranges scanned.
type readCounter struct {
	storage.ReadTx
	byKey, ranges int
	rows          int64 // the ids the ranges span
}

func (r *readCounter) GetBlocks(ctx context.Context, cids []cid.Cid, into map[cid.Cid][]byte) error {
	r.byKey += len(cids)
	return r.ReadTx.GetBlocks(ctx, cids, into)
}

func (r *readCounter) GetBlocksByID(ctx context.Context, lo, hi int64, cids []cid.Cid, into map[cid.Cid][]byte) error {
	r.ranges++
	r.rows += hi - lo + 1
	return r.ReadTx.GetBlocksByID(ctx, lo, hi, cids, into)
}

// TestReadEventBlocksByRange: the blocks of a run of one-record commits
// are read in one scan of their id range, none by key; a run around an
// import, whose 300-odd blocks lie between two commits, is split until the
// ranges are narrow (the import's blocks are not scanned), still without
// a read by key.
func TestReadEventBlocksByRange(t *testing.T) {
	ctx := context.Background()
	s, did := memCommits(t, 30)
	other := openInternal(t, ":memory:", nil)
	od := internalRepo(t, other, "did:web:other.com")
	for c := range 2 {
		var ws []commit.Write
		for i := range 150 {
			ws = append(ws, internalWrite(t, fmt.Sprintf("3k%011d", c*150+i))...)
		}
		if _, err := other.Commit(ctx, od, ws, nil); err != nil {
			t.Fatal(err)
		}
	}
	var car bytes.Buffer
	if _, err := other.ExportCAR(ctx, od, &car, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ImportCAR(ctx, &car, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := s.Commit(ctx, did, internalWrite(t, fmt.Sprintf("3kz%010d", i)), nil); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := s.Events(ctx, &EventsOptions{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	syncAt := -1
	for i, e := range evs {
		if e.Kind == KindSync {
			syncAt = i
		}
	}
	if syncAt < 0 || evs[syncAt-1].Kind != KindCommit || evs[len(evs)-1].Kind != KindCommit {
		t.Fatalf("no #sync event between commits in %d events", len(evs))
	}
	tests := []struct {
		name      string
		evs       []Event
		maxRanges int
		maxRows   int64
	}{
		{"commits", evs[syncAt-25 : syncAt-1], 1, 150},
		{"around an import", evs[syncAt-4 : syncAt+4], 8, 150},
	}
	for _, tt := range tests {
		var all []cid.Cid
		seen := map[cid.Cid]bool{}
		for i := range tt.evs {
			for _, c := range blocksOf(&tt.evs[i]) {
				if !seen[c] {
					seen[c] = true
					all = append(all, c)
				}
			}
		}
		err := s.b.View(ctx, func(tx storage.ReadTx) error {
			rc := &readCounter{ReadTx: tx}
			got, err := readEventBlocks(ctx, rc, tt.evs, all)
			if err != nil {
				return err
			}
			if len(got) != len(all) {
				t.Errorf("%s: %d blocks of %d", tt.name, len(got), len(all))
			}
			if rc.byKey != 0 || rc.ranges < 1 || rc.ranges > tt.maxRanges || rc.rows > tt.maxRows {
				t.Errorf("%s: %d blocks read by key, %d ranges of %d rows; want 0, 1 to %d ranges, at most %d rows",
					tt.name, rc.byKey, rc.ranges, rc.rows, tt.maxRanges, tt.maxRows)
			}
			t.Logf("%s: %d blocks, %d ranges of %d rows", tt.name, len(all), rc.ranges, rc.rows)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
