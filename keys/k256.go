package keys

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// K256PublicKey is a secp256k1 public key. Obtain one from ParseK256Public,
// ParseDIDKey, ParseMultikey or (*K256PrivateKey).PublicKey; the zero value is
// not usable.
type K256PublicKey struct {
	pub *secp256k1.PublicKey
	b   [compressedLen]byte // compressed SEC1 encoding
}

// K256PrivateKey is a secp256k1 private key. Obtain one from GenerateK256,
// K256FromSeed, ParseK256Private or ParsePrivateMultibase; the zero value is
// not usable.
type K256PrivateKey struct {
	priv *secp256k1.PrivateKey
	pub  *K256PublicKey
}

// ParseK256Public parses a secp256k1 public key from its 33-byte compressed or
// 65-byte uncompressed SEC1 encoding.
func ParseK256Public(b []byte) (*K256PublicKey, error) {
	if err := checkPointEncoding(K256, b); err != nil {
		return nil, err
	}
	pub, err := secp256k1.ParsePubKey(b)
	if err != nil {
		return nil, fmt.Errorf("parse K-256 public key: %v: %w", err, ErrInvalidKey)
	}
	return newK256Public(pub), nil
}

func newK256Public(pub *secp256k1.PublicKey) *K256PublicKey {
	k := &K256PublicKey{pub: pub}
	copy(k.b[:], pub.SerializeCompressed())
	return k
}

// Verify checks that sig is the 64-byte r||s low-S ECDSA signature of
// SHA-256(msg) by k. It returns an error wrapping ErrBadSignature if sig has
// another length (DER is rejected), if r or s is zero or not below the curve
// order, if s is greater than half the order, or if the signature is wrong.
func (k *K256PublicKey) Verify(msg, sig []byte) error {
	if err := checkSignatureLen(sig); err != nil {
		return err
	}
	var r, s secp256k1.ModNScalar
	if overflow := r.SetByteSlice(sig[:32]); overflow || r.IsZero() {
		return fmt.Errorf("K-256 signature r out of range: %w", ErrBadSignature)
	}
	if overflow := s.SetByteSlice(sig[32:]); overflow || s.IsZero() {
		return fmt.Errorf("K-256 signature s out of range: %w", ErrBadSignature)
	}
	if s.IsOverHalfOrder() {
		return fmt.Errorf("K-256 signature is high-S: %w", ErrBadSignature)
	}
	h := sha256.Sum256(msg)
	if !ecdsa.NewSignature(&r, &s).Verify(h[:], k.pub) {
		return fmt.Errorf("K-256 signature does not match: %w", ErrBadSignature)
	}
	return nil
}

// Bytes returns the 33-byte compressed SEC1 encoding of k in a new slice.
func (k *K256PublicKey) Bytes() []byte { return append([]byte(nil), k.b[:]...) }

// UncompressedBytes returns the 65-byte uncompressed SEC1 encoding of k in a
// new slice.
func (k *K256PublicKey) UncompressedBytes() []byte { return k.pub.SerializeUncompressed() }

// Multikey returns the Multikey encoding of k ("zQ3s...").
func (k *K256PublicKey) Multikey() string { return encodeBase58btc(codecK256Pub, k.b[:]) }

// DIDKey returns the did:key of k ("did:key:zQ3s...").
func (k *K256PublicKey) DIDKey() string { return DIDKeyPrefix + k.Multikey() }

// Equal reports whether other is a *K256PublicKey for the same point.
func (k *K256PublicKey) Equal(other PublicKey) bool {
	o, ok := other.(*K256PublicKey)
	return ok && o != nil && o.b == k.b
}

// Curve returns K256.
func (k *K256PublicKey) Curve() Curve { return K256 }

// GenerateK256 returns a new random secp256k1 private key drawn from
// crypto/rand.
func GenerateK256() (*K256PrivateKey, error) {
	priv, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		return nil, fmt.Errorf("generate K-256 key: %w", err)
	}
	return newK256Private(priv), nil
}

// K256FromSeed returns the secp256k1 private key whose scalar is seed itself
// (no hashing), like arroba's new_key(seed). It is meant for tests and
// reproducible fixtures only: such keys are trivially guessable. Seed 0 is not
// a valid scalar and returns ErrInvalidKey.
func K256FromSeed(seed uint64) (*K256PrivateKey, error) {
	var b [scalarLen]byte
	binary.BigEndian.PutUint64(b[scalarLen-8:], seed)
	return ParseK256Private(b[:])
}

// ParseK256Private parses a secp256k1 private key from its 32-byte big-endian
// scalar, which must be in [1, n-1].
func ParseK256Private(b []byte) (*K256PrivateKey, error) {
	if len(b) != scalarLen {
		return nil, fmt.Errorf("parse K-256 private key: %d bytes, want %d: %w", len(b), scalarLen, ErrInvalidKey)
	}
	var s secp256k1.ModNScalar
	if overflow := s.SetByteSlice(b); overflow || s.IsZero() {
		return nil, fmt.Errorf("parse K-256 private key: scalar out of range: %w", ErrInvalidKey)
	}
	return newK256Private(secp256k1.NewPrivateKey(&s)), nil
}

func newK256Private(priv *secp256k1.PrivateKey) *K256PrivateKey {
	return &K256PrivateKey{priv: priv, pub: newK256Public(priv.PubKey())}
}

// PublicKey returns the public key of k, as a *K256PublicKey.
func (k *K256PrivateKey) PublicKey() PublicKey { return k.pub }

// K256PublicKey returns the public key of k with its concrete type.
func (k *K256PrivateKey) K256PublicKey() *K256PublicKey { return k.pub }

// Sign returns the 64-byte r||s ECDSA signature of SHA-256(msg). The nonce is
// derived deterministically from the key and the digest (RFC 6979 with
// HMAC-SHA256), so signing the same message twice gives the same bytes, and s
// is always normalised to the lower half of the curve order. The error is
// always nil.
func (k *K256PrivateKey) Sign(msg []byte) ([]byte, error) {
	h := sha256.Sum256(msg)
	sig := ecdsa.Sign(k.priv, h[:])
	r, s := sig.R(), sig.S()
	if s.IsOverHalfOrder() { // ecdsa.Sign already normalises; keep the invariant local
		s.Negate()
	}
	out := make([]byte, signatureLen)
	r.PutBytesUnchecked(out[:32])
	s.PutBytesUnchecked(out[32:])
	return out, nil
}

// Bytes returns the 32-byte big-endian private scalar in a new slice.
func (k *K256PrivateKey) Bytes() []byte { return k.priv.Serialize() }

// Multibase returns the multibase export of k: base58btc of the
// secp256k1-priv multicodec (0x1301) and the 32-byte scalar.
func (k *K256PrivateKey) Multibase() string {
	return encodeBase58btc(codecK256Priv, k.priv.Serialize())
}
