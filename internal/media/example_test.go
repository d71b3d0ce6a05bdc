package media_test

import (
	"fmt"
	"os"

	"github.com/atlite-dev/atlite/internal/media"
)

func ExampleProbe() {
	b, err := os.ReadFile("../../testdata/arroba/video.mp4")
	if err != nil {
		panic(err)
	}
	info, err := media.Probe(b)
	if err != nil {
		panic(err)
	}
	fmt.Println(info.Format, info.Width, info.Height, info.Duration.Milliseconds())
	// Output: mp4 1280 720 101
}
