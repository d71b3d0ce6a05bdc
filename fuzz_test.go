package atlite_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/car"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/internal/testutil"
)

// FuzzImportCAR feeds arbitrary bytes to ImportCAR: it must never panic,
// a refused CAR must leave no repo behind, and an accepted one must pass
// Check and export to the same set of blocks.
func FuzzImportCAR(f *testing.F) {
	if b, err := os.ReadFile("testdata/arroba/snarfed2.car"); err == nil {
		f.Add(b)
	}
	s, err := atlite.Open(":memory:", nil)
	if err != nil {
		f.Fatal(err)
	}
	did := newRepo(f, s, "did:web:fuzz.example")
	var writes []commit.Write
	for i, rk := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		writes = append(writes, mustWrite(f, commit.Create, "com.example.coll", rk, map[string]any{"i": int64(i)}))
	}
	if _, err := s.Commit(ctx, did, writes, nil); err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := s.ExportCAR(ctx, did, &buf, nil); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	// Two records with identical bytes (one block, two entries), exported
	// with the block once and, hand-built, with the block repeated.
	same := map[string]any{"same": true}
	if _, err := s.Commit(ctx, did, []commit.Write{
		mustWrite(f, commit.Create, "com.example.coll", "h", same),
		mustWrite(f, commit.Create, "com.example.coll", "i", same),
	}, nil); err != nil {
		f.Fatal(err)
	}
	buf.Reset()
	if _, err := s.ExportCAR(ctx, did, &buf, nil); err != nil {
		f.Fatal(err)
	}
	s.Close()
	f.Add(bytes.Clone(buf.Bytes()))
	roots, blocks, err := car.ReadAll(bytes.NewReader(buf.Bytes()), nil)
	if err != nil {
		f.Fatal(err)
	}
	var dup bytes.Buffer
	w, _ := car.NewWriter(&dup, roots)
	for _, b := range blocks {
		w.WriteBlock(b.CID, b.Data)
		if b.CID == cborCID(f, same) {
			w.WriteBlock(b.CID, b.Data)
		}
	}
	w.Flush()
	f.Add(dup.Bytes())

	f.Fuzz(func(t *testing.T, b []byte) {
		s := testutil.MustOpenStore(t, nil)
		res, err := s.ImportCAR(ctx, bytes.NewReader(b), nil)
		if err != nil {
			if repos, _, _ := s.ListRepos(ctx, nil); len(repos) != 0 {
				t.Fatalf("refused import (%v) left %d repos", err, len(repos))
			}
			return
		}
		if err := s.Check(ctx); err != nil {
			t.Fatalf("accepted CAR fails Check: %v", err)
		}
		var out bytes.Buffer
		if _, err := s.ExportCAR(ctx, res.Repo.DID, &out, nil); err != nil {
			t.Fatalf("export of an accepted CAR: %v", err)
		}
		_, blocks, err := car.ReadAll(&out, nil)
		if err != nil || len(blocks) != res.Blocks {
			t.Fatalf("re-export: %d blocks, %v; import stored %d", len(blocks), err, res.Blocks)
		}
	})
}

// rehash rewrites blocks after blocks[i] changed: it recomputes the CID of
// every changed block and replaces the old CID's bytes wherever they occur
// in other blocks, until nothing changes, so that a corrupted block is
// reachable with valid hashes all the way up to the root.
func rehash(blocks []car.Block, roots []cid.Cid, i int, data []byte) ([]car.Block, []cid.Cid) {
	out := make([]car.Block, len(blocks))
	copy(out, blocks)
	out[i].Data = data
	changed := []int{i}
	for len(changed) > 0 {
		var next []int
		for _, j := range changed {
			old := out[j].CID
			nc := datamodel.ComputeCID(old.Prefix().Codec, out[j].Data)
			if nc == old {
				continue
			}
			out[j].CID = nc
			for k := range out {
				if k != j && bytes.Contains(out[k].Data, old.Bytes()) {
					out[k].Data = bytes.ReplaceAll(out[k].Data, old.Bytes(), nc.Bytes())
					next = append(next, k)
				}
			}
			for r := range roots {
				if roots[r] == old {
					roots = append([]cid.Cid{}, roots...)
					roots[r] = nc
				}
			}
		}
		changed = next
	}
	return out, roots
}

