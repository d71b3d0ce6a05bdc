package mst

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkDecodeNode decodes every node of a stored 10,000-key tree once
// an iteration.
func BenchmarkDecodeNode(b *testing.B) {
	var entries []Entry
	for i := range 10_000 {
		entries = append(entries, Entry{Key: fmt.Sprintf("app.bsky.feed.post/3jzfcijpj%04d", i), Value: cborCID([]byte{byte(i), byte(i >> 8)})})
	}
	t, err := Build(nil, entries)
	if err != nil {
		b.Fatal(err)
	}
	blocks, _ := t.UnstoredBlocks(context.Background())
	b.ReportAllocs()
	for b.Loop() {
		for c, data := range blocks {
			if _, err := decodeNode(c, data, layerUnknown, false); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(blocks)), "nodes")
}
