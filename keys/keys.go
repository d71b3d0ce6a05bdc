package keys

import (
	"fmt"
	"strings"

	"github.com/mr-tron/base58"
)

// PublicKey is an atproto signing public key on one of the supported curves.
//
// Implementations are immutable and safe for concurrent use.
type PublicKey interface {
	// Verify checks that sig is a valid low-S signature of SHA-256(msg). It
	// returns nil on success and an error wrapping ErrBadSignature otherwise.
	Verify(msg, sig []byte) error
	// Bytes returns the 33-byte compressed SEC1 encoding of the point. The
	// returned slice is a fresh copy that the caller may modify.
	Bytes() []byte
	// DIDKey returns the did:key form of the key: "did:key:" + Multikey().
	DIDKey() string
	// Multikey returns the multibase (base58btc, "z" prefix) encoding of the
	// multicodec-prefixed compressed point.
	Multikey() string
	// Equal reports whether the key and k are the same point on the same curve.
	Equal(k PublicKey) bool
	// Curve returns the key's curve.
	Curve() Curve
}

// PrivateKey is an atproto signing private key on one of the supported curves.
//
// Implementations are immutable and safe for concurrent use.
type PrivateKey interface {
	// PublicKey returns the matching public key.
	PublicKey() PublicKey
	// Sign returns the 64-byte r||s (big-endian) ECDSA signature of
	// SHA-256(msg). The S component is always in the lower half of the curve
	// order, so the signature is accepted by atproto verifiers.
	Sign(msg []byte) ([]byte, error)
	// Bytes returns the private scalar as 32 big-endian bytes. The returned
	// slice is a fresh copy that the caller may modify.
	Bytes() []byte
	// Multibase returns the multibase (base58btc, "z" prefix) encoding of the
	// multicodec-prefixed private scalar.
	Multibase() string
}

var (
	_ PublicKey  = (*K256PublicKey)(nil)
	_ PublicKey  = (*P256PublicKey)(nil)
	_ PrivateKey = (*K256PrivateKey)(nil)
	_ PrivateKey = (*P256PrivateKey)(nil)
)

// Curve identifies an elliptic curve supported by atproto. The zero value is
// not a valid curve.
type Curve int

const (
	// K256 is secp256k1, used with JWT algorithm "ES256K".
	K256 Curve = iota + 1
	// P256 is NIST P-256 (secp256r1), used with JWT algorithm "ES256".
	P256
)

// String returns "K-256", "P-256", or "Curve(N)" for an unknown value.
func (c Curve) String() string {
	switch c {
	case K256:
		return "K-256"
	case P256:
		return "P-256"
	}
	return fmt.Sprintf("Curve(%d)", int(c))
}

// JWTAlg returns the JWT "alg" name of the curve's atproto signature scheme:
// "ES256K" for K256, "ES256" for P256, and "" for an unknown value.
func (c Curve) JWTAlg() string {
	switch c {
	case K256:
		return "ES256K"
	case P256:
		return "ES256"
	}
	return ""
}

// DIDKeyPrefix is the prefix of every did:key string.
const DIDKeyPrefix = "did:key:"

// Multicodec varint prefixes (https://github.com/multiformats/multicodec).
var (
	codecK256Pub  = [2]byte{0xe7, 0x01} // secp256k1-pub, 0xe7
	codecP256Pub  = [2]byte{0x80, 0x24} // p256-pub, 0x1200
	codecK256Priv = [2]byte{0x81, 0x26} // secp256k1-priv, 0x1301
	codecP256Priv = [2]byte{0x86, 0x26} // p256-priv, 0x1306
)

const (
	compressedLen   = 33
	uncompressedLen = 65
	scalarLen       = 32
	signatureLen    = 64

	// maxMultibaseLen bounds the inputs handed to the base58 decoder, whose
	// cost is quadratic in the input length. The longest valid input (a
	// 2-byte codec and an uncompressed 65-byte point) is 93 characters.
	maxMultibaseLen = 128
)

