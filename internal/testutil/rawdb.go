package testutil

import (
	"context"
	"database/sql"
	"strings"

	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // the "sqlite" driver, for SQLite files

	"github.com/atlite-dev/atlite/internal/postgres"
)

// RawDB is a direct SQL connection to a store's database, for tests that
// look at or damage the stored rows: a SQLite file, or the PostgreSQL
// schema of a postgres:// URL (as MustOpenFileStore returns). Its Exec
// and QueryRow take ? placeholders on both.
type RawDB struct{ DB *sqlx.DB }

// OpenRawDB connects to the database at path (a file or a postgres://
// URL).
func OpenRawDB(path string) (RawDB, error) {
	if strings.HasPrefix(path, "postgres://") || strings.HasPrefix(path, "postgresql://") {
		db, err := postgres.Connect(context.Background(), path, 2)
		return RawDB{db}, err
	}
	db, err := sqlx.Open("sqlite", path)
	return RawDB{db}, err
}

// Exec runs q with args.
func (r RawDB) Exec(q string, args ...any) (sql.Result, error) {
	return r.DB.Exec(r.DB.Rebind(q), args...)
}

// QueryRow runs q with args.
func (r RawDB) QueryRow(q string, args ...any) *sql.Row {
	return r.DB.QueryRow(r.DB.Rebind(q), args...)
}

// Close closes the connection.
func (r RawDB) Close() error { return r.DB.Close() }

// SQLiteOnly skips, in the PostgreSQL half of the matrix, a test of what
// only SQLite has: the file and its locks, PRAGMA-versioned migrations,
// group commit.
func SQLiteOnly(tb interface{ Skip(...any) }, what string) {
	if Backend() == BackendPostgres {
		tb.Skip("SQLite only: " + what)
	}
}
