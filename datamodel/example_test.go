package datamodel_test

import (
	"errors"
	"fmt"

	"github.com/atlite-dev/atlite/datamodel"
)

func ExampleMarshal() {
	b, err := datamodel.Marshal(map[string]any{"foo": "bar"})
	if err != nil {
		panic(err)
	}
	fmt.Printf("% x\n", b)
	fmt.Println(datamodel.CBORCID(b))
	// Output:
	// a1 63 66 6f 6f 63 62 61 72
	// bafyreiblaotetvwobe7cu2uqvnddr6ew2q3cu75qsoweulzku2egca4dxq
}

func ExampleUnmarshal() {
	v, err := datamodel.Unmarshal([]byte{0xa1, 0x63, 0x66, 0x6f, 0x6f, 0x63, 0x62, 0x61, 0x72})
	fmt.Println(v, err)

	// The same map with its length written in two bytes instead of one.
	_, err = datamodel.Unmarshal([]byte{0xb9, 0x00, 0x01, 0x63, 0x66, 0x6f, 0x6f, 0x63, 0x62, 0x61, 0x72})
	fmt.Println(errors.Is(err, datamodel.ErrNonCanonical))
	// Output:
	// map[foo:bar] <nil>
	// true
}

func ExampleFromJSON() {
	v, err := datamodel.FromJSON([]byte(`{
		"$type": "com.example.thing",
		"count": 3,
		"ref": {"$link": "bafyreiblaotetvwobe7cu2uqvnddr6ew2q3cu75qsoweulzku2egca4dxq"},
		"data": {"$bytes": "AQID"}
	}`))
	if err != nil {
		panic(err)
	}
	m := v.(map[string]any)
	fmt.Printf("%T %T %T\n", m["count"], m["ref"], m["data"])

	j, err := datamodel.ToJSON(v)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(j))
	// Output:
	// int64 cid.Cid []uint8
	// {"$type":"com.example.thing","count":3,"data":{"$bytes":"AQID"},"ref":{"$link":"bafyreiblaotetvwobe7cu2uqvnddr6ew2q3cu75qsoweulzku2egca4dxq"}}
}

func ExampleParseCID() {
	c, err := datamodel.ParseCID("bafyreiblaotetvwobe7cu2uqvnddr6ew2q3cu75qsoweulzku2egca4dxq")
	fmt.Println(c.Prefix().Codec == datamodel.CodecDagCBOR, err)

	_, err = datamodel.ParseCID("QmY7Yh4UquoXHLPFo2XbhXkhBvFoPwmQUSa92pxnxjQuPU")
	fmt.Println(errors.Is(err, datamodel.ErrInvalidCID))
	// Output:
	// true <nil>
	// true
}
