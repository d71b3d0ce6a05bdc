package safehttp_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atlite-dev/atlite/internal/safehttp"
)

// server is a loopback server that counts its requests.
type server struct {
	*httptest.Server
	hits atomic.Int64
}

func newServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) addr() netip.AddrPort {
	return netip.MustParseAddrPort(s.Listener.Addr().String())
}

func (s *server) port() string { return strconv.Itoa(int(s.addr().Port())) }

func hello(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }

func get(t *testing.T, c *http.Client, u string) (string, error) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestLoopbackRefusedByDefault(t *testing.T) {
	s := newServer(t, hello)
	for _, c := range []*http.Client{safehttp.NewClient(nil), safehttp.NewClient(&safehttp.Options{})} {
		_, err := get(t, c, s.URL+"/x")
		if !errors.Is(err, safehttp.ErrForbiddenAddress) {
			t.Fatalf("Get(%s) = %v, want ErrForbiddenAddress", s.URL, err)
		}
		want := fmt.Sprintf(`Get "%s/x": dial tcp %s: forbidden address %s (loopback)`, s.URL, s.addr(), s.addr())
		if err.Error() != want {
			t.Errorf("Get(%s) error = %q, want %q", s.URL, err, want)
		}
	}
	if n := s.hits.Load(); n != 0 {
		t.Errorf("server got %d requests, want 0", n)
	}
}

func TestAllowPrivate(t *testing.T) {
	s := newServer(t, hello)
	got, err := get(t, safehttp.NewClient(&safehttp.Options{AllowPrivate: true}), s.URL)
	if err != nil || got != "hello" {
		t.Fatalf("Get(%s) with AllowPrivate = %q, %v, want hello", s.URL, got, err)
	}
	if n := s.hits.Load(); n != 1 {
		t.Errorf("server got %d requests, want 1", n)
	}
}

func TestUnspecifiedRefused(t *testing.T) {
	s := newServer(t, hello)
	u := "http://0.0.0.0:" + s.port() + "/"
	_, err := get(t, safehttp.NewClient(nil), u)
	want := fmt.Sprintf(`Get "%s": dial tcp 0.0.0.0:%s: forbidden address 0.0.0.0:%s (unspecified)`, u, s.port(), s.port())
	if !errors.Is(err, safehttp.ErrForbiddenAddress) || err.Error() != want {
		t.Errorf("Get(%s) = %v, want %s", u, err, want)
	}
	if n := s.hits.Load(); n != 0 {
		t.Errorf("server got %d requests, want 0", n)
	}
}

func TestIPv6LoopbackRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	s := &server{Server: httptest.NewUnstartedServer(http.HandlerFunc(hello))}
	s.Listener.Close()
	s.Listener = ln
	s.Start()
	t.Cleanup(s.Close)
	_, err = get(t, safehttp.NewClient(nil), s.URL)
	want := fmt.Sprintf(`Get "%s": dial tcp %s: forbidden address %s (loopback)`, s.URL, s.addr(), s.addr())
	if !errors.Is(err, safehttp.ErrForbiddenAddress) || err.Error() != want {
		t.Errorf("Get(%s) = %v, want %s", s.URL, err, want)
	}
}

