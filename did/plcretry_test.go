package did_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/atlite-dev/atlite/did"
)

// scripted is a loopback directory whose n-th answer (from 1) is chosen by
// a function; it records the bodies it was sent.
type scripted struct {
	srv    *httptest.Server
	mu     sync.Mutex
	bodies [][]byte
}

func newScripted(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *scripted {
	t.Helper()
	s := &scripted{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, b)
		n := len(s.bodies)
		s.mu.Unlock()
		answer(n, w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *scripted) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

func (s *scripted) client(t *testing.T, opts did.PLCOptions) *did.PLCClient {
	t.Helper()
	opts.URL, opts.HTTPClient = s.srv.URL, s.srv.Client()
	if opts.RetryBaseDelay == 0 {
		opts.RetryBaseDelay = time.Millisecond
	}
	c, err := did.NewPLCClient(&opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// failFirst answers status to the first n requests, then an empty audit
// log.
func failFirst(n, status int, header ...string) func(int, http.ResponseWriter, *http.Request) {
	return func(i int, w http.ResponseWriter, r *http.Request) {
		if i <= n {
			for j := 0; j+1 < len(header); j += 2 {
				w.Header().Set(header[j], header[j+1])
			}
			http.Error(w, "try later", status)
			return
		}
		w.Write([]byte("[]"))
	}
}

// hangUp closes the connection without answering the first n requests.
func hangUp(n int) func(int, http.ResponseWriter, *http.Request) {
	return func(i int, w http.ResponseWriter, r *http.Request) {
		if i <= n {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		w.Write([]byte("[]"))
	}
}

func TestPLCClientRetry(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		answer   func(int, http.ResponseWriter, *http.Request)
		attempts int // PLCOptions.MaxAttempts
		requests int
		wantErr  error
		wantMsg  string // the error text, with URL standing for the audit log URL
	}{
		{"503 twice then 200", failFirst(2, http.StatusServiceUnavailable), 0, 3, nil, ""},
		{"429 then 200", failFirst(1, http.StatusTooManyRequests), 0, 2, nil, ""},
		{"connection closed twice then 200", hangUp(2), 0, 3, nil, ""},
		{"always 500", failFirst(100, http.StatusInternalServerError), 0, 4, did.ErrHTTPStatus,
			"did: unexpected http status: GET URL: 500 (try later) (after 4 attempts)"},
		{"always 502, 2 attempts", failFirst(100, http.StatusBadGateway), 2, 2, did.ErrHTTPStatus,
			"did: unexpected http status: GET URL: 502 (try later) (after 2 attempts)"},
		{"always 503, retries off", failFirst(100, http.StatusServiceUnavailable), 1, 1, did.ErrHTTPStatus,
			"did: unexpected http status: GET URL: 503 (try later)"},
		{"429 exhausted", failFirst(100, http.StatusTooManyRequests), 3, 3, did.ErrHTTPStatus,
			"did: unexpected http status: GET URL: 429 (try later) (after 3 attempts)"},
		{"400 not retried", failFirst(100, http.StatusBadRequest), 0, 1, did.ErrHTTPStatus,
			"did: unexpected http status: GET URL: 400 (try later)"},
		{"404 not retried", failFirst(100, http.StatusNotFound), 0, 1, did.ErrNotFound,
			"did: not found: GET URL: 404 (try later)"},
		{"410 not retried", failFirst(100, http.StatusGone), 0, 1, did.ErrDeactivated,
			"did: deactivated: GET URL: 410 (try later)"},
		{"redirect loop not retried", func(_ int, w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.Path, http.StatusFound)
		}, 0, 11, did.ErrRedirect, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScripted(t, tt.answer)
			c := s.client(t, did.PLCOptions{MaxAttempts: tt.attempts})
			log, err := c.AuditLog(ctx, genesisDID)
			if n := s.requests(); n != tt.requests {
				t.Errorf("%d requests, want %d", n, tt.requests)
			}
			if tt.wantErr == nil {
				if err != nil || log == nil || len(log) != 0 {
					t.Errorf("AuditLog() = %v, %v; want an empty log", log, err)
				}
				return
			}
			if log != nil || !errors.Is(err, tt.wantErr) {
				t.Fatalf("AuditLog() = %v, %v; want %v", log, err, tt.wantErr)
			}
			if tt.wantMsg != "" {
				want := string(bytes.ReplaceAll([]byte(tt.wantMsg), []byte("URL"), []byte(s.srv.URL+"/"+genesisDID+"/log/audit")))
				if err.Error() != want {
					t.Errorf("AuditLog() error = %q, want %q", err, want)
				}
			}
		})
	}
}

// TestPLCClientRetrySubmit: the POST of a signed operation is retried, with
// the same body, and a 429 is not a refusal of the operation.
func TestPLCClientRetrySubmit(t *testing.T) {
	ctx := context.Background()
	k := k256(t, seedRepo)
	g, d := genesis(t, k, k)
	want := mustJSON(t, g)

	s := newScripted(t, failFirst(2, http.StatusServiceUnavailable))
	if err := s.client(t, did.PLCOptions{}).Submit(ctx, d, g); err != nil {
		t.Fatalf("Submit() = %v", err)
	}
	if n := s.requests(); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	for i, b := range s.bodies {
		if string(b) != want {
			t.Errorf("request %d body = %s, want %s", i+1, b, want)
		}
	}

	s = newScripted(t, failFirst(100, http.StatusTooManyRequests))
	err := s.client(t, did.PLCOptions{MaxAttempts: 2}).Submit(ctx, d, g)
	if !errors.Is(err, did.ErrHTTPStatus) || errors.Is(err, did.ErrRejected) || s.requests() != 2 {
		t.Errorf("Submit(always 429) = %v after %d requests, want ErrHTTPStatus (not ErrRejected) after 2", err, s.requests())
	}

	s = newScripted(t, failFirst(100, http.StatusBadRequest))
	err = s.client(t, did.PLCOptions{}).Submit(ctx, d, g)
	if !errors.Is(err, did.ErrRejected) || s.requests() != 1 {
		t.Errorf("Submit(400) = %v after %d requests, want ErrRejected after 1", err, s.requests())
	}
}

func TestPLCClientRetryAfter(t *testing.T) {
	ctx := context.Background()

	// Retry-After: 1 is waited for, although the base delay is 1ms.
	s := newScripted(t, failFirst(1, http.StatusServiceUnavailable, "Retry-After", "1"))
	start := time.Now()
	if _, err := s.client(t, did.PLCOptions{}).AuditLog(ctx, genesisDID); err != nil {
		t.Fatalf("AuditLog() = %v", err)
	}
	if el := time.Since(start); el < time.Second || s.requests() != 2 {
		t.Errorf("AuditLog() took %v and %d requests, want at least 1s and 2", el, s.requests())
	}

	// A Retry-After over RetryMaxDelay ends the retries at once.
	s = newScripted(t, failFirst(100, http.StatusTooManyRequests, "Retry-After", "3"))
	start = time.Now()
	_, err := s.client(t, did.PLCOptions{RetryMaxDelay: 2 * time.Second}).AuditLog(ctx, genesisDID)
	if !errors.Is(err, did.ErrHTTPStatus) || s.requests() != 1 || time.Since(start) > time.Second {
		t.Errorf("AuditLog(Retry-After 3s, max 2s) = %v after %d requests and %v, want ErrHTTPStatus after 1, at once", err, s.requests(), time.Since(start))
	}

	// So does a wait that would outlast the context's deadline.
	s = newScripted(t, failFirst(100, http.StatusServiceUnavailable, "Retry-After", "2"))
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	start = time.Now()
	_, err = s.client(t, did.PLCOptions{}).AuditLog(dctx, genesisDID)
	if !errors.Is(err, did.ErrHTTPStatus) || s.requests() != 1 || time.Since(start) > 500*time.Millisecond {
		t.Errorf("AuditLog(Retry-After 2s, deadline 1s) = %v after %d requests and %v, want ErrHTTPStatus after 1, at once", err, s.requests(), time.Since(start))
	}

	// A cancellation during the wait ends it.
	s = newScripted(t, failFirst(100, http.StatusServiceUnavailable))
	cctx, cancel2 := context.WithCancel(ctx)
	time.AfterFunc(50*time.Millisecond, cancel2)
	start = time.Now()
	_, err = s.client(t, did.PLCOptions{RetryBaseDelay: 10 * time.Second}).AuditLog(cctx, genesisDID)
	if !errors.Is(err, context.Canceled) || s.requests() != 1 || time.Since(start) > 2*time.Second {
		t.Errorf("AuditLog(cancelled while waiting) = %v after %d requests and %v, want context.Canceled after 1", err, s.requests(), time.Since(start))
	}
}
