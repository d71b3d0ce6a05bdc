-- atlite schema, version 5 (PRAGMA user_version = 5), applied to a version-4
-- file by Open: no table changes. From version 5 on, the body of a #commit
-- event that atlite writes is its compact form (the first byte 0x02; laid
-- out in eventbody.go) instead of the DAG-CBOR map: its blocks name the
-- records by their ops instead of repeating their CIDs, and its ops share
-- path prefixes, about a third of the bytes. Bodies already stored stay as
-- they are and are read as before. The version changes so that a build
-- that knows only version 4, which cannot read the compact bodies, refuses
-- the file instead of calling its new events damaged.
SELECT 1;
