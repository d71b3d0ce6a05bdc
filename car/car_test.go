package car_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/atlite-dev/atlite/car"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

const snarfed2 = "../testdata/arroba/snarfed2.car"

func readFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// rewrite writes roots and blocks as a CAR and returns the bytes.
func rewrite(tb testing.TB, roots []cid.Cid, blocks []car.Block) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w, err := car.NewWriter(&buf, roots)
	if err != nil {
		tb.Fatalf("NewWriter error: %v", err)
	}
	for _, b := range blocks {
		if err := w.WriteBlock(b.CID, b.Data); err != nil {
			tb.Fatalf("WriteBlock(%s) error: %v", b.CID, err)
		}
	}
	if err := w.Flush(); err != nil {
		tb.Fatalf("Flush error: %v", err)
	}
	return buf.Bytes()
}

func TestSnarfed2RoundTrip(t *testing.T) {
	in := readFile(t, snarfed2)
	roots, blocks, err := car.ReadAll(bytes.NewReader(in), nil)
	if err != nil {
		t.Fatalf("ReadAll(%s) error: %v", snarfed2, err)
	}
	const wantRoot = "bafyreihrulqpzqf2vrjc6ef3phj27x2ohidkpf2ctk23mlk2fdyitegqeu"
	if len(roots) != 1 || roots[0].String() != wantRoot {
		t.Errorf("roots = %v, want [%s]", roots, wantRoot)
	}
	wantBlocks := []struct {
		cid  string
		size int
	}{
		{"bafyreihz6oxxyw275252o2chs5qoauv3urgfv4xffr7lgblmwscmcpkida", 324},
		{"bafyreihrulqpzqf2vrjc6ef3phj27x2ohidkpf2ctk23mlk2fdyitegqeu", 188},
		{"bafyreihmpwmjwvxnai34amga227nhpowt4lie277r3rszyetvf3ijp2bqm", 128},
		{"bafyreihlyuzrqgyz7a4k2ylrhxy4xwmpao2tnpef5rs6s4cypq5smhg23e", 212},
		{"bafyreic3cj6bbxli7xdogy6vz376webmed5swlsbm3i3gt3wz2etb3mknu", 107},
		{"bafyreict2eqjmcu5sxogs2eqorupx4k46uw26anho5pcht5latzwlfrl5u", 54},
		{"bafyreidatoq7527pd3rtst4qvjuwqpinj7qsgjsujhrdyuyylsykqvi2qa", 173},
		{"bafyreih5uycq2cxkeostd6p7qfk35isfq7u4xju455i5ke3ep43qsvxgty", 107},
	}
	if len(blocks) != len(wantBlocks) {
		t.Fatalf("len(blocks) = %d, want %d", len(blocks), len(wantBlocks))
	}
	for i, want := range wantBlocks {
		if got := blocks[i].CID.String(); got != want.cid || len(blocks[i].Data) != want.size {
			t.Errorf("block %d = %s (%d bytes), want %s (%d bytes)", i, got, len(blocks[i].Data), want.cid, want.size)
		}
		// Every block of a repo is strict DAG-CBOR.
		v, err := datamodel.Unmarshal(blocks[i].Data)
		if err != nil {
			t.Errorf("block %d: Unmarshal error: %v", i, err)
			continue
		}
		if b, err := datamodel.Marshal(v); err != nil || !bytes.Equal(b, blocks[i].Data) {
			t.Errorf("block %d: Marshal(Unmarshal(data)) differs from data (%v)", i, err)
		}
	}
	if out := rewrite(t, roots, blocks); !bytes.Equal(out, in) {
		t.Errorf("rewritten CAR (%d bytes) differs from %s (%d bytes)", len(out), snarfed2, len(in))
	}
}

func TestReaderStreams(t *testing.T) {
	in := readFile(t, snarfed2)
	r, err := car.NewReader(bytes.NewReader(in), &car.ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var prev car.Block
	n := 0
	for {
		b, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next error: %v", err)
		}
		if prev.Data != nil && &prev.Data[0] == &b.Data[0] {
			t.Errorf("Next reused the previous block's Data")
		}
		prev = b
		n++
	}
	if n != 8 {
		t.Errorf("Next returned %d blocks, want 8", n)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("Next after the end = %v, want io.EOF", err)
	}
	roots := r.Roots()
	roots[0] = cid.Undef
	if !r.Roots()[0].Defined() {
		t.Errorf("modifying Roots() changed the reader's roots")
	}
}

// Helpers that build CARs by hand.

