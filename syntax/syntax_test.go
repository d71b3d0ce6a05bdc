package syntax_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/atlite-dev/atlite/syntax"
)

func TestDIDParts(t *testing.T) {
	tests := []struct {
		did, method, id string
	}{
		{"did:plc:7iza6de2dwap2sbkpav7c6c6", "plc", "7iza6de2dwap2sbkpav7c6c6"},
		{"did:web:localhost%3A1234", "web", "localhost%3A1234"},
		{"did:method::::val", "method", ":::val"},
		{"did:m:v", "m", "v"},
	}
	for _, tt := range tests {
		d, err := syntax.ParseDID(tt.did)
		if err != nil {
			t.Fatalf("ParseDID(%q) error = %v", tt.did, err)
		}
		if got := d.Method(); got != tt.method {
			t.Errorf("DID(%q).Method() = %q, want %q", tt.did, got, tt.method)
		}
		if got := d.Identifier(); got != tt.id {
			t.Errorf("DID(%q).Identifier() = %q, want %q", tt.did, got, tt.id)
		}
		if got := d.AtIdentifier(); string(got) != tt.did || !got.IsDID() {
			t.Errorf("DID(%q).AtIdentifier() = %q", tt.did, got)
		}
	}
	var zero syntax.DID
	if zero.Method() != "" || zero.Identifier() != "" || zero.String() != "" {
		t.Errorf("zero DID has parts %q %q", zero.Method(), zero.Identifier())
	}
}

func TestDIDLength(t *testing.T) {
	base := "did:plc:"
	ok := base + strings.Repeat("a", syntax.MaxDIDLength-len(base))
	if _, err := syntax.ParseDID(ok); err != nil {
		t.Errorf("ParseDID(2048 bytes) error = %v", err)
	}
	if _, err := syntax.ParseDID(ok + "a"); !errors.Is(err, syntax.ErrInvalidDID) {
		t.Errorf("ParseDID(2049 bytes) error = %v, want ErrInvalidDID", err)
	}
}

func TestHandle(t *testing.T) {
	tests := []struct {
		in, norm string
		allowed  bool
	}{
		{"Alice.Bsky.Social", "alice.bsky.social", true},
		{"john.test", "john.test", true},
		{"laptop.local", "laptop.local", false},
		{"laptop.ARPA", "laptop.arpa", false},
		{"handle.invalid", "handle.invalid", false},
		{"expyuzz4wqqyqhjn.onion", "expyuzz4wqqyqhjn.onion", false},
		{"a.example", "a.example", false},
		{"a.alt", "a.alt", false},
		{"a.internal", "a.internal", false},
		{"a.localhost", "a.localhost", false},
		{"a.com", "a.com", true},
	}
	for _, tt := range tests {
		h, err := syntax.ParseHandle(tt.in)
		if err != nil {
			t.Fatalf("ParseHandle(%q) error = %v", tt.in, err)
		}
		if h.String() != tt.in {
			t.Errorf("ParseHandle(%q) = %q, want the input", tt.in, h)
		}
		if got := h.Normalize(); string(got) != tt.norm {
			t.Errorf("Handle(%q).Normalize() = %q, want %q", tt.in, got, tt.norm)
		}
		if got := h.AllowedTLD(); got != tt.allowed {
			t.Errorf("Handle(%q).AllowedTLD() = %v, want %v", tt.in, got, tt.allowed)
		}
		if got := h.AtIdentifier(); string(got) != tt.in || got.IsDID() || !got.IsHandle() {
			t.Errorf("Handle(%q).AtIdentifier() = %q", tt.in, got)
		}
	}
	if _, err := syntax.ParseHandle(string(syntax.HandleInvalid)); err != nil {
		t.Errorf("ParseHandle(HandleInvalid) error = %v", err)
	}
	if syntax.Handle("").AllowedTLD() {
		t.Error("zero Handle AllowedTLD() = true, want false")
	}
}

