-- atlite PostgreSQL schema, version 2: the record index stops repeating the
-- CID of each record (SQLite's schema 4 does the same).
--
-- records.cid is NULL when the record's block is the row of blocks at
-- records.k, as it is for every record but one whose CID shares its 8-byte
-- key with another block's: that record's block is in blocks_overflow, and
-- its row keeps the CID. A reader takes the CID from blocks
-- (coalesce(r.cid, b.cid)); a writer stores
-- (SELECT cid FROM blocks_overflow WHERE cid = ?), after the block. Rows
-- whose block is not at its key (a damaged database) keep their CID, so that
-- Check still names what is missing.
ALTER TABLE records ALTER COLUMN cid DROP NOT NULL;

UPDATE records r SET cid = NULL
WHERE EXISTS (SELECT 1 FROM blocks b WHERE b.k = r.k AND b.cid = r.cid)
AND NOT EXISTS (SELECT 1 FROM blocks_overflow o WHERE o.cid = r.cid);
