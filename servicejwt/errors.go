package servicejwt

import "errors"

// ErrMalformed is returned when a token is not a well-formed service JWT:
// not three canonical base64url segments, a header or payload that is not a
// strict JSON object (duplicate keys, floats), missing or mistyped claims,
// or a "typ" other than "JWT".
var ErrMalformed = errors.New("servicejwt: malformed token")

// ErrAlgorithm is returned when a token's "alg" is not ES256K or ES256 (in
// particular "none" and HMAC algorithms), when it does not match the
// issuer's key, or when the header lists critical extensions.
var ErrAlgorithm = errors.New("servicejwt: unsupported algorithm")

// ErrBadSignature is returned when a token's signature does not verify
// with the issuer's key (a high-S or DER signature included).
var ErrBadSignature = errors.New("servicejwt: bad signature")

// ErrExpired is returned when a token's "exp" has passed (beyond the
// leeway).
var ErrExpired = errors.New("servicejwt: token expired")

// ErrNotYetValid is returned when a token's "iat" is in the future (beyond
// the leeway).
var ErrNotYetValid = errors.New("servicejwt: token issued in the future")

// ErrAudience is returned when a token's "aud" is not the expected
// audience, or when no audience was configured for verification.
var ErrAudience = errors.New("servicejwt: wrong audience")

// ErrLexiconMethod is returned when a token's "lxm" is not the expected
// method, or when the token carries one that the caller did not say to
// expect.
var ErrLexiconMethod = errors.New("servicejwt: wrong lexicon method")

// ErrIssuer is returned when the issuer's key cannot be found: its DID does
// not resolve, or its document has no suitable key.
var ErrIssuer = errors.New("servicejwt: issuer key unavailable")
