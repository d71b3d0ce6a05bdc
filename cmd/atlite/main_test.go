package main

import (
	"bytes"

	"context"
	"github.com/atlite-dev/atlite/did/didtest"
	"github.com/atlite-dev/atlite/syntax"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the CLI in-process and returns its exit status and output.
func runCLI(t *testing.T, db, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"--db", db}, args...), strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestCLI(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "cli.db")
	did := "did:web:cli.example"

	steps := []struct {
		name    string
		stdin   string
		args    []string
		code    int
		out     string // substring of stdout
		errText string // substring of stderr
	}{
		{"no command", "", nil, 2, "", "usage"},
		{"unknown command", "", []string{"frobnicate"}, 2, "", "unknown command"},
		{"help", "", []string{"help"}, 0, "commands:", ""},
		{"init plc with did", "", []string{"init", "--did", did, "--plc", "http://127.0.0.1:1"}, 2, "", "--plc"},
		{"init bad did", "", []string{"init", "--did", "nope"}, 2, "", "not a DID"},
		{"init", "", []string{"init", "--did", did, "--handle", "cli.example"}, 0, "created " + did, ""},
		{"init again", "", []string{"init", "--did", did}, 1, "", "already exists"},
		{"repos", "", []string{"repos"}, 0, did + "\tcli.example\tactive", ""},
		{"did doc", "", []string{"did", did}, 0, `"publicKeyMultibase": "z`, ""},
		{"create", `{"$type":"com.example.note","text":"hi"}`, []string{"create", did, "com.example.note", "one"}, 0, "create\tat://" + did + "/com.example.note/one\tbafyrei", ""},
		{"create bad json", `{"text":`, []string{"create", did, "com.example.note", "two"}, 1, "", "record on stdin"},
		{"create float", `{"n":1.5}`, []string{"create", did, "com.example.note", "two"}, 1, "", "record on stdin"},
		{"create bad collection", `{}`, []string{"create", did, "nocollection", "two"}, 1, "", "collection"},
		{"create existing", `{"a":1}`, []string{"create", did, "com.example.note", "one"}, 1, "", "record exists"},
		{"put updates", `{"text":"changed"}`, []string{"put", did, "com.example.note", "one"}, 0, "update\tat://", ""},
		{"get", "", []string{"get", did, "com.example.note", "one"}, 0, `"text":"changed"`, ""},
		{"get missing", "", []string{"get", did, "com.example.note", "nope"}, 1, "", "not found"},
		{"apply", `{"action":"create","collection":"com.example.note","rkey":"a","record":{"x":1}}
{"action":"create","collection":"com.example.other","rkey":"b","record":{"y":{"$bytes":"aGk"}}}
`, []string{"apply", did}, 0, "create\tat://" + did + "/com.example.other/b", ""},
		{"apply bad line", `{"action":"explode"}`, []string{"apply", did}, 1, "", "line 1"},
		{"ls collections", "", []string{"ls", did}, 0, "com.example.note\ncom.example.other\n", ""},
		{"ls records", "", []string{"ls", did, "com.example.note"}, 0, "com.example.note/a\t", ""},
		{"delete", "", []string{"delete", did, "com.example.note", "a"}, 0, "delete\tat://", ""},
		{"delete missing", "", []string{"delete", did, "com.example.note", "a"}, 1, "", "no such record"},
		{"log", "", []string{"log", "--did", did}, 0, `"$type":"#identity"`, ""},
		{"log since", "", []string{"log", "--since", "3", "--limit", "1"}, 0, `"seq":4`, ""},
		{"deactivate", "", []string{"deactivate", did}, 0, "deactivated", ""},
		{"write to inactive", `{"a":1}`, []string{"create", did, "com.example.note", "z"}, 1, "", "inactive"},
		{"activate", "", []string{"activate", did}, 0, "activated", ""},
		{"export", "", []string{"export", did, "-o", filepath.Join(dir, "out.car")}, 0, "", "wrote"},
		{"verify", "", []string{"verify", filepath.Join(dir, "out.car")}, 0, "ok: " + did, ""},
		{"verify garbage", "", []string{"verify", filepath.Join(dir, "cli.db")}, 1, "", "invalid CAR"},
		{"verify bad key", "", []string{"verify", filepath.Join(dir, "out.car"), "--key", "did:key:nope"}, 2, "", "--key"},
		{"export since bad", "", []string{"export", did, "--since", "x"}, 2, "", "not a rev"},
		{"check", "", []string{"check"}, 0, ": ok (", ""},
		{"tombstone", "", []string{"tombstone", did}, 0, "tombstoned", ""},
		{"activate tombstoned", "", []string{"activate", did}, 1, "", "inactive"},
		{"wrong args", "", []string{"get", did}, 2, "", "wrong number of arguments"},
	}
	for _, st := range steps {
		code, out, errText := runCLI(t, db, st.stdin, st.args...)
		if code != st.code || !strings.Contains(out, st.out) || !strings.Contains(errText, st.errText) {
			t.Errorf("%s: atlite %s = %d\nstdout: %s\nstderr: %s\nwant %d, stdout containing %q, stderr containing %q",
				st.name, strings.Join(st.args, " "), code, out, errText, st.code, st.out, st.errText)
		}
	}

	// Import the exported CAR into a second database.
	db2 := filepath.Join(dir, "cli2.db")
	if code, out, errText := runCLI(t, db2, "", "import", filepath.Join(dir, "out.car")); code != 0 || !strings.Contains(out, "imported "+did) {
		t.Errorf("import = %d %s %s", code, out, errText)
	}
	if code, out, _ := runCLI(t, db2, "", "get", did, "com.example.other", "b"); code != 0 || !strings.Contains(out, `{"$bytes":"aGk"}`) {
		t.Errorf("get after import = %d %s", code, out)
	}
}

