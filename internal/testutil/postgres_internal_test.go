package testutil

import (
	"context"
	"database/sql"
	"testing"

	"github.com/atlite-dev/atlite/internal/postgres"
)

// BenchmarkIsolation measures what PostgresURL chose between: a schema or
// a database for each test, made and dropped, empty or migrated.
func BenchmarkIsolation(b *testing.B) {
	ctx := context.Background()
	u := serverURL(b)
	schemaURL, err := testDatabase(u)
	if err != nil {
		b.Fatal(err)
	}
	schemaAdmin, err := admin(schemaURL.String())
	if err != nil {
		b.Fatal(err)
	}
	dbAdmin, err := admin(u.String())
	if err != nil {
		b.Fatal(err)
	}
	kinds := []struct {
		name         string
		create, drop func(ctx context.Context, name string) error
		url          func(name string) string
	}{
		{"schema",
			func(ctx context.Context, name string) error { return createSchema(ctx, schemaAdmin, name) },
			func(ctx context.Context, name string) error { return dropSchema(ctx, schemaAdmin, name) },
			func(name string) string {
				v := *schemaURL
				q := v.Query()
				q.Set("search_path", name)
				q.Set("application_name", name)
				v.RawQuery = q.Encode()
				return v.String()
			}},
		{"database",
			func(ctx context.Context, name string) error { return createDatabase(ctx, dbAdmin, name) },
			func(ctx context.Context, name string) error { return dropDatabase(ctx, dbAdmin, name) },
			func(name string) string { v := *u; v.Path = "/" + name; return v.String() }},
	}
	// A migrated template database, copied whole.
	tmpl := randomName()
	if err := createDatabase(ctx, dbAdmin, tmpl); err != nil {
		b.Fatal(err)
	}
	defer dropDatabase(ctx, dbAdmin, tmpl)
	tu := *u
	tu.Path = "/" + tmpl
	tdb, err := postgres.Connect(ctx, tu.String(), 1)
	if err != nil {
		b.Fatal(err)
	}
	if err := postgres.Migrate(ctx, tdb); err != nil {
		b.Fatal(err)
	}
	tdb.Close()
	b.Run("migrated-template-database", func(b *testing.B) {
		for b.Loop() {
			n := randomName()
			if _, err := dbAdmin.ExecContext(ctx, `CREATE DATABASE `+n+` TEMPLATE `+tmpl); err != nil {
				b.Fatal(err)
			}
			if err := dropDatabase(ctx, dbAdmin, n); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, k := range kinds {
		for _, migrate := range []bool{false, true} {
			name := k.name
			if migrate {
				name += "+migrate"
			}
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					n := randomName()
					if err := k.create(ctx, n); err != nil {
						b.Fatal(err)
					}
					if migrate {
						db, err := postgres.Connect(ctx, k.url(n), 1)
						if err != nil {
							b.Fatal(err)
						}
						if err := postgres.Migrate(ctx, db); err != nil {
							b.Fatal(err)
						}
						db.Close()
					}
					if err := k.drop(ctx, n); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func createDatabase(ctx context.Context, db *sql.DB, name string) error {
	_, err := db.ExecContext(ctx, `CREATE DATABASE `+name+` TEMPLATE template0 ENCODING 'UTF8'`)
	return err
}

func dropDatabase(ctx context.Context, db *sql.DB, name string) error {
	_, err := db.ExecContext(ctx, `DROP DATABASE `+name+` WITH (FORCE)`)
	return err
}
