package car

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/internal/cborhead"
	"github.com/ipfs/go-cid"
)

// Writer writes a CAR v1 stream. Output is buffered: call [Writer.Flush]
// after the last block, or the end of the stream may be lost. (When the
// destination is a *bytes.Buffer, the Writer writes to it directly and
// Flush has nothing to do, but calling it is still correct.) A Writer is
// not safe for concurrent use.
type Writer struct {
	out interface {
		io.Writer
		io.StringWriter
	}
	bw      *bufio.Writer // nil when out is a *bytes.Buffer
	scratch [binary.MaxVarintLen64]byte
	err     error
}

// NewWriter writes the CAR header for roots to w and returns a Writer for
// the blocks. roots must hold at least one defined CID, as readers reject
// CARs without roots; otherwise NewWriter returns [ErrInvalidHeader] and
// writes nothing.
func NewWriter(w io.Writer, roots []cid.Cid) (*Writer, error) {
	if len(roots) == 0 {
		return nil, fmt.Errorf("%w: no roots", ErrInvalidHeader)
	}
	hb, err := header(roots)
	if err != nil {
		return nil, err
	}
	cw := &Writer{}
	if b, ok := w.(*bytes.Buffer); ok {
		cw.out = b
	} else {
		cw.bw = bufio.NewWriterSize(w, 32<<10)
		cw.out = cw.bw
	}
	cw.section("", hb)
	if cw.err != nil {
		return nil, cw.err
	}
	return cw, nil
}

// section writes uvarint(len(prefix)+len(data)), prefix and data.
// header is the CAR header for roots in DAG-CBOR. One root (every CAR
// atlite writes, a firehose frame's included) is appended straight, as
// datamodel.Marshal would encode it: {"roots": [root], "version": 1}, keys
// in canonical order.
func header(roots []cid.Cid) ([]byte, error) {
	for i, c := range roots {
		if !c.Defined() {
			return nil, fmt.Errorf("%w: root %d is undefined", ErrInvalidHeader, i)
		}
	}
	if len(roots) == 1 {
		k := roots[0].KeyString()
		b := make([]byte, 0, 24+len(k))
		b = append(b, "\xa2eroots\x81\xd8\x2a"...)
		b = cborhead.Append(b, 2, uint64(len(k)+1))
		b = append(b, 0)
		b = append(b, k...)
		return append(b, "gversion\x01"...), nil
	}
	rs := make([]any, len(roots))
	for i, c := range roots {
		rs[i] = c
	}
	hb, err := datamodel.Marshal(map[string]any{"roots": rs, "version": int64(1)})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidHeader, err)
	}
	return hb, nil
}

func (w *Writer) section(prefix string, data []byte) {
	n := binary.PutUvarint(w.scratch[:], uint64(len(prefix)+len(data)))
	if _, err := w.out.Write(w.scratch[:n]); err != nil {
		w.err = err
		return
	}
	if _, err := w.out.WriteString(prefix); err != nil {
		w.err = err
		return
	}
	if _, err := w.out.Write(data); err != nil {
		w.err = err
	}
}

// WriteBlock writes one block section: its CID and data. The data is not
// checked against the CID; callers that did not compute the CID themselves
// should verify it first. After a write error, every later call returns it.
func (w *Writer) WriteBlock(c cid.Cid, data []byte) error {
	if w.err != nil {
		return w.err
	}
	if !c.Defined() {
		return fmt.Errorf("%w: undefined cid", ErrInvalidSection)
	}
	w.section(c.KeyString(), data)
	return w.err
}

// Flush writes any buffered data to the underlying writer.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if w.bw != nil {
		w.err = w.bw.Flush()
	}
	return w.err
}
