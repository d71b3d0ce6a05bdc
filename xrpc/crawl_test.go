package xrpc

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atlite-dev/atlite/internal/testutil"
)

// fakeRelay answers requestCrawl calls with the statuses of answers in
// turn (200 once they run out), and records them.
type fakeRelay struct {
	*httptest.Server
	mu      sync.Mutex
	answers []int
	got     []seen
}

func newFakeRelay(t *testing.T, answers ...int) *fakeRelay {
	t.Helper()
	f := &fakeRelay{answers: answers}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("relay: read body: %v", err)
		}
		f.mu.Lock()
		f.got = append(f.got, seen{Method: r.Method, URI: r.RequestURI, Header: r.Header.Clone(), Body: body})
		status := http.StatusOK
		if len(f.answers) > 0 {
			status, f.answers = f.answers[0], f.answers[1:]
		}
		f.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeRelay) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.got...)
}

// newCrawlServer returns a server for relays whose log goes to the
// returned buffer.
func newCrawlServer(t *testing.T, relays ...string) (*Server, *logBuffer) {
	t.Helper()
	st, _ := testutil.MustOpenFileStore(t, nil)
	var logb logBuffer
	s, err := New(st, &Options{
		PublicURL: "https://pds.example.com/", Relays: relays, CrawlRetry: 5 * time.Millisecond,
		RelayClient: &http.Client{Timeout: 10 * time.Second},
		Logger:      slog.New(slog.NewTextHandler(&logb, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, &logb
}

func TestRequestCrawl(t *testing.T) {
	ok := newFakeRelay(t)
	flaky := newFakeRelay(t, 503, 429)
	s, logb := newCrawlServer(t, ok.URL, flaky.URL+"/")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.RequestCrawl(ctx); err != nil {
		t.Fatalf("RequestCrawl = %v, want nil", err)
	}
	for _, tt := range []struct {
		name  string
		relay *fakeRelay
		calls int
	}{{"ok", ok, 1}, {"flaky", flaky, 3}} {
		got := tt.relay.requests()
		if len(got) != tt.calls {
			t.Fatalf("%s relay got %d calls, want %d", tt.name, len(got), tt.calls)
		}
		for _, r := range got {
			if r.Method != "POST" || r.URI != "/xrpc/com.atproto.sync.requestCrawl" ||
				string(r.Body) != `{"hostname":"pds.example.com"}` || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%s relay got %s %s %q (%s), want POST /xrpc/com.atproto.sync.requestCrawl {\"hostname\":\"pds.example.com\"}",
					tt.name, r.Method, r.URI, r.Body, r.Header.Get("Content-Type"))
			}
		}
	}
	log := logb.String()
	if n := strings.Count(log, `msg="requestCrawl failed"`); n != 2 {
		t.Errorf("log has %d retried failures, want 2:\n%s", n, log)
	}
	if n := strings.Count(log, `msg="requestCrawl accepted"`); n != 2 {
		t.Errorf("log has %d successes, want 2:\n%s", n, log)
	}
}

func TestRequestCrawlFails(t *testing.T) {
	down := newFakeRelay(t, 500, 502, 503, 504, 500, 500)
	refused := newFakeRelay(t, 400)
	ok := newFakeRelay(t)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	s, logb := newCrawlServer(t, down.URL, refused.URL, gone.URL, ok.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.RequestCrawl(ctx)
	if err == nil {
		t.Fatal("RequestCrawl = nil, want the failures")
	}
	for _, u := range []string{down.URL, refused.URL, gone.URL} {
		if !strings.Contains(err.Error(), "requestCrawl "+u+": ") {
			t.Errorf("RequestCrawl error %q does not name %s", err, u)
		}
	}
	if strings.Contains(err.Error(), ok.URL+":") {
		t.Errorf("RequestCrawl error %q names the relay that accepted", err)
	}
	// Server errors are retried CrawlAttempts times, a 400 is final, and
	// the good relay is asked all the same.
	for _, tt := range []struct {
		name  string
		relay *fakeRelay
		calls int
	}{{"down", down, CrawlAttempts}, {"refused", refused, 1}, {"ok", ok, 1}} {
		if n := len(tt.relay.requests()); n != tt.calls {
			t.Errorf("%s relay got %d calls, want %d", tt.name, n, tt.calls)
		}
	}
	log := logb.String()
	if n := strings.Count(log, `msg="requestCrawl failed: giving up"`); n != 3 {
		t.Errorf("log has %d relays given up, want 3:\n%s", n, log)
	}
	// down: 4 retries; gone: 4 retries (no answer is a failure that may pass).
	if n := strings.Count(log, `msg="requestCrawl failed"`); n != 2*(CrawlAttempts-1) {
		t.Errorf("log has %d retried failures, want %d:\n%s", n, 2*(CrawlAttempts-1), log)
	}
}

// TestRequestCrawlCancel: a cancelled context ends the retries at once.
func TestRequestCrawlCancel(t *testing.T) {
	down := newFakeRelay(t, 500, 500, 500, 500, 500)
	st, _ := testutil.MustOpenFileStore(t, nil)
	var logb logBuffer
	s, err := New(st, &Options{Relays: []string{down.URL}, CrawlRetry: time.Hour, Logger: slog.New(slog.NewTextHandler(&logb, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for len(down.requests()) == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	start := time.Now()
	if err := s.RequestCrawl(ctx); err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("RequestCrawl = %v, want context canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("RequestCrawl took %v after cancel", d)
	}
	if n := len(down.requests()); n != 1 {
		t.Errorf("relay got %d calls, want 1", n)
	}
}
