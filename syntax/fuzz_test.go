package syntax_test

import (
	"cmp"
	"testing"
	"time"

	"github.com/atlite-dev/atlite/syntax"
)

// seed adds every line of the given vector files to the fuzz corpus.
func seed(f *testing.F, files ...string) {
	f.Helper()
	for _, file := range files {
		for _, v := range readVectors(f, file) {
			f.Add(v.s)
		}
	}
}

// checkRoundTrip fails unless a successful parse printed back exactly the
// input and a failed one returned the zero value.
func checkRoundTrip[T ~string](t *testing.T, s string, v T, err error) bool {
	t.Helper()
	if err != nil {
		if v != "" {
			t.Fatalf("Parse(%q) = %q with error %v, want zero value", s, v, err)
		}
		return false
	}
	if string(v) != s {
		t.Fatalf("Parse(%q).String() = %q, want the input", s, v)
	}
	return true
}

func FuzzParseDID(f *testing.F) {
	seed(f, "did_syntax_valid.txt", "did_syntax_invalid.txt")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := syntax.ParseDID(s)
		if !checkRoundTrip(t, s, d, err) {
			return
		}
		if got := "did:" + d.Method() + ":" + d.Identifier(); got != s {
			t.Fatalf("DID(%q) parts rebuild %q", s, got)
		}
		if _, err := syntax.ParseAtIdentifier(s); err != nil {
			t.Fatalf("ParseAtIdentifier(valid DID %q) error = %v", s, err)
		}
	})
}

func FuzzParseHandle(f *testing.F) {
	seed(f, "handle_syntax_valid.txt", "handle_syntax_invalid.txt")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := syntax.ParseHandle(s)
		if !checkRoundTrip(t, s, h, err) {
			return
		}
		n := h.Normalize()
		if _, err := syntax.ParseHandle(string(n)); err != nil {
			t.Fatalf("ParseHandle(Normalize(%q) = %q) error = %v", s, n, err)
		}
		if n.Normalize() != n {
			t.Fatalf("Normalize(%q) not idempotent", s)
		}
		h.AllowedTLD()
		if _, err := syntax.ParseAtIdentifier(s); err != nil {
			t.Fatalf("ParseAtIdentifier(valid handle %q) error = %v", s, err)
		}
	})
}

func FuzzParseAtIdentifier(f *testing.F) {
	seed(f, "atidentifier_syntax_valid.txt", "atidentifier_syntax_invalid.txt")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := syntax.ParseAtIdentifier(s)
		if !checkRoundTrip(t, s, a, err) {
			return
		}
		_, isDID := a.AsDID()
		_, isHandle := a.AsHandle()
		if isDID == isHandle {
			t.Fatalf("AtIdentifier(%q): AsDID ok %v, AsHandle ok %v", s, isDID, isHandle)
		}
	})
}

func FuzzParseNSID(f *testing.F) {
	seed(f, "nsid_syntax_valid.txt", "nsid_syntax_invalid.txt")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := syntax.ParseNSID(s)
		if !checkRoundTrip(t, s, n, err) {
			return
		}
		if _, err := syntax.ParseNSID(string(n.Normalize())); err != nil {
			t.Fatalf("ParseNSID(Normalize(%q)) error = %v", s, err)
		}
		if n.Authority() == "" || n.Name() == "" {
			t.Fatalf("NSID(%q) has empty authority or name", s)
		}
	})
}

func FuzzParseRecordKey(f *testing.F) {
	seed(f, "recordkey_syntax_valid.txt", "recordkey_syntax_invalid.txt")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := syntax.ParseRecordKey(s)
		checkRoundTrip(t, s, k, err)
	})
}

func FuzzParseTID(f *testing.F) {
	seed(f, "tid_syntax_valid.txt", "tid_syntax_invalid.txt")
	f.Fuzz(func(t *testing.T, s string) {
		tid, err := syntax.ParseTID(s)
		if !checkRoundTrip(t, s, tid, err) {
			return
		}
		if got := syntax.NewTIDFromInteger(tid.Integer()); got != tid {
			t.Fatalf("NewTIDFromInteger(TID(%q).Integer()) = %q", s, got)
		}
		if _, err := syntax.ParseRecordKey(string(tid.RecordKey())); err != nil {
			t.Fatalf("ParseRecordKey(TID %q) error = %v", s, err)
		}
		tid.Time()
	})
}

