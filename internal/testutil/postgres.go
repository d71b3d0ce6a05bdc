package testutil

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// Environment variables of the backend matrix.
const (
	// EnvPostgres names a PostgreSQL server URL whose user may create
	// databases, such as
	// postgres://postgres@127.0.0.1:55432/postgres?sslmode=disable; unset,
	// the Postgres tests skip.
	EnvPostgres = "ATLITE_TEST_POSTGRES"
	// EnvBackend chooses the backend of the stores the tests open,
	// BackendSQLite (the default) or BackendPostgres.
	EnvBackend = "ATLITE_TEST_BACKEND"
)

// The backends [Backend] returns.
const (
	BackendSQLite   = "sqlite"
	BackendPostgres = "postgres"
)

// Backend returns the backend the tests run against: the value of
// ATLITE_TEST_BACKEND, BackendSQLite when it is unset.
func Backend() string {
	if b := os.Getenv(EnvBackend); b != "" {
		return b
	}
	return BackendSQLite
}

// testPrefix starts the name of every schema PostgresURL creates, and of
// the database that holds them.
const testPrefix = "atlite_test"

var (
	adminMu  sync.Mutex
	adminDBs = map[string]*sql.DB{} // by URL, kept for the process
)

// admin returns a small pool to the database at rawURL, kept for the
// process, for creating and dropping test databases and schemas.
func admin(rawURL string) (*sql.DB, error) {
	adminMu.Lock()
	defer adminMu.Unlock()
	if db, ok := adminDBs[rawURL]; ok {
		return db, nil
	}
	db, err := sql.Open("pgx", rawURL)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, err
	}
	adminDBs[rawURL] = db
	return db, nil
}

// redacted returns rawURL without its password.
func redacted(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

// serverURL returns the parsed ATLITE_TEST_POSTGRES, skipping the test
// when it is unset.
func serverURL(tb testing.TB) *url.URL {
	tb.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		tb.Skipf("%s is not set: no PostgreSQL server to test against (start one with: eval \"$(bash .ci/postgres.sh start)\")", EnvPostgres)
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		tb.Fatalf("%s=%s: want postgres://user@host:port/database", EnvPostgres, redacted(base))
	}
	return u
}

func randomName() string {
	b := make([]byte, 8)
	rand.Read(b)
	return testPrefix + "_" + hex.EncodeToString(b)
}

// PostgresURL returns the URL of a new empty schema, dropped when the test
// ends, on the server named by ATLITE_TEST_POSTGRES. It skips the test when
// ATLITE_TEST_POSTGRES is unset, and fails it when the server cannot be
// reached.
//
// The schema lives in the database atlite_test of that server (created
// when missing); the URL names that database, sets search_path to the
// schema alone and application_name to the schema's name. A schema costs
// under a millisecond where a database costs a third of a second (see the
// package's BenchmarkIsolation), and it isolates all that atlite keeps:
// tables, Migrate's lock (taken per schema) and, as long as the code under
// test names its LISTEN/NOTIFY channels after its schema
// (postgres.EventsChannel), notifications. At the end of the test the
// sessions of the URL's application_name are ended and the schema dropped.
// To clean up after killed runs: DROP DATABASE atlite_test.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	u := serverURL(tb)
	dbURL, err := testDatabase(u)
	if err != nil {
		tb.Fatalf("%s=%s: %v", EnvPostgres, u.Redacted(), err)
	}
	db, err := admin(dbURL.String())
	if err != nil {
		tb.Fatalf("%s: %v", dbURL.Redacted(), err)
	}
	name := randomName()
	if err := createSchema(context.Background(), db, name); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := dropSchema(context.Background(), db, name); err != nil {
			tb.Error(err)
		}
	})
	q := dbURL.Query()
	q.Set("search_path", name)
	q.Set("application_name", name)
	// pgx does not read + as a space in a query value, only %20.
	dbURL.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	return dbURL.String()
}

