package testutil_test

import (
	"context"
	"os"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/atlite-dev/atlite/internal/postgres"
	"github.com/atlite-dev/atlite/internal/testutil"
)

var ctx = context.Background()

func TestMain(m *testing.M) { testutil.Main(m) }

// TestBackend runs in both runs of the matrix: the first one on SQLite,
// the second, started by Main when ATLITE_TEST_POSTGRES is set, on
// Postgres.
func TestBackend(t *testing.T) {
	got := testutil.Backend()
	if env := os.Getenv(testutil.EnvBackend); got != env {
		t.Errorf("Backend() = %q with %s=%q, want the variable (Main sets it)", got, testutil.EnvBackend, env)
	}
	if got != testutil.BackendSQLite && got != testutil.BackendPostgres {
		t.Errorf("Backend() = %q", got)
	}
	t.Logf("backend %s", got)
	t.Setenv(testutil.EnvBackend, "")
	if got := testutil.Backend(); got != testutil.BackendSQLite {
		t.Errorf("Backend() with %s unset = %q, want %q", testutil.EnvBackend, got, testutil.BackendSQLite)
	}
}

func TestPostgresURLSkips(t *testing.T) {
	var sub *testing.T
	reached := false
	t.Run("unset", func(t *testing.T) {
		sub = t
		t.Setenv(testutil.EnvPostgres, "")
		testutil.PostgresURL(t)
		reached = true
	})
	if !sub.Skipped() || reached {
		t.Errorf("PostgresURL without %s: skipped %v, returned %v; want a skip", testutil.EnvPostgres, sub.Skipped(), reached)
	}
}

func connect(tb testing.TB, dsn string) *sqlx.DB {
	tb.Helper()
	db, err := postgres.Connect(ctx, dsn, 2)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestPostgresURLIsolates(t *testing.T) {
	a := connect(t, testutil.PostgresURL(t))
	b := connect(t, testutil.PostgresURL(t))
	var sa, sb, pathA string
	if err := a.QueryRowxContext(ctx, `SELECT current_schema(), current_setting('search_path')`).Scan(&sa, &pathA); err != nil {
		t.Fatal(err)
	}
	if err := b.QueryRowxContext(ctx, `SELECT current_schema()`).Scan(&sb); err != nil {
		t.Fatal(err)
	}
	if sa == sb || pathA != sa {
		t.Errorf("schemas %q and %q, search_path %q: want two schemas, the path naming only the first", sa, sb, pathA)
	}
	for _, db := range []*sqlx.DB{a, b} {
		if err := postgres.Migrate(ctx, db); err != nil {
			t.Fatalf("Migrate = %v", err)
		}
	}
	if _, err := a.ExecContext(ctx, `INSERT INTO sequences (nsid, next) VALUES ('x', 7)`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.QueryRowxContext(ctx, `SELECT count(*) FROM sequences`).Scan(&n); err != nil || n != 0 {
		t.Errorf("the other schema's sequences: %d rows, %v; want 0", n, err)
	}
}

// TestPostgresURLDrops leaves a session inside a transaction that holds a
// lock on a table of the schema: the cleanup must end it and drop the
// schema.
func TestPostgresURLDrops(t *testing.T) {
	other := connect(t, testutil.PostgresURL(t))
	var schema string
	t.Run("leaky", func(t *testing.T) {
		db, err := postgres.Connect(ctx, testutil.PostgresURL(t), 1) // not closed
		if err != nil {
			t.Fatal(err)
		}
		if err := postgres.Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		tx, err := db.BeginTxx(ctx, nil) // never ends
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.QueryRowxContext(ctx, `SELECT current_schema() FROM repos FOR UPDATE`).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, `LOCK TABLE repos IN ACCESS EXCLUSIVE MODE`); err != nil {
			t.Fatal(err)
		}
		if err := tx.QueryRowxContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			t.Fatal(err)
		}
	})
	if schema == "" {
		t.Fatal("no schema")
	}
	var exists bool
	if err := other.QueryRowxContext(ctx, `SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil || exists {
		t.Errorf("schema %s after its test: exists %v (%v), want dropped", schema, exists, err)
	}
}
