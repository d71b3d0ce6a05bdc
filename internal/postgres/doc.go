// Package postgres holds the PostgreSQL pieces of atlite's second backend:
// connecting through pgx's database/sql adapter so that sqlx works as it
// does on SQLite ([Connect]), the versioned and marked schema ([Migrate]),
// the firehose's sequence ([AllocSeq]) and LISTEN/NOTIFY ([Notify],
// [Listener]).
//
// # Schema
//
// The schema has the tables, columns and meanings of the SQLite schema at
// its version 3, so that one SQL text with ? placeholders, rebound by sqlx
// for pgx ($1, $2, ...), runs on both databases. Text columns use
// COLLATE "C", which orders by bytes as SQLite does. Its versions are
// numbered on their own, from 1 ([SchemaVersion]), in the table atlite_meta
// that also holds [ApplicationID]: [Migrate] refuses a schema with tables
// and no mark ([ErrNotAtlite]) or a newer version ([ErrSchemaTooNew]).
//
// The schema lives in the first schema of the connection's search_path
// (public by default); a database may hold several atlite stores in
// several schemas, each migrated on its own.
//
// # Sequence and notifications
//
// events.seq comes from the one-row table seq_counter, allocated inside the
// transaction that writes the event ([AllocSeq], [InsertEventSQL]): the row
// lock is held until that transaction ends, so seqs are gapless and
// increase in commit order with any number of writing processes, at the
// cost of serializing the commits' last step on that row. A commit may
// announce itself with [Notify], delivered when it commits; a [Listener]
// turns the notifications into wake-ups for a reader of the events table.
//
// # Concurrency
//
// Every function is safe for concurrent use, and so is a [Listener]. Two
// processes may run [Migrate] on one database at once: one applies each
// step, the other then finds it applied.
package postgres