// FuzzTIDOrder checks that string order and integer order agree.
func FuzzTIDOrder(f *testing.F) {
	f.Add(uint64(0), uint64(1))
	f.Add(uint64(1<<63), uint64(1<<63-1))
	f.Add(uint64(1641092645000000<<10), uint64(1641092645000000<<10|1023))
	f.Fuzz(func(t *testing.T, a, b uint64) {
		ta, tb := syntax.NewTIDFromInteger(a), syntax.NewTIDFromInteger(b)
		for _, tid := range []syntax.TID{ta, tb} {
			if _, err := syntax.ParseTID(string(tid)); err != nil {
				t.Fatalf("ParseTID(%q) error = %v", tid, err)
			}
		}
		if ta.Integer() != a {
			t.Fatalf("NewTIDFromInteger(%d).Integer() = %d", a, ta.Integer())
		}
		if got, want := ta.Compare(tb), cmp.Compare(a, b); got != want {
			t.Fatalf("Compare(%q, %q) = %d, want %d", ta, tb, got, want)
		}
	})
}

func FuzzParseATURI(f *testing.F) {
	seed(f, "aturi_syntax_valid.txt", "aturi_syntax_invalid.txt")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := syntax.ParseATURI(s)
		if !checkRoundTrip(t, s, u, err) {
			return
		}
		built, err := syntax.NewATURI(u.Authority(), u.Collection(), u.RecordKey())
		if err != nil || built != u {
			t.Fatalf("NewATURI(parts of %q) = %q, %v", s, built, err)
		}
		if _, err := syntax.ParseAtIdentifier(string(u.Authority())); err != nil {
			t.Fatalf("ATURI(%q).Authority() invalid: %v", s, err)
		}
		if c := u.Collection(); c != "" {
			if _, err := syntax.ParseNSID(string(c)); err != nil {
				t.Fatalf("ATURI(%q).Collection() invalid: %v", s, err)
			}
		}
		if k := u.RecordKey(); k != "" {
			if _, err := syntax.ParseRecordKey(string(k)); err != nil {
				t.Fatalf("ATURI(%q).RecordKey() invalid: %v", s, err)
			}
		}
	})
}

func FuzzParseDatetime(f *testing.F) {
	seed(f, "datetime_syntax_valid.txt", "datetime_syntax_invalid.txt", "datetime_parse_invalid.txt")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := syntax.ParseDatetime(s)
		if !checkRoundTrip(t, s, d, err) {
			return
		}
		got := d.Time()
		if got.Year() < 0 {
			t.Fatalf("Datetime(%q).Time() = %v, before year 0", s, got)
		}
		// Every accepted datetime is RFC 3339, so the standard library must
		// agree on the instant.
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("time.Parse(RFC3339Nano, %q) error = %v, but ParseDatetime accepted it", s, err)
		}
		if !got.Equal(want) {
			t.Fatalf("Datetime(%q).Time() = %v, time.Parse gives %v", s, got, want)
		}
	})
}

func FuzzParseLanguage(f *testing.F) {
	seed(f, "language_syntax_valid.txt", "language_syntax_invalid.txt", "language_parse_invalid.txt")
	f.Fuzz(func(t *testing.T, s string) {
		l, err := syntax.ParseLanguage(s)
		checkRoundTrip(t, s, l, err)
	})
}

func FuzzParseCIDString(f *testing.F) {
	seed(f, "cid_syntax_valid.txt", "cid_syntax_invalid.txt")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := syntax.ParseCIDString(s)
		checkRoundTrip(t, s, c, err)
	})
}

func FuzzParseURI(f *testing.F) {
	seed(f, "uri_syntax_valid.txt", "uri_syntax_invalid.txt")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := syntax.ParseURI(s)
		checkRoundTrip(t, s, u, err)
	})
}
