package syntax_test

import (
	"fmt"
	"time"

	"github.com/atlite-dev/atlite/syntax"
)

func ExampleParseATURI() {
	u, err := syntax.ParseATURI("at://did:plc:7iza6de2dwap2sbkpav7c6c6/app.bsky.feed.post/3jzfcijpj2z2a")
	if err != nil {
		fmt.Println(err)
		return
	}
	did, _ := u.Authority().AsDID()
	fmt.Println(did.Method(), u.Collection().Name(), u.RecordKey())

	_, err = syntax.ParseATURI("at://did:plc:7iza6de2dwap2sbkpav7c6c6/app.bsky.feed.post/")
	fmt.Println(err)
	// Output:
	// plc post 3jzfcijpj2z2a
	// invalid at-uri "at://did:plc:7iza6de2dwap2sbkpav7c6c6/app.bsky.feed.post/": record key: invalid record key "": empty
}

func ExampleNewTID() {
	// 2022-01-02T03:04:05Z in microseconds, clock id 17 in the low 10 bits.
	tid := syntax.NewTID(1641092645000000, 17)
	fmt.Println(tid, tid.Time(), tid.ClockID())

	fmt.Println(syntax.NewTIDFromInteger(42))
	// Output:
	// 3iom4o4g6u22l 2022-01-02 03:04:05 +0000 UTC 17
	// 222222222223e
}

func ExampleClock() {
	now := time.Date(2022, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := syntax.NewClockWithSource(0, func() time.Time { return now })

	a := clock.Next()
	b := clock.Next() // same wall-clock time: one microsecond later
	now = now.Add(-time.Hour)
	c := clock.Next() // the wall clock went back: still increasing
	fmt.Println(a, b, c)

	// A repository whose last revision is ahead of this clock.
	prev := syntax.TID("3iom4o4g6uz22")
	fmt.Println(clock.NextAfter(prev))
	// Output:
	// 3iom4o4g6u222 3iom4o4g6u322 3iom4o4g6u422
	// 3iom4o4g6v222
}

func ExampleParseHandle() {
	h, err := syntax.ParseHandle("Alice.Bsky.Social")
	fmt.Println(h, h.Normalize(), err)
	// Output: Alice.Bsky.Social alice.bsky.social <nil>
}

func ExampleParseDatetime() {
	d, err := syntax.ParseDatetime("1985-04-12T23:20:50.123-07:00")
	fmt.Println(d.Time(), err)
	// Output: 1985-04-13 06:20:50.123 +0000 UTC <nil>
}
