package atlite

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/atlite-dev/atlite/internal/sqlstore"
	"github.com/atlite-dev/atlite/internal/storage"
)

// The internal tests of SQLite's own rows reach the SQL behind the
// storage contract through these.

// sqlDB returns the SQL database behind s (a SQLite store's).
func (s *Store) sqlDB() *sqlstore.DB {
	switch b := s.b.(type) {
	case *sqlstore.DB:
		return b
	default:
		panic("not a SQL store")
	}
}

// sqlUpdate runs fn in a write transaction of s.
func (s *Store) sqlUpdate(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	return s.b.Update(ctx, nil, func(tx storage.WriteTx) error { return fn(tx.(*sqlstore.Tx).SQL()) })
}
