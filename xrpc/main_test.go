package xrpc

import (
	"testing"

	"github.com/atlite-dev/atlite/internal/testutil"
)

// TestMain runs the tests on SQLite and, when ATLITE_TEST_POSTGRES names a
// server, again on PostgreSQL (testutil.Main).
func TestMain(m *testing.M) { testutil.Main(m) }
