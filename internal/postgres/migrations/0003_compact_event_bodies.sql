-- atlite PostgreSQL schema, version 3: no table changes (SQLite's schema 5
-- does the same). From version 3 on, the body of a #commit event that
-- atlite writes is its compact form (the first byte 0x02; laid out in
-- eventbody.go) instead of the DAG-CBOR map, about a third of the bytes.
-- Bodies already stored stay as they are and are read as before. The
-- version changes so that a build that knows only version 2, which cannot
-- read the compact bodies, refuses the database.
SELECT 1;
