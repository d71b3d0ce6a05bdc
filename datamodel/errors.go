package datamodel

import (
	"errors"
	"fmt"
	"io"
)

// ErrInvalidCBOR is returned when bytes are not strict DAG-CBOR. Every error
// from [Unmarshal] and [UnmarshalMap] wraps it, together with one of the more
// specific errors below.
var ErrInvalidCBOR = errors.New("invalid dag-cbor")

// Specific decoding errors. Each wraps [ErrInvalidCBOR].
var (
	// ErrTruncated is returned when the input ends in the middle of a value.
	// It also wraps io.ErrUnexpectedEOF.
	ErrTruncated = fmt.Errorf("%w: %w", ErrInvalidCBOR, io.ErrUnexpectedEOF)

	// ErrNonCanonical is returned when a value is well formed but not in
	// canonical form: an integer or length not in its shortest encoding, or
	// map keys out of length-first order.
	ErrNonCanonical = fmt.Errorf("%w: non-canonical encoding", ErrInvalidCBOR)

	// ErrDuplicateKey is returned when a map holds the same key twice.
	ErrDuplicateKey = fmt.Errorf("%w: duplicate map key", ErrInvalidCBOR)

	// ErrIndefiniteLength is returned when a string, array or map uses an
	// indefinite length (or a stray break byte appears).
	ErrIndefiniteLength = fmt.Errorf("%w: indefinite length", ErrInvalidCBOR)

	// ErrUnsupportedTag is returned when a tag other than 42 (CID) appears.
	ErrUnsupportedTag = fmt.Errorf("%w: unsupported tag", ErrInvalidCBOR)

	// ErrUnsupportedSimple is returned when a simple value other than false,
	// true and null appears, undefined included.
	ErrUnsupportedSimple = fmt.Errorf("%w: unsupported simple value", ErrInvalidCBOR)

	// ErrMapKey is returned when a map key is not a text string.
	ErrMapKey = fmt.Errorf("%w: map key is not a text string", ErrInvalidCBOR)

	// ErrTrailingBytes is returned when bytes follow the top-level value.
	ErrTrailingBytes = fmt.Errorf("%w: trailing bytes", ErrInvalidCBOR)

	// ErrNotMap is returned by [UnmarshalMap] when the top-level value is not
	// a map.
	ErrNotMap = fmt.Errorf("%w: top-level value is not a map", ErrInvalidCBOR)
)

// Errors shared by the CBOR decoder, the encoder and the JSON conversions.
// When returned by [Unmarshal] they are wrapped together with
// [ErrInvalidCBOR], and when returned by [FromJSON] together with
// [ErrInvalidJSON].
var (
	// ErrFloat is returned when a floating-point number is met: the atproto
	// data model has no floats.
	ErrFloat = errors.New("floats are not allowed in the data model")

	// ErrIntegerRange is returned when an integer does not fit in an int64.
	ErrIntegerRange = errors.New("integer out of int64 range")

	// ErrInvalidUTF8 is returned when a text string or map key is not valid
	// UTF-8.
	ErrInvalidUTF8 = errors.New("invalid utf-8 in string")

	// ErrTooDeep is returned when arrays and maps nest deeper than
	// [MaxDepth].
	ErrTooDeep = errors.New("nesting too deep")

	// ErrInvalidCID is returned when a CID link is malformed, or when
	// [ParseCID] or [CIDFromBytes] is given a CID outside the blessed atproto
	// formats.
	ErrInvalidCID = errors.New("invalid cid")
)

// ErrUnsupportedType is returned by [Marshal] and [ToJSON] when a value has a
// Go type outside the data model.
var ErrUnsupportedType = errors.New("unsupported type")

// ErrInvalidJSON is returned when JSON is not valid atproto data model JSON.
// Every error from [FromJSON] wraps it, and [ToJSON] returns it for values
// that have no faithful JSON form (see [ToJSON]).
var ErrInvalidJSON = errors.New("invalid atproto json")
