package sqlstore

import (
	"context"
	"fmt"

	"github.com/atlite-dev/atlite/internal/storage"
)

// Emails are compared with lower() on both sides: SQLite's lower() folds
// ASCII only, as the NOCASE collation of its accounts.email column does,
// and PostgreSQL's accounts table has a unique index on lower(email).
var (
	repoByEmailSQL = Q(`SELECT ` + repoColumns + ` FROM repos WHERE id = (SELECT repo FROM accounts WHERE lower(email) = lower(?))`)
	emailOwnerSQL  = Q(`SELECT r.did FROM accounts a JOIN repos r ON r.id = a.repo WHERE lower(a.email) = lower(?) AND a.repo <> ?`)
	accountSQL     = Q(`SELECT repo, email, password, created, updated FROM accounts WHERE repo = ?`)
	insertAccount  = Q(`INSERT INTO accounts (repo, email, password, created, updated) VALUES (?, ?, ?, ?, ?)`)
	setPasswordSQL = Q(`INSERT INTO accounts (repo, password, created, updated) VALUES (?, ?, ?, ?)
ON CONFLICT (repo) DO UPDATE SET password = excluded.password, updated = excluded.updated`)
	setEmailSQL = Q(`INSERT INTO accounts (repo, email, created, updated) VALUES (?, ?, ?, ?)
ON CONFLICT (repo) DO UPDATE SET email = excluded.email, updated = excluded.updated`)

	appPasswordSQL       = Q(`SELECT repo, name, hash, privileged, created FROM app_passwords WHERE repo = ? AND name = ?`)
	appPasswordByHashSQL = Q(`SELECT repo, name, hash, privileged, created FROM app_passwords WHERE repo = ? AND hash = ?`)
	appPasswordsSQL      = Q(`SELECT repo, name, privileged, created FROM app_passwords WHERE repo = ? ORDER BY created DESC, name`)
	insertAppPasswordSQL = Q(`INSERT INTO app_passwords (repo, name, hash, privileged, created) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`)
	deleteAppPasswordSQL = Q(`DELETE FROM app_passwords WHERE repo = ? AND name = ?`)

	serverSecretSQL       = Q(`SELECT name, value, encrypted, created FROM server_secrets WHERE name = ?`)
	insertServerSecretSQL = Q(`INSERT INTO server_secrets (name, value, encrypted, created) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`)
)

// flag is a boolean as stored: an integer column, 0 or 1.
func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

// RepoByEmail implements storage.AccountReader.
func (t *Tx) RepoByEmail(ctx context.Context, email string) (storage.RepoRow, error) {
	var r storage.RepoRow
	err := t.get(ctx, &r, repoByEmailSQL, email)
	return r, err
}

// EmailOwner implements storage.AccountReader.
func (t *Tx) EmailOwner(ctx context.Context, email string, except int64) (string, error) {
	var d string
	err := t.get(ctx, &d, emailOwnerSQL, email, except)
	return d, err
}

// Account implements storage.AccountReader.
func (t *Tx) Account(ctx context.Context, repo int64) (storage.AccountRow, error) {
	var a storage.AccountRow
	err := t.get(ctx, &a, accountSQL, repo)
	return a, err
}

// InsertAccount implements storage.AccountWriter.
func (t *Tx) InsertAccount(ctx context.Context, a storage.AccountRow) error {
	if _, err := t.exec(ctx, insertAccount, a.Repo, a.Email, a.Password, a.Created, a.Updated); err != nil {
		return fmt.Errorf("insert account: %w", t.db.D.conflict(err))
	}
	return nil
}

// SetAccountPassword implements storage.AccountWriter.
func (t *Tx) SetAccountPassword(ctx context.Context, repo int64, hash string, now int64) error {
	if _, err := t.exec(ctx, setPasswordSQL, repo, hash, now, now); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	return nil
}

// SetAccountEmail implements storage.AccountWriter.
func (t *Tx) SetAccountEmail(ctx context.Context, repo int64, email *string, now int64) error {
	if _, err := t.exec(ctx, setEmailSQL, repo, email, now, now); err != nil {
		return fmt.Errorf("set email: %w", t.db.D.conflict(err))
	}
	return nil
}

// AppPassword implements storage.AccountReader.
func (t *Tx) AppPassword(ctx context.Context, repo int64, name string) (storage.AppPasswordRow, error) {
	var p storage.AppPasswordRow
	err := t.get(ctx, &p, appPasswordSQL, repo, name)
	return p, err
}

// AppPasswordByHash implements storage.AccountReader.
func (t *Tx) AppPasswordByHash(ctx context.Context, repo int64, hash []byte) (storage.AppPasswordRow, error) {
	var p storage.AppPasswordRow
	err := t.get(ctx, &p, appPasswordByHashSQL, repo, hash)
	return p, err
}

// AppPasswords implements storage.AccountReader.
func (t *Tx) AppPasswords(ctx context.Context, repo int64) ([]storage.AppPasswordRow, error) {
	var ps []storage.AppPasswordRow
	err := t.sel(ctx, &ps, appPasswordsSQL, repo)
	return ps, err
}

// InsertAppPassword implements storage.AccountWriter.
func (t *Tx) InsertAppPassword(ctx context.Context, p storage.AppPasswordRow) (bool, error) {
	res, err := t.exec(ctx, insertAppPasswordSQL, p.Repo, p.Name, p.Hash, flag(p.Privileged), p.Created)
	if err != nil {
		return false, fmt.Errorf("insert app password: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// DeleteAppPassword implements storage.AccountWriter.
func (t *Tx) DeleteAppPassword(ctx context.Context, repo int64, name string) (bool, error) {
	res, err := t.exec(ctx, deleteAppPasswordSQL, repo, name)
	if err != nil {
		return false, fmt.Errorf("delete app password: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// ServerSecret implements storage.AccountReader.
func (t *Tx) ServerSecret(ctx context.Context, name string) (storage.ServerSecretRow, error) {
	var s storage.ServerSecretRow
	err := t.get(ctx, &s, serverSecretSQL, name)
	return s, err
}

// InsertServerSecret implements storage.AccountWriter.
func (t *Tx) InsertServerSecret(ctx context.Context, s storage.ServerSecretRow) error {
	if _, err := t.exec(ctx, insertServerSecretSQL, s.Name, s.Value, flag(s.Encrypted), s.Created); err != nil {
		return fmt.Errorf("insert server secret: %w", err)
	}
	return nil
}
