// Package commit holds signed repository commits (version 3), the writes a
// commit applies, the record operations it records, and rev generation.
//
// # Commit objects
//
// A [Commit] is the DAG-CBOR map of exactly six keys: did, version (always 3),
// data (the CID of the MST root), rev (a TID), prev (the CID of the previous
// commit or null; the key is always present) and sig (64 bytes r||s over the
// DAG-CBOR of the other five keys). [Decode] is strict: any other key, a
// missing key or a wrong type is an error, so Decode followed by
// [Commit.Encode] gives back the input bytes.
//
// # Revs
//
// A rev is a TID from a [syntax.Clock]. [NextRev] returns one strictly greater
// than the repo's previous rev even when the wall clock went back, without
// letting a repo whose rev is in the future drag the shared clock (and so
// every other repo's revs and record keys) there.
//
// # Writes
//
// A [Write] creates, updates or deletes one record. A record's "$type" must
// be its collection ([Write.Validate]); [NewWrite] and [WriteFromJSON]
// (atproto JSON in one call) fill in a missing one, as the reference PDS
// does.
//
// The package is pure: no I/O, no SQL. Values are not safe for concurrent
// mutation; encoded slices returned belong to the caller.
package commit
