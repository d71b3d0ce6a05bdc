package testutil_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/atlite-dev/atlite/internal/testutil"
)

// TestSchemaKey: the key changes when the schema or a migration changes or
// a migration is added, and only then.
func TestSchemaKey(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "internal", "sqlite", "migrations")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(path, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(root, "internal", "sqlite", path), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("schema.sql", "CREATE TABLE a (x);")
	k1 := testutil.SchemaKey(root)
	if k := testutil.SchemaKey(root); k != k1 || len(k) != 12 {
		t.Fatalf("SchemaKey = %q then %q, want the same 12 hex digits", k1, k)
	}
	write("migrations/0002_b.sql", "CREATE TABLE b (y);")
	k2 := testutil.SchemaKey(root)
	write("migrations/0002_b.sql", "CREATE TABLE b (z);")
	k3 := testutil.SchemaKey(root)
	write("schema.sql", "CREATE TABLE a (w);")
	k4 := testutil.SchemaKey(root)
	seen := map[string]bool{}
	for _, k := range []string{k1, k2, k3, k4} {
		if seen[k] {
			t.Errorf("keys %q %q %q %q repeat", k1, k2, k3, k4)
		}
		seen[k] = true
	}
	// The real one reads this module's files.
	if testutil.SchemaKey("../..") == testutil.SchemaKey(root) {
		t.Error("the module's schema has the test's key")
	}
}