func createSchema(ctx context.Context, db *sql.DB, name string) error {
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA `+name); err != nil {
		return fmt.Errorf("create test schema %s: %w", name, err)
	}
	return nil
}

// dropSchema ends the sessions of application_name name, then drops the
// schema: a session left in a transaction would hold locks the drop waits
// for. A session that set another application_name and holds a lock makes
// the drop fail after 10 s rather than hang.
func dropSchema(ctx context.Context, db *sql.DB, name string) error {
	_, err := db.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()`, name)
	if err == nil {
		var tx *sql.Tx
		if tx, err = db.BeginTx(ctx, nil); err == nil {
			_, err = tx.ExecContext(ctx, `SET LOCAL lock_timeout = '10s'`)
			if err == nil {
				_, err = tx.ExecContext(ctx, `DROP SCHEMA `+name+` CASCADE`)
			}
			if err == nil {
				err = tx.Commit()
			} else {
				tx.Rollback()
			}
		}
	}
	if err != nil {
		return fmt.Errorf("drop test schema %s: %w", name, err)
	}
	return nil
}

var (
	testDBMu   sync.Mutex
	testDBDone = map[string]bool{} // server URLs whose atlite_test exists
)

// testDatabase makes sure the server at u has the database atlite_test,
// and returns its URL.
func testDatabase(u *url.URL) (*url.URL, error) {
	dbURL := *u
	dbURL.Path = "/" + testPrefix
	testDBMu.Lock()
	defer testDBMu.Unlock()
	if testDBDone[u.String()] {
		return &dbURL, nil
	}
	db, err := admin(u.String())
	if err != nil {
		return nil, err
	}
	var exists bool
	if err := db.QueryRow(`SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)`, testPrefix).Scan(&exists); err != nil {
		return nil, err
	}
	if !exists {
		// Test binaries of several packages may race here: the loser
		// finds the database made (duplicate_database or, from the
		// unique index of pg_database, unique_violation).
		_, err := db.Exec(`CREATE DATABASE ` + testPrefix + ` TEMPLATE template0 ENCODING 'UTF8'`)
		if err != nil && !strings.Contains(err.Error(), "42P04") && !strings.Contains(err.Error(), "23505") {
			return nil, fmt.Errorf("create database %s: %w", testPrefix, err)
		}
	}
	testDBDone[u.String()] = true
	return &dbURL, nil
}

// Main runs a package's tests, from its TestMain, on every backend the
// environment allows: first on Backend(), then, when ATLITE_TEST_POSTGRES is
// set and ATLITE_TEST_BACKEND is not, once more on Postgres by re-running
// the same test binary (os.Args) with ATLITE_TEST_BACKEND=postgres, its
// output streamed to this one's. It exits non-zero if either run failed.
//
//	func TestMain(m *testing.M) { testutil.Main(m) }
//
// The first run sets ATLITE_TEST_BACKEND=sqlite in its own environment, so
// processes the tests start inherit the backend and do not re-run. The
// second run gets what is left of -test.timeout, and writes the files of
// -test.coverprofile, -test.cpuprofile and the like with a ".postgres"
// suffix instead of overwriting the first run's. Listing (-test.list) and
// fuzzing run once. The go command's test cache sees the environment and
// files both runs read.
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run is Main without the exit: it returns the exit code, for a TestMain
// that hands its tests to another runner (testscript.Main takes anything
// with a Run() int method).
func Run(m interface{ Run() int }) int {
	return runMatrix(m.Run, os.Args, os.Stdout, os.Stderr)
}

