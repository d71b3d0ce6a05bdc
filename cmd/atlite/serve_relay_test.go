package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestServeRelay runs "atlite serve --relay A,B --relay C": once listening
// it asks every relay to crawl the host of --public-url; a relay that
// fails is logged and the server keeps serving.
func TestServeRelay(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pds.db")
	if code := run(context.Background(), []string{"--db", db, "init", "--did", "did:web:relay.example", "--handle", "alice.relay.example"},
		strings.NewReader(""), io.Discard, io.Discard); code != 0 {
		t.Fatalf("init = %d", code)
	}
	var mu sync.Mutex
	bodies := map[string][]string{}
	relay := func(name string, status int) *httptest.Server {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			bodies[name] = append(bodies[name], r.Method+" "+r.URL.Path+" "+string(b))
			mu.Unlock()
			w.WriteHeader(status)
		}))
		t.Cleanup(hs.Close)
		return hs
	}
	a, b, broken := relay("a", 200), relay("b", 200), relay("broken", 500)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--db", db, "serve", "--addr", "127.0.0.1:0", "--public-url", "https://pds.relay.example",
			"--appview", "https://api.bsky.app", "--relay", a.URL + "," + broken.URL, "--relay", b.URL}, strings.NewReader(""), io.Discard, &logb)
	}()
	want := "POST /xrpc/com.atproto.sync.requestCrawl " + `{"hostname":"pds.relay.example"}`
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(bodies["a"]) + len(bodies["b"]) + len(bodies["broken"])
		mu.Unlock()
		// A relay records the request before its answer reaches the
		// server, so wait for the log too: cancelling before the server
		// has read the answer would turn an accepted crawl into a
		// cancelled one.
		log := logb.String()
		if n >= 3 && strings.Contains(log, `msg="requestCrawl failed"`) && strings.Count(log, `msg="requestCrawl accepted"`) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("relays not all asked; log:\n%s", logb.String())
		}
	}
	mu.Lock()
	for _, name := range []string{"a", "b", "broken"} {
		if got := bodies[name]; len(got) != 1 || got[0] != want {
			t.Errorf("relay %s got %q, want [%q]", name, got, want)
		}
	}
	mu.Unlock()
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited %d; stderr:\n%s", code, logb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not shut down")
	}
	if log := logb.String(); strings.Count(log, `msg="requestCrawl accepted"`) != 2 {
		t.Errorf("log lacks the two accepted requestCrawls:\n%s", log)
	}
}
