package xrpc

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/atlite-dev/atlite/internal/testutil"
)

func newTestServer(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	st := testutil.MustOpenStore(t, nil)
	s, err := New(st, &Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return s, hs
}

func xrpcError(t *testing.T, resp *http.Response) (string, string) {
	t.Helper()
	defer resp.Body.Close()
	var e struct{ Error, Message string }
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("error body: %v", err)
	}
	return e.Error, e.Message
}

func TestServerBasics(t *testing.T) {
	s, hs := newTestServer(t)
	s.Query("com.example.panic", func(w http.ResponseWriter, r *http.Request) error { panic("boom") })
	s.Query("com.example.params", func(w http.ResponseWriter, r *http.Request) error {
		p := ParamsOf(r)
		d := p.DID("did", true)
		n := p.Int("limit", 50, 1, 100)
		if err := p.Err(); err != nil {
			return err
		}
		return WriteJSON(w, map[string]any{"did": d, "limit": n})
	})
	s.Procedure("com.example.echo", func(w http.ResponseWriter, r *http.Request) error {
		var v map[string]any
		if err := DecodeJSON(r, 16, &v); err != nil {
			return err
		}
		return WriteJSON(w, v)
	})
	tests := []struct {
		name, method, path, body string
		status                   int
		errName, msgPart         string
	}{
		{"unknown method", "GET", "/xrpc/com.example.nope", "", 501, "MethodNotImplemented", "com.example.nope"},
		{"query by POST", "POST", "/xrpc/com.example.params?did=did:web:a.example", "", 405, "InvalidRequest", "use GET"},
		{"procedure by GET", "GET", "/xrpc/com.example.echo", "", 405, "InvalidRequest", "use POST"},
		{"panic", "GET", "/xrpc/com.example.panic", "", 500, "InternalServerError", "Internal Server Error"},
		{"missing param", "GET", "/xrpc/com.example.params", "", 400, "InvalidRequest", `"did"`},
		{"bad param", "GET", "/xrpc/com.example.params?did=nope", "", 400, "InvalidRequest", "did must be a valid value"},
		{"out of range", "GET", "/xrpc/com.example.params?did=did:web:a.example&limit=101", "", 400, "InvalidRequest", "between 1 and 100"},
		{"bad json", "POST", "/xrpc/com.example.echo", `{"a":`, 400, "InvalidRequest", "malformed JSON"},
		{"empty body", "POST", "/xrpc/com.example.echo", ``, 400, "InvalidRequest", "empty"},
		{"too large", "POST", "/xrpc/com.example.echo", `{"a":"0123456789abcdef"}`, 413, "PayloadTooLarge", "16 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, hs.URL+tt.path, strings.NewReader(tt.body))
			if tt.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			name, msg := xrpcError(t, resp)
			if name != tt.errName || !strings.Contains(msg, tt.msgPart) {
				t.Errorf("error %q %q, want %q containing %q", name, msg, tt.errName, tt.msgPart)
			}
		})
	}
	// The server survived the panic, and answers with CORS headers.
	resp, err := http.Get(hs.URL + "/xrpc/com.example.params?did=did:web:a.example&limit=7")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != `{"did":"did:web:a.example","limit":7}` {
		t.Errorf("params = %d %s", resp.StatusCode, b)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("Access-Control-Allow-Origin = %q", got)
	}
	req, _ := http.NewRequest("OPTIONS", hs.URL+"/xrpc/com.example.echo", nil)
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Headers") != "authorization,content-type" {
		t.Errorf("preflight = %d, allow headers %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Headers"))
	}
	resp, err = http.Get(hs.URL + "/xrpc/_health")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"version"`) {
		t.Errorf("_health = %d %s", resp.StatusCode, b)
	}
}