// runMatrix is Main with its inputs and outputs as parameters; run runs the
// tests once and returns their exit code.
func runMatrix(run func() int, args []string, stdout, stderr io.Writer) int {
	backend := os.Getenv(EnvBackend)
	pgURL := os.Getenv(EnvPostgres)
	switch backend {
	case "", BackendSQLite:
	case BackendPostgres:
		if pgURL == "" {
			fmt.Fprintf(stderr, "testutil: %s=%s needs %s, a server URL\n", EnvBackend, backend, EnvPostgres)
			return 2
		}
	default:
		fmt.Fprintf(stderr, "testutil: %s=%q: want %s or %s\n", EnvBackend, backend, BackendSQLite, BackendPostgres)
		return 2
	}
	again := backend == "" && pgURL != "" && !runOnce(args[1:])
	if backend == "" {
		os.Setenv(EnvBackend, BackendSQLite)
	}
	start := time.Now()
	code := run()
	testlog := flagValue(args[1:], "test.testlogfile")
	if testlog != "" {
		// The decision above read both variables before the test log
		// started: record them, so that setting one invalidates cached
		// results.
		appendFile(testlog, []byte("getenv "+EnvPostgres+"\ngetenv "+EnvBackend+"\n"))
	}
	if !again {
		return code
	}
	fmt.Fprintf(stdout, "testutil: tests again with %s=%s\n", EnvBackend, BackendPostgres)
	cmd := exec.Command(args[0], childArgs(args[1:], time.Since(start))...)
	cmd.Env = append(os.Environ(), EnvBackend+"="+BackendPostgres)
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	setDeathSignal(cmd)
	childCode := runForwardingSignals(cmd, stderr)
	if testlog != "" {
		if b, err := os.ReadFile(testlog + ".postgres"); err == nil {
			appendFile(testlog, []byte(strings.TrimPrefix(string(b), "# test log\n")))
			os.Remove(testlog + ".postgres")
		}
	}
	if code != 0 {
		return code
	}
	return childCode
}

// runForwardingSignals runs cmd, passing it the interrupt, termination and
// quit signals this process gets meanwhile (the go command sends SIGQUIT
// when a test binary outlives its timeout), and returns its exit code.
func runForwardingSignals(cmd *exec.Cmd, stderr io.Writer) int {
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "testutil: run the tests on %s: %v\n", BackendPostgres, err)
		return 1
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			cmd.Process.Signal(s)
		case err := <-waited:
			if err == nil {
				return 0
			}
			if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() > 0 {
				return ee.ExitCode()
			}
			fmt.Fprintf(stderr, "testutil: the tests on %s: %v\n", BackendPostgres, err)
			return 1
		}
	}
}

// outputFlags are the test flags naming files the run writes.
var outputFlags = []string{"test.coverprofile", "test.cpuprofile", "test.memprofile",
	"test.blockprofile", "test.mutexprofile", "test.trace", "test.testlogfile"}

// runOnce reports whether the flags ask for something that must not run
// twice: listing the tests, fuzzing, or being a fuzzing worker.
func runOnce(args []string) bool {
	return flagValue(args, "test.list") != "" || flagValue(args, "test.fuzz") != "" ||
		flagValue(args, "test.fuzzworker") != ""
}

// boolFlags are the test flags that take no separate value.
var boolFlags = []string{"test.v", "test.short", "test.failfast", "test.paniconexit0",
	"test.fullpath", "test.fuzzworker", "test.benchmem"}

// splitFlag returns the name and value of the flag at args[i], written
// -name=value, or -name value (used then reports that args[i+1] was its
// value); ok is false when args[i] is not a flag.
func splitFlag(args []string, i int) (name, value string, used, ok bool) {
	if !strings.HasPrefix(args[i], "-") {
		return "", "", false, false
	}
	a := strings.TrimPrefix(strings.TrimPrefix(args[i], "-"), "-")
	if n, v, found := strings.Cut(a, "="); found {
		return n, v, false, true
	}
	if !contains(boolFlags, a) && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
		return a, args[i+1], true, true
	}
	return a, "true", false, true
}

// flagValue returns the value of the test flag name in args, or "".
func flagValue(args []string, name string) string {
	v := ""
	for i := 0; i < len(args); i++ {
		n, val, used, ok := splitFlag(args, i)
		if !ok {
			continue
		}
		if used {
			i++
		}
		if n == name {
			v = val
		}
	}
	return v
}

// childArgs returns the flags of the second run: output files get a
// ".postgres" suffix and -test.timeout what is left of it after elapsed.
func childArgs(args []string, elapsed time.Duration) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		n, v, used, ok := splitFlag(args, i)
		if !ok {
			out = append(out, args[i])
			continue
		}
		if used {
			i++
		}
		switch {
		case contains(outputFlags, n) && v != "":
			v += ".postgres"
		case n == "test.timeout":
			if d, err := time.ParseDuration(v); err == nil && d > 0 {
				v = max(d-elapsed, time.Second).String()
			}
		}
		out = append(out, "-"+n+"="+v)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// appendFile appends b to the file at path, which exists.
func appendFile(path string, b []byte) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return
	}
	f.Write(b)
	f.Close()
}
