package did

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/atlite-dev/atlite/internal/safehttp"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

// DefaultPLCURL is the directory a PLCClient talks to when neither
// [PLCOptions.URL] nor the PLC_HOST environment variable is set.
const DefaultPLCURL = "https://plc.directory"

// Retry defaults of [PLCOptions].
const (
	// DefaultPLCMaxAttempts is how many times a PLCClient sends a request
	// that keeps failing transiently.
	DefaultPLCMaxAttempts = 4
	// DefaultPLCRetryBaseDelay is the nominal wait before the first retry;
	// it doubles for each further one.
	DefaultPLCRetryBaseDelay = 250 * time.Millisecond
	// DefaultPLCRetryMaxDelay caps the wait before a retry.
	DefaultPLCRetryMaxDelay = 10 * time.Second
)

// PLCOptions configures a [PLCClient]. The zero value (or nil) gives the
// defaults.
type PLCOptions struct {
	// URL is the directory's base URL, such as "https://plc.directory". If
	// empty, the PLC_HOST environment variable is used (a host name gets
	// "https://" prepended), then DefaultPLCURL.
	URL string
	// HTTPClient sends the requests; nil means http.DefaultClient. Its
	// redirect policy is wrapped so that redirects to other schemes than
	// http(s), from https to http, or beyond 10 hops are refused.
	//
	// Unlike the [Resolver]'s default client for did:web and handle hosts,
	// the default here does not refuse loopback or private addresses: the
	// directory's URL is the operator's own configuration, not a value
	// taken from a DID or a record, and a directory on the local network
	// (or a loopback fake in tests) is legitimate.
	HTTPClient *http.Client
	// Timeout bounds each request, reading the body included; 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// MaxResponseBytes bounds each response body; 0 means
	// DefaultMaxPLCResponseBytes.
	MaxResponseBytes int64
	// UserAgent is sent with every request; "" means DefaultUserAgent.
	UserAgent string
	// MaxAttempts is how many times a request is sent while it fails
	// transiently: an answer 429 or 5xx, or a failure in transit (no
	// answer, a connection reset, a request timing out). Other answers,
	// 4xx included, are never retried. 0 means DefaultPLCMaxAttempts, 1
	// (or less) disables retries.
	MaxAttempts int
	// RetryBaseDelay is the nominal wait before the first retry, doubled
	// for each further retry up to RetryMaxDelay; each wait is drawn at
	// random between half and all of its nominal length. A Retry-After
	// header (seconds or an HTTP date) on a 429 or 5xx answer sets the
	// wait instead. 0 means DefaultPLCRetryBaseDelay.
	RetryBaseDelay time.Duration
	// RetryMaxDelay caps the nominal wait; a Retry-After asking for longer
	// ends the retries, as does a wait that would outlast the context's
	// deadline. 0 means DefaultPLCRetryMaxDelay.
	RetryMaxDelay time.Duration
}

// PLCClient talks to a did:plc directory. It is safe for concurrent use.
type PLCClient struct {
	base        string
	f           *fetcher
	maxAttempts int
	baseDelay   time.Duration
	maxDelay    time.Duration
}

// NewPLCClient returns a client for the directory of opts (nil for the
// defaults). It fails if the base URL is not an http(s) URL.
func NewPLCClient(opts *PLCOptions) (*PLCClient, error) {
	if opts == nil {
		opts = &PLCOptions{}
	}
	base := opts.URL
	if base == "" {
		base = os.Getenv("PLC_HOST")
	}
	if base == "" {
		base = DefaultPLCURL
	}
	if !strings.Contains(base, "://") {
		base = "https://" + base
	}
	base = strings.TrimRight(base, "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("plc directory url %q: must be an http(s) url", base)
	}
	maxBytes := opts.MaxResponseBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxPLCResponseBytes
	}
	c := &PLCClient{
		base:        base,
		f:           newFetcher(opts.HTTPClient, opts.Timeout, maxBytes, opts.UserAgent),
		maxAttempts: opts.MaxAttempts,
		baseDelay:   opts.RetryBaseDelay,
		maxDelay:    opts.RetryMaxDelay,
	}
	switch {
	case c.maxAttempts == 0:
		c.maxAttempts = DefaultPLCMaxAttempts
	case c.maxAttempts < 0:
		c.maxAttempts = 1
	}
	if c.baseDelay <= 0 {
		c.baseDelay = DefaultPLCRetryBaseDelay
	}
	if c.maxDelay <= 0 {
		c.maxDelay = DefaultPLCRetryMaxDelay
	}
	return c, nil
}

