package media_test

import "encoding/binary"

// box builds an ISO base media box.
func box(t string, payload ...[]byte) []byte {
	n := 8
	for _, p := range payload {
		n += len(p)
	}
	b := binary.BigEndian.AppendUint32(nil, uint32(n))
	b = append(b, t...)
	for _, p := range payload {
		b = append(b, p...)
	}
	return b
}

// largeBox builds a box with a 64-bit size.
func largeBox(t string, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, 1)
	b = append(b, t...)
	b = binary.BigEndian.AppendUint64(b, uint64(16+len(payload)))
	return append(b, payload...)
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// fullBox is a version/flags word followed by fields.
func fullBox(t string, version byte, fields ...[]byte) []byte {
	return box(t, append([][]byte{{version, 0, 0, 0}}, fields...)...)
}

// mvhd0 is a version-0 movie header (only the leading fields matter).
func mvhd0(timescale, duration uint32) []byte {
	return fullBox("mvhd", 0, u32(0), u32(0), u32(timescale), u32(duration), make([]byte, 80))
}

func mvhd1(timescale uint32, duration uint64) []byte {
	return fullBox("mvhd", 1, u64(0), u64(0), u32(timescale), u64(duration), make([]byte, 80))
}

// tkhd0 is a version-0 track header with a 16.16 width and height.
func tkhd0(duration uint32, w, h uint16) []byte {
	return fullBox("tkhd", 0, u32(0), u32(0), u32(1), u32(0), u32(duration), make([]byte, 8+8+36),
		u32(uint32(w)<<16), u32(uint32(h)<<16))
}

func tkhd1(duration uint64, w, h uint16) []byte {
	return fullBox("tkhd", 1, u64(0), u64(0), u32(1), u32(0), u64(duration), make([]byte, 8+8+36),
		u32(uint32(w)<<16), u32(uint32(h)<<16))
}

func mdhd0(timescale, duration uint32) []byte {
	return fullBox("mdhd", 0, u32(0), u32(0), u32(timescale), u32(duration), make([]byte, 4))
}

func hdlr(handler string) []byte {
	return fullBox("hdlr", 0, u32(0), []byte(handler), make([]byte, 12), []byte("a handler name\x00"))
}

// stsdVisual is a sample description with one visual sample entry.
func stsdVisual(w, h uint16) []byte {
	entry := box("avc1", make([]byte, 6), []byte{0, 1}, make([]byte, 16),
		binary.BigEndian.AppendUint16(nil, w), binary.BigEndian.AppendUint16(nil, h), make([]byte, 50))
	return fullBox("stsd", 0, u32(1), entry)
}

func trak(handler string, tk []byte, extra ...[]byte) []byte {
	mdia := box("mdia", append([][]byte{mdhd0(600, 0), hdlr(handler)}, extra...)...)
	return box("trak", tk, mdia)
}

var ftyp = box("ftyp", []byte("isom"), u32(512), []byte("isomiso2avc1mp41"))