func uvarint(n uint64) []byte {
	return binary.AppendUvarint(nil, n)
}

func section(parts ...[]byte) []byte {
	body := bytes.Join(parts, nil)
	return append(uvarint(uint64(len(body))), body...)
}

func headerBytes(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := datamodel.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return section(b)
}

func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var (
	blockData = []byte{0xa1, 0x63, 0x66, 0x6f, 0x6f, 0x63, 0x62, 0x61, 0x72} // {"foo":"bar"}
	blockCID  = datamodel.CBORCID(blockData)
)

func goodHeader(tb testing.TB) []byte {
	return headerBytes(tb, map[string]any{"roots": []any{blockCID}, "version": int64(1)})
}

func goodBlock() []byte { return section(blockCID.Bytes(), blockData) }

func TestSmallCARs(t *testing.T) {
	raw := []byte("hello")
	rawCID := datamodel.RawCID(raw)
	tests := []struct {
		name   string
		in     []byte
		blocks int
	}{
		{"header only", goodHeader(t), 0},
		{"one block", join(goodHeader(t), goodBlock()), 1},
		{"raw block", join(goodHeader(t), section(rawCID.Bytes(), raw)), 1},
		{"empty raw block", join(goodHeader(t), section(datamodel.RawCID(nil).Bytes())), 1},
		{"repeated block", join(goodHeader(t), goodBlock(), goodBlock()), 2},
		{"two roots", join(headerBytes(t, map[string]any{"roots": []any{blockCID, rawCID}, "version": int64(1)}), goodBlock()), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			roots, blocks, err := car.ReadAll(bytes.NewReader(tt.in), nil)
			if err != nil {
				t.Fatalf("ReadAll error: %v", err)
			}
			if len(blocks) != tt.blocks {
				t.Errorf("len(blocks) = %d, want %d", len(blocks), tt.blocks)
			}
			if out := rewrite(t, roots, blocks); !bytes.Equal(out, tt.in) {
				t.Errorf("rewrite = %x, want %x", out, tt.in)
			}
		})
	}
}