// decodeBase58btc decodes a multibase string that must use base58btc ("z").
// Its errors never quote s, which may hold a private key.
func decodeBase58btc(s string) ([]byte, error) {
	if len(s) > maxMultibaseLen {
		return nil, fmt.Errorf("multibase of %d characters is too long: %w", len(s), ErrInvalidKey)
	}
	if s == "" || s[0] != 'z' {
		return nil, fmt.Errorf("multibase is not base58btc (\"z\" prefix): %w", ErrInvalidKey)
	}
	b, err := base58.Decode(s[1:])
	if err != nil {
		return nil, fmt.Errorf("multibase is not valid base58btc: %w", ErrInvalidKey)
	}
	return b, nil
}

// encodeBase58btc encodes codec||body as multibase base58btc.
func encodeBase58btc(codec [2]byte, body []byte) string {
	buf := make([]byte, 0, len(codec)+len(body))
	buf = append(buf, codec[:]...)
	buf = append(buf, body...)
	return "z" + base58.Encode(buf)
}

// ParseDIDKey parses a did:key string ("did:key:z...") holding a K-256 or
// P-256 public key. Only the atproto form is accepted: base58btc multibase, the
// secp256k1-pub (0xe7) or p256-pub (0x1200) multicodec, and a 33-byte
// compressed point. Every string it accepts is canonical: DIDKey on the result
// returns exactly s.
func ParseDIDKey(s string) (PublicKey, error) {
	mk, ok := strings.CutPrefix(s, DIDKeyPrefix)
	if !ok {
		return nil, fmt.Errorf("parse did:key %q: missing %q prefix: %w", s, DIDKeyPrefix, ErrInvalidKey)
	}
	k, err := ParseMultikey(mk)
	if err != nil {
		return nil, fmt.Errorf("parse did:key: %w", err)
	}
	return k, nil
}

// ParseMultikey parses the Multikey encoding of a public key: the "z..." part
// of a did:key, also found as publicKeyMultibase of a "Multikey" verification
// method. It accepts the same forms as ParseDIDKey (without the "did:key:"
// prefix), and Multikey on the result returns exactly s.
func ParseMultikey(s string) (PublicKey, error) {
	b, err := decodeBase58btc(s)
	if err != nil {
		return nil, fmt.Errorf("parse multikey %q: %w", s, err)
	}
	if len(b) != 2+compressedLen {
		return nil, fmt.Errorf("parse multikey %q: %d bytes, want %d: %w", s, len(b), 2+compressedLen, ErrInvalidKey)
	}
	var curve Curve
	switch [2]byte(b[:2]) {
	case codecK256Pub:
		curve = K256
	case codecP256Pub:
		curve = P256
	default:
		return nil, fmt.Errorf("parse multikey %q: unsupported multicodec prefix %x: %w", s, b[:2], ErrInvalidKey)
	}
	k, err := ParsePublicBytes(curve, b[2:])
	if err != nil {
		return nil, fmt.Errorf("parse multikey: %w", err)
	}
	return k, nil
}

// ParsePublicBytes parses a SEC1-encoded public key on curve: a 33-byte
// compressed point (0x02 or 0x03 prefix) or a 65-byte uncompressed point (0x04
// prefix). Hybrid encodings, the point at infinity and points not on the curve
// are rejected. Bytes on the result always returns the compressed form.
func ParsePublicBytes(curve Curve, b []byte) (PublicKey, error) {
	switch curve {
	case K256:
		k, err := ParseK256Public(b)
		if err != nil {
			return nil, err
		}
		return k, nil
	case P256:
		k, err := ParseP256Public(b)
		if err != nil {
			return nil, err
		}
		return k, nil
	}
	return nil, fmt.Errorf("parse public key: unsupported curve %v: %w", curve, ErrInvalidKey)
}

