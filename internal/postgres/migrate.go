package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"
)

// ApplicationID marks atlite databases ("ATLT" in ASCII), the value of
// SQLite's PRAGMA application_id in atlite files, kept here in atlite_meta.
const ApplicationID = 0x41544c54

// SchemaVersion is the version of the PostgreSQL schema this build writes:
// the number of files in migrations/. It is numbered apart from the SQLite
// schema's user_version; version 1 holds what SQLite's version 3 does,
// version 2 what its version 4 does, version 3 what its version 5 does,
// and version 4 what its version 6 does.
const SchemaVersion = 4

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrations[i] takes a schema from version i to i+1; loaded from the
// embedded files, whose names start with their version (0001_init.sql).
var migrations = loadMigrations()

func loadMigrations() []string {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		panic("postgres: " + err.Error())
	}
	sort.Strings(names)
	var out []string
	for i, name := range names {
		n, err := strconv.Atoi(strings.SplitN(path.Base(name), "_", 2)[0])
		if err != nil || n != i+1 {
			panic(fmt.Sprintf("postgres: migration %s is not number %d", name, i+1))
		}
		b, err := migrationFiles.ReadFile(name)
		if err != nil {
			panic("postgres: " + err.Error())
		}
		out = append(out, string(b))
	}
	if len(out) != SchemaVersion {
		panic(fmt.Sprintf("postgres: %d migrations for schema version %d", len(out), SchemaVersion))
	}
	return out
}

// Migrate brings the schema of db (the first schema of its search_path) to
// SchemaVersion. Each step runs in a transaction of its own that first takes
// an advisory lock for that schema, then reads the version: two processes
// migrating at once apply each step once. A schema with tables but no
// atlite mark is refused with an error wrapping [ErrNotAtlite], and one of
// a newer version with [ErrSchemaTooNew]; neither is changed.
func Migrate(ctx context.Context, db *sqlx.DB) error {
	for {
		done, err := migrateStep(ctx, db)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

const (
	// lockSQL serializes migrations of one schema of one database; other
	// schemas of the database migrate in parallel.
	lockSQL = `SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`
	// schemaSQL names the schema the migration writes to, and says whether
	// it has atlite's mark and how many relations it holds.
	schemaSQL = `SELECT current_schema(), ` + markedSQL + `,
	(SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	 WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S'))`
	// markedSQL says whether the current schema itself (not another one of
	// the search_path) has an atlite_meta table.
	markedSQL  = `to_regclass(quote_ident(current_schema()) || '.atlite_meta') IS NOT NULL`
	metaSQL    = `SELECT application_id, schema_version FROM atlite_meta WHERE id = 1`
	setMetaSQL = `INSERT INTO atlite_meta (id, application_id, schema_version) VALUES (1, $1, $2)
ON CONFLICT (id) DO UPDATE SET application_id = excluded.application_id, schema_version = excluded.schema_version`
)

func migrateStep(ctx context.Context, db *sqlx.DB) (done bool, err error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, lockSQL, ApplicationID); err != nil {
		return false, fmt.Errorf("migrate: lock: %w", err)
	}
	var (
		schema sql.NullString
		marked bool
		rels   int
	)
	if err := tx.QueryRowxContext(ctx, schemaSQL).Scan(&schema, &marked, &rels); err != nil {
		return false, fmt.Errorf("migrate: read schema: %w", err)
	}
	if !schema.Valid {
		return false, errors.New("migrate: no schema of the search_path exists to create the tables in")
	}
	version := 0
	if marked {
		var appID int64
		err := tx.QueryRowxContext(ctx, metaSQL).Scan(&appID, &version)
		if errors.Is(err, sql.ErrNoRows) {
			return false, fmt.Errorf("%w: schema %s has an empty atlite_meta table", ErrNotAtlite, schema.String)
		}
		if err != nil {
			return false, fmt.Errorf("%w: schema %s: read atlite_meta: %v", ErrNotAtlite, schema.String, err)
		}
		if appID != ApplicationID {
			return false, fmt.Errorf("%w: schema %s has application id %#x", ErrNotAtlite, schema.String, appID)
		}
	} else if rels > 0 {
		return false, fmt.Errorf("%w: schema %s has %d tables and no atlite mark", ErrNotAtlite, schema.String, rels)
	}
	if version > SchemaVersion {
		return false, fmt.Errorf("%w: schema %s has version %d, this build knows up to %d", ErrSchemaTooNew, schema.String, version, SchemaVersion)
	}
	if version < 0 {
		return false, fmt.Errorf("%w: schema %s has version %d", ErrNotAtlite, schema.String, version)
	}
	if version == SchemaVersion {
		return true, tx.Commit()
	}
	// A text without arguments goes through the simple protocol, which
	// runs several statements.
	if _, err := tx.ExecContext(ctx, migrations[version]); err != nil {
		return false, fmt.Errorf("migrate schema %s to version %d: %w", schema.String, version+1, err)
	}
	if _, err := tx.ExecContext(ctx, setMetaSQL, ApplicationID, version+1); err != nil {
		return false, fmt.Errorf("migrate schema %s to version %d: mark: %w", schema.String, version+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrate schema %s to version %d: %w", schema.String, version+1, err)
	}
	return false, nil
}

// SchemaVersionOf returns the version recorded in db's atlite_meta, or 0
// when the schema has no atlite mark.
func SchemaVersionOf(ctx context.Context, db *sqlx.DB) (int, error) {
	var marked bool
	if err := db.QueryRowxContext(ctx, `SELECT coalesce(`+markedSQL+`, false)`).Scan(&marked); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	if !marked {
		return 0, nil
	}
	var v int
	err := db.QueryRowxContext(ctx, `SELECT schema_version FROM atlite_meta WHERE id = 1`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v, nil
}
