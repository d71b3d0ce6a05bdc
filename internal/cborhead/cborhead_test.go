package cborhead

import "testing"

func TestRead(t *testing.T) {
	tests := []struct {
		in          []byte
		major, info byte
		arg         uint64
		n           int
		p           Problem
		shortest    bool
	}{
		{[]byte{0x00}, 0, 0, 0, 1, OK, true},
		{[]byte{0x17}, 0, 23, 23, 1, OK, true},
		{[]byte{0x18, 0x18}, 0, 24, 24, 2, OK, true},
		{[]byte{0x18, 0x17}, 0, 24, 23, 2, OK, false},
		{[]byte{0x59, 0x01, 0x00, 0xaa}, 2, 25, 256, 3, OK, true},
		{[]byte{0x59, 0x00, 0xff}, 2, 25, 255, 3, OK, false},
		{[]byte{0x9a, 0x00, 0x01, 0x00, 0x00}, 4, 26, 65536, 5, OK, true},
		{[]byte{0x9a, 0x00, 0x00, 0xff, 0xff}, 4, 26, 65535, 5, OK, false},
		{[]byte{0x3b, 0, 0, 0, 1, 0, 0, 0, 0}, 1, 27, 1 << 32, 9, OK, true},
		{[]byte{0x3b, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, 1, 27, 0xffffffff, 9, OK, false},
		{[]byte{0xd8, 0x2a}, 6, 24, 42, 2, OK, true},
		{[]byte{0xa3}, 5, 3, 3, 1, OK, true},
		{[]byte{0x5f}, 2, 31, 0, 1, Indefinite, false},
		{[]byte{0xff}, 7, 31, 0, 1, Indefinite, false},
		{[]byte{0x1c}, 0, 28, 0, 0, Reserved, false},
		{[]byte{0x7e}, 3, 30, 0, 0, Reserved, false},
		{nil, 0, 0, 0, 0, Truncated, true},
		{[]byte{0x19, 0x01}, 0, 25, 0, 0, Truncated, false},
		{[]byte{0x1b, 1, 2, 3, 4, 5, 6, 7}, 0, 27, 0, 0, Truncated, false},
	}
	for _, tt := range tests {
		major, info, arg, n, p := Read(tt.in)
		if major != tt.major || info != tt.info || arg != tt.arg || n != tt.n || p != tt.p {
			t.Errorf("Read(% x) = %d, %d, %d, %d, %d; want %d, %d, %d, %d, %d", tt.in, major, info, arg, n, p, tt.major, tt.info, tt.arg, tt.n, tt.p)
		}
		if p == OK {
			if got := Shortest(info, arg); got != tt.shortest {
				t.Errorf("Shortest(%d, %d) = %v, want %v", info, arg, got, tt.shortest)
			}
		}
	}
}

// TestAppend: every width's boundaries, read back by Read.
func TestAppend(t *testing.T) {
	tests := []struct {
		major byte
		n     uint64
		want  []byte
	}{
		{0, 0, []byte{0x00}},
		{0, 23, []byte{0x17}},
		{2, 24, []byte{0x58, 0x18}},
		{3, 0xff, []byte{0x78, 0xff}},
		{4, 0x100, []byte{0x99, 0x01, 0x00}},
		{5, 0xffff, []byte{0xb9, 0xff, 0xff}},
		{6, 0x10000, []byte{0xda, 0, 1, 0, 0}},
		{1, 0xffffffff, []byte{0x3a, 0xff, 0xff, 0xff, 0xff}},
		{0, 1 << 32, []byte{0x1b, 0, 0, 0, 1, 0, 0, 0, 0}},
		{0, 1<<64 - 1, []byte{0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	}
	for _, tt := range tests {
		got := Append([]byte{0xee}, tt.major, tt.n)
		if string(got[1:]) != string(tt.want) || got[0] != 0xee {
			t.Errorf("Append(%d, %d) = % x, want ee % x", tt.major, tt.n, got, tt.want)
		}
		major, info, arg, n, p := Read(got[1:])
		if major != tt.major || arg != tt.n || n != len(tt.want) || p != OK || !Shortest(info, arg) {
			t.Errorf("Read(Append(%d, %d)) = %d, %d, %d, %d, %d", tt.major, tt.n, major, info, arg, n, p)
		}
	}
}

// FuzzRead: Read never panics, and an OK head's n bytes re-read alone give
// the same head.
func FuzzRead(f *testing.F) {
	for _, s := range [][]byte{{0x00}, {0x18, 0x18}, {0x59, 1, 0}, {0x9a, 0, 1, 0, 0}, {0x3b, 0, 0, 0, 1, 0, 0, 0, 0}, {0x5f}, {0x1c}, {}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		major, info, arg, n, p := Read(b)
		if p != OK {
			return
		}
		if n < 1 || n > 9 || n > len(b) {
			t.Fatalf("Read(% x): n = %d", b, n)
		}
		m2, i2, a2, n2, p2 := Read(b[:n])
		if m2 != major || i2 != info || a2 != arg || n2 != n || p2 != OK {
			t.Fatalf("Read(% x) = %d %d %d %d, re-read %d %d %d %d %d", b, major, info, arg, n, m2, i2, a2, n2, p2)
		}
	})
}
