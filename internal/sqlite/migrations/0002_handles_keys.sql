-- atlite schema, version 2 (PRAGMA user_version = 2), applied to a version-1
-- file by Open. Before these statements run, Open clears duplicate handles in
-- Go (the oldest repo of a handle keeps it; each other repo loses it and gets
-- an #identity event saying so), so the unique index below can be built.

-- Handles are unique in the file (NULL, no handle, may repeat).
DROP INDEX repos_handle;
CREATE UNIQUE INDEX repos_handle ON repos (handle);

-- signing_pub: the did:key of the repo's signing key. It is the only key a
-- read-only mirror has: a repo imported without its private key stores an
-- empty signing_key (x'') and refuses writes. NULL on repos made by version 1,
-- whose public key is derived from the private one.
ALTER TABLE repos ADD COLUMN signing_pub TEXT;

-- plc_op: for a did:plc made on this host, its signed genesis operation
-- (DAG-CBOR), kept so that a publish that failed can be retried later.
ALTER TABLE repos ADD COLUMN plc_op BLOB;
