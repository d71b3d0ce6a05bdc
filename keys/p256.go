package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"math/big"
)

var (
	p256Order     = elliptic.P256().Params().N
	p256HalfOrder = new(big.Int).Rsh(p256Order, 1)
)

// P256PublicKey is a NIST P-256 public key. Obtain one from ParseP256Public,
// ParseDIDKey, ParseMultikey or (*P256PrivateKey).PublicKey; the zero value is
// not usable.
type P256PublicKey struct {
	pub *ecdsa.PublicKey
	b   [compressedLen]byte // compressed SEC1 encoding
}

// P256PrivateKey is a NIST P-256 private key. Obtain one from GenerateP256,
// P256FromSeed, ParseP256Private or ParsePrivateMultibase; the zero value is
// not usable.
type P256PrivateKey struct {
	priv *ecdsa.PrivateKey
	pub  *P256PublicKey
	b    [scalarLen]byte
}

// ParseP256Public parses a P-256 public key from its 33-byte compressed or
// 65-byte uncompressed SEC1 encoding.
func ParseP256Public(b []byte) (*P256PublicKey, error) {
	if err := checkPointEncoding(P256, b); err != nil {
		return nil, err
	}
	unc := b
	if len(b) == compressedLen {
		x, y := elliptic.UnmarshalCompressed(elliptic.P256(), b)
		if x == nil {
			return nil, fmt.Errorf("parse P-256 public key: point not on curve: %w", ErrInvalidKey)
		}
		unc = make([]byte, uncompressedLen)
		unc[0] = 0x04
		x.FillBytes(unc[1:33])
		y.FillBytes(unc[33:])
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), unc)
	if err != nil {
		return nil, fmt.Errorf("parse P-256 public key: %v: %w", err, ErrInvalidKey)
	}
	return newP256Public(pub)
}

func newP256Public(pub *ecdsa.PublicKey) (*P256PublicKey, error) {
	unc, err := pub.Bytes()
	if err != nil || len(unc) != uncompressedLen {
		return nil, fmt.Errorf("encode P-256 public key: %v: %w", err, ErrInvalidKey)
	}
	k := &P256PublicKey{pub: pub}
	k.b[0] = 0x02 | unc[uncompressedLen-1]&1
	copy(k.b[1:], unc[1:33])
	return k, nil
}

// Verify checks that sig is the 64-byte r||s low-S ECDSA signature of
// SHA-256(msg) by k. It returns an error wrapping ErrBadSignature if sig has
// another length (DER is rejected), if r or s is zero or not below the curve
// order, if s is greater than half the order, or if the signature is wrong.
func (k *P256PublicKey) Verify(msg, sig []byte) error {
	if err := checkSignatureLen(sig); err != nil {
		return err
	}
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	if r.Sign() == 0 || r.Cmp(p256Order) >= 0 {
		return fmt.Errorf("P-256 signature r out of range: %w", ErrBadSignature)
	}
	if s.Sign() == 0 || s.Cmp(p256Order) >= 0 {
		return fmt.Errorf("P-256 signature s out of range: %w", ErrBadSignature)
	}
	if s.Cmp(p256HalfOrder) > 0 {
		return fmt.Errorf("P-256 signature is high-S: %w", ErrBadSignature)
	}
	h := sha256.Sum256(msg)
	if !ecdsa.Verify(k.pub, h[:], r, s) {
		return fmt.Errorf("P-256 signature does not match: %w", ErrBadSignature)
	}
	return nil
}

// Bytes returns the 33-byte compressed SEC1 encoding of k in a new slice.
func (k *P256PublicKey) Bytes() []byte { return append([]byte(nil), k.b[:]...) }

// UncompressedBytes returns the 65-byte uncompressed SEC1 encoding of k in a
// new slice.
func (k *P256PublicKey) UncompressedBytes() []byte {
	b, err := k.pub.Bytes()
	if err != nil {
		panic("keys: P-256 public key does not encode: " + err.Error())
	}
	return b
}

