-- atlite PostgreSQL schema, version 4: the record index names the row of
-- each record's block (SQLite's schema 6 does the same).
--
-- records.b is the blocks.id of the row at records.k: the record's block
-- unless records.cid is set (the block is then in blocks_overflow). A
-- reader joins blocks by b, with b's row also at records.k, instead of by k
-- alone; a writer stores (SELECT id FROM blocks WHERE k = ...) after the
-- block.
ALTER TABLE records ADD COLUMN b bigint;

UPDATE records r SET b = x.id FROM blocks x WHERE x.k = r.k;
