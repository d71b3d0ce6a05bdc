package media_test

import (
	"bytes"
	"errors"
	"testing"
	"testing/iotest"

	"github.com/atlite-dev/atlite/internal/media"
)

// FuzzProbe checks that Probe never panics, returns a zero Info with every
// error, and reads the same thing whether the bytes come at once or in
// pieces.
func FuzzProbe(f *testing.F) {
	f.Add(readFixture(f, "keyboard.png"))
	f.Add(readFixture(f, "video.mp4"))
	f.Add(riff(chunk("VP8L", vp8l(300, 200))))
	f.Add(riff(chunk("VP8 ", vp8(640, 480))))
	f.Add(riff(chunk("VP8X", vp8x(4000, 3000))))
	f.Add(cat(ftyp, box("moov", mvhd1(90000, 1<<40), box("mvex", fullBox("mehd", 1, u64(5))),
		trak("vide", tkhd1(1, 720, 1280), box("minf", box("stbl", stsdVisual(176, 144)))))))
	f.Add(cat(ftyp, largeBox("mdat", make([]byte, 40)), u32(0), []byte("moov")))
	f.Add([]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"))
	f.Add([]byte{0xff, 0xd8, 0xff, 0xdb, 0x00, 0x43})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := media.Probe(b)
		if err != nil {
			if got != (media.Info{}) {
				t.Errorf("Probe(%x) = %+v with error %v, want a zero Info", b, got, err)
			}
			if !errors.Is(err, media.ErrUnknownFormat) && !errors.Is(err, media.ErrMalformed) {
				t.Errorf("Probe(%x) error %v wraps neither ErrUnknownFormat nor ErrMalformed", b, err)
			}
		} else if got.Format == "" || got.Width < 0 || got.Height < 0 || got.Duration < 0 {
			t.Errorf("Probe(%x) = %+v, want a format and no negative field", b, got)
		}
		again, err2 := media.ProbeReader(iotest.HalfReader(bytes.NewReader(b)))
		if again != got || (err == nil) != (err2 == nil) {
			t.Errorf("ProbeReader(HalfReader(%x)) = %+v, %v; Probe = %+v, %v", b, again, err2, got, err)
		}
	})
}
