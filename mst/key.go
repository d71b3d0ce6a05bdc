package mst

import (
	"crypto/sha256"
	"fmt"
)

// MaxKeyLen is the longest key, in bytes, that the repository specification
// allows in an MST.
const MaxKeyLen = 1024

// maxRecordKeyLen is the longest record key the record-key specification
// allows.
const maxRecordKeyLen = 512

// maxCollectionLen is the longest NSID the NSID specification allows.
const maxCollectionLen = 317

// maxLayer is the highest layer a key can have: a SHA-256 digest has 256
// leading zero bits at most, counted in 2-bit units.
const maxLayer = 128

// Layer returns the layer (height) of key in any MST: the number of leading
// zero bits of SHA-256(key), counted in 2-bit units. Layer 0 is the bottom of
// the tree. Layer does not validate key.
func Layer(key string) int {
	var buf [128]byte
	sum := sha256.Sum256(append(buf[:0], key...))
	return layerOfDigest(&sum)
}

func layerOfDigest(sum *[32]byte) int {
	n := 0
	for _, b := range sum {
		if b == 0 {
			n += 4
			continue
		}
		switch {
		case b < 4:
			n += 3
		case b < 16:
			n += 2
		case b < 64:
			n++
		}
		break
	}
	return n
}

// ValidateKey reports whether key may be written to an MST: a collection
// NSID, a slash, and a record key, as the repository specification requires.
//
// The collection must be 1 to 317 characters of ASCII letters, digits, '.'
// and '-', not starting or ending with '.' (NSID-shaped; the segment
// structure of a full NSID is not checked, so the short collections of the
// interop fixtures, such as "A0", are accepted). The record key must be 1 to 512 characters of
// [A-Za-z0-9._:~-] and must not be "." or "..". The whole key is at most
// [MaxKeyLen] bytes. The error wraps [ErrInvalidKey].
func ValidateKey(key string) error {
	if msg := checkKey(key); msg != "" {
		return fmt.Errorf("%w %q: %s", ErrInvalidKey, truncate(key), msg)
	}
	return nil
}

func checkKey(key string) string {
	if len(key) == 0 {
		return "empty"
	}
	if len(key) > MaxKeyLen {
		return "longer than 1024 bytes"
	}
	slash := -1
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			if slash >= 0 {
				return "more than one '/'"
			}
			slash = i
		}
	}
	if slash < 0 {
		return "no '/' between collection and record key"
	}
	coll, rkey := key[:slash], key[slash+1:]
	if coll == "" {
		return "empty collection"
	}
	if len(coll) > maxCollectionLen {
		return "collection longer than 317 characters"
	}
	for i := 0; i < len(coll); i++ {
		if !isCollectionChar(coll[i]) {
			return "invalid character in collection"
		}
	}
	if coll[0] == '.' || coll[len(coll)-1] == '.' {
		return "collection starts or ends with '.'"
	}
	if rkey == "" {
		return "empty record key"
	}
	if len(rkey) > maxRecordKeyLen {
		return "record key longer than 512 characters"
	}
	if rkey == "." || rkey == ".." {
		return `record key is "." or ".."`
	}
	for i := 0; i < len(rkey); i++ {
		if !isRecordKeyChar(rkey[i]) {
			return "invalid character in record key"
		}
	}
	return ""
}

// checkStoredKey applies the looser rules of the reference implementation to
// keys read from existing nodes: exactly one '/', both halves non-empty and
// made of [A-Za-z0-9._:~-], at most MaxKeyLen bytes. Trees written by other
// implementations stay readable even where their collections are not
// NSID-shaped.
func checkStoredKey(key []byte) string {
	if len(key) > MaxKeyLen {
		return "key longer than 1024 bytes"
	}
	slash := -1
	for i, b := range key {
		if b == '/' {
			if slash >= 0 {
				return "key has more than one '/'"
			}
			slash = i
			continue
		}
		if !isRecordKeyChar(b) {
			return "invalid character in key"
		}
	}
	if slash <= 0 || slash == len(key)-1 {
		return "key is not collection/rkey"
	}
	return ""
}

// Character classes of keys.
const (
	classCollection = 1 << iota
	classRecordKey
)

var charClass = func() (t [256]uint8) {
	for b := 0; b < 256; b++ {
		alnum := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9'
		if alnum || b == '.' || b == '-' {
			t[b] |= classCollection
		}
		if alnum || b == '.' || b == '-' || b == '_' || b == ':' || b == '~' {
			t[b] |= classRecordKey
		}
	}
	return t
}()

func isCollectionChar(b byte) bool { return charClass[b]&classCollection != 0 }

func isRecordKeyChar(b byte) bool { return charClass[b]&classRecordKey != 0 }

// commonPrefixLen returns the length in bytes of the longest common prefix of
// a and b.
func commonPrefixLen(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// truncate shortens a key for an error message.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
