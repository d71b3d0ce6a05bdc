package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// leafMax is how many bytes of a box of interest are read; its fields lie
// well within them, and the rest (a handler name, say) is skipped.
const leafMax = 128

// mp4Track is what one trak box tells.
type mp4Track struct {
	handler       string // hdlr handler_type: "vide", "soun", ...
	tkhdDuration  uint64 // in the movie timescale; 0 unknown
	width, height uint32 // tkhd, 16.16 fixed point
	mdhdTimescale uint32
	mdhdDuration  uint64 // in mdhdTimescale; 0 unknown
	stsdWidth     uint16 // first visual sample entry
	stsdHeight    uint16
}

// mp4Parser walks the boxes of an ISO base media file.
type mp4Parser struct {
	r         io.Reader
	moov      bool   // a whole moov box was read
	timescale uint32 // mvhd
	duration  uint64 // mvhd, in timescale; 0 unknown
	fragments uint64 // mehd fragment_duration, in timescale; 0 unknown
	tracks    []mp4Track
	buf       [leafMax]byte
}

var errTruncated = errors.New("truncated box")

func probeMP4(r io.Reader) (Info, error) {
	p := &mp4Parser{r: r}
	if err := p.boxes(-1, ""); err != nil {
		return Info{}, fmt.Errorf("%w: mp4: %v", ErrMalformed, err)
	}
	if !p.moov {
		return Info{}, fmt.Errorf("%w: mp4: no moov box", ErrMalformed)
	}
	info := Info{Format: FormatMP4}
	var v *mp4Track
	for i := range p.tracks {
		if p.tracks[i].handler == "vide" {
			v = &p.tracks[i]
			break
		}
	}
	if v != nil {
		info.Width, info.Height = int(v.width>>16), int(v.height>>16)
		if info.Width == 0 || info.Height == 0 {
			info.Width, info.Height = int(v.stsdWidth), int(v.stsdHeight)
		}
	}
	switch {
	case v != nil && v.tkhdDuration != 0 && p.timescale != 0:
		info.Duration = scale(v.tkhdDuration, p.timescale)
	case v != nil && v.mdhdDuration != 0 && v.mdhdTimescale != 0:
		info.Duration = scale(v.mdhdDuration, v.mdhdTimescale)
	case p.duration != 0 && p.timescale != 0:
		info.Duration = scale(p.duration, p.timescale)
	case p.fragments != 0 && p.timescale != 0:
		info.Duration = scale(p.fragments, p.timescale)
	}
	return info, nil
}

// scale converts d units of 1/ts second to a Duration, saturating at the
// largest Duration.
func scale(d uint64, ts uint32) time.Duration {
	secs, rem := d/uint64(ts), d%uint64(ts)
	if secs > math.MaxInt64/uint64(time.Second)-1 {
		return math.MaxInt64
	}
	return time.Duration(secs)*time.Second + time.Duration(rem*uint64(time.Second)/uint64(ts))
}

// isContainer reports whether a box of type t inside parent holds boxes the
// parser descends into.
func isContainer(parent, t string) bool {
	switch parent + "/" + t {
	case "/moov", "moov/trak", "moov/mvex", "trak/mdia", "mdia/minf", "minf/stbl":
		return true
	}
	return false
}

// boxes reads the boxes of a container whose payload has remaining bytes
// (-1: up to the end of the input, for the top level).
func (p *mp4Parser) boxes(remaining int64, parent string) error {
	for remaining != 0 {
		if parent == "" && p.moov {
			return nil // all we need is read; the caller keeps the rest
		}
		var hdr [8]byte
		n, err := io.ReadFull(p.r, hdr[:])
		if remaining < 0 && n == 0 && errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return readErr(err)
		}
		size := int64(binary.BigEndian.Uint32(hdr[:4]))
		t := string(hdr[4:8])
		hlen := int64(8)
		switch size {
		case 1: // 64-bit size follows
			if _, err := io.ReadFull(p.r, hdr[:]); err != nil {
				return readErr(err)
			}
			large := binary.BigEndian.Uint64(hdr[:])
			if large > math.MaxInt64 {
				return fmt.Errorf("box %q: size %d", t, large)
			}
			size, hlen = int64(large), 16
		case 0: // up to the end of the enclosing box or file
			if remaining < 0 {
				size = -1
			} else {
				size = remaining
			}
		}
		payload := int64(-1)
		if size >= 0 {
			if size < hlen {
				return fmt.Errorf("box %q: size %d is less than its header", t, size)
			}
			if remaining >= 0 && size > remaining {
				return fmt.Errorf("box %q: size %d exceeds its container (%d left)", t, size, remaining)
			}
			payload = size - hlen
			if remaining >= 0 {
				remaining -= size
			}
		}
		switch {
		case isContainer(parent, t):
			if t == "trak" {
				p.tracks = append(p.tracks, mp4Track{})
			}
			if err := p.boxes(payload, t); err != nil {
				return err
			}
			if t == "moov" {
				p.moov = true
			}
		case payload < 0:
			return nil // the rest of the file is one box we do not read
		case p.wants(parent, t):
			if err := p.leaf(parent, t, payload); err != nil {
				return err
			}
		default:
			if err := p.skip(payload); err != nil {
				return err
			}
		}
	}
	return nil
}

