package atlite

import (
	"github.com/atlite-dev/atlite/internal/storage"
	"github.com/jmoiron/sqlx"
)

// SQL still in the root package, until its code moves behind the storage
// contract (internal/storage) into internal/sqlstore.
const (
	repoColumns  = `id, did, handle, head, data, rev, signing_key, rotation_key, key_encrypted, status, created, updated, signing_pub`
	repoByDIDSQL = `SELECT ` + repoColumns + ` FROM repos WHERE did = ?`
)

const (
	headSQL = `SELECT id, head, data, rev, signing_key, key_encrypted, status FROM repos WHERE did = ?`
)

// rtx and wtx wrap a transaction of s.view and s.update for code moved
// behind the storage contract, called from code that is not yet.
func (s *Store) rtx(tx *sqlx.Tx) storage.ReadTx  { return s.db.Wrap(tx, false) }
func (s *Store) wtx(tx *sqlx.Tx) storage.WriteTx { return s.db.Wrap(tx, true) }
