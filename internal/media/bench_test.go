package media_test

import (
	"testing"

	"github.com/atlite-dev/atlite/internal/media"
)

func BenchmarkProbe(b *testing.B) {
	for _, name := range []string{"keyboard.png", "video.mp4"} {
		data := readFixture(b, name)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := media.Probe(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
