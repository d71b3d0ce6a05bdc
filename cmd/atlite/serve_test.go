package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestServe runs "atlite serve" in-process on a loopback port: it logs where
// it listens, serves the file (a login with the password set by "atlite
// passwd", a record written and read back), logs each request, and shuts
// down cleanly with status 0 when its context ends (SIGINT, SIGTERM).
func TestServe(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pds.db")
	did := "did:web:serve.example"
	cli := func(stdin string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"--db", db}, args...), strings.NewReader(stdin), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, _, stderr := cli("", "init", "--did", did, "--handle", "alice.serve.example"); code != 0 {
		t.Fatalf("init: %d %s", code, stderr)
	}
	for _, tc := range []struct {
		stdin string
		code  int
		out   string
	}{
		{"", 2, ""},
		{"short\n", 1, ""},
		{"correct horse battery\n", 0, "password of " + did + " set\n"},
	} {
		if code, out, stderr := cli(tc.stdin, "passwd", "alice.serve.example"); code != tc.code || out != tc.out {
			t.Errorf("passwd < %q = %d %q (%s), want %d %q", tc.stdin, code, out, stderr, tc.code, tc.out)
		}
	}

	// init can set the password too; a short one creates nothing.
	if code, _, _ := cli("short\n", "init", "--did", "did:web:bob.serve.example", "--handle", "bob.serve.example", "--password-stdin"); code != 2 {
		t.Errorf("init --password-stdin with a short password = %d, want 2", code)
	}
	if code, _, _ := cli("", "get", "at://did:web:bob.serve.example/app.bsky.feed.post/x"); code != 1 {
		t.Errorf("a refused init left a repo (get = %d)", code)
	}
	if code, _, stderr := cli("bob's long password\n", "init", "--did", "did:web:bob.serve.example", "--handle", "bob.serve.example", "--password-stdin"); code != 0 {
		t.Fatalf("init --password-stdin = %d %s", code, stderr)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--db", db, "serve", "--addr", "127.0.0.1:0", "--handle-domains", "serve.example"}, strings.NewReader(""), io.Discard, &logb)
	}()
	re := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)\n`)
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == ""; time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(logb.String()); m != nil {
			base = m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line; stderr:\n%s", logb.String())
		}
	}
	call := func(method, nsid, token string, body any, out any) int {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, base+"/xrpc/"+nsid, rd)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil {
			json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode
	}
	var sess struct{ AccessJwt, Did string }
	if code := call("POST", "com.atproto.server.createSession", "", map[string]string{"identifier": "alice.serve.example", "password": "correct horse battery"}, &sess); code != 200 || sess.Did != did {
		t.Fatalf("createSession = %d %+v", code, sess)
	}
	var created struct{ URI, CID string }
	rec := map[string]any{"repo": did, "collection": "app.bsky.feed.post", "rkey": "3kserve00001",
		"record": map[string]any{"$type": "app.bsky.feed.post", "text": "served", "createdAt": "2026-12-01T00:00:00Z"}}
	if code := call("POST", "com.atproto.repo.createRecord", sess.AccessJwt, rec, &created); code != 200 || created.URI != "at://"+did+"/app.bsky.feed.post/3kserve00001" {
		t.Fatalf("createRecord = %d %+v", code, created)
	}
	var got struct {
		CID   string
		Value map[string]any
	}
	if code := call("GET", "com.atproto.repo.getRecord?repo="+did+"&collection=app.bsky.feed.post&rkey=3kserve00001", "", nil, &got); code != 200 || got.CID != created.CID || got.Value["text"] != "served" {
		t.Fatalf("getRecord = %d %+v", code, got)
	}
	var bob struct{ Did string }
	if code := call("POST", "com.atproto.server.createSession", "", map[string]string{"identifier": "bob.serve.example", "password": "bob's long password"}, &bob); code != 200 || bob.Did != "did:web:bob.serve.example" {
		t.Errorf("createSession for the account init made = %d %+v", code, bob)
	}
	var bad struct{ Error string }
	if code := call("POST", "com.atproto.server.createSession", "", map[string]string{"identifier": "alice.serve.example", "password": "wrong password"}, &bad); code != 401 || bad.Error != "AuthenticationRequired" {
		t.Errorf("createSession with a wrong password = %d %+v", code, bad)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited %d; stderr:\n%s", code, logb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not shut down")
	}
	log := logb.String()
	for _, want := range []string{"path=/xrpc/com.atproto.repo.createRecord status=200", "path=/xrpc/com.atproto.server.createSession status=401", "shutting down"} {
		if !strings.Contains(log, want) {
			t.Errorf("serve log lacks %q:\n%s", want, log)
		}
	}
	// The write is in the file for the CLI too.
	if code, out, _ := cli("", "get", "at://"+did+"/app.bsky.feed.post/3kserve00001"); code != 0 || !strings.Contains(out, `"text":"served"`) {
		t.Errorf("get after serve = %d %s", code, out)
	}
}
