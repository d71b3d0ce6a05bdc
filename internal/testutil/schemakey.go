package testutil

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
)

// SchemaKey names the SQLite schema a benchmark template was made with: a
// digest of internal/sqlite's schema.sql and of every migration, read from
// the module root root (".." from a package one level down). A template
// kept between runs under this key is rebuilt when a migration is added,
// instead of being migrated again at every open.
func SchemaKey(root string) string {
	h := sha256.New()
	files, _ := filepath.Glob(filepath.Join(root, "internal", "sqlite", "migrations", "*.sql"))
	for _, f := range append([]string{filepath.Join(root, "internal", "sqlite", "schema.sql")}, files...) {
		b, _ := os.ReadFile(f)
		fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(b))
		h.Write(b)
	}
	return fmt.Sprintf("%x", h.Sum(nil)[:6])
}
