package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atlite-dev/atlite/internal/testutil"
)

func TestFlagError(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"flag provided but not defined: -bogus", "unknown flag --bogus"},
		{"flag provided but not defined: -x", "unknown flag -x"},
		{"flag needs an argument: -o", "flag -o needs a value"},
		{"flag needs an argument: -limit", "flag --limit needs a value"},
		{`invalid value "x" for flag -limit: parse error`, `invalid value "x" for --limit: parse error`},
		{`invalid boolean value "x" for -json: parse error`, `invalid boolean value "x" for -json: parse error`},
	} {
		if got := flagError(errors.New(tc.in)); got != tc.want {
			t.Errorf("flagError(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTrimPrefixes(t *testing.T) {
	for _, tc := range []struct{ msg, name, want string }{
		{"import: invalid CAR: short", "verify", "invalid CAR: short"},
		{"export did:web:a.example: repo did:web:a.example is inactive (tombstoned)", "export", "repo did:web:a.example is inactive (tombstoned)"},
		{"commit to did:web:a.example: repo did:web:a.example is inactive", "create", "repo did:web:a.example is inactive"},
		{`set status of did:web:a.example to "": repo did:web:a.example is inactive`, "activate", "repo did:web:a.example is inactive"},
		// The DID is said once: the prefix stays.
		{"commit to did:web:a.example: create a.b.c/one: record exists", "create", "commit to did:web:a.example: create a.b.c/one: record exists"},
		{"plc publish: x", "plc publish", "x"},
	} {
		if got := trimPrefixes(tc.msg, tc.name); got != tc.want {
			t.Errorf("trimPrefixes(%q, %q) = %q, want %q", tc.msg, tc.name, got, tc.want)
		}
	}
}

// TestCommandHelp checks that "atlite COMMAND --help" and "atlite help
// COMMAND" print, on stdout with status 0, every flag of every command with
// its description.
func TestCommandHelp(t *testing.T) {
	for _, c := range commands {
		fl := flag.NewFlagSet(c.name, flag.ContinueOnError)
		globalFlags(fl, &env{})
		c.setup(fl, &env{})
		for _, args := range [][]string{append(strings.Fields(c.name), "--help"), append([]string{"help"}, strings.Fields(c.name)...)} {
			var out, errb bytes.Buffer
			if code := run(context.Background(), args, strings.NewReader(""), &out, &errb); code != 0 || errb.Len() > 0 {
				t.Errorf("atlite %s = %d, stderr %q; want 0 and nothing on stderr", strings.Join(args, " "), code, errb.String())
			}
			if !strings.HasPrefix(out.String(), "usage: atlite "+c.name) {
				t.Errorf("atlite %s does not start with the usage line:\n%s", strings.Join(args, " "), out.String())
			}
			fl.VisitAll(func(f *flag.Flag) {
				_, usage := flag.UnquoteUsage(f)
				if !strings.Contains(out.String(), "\n  "+dashes(f.Name)) || !strings.Contains(out.String(), usage) {
					t.Errorf("atlite %s lacks flag %s (%q):\n%s", strings.Join(args, " "), dashes(f.Name), usage, out.String())
				}
			})
		}
	}
}

// TestInterrupted checks that a cancelled run exits 1 and says so once.
func TestInterrupted(t *testing.T) {
	db := t.TempDir() + "/int.db"
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"--db", db, "demo", "--records", "5"}, strings.NewReader(""), &out, &errb)
	if code != 1 || !strings.HasPrefix(errb.String(), "atlite demo: interrupted") || strings.Count(errb.String(), "\n") != 1 {
		t.Errorf("cancelled demo = %d, stderr %q; want 1 and one line saying it was interrupted", code, errb.String())
	}
}

// TestExternalCheckpointsEnv: with $ATLITE_EXTERNAL_CHECKPOINTS=1 a
// command leaves its writes in the -wal for the replicating process (here a
// connection held open, as Litestream holds one, so that SQLite's own
// checkpoint at the last close does not run) to checkpoint; without it,
// the command's Close checkpoints the WAL into the file and truncates it.
func TestExternalCheckpointsEnv(t *testing.T) {
	t.Setenv("ATLITE_KEK", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	for _, ext := range []bool{false, true} {
		db := filepath.Join(t.TempDir(), "atlite.db")
		atlite := func(args ...string) {
			t.Helper()
			var out, errb bytes.Buffer
			if code := run(context.Background(), append([]string{"--db", db}, args...), strings.NewReader(`{"text": "hi"}`), &out, &errb); code != 0 {
				t.Fatalf("atlite %v = %d: %s", args, code, errb.String())
			}
		}
		atlite("init", "--did", "did:web:alice.example")
		other, err := testutil.OpenRawDB(db)
		if err != nil {
			t.Fatal(err)
		}
		if err := other.DB.Ping(); err != nil {
			t.Fatal(err)
		}
		if ext {
			t.Setenv("ATLITE_EXTERNAL_CHECKPOINTS", "1")
		}
		atlite("create", "did:web:alice.example", "com.example.note", "one")
		fi, err := os.Stat(db + "-wal")
		switch {
		case ext && (err != nil || fi.Size() == 0):
			t.Errorf("$ATLITE_EXTERNAL_CHECKPOINTS=1: -wal after create = %v, %v; want the commit's frames left in it", fi, err)
		case !ext && (err != nil || fi.Size() != 0):
			t.Errorf("without it: -wal after create = %v, %v; want it checkpointed and truncated", fi, err)
		}
		other.Close()
	}
}
