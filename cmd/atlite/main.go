// Command atlite manages an atlite database: AT Protocol repositories in one
// SQLite file.
//
// Usage:
//
//	atlite [--db FILE] [--json] [--quiet] COMMAND [ARGS]
//
// The database defaults to ./atlite.db, or $ATLITE_DB when set. Run
// "atlite help" for the commands and "atlite help COMMAND" for one command's
// flags. Exit status: 0 on success, 1 on error, 2 on misuse.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
)

// usageError marks misuse: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// command is one atlite command. Commands of a group ("car ls") are named
// with a space.
type command struct {
	name     string
	args     string // synopsis of the positional arguments and main flags
	summary  string
	min, max int  // number of positional arguments; max < 0: no limit
	create   bool // may create the database file
	// setup registers the command's flags on fl and returns the function
	// that runs it with the positional arguments.
	setup func(fl *flag.FlagSet, e *env) func(ctx context.Context, pos []string) error
}

// env is what every command gets: the global flags and the standard streams.
type env struct {
	db     string
	dbSet  bool // --db was given
	json   bool
	quiet  bool
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	cmd    *command
	warned bool // the unsealed-keys warning was printed
	// extCheckpoints opens the file with Options.ExternalCheckpoints
	// (serve --external-checkpoints, or $ATLITE_EXTERNAL_CHECKPOINTS=1).
	extCheckpoints bool
	// progs are the progress reports started; run stops them all before it
	// writes the command's outcome, whichever path the command returned by.
	progs []*progress
}

var commands []*command

// groups are the commands that take a subcommand.
var groups = map[string]string{
	"blob": "store and read blobs",
	"car":  "look into a CAR file",
	"keys": "seal and rotate the private keys of the file",
	"plc":  "publish and update a did:plc at a PLC directory",
}

