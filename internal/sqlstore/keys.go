package sqlstore

import (
	"context"
	"fmt"

	"github.com/atlite-dev/atlite/internal/storage"
)

var (
	sealedKeysExistSQL = Q(`SELECT EXISTS (SELECT 1 FROM repos WHERE key_encrypted = 1)`)
	keyCountsSQL       = Q(`SELECT
	coalesce(sum(CASE WHEN length(signing_key) > 0 AND key_encrypted = 1 THEN 1 ELSE 0 END), 0) AS sealed,
	coalesce(sum(CASE WHEN length(signing_key) > 0 AND key_encrypted = 0 THEN 1 ELSE 0 END), 0) AS clear,
	coalesce(sum(CASE WHEN length(signing_key) = 0 THEN 1 ELSE 0 END), 0) AS mirror FROM repos`)
	repoKeysColumns      = `SELECT id, did, signing_key, rotation_key, key_encrypted FROM repos WHERE length(signing_key) > 0`
	repoKeysSQL          = Q(repoKeysColumns + ` ORDER BY id`)
	repoClearKeysSQL     = Q(repoKeysColumns + ` AND key_encrypted = 0 ORDER BY id`)
	sealRepoKeysSQL      = Q(`UPDATE repos SET signing_key = ?, rotation_key = ?, key_encrypted = 1 WHERE id = ?`)
	serverSecretsSQL     = Q(`SELECT name, value, encrypted FROM server_secrets ORDER BY name`)
	clearServerSecretSQL = Q(`SELECT name, value, encrypted FROM server_secrets WHERE encrypted = 0 ORDER BY name`)
	sealServerSecretSQL  = Q(`UPDATE server_secrets SET value = ?, encrypted = 1 WHERE name = ?`)
)

// SealedKeysExist implements storage.KeyReader.
func (t *Tx) SealedKeysExist(ctx context.Context) (bool, error) {
	var sealed bool
	err := t.get(ctx, &sealed, sealedKeysExistSQL)
	return sealed, err
}

// KeyCounts implements storage.KeyReader.
func (t *Tx) KeyCounts(ctx context.Context) (storage.KeyCountsRow, error) {
	var c storage.KeyCountsRow
	err := t.get(ctx, &c, keyCountsSQL)
	return c, err
}

// RepoKeys implements storage.KeyReader.
func (t *Tx) RepoKeys(ctx context.Context, clearOnly bool) ([]storage.RepoKeysRow, error) {
	var rows []storage.RepoKeysRow
	q := repoKeysSQL
	if clearOnly {
		q = repoClearKeysSQL
	}
	err := t.sel(ctx, &rows, q)
	return rows, err
}

// ServerSecrets implements storage.KeyReader.
func (t *Tx) ServerSecrets(ctx context.Context, clearOnly bool) ([]storage.ServerSecretRow, error) {
	var rows []storage.ServerSecretRow
	q := serverSecretsSQL
	if clearOnly {
		q = clearServerSecretSQL
	}
	err := t.sel(ctx, &rows, q)
	return rows, err
}

// SealRepoKeys implements storage.KeyWriter.
func (t *Tx) SealRepoKeys(ctx context.Context, id int64, signing, rotation []byte) error {
	_, err := t.exec(ctx, sealRepoKeysSQL, signing, rotation, id)
	return err
}

// SealServerSecret implements storage.KeyWriter.
func (t *Tx) SealServerSecret(ctx context.Context, name string, value []byte) error {
	_, err := t.exec(ctx, sealServerSecretSQL, value, name)
	return err
}

// SecureDelete implements storage.KeyWriter with the dialect's
// SecureDeleteOn and SecureDeleteOff, run in the transaction; it does
// nothing when they are empty.
func (t *Tx) SecureDelete(ctx context.Context, on bool) error {
	q := t.db.D.SecureDeleteOff
	if on {
		q = t.db.D.SecureDeleteOn
	}
	if q == "" {
		return nil
	}
	if _, err := t.tx.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("secure delete: %w", err)
	}
	return nil
}