func TestDemo(t *testing.T) {
	db := filepath.Join(t.TempDir(), "demo.db")
	code, out, errText := runCLI(t, db, "", "demo", "--records", "120")
	if code != 0 {
		t.Fatalf("demo = %d\n%s\n%s", code, out, errText)
	}
	for _, want := range []string{"wrote 120 records", "exported ", "verified the CAR", "120 records", "signature ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	// Clean up the CAR the demo wrote to the temp dir.
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "exported ") {
			os.Remove(strings.TrimSuffix(strings.Fields(line)[1], ":"))
		}
	}
}

func TestDefaultDB(t *testing.T) {
	t.Setenv("ATLITE_DB", filepath.Join(t.TempDir(), "env.db"))
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"repos"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("repos with $ATLITE_DB = %d: %s", code, errb.String())
	}
	if _, err := os.Stat(os.Getenv("ATLITE_DB")); err != nil {
		t.Errorf("$ATLITE_DB was not used: %v", err)
	}
}

func TestInitPLC(t *testing.T) {
	dir := directory(t)
	db := filepath.Join(t.TempDir(), "plc.db")
	code, out, errText := runCLI(t, db, "", "init", "--handle", "alice.example.com", "--plc", dir.URL())
	if code != 0 {
		t.Fatalf("init = %d\n%s\n%s", code, out, errText)
	}
	var d string
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "did:plc:") {
			d = f
			break
		}
	}
	if len(d) != 32 || !strings.Contains(out, "published to "+dir.URL()) {
		t.Fatalf("init output lacks a did:plc (len 32) or the publication:\n%s", out)
	}
	// The directory holds the genesis operation, signed with the rotation
	// key init printed, naming the signing key and the handle.
	log := dir.AuditLog(syntax.DID(d))
	if len(log) != 1 {
		t.Fatalf("directory has %d operations for %s, want 1", len(log), d)
	}
	doc, err := log[0].Operation.Document(syntax.DID(d))
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := doc.Handle(); h != "alice.example.com" {
		t.Errorf("document handle = %q", h)
	}
	code, out, _ = runCLI(t, db, "", "did", d)
	if code != 0 || !strings.Contains(out, `"at://alice.example.com"`) {
		t.Errorf("atlite did %s = %d\n%s", d, code, out)
	}
	// Offline: no --plc, nothing published.
	code, out, _ = runCLI(t, filepath.Join(t.TempDir(), "off.db"), "", "init", "--handle", "bob.example.com")
	if code != 0 || !strings.Contains(out, "created did:plc:") || strings.Contains(out, "published") {
		t.Errorf("offline init = %d\n%s", code, out)
	}
	if code, _, errText := runCLI(t, filepath.Join(t.TempDir(), "x.db"), "", "init"); code != 2 || !strings.Contains(errText, "--handle is required") {
		t.Errorf("init without --handle or --did = %d %s", code, errText)
	}
}

func directory(t *testing.T) *didtest.Directory {
	d := didtest.NewDirectory()
	t.Cleanup(d.Close)
	return d
}