func init() {
	commands = []*command{
		{name: "init", args: "--handle HANDLE [--pds URL] [--plc URL] | --did DID [--handle HANDLE] [--p256] [--password-stdin]", summary: "create a repo with new keys (default DID: a did:plc derived offline from its signed genesis operation)", create: true, setup: cmdInit},
		{name: "repos", args: "[--after DID] [--limit N]", summary: "list repos: DID, handle, status, rev, head", setup: cmdRepos},
		{name: "did", args: "DID|HANDLE [--pds URL]", summary: "print a repo's DID document: signing key, handle, PDS service", min: 1, max: 1, setup: cmdDID},
		{name: "create", args: "DID|HANDLE COLLECTION [RKEY] < record.json", summary: "create a record (rkey defaults to a new TID; a missing $type is set to COLLECTION)", min: 2, max: 3, setup: cmdCreate},
		{name: "put", args: "DID|HANDLE COLLECTION RKEY < record.json", summary: "create or update a record", min: 3, max: 3, setup: cmdPut},
		{name: "delete", args: "DID|HANDLE COLLECTION RKEY", summary: "delete a record (delete-repo deletes a whole repo)", min: 3, max: 3, setup: cmdDelete},
		{name: "apply", args: "DID|HANDLE < writes.jsonl", summary: `apply JSON lines {"action","collection","rkey","record"} as ONE commit (at most 200 writes)`, min: 1, max: 1, setup: cmdApply},
		{name: "get", args: "DID|HANDLE COLLECTION RKEY | AT-URI", summary: "print a record: uri, cid, value", min: 1, max: 3, setup: cmdGet},
		{name: "ls", args: "DID|HANDLE [COLLECTION] [--limit N]", summary: "list collections, or the records of one", min: 1, max: 2, setup: cmdLs},
		{name: "export", args: "DID|HANDLE [--since REV] [--include-inactive] [-o FILE [--force]]", summary: "write the repo (or what changed after REV) as a CAR file", min: 1, max: 1, setup: cmdExport},
		{name: "import", args: "FILE.car|- [--key did:key:...] [--handle HANDLE] [--signing-key-file FILE] [--force]", summary: "import a repo from a CAR file, verifying it", min: 1, max: 1, create: true, setup: cmdImport},
		{name: "verify", args: "FILE.car|- [--key did:key:...]", summary: "check a CAR file: block hashes, MST, records, signature", min: 1, max: 1, setup: cmdVerify},
		{name: "check", summary: "verify the whole file: SQLite integrity, gapless seqs, every repo's tree, records and head; count the unreachable blocks", setup: cmdCheck},
		{name: "gc", args: "[--prune DURATION [--keep N]] [--dry-run] [--vacuum]", summary: "delete the blocks nothing needs (replaced tree nodes and records, once their events are pruned); --vacuum shrinks the file", setup: cmdGC},
		{name: "backup", args: "DEST", summary: "write a consistent snapshot of the file to the new file DEST while writers and the server go on (restore: open the copy)", min: 1, max: 1, setup: cmdBackup},
		{name: "log", args: "[--since SEQ] [--did DID|HANDLE] [--limit N] [--follow]", summary: "print events as JSON lines; --follow waits for new ones", setup: cmdLog},
		{name: "deactivate", args: "DID|HANDLE", summary: "deactivate a repo (emits #account; undo with activate)", min: 1, max: 1, setup: statusCmd("deactivate")},
		{name: "activate", args: "DID|HANDLE", summary: "activate a deactivated or taken-down repo", min: 1, max: 1, setup: statusCmd("activate")},
		{name: "takedown", args: "DID|HANDLE", summary: "take a repo down (emits #account; undo with activate)", min: 1, max: 1, setup: statusCmd("takedown")},
		{name: "tombstone", args: "DID|HANDLE --yes", summary: "tombstone a repo for good (its DID is gone)", min: 1, max: 1, setup: statusCmd("tombstone")},
		{name: "delete-repo", args: "DID|HANDLE --yes", summary: "delete a repo for good: records, blocks, blob references", min: 1, max: 1, setup: cmdDeleteRepo},
		{name: "blob put", args: "DID|HANDLE FILE|- [--mime TYPE]", summary: "upload a blob for a repo; prints its blob object", min: 2, max: 2, setup: cmdBlobPut},
		{name: "blob get", args: "CID [-o FILE [--force]]", summary: "write a stored blob's bytes", min: 1, max: 1, setup: cmdBlobGet},
		{name: "blob ls", args: "DID|HANDLE", summary: "list the CIDs of the blobs a repo's records cite", min: 1, max: 1, setup: cmdBlobLs},
		{name: "blob gc", args: "[--grace DURATION]", summary: "delete blobs no record cites, uploaded longer ago than the grace period", setup: cmdBlobGC},
		{name: "car ls", args: "FILE.car|-", summary: "list the records of a CAR file: path and CID", min: 1, max: 1, setup: cmdCarLs},
		{name: "car unpack", args: "FILE.car|- -o DIR [--force]", summary: "write each record of a CAR file as DIR/COLLECTION/RKEY.json", min: 1, max: 1, setup: cmdCarUnpack},
		{name: "plc publish", args: "DID|HANDLE [--plc URL]", summary: "publish the stored genesis operation of a did:plc made by init", min: 1, max: 1, setup: cmdPLCPublish},
		{name: "plc update", args: "DID|HANDLE [--handle HANDLE] [--pds URL] [--plc URL]", summary: "sign an update operation with the stored rotation key and publish it", min: 1, max: 1, setup: cmdPLCUpdate},
		{name: "plc history", args: "DID [--plc URL]", summary: "print a did:plc's audit log from the directory", min: 1, max: 1, setup: cmdPLCHistory},
		{name: "keys status", summary: "count the repos whose private keys are sealed, in the clear, or absent (mirrors)", setup: cmdKeysStatus},
		{name: "keys seal", summary: "seal every key stored in the clear with $ATLITE_KEK", setup: cmdKeysSeal},
		{name: "keys rotate", summary: "reseal every key from $ATLITE_KEK under $ATLITE_NEW_KEK", setup: cmdKeysRotate},
		{name: "demo", args: "[--records N]", summary: "create a repo, write records, export and verify it, with timings (in ./atlite-demo.db unless --db or $ATLITE_DB names another file)", create: true, setup: cmdDemo},
		{name: "serve", args: "[--addr 127.0.0.1:2583] [--public-url URL] [--handle-domains .D1,.D2] [--invite-code CODE] [--appview URL [--appview-did DID]] [--chat URL [--chat-did DID]] [--relay URL]...", summary: "serve the file as a single-user PDS over XRPC, with the subscribeRepos firehose, until SIGINT or SIGTERM", setup: cmdServe},
		{name: "passwd", args: "DID|HANDLE < password", summary: "set an account's password (for createSession) from one line on stdin", min: 1, max: 1, setup: cmdPasswd},
		{name: "version", summary: "print the version of atlite", setup: cmdVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// globalFlags registers the flags every command accepts, before or after its
// name.
func globalFlags(fl *flag.FlagSet, e *env) {
	fl.Func("db", "the database `FILE` or postgres:// URL ($ATLITE_DB, default ./atlite.db)", func(v string) error {
		e.db, e.dbSet = v, true
		return nil
	})
	fl.BoolVar(&e.json, "json", e.json, "print each result as one JSON object a line on stdout")
	fl.BoolVar(&e.quiet, "quiet", e.quiet, "print no progress on stderr")
}

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{db: os.Getenv("ATLITE_DB"), stdin: stdin, stdout: stdout, stderr: stderr}
	if e.db == "" {
		e.db = "atlite.db"
	} else {
		e.dbSet = true
	}
	fl := flag.NewFlagSet("atlite", flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	globalFlags(fl, e)
	version := fl.Bool("version", false, "print the version")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout)
			return 0
		}
		fmt.Fprintf(stderr, "atlite: %s\nrun \"atlite help\" for usage\n", flagError(err))
		return 2
	}
	if *version {
		printVersion(e)
		return 0
	}
	if fl.NArg() == 0 {
		printUsage(stderr)
		return 2
	}
	name, rest := fl.Arg(0), fl.Args()[1:]
	if name == "help" {
		return help(stdout, stderr, rest)
	}
	if _, ok := groups[name]; ok {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			if len(rest) > 0 && (rest[0] == "-h" || rest[0] == "--help" || rest[0] == "-help") {
				printGroupUsage(stdout, name)
				return 0
			}
			fmt.Fprintf(stderr, "atlite %s: missing subcommand\n", name)
			printGroupUsage(stderr, name)
			return 2
		}
		name, rest = name+" "+rest[0], rest[1:]
	}
	c := findCommand(name)
	if c == nil {
		fmt.Fprintf(stderr, "atlite: unknown command %q (run \"atlite help\")\n", name)
		return 2
	}
	e.cmd = c
	cfl := flag.NewFlagSet(c.name, flag.ContinueOnError)
	cfl.SetOutput(io.Discard)
	globalFlags(cfl, e)
	runFn := c.setup(cfl, e)
	pos, err := parseFlags(cfl, rest)
	if errors.Is(err, flag.ErrHelp) {
		printCommandUsage(stdout, c)
		return 0
	}
	if err == nil && (len(pos) < c.min || (c.max >= 0 && len(pos) > c.max)) {
		err = usagef("wrong number of arguments")
	}
	if err == nil {
		err = runFn(ctx, pos)
	}
	for _, p := range e.progs {
		p.Stop()
	}
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "atlite %s: %v\nusage: atlite %s\nrun \"atlite help %s\" for the flags\n", c.name, err, strings.TrimSpace(c.name+" "+c.args), c.name)
		return 2
	case errors.Is(err, context.Canceled):
		if msg := trimPrefixes(err.Error(), c.name); msg != context.Canceled.Error() {
			fmt.Fprintf(stderr, "atlite %s: interrupted: %s\n", c.name, msg)
		} else {
			fmt.Fprintf(stderr, "atlite %s: interrupted\n", c.name)
		}
		return 1
	default:
		fmt.Fprintf(stderr, "atlite %s: %s\n", c.name, trimPrefixes(err.Error(), c.name))
		return 1
	}
}

