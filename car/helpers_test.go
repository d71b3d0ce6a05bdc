package car_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/atlite-dev/atlite/car"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/ipfs/go-cid"
)

// largeCAR returns a CAR of n distinct blocks of size bytes each.
func largeCAR(tb testing.TB, n, size int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	data := make([][]byte, n)
	cids := make([]cid.Cid, n)
	for i := range data {
		data[i] = make([]byte, size)
		binary.BigEndian.PutUint64(data[i], uint64(i))
		cids[i] = datamodel.RawCID(data[i])
	}
	w, err := car.NewWriter(&buf, cids[:1])
	if err != nil {
		tb.Fatal(err)
	}
	for i := range data {
		if err := w.WriteBlock(cids[i], data[i]); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}