// Multikey returns the Multikey encoding of k ("zDna...").
func (k *P256PublicKey) Multikey() string { return encodeBase58btc(codecP256Pub, k.b[:]) }

// DIDKey returns the did:key of k ("did:key:zDna...").
func (k *P256PublicKey) DIDKey() string { return DIDKeyPrefix + k.Multikey() }

// Equal reports whether other is a *P256PublicKey for the same point.
func (k *P256PublicKey) Equal(other PublicKey) bool {
	o, ok := other.(*P256PublicKey)
	return ok && o != nil && o.b == k.b
}

// Curve returns P256.
func (k *P256PublicKey) Curve() Curve { return P256 }

// GenerateP256 returns a new random P-256 private key drawn from crypto/rand.
func GenerateP256() (*P256PrivateKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate P-256 key: %w", err)
	}
	return newP256Private(priv)
}

// P256FromSeed returns the P-256 private key whose scalar is seed itself (no
// hashing). It is meant for tests and reproducible fixtures only: such keys
// are trivially guessable. Seed 0 is not a valid scalar and returns
// ErrInvalidKey.
func P256FromSeed(seed uint64) (*P256PrivateKey, error) {
	var b [scalarLen]byte
	binary.BigEndian.PutUint64(b[scalarLen-8:], seed)
	return ParseP256Private(b[:])
}

// ParseP256Private parses a P-256 private key from its 32-byte big-endian
// scalar, which must be in [1, n-1].
func ParseP256Private(b []byte) (*P256PrivateKey, error) {
	if len(b) != scalarLen {
		return nil, fmt.Errorf("parse P-256 private key: %d bytes, want %d: %w", len(b), scalarLen, ErrInvalidKey)
	}
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), b)
	if err != nil {
		return nil, fmt.Errorf("parse P-256 private key: %v: %w", err, ErrInvalidKey)
	}
	return newP256Private(priv)
}

func newP256Private(priv *ecdsa.PrivateKey) (*P256PrivateKey, error) {
	b, err := priv.Bytes()
	if err != nil || len(b) != scalarLen {
		return nil, fmt.Errorf("encode P-256 private key: %v: %w", err, ErrInvalidKey)
	}
	pub, err := newP256Public(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	k := &P256PrivateKey{priv: priv, pub: pub}
	copy(k.b[:], b)
	return k, nil
}

// PublicKey returns the public key of k, as a *P256PublicKey.
func (k *P256PrivateKey) PublicKey() PublicKey { return k.pub }

// P256PublicKey returns the public key of k with its concrete type.
func (k *P256PrivateKey) P256PublicKey() *P256PublicKey { return k.pub }

// Sign returns the 64-byte r||s ECDSA signature of SHA-256(msg). The nonce is
// derived deterministically from the key and the digest (RFC 6979, via
// crypto/ecdsa with a nil random source), so signing the same message twice
// gives the same bytes, and s is always normalised to the lower half of the
// curve order.
func (k *P256PrivateKey) Sign(msg []byte) ([]byte, error) {
	h := sha256.Sum256(msg)
	der, err := k.priv.Sign(nil, h[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign P-256: %w", err)
	}
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &rs)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("sign P-256: decode DER signature: %v", err)
	}
	if rs.S.Cmp(p256HalfOrder) > 0 {
		rs.S.Sub(p256Order, rs.S)
	}
	out := make([]byte, signatureLen)
	rs.R.FillBytes(out[:32])
	rs.S.FillBytes(out[32:])
	return out, nil
}

// Bytes returns the 32-byte big-endian private scalar in a new slice.
func (k *P256PrivateKey) Bytes() []byte { return append([]byte(nil), k.b[:]...) }

// Multibase returns the multibase export of k: base58btc of the p256-priv
// multicodec (0x1306) and the 32-byte scalar.
func (k *P256PrivateKey) Multibase() string { return encodeBase58btc(codecP256Priv, k.b[:]) }