// trimPrefixes drops from a library error the prefixes that repeat what the
// "atlite NAME:" prefix already says, and a "VERB DID: " prefix when the
// rest of the message names the DID again.
// TODO(lead): VerifyCAR errors start with "import: "; Commit, Export and the
// status methods name the DID twice ("commit to D: repo D is inactive").
func trimPrefixes(msg, name string) string {
	last := name[strings.LastIndex(name, " ")+1:]
	for _, p := range []string{name + ": ", last + ": ", "import: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	if m := didPrefix.FindStringSubmatch(msg); m != nil && strings.Contains(msg[len(m[0]):], m[1]) {
		msg = msg[len(m[0]):]
	}
	return msg
}

var didPrefix = regexp.MustCompile(`^[a-z][a-z ]*? (did:[a-z0-9]+:[^\s:]+(?::[^\s:]+)*)(?: to "[^"]*")?: `)

func findCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func help(stdout, stderr io.Writer, args []string) int {
	switch len(args) {
	case 0:
		printUsage(stdout)
		return 0
	case 1, 2:
		name := strings.Join(args, " ")
		if name == "help" {
			printUsage(stdout)
			return 0
		}
		if c := findCommand(name); c != nil {
			printCommandUsage(stdout, c)
			return 0
		}
		if _, ok := groups[name]; ok {
			printGroupUsage(stdout, name)
			return 0
		}
		fmt.Fprintf(stderr, "atlite help: unknown command %q (run \"atlite help\")\n", name)
		return 2
	default:
		fmt.Fprintf(stderr, "atlite help: too many arguments\nusage: atlite help [COMMAND [SUBCOMMAND]]\n")
		return 2
	}
}

