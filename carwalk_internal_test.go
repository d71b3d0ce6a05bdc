package atlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/atlite-dev/atlite/car"
	"github.com/atlite-dev/atlite/commit"
)

// TestCARStreamSpill runs VerifyCAR and ImportCAR with a set of seen CIDs
// small enough to move to the staging file, on a repo whose records repeat
// (identical bytes under several keys), in pre-order and reversed: the same
// answers as in memory, and repeated blocks still refused.
func TestCARStreamSpill(t *testing.T) {
	ctx := context.Background()
	defer func(n int) { seenCap = n }(seenCap)
	seenCap = 16

	s := openInternal(t, ":memory:", nil)
	did := internalRepo(t, s, "did:web:user.com")
	var writes []commit.Write
	for i := 0; i < 120; i++ {
		w, err := commit.NewWrite(commit.Create, "com.example.coll", fmt.Sprintf("3k%011d", i), map[string]any{"n": int64(i % 7)})
		if err != nil {
			t.Fatal(err)
		}
		writes = append(writes, w)
	}
	if _, err := s.Commit(ctx, did, writes, nil); err != nil {
		t.Fatal(err)
	}
	repo, err := s.LoadRepo(ctx, did.AtIdentifier())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := s.ExportCAR(ctx, did, &buf, nil); err != nil {
		t.Fatal(err)
	}
	roots, blocks, err := car.ReadAll(bytes.NewReader(buf.Bytes()), nil)
	if err != nil {
		t.Fatal(err)
	}
	write := func(bs []car.Block) []byte {
		var out bytes.Buffer
		w, _ := car.NewWriter(&out, roots)
		for _, b := range bs {
			w.WriteBlock(b.CID, b.Data)
		}
		w.Flush()
		return out.Bytes()
	}
	reversed := slices.Clone(blocks)
	slices.Reverse(reversed)
	for name, b := range map[string][]byte{"pre-order": buf.Bytes(), "reversed": write(reversed)} {
		vr, err := VerifyCAR(ctx, bytes.NewReader(b), repo.SigningKey)
		if err != nil || vr.Records != 120 || vr.Blocks != len(blocks) {
			t.Errorf("%s: VerifyCAR = %+v, %v; want 120 records, %d blocks", name, vr, err, len(blocks))
		}
		dst := openInternal(t, ":memory:", nil)
		res, err := dst.ImportCAR(ctx, bytes.NewReader(b), nil)
		if err != nil || res.Records != 120 || res.Blocks != len(blocks) {
			t.Errorf("%s: ImportCAR = %+v, %v; want 120 records, %d blocks", name, res, err, len(blocks))
		} else if err := dst.Check(ctx); err != nil {
			t.Errorf("%s: Check after import = %v", name, err)
		}
	}
	// A block repeated after the set moved to the file is still refused.
	for _, at := range []int{1, len(blocks) / 2, len(blocks)} {
		dup := slices.Insert(slices.Clone(blocks), at, blocks[len(blocks)-1])
		if _, err := VerifyCAR(ctx, bytes.NewReader(write(dup)), nil); !errors.Is(err, ErrInvalidCAR) {
			t.Errorf("VerifyCAR(block repeated at %d) = %v, want ErrInvalidCAR", at, err)
		}
	}
}
