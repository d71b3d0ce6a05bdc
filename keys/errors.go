package keys

import "errors"

// ErrInvalidKey is returned when a public or private key, or one of its
// encodings (did:key, Multikey, multibase, raw bytes), is malformed, uses an
// unsupported curve or codec, or is not a valid point or scalar.
var ErrInvalidKey = errors.New("keys: invalid key")

// ErrBadSignature is returned when a signature does not verify: it is not
// exactly 64 bytes, r or s is zero or not below the curve order, s is in the
// upper half of the order (high-S), or the equation does not hold.
var ErrBadSignature = errors.New("keys: bad signature")