// parseFlags parses a command's flags, allowing them before and after
// positional arguments ("--" ends the flags).
func parseFlags(fl *flag.FlagSet, args []string) ([]string, error) {
	var tail []string
	for i, a := range args {
		if a == "--" {
			args, tail = args[:i], args[i+1:]
			break
		}
	}
	var pos []string
	for {
		if err := fl.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%s", flagError(err))
		}
		args = fl.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	return append(pos, tail...), nil
}

// flagError rewrites an error of the flag package with the flags spelled
// as the docs spell them: --name, and -o for one-letter names.
func flagError(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "unknown flag " + dashes(strings.TrimLeft(name, "-"))
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return "flag " + dashes(strings.TrimLeft(name, "-")) + " needs a value"
	}
	if strings.HasPrefix(msg, "invalid ") {
		if i := strings.Index(msg, " for flag -"); i >= 0 {
			rest := msg[i+len(" for flag -"):]
			name, why, _ := strings.Cut(rest, ": ")
			return msg[:i] + " for " + dashes(name) + ": " + why
		}
	}
	return msg
}

func dashes(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

const usageTail = `Output: text for people by default; with --json, each result is ONE JSON object
on a line of stdout, with lowerCamel keys named as in atproto (did, handle, uri,
cid, rev, seq, ...). Progress and warnings go to stderr (--quiet hides progress).

Environment:
  ATLITE_DB       the database file (or postgres:// URL) when --db is not given (default ./atlite.db)
  ATLITE_KEK      64 hex digits: the key-encryption key that seals private keys
  ATLITE_NEW_KEK  the new key-encryption key of "atlite keys rotate"
  PLC_HOST        the PLC directory (default https://plc.directory)

Only init, import and demo create a database file; other commands need one.

Exit status: 0 on success, 1 on error, 2 on misuse (unknown command or flag,
wrong arguments, bad DID, handle, NSID or record key syntax).
`

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: atlite [--db FILE] [--json] [--quiet] COMMAND [ARGS]\n\nAT Protocol repositories in one SQLite file.\n\ncommands:\n")
	for _, c := range commands {
		if strings.Contains(c.name, " ") {
			continue
		}
		printSummary(w, c)
	}
	var names []string
	for g := range groups {
		names = append(names, g)
	}
	sort.Strings(names)
	for _, g := range names {
		fmt.Fprintf(w, "\n%s: %s\n", g, groups[g])
		for _, c := range commands {
			if strings.HasPrefix(c.name, g+" ") {
				printSummary(w, c)
			}
		}
	}
	fmt.Fprintf(w, "\nRun \"atlite help COMMAND\" (or \"atlite COMMAND --help\") for a command's flags.\n\n%s", usageTail)
}

