package datamodel

import (
	"crypto/sha256"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// Multicodec codes of the two blessed atproto CID codecs.
const (
	// CodecDagCBOR is the multicodec code for DAG-CBOR: records, MST nodes
	// and commits.
	CodecDagCBOR = 0x71

	// CodecRaw is the multicodec code for raw bytes: blobs.
	CodecRaw = 0x55
)

// cidLen is the length of a blessed binary CID: version, codec, hash code,
// digest length and a 32-byte SHA-256 digest.
const cidLen = 4 + sha256.Size

// ComputeCID returns the CIDv1 of data with the given codec and a SHA-256
// multihash.
func ComputeCID(codec uint64, data []byte) cid.Cid {
	digest := sha256.Sum256(data)
	var mh [2 + sha256.Size]byte
	mh[0] = multihash.SHA2_256
	mh[1] = sha256.Size
	copy(mh[2:], digest[:])
	return cid.NewCidV1(codec, mh[:])
}

// CBORCID returns the CID of a DAG-CBOR block: CIDv1, codec dag-cbor (0x71),
// SHA-256. Its string form starts with "bafyrei".
func CBORCID(data []byte) cid.Cid {
	return ComputeCID(CodecDagCBOR, data)
}

// RawCID returns the CID of a blob: CIDv1, codec raw (0x55), SHA-256. Its
// string form starts with "bafkrei".
func RawCID(data []byte) cid.Cid {
	return ComputeCID(CodecRaw, data)
}

// isBlessed reports whether b is the binary form of a blessed atproto CID.
func isBlessed(b string) bool {
	return len(b) == cidLen && b[0] == 1 && (b[1] == CodecDagCBOR || b[1] == CodecRaw) &&
		b[2] == multihash.SHA2_256 && b[3] == sha256.Size
}

// ParseCID parses the string form of a blessed atproto CID. Only the blessed
// formats are accepted: CIDv1, codec dag-cbor (0x71) or raw (0x55), SHA-256
// with a 32-byte digest, written in base32 lower case with the "b" multibase
// prefix (59 characters, "bafyrei..." or "bafkrei..."). CIDv0, other codecs,
// other hashes and other multibases are rejected with [ErrInvalidCID].
func ParseCID(s string) (cid.Cid, error) {
	if len(s) != 59 || s[0] != 'b' {
		return cid.Undef, fmt.Errorf("%w: %q is not a base32 cidv1 of 59 characters", ErrInvalidCID, s)
	}
	c, err := cid.Decode(s)
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: %q: %v", ErrInvalidCID, s, err)
	}
	if !isBlessed(c.KeyString()) {
		return cid.Undef, fmt.Errorf("%w: %q is not dag-cbor or raw with sha2-256", ErrInvalidCID, s)
	}
	if c.String() != s {
		return cid.Undef, fmt.Errorf("%w: %q is not in canonical base32 lower case", ErrInvalidCID, s)
	}
	return c, nil
}

// CIDFromBytes parses the binary form of a blessed atproto CID (36 bytes:
// 0x01, codec 0x71 or 0x55, 0x12, 0x20, digest). It accepts exactly the CIDs
// [ParseCID] accepts, and returns [ErrInvalidCID] for anything else. The
// returned CID does not alias b.
func CIDFromBytes(b []byte) (cid.Cid, error) {
	if !isBlessed(string(b)) {
		return cid.Undef, fmt.Errorf("%w: %x is not a blessed cidv1 (dag-cbor or raw, sha2-256)", ErrInvalidCID, b)
	}
	c, err := cid.Cast(b)
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: %v", ErrInvalidCID, err)
	}
	return c, nil
}