func TestNSIDParts(t *testing.T) {
	tests := []struct {
		nsid, authority, name, norm string
	}{
		{"app.bsky.feed.post", "feed.bsky.app", "post", "app.bsky.feed.post"},
		{"com.example.fooBar", "example.com", "fooBar", "com.example.fooBar"},
		{"one.two.three.four-and.FiVe", "four-and.three.two.one", "FiVe", "one.two.three.four-and.FiVe"},
		{"COM.Example.fooBar", "example.com", "fooBar", "com.example.fooBar"},
		{"a.b.c", "b.a", "c", "a.b.c"},
	}
	for _, tt := range tests {
		n, err := syntax.ParseNSID(tt.nsid)
		if err != nil {
			t.Fatalf("ParseNSID(%q) error = %v", tt.nsid, err)
		}
		if got := n.Authority(); got != tt.authority {
			t.Errorf("NSID(%q).Authority() = %q, want %q", tt.nsid, got, tt.authority)
		}
		if got := n.Name(); got != tt.name {
			t.Errorf("NSID(%q).Name() = %q, want %q", tt.nsid, got, tt.name)
		}
		if got := n.Normalize(); string(got) != tt.norm {
			t.Errorf("NSID(%q).Normalize() = %q, want %q", tt.nsid, got, tt.norm)
		}
	}
	var zero syntax.NSID
	if zero.Authority() != "" || zero.Name() != "" || zero.Normalize() != "" {
		t.Error("zero NSID has parts")
	}
}

func TestAtIdentifier(t *testing.T) {
	d, _ := syntax.ParseAtIdentifier("did:plc:abc")
	if got, ok := d.AsDID(); !ok || got != "did:plc:abc" {
		t.Errorf("AsDID() = %q, %v", got, ok)
	}
	if got, ok := d.AsHandle(); ok || got != "" {
		t.Errorf("AsHandle() of a DID = %q, %v", got, ok)
	}
	h, _ := syntax.ParseAtIdentifier("Alice.test")
	if got, ok := h.AsHandle(); !ok || got != "Alice.test" {
		t.Errorf("AsHandle() = %q, %v", got, ok)
	}
	if got, ok := h.AsDID(); ok || got != "" {
		t.Errorf("AsDID() of a handle = %q, %v", got, ok)
	}
	var zero syntax.AtIdentifier
	if zero.IsDID() || zero.IsHandle() {
		t.Error("zero AtIdentifier is a DID or a handle")
	}
	if _, ok := zero.AsHandle(); ok {
		t.Error("zero AtIdentifier AsHandle ok")
	}
}

func TestATURIParts(t *testing.T) {
	tests := []struct {
		uri  string
		auth syntax.AtIdentifier
		coll syntax.NSID
		rkey syntax.RecordKey
	}{
		{"at://did:plc:asdf123", "did:plc:asdf123", "", ""},
		{"at://user.bsky.social", "user.bsky.social", "", ""},
		{"at://did:plc:asdf123/com.atproto.feed.post", "did:plc:asdf123", "com.atproto.feed.post", ""},
		{"at://did:web:user.com/app.bsky.feed.post/123", "did:web:user.com", "app.bsky.feed.post", "123"},
		{"at://did:abc:123/io.nsid.someFunc/...", "did:abc:123", "io.nsid.someFunc", "..."},
	}
	for _, tt := range tests {
		u, err := syntax.ParseATURI(tt.uri)
		if err != nil {
			t.Fatalf("ParseATURI(%q) error = %v", tt.uri, err)
		}
		if got := u.Authority(); got != tt.auth {
			t.Errorf("ATURI(%q).Authority() = %q, want %q", tt.uri, got, tt.auth)
		}
		if got := u.Collection(); got != tt.coll {
			t.Errorf("ATURI(%q).Collection() = %q, want %q", tt.uri, got, tt.coll)
		}
		if got := u.RecordKey(); got != tt.rkey {
			t.Errorf("ATURI(%q).RecordKey() = %q, want %q", tt.uri, got, tt.rkey)
		}
		built, err := syntax.NewATURI(tt.auth, tt.coll, tt.rkey)
		if err != nil || built != u {
			t.Errorf("NewATURI(%q, %q, %q) = %q, %v, want %q", tt.auth, tt.coll, tt.rkey, built, err, u)
		}
	}
	var zero syntax.ATURI
	if zero.Authority() != "" || zero.Collection() != "" || zero.RecordKey() != "" {
		t.Error("zero ATURI has parts")
	}
	if _, err := syntax.NewATURI("", "a.b.c", ""); !errors.Is(err, syntax.ErrInvalidATURI) {
		t.Errorf("NewATURI without authority error = %v, want ErrInvalidATURI", err)
	}
	if _, err := syntax.NewATURI("did:plc:abc", "", "self"); !errors.Is(err, syntax.ErrInvalidATURI) {
		t.Errorf("NewATURI without collection error = %v, want ErrInvalidATURI", err)
	}
}

