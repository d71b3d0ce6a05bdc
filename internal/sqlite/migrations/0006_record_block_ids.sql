-- atlite schema, version 6 (PRAGMA user_version = 6), applied to a version-5
-- file by Open: the record index names the row of each record's block.
--
-- records.b is the blocks.id of the row at records.k: the record's block
-- unless records.cid is set (the block is then in blocks_overflow). A reader
-- joins blocks by b (one table seek) instead of by k (a seek in blocks_k,
-- then one in the table): reading 100,000 records of a repo this way took
-- 1.4-1.8 us a record instead of 3.5-3.6 (modernc.org/sqlite). The join
-- also asks that the row found have records.k, so a b and a k that name
-- different blocks read as a record without its block, which Check reports.
-- A writer stores (SELECT id FROM blocks WHERE k = ?) after the block.
-- blocks.id never changes (it is the rowid of an INTEGER PRIMARY KEY:
-- VACUUM keeps it), and a record's block is live, so never collected while
-- the row exists.
ALTER TABLE records ADD COLUMN b INTEGER;

UPDATE records SET b = (SELECT x.id FROM blocks x WHERE x.k = records.k);
