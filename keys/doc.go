// Package keys implements the cryptography of the AT Protocol
// (https://atproto.com/specs/cryptography): K-256 (secp256k1) and P-256 (NIST
// secp256r1) key pairs, ECDSA signatures in the atproto form, and the did:key,
// Multikey and private-key multibase encodings.
//
// A key pair is a [PrivateKey] and its [PublicKey]. The concrete types are
// [K256PrivateKey], [K256PublicKey], [P256PrivateKey] and [P256PublicKey];
// [Curve] tells them apart and gives the JWT algorithm name ([Curve.JWTAlg]).
//
// # Signatures
//
// [PrivateKey.Sign] hashes the message with SHA-256 and returns the 64-byte
// r||s big-endian signature, with s always normalised to the lower half of the
// curve order ("low-S"). Signing is deterministic (RFC 6979 with HMAC-SHA256,
// through github.com/decred/dcrd/dcrec/secp256k1/v4 for K-256 and crypto/ecdsa
// for P-256): the same key and message give the same bytes, as in the
// reference TypeScript implementation.
//
// [PublicKey.Verify] accepts exactly that form and nothing else: a signature
// that is not 64 bytes (DER in particular), whose r or s is zero or not below
// the curve order, or whose s is in the upper half ("high-S") fails with an
// error wrapping [ErrBadSignature], as does a signature that does not match.
//
// # Encodings
//
// Public keys are 33-byte compressed SEC1 points ([PublicKey.Bytes]). Their
// Multikey ([PublicKey.Multikey]) is "z" + base58btc(multicodec || point),
// where the multicodec is the varint of secp256k1-pub (0xe7, bytes e7 01) or
// p256-pub (0x1200, bytes 80 24); the did:key ([PublicKey.DIDKey]) is
// "did:key:" + Multikey. K-256 did:keys start "did:key:zQ3s" and P-256 ones
// "did:key:zDna".
//
// Private keys are 32-byte big-endian scalars ([PrivateKey.Bytes]); their
// multibase export ([PrivateKey.Multibase]) is "z" + base58btc(multicodec ||
// scalar) with secp256k1-priv (0x1301, bytes 81 26) or p256-priv (0x1306,
// bytes 86 26).
//
// [ParseDIDKey], [ParseMultikey] and [ParsePrivateMultibase] accept only the
// canonical form: base58btc, a known multicodec with its minimal varint, a
// compressed point (or a scalar in [1, n-1]). Base58 decoding is bijective, so
// for every string they accept, re-encoding the result gives back exactly that
// string. Uncompressed points are accepted only where they occur in the wild:
// [ParsePublicBytes], and legacy DID document verification methods through
// [ParsePublicKeyMultibase].
//
// Keys with a chosen scalar ([K256FromSeed], [P256FromSeed]) reproduce the
// fixed test keys of other implementations, such as arroba's new_key(seed);
// they must never be used outside tests.
//
// # Concurrency and ownership
//
// Keys are immutable and safe for concurrent use. Every returned byte slice is
// a fresh copy that the caller owns. The zero values of the concrete key types
// are not usable; obtain keys from the Generate, FromSeed and Parse functions.
//
// # Caveats
//
// [K256PublicKey.Equal] and [P256PublicKey.Equal] recognise only keys of this
// package. Verification is not constant-time, which is fine since it handles
// only public data; signing and key handling rely on the constant-time code of
// the underlying libraries.
package keys
