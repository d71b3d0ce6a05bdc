-- atlite schema, version 4 (PRAGMA user_version = 4), applied to a version-3
-- file by Open: the record index stops repeating the CID of each record.
--
-- records.cid is NULL when the record's block is the row of blocks at
-- records.k, as it is for every record but one whose CID shares its 8-byte
-- key with another block's (odds about N^2/2^65 for N blocks): that record's
-- block is in blocks_overflow, and its row keeps the CID. A reader takes the
-- CID from blocks (coalesce(r.cid, b.cid)); a writer stores
-- (SELECT cid FROM blocks_overflow WHERE cid = ?), after the block. This
-- saves 36 bytes a record: 3.6 MB of a file of 100,000 records.
--
-- The copy keeps the CID of a record whose block is not at its key (a
-- damaged file), so that Check still names what is missing.
--
-- SQLite cannot drop a NOT NULL constraint in place, so the table is built
-- anew and the rows copied.
CREATE TABLE records_v4 (
	repo       INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
	collection TEXT    NOT NULL,
	rkey       TEXT    NOT NULL,
	cid        BLOB,                     -- NULL: the CID of the blocks row at k
	k          INTEGER NOT NULL,         -- blocks.k of the record's CID
	PRIMARY KEY (repo, collection, rkey)
) WITHOUT ROWID;

INSERT INTO records_v4 (repo, collection, rkey, cid, k)
SELECT r.repo, r.collection, r.rkey,
	CASE WHEN EXISTS (SELECT 1 FROM blocks b WHERE b.k = r.k AND b.cid = r.cid)
		AND NOT EXISTS (SELECT 1 FROM blocks_overflow o WHERE o.cid = r.cid)
	THEN NULL ELSE r.cid END,
	r.k
FROM records r ORDER BY r.repo, r.collection, r.rkey;

DROP TABLE records;
ALTER TABLE records_v4 RENAME TO records;