func TestATURILength(t *testing.T) {
	// The longest valid parts stay well under the 8192-byte limit, so build an
	// over-long URI from a long (invalid) record key and check the length
	// error comes first.
	long := "at://did:plc:asdf123/com.atproto.feed.post/" + strings.Repeat("o", 8200)
	_, err := syntax.ParseATURI(long)
	if err == nil || !strings.Contains(err.Error(), "longer than 8192 bytes") {
		t.Errorf("ParseATURI(8243 bytes) error = %v, want length error", err)
	}
	if len(err.Error()) > 200 {
		t.Errorf("error message is %d bytes; the input should be clipped", len(err.Error()))
	}
}

func TestDatetimeTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{"1985-04-12T23:20:50.123Z", time.Date(1985, 4, 12, 23, 20, 50, 123000000, time.UTC)},
		{"1985-04-12T23:20:50Z", time.Date(1985, 4, 12, 23, 20, 50, 0, time.UTC)},
		{"1985-04-12T23:20:50.123456Z", time.Date(1985, 4, 12, 23, 20, 50, 123456000, time.UTC)},
		{"1985-04-12T23:20:50.1235678912345Z", time.Date(1985, 4, 12, 23, 20, 50, 123567891, time.UTC)},
		{"1985-04-12T23:20:50.123-07:00", time.Date(1985, 4, 13, 6, 20, 50, 123000000, time.UTC)},
		{"1985-04-12T23:20:50.123+01:45", time.Date(1985, 4, 12, 21, 35, 50, 123000000, time.UTC)},
		{"0000-01-01T00:00:00.000Z", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"0000-01-01T00:00:00-01:00", time.Date(0, 1, 1, 1, 0, 0, 0, time.UTC)},
		{"2024-02-29T12:00:00Z", time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)},
		{"2000-02-29T12:00:00Z", time.Date(2000, 2, 29, 12, 0, 0, 0, time.UTC)},
		{"9999-12-31T23:59:59.999999999-23:59", time.Date(10000, 1, 1, 23, 58, 59, 999999999, time.UTC)},
	}
	for _, tt := range tests {
		d, err := syntax.ParseDatetime(tt.in)
		if err != nil {
			t.Fatalf("ParseDatetime(%q) error = %v", tt.in, err)
		}
		got := d.Time()
		if !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("Datetime(%q).Time() = %v, want %v", tt.in, got, tt.want)
		}
	}
	if got := syntax.Datetime("").Time(); !got.IsZero() {
		t.Errorf("zero Datetime Time() = %v, want zero", got)
	}
}

func TestDatetimeInvalidExtra(t *testing.T) {
	for _, s := range []string{
		"1985-02-29T00:00:00Z", // not a leap year
		"1900-02-29T00:00:00Z", // not a leap year either
		"1985-04-31T00:00:00Z",
		"1985-04-12T23:59:60Z", // no leap seconds
		"1985-04-12T24:00:00Z",
		"1985-04-12T23:20:50.123+24:00",
		"1985-04-12T23:20:50.123+01:60",
		"1985-04-12T23:20:50.123+01:00Z",
		"1985-04-12T23:20:50,123Z",
		"1985-04-12T23:20:50.123ZZ",
		"1985-04-12T23:20:50." + strings.Repeat("1", 50) + "Z", // longer than 64 bytes
		"",
	} {
		if d, err := syntax.ParseDatetime(s); err == nil || d != "" {
			t.Errorf("ParseDatetime(%q) = %q, %v, want error", s, d, err)
		}
	}
}

