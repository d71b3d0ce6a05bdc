package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

// TestImportSigningKeyFile imports a CAR with the private key that signed
// it: the repo accepts writes, where without the key it is a mirror.
func TestImportSigningKeyFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sk, err := keys.GenerateK256()
	if err != nil {
		t.Fatal(err)
	}
	src, err := atlite.Open(filepath.Join(dir, "src.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := syntax.DID("did:web:key.example")
	if _, err := src.CreateRepo(ctx, d, &atlite.CreateRepoOptions{SigningKey: sk}); err != nil {
		t.Fatal(err)
	}
	var car bytes.Buffer
	if _, err := src.ExportCAR(ctx, d, &car, nil); err != nil {
		t.Fatal(err)
	}
	src.Close()
	carPath := filepath.Join(dir, "repo.car")
	keyPath := filepath.Join(dir, "key.txt")
	if err := os.WriteFile(carPath, car.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, []byte(sk.Multibase()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "dst.db")
	cli := func(stdin string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(ctx, append([]string{"--db", db}, args...), strings.NewReader(stdin), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, out, errText := cli("", "import", carPath, "--signing-key-file", keyPath); code != 0 || strings.Contains(out, "mirror") || !strings.Contains(out, "signature ok") {
		t.Fatalf("import --signing-key-file = %d\n%s%s", code, out, errText)
	}
	if code, out, errText := cli(`{"text":"hi"}`, "create", d.String(), "com.example.note", "one"); code != 0 || !strings.HasPrefix(out, "create\t") {
		t.Errorf("create after import with the key = %d\n%s%s", code, out, errText)
	}
	other, _ := keys.GenerateK256()
	os.WriteFile(keyPath, []byte(other.Multibase()), 0o600)
	if code, _, errText := cli("", "--db", filepath.Join(dir, "x.db"), "import", carPath, "--signing-key-file", keyPath); code != 1 || !strings.Contains(errText, "bad signature") {
		t.Errorf("import with another key = %d %s, want 1 and a bad signature", code, errText)
	}
	os.WriteFile(keyPath, []byte("nope"), 0o600)
	if code, _, errText := cli("", "import", carPath, "--signing-key-file", keyPath); code != 2 || !strings.Contains(errText, "does not hold a private key multibase") {
		t.Errorf("import with a bad key file = %d %s, want 2", code, errText)
	}
}