func TestReaderErrors(t *testing.T) {
	sha512CID := cid.NewCidV1(datamodel.CodecRaw, append([]byte{0x13, 0x40}, make([]byte, 64)...))
	identityCID := cid.NewCidV1(datamodel.CodecRaw, []byte{0x00, 0x03, 'a', 'b', 'c'})
	v0 := cid.NewCidV0(blockCID.Hash())
	tests := []struct {
		name string
		in   []byte
		opts *car.ReaderOptions
		want error
	}{
		{"empty input", nil, nil, io.ErrUnexpectedEOF},
		{"empty input is a header error", nil, nil, car.ErrInvalidHeader},
		{"zero header length", uvarint(0), nil, car.ErrInvalidHeader},
		{"truncated header varint", []byte{0x80}, nil, io.ErrUnexpectedEOF},
		{"truncated header", goodHeader(t)[:10], nil, io.ErrUnexpectedEOF},
		{"header too large", uvarint(2 << 20), nil, car.ErrHeaderTooLarge},
		{"header over custom limit", goodHeader(t), &car.ReaderOptions{MaxHeaderSize: 10}, car.ErrHeaderTooLarge},
		{"header varint overflow", bytes.Repeat([]byte{0xff}, 10), nil, car.ErrInvalidHeader},
		{"wrong version", headerBytes(t, map[string]any{"roots": []any{blockCID}, "version": int64(2)}), nil, car.ErrUnsupportedVersion},
		{"carv2 pragma", headerBytes(t, map[string]any{"version": int64(2)}), nil, car.ErrUnsupportedVersion},
		{"version as string", headerBytes(t, map[string]any{"roots": []any{blockCID}, "version": "1"}), nil, car.ErrUnsupportedVersion},
		{"no version", headerBytes(t, map[string]any{"roots": []any{blockCID}}), nil, car.ErrInvalidHeader},
		{"zero roots", headerBytes(t, map[string]any{"roots": []any{}, "version": int64(1)}), nil, car.ErrInvalidHeader},
		{"no roots", headerBytes(t, map[string]any{"version": int64(1)}), nil, car.ErrInvalidHeader},
		{"roots not array", headerBytes(t, map[string]any{"roots": blockCID, "version": int64(1)}), nil, car.ErrInvalidHeader},
		{"root not cid", headerBytes(t, map[string]any{"roots": []any{"x"}, "version": int64(1)}), nil, car.ErrInvalidHeader},
		{"extra header key", headerBytes(t, map[string]any{"roots": []any{blockCID}, "version": int64(1), "x": nil}), nil, car.ErrInvalidHeader},
		{"header not a map", headerBytes(t, []any{blockCID}), nil, car.ErrInvalidHeader},
		{"header not canonical", section([]byte{0xa2, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x01, 0x65, 'r', 'o', 'o', 't', 's', 0x80}), nil, datamodel.ErrNonCanonical},
		{"truncated section varint", join(goodHeader(t), []byte{0x80}), nil, io.ErrUnexpectedEOF},
		{"garbage after last block", join(goodHeader(t), goodBlock(), []byte{0xff}), nil, io.ErrUnexpectedEOF},
		{"truncated section", join(goodHeader(t), goodBlock()[:20]), nil, io.ErrUnexpectedEOF},
		{"truncated data", join(goodHeader(t), goodBlock()[:len(goodBlock())-1]), nil, io.ErrUnexpectedEOF},
		{"zero-length section", join(goodHeader(t), uvarint(0)), nil, car.ErrInvalidSection},
		{"non-minimal section varint", join(goodHeader(t), []byte{0x81, 0x00}), nil, car.ErrInvalidSection},
		{"section varint overflow", join(goodHeader(t), bytes.Repeat([]byte{0xff}, 10)), nil, car.ErrInvalidSection},
		{"oversized section length", join(goodHeader(t), uvarint(1<<62)), nil, car.ErrBlockTooLarge},
		{"section over default limit", join(goodHeader(t), uvarint(car.DefaultMaxBlockSize+1000)), nil, car.ErrBlockTooLarge},
		{"block over custom limit", join(goodHeader(t), goodBlock()), &car.ReaderOptions{MaxBlockSize: 8}, car.ErrBlockTooLarge},
		{"hash mismatch", join(goodHeader(t), section(blockCID.Bytes(), []byte("other"))), nil, car.ErrHashMismatch},
		{"sha2-512 block", join(goodHeader(t), section(sha512CID.Bytes(), blockData)), nil, car.ErrUnsupportedHash},
		{"identity hash block", join(goodHeader(t), section(identityCID.Bytes())), nil, car.ErrUnsupportedHash},
		{"cidv0 block", join(goodHeader(t), section(v0.Bytes(), blockData)), nil, car.ErrInvalidSection},
		{"bad cid", join(goodHeader(t), section([]byte{0x01, 0x71, 0x12, 0x20, 0x00})), nil, car.ErrInvalidSection},
		{"garbage section", join(goodHeader(t), section([]byte("garbage"))), nil, car.ErrInvalidSection},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			roots, blocks, err := car.ReadAll(bytes.NewReader(tt.in), tt.opts)
			if !errors.Is(err, tt.want) {
				t.Errorf("ReadAll(%x) error = %v, want %v", tt.in, err, tt.want)
			}
			if roots != nil || blocks != nil {
				t.Errorf("ReadAll(%x) = %v, %v with an error, want nil", tt.in, roots, blocks)
			}
		})
	}
}

func TestHashMismatchNamesCID(t *testing.T) {
	in := join(goodHeader(t), section(blockCID.Bytes(), []byte("other")))
	_, _, err := car.ReadAll(bytes.NewReader(in), nil)
	if err == nil || !strings.Contains(err.Error(), blockCID.String()) {
		t.Errorf("ReadAll error = %v, want it to name %s", err, blockCID)
	}
}

func TestSkipHashCheck(t *testing.T) {
	in := join(goodHeader(t), section(blockCID.Bytes(), []byte("other")))
	_, blocks, err := car.ReadAll(bytes.NewReader(in), &car.ReaderOptions{SkipHashCheck: true})
	if err != nil || len(blocks) != 1 || string(blocks[0].Data) != "other" {
		t.Errorf("ReadAll with SkipHashCheck = %v, %v; want one block holding \"other\"", blocks, err)
	}
}