// TestImportMutatedCARs corrupts one block of a valid repo CAR at a time
// (a flipped byte, a truncation, garbage appended), re-hashes everything up
// to the root so the corruption passes the hash checks, and imports it:
// import must never panic, a refusal must leave nothing, an acceptance
// must pass Check.
func TestImportMutatedCARs(t *testing.T) {
	src := testutil.MustOpenStore(t, nil)
	did := seedRepo(t, src, "did:web:mut.example", 60)
	roots, blocks, err := car.ReadAll(bytes.NewReader(exportCAR(t, src, did, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 400
	if testing.Short() {
		n = 60
	}
	r := rand.New(rand.NewPCG(7, 11))
	accepted := 0
	for it := 0; it < n; it++ {
		i := r.IntN(len(blocks))
		data := bytes.Clone(blocks[i].Data)
		switch r.IntN(3) {
		case 0:
			data[r.IntN(len(data))] ^= byte(1 + r.IntN(255))
		case 1:
			data = data[:r.IntN(len(data))]
		case 2:
			data = append(data, byte(r.IntN(256)))
		}
		mb, mr := rehash(blocks, roots, i, data)
		var buf bytes.Buffer
		w, err := car.NewWriter(&buf, mr)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range mb {
			w.WriteBlock(b.CID, b.Data)
		}
		w.Flush()

		s := testutil.MustOpenStore(t, nil)
		res, err := s.ImportCAR(ctx, &buf, nil)
		if err != nil {
			if repos, _, _ := s.ListRepos(ctx, nil); len(repos) != 0 {
				t.Fatalf("iteration %d: refused import (%v) left a repo", it, err)
			}
			s.Close()
			continue
		}
		accepted++
		if err := s.Check(ctx); err != nil {
			t.Fatalf("iteration %d: accepted CAR (%d records) fails Check: %v", it, res.Records, err)
		}
		s.Close()
	}
	t.Logf("%d mutations, %d still valid repos (a record whose value changed but still decodes)", n, accepted)
	if accepted == n || accepted == 0 {
		t.Errorf("%d of %d mutations accepted: the test does not tell valid from invalid", accepted, n)
	}
}

// TestImportRejectsBadRecord: a record block that is not a DAG-CBOR map,
// with every hash above it recomputed, is refused.
func TestImportRejectsBadRecord(t *testing.T) {
	src := testutil.MustOpenStore(t, nil)
	did := seedRepo(t, src, "did:web:bad.example", 10)
	roots, blocks, err := car.ReadAll(bytes.NewReader(exportCAR(t, src, did, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range blocks {
		m, err := datamodel.UnmarshalMap(b.Data)
		if err != nil || m["text"] == nil {
			continue // not a record
		}
		for _, bad := range [][]byte{{0x01}, {0xa1, 0x61}, {0xf9, 0x3c, 0x00}} {
			mb, mr := rehash(blocks, roots, i, bad)
			var buf bytes.Buffer
			w, _ := car.NewWriter(&buf, mr)
			for _, b := range mb {
				w.WriteBlock(b.CID, b.Data)
			}
			w.Flush()
			s := testutil.MustOpenStore(t, nil)
			if _, err := s.ImportCAR(ctx, &buf, nil); !errors.Is(err, atlite.ErrInvalidCAR) {
				t.Errorf("record %x: ImportCAR = %v, want ErrInvalidCAR", bad, err)
			}
		}
		return
	}
	t.Fatal("no record block found")
}
