package datamodel_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

func TestComputeCID(t *testing.T) {
	tests := []struct {
		name string
		got  cid.Cid
		want string
	}{
		{"CBORCID foo bar", datamodel.CBORCID(unhex(t, "a163666f6f63626172")),
			"bafyreiblaotetvwobe7cu2uqvnddr6ew2q3cu75qsoweulzku2egca4dxq"},
		{"RawCID empty", datamodel.RawCID(nil),
			"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"},
		{"ComputeCID raw", datamodel.ComputeCID(datamodel.CodecRaw, nil),
			"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got.String() != tt.want {
				t.Errorf("got %s, want %s", tt.got, tt.want)
			}
		})
	}
}

// TestComputeCIDMatchesGoCID checks the hand-built multihash against
// go-cid's own hashing.
func TestComputeCIDMatchesGoCID(t *testing.T) {
	for _, data := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte{7}, 1000)} {
		for _, codec := range []uint64{datamodel.CodecDagCBOR, datamodel.CodecRaw} {
			want, err := cid.Prefix{Version: 1, Codec: codec, MhType: multihash.SHA2_256, MhLength: -1}.Sum(data)
			if err != nil {
				t.Fatal(err)
			}
			if got := datamodel.ComputeCID(codec, data); !got.Equals(want) {
				t.Errorf("ComputeCID(%#x, %d bytes) = %s, want %s", codec, len(data), got, want)
			}
		}
	}
}

func TestParseCID(t *testing.T) {
	valid := []string{
		"bafyreiblaotetvwobe7cu2uqvnddr6ew2q3cu75qsoweulzku2egca4dxq",
		"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
	}
	for _, s := range valid {
		t.Run(s, func(t *testing.T) {
			c, err := datamodel.ParseCID(s)
			if err != nil || c.String() != s {
				t.Fatalf("ParseCID(%q) = %v, %v; want %s", s, c, err, s)
			}
			c2, err := datamodel.CIDFromBytes(c.Bytes())
			if err != nil || !c2.Equals(c) {
				t.Errorf("CIDFromBytes(%x) = %v, %v; want %s", c.Bytes(), c2, err, s)
			}
		})
	}
	invalid := []struct{ name, s string }{
		{"empty", ""},
		{"dot", "."},
		{"cidv0", "QmY7Yh4UquoXHLPFo2XbhXkhBvFoPwmQUSa92pxnxjQuPU"},
		{"upper case base32", "BAFYREIBLAOTETVWOBE7CU2UQVNDDR6EW2Q3CU75QSOWEULZKU2EGCA4DXQ"},
		{"base58btc", "zdpuAyvkgEDQm9TenwGkd5eNaosSxjgEYd8QatfPetgB1CdEZ"},
		{"dag-pb codec", "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"},
		{"truncated", "bafyreiblaotetvwobe7cu2uqvnddr6ew2q3cu75qsoweulzku2egca4dx"},
		{"bad base32 char", "bafyreiblaotetvwobe7cu2uqvnddr6ew2q3cu75qsoweulzku2egca4dx1"},
		{"non-canonical last char", "bafyreiblaotetvwobe7cu2uqvnddr6ew2q3cu75qsoweulzku2egca4dxr"},
		{"trailing space", "bafyreiblaotetvwobe7cu2uqvnddr6ew2q3cu75qsoweulzku2egca4dxq "},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			c, err := datamodel.ParseCID(tt.s)
			if !errors.Is(err, datamodel.ErrInvalidCID) || c.Defined() {
				t.Errorf("ParseCID(%q) = %v, %v; want undefined, %v", tt.s, c, err, datamodel.ErrInvalidCID)
			}
		})
	}
}

func TestCIDFromBytes(t *testing.T) {
	digest := "2b03a649d6ce093e2a6a90ab4638f896d4362a7fb093ac4a2f2aa688610383bc"
	tests := []struct {
		name string
		hex  string
		ok   bool
	}{
		{"dag-cbor", "01711220" + digest, true},
		{"raw", "01551220" + digest, true},
		{"empty", "", false},
		{"cidv0", "1220" + digest, false},
		{"dag-pb", "01701220" + digest, false},
		{"sha2-512 code", "01711320" + digest, false},
		{"short digest", "01711220" + digest[:62], false},
		{"trailing byte", "01711220" + digest + "00", false},
		{"version 2", "02711220" + digest, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := unhex(t, tt.hex)
			c, err := datamodel.CIDFromBytes(b)
			if tt.ok {
				if err != nil || !bytes.Equal(c.Bytes(), b) {
					t.Errorf("CIDFromBytes(%x) = %v, %v; want the same bytes", b, c, err)
				}
				return
			}
			if !errors.Is(err, datamodel.ErrInvalidCID) || c.Defined() {
				t.Errorf("CIDFromBytes(%x) = %v, %v; want undefined, %v", b, c, err, datamodel.ErrInvalidCID)
			}
		})
	}
}