func TestNewDatetime(t *testing.T) {
	tests := []struct {
		in   time.Time
		want syntax.Datetime
	}{
		{now, "2022-01-02T03:04:05.000Z"},
		{time.Date(1985, 4, 12, 23, 20, 50, 123999999, time.UTC), "1985-04-12T23:20:50.123Z"},
		{time.Date(1985, 4, 12, 23, 20, 50, 0, time.FixedZone("", -7*3600)), "1985-04-13T06:20:50.000Z"},
		{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), ""},
		{time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), ""},
	}
	for _, tt := range tests {
		got := syntax.NewDatetime(tt.in)
		if got != tt.want {
			t.Errorf("NewDatetime(%v) = %q, want %q", tt.in, got, tt.want)
		}
		if got != "" {
			if _, err := syntax.ParseDatetime(string(got)); err != nil {
				t.Errorf("ParseDatetime(NewDatetime(%v)) error = %v", tt.in, err)
			}
		}
	}
}

func TestLanguageExtra(t *testing.T) {
	valid := []string{
		"en", "zh-yue", "zh-yue-HK", "zh-min-nan", "en-US-u-ca-gregory", "en-a-bbb-x-a-ccc",
		"x-whatever", "x-a", "en-GB-oed", "en-gb-OED", "sgn-ch-de", "art-lojban", "de-1996", "ja-Jpan-JP",
		"en-0abc", "en-12345678", "es-419", "de-CH-x-phonebk", "en-a-aa-b-bb",
	}
	invalid := []string{
		"", "-", "en-", "en--US", "EN-gb-OED", "-en", "i", "i-foo", "I-DEFAULT", "x", "x-", "x-123456789", "en-x",
		"en-a", "en-a-x-foo", "en-a-b", "en-123456789", "en-US-US", "en-Latn-Latn", "en-abc-def-ghi-jkl",
		"en_US", "en-US-", "jaja", "abcdefgh", "en-a-aa-A-bb", "de-419-DE", "en-1901-1901",
		"de-" + strings.Repeat("a1b2c-", 20) + "a1b2c",
	}
	for _, s := range valid {
		if l, err := syntax.ParseLanguage(s); err != nil || string(l) != s {
			t.Errorf("ParseLanguage(%q) = %q, %v, want it back", s, l, err)
		}
	}
	for _, s := range invalid {
		if l, err := syntax.ParseLanguage(s); !errors.Is(err, syntax.ErrInvalidLanguage) || l != "" {
			t.Errorf("ParseLanguage(%q) = %q, %v, want ErrInvalidLanguage", s, l, err)
		}
	}
	// Many distinct variants stay valid (and take the map path).
	var b strings.Builder
	b.WriteString("de")
	for i := range 40 {
		b.WriteString("-v" + itoa(1000+i))
	}
	if _, err := syntax.ParseLanguage(b.String()); err != nil {
		t.Errorf("ParseLanguage(40 variants) error = %v", err)
	}
	if _, err := syntax.ParseLanguage(b.String() + "-V1020"); err == nil {
		t.Error("ParseLanguage(40 variants + repeat) = nil error, want error")
	}
}

func TestRecordKeyLength(t *testing.T) {
	if _, err := syntax.ParseRecordKey(""); !errors.Is(err, syntax.ErrInvalidRecordKey) {
		t.Errorf(`ParseRecordKey("") error = %v`, err)
	}
	if _, err := syntax.ParseRecordKey(strings.Repeat("a", 512)); err != nil {
		t.Errorf("ParseRecordKey(512 bytes) error = %v", err)
	}
}

func TestErrorMessages(t *testing.T) {
	_, err := syntax.ParseDID("did:METHOD:val")
	want := `invalid did "did:METHOD:val": method must be one or more lower-case letters`
	if err == nil || err.Error() != want {
		t.Errorf("ParseDID error = %v, want %s", err, want)
	}
	_, err = syntax.ParseTID("0000000000000")
	want = `invalid tid "0000000000000": invalid first character`
	if err == nil || err.Error() != want {
		t.Errorf("ParseTID error = %v, want %s", err, want)
	}
	if !errors.Is(err, syntax.ErrSyntax) || errors.Is(err, syntax.ErrInvalidDID) {
		t.Errorf("ParseTID error %v: wrong sentinels", err)
	}
}