// do sends a request to the directory, retrying it (see
// PLCOptions.MaxAttempts) while it fails transiently. GET requests are
// safe to repeat, and so is the POST of a signed operation: the same
// operation, sent again, names the same prev. A 429 or 5xx answer still
// there after the last attempt is an error wrapping ErrHTTPStatus; other
// answers are returned for the caller to judge.
func (c *PLCClient) do(ctx context.Context, method, u string, body []byte) (response, error) {
	for attempt := 1; ; attempt++ {
		r, err := c.f.do(ctx, method, u, body, 0)
		retry := err == nil && (r.status == http.StatusTooManyRequests || r.status >= 500)
		if err != nil {
			retry = transient(ctx, err)
		}
		if !retry {
			return r, err
		}
		if err == nil {
			err = fmt.Errorf("%w: %s %s: %d%s", ErrHTTPStatus, method, u, r.status, serverMessage(r.body))
		}
		wait, ok := c.backoff(attempt, r.retryAfter)
		if deadline, has := ctx.Deadline(); has && time.Until(deadline) < wait {
			ok = false
		}
		if !ok || attempt >= c.maxAttempts {
			if attempt > 1 {
				err = fmt.Errorf("%w (after %d attempts)", err, attempt)
			}
			return response{}, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return response{}, fmt.Errorf("%s %s: waiting to retry: %w (last attempt: %v)", method, u, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// backoff returns the wait before retry number attempt (1 for the first),
// or false if the directory's Retry-After asks for longer than the maximum.
func (c *PLCClient) backoff(attempt int, retryAfter string) (time.Duration, bool) {
	if d, ok := parseRetryAfter(retryAfter); ok {
		return d, d <= c.maxDelay
	}
	d := c.maxDelay
	if shift := attempt - 1; shift < 30 {
		if n := c.baseDelay << shift; n > 0 && n < d {
			d = n
		}
	}
	return d/2 + rand.N(d/2+1), true
}

// parseRetryAfter reads a Retry-After header: a number of seconds or an
// HTTP date. It returns false if v is empty or neither.
func parseRetryAfter(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		const maxSeconds = int64(1<<63-1) / int64(time.Second)
		return time.Duration(min(n, maxSeconds)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// transient reports whether a request that failed with err may succeed if
// sent again: it failed in transit, the caller's context is still live,
// and it was not refused by policy (redirects, addresses) or for an
// invalid certificate.
func transient(ctx context.Context, err error) bool {
	var te *transportError
	var ce *tls.CertificateVerificationError
	return errors.As(err, &te) && ctx.Err() == nil &&
		!errors.Is(err, ErrRedirect) && !errors.Is(err, ErrForbiddenAddress) &&
		!errors.Is(err, safehttp.ErrForbiddenScheme) && !errors.Is(err, safehttp.ErrTooManyRedirects) &&
		!errors.As(err, &ce)
}

// get GETs u and returns the body of a 2xx answer; see statusError.
func (c *PLCClient) get(ctx context.Context, u string) ([]byte, error) {
	r, err := c.do(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if err := statusError(http.MethodGet, u, r); err != nil {
		return nil, err
	}
	return r.body, nil
}

// URL returns the directory's base URL, without a trailing slash.
func (c *PLCClient) URL() string { return c.base }

func (c *PLCClient) url(d syntax.DID, suffix string) (string, error) {
	if d.Method() != "plc" {
		return "", fmt.Errorf("%w: %q is not a did:plc", ErrUnsupportedMethod, d)
	}
	if _, err := syntax.ParseDID(string(d)); err != nil {
		return "", err
	}
	return c.base + "/" + string(d) + suffix, nil
}

// Submit validates op ([Operation.Validate]) and posts it to the directory
// as the next operation of d. A refusal by the directory (any 4xx answer
// but 429) returns an error wrapping [ErrRejected] with the directory's
// message. A 429 or 5xx answer, or a failure in transit, is retried as
// [PLCOptions.MaxAttempts] says; if the directory had in fact applied an
// attempt that seemed to fail, the next one may be refused as a duplicate.
func (c *PLCClient) Submit(ctx context.Context, d syntax.DID, op *Operation) error {
	u, err := c.url(d, "")
	if err != nil {
		return err
	}
	if err := op.Validate(); err != nil {
		return err
	}
	body, err := op.MarshalJSON()
	if err != nil {
		return err
	}
	r, err := c.do(ctx, http.MethodPost, u, body)
	if err != nil {
		return fmt.Errorf("submit operation for %s: %w", d, err)
	}
	if r.status >= 400 && r.status < 500 {
		return fmt.Errorf("%w: %s: %d%s", ErrRejected, d, r.status, serverMessage(r.body))
	}
	if err := statusError(http.MethodPost, u, r); err != nil {
		return fmt.Errorf("submit operation for %s: %w", d, err)
	}
	return nil
}

// Create submits a signed genesis operation and returns the DID it creates
// (see [Operation.DID]).
func (c *PLCClient) Create(ctx context.Context, op *Operation) (syntax.DID, error) {
	d, err := op.DID()
	if err != nil {
		return "", err
	}
	if err := c.Submit(ctx, d, op); err != nil {
		return "", err
	}
	return d, nil
}

// current fetches and verifies the audit log of d and returns it with the
// latest active operation.
func (c *PLCClient) current(ctx context.Context, d syntax.DID) ([]LogEntry, *Operation, error) {
	log, err := c.AuditLog(ctx, d)
	if err != nil {
		return nil, nil, err
	}
	h, err := VerifyAuditLog(d, log)
	if err != nil {
		return nil, nil, fmt.Errorf("audit log of %s: %w", d, err)
	}
	last, _ := h.Last()
	return log, last.Operation, nil
}

// signAndSubmit signs next with key, which must be a rotation key of prev,
// and submits it. Nothing is sent if key is not allowed.
func (c *PLCClient) signAndSubmit(ctx context.Context, d syntax.DID, prev, next *Operation, key keys.PrivateKey) (*Operation, error) {
	if !slices.Contains(prev.rotationKeys(), key.PublicKey().DIDKey()) {
		return nil, fmt.Errorf("%w: %s is not a rotation key of the current operation of %s", ErrBadSignature, key.PublicKey().DIDKey(), d)
	}
	if err := next.Sign(key); err != nil {
		return nil, err
	}
	if err := c.Submit(ctx, d, next); err != nil {
		return nil, err
	}
	return next, nil
}

// Update fetches and verifies the audit log of d, builds an update of its
// latest operation with [NewUpdate], signs it with key (which must be one
// of the current rotation keys; nothing is posted otherwise) and submits
// it. It returns the submitted operation.
func (c *PLCClient) Update(ctx context.Context, d syntax.DID, u Update, key keys.PrivateKey) (*Operation, error) {
	_, last, err := c.current(ctx, d)
	if err != nil {
		return nil, err
	}
	next, err := NewUpdate(last, u)
	if err != nil {
		return nil, err
	}
	return c.signAndSubmit(ctx, d, last, next, key)
}

// Tombstone deactivates d: like [PLCClient.Update], with a tombstone
// operation.
func (c *PLCClient) Tombstone(ctx context.Context, d syntax.DID, key keys.PrivateKey) (*Operation, error) {
	_, last, err := c.current(ctx, d)
	if err != nil {
		return nil, err
	}
	next, err := NewTombstone(last)
	if err != nil {
		return nil, err
	}
	return c.signAndSubmit(ctx, d, last, next, key)
}

// Rollback restores the state d had n operations ago (see [Rollback]),
// signing with key, which must be one of the current rotation keys; nothing
// is posted otherwise or if the log is too short. It returns the submitted
// operation.
func (c *PLCClient) Rollback(ctx context.Context, d syntax.DID, n int, key keys.PrivateKey) (*Operation, error) {
	log, last, err := c.current(ctx, d)
	if err != nil {
		return nil, err
	}
	next, err := Rollback(log, n)
	if err != nil {
		return nil, err
	}
	return c.signAndSubmit(ctx, d, last, next, key)
}

// Resolve fetches the DID document of d (GET /{did}). A DID the directory
// does not know gives [ErrNotFound], a tombstoned one [ErrDeactivated].
func (c *PLCClient) Resolve(ctx context.Context, d syntax.DID) (*Document, error) {
	u, err := c.url(d, "")
	if err != nil {
		return nil, err
	}
	b, err := c.get(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", d, err)
	}
	doc, err := ParseDocument(b)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", d, err)
	}
	if doc.ID != d {
		return nil, fmt.Errorf("%w: resolve %s: document is for %s", ErrInvalidDocument, d, doc.ID)
	}
	return doc, nil
}

// AuditLog fetches the full audit log of d (GET /{did}/log/audit),
// nullified entries included. It is not verified; see [VerifyAuditLog].
func (c *PLCClient) AuditLog(ctx context.Context, d syntax.DID) ([]LogEntry, error) {
	var log []LogEntry
	if err := c.getJSON(ctx, d, "/log/audit", &log); err != nil {
		return nil, err
	}
	return log, nil
}

// Log fetches the active operations of d (GET /{did}/log). They are not
// verified; see [VerifyChain].
func (c *PLCClient) Log(ctx context.Context, d syntax.DID) ([]*Operation, error) {
	var ops []*Operation
	if err := c.getJSON(ctx, d, "/log", &ops); err != nil {
		return nil, err
	}
	for i, op := range ops {
		if op == nil {
			return nil, fmt.Errorf("%w: log of %s: entry %d is null", ErrInvalidOperation, d, i)
		}
	}
	return ops, nil
}

// Data fetches the current state of d (GET /{did}/data).
func (c *PLCClient) Data(ctx context.Context, d syntax.DID) (*State, error) {
	var s State
	if err := c.getJSON(ctx, d, "/data", &s); err != nil {
		return nil, err
	}
	if s.DID != d {
		return nil, fmt.Errorf("%w: data of %s is for %q", ErrInvalidOperation, d, s.DID)
	}
	return &s, nil
}

func (c *PLCClient) getJSON(ctx context.Context, d syntax.DID, suffix string, v any) error {
	u, err := c.url(d, suffix)
	if err != nil {
		return err
	}
	b, err := c.get(ctx, u)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: GET %s: %w", ErrInvalidOperation, u, err)
	}
	return nil
}
