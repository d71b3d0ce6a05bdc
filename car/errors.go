package car

import (
	"errors"
	"fmt"
)

// ErrInvalidHeader is returned when a CAR header is missing, malformed, or
// not exactly {"roots": [CID, ...], "version": 1} in canonical DAG-CBOR with
// at least one root.
var ErrInvalidHeader = errors.New("car: invalid header")

// ErrUnsupportedVersion is returned when the header's version is not 1 (for
// example a CARv2 file). It wraps [ErrInvalidHeader].
var ErrUnsupportedVersion = fmt.Errorf("%w: unsupported version", ErrInvalidHeader)

// ErrHeaderTooLarge is returned when the header length exceeds
// [ReaderOptions].MaxHeaderSize. It wraps [ErrInvalidHeader].
var ErrHeaderTooLarge = fmt.Errorf("%w: header too large", ErrInvalidHeader)

// ErrInvalidSection is returned when a block section is malformed: a
// zero-length section, a length varint that is not minimally encoded or
// overflows, or a CID that does not parse (CIDv0 included).
var ErrInvalidSection = errors.New("car: invalid section")

// ErrBlockTooLarge is returned when a section is longer than
// [ReaderOptions].MaxBlockSize allows. The check is made before any memory
// is allocated for the section.
var ErrBlockTooLarge = errors.New("car: block too large")

// ErrHashMismatch is returned when a block's SHA-256 digest differs from the
// one in its CID. The error message names the CID.
var ErrHashMismatch = errors.New("car: block hash does not match its cid")

// ErrUnsupportedHash is returned when a block's CID uses a multihash other
// than SHA-256 with a 32-byte digest, so that the block cannot be verified.
var ErrUnsupportedHash = errors.New("car: unsupported multihash")
