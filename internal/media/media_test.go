package media_test

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"io"
	"os"
	"testing"
	"testing/iotest"
	"time"

	"github.com/atlite-dev/atlite/internal/media"
)

func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile("../../testdata/arroba/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func encodeGIF(t *testing.T, w, h int) []byte {
	var buf bytes.Buffer
	img := image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.Black, color.White})
	if err := gif.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodeJPEG(t *testing.T, w, h int) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h)), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// riff wraps WebP chunks in a RIFF WEBP container.
func riff(chunks ...[]byte) []byte {
	var body []byte
	body = append(body, "WEBP"...)
	for _, c := range chunks {
		body = append(body, c...)
	}
	b := append([]byte("RIFF"), le32(uint32(len(body)))...)
	return append(b, body...)
}

func le32(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }

func chunk(id string, data []byte) []byte {
	b := append([]byte(id), le32(uint32(len(data)))...)
	b = append(b, data...)
	if len(data)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

// vp8l is a lossless WebP bitstream header for a w x h image.
func vp8l(w, h int) []byte {
	bits := uint32(w-1) | uint32(h-1)<<14 // no alpha, version 0
	return append([]byte{0x2f}, le32(bits)...)
}

// vp8 is a lossy key-frame header for a w x h image.
func vp8(w, h int) []byte {
	return []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, byte(w), byte(w >> 8), byte(h), byte(h >> 8)}
}

func vp8x(w, h int) []byte {
	d := []byte{0, 0, 0, 0}
	d = append(d, byte(w-1), byte((w-1)>>8), byte((w-1)>>16))
	return append(d, byte(h-1), byte((h-1)>>8), byte((h-1)>>16))
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestProbe(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want media.Info
	}{
		{"keyboard.png", readFixture(t, "keyboard.png"), media.Info{Format: media.FormatPNG, Width: 21, Height: 12}},
		{"video.mp4", readFixture(t, "video.mp4"), media.Info{Format: media.FormatMP4, Width: 1280, Height: 720, Duration: 101 * time.Millisecond}},
		{"gif", encodeGIF(t, 7, 5), media.Info{Format: media.FormatGIF, Width: 7, Height: 5}},
		{"jpeg", encodeJPEG(t, 33, 17), media.Info{Format: media.FormatJPEG, Width: 33, Height: 17}},
		{"webp lossless", riff(chunk("VP8L", vp8l(300, 200))), media.Info{Format: media.FormatWebP, Width: 300, Height: 200}},
		{"webp lossy", riff(chunk("VP8 ", vp8(640, 480))), media.Info{Format: media.FormatWebP, Width: 640, Height: 480}},
		{"webp extended", riff(chunk("VP8X", vp8x(4000, 3000))), media.Info{Format: media.FormatWebP, Width: 4000, Height: 3000}},
		{"mp4 moov first", cat(ftyp, box("moov", mvhd0(1000, 180000), trak("vide", tkhd0(180000, 1920, 1080))), box("mdat", make([]byte, 100))),
			media.Info{Format: media.FormatMP4, Width: 1920, Height: 1080, Duration: 3 * time.Minute}},
		{"mp4 version 1 boxes", cat(ftyp, box("moov", mvhd1(90000, 90000*61+45000), trak("vide", tkhd1(90000*61+45000, 720, 1280)))),
			media.Info{Format: media.FormatMP4, Width: 720, Height: 1280, Duration: 61500 * time.Millisecond}},
		{"mp4 64-bit sizes", cat(ftyp, largeBox("mdat", make([]byte, 40)), largeBox("moov", cat(mvhd0(30, 45), trak("vide", tkhd0(45, 2, 2))))),
			media.Info{Format: media.FormatMP4, Width: 2, Height: 2, Duration: 1500 * time.Millisecond}},
		{"mp4 unknown tkhd duration uses mdhd", cat(ftyp, box("moov", mvhd0(1000, 0),
			box("trak", tkhd0(0xffffffff, 10, 10), box("mdia", mdhd0(48000, 24000), hdlr("vide")))),
		), media.Info{Format: media.FormatMP4, Width: 10, Height: 10, Duration: 500 * time.Millisecond}},
		{"mp4 audio only", cat(ftyp, box("moov", mvhd0(1000, 2500), trak("soun", tkhd0(2500, 0, 0)))),
			media.Info{Format: media.FormatMP4, Duration: 2500 * time.Millisecond}},
		{"mp4 audio track first", cat(ftyp, box("moov", mvhd0(1000, 9000), trak("soun", tkhd0(9000, 0, 0)), trak("vide", tkhd0(8000, 64, 48)))),
			media.Info{Format: media.FormatMP4, Width: 64, Height: 48, Duration: 8 * time.Second}},
		{"mp4 size from stsd", cat(ftyp, box("moov", mvhd0(1000, 10), trak("vide", tkhd0(10, 0, 0), box("minf", box("stbl", stsdVisual(176, 144)))))),
			media.Info{Format: media.FormatMP4, Width: 176, Height: 144, Duration: 10 * time.Millisecond}},
		{"mp4 fragmented", cat(ftyp, box("moov", mvhd0(1000, 0), box("mvex", fullBox("mehd", 0, u32(7000))), trak("vide", tkhd0(0, 8, 8)))),
			media.Info{Format: media.FormatMP4, Width: 8, Height: 8, Duration: 7 * time.Second}},
		{"mp4 last box to end of file", cat(ftyp, box("moov", mvhd0(1000, 1), trak("vide", tkhd0(1, 1, 1))), u32(0), []byte("mdat"), make([]byte, 10)),
			media.Info{Format: media.FormatMP4, Width: 1, Height: 1, Duration: time.Millisecond}},
		{"mp4 huge duration saturates", cat(ftyp, box("moov", mvhd1(1, 1<<62), trak("vide", tkhd1(1<<62, 1, 1)))),
			media.Info{Format: media.FormatMP4, Width: 1, Height: 1, Duration: 1<<63 - 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := media.Probe(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("Probe(%s) = %+v, %v, want %+v", tt.name, got, err, tt.want)
			}
			// One byte at a time gives the same answer.
			got, err = media.ProbeReader(iotest.OneByteReader(bytes.NewReader(tt.in)))
			if err != nil || got != tt.want {
				t.Errorf("ProbeReader(OneByteReader(%s)) = %+v, %v, want %+v", tt.name, got, err, tt.want)
			}
		})
	}
}

