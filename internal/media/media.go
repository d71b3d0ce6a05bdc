package media

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"time"

	"golang.org/x/image/webp"
)

// Format names a recognised media format.
type Format string

// The recognised formats. The zero Format means unknown.
const (
	FormatPNG  Format = "png"
	FormatJPEG Format = "jpeg"
	FormatGIF  Format = "gif"
	FormatWebP Format = "webp"
	// FormatMP4 is any ISO base media file: MP4, M4V, 3GP, QuickTime MOV.
	FormatMP4 Format = "mp4"
)

// ErrUnknownFormat is returned when the input is not one of the recognised
// formats.
var ErrUnknownFormat = errors.New("unknown media format")

// ErrMalformed is returned when the input starts like a recognised format
// but its header cannot be read.
var ErrMalformed = errors.New("malformed media")

// Info is what [Probe] learns about an image or a video. The zero Info means
// nothing is known.
type Info struct {
	Format Format
	// Width and Height are in pixels; 0 when unknown (a video file with no
	// video track, for one).
	Width, Height int
	// Duration is a video's length, 0 for images and when unknown.
	Duration time.Duration
}

// sniffLen is how many bytes identify every recognised format.
const sniffLen = 12

// Probe reads the format, dimensions and duration of the media file b.
func Probe(b []byte) (Info, error) {
	return ProbeReader(bytes.NewReader(b))
}

// ProbeReader reads the format, dimensions and duration of the media file r
// holds. It reads from r only what it needs: an image's header, or an ISO
// base media file up to the end of its moov box (skipping the boxes before
// it by reading and discarding them). What remains unread is left in r.
// Memory use is bounded by a few KiB however large the input.
func ProbeReader(r io.Reader) (Info, error) {
	er := &errReader{r: r}
	info, err := probe(er)
	if er.err != nil {
		return Info{}, er.err
	}
	return info, err
}

// errReader remembers the first error of r other than io.EOF, so that a
// failed read is returned as is rather than as a malformed file.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

func probe(r io.Reader) (Info, error) {
	var head [sniffLen]byte
	n, _ := io.ReadFull(r, head[:])
	if n == 0 {
		return Info{}, fmt.Errorf("%w: empty input", ErrUnknownFormat)
	}
	h := head[:n]
	rest := io.MultiReader(bytes.NewReader(h), r)
	var info Info
	var err error
	switch {
	case bytes.HasPrefix(h, []byte("\x89PNG\r\n\x1a\n")):
		info, err = imageConfig(FormatPNG, png.DecodeConfig, rest)
	case bytes.HasPrefix(h, []byte{0xff, 0xd8, 0xff}):
		info, err = imageConfig(FormatJPEG, jpeg.DecodeConfig, rest)
	case bytes.HasPrefix(h, []byte("GIF87a")) || bytes.HasPrefix(h, []byte("GIF89a")):
		info, err = imageConfig(FormatGIF, gif.DecodeConfig, rest)
	case len(h) == sniffLen && string(h[:4]) == "RIFF" && string(h[8:12]) == "WEBP":
		info, err = imageConfig(FormatWebP, webp.DecodeConfig, rest)
	case len(h) >= 8 && isBoxType(string(h[4:8])):
		info, err = probeMP4(rest)
	default:
		return Info{}, ErrUnknownFormat
	}
	if err != nil {
		return Info{}, err
	}
	return info, nil
}

// imageConfig runs an image package's DecodeConfig.
func imageConfig(f Format, decode func(io.Reader) (image.Config, error), r io.Reader) (info Info, err error) {
	c, err := decode(r)
	if err != nil {
		return Info{}, fmt.Errorf("%w: %s: %v", ErrMalformed, f, err)
	}
	if c.Width < 0 || c.Height < 0 {
		return Info{}, fmt.Errorf("%w: %s: negative size %dx%d", ErrMalformed, f, c.Width, c.Height)
	}
	return Info{Format: f, Width: c.Width, Height: c.Height}, nil
}

// isBoxType reports whether t is a box type that may open an ISO base media
// file.
func isBoxType(t string) bool {
	switch t {
	case "ftyp", "moov", "mdat", "free", "skip", "wide", "pnot":
		return true
	}
	return false
}
