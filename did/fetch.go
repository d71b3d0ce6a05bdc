package did

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Defaults of [ResolverOptions] and [PLCOptions].
const (
	// DefaultTimeout bounds each HTTP request, body included.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxResponseBytes bounds the body of each HTTP response read
	// by the Resolver (DID documents, handle files, PLC documents).
	DefaultMaxResponseBytes = 1 << 20
	// DefaultMaxPLCResponseBytes bounds the body of each HTTP response
	// read by a PLCClient; audit logs can be long.
	DefaultMaxPLCResponseBytes = 8 << 20
	// DefaultUserAgent is the User-Agent header sent with every request.
	DefaultUserAgent = "atlite (https://github.com/atlite-dev/atlite)"
)

// maxRedirects is how many redirects a request follows.
const maxRedirects = 10

// fetcher sends HTTP requests with a timeout, a body size limit and a safe
// redirect policy. A nil client means http.DefaultClient.
type fetcher struct {
	client    *http.Client
	timeout   time.Duration
	maxBytes  int64
	userAgent string
}

func newFetcher(hc *http.Client, timeout time.Duration, maxBytes int64, userAgent string) *fetcher {
	if hc == nil {
		hc = http.DefaultClient
	}
	c := *hc
	inner := hc.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" && req.URL.Scheme != "http" {
			return fmt.Errorf("%w: to scheme %q", ErrRedirect, req.URL.Scheme)
		}
		if req.URL.Scheme == "http" && via[len(via)-1].URL.Scheme == "https" {
			return fmt.Errorf("%w: from https down to http (%s)", ErrRedirect, req.URL.Redacted())
		}
		if len(via) > maxRedirects {
			return fmt.Errorf("%w: more than %d redirects", ErrRedirect, maxRedirects)
		}
		if inner != nil {
			return inner(req, via)
		}
		return nil
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if userAgent == "" {
		userAgent = DefaultUserAgent
	}
	return &fetcher{client: &c, timeout: timeout, maxBytes: maxBytes, userAgent: userAgent}
}

// response is a fully read HTTP response.
type response struct {
	status     int
	retryAfter string // the Retry-After header
	body       []byte
}

// transportError is a request that failed in transit (no response, or a
// body cut short), as opposed to a response refused for its content.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// do sends a request and reads the whole body, at most f.maxBytes (or
// limit, if smaller and positive) of it.
func (f *fetcher) do(ctx context.Context, method, url string, body []byte, limit int64) (response, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	req.Header.Set("User-Agent", f.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, */*;q=0.5")
	resp, err := f.client.Do(req)
	if err != nil {
		return response{}, &transportError{err}
	}
	defer resp.Body.Close()
	lim := f.maxBytes
	if limit > 0 && limit < lim {
		lim = limit
	}
	if resp.ContentLength > lim {
		return response{}, fmt.Errorf("%w: %s %s: content-length %d, limit %d", ErrResponseTooLarge, method, url, resp.ContentLength, lim)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, lim+1))
	if err != nil {
		return response{}, &transportError{fmt.Errorf("%s %s: read body: %w", method, url, err)}
	}
	if int64(len(b)) > lim {
		return response{}, fmt.Errorf("%w: %s %s: body over %d bytes", ErrResponseTooLarge, method, url, lim)
	}
	return response{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: b}, nil
}

// getJSON GETs url and returns the body of a 2xx answer; 404 and 410 map to
// ErrNotFound and ErrDeactivated.
func (f *fetcher) get(ctx context.Context, url string) ([]byte, error) {
	r, err := f.do(ctx, http.MethodGet, url, nil, 0)
	if err != nil {
		return nil, err
	}
	if err := statusError(http.MethodGet, url, r); err != nil {
		return nil, err
	}
	return r.body, nil
}

func statusError(method, url string, r response) error {
	switch {
	case r.status >= 200 && r.status < 300:
		return nil
	case r.status == http.StatusNotFound:
		return fmt.Errorf("%w: %s %s: 404%s", ErrNotFound, method, url, serverMessage(r.body))
	case r.status == http.StatusGone:
		return fmt.Errorf("%w: %s %s: 410%s", ErrDeactivated, method, url, serverMessage(r.body))
	default:
		return fmt.Errorf("%w: %s %s: %d%s", ErrHTTPStatus, method, url, r.status, serverMessage(r.body))
	}
}

// serverMessage extracts a short message from an error body: the
// "message" (or "error") field of a JSON object, else the start of the
// text.
func serverMessage(b []byte) string {
	var m struct {
		Message string `json:"message"`
		Error   string `json:"error"`
	}
	msg := ""
	if json.Unmarshal(b, &m) == nil {
		msg = m.Message
		if msg == "" {
			msg = m.Error
		}
	} else {
		msg = strings.TrimSpace(string(b))
	}
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	msg = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, msg)
	if msg == "" {
		return ""
	}
	return " (" + msg + ")"
}
