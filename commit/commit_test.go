package commit_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

var (
	emptyRoot = cid.MustParse("bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm")
	fooBar    = cid.MustParse("bafyreiblaotetvwobe7cu2uqvnddr6ew2q3cu75qsoweulzku2egca4dxq")
)

func testKey(t testing.TB) keys.PrivateKey {
	k, err := keys.K256FromSeed(2349872879569)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func signed(t testing.TB, prev cid.Cid) *commit.Commit {
	c := &commit.Commit{DID: "did:web:user.com", Data: emptyRoot, Rev: "2222222222322", Prev: prev}
	if err := c.Sign(testKey(t)); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestUnsignedBytes(t *testing.T) {
	c := &commit.Commit{DID: "did:web:user.com", Data: emptyRoot, Rev: "2222222222322"}
	b, err := c.UnsignedBytes()
	if err != nil {
		t.Fatal(err)
	}
	// Canonical order: did, rev, data, prev, version; prev null kept.
	want := "a5" + "63646964" + "70" + hex.EncodeToString([]byte("did:web:user.com")) +
		"63726576" + "6d" + hex.EncodeToString([]byte("2222222222322")) +
		"6464617461" + "d82a5825" + "00" + hex.EncodeToString(emptyRoot.Bytes()) +
		"6470726576" + "f6" +
		"6776657273696f6e" + "03"
	if got := hex.EncodeToString(b); got != want {
		t.Errorf("UnsignedBytes =\n%s\nwant\n%s", got, want)
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	for _, prev := range []cid.Cid{cid.Undef, fooBar} {
		c := signed(t, prev)
		if len(c.Sig) != 64 {
			t.Fatalf("Sig is %d bytes", len(c.Sig))
		}
		if err := c.Verify(testKey(t).PublicKey()); err != nil {
			t.Errorf("Verify = %v", err)
		}
		b, cc, err := c.EncodeCID()
		if err != nil {
			t.Fatal(err)
		}
		if cc != datamodel.CBORCID(b) {
			t.Errorf("EncodeCID CID %s does not hash the bytes", cc)
		}
		d, err := commit.Decode(b)
		if err != nil {
			t.Fatalf("Decode = %v", err)
		}
		if d.DID != c.DID || d.Rev != c.Rev || d.Data != c.Data || d.Prev != c.Prev || !bytes.Equal(d.Sig, c.Sig) {
			t.Errorf("Decode = %+v, want %+v", d, c)
		}
		again, _ := d.Encode()
		if !bytes.Equal(again, b) {
			t.Error("Decode then Encode changed the bytes")
		}
		if err := d.Verify(testKey(t).PublicKey()); err != nil {
			t.Errorf("Verify(decoded) = %v", err)
		}
	}
}

func TestVerifyRejectsTampering(t *testing.T) {
	other, _ := keys.K256FromSeed(4597489735324)
	tamper := []struct {
		name string
		f    func(c *commit.Commit)
	}{
		{"did", func(c *commit.Commit) { c.DID = "did:web:other.com" }},
		{"rev", func(c *commit.Commit) { c.Rev = "2222222222422" }},
		{"data", func(c *commit.Commit) { c.Data = fooBar }},
		{"prev", func(c *commit.Commit) { c.Prev = fooBar }},
		{"sig", func(c *commit.Commit) { c.Sig[10] ^= 1 }},
	}
	for _, tt := range tamper {
		c := signed(t, cid.Undef)
		tt.f(c)
		if err := c.Verify(testKey(t).PublicKey()); !errors.Is(err, commit.ErrBadSignature) {
			t.Errorf("Verify after changing %s = %v, want ErrBadSignature", tt.name, err)
		}
	}
	if err := signed(t, cid.Undef).Verify(other.PublicKey()); !errors.Is(err, commit.ErrBadSignature) {
		t.Errorf("Verify with another key = %v, want ErrBadSignature", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := map[string]any{"did": "did:web:user.com", "version": int64(3), "data": emptyRoot, "rev": "2222222222322", "prev": nil, "sig": make([]byte, 64)}
	with := func(k string, v any) []byte {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == nil && k != "prev" {
			delete(m, k)
		} else {
			m[k] = v
		}
		b, err := datamodel.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"not cbor", []byte{0xff}},
		{"not a map", []byte{0x01}},
		{"version 2", with("version", int64(2))},
		{"no sig", with("sig", nil)},
		{"short sig", with("sig", make([]byte, 63))},
		{"extra key", with("extra", "x")},
		{"bad did", with("did", "not-a-did")},
		{"bad rev", with("rev", "nope")},
		{"data not cid", with("data", "bafy")},
		{"prev not cid", with("prev", "bafy")},
		{"no prev", func() []byte {
			m := map[string]any{}
			for k, v := range good {
				if k != "prev" {
					m[k] = v
				}
			}
			m["x"] = int64(1)
			b, _ := datamodel.Marshal(m)
			return b
		}()},
	}
	for _, tt := range tests {
		if c, err := commit.Decode(tt.b); !errors.Is(err, commit.ErrInvalidCommit) || c != nil {
			t.Errorf("Decode(%s) = %v, %v; want nil, ErrInvalidCommit", tt.name, c, err)
		}
	}
	if _, err := commit.Decode(with("prev", nil)); err != nil {
		t.Errorf("Decode(good) = %v", err)
	}
}

func TestEncodeUnsigned(t *testing.T) {
	c := &commit.Commit{DID: "did:web:user.com", Data: emptyRoot, Rev: "2222222222322"}
	if _, err := c.Encode(); !errors.Is(err, commit.ErrInvalidCommit) {
		t.Errorf("Encode(unsigned) = %v, want ErrInvalidCommit", err)
	}
	if _, err := (&commit.Commit{Data: emptyRoot, Rev: "2222222222322"}).UnsignedBytes(); !errors.Is(err, commit.ErrInvalidCommit) {
		t.Errorf("UnsignedBytes(no did) = %v, want ErrInvalidCommit", err)
	}
}

func TestNextRev(t *testing.T) {
	now := time.Date(2022, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := syntax.NewClockWithSource(0, func() time.Time { return now })
	r1, err := commit.NextRev(clock, "")
	if err != nil || r1 != "3iom4o4g6u222" {
		t.Fatalf("NextRev = %s, %v; want 3iom4o4g6u222", r1, err)
	}
	// A previous rev ahead of the clock: the next rev still follows it.
	ahead := syntax.NewTIDFromTime(now.Add(time.Hour), 0)
	r2, _ := commit.NextRev(clock, ahead)
	if r2.Compare(ahead) <= 0 {
		t.Errorf("NextRev(%s) = %s, not after it", ahead, r2)
	}
	// The wall clock going back does not make revs go back.
	now = now.Add(-time.Hour)
	r3, _ := commit.NextRev(clock, r2)
	if r3.Compare(r2) <= 0 {
		t.Errorf("NextRev after the clock went back = %s, not after %s", r3, r2)
	}
	if _, err := commit.NextRev(clock, "jzzzzzzzzzzzz"); !errors.Is(err, commit.ErrRevExhausted) {
		t.Errorf("NextRev(max) = %v, want ErrRevExhausted", err)
	}
}

func TestWrites(t *testing.T) {
	w, err := commit.NewWrite(commit.Create, "app.bsky.feed.post", "3k2a", map[string]any{"foo": "bar"})
	if err != nil {
		t.Fatal(err)
	}
	// The missing $type is filled in with the collection.
	want, _ := hex.DecodeString("a263666f6f63626172652474797065726170702e62736b792e666565642e706f7374")
	if w.Path() != "app.bsky.feed.post/3k2a" || !bytes.Equal(w.Record, want) ||
		datamodel.CBORCID(w.Record).String() != "bafyreigtlqx4lli3yfvrihxoabamthynmxerbybsgfi5immgun3q5ysgsi" {
		t.Errorf("NewWrite = %+v, record %x; want record %x", w, w.Record, want)
	}
	bad := []struct {
		name   string
		action commit.Action
		coll   string
		rkey   string
		rec    any
	}{
		{"bad action", "upsert", "app.bsky.feed.post", "a", map[string]any{}},
		{"bad collection", commit.Create, "post", "a", map[string]any{}},
		{"bad rkey", commit.Create, "app.bsky.feed.post", "a/b", map[string]any{}},
		{"dot rkey", commit.Create, "app.bsky.feed.post", "..", map[string]any{}},
		{"record not a map", commit.Create, "app.bsky.feed.post", "a", "text"},
		{"float record", commit.Update, "app.bsky.feed.post", "a", map[string]any{"f": 1.5}},
		{"other collection's $type", commit.Create, "app.bsky.feed.post", "a", map[string]any{"$type": "app.bsky.feed.like"}},
		{"$type not a string", commit.Create, "app.bsky.feed.post", "a", map[string]any{"$type": int64(1)}},
	}
	for _, tt := range bad {
		if _, err := commit.NewWrite(tt.action, tt.coll, tt.rkey, tt.rec); !errors.Is(err, commit.ErrInvalidWrite) {
			t.Errorf("NewWrite(%s) = %v, want ErrInvalidWrite", tt.name, err)
		}
	}
	if _, err := commit.NewWrite(commit.Delete, "app.bsky.feed.post", "a", nil); err != nil {
		t.Errorf("NewWrite(delete) = %v", err)
	}
	for _, a := range []string{"create", "update", "delete"} {
		if got, err := commit.ParseAction(a); err != nil || string(got) != a {
			t.Errorf("ParseAction(%q) = %q, %v", a, got, err)
		}
	}
}

// FuzzDecode checks that Decode never panics and that a decoded commit
// re-encodes to exactly the input bytes.
func FuzzDecode(f *testing.F) {
	c := signed(f, cid.Undef)
	b, _ := c.Encode()
	f.Add(b)
	c2 := signed(f, fooBar)
	b2, _ := c2.Encode()
	f.Add(b2)
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := commit.Decode(b)
		if err != nil {
			if c != nil {
				t.Fatal("non-nil commit with an error")
			}
			return
		}
		again, err := c.Encode()
		if err != nil {
			t.Fatalf("Encode(decoded) = %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("Encode(Decode(%x)) = %x", b, again)
		}
	})
}
