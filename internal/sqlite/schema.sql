-- atlite schema, version 1 (PRAGMA user_version = 1).
--
-- One file holds every repository of a host. The file is marked with
-- PRAGMA application_id = 0x41544c54 ("ATLT"); Open refuses files with another
-- id, and files whose user_version is newer than it knows. Later versions are
-- added as migrations/NNNN_name.sql and never edit this file.
--
-- Conventions: CIDs are stored as binary CIDv1 bytes (36 bytes for sha2-256),
-- times as Unix microseconds (UTC), DIDs and handles as text.

-- repos: one row per repository (account) hosted in this file.
CREATE TABLE repos (
	id           INTEGER PRIMARY KEY,
	did          TEXT    NOT NULL UNIQUE,
	handle       TEXT,                   -- NULL when the repo has no handle
	head         BLOB    NOT NULL,       -- CID of the current signed commit
	data         BLOB    NOT NULL,       -- CID of the MST root of that commit
	rev          TEXT    NOT NULL,       -- rev (TID) of that commit
	-- Private keys as multibase strings (multicodec + 32-byte scalar).
	-- When key_encrypted = 1 each value is nonce(12) || AES-256-GCM(ciphertext),
	-- sealed with the key-encryption key and the DID as additional data.
	signing_key  BLOB    NOT NULL,
	rotation_key BLOB,
	key_encrypted INTEGER NOT NULL DEFAULT 0,
	-- NULL when active; otherwise the #account status: deactivated, takendown,
	-- suspended, deleted or tombstoned (deleted and tombstoned are final).
	status       TEXT,
	created      INTEGER NOT NULL,
	updated      INTEGER NOT NULL
);
CREATE INDEX repos_handle ON repos (handle);

-- blocks: content-addressed blocks (commits, MST nodes, records), each stored
-- once for the whole file whichever repos reference it. The rowid grows with
-- inserts; k is the first 8 bytes of the CID's sha2-256 digest as a signed
-- big-endian integer, a compact unique key (a lookup checks cid too). Two
-- different CIDs whose digests share their first 8 bytes (odds about
-- N^2/2^65 for N blocks) cannot both have a row here: the second one goes to
-- blocks_overflow.
CREATE TABLE blocks (
	id   INTEGER PRIMARY KEY,
	k    INTEGER NOT NULL,
	cid  BLOB    NOT NULL,
	data BLOB    NOT NULL
);
CREATE UNIQUE INDEX blocks_k ON blocks (k);

-- blocks_overflow: blocks whose k is taken by another CID in blocks.
CREATE TABLE blocks_overflow (
	cid  BLOB PRIMARY KEY,
	data BLOB NOT NULL
) WITHOUT ROWID;

-- records: the current records of each repo, from (repo, collection, rkey) to
-- the record's CID; kept in step with the MST in the same transaction so
-- reads need not walk the tree.
CREATE TABLE records (
	repo       INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
	collection TEXT    NOT NULL,
	rkey       TEXT    NOT NULL,
	cid        BLOB    NOT NULL,
	k          INTEGER NOT NULL,         -- blocks.k of cid, to join blocks
	PRIMARY KEY (repo, collection, rkey)
) WITHOUT ROWID;

-- sequences: gapless counters by NSID; next is the next value to hand out.
-- The firehose's own sequence (com.atproto.sync.subscribeRepos) is not kept
-- here: it is events.seq, allocated as max(seq) + 1 by the transaction that
-- writes the event.
CREATE TABLE sequences (
	nsid TEXT    PRIMARY KEY,
	next INTEGER NOT NULL
) WITHOUT ROWID;

-- events: the event stream (subscribeRepos), one row per sequence number;
-- seqs run 1, 2, 3, ... with no gap.
-- kind is commit, identity, account or sync; body is the DAG-CBOR map of the
-- kind's fields (for commits: rev, since, commit, prevData, ops and the CIDs
-- of the blocks a firehose frame carries, which live in blocks).
CREATE TABLE events (
	seq  INTEGER PRIMARY KEY,
	did  TEXT    NOT NULL,
	kind TEXT    NOT NULL,
	time INTEGER NOT NULL,
	rev  TEXT,                           -- commit and sync events
	body BLOB    NOT NULL
);
CREATE INDEX events_did ON events (did, seq);

-- remote_blobs: blobs served from a public URL that this host does not store.
CREATE TABLE remote_blobs (
	url          TEXT    PRIMARY KEY,
	cid          BLOB,                   -- raw-codec CID once fetched
	size         INTEGER,
	mime_type    TEXT    NOT NULL DEFAULT 'application/octet-stream',
	width        INTEGER,
	height       INTEGER,
	duration_ms  INTEGER,
	status       TEXT,                   -- NULL active, 'inactive'
	last_fetched INTEGER,
	created      INTEGER NOT NULL,
	updated      INTEGER NOT NULL
);

-- remote_blob_repos: which repos reference each remote blob.
CREATE TABLE remote_blob_repos (
	url  TEXT NOT NULL REFERENCES remote_blobs (url) ON DELETE CASCADE,
	did  TEXT NOT NULL,
	PRIMARY KEY (url, did)
) WITHOUT ROWID;

-- ---------------------------------------------------------------------------
-- Local blobs (blobs.go, blobs_local.go). Uploaded blob bytes live in this
-- file, content-addressed and shared by every repo of the file.
-- ---------------------------------------------------------------------------

-- blobs: one row per stored blob. cid is the raw-codec CID, NULL while an
-- upload is in progress (its chunks are being written). uploaded is the time
-- of the last upload of these bytes, or of the last chunk written for an
-- upload in progress: the grace period of GCBlobs starts there.
CREATE TABLE blobs (
	id        INTEGER PRIMARY KEY,
	cid       BLOB    UNIQUE,
	mime_type TEXT    NOT NULL,
	size      INTEGER NOT NULL,          -- bytes (so far, while uploading)
	uploaded  INTEGER NOT NULL
);
CREATE INDEX blobs_uploaded ON blobs (uploaded);

-- blob_chunks: a blob's bytes in chunks of 256 KiB (the last one shorter),
-- n = 0, 1, ... A rowid table: chunks are large, so they stay out of the
-- index b-tree.
CREATE TABLE blob_chunks (
	blob INTEGER NOT NULL REFERENCES blobs (id) ON DELETE CASCADE,
	n    INTEGER NOT NULL,
	data BLOB    NOT NULL,
	PRIMARY KEY (blob, n)
);

-- blob_refs: the blobs each current record cites (maps with $type "blob"
-- and a ref link, and legacy {cid, mimeType} maps), kept in step with the
-- records in the commit transaction. cid need not be stored here (a record
-- may cite a blob never uploaded, or one served elsewhere). rev is the rev
-- of the commit (or import) that wrote the record.
CREATE TABLE blob_refs (
	repo INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
	path TEXT    NOT NULL,               -- collection/rkey of the record
	cid  BLOB    NOT NULL,
	rev  TEXT,
	PRIMARY KEY (repo, path, cid)
) WITHOUT ROWID;
CREATE INDEX blob_refs_cid ON blob_refs (cid);
CREATE INDEX blob_refs_repo_cid ON blob_refs (repo, cid);
