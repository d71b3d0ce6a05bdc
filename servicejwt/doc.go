// Package servicejwt creates and verifies atproto inter-service JWTs: short
// tokens, signed with an account's repository signing key, that a PDS sends
// when it calls another service on the account's behalf (see "Inter-Service
// Authentication" in https://atproto.com/specs/xrpc).
//
// # Tokens
//
// [Create] signs a token with a K-256 key ("alg": "ES256K") or a P-256 key
// ("ES256"): header {"typ":"JWT","alg":...}, claims "iat", "iss" (the
// account DID, optionally with a "#service" fragment), "aud" (by default
// "did:web:<host>"), "exp" (by default 60 s after iat, [DefaultTTL]), "lxm"
// (the XRPC method the token allows, if given) and "jti" (a random nonce).
// The signature is the 64-byte low-S r||s ECDSA signature of SHA-256 over
// "header.payload", base64url without padding. Signing is deterministic.
//
// [Parse] reads a token strictly: three canonical base64url segments, JSON
// objects without duplicate keys or floats, "alg" ES256K or ES256 only
// ("none" and every other algorithm fail with [ErrAlgorithm]), "typ" JWT,
// no "crit" header, "iss" a DID, "aud" a string, "exp" an integer. "iat" and
// "jti" are optional when verifying, so that tokens of implementations that
// omit them (arroba) are accepted; other claims are ignored.
//
// [Verify] parses, checks the claims ([Token.CheckClaims]: audience, lexicon
// method, expiry and issue time with a [DefaultLeeway] of 5 s) and then the
// signature against the issuer's key. [VerifyWithKeyFunc] looks the key up
// through a [KeyFunc] once the claims have passed; [ResolverKeyFunc] builds
// one on a [did.Resolver] (the #atproto key, or #atproto_label for
// "#atproto_labeler" issuers) and [StaticKeys] one on a fixed map. Replay
// protection (remembering "jti" values until they expire) is left to the
// caller.
//
// # Why no JWT library
//
// github.com/golang-jwt/jwt/v5 was considered and not used. Its parser finds
// signing methods in a process-wide registry: ES256K would have to be
// registered globally (and could be replaced by any other package doing the
// same), and its built-in ES256 accepts high-S signatures and works on
// *ecdsa.PublicKey, so enforcing atproto's low-S rule would mean overriding
// "ES256" for every user of the library in the process. Its JSON decoding is
// also laxer than wanted here (duplicate keys, case-insensitive claim names,
// "aud" as a list). The format itself is small; keys.PublicKey.Verify does
// the cryptography.
//
// # Concurrency
//
// All functions are safe for concurrent use; a [Token] is immutable once
// parsed.
package servicejwt
