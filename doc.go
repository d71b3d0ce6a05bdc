// Package atlite is an embedded, single-file, SQLite-backed store for AT Protocol
// (Bluesky) data repositories.
//
// Every repo of a host lives in one SQLite file, opened with [Open]. Each
// repository is a Merkle Search Tree (package [github.com/atlite-dev/atlite/mst])
// of records under signed commits (package [github.com/atlite-dev/atlite/commit]).
// [Store.Commit] is one SQL transaction that writes the commit's new blocks, the
// new head, the record index and exactly one event with the next sequence
// number, so nothing half-written survives a crash and a failed commit leaves
// no gap in the event stream.
//
// # Reading and writing
//
// [Store.CreateRepo] creates a repo and emits #identity, #account and its first
// #commit. [Store.Commit] applies up to [MaxWritesPerCommit] writes.
// [Store.GetRecord] and [Store.ListRecords] read records through an index kept
// in step with the tree. [Store.ExportCAR] streams a repo as a CAR file in the
// repository spec's block order from one read snapshot; [Store.ImportCAR]
// verifies and stores one, and [VerifyCAR] checks one without keeping it.
// [Store.Events] reads the event stream after a cursor and [Store.Subscribe]
// delivers new events as they commit, in seq order with no gap, whichever
// process wrote them ([Store.SubscribeWith] replays from a cursor first).
// [Store.Check] verifies a whole file.
//
// # Concurrency
//
// A [Store] is safe for concurrent use. Writes go through one SQLite
// connection (BEGIN IMMEDIATE), so commits are serialized, including with
// other processes that open the same file; reads use a pool of read-only
// connections in WAL mode and never wait for writers. Every read method sees
// one consistent snapshot.
//
// # Durability
//
// The file runs in WAL mode with synchronous=NORMAL by default: commits are
// atomic and the file stays consistent across crashes and power loss, but the
// last transactions before a power loss may be lost. [DurabilityFull] makes a
// commit durable when it returns, at a cost per commit.
//
// # On-disk format
//
// The schema (internal/sqlite/schema.sql and its migrations, embedded) is
// versioned with PRAGMA user_version and the file is marked with PRAGMA
// application_id [ApplicationID]. [Open] migrates older files, and refuses
// files of other applications ([ErrNotAtlite]) and of newer atlite versions
// ([ErrSchemaTooNew]). Blocks are stored once per file whichever repos cite
// them; CIDs are stored in binary. A PostgreSQL store ([OpenPostgres]) has
// the same tables (internal/postgres/migrations), marked and versioned in an
// atlite_meta table.
//
// # Engine and storage
//
// The root package is the engine: it validates writes, computes the new MST,
// signs commits, verifies imports and builds events, then hands each change
// to a backend (the contract is internal/storage) that stores it in one
// transaction. Both backends share one SQL implementation
// (internal/sqlstore) and differ in a Dialect: internal/sqlite and
// internal/postgres.
//
// # Caveats
//
//   - Blocks are not deleted by commits: records deleted from a repo, and
//     the nodes of old trees, stay in the file until [Store.GC] collects
//     them, once the events that carried them are pruned
//     ([Store.PruneEvents]; atlite serve does both every few minutes).
//     SQLite reuses the freed pages; [Store.Vacuum] shrinks the file.
//   - Private keys are stored in the file, sealed with AES-256-GCM only when
//     [Options.KeyEncryptionKey] is set.
//   - A live subscriber that falls behind its buffer is dropped
//     ([ErrSubscriberTooSlow]) rather than slow down commits; it resumes with
//     [Store.SubscribeWith] (Replay after its last seq). Events of other
//     processes reach a subscription within [Options.EventPollInterval].
//
// The building blocks are usable on their own:
//
//   - [github.com/atlite-dev/atlite/datamodel]: strict DAG-CBOR, CIDs and the atproto JSON data model;
//   - [github.com/atlite-dev/atlite/car]: streaming CAR v1 reader and writer;
//   - [github.com/atlite-dev/atlite/syntax]: validated identifiers (DID, handle, NSID, record key, TID, AT-URI, ...);
//   - [github.com/atlite-dev/atlite/keys]: K-256 and P-256 keys, signatures, did:key and Multikey;
//   - [github.com/atlite-dev/atlite/mst]: the Merkle Search Tree, diffs and sync proofs;
//   - [github.com/atlite-dev/atlite/commit]: signed commits, writes and revs;
//   - [github.com/atlite-dev/atlite/lexicon]: records checked against their lexicons.
//
// Encodings are byte-identical to the AT Protocol reference implementations:
// the same CIDs, the same CAR bytes for the same blocks, and signatures that
// verify anywhere.
package atlite
