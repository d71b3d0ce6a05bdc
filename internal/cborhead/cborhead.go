// Package cborhead reads the head of a CBOR data item (RFC 8949 section
// 3): its initial byte and the argument after it. It is the one piece of
// CBOR parsing that the module's decoders (package datamodel's strict
// DAG-CBOR decoder, package mst's node decoder, and the root package's
// link scanner) share; each keeps its own rules on top (shortest form,
// which major types it accepts, its error values).
package cborhead

// Problem says why [Read] could not read a head; [OK] when it could.
type Problem uint8

const (
	// OK: the head was read.
	OK Problem = iota
	// Truncated: the input ends before the head does.
	Truncated
	// Reserved: additional information 28, 29 or 30, which RFC 8949
	// leaves unassigned.
	Reserved
	// Indefinite: additional information 31, an indefinite length or a
	// break; arg is 0 and n is 1.
	Indefinite
)

// Read reads the head at the start of b. It returns the major type (0-7),
// the additional information (the low 5 bits of the initial byte), the
// argument (the additional information itself below 24, otherwise the 1,
// 2, 4 or 8 big-endian bytes that follow), and n, the bytes the head takes.
// With a Problem other than OK, major and info are set when b is not
// empty, and arg and n are not to be used (except as Indefinite says).
func Read(b []byte) (major, info byte, arg uint64, n int, p Problem) {
	if len(b) == 0 {
		return 0, 0, 0, 0, Truncated
	}
	major, info = b[0]>>5, b[0]&0x1f
	switch {
	case info < 24:
		return major, info, uint64(info), 1, OK
	case info == 31:
		return major, info, 0, 1, Indefinite
	case info > 27:
		return major, info, 0, 0, Reserved
	}
	w := 1 << (info - 24) // 24..27: 1, 2, 4 or 8 bytes
	if len(b) <= w {
		return major, info, 0, 0, Truncated
	}
	for _, x := range b[1 : 1+w] {
		arg = arg<<8 | uint64(x)
	}
	return major, info, arg, 1 + w, OK
}

// Shortest reports whether a head whose additional information is info
// wrote arg in the fewest bytes, as DAG-CBOR requires of every integer and
// length (floats, under major type 7, have their own rule).
func Shortest(info byte, arg uint64) bool {
	switch info {
	case 24:
		return arg >= 24
	case 25:
		return arg > 0xff
	case 26:
		return arg > 0xffff
	case 27:
		return arg > 0xffffffff
	}
	return info < 24
}

// Append appends the head of major type major (0-7) with argument n to b,
// in its shortest form, as DAG-CBOR requires of integers and lengths.
func Append(b []byte, major byte, n uint64) []byte {
	ib := major << 5
	switch {
	case n < 24:
		return append(b, ib|byte(n))
	case n <= 0xff:
		return append(b, ib|24, byte(n))
	case n <= 0xffff:
		return append(b, ib|25, byte(n>>8), byte(n))
	case n <= 0xffffffff:
		return append(b, ib|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, ib|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32),
		byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}
