package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/atlite-dev/atlite/internal/sqlstore"
	"github.com/atlite-dev/atlite/internal/storage"
)

// Options configure [Open]. The zero value means defaults.
type Options struct {
	// MaxConns is the size of the connection pool; 0 means
	// DefaultMaxConns.
	MaxConns int
	// NoCreate refuses a schema that holds no atlite store yet, with an
	// error wrapping fs.ErrNotExist, instead of creating the store.
	NoCreate bool
}

// Backend is a PostgreSQL database behind the storage contract: the shared
// SQL of internal/sqlstore with PostgreSQL's dialect, and a listener on the
// store's events channel that wakes tailing subscribers when any process
// appends an event.
type Backend struct {
	*sqlstore.DB
	l *Listener
}

// Dialect returns PostgreSQL's dialect for a store whose events are
// announced on channel: reads at REPEATABLE READ (one snapshot), writes at
// READ COMMITTED with the head row locked (FOR UPDATE), the seq from the
// locked seq_counter row, blocks written in key order so that concurrent
// commits sharing blocks cannot deadlock, and a NOTIFY after each event.
func Dialect(channel string) sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:           "postgres",
		ReadTxOptions:  &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
		ManyBlocksSQL:  `SELECT cid, data FROM blocks WHERE k IN (SELECT jsonb_array_elements_text(?::jsonb)::bigint)`,
		ForUpdate:      ` FOR UPDATE`,
		InsertEventSQL: InsertEventSQL,
		AfterEvent:     `SELECT pg_notify('` + strings.ReplaceAll(channel, `'`, `''`) + `', '')`,
		SortBlocks:     true,
		MultiRowBlocks: true,
		Conflict:       conflict,
		// EXCLUSIVE conflicts with the ROW EXCLUSIVE lock of every
		// transaction that inserts a block, and lets readers through.
		LockBlocksSQL: `LOCK TABLE blocks, blocks_overflow IN EXCLUSIVE MODE`,
		VacuumSQL:     `VACUUM (ANALYZE) blocks, blocks_overflow`,
	}
}

// conflict maps a unique violation of the handle or email index (another
// connection took the handle or email after this transaction checked it)
// to the storage error that means it.
func conflict(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" {
		return nil
	}
	switch pe.ConstraintName {
	case "repos_handle":
		return storage.ErrHandleTaken
	case "accounts_email":
		return storage.ErrEmailTaken
	}
	return nil
}

// Open connects to the database at rawURL, migrates its schema (the
// search_path's first schema) and returns the backend.
func Open(ctx context.Context, rawURL string, o Options) (*Backend, error) {
	db, err := Connect(ctx, rawURL, o.MaxConns)
	if err != nil {
		return nil, err
	}
	if o.NoCreate {
		v, err := SchemaVersionOf(ctx, db)
		if err == nil && v == 0 {
			err = fmt.Errorf("no atlite store in %s: %w", Redact(rawURL), fs.ErrNotExist)
		}
		if err != nil {
			db.Close()
			return nil, err
		}
	}
	if err := Migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	channel, err := EventsChannel(ctx, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	sdb, err := sqlstore.New(ctx, db, db, nil, Dialect(channel), false)
	if err != nil {
		return nil, fmt.Errorf("prepare statements: %w", err)
	}
	l, err := NewListener(ctx, rawURL, channel)
	if err != nil {
		sdb.Close()
		return nil, err
	}
	return &Backend{DB: sdb, l: l}, nil
}

// Wake returns a channel poked when an event may have been appended by any
// process (a notification on the store's channel, or a reconnection of the
// listener, after which events may have been missed).
func (b *Backend) Wake() <-chan struct{} { return b.l.C() }

// Close closes the listener and the pool.
func (b *Backend) Close() error {
	lerr := b.l.Close()
	if err := b.DB.Close(); err != nil {
		return err
	}
	return lerr
}

// Redact returns rawURL with its password, if any, replaced by xxxxx, for
// messages.
func Redact(rawURL string) string { return redactURL(rawURL) }