// TestNameCheckedAtDial shows that the check judges the address a name
// resolves to when connecting, not the name: localhost is refused by
// default, and reached when the policy allows exactly the server's address.
func TestNameCheckedAtDial(t *testing.T) {
	s := newServer(t, hello)
	u := "http://localhost:" + s.port() + "/"
	_, err := get(t, safehttp.NewClient(nil), u)
	if !errors.Is(err, safehttp.ErrForbiddenAddress) {
		t.Fatalf("Get(%s) = %v, want ErrForbiddenAddress", u, err)
	}
	if !strings.Contains(err.Error(), "(loopback)") || !strings.HasPrefix(err.Error(), `Get "`+u+`": dial tcp `) {
		t.Errorf("Get(%s) error = %q, want a dial error naming a loopback address", u, err)
	}
	if n := s.hits.Load(); n != 0 {
		t.Errorf("server got %d requests, want 0", n)
	}

	var mu sync.Mutex // Allow may run concurrently for the several addresses of a name
	var seen []netip.AddrPort
	only := safehttp.NewClient(&safehttp.Options{Allow: func(a netip.AddrPort) bool {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, a)
		return a == s.addr()
	}})
	got, err := get(t, only, u)
	if err != nil || got != "hello" {
		t.Fatalf("Get(%s) allowing %s = %q, %v, want hello", u, s.addr(), got, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(seen, s.addr()) {
		t.Errorf("Allow saw %v, want %s among them", seen, s.addr())
	}
}

func TestRedirectToLoopbackRefused(t *testing.T) {
	target := newServer(t, hello)
	front := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/secret", http.StatusFound)
	})
	// The policy allows the front server only, as if it were public.
	c := safehttp.NewClient(&safehttp.Options{Allow: func(a netip.AddrPort) bool { return a == front.addr() }})
	_, err := get(t, c, front.URL+"/start")
	if !errors.Is(err, safehttp.ErrForbiddenAddress) {
		t.Fatalf("Get(redirect to %s) = %v, want ErrForbiddenAddress", target.URL, err)
	}
	want := fmt.Sprintf(`Get "%s/secret": dial tcp %s: forbidden address %s (loopback)`, target.URL, target.addr(), target.addr())
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	if f, tg := front.hits.Load(), target.hits.Load(); f != 1 || tg != 0 {
		t.Errorf("front got %d requests, target %d; want 1 and 0", f, tg)
	}
}

func TestAllowRefusalNamesPort(t *testing.T) {
	s := newServer(t, hello)
	other := netip.AddrPortFrom(netip.MustParseAddr("8.8.8.8"), 80)
	c := safehttp.NewClient(&safehttp.Options{Allow: func(a netip.AddrPort) bool { return a == other }})
	_, err := get(t, c, s.URL)
	want := fmt.Sprintf(`Get "%s": dial tcp %s: forbidden address %s (loopback)`, s.URL, s.addr(), s.addr())
	if !errors.Is(err, safehttp.ErrForbiddenAddress) || err.Error() != want {
		t.Errorf("Get(%s) = %v, want %s", s.URL, err, want)
	}
}

func TestSchemes(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
	})
	c := safehttp.NewClient(&safehttp.Options{AllowPrivate: true})
	tests := []struct {
		url, want string
	}{
		{"ftp://example.com/x", `Get "ftp://example.com/x": forbidden url scheme "ftp"`},
		{"file:///etc/passwd", `Get "file:///etc/passwd": forbidden url scheme "file"`},
		{s.URL + "/r", `Get "file:///etc/passwd": forbidden url scheme "file"`},
	}
	for _, tt := range tests {
		_, err := get(t, c, tt.url)
		if !errors.Is(err, safehttp.ErrForbiddenScheme) || err.Error() != tt.want {
			t.Errorf("Get(%s) = %v, want %s", tt.url, err, tt.want)
		}
	}
}

