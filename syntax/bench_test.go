package syntax_test

import (
	"testing"

	"github.com/atlite-dev/atlite/syntax"
)

func BenchmarkParseTID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := syntax.ParseTID("3jzfcijpj2z2a"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTIDInteger(b *testing.B) {
	tid := syntax.TID("3jzfcijpj2z2a")
	b.ReportAllocs()
	for b.Loop() {
		if tid.Integer() == 0 {
			b.Fatal("zero")
		}
	}
}

func BenchmarkClockNext(b *testing.B) {
	c := syntax.NewClock(0)
	b.ReportAllocs()
	for b.Loop() {
		c.Next()
	}
}

func BenchmarkParseATURI(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := syntax.ParseATURI("at://did:plc:7iza6de2dwap2sbkpav7c6c6/app.bsky.feed.post/3jzfcijpj2z2a"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseHandle(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := syntax.ParseHandle("alice.bsky.social"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRecordKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := syntax.ParseRecordKey("3jzfcijpj2z2a"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseDatetime(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := syntax.ParseDatetime("1985-04-12T23:20:50.123Z"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseLanguage(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := syntax.ParseLanguage("en-GB-boont-r-extended-sequence-x-private"); err != nil {
			b.Fatal(err)
		}
	}
}