func TestReaderErrorIsSticky(t *testing.T) {
	in := join(goodHeader(t), section(blockCID.Bytes(), []byte("other")), goodBlock())
	r, err := car.NewReader(bytes.NewReader(in), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err1 := r.Next()
	_, err2 := r.Next()
	if !errors.Is(err1, car.ErrHashMismatch) || err2 != err1 {
		t.Errorf("Next errors = %v then %v, want %v twice", err1, err2, car.ErrHashMismatch)
	}
}

// errWriter fails every write.
type errWriter struct{}

var errWrite = errors.New("write failed")

func (errWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestWriterErrors(t *testing.T) {
	if _, err := car.NewWriter(io.Discard, nil); !errors.Is(err, car.ErrInvalidHeader) {
		t.Errorf("NewWriter(no roots) error = %v, want %v", err, car.ErrInvalidHeader)
	}
	if _, err := car.NewWriter(io.Discard, []cid.Cid{cid.Undef}); !errors.Is(err, car.ErrInvalidHeader) {
		t.Errorf("NewWriter(undefined root) error = %v, want %v", err, car.ErrInvalidHeader)
	}
	w, err := car.NewWriter(io.Discard, []cid.Cid{blockCID})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteBlock(cid.Undef, nil); !errors.Is(err, car.ErrInvalidSection) {
		t.Errorf("WriteBlock(undefined) error = %v, want %v", err, car.ErrInvalidSection)
	}
	w, err = car.NewWriter(errWriter{}, []cid.Cid{blockCID})
	if err != nil {
		t.Fatal(err) // buffered: nothing reaches the writer yet
	}
	if err := w.WriteBlock(blockCID, make([]byte, 100<<10)); !errors.Is(err, errWrite) {
		t.Errorf("WriteBlock of 100 KiB to a failing writer error = %v, want %v", err, errWrite)
	}
	if err := w.Flush(); !errors.Is(err, errWrite) {
		t.Errorf("Flush after a failed write error = %v, want %v", err, errWrite)
	}
}

// TestSources reads and writes through plain io.Reader and io.Writer
// implementations, which take the buffered paths.
func TestSources(t *testing.T) {
	in := readFile(t, snarfed2)
	sources := []struct {
		name string
		r    io.Reader
	}{
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(in))},
		{"half reads", iotest.HalfReader(bytes.NewReader(in))},
		{"data with EOF", iotest.DataErrReader(bytes.NewReader(in))},
		{"plain reader", struct{ io.Reader }{bytes.NewReader(in)}},
	}
	for _, src := range sources {
		t.Run(src.name, func(t *testing.T) {
			roots, blocks, err := car.ReadAll(src.r, nil)
			if err != nil {
				t.Fatalf("ReadAll error: %v", err)
			}
			var out bytes.Buffer
			w, err := car.NewWriter(struct{ io.Writer }{&out}, roots)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range blocks {
				if err := w.WriteBlock(b.CID, b.Data); err != nil {
					t.Fatal(err)
				}
			}
			if out.Len() != 0 {
				t.Errorf("buffered Writer wrote %d bytes before Flush, want 0", out.Len())
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), in) {
				t.Errorf("rewritten CAR differs from %s", snarfed2)
			}
		})
	}
}

// TestReaderStopsAtEnd checks that a Reader over an io.ByteReader leaves
// the bytes after the CAR unread.
func TestReaderStopsAtEnd(t *testing.T) {
	in := join(goodHeader(t), goodBlock())
	br := bytes.NewReader(append(in, "tail"...))
	r, err := car.NewReader(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if br.Len() != 4 {
		t.Errorf("after the last block, %d bytes are left unread, want 4", br.Len())
	}
}

// TestWriterHeader: the header NewWriter writes is the DAG-CBOR of
// {"roots": roots, "version": 1} (its length as a varint first), for one
// root of every form (written straight) and for several.
func TestWriterHeader(t *testing.T) {
	long, err := cid.NewPrefixV1(cid.Raw, multihash.IDENTITY).Sum(bytes.Repeat([]byte("x"), 300))
	if err != nil {
		t.Fatal(err)
	}
	v0, err := cid.Decode("QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n")
	if err != nil {
		t.Fatal(err)
	}
	for name, roots := range map[string][]cid.Cid{
		"cidv1":      {blockCID},
		"cidv0":      {v0},
		"long cid":   {long},
		"two roots":  {blockCID, v0},
		"same twice": {long, long},
	} {
		rs := make([]any, len(roots))
		for i, c := range roots {
			rs[i] = c
		}
		hb, err := datamodel.Marshal(map[string]any{"roots": rs, "version": int64(1)})
		if err != nil {
			t.Fatal(err)
		}
		want := binary.AppendUvarint(nil, uint64(len(hb)))
		want = append(want, hb...)
		var buf bytes.Buffer
		if _, err := car.NewWriter(&buf, roots); err != nil {
			t.Fatalf("%s: NewWriter = %v", name, err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%s: header %x, want %x", name, buf.Bytes(), want)
		}
	}
}
