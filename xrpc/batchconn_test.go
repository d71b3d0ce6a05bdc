package xrpc

import (
	"bytes"
	"errors"
	"net"
	"testing"
)

// writesConn is a net.Conn that records its writes.
type writesConn struct {
	net.Conn
	writes [][]byte
	fail   error
}

func (w *writesConn) Write(p []byte) (int, error) {
	if w.fail != nil {
		return 0, w.fail
	}
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

// TestBatchConn: without hold every write goes out at once; with hold,
// writes are kept and go out in order, in one write, with the next write
// made without hold, or when they would pass batchBytes; the buffer is
// allocated once, batchBytes long, and never grows.
func TestBatchConn(t *testing.T) {
	w := &writesConn{}
	b := &batchConn{Conn: w}
	write := func(p string) {
		t.Helper()
		if n, err := b.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write(%d bytes) = %d, %v", len(p), n, err)
		}
	}
	check := func(step string, want ...string) {
		t.Helper()
		if len(w.writes) != len(want) {
			t.Fatalf("%s: %d writes, want %d", step, len(w.writes), len(want))
		}
		for i := range want {
			if string(w.writes[i]) != want[i] {
				t.Errorf("%s: write %d = %.20q (%d bytes), want %.20q (%d bytes)", step, i, w.writes[i], len(w.writes[i]), want[i], len(want[i]))
			}
		}
		w.writes = nil
	}
	write("a")
	write("b")
	check("no hold", "a", "b")

	b.hold.Store(true)
	write("frame 1;")
	write("frame 2;")
	check("held")
	b.hold.Store(false)
	write("frame 3")
	check("released", "frame 1;frame 2;frame 3")
	if cap(b.buf) != batchBytes {
		t.Errorf("the buffer holds %d bytes, want batchBytes", cap(b.buf))
	}

	b.hold.Store(true)
	big := string(bytes.Repeat([]byte("x"), batchBytes-10))
	write(big)
	write("0123456789") // exactly batchBytes held
	check("up to batchBytes")
	write("z")
	check("past batchBytes", big+"0123456789", "z") // one writev on a TCP connection
	write("y")
	check("held again")
	huge := string(bytes.Repeat([]byte("h"), batchBytes+1))
	write(huge)
	check("too big to hold", "y", huge)
	if cap(b.buf) != batchBytes {
		t.Errorf("the buffer grew to %d bytes, want batchBytes", cap(b.buf))
	}

	// A failed write reports none of p written, and drops what was held.
	write("kept")
	w.fail = errors.New("broken pipe")
	b.hold.Store(false)
	if n, err := b.Write([]byte("p")); n != 0 || !errors.Is(err, w.fail) {
		t.Errorf("failed Write = %d, %v", n, err)
	}
	w.fail = nil
	write("after")
	check("after a failure", "after")
}
