// Package testutil holds helpers shared by atlite's tests.
package testutil

import (
	"testing"
	"time"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/keys"
)

// MustOpenStore opens a store closed at the end of the test: an in-memory
// SQLite store or, when Backend is "postgres", a store in a fresh schema
// of the PostgreSQL server of ATLITE_TEST_POSTGRES (PostgresURL).
func MustOpenStore(tb testing.TB, opts *atlite.Options) *atlite.Store {
	tb.Helper()
	path := ":memory:"
	if Backend() == BackendPostgres {
		path = PostgresURL(tb)
	}
	s, err := atlite.Open(path, opts)
	if err != nil {
		tb.Fatalf("Open(%s) = %v", path, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// MustOpenFileStore opens a store in a file under tb.TempDir and returns it
// with its path; when Backend is "postgres", the path is the URL of a
// fresh PostgreSQL schema (PostgresURL), which Open opens again.
func MustOpenFileStore(tb testing.TB, opts *atlite.Options) (*atlite.Store, string) {
	tb.Helper()
	path := tb.TempDir() + "/atlite.db"
	if Backend() == BackendPostgres {
		path = PostgresURL(tb)
	}
	s, err := atlite.Open(path, opts)
	if err != nil {
		tb.Fatalf("Open(%s) = %v", path, err)
	}
	tb.Cleanup(func() { s.Close() })
	return s, path
}

// TestKey is the K-256 key with private scalar 2349872879569, the key of
// arroba's tests.
func TestKey(tb testing.TB) keys.PrivateKey {
	tb.Helper()
	k, err := keys.K256FromSeed(2349872879569)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// Now is the fixed time of arroba's tests, 2022-01-02T03:04:05Z.
var Now = time.Date(2022, 1, 2, 3, 4, 5, 0, time.UTC)

// FixedClock returns a time source that starts at Now and advances one
// microsecond a call, so revs and TIDs are reproducible.
func FixedClock() func() time.Time {
	t := Now
	return func() time.Time {
		t = t.Add(time.Microsecond)
		return t
	}
}
