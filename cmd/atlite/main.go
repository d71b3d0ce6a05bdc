// Command atlite manages an atlite database: AT Protocol repositories in one
// SQLite file.
//
// Usage:
//
//	atlite [--db FILE] COMMAND [ARGS]
//
// The database defaults to ./atlite.db, or $ATLITE_DB when set. Run
// "atlite help" for the commands. Exit status: 0 on success, 1 on error, 2 on
// misuse.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
)

// usageError marks misuse: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

type command struct {
	name    string
	args    string
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// env is what every command gets: the database path and the standard streams.
type env struct {
	db     string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

var commands []command

func init() {
	commands = []command{
		{"init", "[--did DID] [--handle HANDLE] [--pds URL] [--plc URL] [--p256]", "create a repo with new keys (default DID: a did:plc derived offline)", cmdInit},
		{"repos", "[--after DID] [--limit N]", "list repos", cmdRepos},
		{"did", "DID", "print a repo's DID document with its signing key", cmdDID},
		{"create", "DID COLLECTION [RKEY] < record.json", "create a record (rkey defaults to a new TID)", cmdCreate},
		{"put", "DID COLLECTION RKEY < record.json", "create or update a record", cmdPut},
		{"delete", "DID COLLECTION RKEY", "delete a record", cmdDelete},
		{"apply", "DID < writes.jsonl", "apply JSON lines of writes as one commit", cmdApply},
		{"get", "DID COLLECTION RKEY", "print a record as JSON", cmdGet},
		{"ls", "DID [COLLECTION]", "list collections, or the records of one", cmdLs},
		{"export", "DID [--since REV] [-o FILE]", "write the repo as a CAR file", cmdExport},
		{"import", "FILE.car [--key did:key:...]", "import a repo from a CAR file", cmdImport},
		{"verify", "FILE.car [--key did:key:...]", "check a CAR file: hashes, MST, records, signature", cmdVerify},
		{"check", "", "verify the whole file: SQLite integrity, gapless seqs, every repo's tree and records", cmdCheck},
		{"log", "[--since SEQ] [--did DID] [--limit N]", "print events as JSON lines", cmdLog},
		{"deactivate", "DID", "deactivate a repo", statusCmd("deactivate")},
		{"activate", "DID", "activate a deactivated repo", statusCmd("activate")},
		{"tombstone", "DID", "tombstone a repo for good", statusCmd("tombstone")},
		{"demo", "[--records N]", "create a repo, write records, export and verify it", cmdDemo},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("atlite", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := os.Getenv("ATLITE_DB")
	if def == "" {
		def = "atlite.db"
	}
	db := fs.String("db", def, "database file ($ATLITE_DB, default ./atlite.db)")
	fs.Usage = func() { printUsage(stderr) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		printUsage(stderr)
		return 2
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	if name == "help" || name == "-h" || name == "--help" {
		printUsage(stdout)
		return 0
	}
	e := &env{db: *db, stdin: stdin, stdout: stdout, stderr: stderr}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		err := c.run(ctx, e, rest)
		var ue *usageError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "atlite %s: %v\nusage: atlite %s %s\n", c.name, err, c.name, c.args)
			return 2
		default:
			fmt.Fprintf(stderr, "atlite %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "atlite: unknown command %q (run \"atlite help\")\n", name)
	return 2
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: atlite [--db FILE] COMMAND [ARGS]\n\nAT Protocol repositories in one SQLite file (default ./atlite.db, or $ATLITE_DB).\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-11s %s\n  %-11s   %s\n", c.name, c.args, "", c.summary)
	}
}

// parseFlags parses a command's flags, allowing them before and after
// positional arguments, and checks the number of positional arguments.
func parseFlags(fs *flag.FlagSet, args []string, min, max int) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, usagef("flags: %s", flagNames(fs))
			}
			return nil, usagef("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) < min || (max >= 0 && len(pos) > max) {
		return nil, usagef("wrong number of arguments")
	}
	return pos, nil
}

func flagNames(fs *flag.FlagSet) string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, "--"+f.Name) })
	return strings.Join(names, " ")
}