func printSummary(w io.Writer, c *command) {
	fmt.Fprintf(w, "  %s\n      %s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
}

func printGroupUsage(w io.Writer, g string) {
	fmt.Fprintf(w, "usage: atlite %s SUBCOMMAND [ARGS]\n\n%s\n\nsubcommands:\n", g, groups[g])
	for _, c := range commands {
		if strings.HasPrefix(c.name, g+" ") {
			printSummary(w, c)
		}
	}
}

// printCommandUsage prints a command's synopsis and every flag with its
// description, like flag.PrintDefaults but with the flags spelled --name.
func printCommandUsage(w io.Writer, c *command) {
	fmt.Fprintf(w, "usage: atlite %s\n\n%s.\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
	e := &env{}
	fl := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.setup(fl, e)
	global := map[string]bool{"db": true, "json": true, "quiet": true}
	var own bool
	fl.VisitAll(func(f *flag.Flag) { own = own || !global[f.Name] })
	if own {
		fmt.Fprintf(w, "\nflags:\n")
		printFlags(w, fl, func(name string) bool { return !global[name] })
	}
	gfl := flag.NewFlagSet("atlite", flag.ContinueOnError)
	globalFlags(gfl, &env{})
	fmt.Fprintf(w, "\nglobal flags (before or after the command name):\n")
	printFlags(w, gfl, func(string) bool { return true })
}

func printFlags(w io.Writer, fl *flag.FlagSet, keep func(string) bool) {
	fl.VisitAll(func(f *flag.Flag) {
		if !keep(f.Name) {
			return
		}
		typ, usage := flag.UnquoteUsage(f)
		line := "  " + dashes(f.Name)
		if typ != "" {
			line += " " + typ
		}
		line += "\n    \t" + strings.ReplaceAll(usage, "\n", "\n    \t")
		switch f.DefValue {
		case "", "0", "false", "0s":
		default:
			line += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintln(w, line)
	})
}

// versionString returns the module version of the binary, "(devel)" for a
// build from a checkout, and the VCS revision when the build recorded one.
func versionString() (version, revision string) {
	version = "(devel)"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version, ""
	}
	if v := bi.Main.Version; v != "" {
		version = v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			if s.Value == "true" && revision != "" {
				revision += "+dirty"
			}
		}
	}
	return version, revision
}

func printVersion(e *env) {
	v, rev := versionString()
	if e.json {
		writeJSON(e.stdout, struct {
			Version  string `json:"version"`
			Revision string `json:"revision,omitempty"`
		}{v, rev})
		return
	}
	if rev != "" {
		fmt.Fprintf(e.stdout, "atlite %s (%s)\n", v, rev)
		return
	}
	fmt.Fprintf(e.stdout, "atlite %s\n", v)
}

func cmdVersion(fl *flag.FlagSet, e *env) func(context.Context, []string) error {
	return func(context.Context, []string) error {
		printVersion(e)
		return nil
	}
}
