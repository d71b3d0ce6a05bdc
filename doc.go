// Package atlite is an embedded, single-file, SQLite-backed store for AT Protocol
// (Bluesky) data repositories.
//
// Every repository of a host lives in one SQLite file: tables for repos, blocks,
// records, sequences and events. Each repository is a Merkle Search Tree (see
// package [github.com/atlite-dev/atlite/mst]) of records under signed commits
// (package [github.com/atlite-dev/atlite/commit]). Each commit is one SQL
// transaction that writes all of its new blocks, the new head and exactly one
// sequence number for the event stream, so nothing half-written survives a crash.
//
// The building blocks are usable on their own:
//
//   - [github.com/atlite-dev/atlite/datamodel]: strict DAG-CBOR, CIDs and the atproto JSON data model;
//   - [github.com/atlite-dev/atlite/car]: streaming CAR v1 reader and writer;
//   - [github.com/atlite-dev/atlite/syntax]: validated identifiers (DID, handle, NSID, record key, TID, AT-URI, ...);
//   - [github.com/atlite-dev/atlite/keys]: K-256 and P-256 keys, signatures, did:key and Multikey;
//   - [github.com/atlite-dev/atlite/mst]: the Merkle Search Tree, diffs and sync proofs.
//
// Encodings are byte-identical to the AT Protocol reference implementations: the
// same CIDs, the same CAR bytes for the same blocks, and signatures that verify
// anywhere.
package atlite