// checkPointEncoding checks the length and SEC1 prefix byte of a point.
func checkPointEncoding(curve Curve, b []byte) error {
	switch {
	case len(b) == compressedLen && (b[0] == 0x02 || b[0] == 0x03):
		return nil
	case len(b) == uncompressedLen && b[0] == 0x04:
		return nil
	case len(b) == compressedLen || len(b) == uncompressedLen:
		return fmt.Errorf("parse %v public key: unsupported SEC1 prefix 0x%02x: %w", curve, b[0], ErrInvalidKey)
	}
	return fmt.Errorf("parse %v public key: %d bytes, want %d or %d: %w", curve, len(b), compressedLen, uncompressedLen, ErrInvalidKey)
}

// ParsePrivateMultibase parses the multibase export of a private key:
// base58btc ("z" prefix) of the secp256k1-priv (0x1301) or p256-priv (0x1306)
// multicodec followed by the 32-byte big-endian scalar. Every string it accepts
// is canonical: Multibase on the result returns exactly s.
func ParsePrivateMultibase(s string) (PrivateKey, error) {
	b, err := decodeBase58btc(s)
	if err != nil {
		return nil, fmt.Errorf("parse private multibase: %w", err)
	}
	if len(b) != 2+scalarLen {
		return nil, fmt.Errorf("parse private multibase: %d bytes, want %d: %w", len(b), 2+scalarLen, ErrInvalidKey)
	}
	switch [2]byte(b[:2]) {
	case codecK256Priv:
		k, err := ParseK256Private(b[2:])
		if err != nil {
			return nil, fmt.Errorf("parse private multibase: %w", err)
		}
		return k, nil
	case codecP256Priv:
		k, err := ParseP256Private(b[2:])
		if err != nil {
			return nil, fmt.Errorf("parse private multibase: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("parse private multibase: unsupported multicodec prefix %x: %w", b[:2], ErrInvalidKey)
}

// DID document verification method types understood by ParsePublicKeyMultibase.
const (
	// TypeMultikey is the current atproto verification method type; its
	// publicKeyMultibase is a Multikey.
	TypeMultikey = "Multikey"
	// TypeK256Legacy is the legacy type for K-256 keys; its
	// publicKeyMultibase is base58btc of the bare SEC1 point.
	TypeK256Legacy = "EcdsaSecp256k1VerificationKey2019"
	// TypeP256Legacy is the legacy type for P-256 keys; its
	// publicKeyMultibase is base58btc of the bare SEC1 point.
	TypeP256Legacy = "EcdsaSecp256r1VerificationKey2019"
)

// ParsePublicKeyMultibase parses the publicKeyMultibase of a DID document
// verification method of type typ. For TypeMultikey it is ParseMultikey; for
// the legacy TypeK256Legacy and TypeP256Legacy it is the base58btc multibase of
// the bare point (no multicodec), compressed or uncompressed, as accepted by
// ParsePublicBytes. Other types are rejected with ErrInvalidKey.
func ParsePublicKeyMultibase(typ, publicKeyMultibase string) (PublicKey, error) {
	var curve Curve
	switch typ {
	case TypeMultikey:
		return ParseMultikey(publicKeyMultibase)
	case TypeK256Legacy:
		curve = K256
	case TypeP256Legacy:
		curve = P256
	default:
		return nil, fmt.Errorf("parse verification method: unsupported type %q: %w", typ, ErrInvalidKey)
	}
	b, err := decodeBase58btc(publicKeyMultibase)
	if err != nil {
		return nil, fmt.Errorf("parse %s %q: %w", typ, publicKeyMultibase, err)
	}
	k, err := ParsePublicBytes(curve, b)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", typ, err)
	}
	return k, nil
}

// checkSignatureLen rejects any signature that is not raw 64-byte r||s, in
// particular DER encodings.
func checkSignatureLen(sig []byte) error {
	if len(sig) != signatureLen {
		return fmt.Errorf("signature is %d bytes, want %d: %w", len(sig), signatureLen, ErrBadSignature)
	}
	return nil
}
