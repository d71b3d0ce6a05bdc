package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/atlite-dev/atlite/did/didtest"
	"github.com/atlite-dev/atlite/internal/testutil"
	"github.com/rogpeppe/go-internal/testscript"
)

var update = flag.Bool("update", false, "rewrite the golden files of the scripts in testdata/script")

// TestMain lets the test binary run as the atlite command for the scripts,
// and runs the tests on SQLite and, when ATLITE_TEST_POSTGRES names a
// server, again on PostgreSQL (testutil.Run).
func TestMain(m *testing.M) {
	testscript.Main(matrix{m}, map[string]func(){
		"atlite": func() { os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// matrix runs m through testutil.Run, the two-backend matrix.
type matrix struct{ m *testing.M }

func (x matrix) Run() int { return testutil.Run(x.m) }

// TestScript runs testdata/script/*.txtar against the real binary. Each
// script gets a fake PLC directory on loopback in $PLC. In the PostgreSQL
// half of the matrix, $ATLITE_DB names a fresh PostgreSQL schema, so the
// commands that take the default database use it; the condition
// [postgres] marks what only holds for files.
func TestScript(t *testing.T) {
	pg := testutil.Backend() == testutil.BackendPostgres
	testscript.Run(t, testscript.Params{
		Condition: func(cond string) (bool, error) {
			if cond == "postgres" {
				return pg, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		UpdateScripts:       *update,
		Setup: func(env *testscript.Env) error {
			dir := didtest.NewDirectory()
			env.Defer(dir.Close)
			env.Setenv("PLC", dir.URL())
			env.Setenv("ATLITE_DB", "")
			name := "atlite.db" // the default database, as messages name it
			if pg {
				name = testutil.PostgresURL(t)
				env.Setenv("ATLITE_DB", name)
			}
			// DBRE and DBJSONRE match the name in text and in JSON.
			env.Setenv("DBRE", regexp.QuoteMeta(name))
			j, _ := json.Marshal(name)
			env.Setenv("DBJSONRE", regexp.QuoteMeta(strings.Trim(string(j), `"`)))
			env.Setenv("ATLITE_KEK", "")
			env.Setenv("PLC_HOST", "http://127.0.0.1:1")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){"gen": cmdGen, "exits": cmdExits, "grab": cmdGrab, "expand": cmdExpand},
	})
}

// cmdExits runs "exits N COMMAND ARGS..." and checks that COMMAND exits with
// status N; stdout and stderr are then checked as after exec.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits N COMMAND [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// cmdGrab runs "grab NAME REGEXP": it sets $NAME to the first group of
// REGEXP in the last command's stdout.
func cmdGrab(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: grab NAME REGEXP")
	}
	m := regexp.MustCompile(`(?m)` + args[1]).FindStringSubmatch(ts.ReadFile("stdout"))
	if len(m) < 2 {
		ts.Fatalf("grab: no match for %s in stdout", args[1])
	}
	ts.Setenv(args[0], m[1])
}

// cmdExpand runs "expand IN OUT": it copies IN to OUT with each ${VAR}
// replaced by its value (a bare $name, as in "$type", is left alone).
func cmdExpand(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: expand IN OUT")
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(varRef.ReplaceAllStringFunc(ts.ReadFile(args[0]), func(v string) string { return ts.Getenv(v[2 : len(v)-1]) })), 0o644))
}

var varRef = regexp.MustCompile(`\$\{\w+\}`)

// cmdGen writes test input: "gen writes N FILE" writes N lines of apply
// writes, "gen record BYTES FILE" a record of about BYTES bytes, and
// "gen line BYTES FILE" one apply line of about BYTES bytes.
func cmdGen(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: gen writes|record|line N FILE")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	var b strings.Builder
	switch args[0] {
	case "writes":
		for i := range n {
			fmt.Fprintf(&b, `{"action":"create","collection":"com.example.note","rkey":"r%d","record":{"n":%d}}`+"\n", i, i)
		}
	case "record":
		fmt.Fprintf(&b, `{"text":"%s"}`, strings.Repeat("x", n))
	case "line":
		fmt.Fprintf(&b, `{"action":"create","collection":"com.example.note","record":{"text":"%s"}}`+"\n", strings.Repeat("x", n))
	default:
		ts.Fatalf("gen: unknown kind %q", args[0])
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[2]), []byte(b.String()), 0o644))
}
