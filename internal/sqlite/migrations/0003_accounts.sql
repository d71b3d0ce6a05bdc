-- atlite schema, version 3 (PRAGMA user_version = 3), applied to a version-2
-- file by Open: accounts, app passwords, sessions (refresh tokens) and server
-- secrets, for a PDS served from the file (accounts.go, sessions.go).
--
-- Nothing secret is stored in the clear: passwords are kept as hashes,
-- refresh tokens as the SHA-256 of their bytes, and server secrets sealed
-- with the key-encryption key when the store has one.

-- accounts: the login data of a repo, at most one row per repo. A repo
-- without a row here has no password and cannot sign in.
CREATE TABLE accounts (
	repo     INTEGER PRIMARY KEY REFERENCES repos (id) ON DELETE CASCADE,
	-- NULL when the account has no email; unique in the file whatever its
	-- case (ASCII case folding), stored as given.
	email    TEXT    UNIQUE COLLATE NOCASE,
	-- The argon2id hash of the password as a PHC string
	-- ($argon2id$v=19$m=...,t=...,p=...$salt$hash); NULL for no password.
	password TEXT,
	created  INTEGER NOT NULL,
	updated  INTEGER NOT NULL
);

-- app_passwords: the app passwords of a repo, by name. An app password is
-- 16 random base32 characters (80 bits), so it is kept as a fast hash:
-- SHA-256("atlite app password\x00" || did || "\x00" || password), which
-- finds it with one index lookup; privileged ones may reach sensitive
-- account state.
CREATE TABLE app_passwords (
	repo       INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
	name       TEXT    NOT NULL,
	hash       BLOB    NOT NULL,
	privileged INTEGER NOT NULL DEFAULT 0,
	created    INTEGER NOT NULL,
	PRIMARY KEY (repo, name)
) WITHOUT ROWID;
CREATE UNIQUE INDEX app_passwords_hash ON app_passwords (repo, hash);

-- sessions: one row per refresh token. The token (32 random bytes) is given
-- to the client once; only its SHA-256 is kept. Refreshing revokes the row
-- and adds one in the same chain (chain is the id of the chain's first row,
-- the login); presenting a revoked token revokes the whole chain, except
-- that a token rotated by a refresh stays usable for a grace period while
-- its chain is alive (two clients sharing a session, a retried refresh).
-- app_password is the name of the app password the session was opened
-- with, NULL for the main password; privileged is copied from it.
CREATE TABLE sessions (
	id           INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: access tokens name it
	repo         INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
	chain        INTEGER NOT NULL,
	token_hash   BLOB    NOT NULL UNIQUE,
	app_password TEXT,
	privileged   INTEGER NOT NULL DEFAULT 0,
	created      INTEGER NOT NULL,
	expires      INTEGER NOT NULL,
	revoked      INTEGER,                -- NULL while valid
	rotated      INTEGER NOT NULL DEFAULT 0 -- 1: revoked by the refresh that replaced it
);
CREATE INDEX sessions_repo ON sessions (repo, expires);
CREATE INDEX sessions_chain ON sessions (chain);

-- server_secrets: secrets of the server kept in the file, such as the key
-- that signs access tokens. When encrypted = 1 the value is
-- nonce(12) || AES-256-GCM(ciphertext), sealed with the key-encryption key
-- and the secret's name as additional data.
CREATE TABLE server_secrets (
	name      TEXT    PRIMARY KEY,
	value     BLOB    NOT NULL,
	encrypted INTEGER NOT NULL DEFAULT 0,
	created   INTEGER NOT NULL
) WITHOUT ROWID;

-- blob_uploads: which repo uploaded which blob, and when it last did, so
-- that a blob is served for a repo only while the repo cites it or is in
-- the grace period of its upload (getBlob). Rows of blobs since collected
-- are harmless: the blob itself is gone.
CREATE TABLE blob_uploads (
	repo     INTEGER NOT NULL REFERENCES repos (id) ON DELETE CASCADE,
	cid      BLOB    NOT NULL,
	uploaded INTEGER NOT NULL,
	PRIMARY KEY (repo, cid)
) WITHOUT ROWID;
