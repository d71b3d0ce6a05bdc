package car_test

import (
	"bytes"
	"fmt"
	"io"

	"github.com/atlite-dev/atlite/car"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/ipfs/go-cid"
)

func Example() {
	record, err := datamodel.Marshal(map[string]any{"foo": "bar"})
	if err != nil {
		panic(err)
	}
	c := datamodel.CBORCID(record)

	var buf bytes.Buffer
	w, err := car.NewWriter(&buf, []cid.Cid{c})
	if err != nil {
		panic(err)
	}
	if err := w.WriteBlock(c, record); err != nil {
		panic(err)
	}
	if err := w.Flush(); err != nil {
		panic(err)
	}
	fmt.Println(buf.Len(), "bytes")

	r, err := car.NewReader(&buf, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("roots:", r.Roots())
	for {
		b, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s % x\n", b.CID, b.Data)
	}
	// Output:
	// 105 bytes
	// roots: [bafyreiblaotetvwobe7cu2uqvnddr6ew2q3cu75qsoweulzku2egca4dxq]
	// bafyreiblaotetvwobe7cu2uqvnddr6ew2q3cu75qsoweulzku2egca4dxq a1 63 66 6f 6f 63 62 61 72
}