func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errTruncated
	}
	return err
}

func (p *mp4Parser) skip(n int64) error {
	if n == 0 {
		return nil
	}
	m, err := io.CopyN(io.Discard, p.r, n)
	if m < n {
		if err == nil || errors.Is(err, io.EOF) {
			return errTruncated
		}
		return err
	}
	return nil
}

// wants reports whether the parser reads the fields of box t in parent.
func (p *mp4Parser) wants(parent, t string) bool {
	switch parent + "/" + t {
	case "moov/mvhd", "trak/tkhd", "mdia/mdhd", "mdia/hdlr", "mvex/mehd", "stbl/stsd":
		return true
	}
	return false
}

// leaf reads the first bytes of a box of interest and skips the rest.
func (p *mp4Parser) leaf(parent, t string, payload int64) error {
	n := min(payload, leafMax)
	b := p.buf[:n]
	if _, err := io.ReadFull(p.r, b); err != nil {
		return readErr(err)
	}
	if err := p.skip(payload - n); err != nil {
		return err
	}
	var tr *mp4Track
	if len(p.tracks) > 0 && parent != "moov" && parent != "mvex" {
		tr = &p.tracks[len(p.tracks)-1]
	}
	if tr == nil && parent != "moov" && parent != "mvex" {
		return nil // cannot happen: track boxes are only read inside a trak
	}
	short := func() error { return fmt.Errorf("box %q: %d bytes is too short", t, len(b)) }
	if len(b) < 4 {
		return short()
	}
	v1 := b[0] == 1
	switch t {
	case "mvhd", "mdhd":
		var ts uint32
		var d uint64
		if v1 {
			if len(b) < 32 {
				return short()
			}
			ts, d = binary.BigEndian.Uint32(b[20:24]), binary.BigEndian.Uint64(b[24:32])
		} else {
			if len(b) < 20 {
				return short()
			}
			ts, d = binary.BigEndian.Uint32(b[12:16]), unknown32(binary.BigEndian.Uint32(b[16:20]))
		}
		d = unknown64(d)
		if t == "mvhd" {
			p.timescale, p.duration = ts, d
		} else {
			tr.mdhdTimescale, tr.mdhdDuration = ts, d
		}
	case "tkhd":
		var d uint64
		var wh []byte
		if v1 {
			if len(b) < 96 {
				return short()
			}
			d, wh = unknown64(binary.BigEndian.Uint64(b[28:36])), b[88:96]
		} else {
			if len(b) < 84 {
				return short()
			}
			d, wh = unknown32(binary.BigEndian.Uint32(b[20:24])), b[76:84]
		}
		tr.tkhdDuration = d
		tr.width, tr.height = binary.BigEndian.Uint32(wh[:4]), binary.BigEndian.Uint32(wh[4:])
	case "hdlr":
		if len(b) < 12 {
			return short()
		}
		tr.handler = string(b[8:12])
	case "mehd":
		if v1 {
			if len(b) < 12 {
				return short()
			}
			p.fragments = unknown64(binary.BigEndian.Uint64(b[4:12]))
		} else {
			if len(b) < 8 {
				return short()
			}
			p.fragments = unknown32(binary.BigEndian.Uint32(b[4:8]))
		}
	case "stsd":
		// Visual sample entry: size, format, 6 reserved, data reference
		// index, 16 bytes pre_defined/reserved, then width and height.
		if len(b) >= 44 && binary.BigEndian.Uint32(b[4:8]) > 0 && tr.handler == "vide" {
			tr.stsdWidth, tr.stsdHeight = binary.BigEndian.Uint16(b[40:42]), binary.BigEndian.Uint16(b[42:44])
		}
	}
	return nil
}

// unknown32 maps the all-ones 32-bit duration ("unknown") to 0.
func unknown32(d uint32) uint64 {
	if d == math.MaxUint32 {
		return 0
	}
	return uint64(d)
}

// unknown64 maps the all-ones 64-bit duration ("unknown") to 0.
func unknown64(d uint64) uint64 {
	if d == math.MaxUint64 {
		return 0
	}
	return d
}
