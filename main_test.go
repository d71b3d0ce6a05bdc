package atlite_test

import (
	"flag"
	"testing"

	"github.com/atlite-dev/atlite/internal/sqlite"
	"github.com/atlite-dev/atlite/internal/testutil"
)

// streamImports runs every test's imports through the path a backend
// without ATTACH takes (the staged rows streamed into batched inserts)
// instead of SQLite's INSERT ... SELECT from the attached staging file:
//
//	go test -run 'Import|CAR|Export' . -args -import-stream
var streamImports = flag.Bool("import-stream", false, "store imports by streaming the staged rows, as a backend without ATTACH does")

// TestMain runs the tests on SQLite and, when ATLITE_TEST_POSTGRES names a
// server, again on PostgreSQL (testutil.Main).
func TestMain(m *testing.M) {
	flag.Parse()
	if *streamImports {
		sqlite.Dialect.StageImport = nil
	}
	testutil.Main(m)
}
