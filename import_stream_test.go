package atlite_test

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/car"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/testutil"
)

// pausingReader serves b, pausing once for pause after half of it; paused
// is closed when the pause begins.
type pausingReader struct {
	b      []byte
	off    int
	pause  time.Duration
	paused chan struct{}
	done   bool
}

func (p *pausingReader) Read(buf []byte) (int, error) {
	if p.off >= len(p.b) {
		return 0, io.EOF
	}
	end := len(p.b)
	if !p.done {
		end = len(p.b) / 2
		if p.off >= end {
			p.done = true
			close(p.paused)
			time.Sleep(p.pause)
			end = len(p.b)
		}
	}
	n := copy(buf, p.b[p.off:end])
	p.off += n
	return n, nil
}

// TestImportSlowStreamDoesNotBlockCommits checks that ImportCAR reads its
// stream outside the write lock: while the CAR pauses for a second, a
// commit to another repo goes through at once.
func TestImportSlowStreamDoesNotBlockCommits(t *testing.T) {
	src := testutil.MustOpenStore(t, nil)
	d := seedRepo(t, src, "did:web:user.com", 300)
	b := exportCAR(t, src, d, nil)

	s, _ := testutil.MustOpenFileStore(t, nil)
	other := newRepo(t, s, "did:web:other.example")
	pr := &pausingReader{b: b, pause: time.Second, paused: make(chan struct{})}
	imported := make(chan error, 1)
	go func() {
		res, err := s.ImportCAR(ctx, pr, nil)
		if err == nil && res.Records != 300 {
			t.Errorf("ImportCAR = %d records, want 300", res.Records)
		}
		imported <- err
	}()
	<-pr.paused
	time.Sleep(50 * time.Millisecond) // the import is now waiting on its reader
	start := time.Now()
	w := mustWrite(t, commit.Create, "app.bsky.feed.post", "3k00000000001", map[string]any{"text": "meanwhile"})
	if _, err := s.Commit(ctx, other, []commit.Write{w}, nil); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 300*time.Millisecond {
		t.Errorf("Commit during a paused import took %s, want well under 500ms", took)
	}
	select {
	case err := <-imported:
		t.Fatalf("import finished during its reader's pause: %v", err)
	default:
	}
	if err := <-imported; err != nil {
		t.Fatalf("ImportCAR = %v", err)
	}
	if err := s.Check(ctx); err != nil {
		t.Errorf("Check after import = %v", err)
	}
}

// reorder rewrites a CAR with its blocks in another order.
func reorder(t *testing.T, b []byte, order func([]car.Block) []car.Block) []byte {
	t.Helper()
	roots, blocks, err := car.ReadAll(bytes.NewReader(b), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w, err := car.NewWriter(&out, roots)
	if err != nil {
		t.Fatal(err)
	}
	for _, bl := range order(blocks) {
		if err := w.WriteBlock(bl.CID, bl.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestVerifyCAROrders checks VerifyCAR and ImportCAR on a pre-order CAR
// (streamed) and on CARs in other orders (staged): the same answer, and the
// same refusals.
func TestVerifyCAROrders(t *testing.T) {
	src := testutil.MustOpenStore(t, nil)
	d := seedRepo(t, src, "did:web:user.com", 300)
	repo, _ := src.LoadRepo(ctx, d.AtIdentifier())
	b := exportCAR(t, src, d, nil)
	_, blocks, err := car.ReadAll(bytes.NewReader(b), nil)
	if err != nil {
		t.Fatal(err)
	}
	orders := map[string][]byte{
		"pre-order": b,
		"reversed":  reorder(t, b, func(bs []car.Block) []car.Block { slices.Reverse(bs); return bs }),
		"commit last": reorder(t, b, func(bs []car.Block) []car.Block {
			return append(bs[1:], bs[0])
		}),
		"mid swap": reorder(t, b, func(bs []car.Block) []car.Block {
			bs[len(bs)/2], bs[len(bs)/2+1] = bs[len(bs)/2+1], bs[len(bs)/2]
			return bs
		}),
	}
	for name, c := range orders {
		t.Run(name, func(t *testing.T) {
			vr, err := atlite.VerifyCAR(ctx, bytes.NewReader(c), repo.SigningKey)
			if err != nil || vr.Records != 300 || vr.Blocks != len(blocks) || vr.Commit != repo.Head || vr.Data != repo.Data || !vr.SignatureChecked {
				t.Fatalf("VerifyCAR = %+v, %v; want 300 records, %d blocks, head %s", vr, err, len(blocks), repo.Head)
			}
			s := testutil.MustOpenStore(t, nil)
			res, err := s.ImportCAR(ctx, bytes.NewReader(c), nil)
			if err != nil || res.Records != 300 || res.Blocks != len(blocks) || res.Repo.Head != repo.Head {
				t.Fatalf("ImportCAR = %+v, %v; want 300 records, %d blocks", res, err, len(blocks))
			}
			if err := s.Check(ctx); err != nil {
				t.Errorf("Check after import = %v", err)
			}
			// A repeated block is refused by VerifyCAR, wherever it is.
			dup := reorder(t, c, func(bs []car.Block) []car.Block { return append(bs, bs[len(bs)/3]) })
			if _, err := atlite.VerifyCAR(ctx, bytes.NewReader(dup), nil); !errors.Is(err, atlite.ErrInvalidCAR) {
				t.Errorf("VerifyCAR(repeated block) = %v, want ErrInvalidCAR", err)
			}
			// A missing block is refused by both.
			cut := reorder(t, c, func(bs []car.Block) []car.Block {
				i := slices.IndexFunc(bs, func(x car.Block) bool { return x.CID == blocks[len(blocks)/2].CID })
				return slices.Delete(bs, i, i+1)
			})
			if _, err := atlite.VerifyCAR(ctx, bytes.NewReader(cut), nil); !errors.Is(err, atlite.ErrInvalidCAR) {
				t.Errorf("VerifyCAR(missing block) = %v, want ErrInvalidCAR", err)
			}
			if _, err := testutil.MustOpenStore(t, nil).ImportCAR(ctx, bytes.NewReader(cut), nil); !errors.Is(err, atlite.ErrInvalidCAR) {
				t.Errorf("ImportCAR(missing block) = %v, want ErrInvalidCAR", err)
			}
		})
	}
}
