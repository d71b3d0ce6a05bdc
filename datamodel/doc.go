// Package datamodel implements the atproto data model: strict canonical
// DAG-CBOR, CIDs, and the atproto JSON representation.
//
// # Values
//
// A data model value is one of nil, bool, int64, string, []byte, [cid.Cid],
// []any and map[string]any. There are no floats. [Unmarshal] and [FromJSON]
// return only these types; [Marshal] and [ToJSON] also accept a few
// convenient Go types (other integer types, []string, map[string]string,
// ...) listed at [Marshal].
//
// # DAG-CBOR
//
// [Marshal] writes canonical DAG-CBOR: definite lengths, shortest integer
// and length encodings, map keys sorted by length then bytewise, CIDs as
// tag 42 over 0x00 followed by the binary CID, and nil as null (map entries
// whose value is nil are kept, never dropped). [Unmarshal] accepts only
// that form: anything it decodes re-encodes to exactly the same bytes, so
// CIDs and signatures computed over decoded data are stable. Errors wrap
// [ErrInvalidCBOR] and a specific sentinel ([ErrNonCanonical],
// [ErrDuplicateKey], [ErrFloat], [ErrTrailingBytes], ...). Nesting is
// limited to [MaxDepth] levels, and no length header can make the decoder
// allocate more than the input could hold.
//
// The codec is hand-written rather than built on fxamacker/cbor because a
// strict decoder must check canonical form (shortest integers, key order),
// which fxamacker does not; the tests check both directions against
// fxamacker configured for DAG-CBOR (length-first sorting, no indefinite
// lengths, duplicate keys rejected).
//
// # CIDs
//
// [CBORCID] and [RawCID] compute the CIDv1 of a record (dag-cbor, "bafyrei...")
// or a blob (raw, "bafkrei..."), both with SHA-256. [ParseCID] and
// [CIDFromBytes] accept only these blessed atproto formats. Links inside
// DAG-CBOR and atproto JSON are read more permissively: any CID go-cid
// parses (in canonical form) is kept as is, so that data written by others
// round-trips; check the codec where that matters.
//
// # JSON
//
// [FromJSON] and [ToJSON] convert between the data model and atproto JSON,
// where links are {"$link": "<cid>"}, bytes are {"$bytes": "<base64>"} and
// blobs are objects with "$type": "blob". The rules are listed at
// [FromJSON]; the interop vectors in testdata/interop/data-model pin them.
// ToJSON sorts object keys, so its output is deterministic.
//
// # Ownership and concurrency
//
// Decoded values never alias the input, and the caller owns them: byte
// slices are fresh copies, and the strings of one [Unmarshal] call share a
// single copy of the input (so holding one decoded string keeps that copy
// alive). Encoders return fresh slices. All functions are
// safe for concurrent use; the package has no mutable state.
//
// # Caveats
//
// Integers are int64 throughout; CBOR unsigned integers above
// math.MaxInt64 and negative integers below math.MinInt64 are rejected.
// FromJSON accepts numbers such as 123.0 whose value is an integer (as the
// interop vectors require), so JSON to JSON conversion may rewrite them.
package datamodel
