// Package syntax provides validated AT Protocol identifiers: [DID], [Handle],
// [AtIdentifier], [NSID], [RecordKey], [TID], [ATURI], [Datetime],
// [Language], [CIDString] and [URI].
//
// Each is a string type built by a ParseX function (for example [ParseDID])
// that checks the string against the atproto specification and returns it
// unchanged, so that String() gives back exactly the parsed input. The
// interop vectors of bluesky-social/atproto-interop-tests (syntax/*.txt) are
// the reference: every valid line parses and every invalid line is rejected.
// The values are comparable and usable as map keys; the zero value of each
// type, "", is invalid (empty). Converting an arbitrary string with a type
// conversion (syntax.DID(s)) skips validation and is meant only for values
// already known to be valid, such as ones read back from the store.
//
// Parse errors wrap a per-type sentinel such as [ErrInvalidDID], which in
// turn wraps [ErrSyntax], so a caller can test either.
//
// # TIDs and clocks
//
// A [TID] is a 64-bit integer in 13 base32-sortable characters: 53 bits of
// microseconds since the Unix epoch and a 10-bit clock identifier in the low
// bits, as the atproto TID specification lays out (not left-aligned, as some
// implementations do). TIDs sort lexicographically in the order of their
// integers. [NewTID], [NewTIDFromTime] and [NewTIDFromInteger] build them, and
// a [Clock] hands out strictly increasing TIDs even when the wall clock goes
// backwards; [Clock.NextAfter] also stays above a given previous TID (and
// advances the clock past it).
//
// # Case
//
// DIDs, record keys, TIDs and NSID names are case-sensitive. Handles and
// NSID authorities are case-insensitive: the parsers keep the case they are
// given, and [Handle.Normalize] and [NSID.Normalize] return the canonical
// lower-case form. Compare normalized values when case should not matter.
//
// # Concurrency
//
// All values are immutable strings, safe to share. A [Clock] is safe for
// concurrent use.
//
// # Caveats
//
// Checks are syntactic: a DID is not resolved, a handle is not looked up in
// DNS, a [CIDString] is not decoded (use a CID library for that), and a
// [Language] is not checked against the IANA subtag registry. [ParseHandle]
// accepts reserved top-level domains such as .local and .onion; see
// [Handle.AllowedTLD] to refuse them for new accounts.
package syntax