func TestMaxRedirects(t *testing.T) {
	// /r/N redirects to /r/N-1; /r/0 answers.
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/r/"))
		if n == 0 {
			hello(w, r)
			return
		}
		http.Redirect(w, r, "/r/"+strconv.Itoa(n-1), http.StatusFound)
	})
	tests := []struct {
		max       int
		redirects int
		wantErr   string // "" for success
	}{
		{0, safehttp.DefaultMaxRedirects, ""},
		{0, safehttp.DefaultMaxRedirects + 1, "too many redirects: stopped after 10"},
		{3, 3, ""},
		{3, 4, "too many redirects: stopped after 3"},
		{1, 1, ""},
		{1, 2, "too many redirects: stopped after 1"},
	}
	for _, tt := range tests {
		c := safehttp.NewClient(&safehttp.Options{AllowPrivate: true, MaxRedirects: tt.max})
		before := s.hits.Load()
		u := s.URL + "/r/" + strconv.Itoa(tt.redirects)
		got, err := get(t, c, u)
		n := s.hits.Load() - before
		if tt.wantErr == "" {
			if err != nil || got != "hello" || n != int64(tt.redirects+1) {
				t.Errorf("MaxRedirects %d: Get(%s) = %q, %v after %d requests, want hello after %d", tt.max, u, got, err, n, tt.redirects+1)
			}
			continue
		}
		effective := tt.max
		if effective == 0 {
			effective = safehttp.DefaultMaxRedirects
		}
		want := fmt.Sprintf(`Get "/r/%d": %s`, tt.redirects-effective-1, tt.wantErr)
		if !errors.Is(err, safehttp.ErrTooManyRedirects) || err.Error() != want {
			t.Errorf("MaxRedirects %d: Get(%s) = %v, want %s", tt.max, u, err, want)
		}
	}

	// Negative: the redirect itself is returned.
	c := safehttp.NewClient(&safehttp.Options{AllowPrivate: true, MaxRedirects: -1})
	resp, err := c.Get(s.URL + "/r/1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/r/0" {
		t.Errorf("MaxRedirects -1: %d %q, want 302 to /r/0", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestTimeout(t *testing.T) {
	tests := []struct {
		timeout, want time.Duration
	}{
		{0, safehttp.DefaultTimeout},
		{-1, 0},
		{time.Second, time.Second},
	}
	for _, tt := range tests {
		if got := safehttp.NewClient(&safehttp.Options{Timeout: tt.timeout}).Timeout; got != tt.want {
			t.Errorf("NewClient(Timeout: %v).Timeout = %v, want %v", tt.timeout, got, tt.want)
		}
	}
	if got := safehttp.NewClient(nil).Timeout; got != safehttp.DefaultTimeout {
		t.Errorf("NewClient(nil).Timeout = %v, want %v", got, safehttp.DefaultTimeout)
	}

	stop := make(chan struct{})
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	})
	defer close(stop)
	c := safehttp.NewClient(&safehttp.Options{AllowPrivate: true, Timeout: 100 * time.Millisecond})
	start := time.Now()
	_, err := get(t, c, s.URL)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("Get(slow) = %v, want a timeout", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("Get(slow) took %v", el)
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url  string
		want string // "" for nil
	}{
		{"https://example.com/x", ""},
		{"http://localhost:8080/x", ""}, // names are checked when connecting
		{"http://8.8.8.8/x", ""},
		{"https://[2606:4700:4700::1111]/", ""},
		{"http://127.0.0.1:8080/x", "forbidden address 127.0.0.1:8080 (loopback)"},
		{"http://127.0.0.1/x", "forbidden address 127.0.0.1:80 (loopback)"},
		{"https://10.0.0.1/x", "forbidden address 10.0.0.1:443 (private)"},
		{"http://169.254.169.254/latest/meta-data/", "forbidden address 169.254.169.254:80 (link-local)"},
		{"http://100.64.0.0/", "forbidden address 100.64.0.0:80 (shared address space (CGNAT))"},
		{"http://0.0.0.0:1/", "forbidden address 0.0.0.0:1 (unspecified)"},
		{"http://[::1]:8080/", "forbidden address [::1]:8080 (loopback)"},
		{"http://[::ffff:127.0.0.1]/", "forbidden address 127.0.0.1:80 (loopback)"},
		{"http://[fe80::1%25eth0]/", "forbidden address [fe80::1%eth0]:80 (link-local)"},
		{"ftp://example.com/", `forbidden url scheme "ftp"`},
		{"/relative", `forbidden url scheme ""`},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		err = safehttp.CheckURL(u)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("CheckURL(%s) = %q, want %q", tt.url, got, tt.want)
		}
		switch {
		case strings.HasPrefix(tt.want, "forbidden address") && !errors.Is(err, safehttp.ErrForbiddenAddress),
			strings.HasPrefix(tt.want, "forbidden url") && !errors.Is(err, safehttp.ErrForbiddenScheme):
			t.Errorf("CheckURL(%s) = %v, does not wrap the sentinel", tt.url, err)
		}
	}
}
