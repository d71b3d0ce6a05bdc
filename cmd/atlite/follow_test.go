package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/syntax"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLogFollow runs "atlite log --follow" while another Store on the same
// file, as another process would, writes records.
func TestLogFollow(t *testing.T) {
	db := filepath.Join(t.TempDir(), "follow.db")
	ctx := context.Background()
	s, err := atlite.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d := syntax.DID("did:web:follow.example")
	if _, err := s.CreateRepo(ctx, d, nil); err != nil {
		t.Fatal(err)
	}

	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int)
	go func() {
		done <- run(fctx, []string{"--db", db, "log", "--follow", "--did", d.String()}, strings.NewReader(""), &out, &errb)
	}()

	waitFor := func(what string, ok func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok(out.String()) {
			if time.Now().After(deadline) {
				t.Fatalf("log --follow never printed %s; stdout:\n%s\nstderr:\n%s", what, out.String(), errb.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("the existing events", func(o string) bool { return strings.Contains(o, `"$type":"#identity"`) })
	before := strings.Count(out.String(), "\n")

	for _, rkey := range []string{"one", "two", "three"} {
		w, err := commit.NewWrite(commit.Create, "com.example.note", rkey, map[string]any{"$type": "com.example.note", "text": rkey})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Commit(ctx, d, []commit.Write{w}, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitFor("the three new commits", func(o string) bool { return strings.Contains(o, "com.example.note/three") })
	if got := strings.Count(out.String(), "\n"); got != before+3 {
		t.Errorf("log --follow printed %d lines, want %d:\n%s", got, before+3, out.String())
	}
	for _, rkey := range []string{"one", "two", "three"} {
		if !strings.Contains(out.String(), "com.example.note/"+rkey) {
			t.Errorf("log --follow lacks the commit of %s:\n%s", rkey, out.String())
		}
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("log --follow exited %d after cancel, want 0; stderr:\n%s", code, errb.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("log --follow did not stop on cancel")
	}
}