func TestProbeErrors(t *testing.T) {
	png := readFixture(t, "keyboard.png")
	mp4 := readFixture(t, "video.mp4")
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, media.ErrUnknownFormat},
		{"text", []byte("hello, world"), media.ErrUnknownFormat},
		{"short", []byte{0x89, 'P'}, media.ErrUnknownFormat},
		{"truncated png", png[:20], media.ErrMalformed},
		{"truncated jpeg", []byte{0xff, 0xd8, 0xff, 0xe0, 0, 16}, media.ErrMalformed},
		{"truncated gif", []byte("GIF89a\x01"), media.ErrMalformed},
		{"webp without image chunk", riff(chunk("EXIF", []byte("x"))), media.ErrMalformed},
		{"webp bad vp8l", riff(chunk("VP8L", []byte{0x2e, 0, 0, 0, 0})), media.ErrMalformed},
		{"mp4 truncated in moov", mp4[:len(mp4)-100], media.ErrMalformed},
		{"mp4 truncated in mdat", mp4[:1000], media.ErrMalformed},
		{"mp4 no moov", ftyp, media.ErrMalformed},
		{"mp4 box shorter than header", cat(ftyp, u32(4), []byte("free")), media.ErrMalformed},
		{"mp4 box larger than container", cat(ftyp, box("moov", u32(1000), []byte("trak"))), media.ErrMalformed},
		{"mp4 64-bit size too large", cat(ftyp, u32(1), []byte("mdat"), u64(1<<63)), media.ErrMalformed},
		{"mp4 mvhd too short", cat(ftyp, box("moov", box("mvhd", []byte{0, 0, 0, 0, 1}))), media.ErrMalformed},
		{"mp4 tkhd too short", cat(ftyp, box("moov", box("trak", fullBox("tkhd", 1, make([]byte, 60))))), media.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := media.Probe(tt.in)
			if !errors.Is(err, tt.want) || got != (media.Info{}) {
				t.Errorf("Probe(%s) = %+v, %v, want zero Info, %v", tt.name, got, err, tt.want)
			}
		})
	}
}

// TestProbeReaderStreams checks that ProbeReader reads a moov that follows a
// large mdat without holding the mdat, and leaves what follows the moov
// unread.
func TestProbeReaderStreams(t *testing.T) {
	const mdatSize = 64 << 20
	moov := box("moov", mvhd0(1000, 4000), trak("vide", tkhd0(4000, 320, 240)))
	tail := box("free", []byte("left for the caller"))
	r := io.MultiReader(
		bytes.NewReader(ftyp),
		bytes.NewReader(cat(u32(mdatSize+8), []byte("mdat"))),
		io.LimitReader(zeros{}, mdatSize),
		bytes.NewReader(moov),
		bytes.NewReader(tail),
	)
	got, err := media.ProbeReader(r)
	want := media.Info{Format: media.FormatMP4, Width: 320, Height: 240, Duration: 4 * time.Second}
	if err != nil || got != want {
		t.Fatalf("ProbeReader = %+v, %v, want %+v", got, err, want)
	}
	rest, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(rest, tail) {
		t.Errorf("after ProbeReader, rest = %q, %v, want %q", rest, err, tail)
	}
}

// TestProbeReaderError checks that a read error is returned as is.
func TestProbeReaderError(t *testing.T) {
	boom := errors.New("boom")
	mp4 := readFixture(t, "video.mp4")
	for _, n := range []int{0, 5, 100, len(mp4) - 10} {
		got, err := media.ProbeReader(io.MultiReader(bytes.NewReader(mp4[:n]), iotest.ErrReader(boom)))
		if !errors.Is(err, boom) || got != (media.Info{}) {
			t.Errorf("ProbeReader(%d bytes then an error) = %+v, %v, want zero Info, %v", n, got, err, boom)
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
