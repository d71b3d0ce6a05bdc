package xrpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/atlite-dev/atlite/did"
	"github.com/atlite-dev/atlite/internal/safehttp"
	"github.com/atlite-dev/atlite/servicejwt"
	"github.com/atlite-dev/atlite/syntax"
)

// Proxying defaults.
const (
	// DefaultProxyTimeout is how long a proxied request may go without
	// progress (the upstream's answer, a read of either body) before it
	// fails with 504 UpstreamTimeout.
	DefaultProxyTimeout = 30 * time.Second
	// ProxyHeader names the service a request is to be forwarded to, as
	// "<did>#<service id>" (did:web:api.bsky.app#bsky_appview).
	ProxyHeader = "atproto-proxy"
	// AppViewServiceID is the service id of an AppView in DID documents,
	// given to an [Options.AppViewDID] without one.
	AppViewServiceID = "bsky_appview"
	// ChatServiceID is the service id of a chat service in DID documents,
	// given to an [Options.ChatDID] without one.
	ChatServiceID = "bsky_chat"
)

// maxUpstreamErrorBody bounds the upstream error bodies read for their
// error name and message.
const maxUpstreamErrorBody = 64 << 10

// DIDResolver resolves a DID to its document; [*did.Resolver] is one. The
// server uses it for the services named by atproto-proxy headers.
type DIDResolver interface {
	ResolveDID(ctx context.Context, d syntax.DID) (*did.Document, error)
}

// DIDResolverFunc adapts a function to a [DIDResolver].
type DIDResolverFunc func(ctx context.Context, d syntax.DID) (*did.Document, error)

// ResolveDID implements DIDResolver.
func (f DIDResolverFunc) ResolveDID(ctx context.Context, d syntax.DID) (*did.Document, error) {
	return f(ctx, d)
}

var (
	_ DIDResolver = (*did.Resolver)(nil)
	_ DIDResolver = DIDResolverFunc(nil)
)

func init() { registrations = append(registrations, (*Server).setupProxy) }

// setupProxy checks the proxy options and fills in their defaults.
func (s *Server) setupProxy() error {
	o := &s.opts
	var err error
	if o.AppViewURL, o.AppViewDID, err = serviceConfig("AppView", o.AppViewURL, o.AppViewDID, AppViewServiceID); err != nil {
		return err
	}
	if o.ChatURL, o.ChatDID, err = serviceConfig("chat service", o.ChatURL, o.ChatDID, ChatServiceID); err != nil {
		return err
	}
	if o.ProxyClient == nil {
		// No client timeout: a watchdog bounds each request (see forward).
		o.ProxyClient = safehttp.NewClient(&safehttp.Options{Timeout: -1})
	}
	if o.ProxyTimeout <= 0 {
		o.ProxyTimeout = DefaultProxyTimeout
	}
	// Redirects go back to the client as they are, as any other answer.
	c := *o.ProxyClient
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	s.proxyClient = &c
	return s.setupCrawl()
}

// serviceConfig checks a configured service: its URL becomes an origin
// (scheme and host) and its reference a DID with a service id (the DID
// defaults to did:web of the URL's host, the id to defID).
func serviceConfig(what, rawURL, ref, defID string) (string, string, error) {
	if rawURL == "" {
		if ref != "" {
			return "", "", fmt.Errorf("xrpc: %s DID %q without a URL", what, ref)
		}
		return "", "", nil
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", "", fmt.Errorf("xrpc: %s URL %q: want http(s)://host", what, rawURL)
	}
	if ref == "" {
		ref = "did:web:" + strings.ReplaceAll(u.Host, ":", "%3A")
	}
	d, id, _ := strings.Cut(ref, "#")
	if _, err := syntax.ParseDID(d); err != nil {
		return "", "", fmt.Errorf("xrpc: %s DID %q: %v", what, ref, err)
	}
	if id == "" {
		id = defID
	}
	return u.Scheme + "://" + u.Host, d + "#" + id, nil
}

// proxyTarget is where a request is forwarded: the service's origin, and
// its DID, the audience of the service token.
type proxyTarget struct {
	origin string
	aud    syntax.DID
}

// proxy serves a method the server does not implement. It forwards the
// request, as the reference PDS does, to the service its atproto-proxy
// header names, or else to the configured AppView (app.bsky.*) or chat
// service (chat.bsky.*); anything else is 501 MethodNotImplemented (the
// methods the server implements are served here, header or not). The
// caller must hold an access token: the forwarded request carries, in its
// place, a service token of the caller's account (Store.CreateServiceAuth)
// bound to the method (lxm) and, as the reference PDS's outbound tokens,
// addressed to the target's DID without its service id (aud
// did:web:api.bsky.app for did:web:api.bsky.app#bsky_appview). Protected
// methods (those getServiceAuth refuses) are never forwarded, nor chat.bsky.*
// ones for an app password without the privileged flag.
func (s *Server) proxy(w http.ResponseWriter, r *http.Request, name string) error {
	notImplemented := Errorf(http.StatusNotImplemented, "MethodNotImplemented", "Method Not Implemented: %s", name)
	lxm, err := syntax.ParseNSID(name)
	if err != nil {
		return notImplemented
	}
	header := r.Header.Get(ProxyHeader)
	var t proxyTarget
	switch {
	case header != "":
	case strings.HasPrefix(name, "app.bsky.") && s.opts.AppViewURL != "":
		t = proxyTarget{origin: s.opts.AppViewURL, aud: bareDID(s.opts.AppViewDID)}
	case strings.HasPrefix(name, "chat.bsky.") && s.opts.ChatURL != "":
		t = proxyTarget{origin: s.opts.ChatURL, aud: bareDID(s.opts.ChatDID)}
	default:
		return notImplemented
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
	default:
		return InvalidRequest("XRPC requests only supports GET and POST")
	}
	if protectedMethods[name] {
		return Errorf(http.StatusBadRequest, "InvalidToken", "Bad token method")
	}
	var proxyDID syntax.DID
	var serviceID string
	if header != "" {
		if proxyDID, serviceID, err = parseProxyHeader(header); err != nil {
			return err
		}
	}
	a, err := s.auth(r)
	if err != nil {
		return err
	}
	if a.AppPassword && !a.Privileged && strings.HasPrefix(name, "chat.bsky.") {
		return Errorf(http.StatusBadRequest, "InvalidToken", "Bad token method")
	}
	if header != "" {
		if t, err = s.resolveProxy(r.Context(), proxyDID, serviceID); err != nil {
			return err
		}
	}
	tok, err := s.store.CreateServiceAuth(r.Context(), a.DID, servicejwt.Params{
		Audience: t.aud.String(), LexiconMethod: lxm, TTL: serviceTokenTTL, Now: s.opts.Now()})
	if err != nil {
		return err
	}
	return s.forward(w, r, t, tok)
}

// bareDID is the DID of a "did#service" reference.
func bareDID(ref string) syntax.DID {
	d, _, _ := strings.Cut(ref, "#")
	return syntax.DID(d)
}

// parseProxyHeader splits an atproto-proxy header into its DID and service
// id (without '#'): 400 InvalidRequest if it is not "<did>#<id>".
func parseProxyHeader(h string) (syntax.DID, string, error) {
	i := strings.IndexByte(h, '#')
	switch {
	case i == 0:
		return "", "", InvalidRequest("no did specified in proxy header")
	case i < 0 || i == len(h)-1:
		return "", "", InvalidRequest("no service id specified in proxy header")
	case strings.IndexByte(h[i+1:], '#') >= 0:
		return "", "", InvalidRequest("invalid proxy header format")
	case strings.ContainsAny(h, " \t"):
		return "", "", InvalidRequest("proxy header cannot contain spaces")
	}
	d, err := syntax.ParseDID(h[:i])
	if err != nil {
		return "", "", InvalidRequest("invalid did in proxy header: %q", h[:i])
	}
	return d, h[i+1:], nil
}

// resolveProxy finds the service id of the DID d: the configured AppView or
// chat service when they are the ones named, else the serviceEndpoint of
// that service in d's DID document (400 InvalidRequest when there is none).
func (s *Server) resolveProxy(ctx context.Context, d syntax.DID, id string) (proxyTarget, error) {
	ref := d.String() + "#" + id
	switch {
	case s.opts.AppViewURL != "" && ref == s.opts.AppViewDID:
		return proxyTarget{origin: s.opts.AppViewURL, aud: d}, nil
	case s.opts.ChatURL != "" && ref == s.opts.ChatDID:
		return proxyTarget{origin: s.opts.ChatURL, aud: d}, nil
	}
	res, err := s.didResolver()
	if err != nil {
		return proxyTarget{}, err
	}
	doc, err := res.ResolveDID(ctx, d)
	if err != nil {
		s.log.Warn("proxy: resolve DID", "did", d, "err", err)
		return proxyTarget{}, InvalidRequest("could not resolve proxy did")
	}
	endpoint, err := doc.ServiceEndpoint(id, "")
	if err != nil {
		return proxyTarget{}, InvalidRequest("could not resolve proxy did service url")
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return proxyTarget{}, InvalidRequest("could not resolve proxy did service url")
	}
	return proxyTarget{origin: u.Scheme + "://" + u.Host, aud: d}, nil
}

// didResolver is Options.Resolver, or the default one, made on first use
// (it runs a cache-expiry goroutine).
func (s *Server) didResolver() (DIDResolver, error) {
	if s.opts.Resolver != nil {
		return s.opts.Resolver, nil
	}
	s.resolverOnce.Do(func() {
		r, err := did.NewResolver(nil)
		if err != nil {
			s.resolverErr = fmt.Errorf("xrpc: DID resolver: %w", err)
			return
		}
		s.resolver = r
	})
	return s.resolver, s.resolverErr
}

// Headers forwarded, as the reference PDS forwards them: request headers
// (content ones only with a body), and response headers (content ones only
// for a successful answer).
var (
	proxyRequestHeaders  = []string{"Accept-Language", "Atproto-Accept-Labelers", "X-Bsky-Topics"}
	proxyBodyHeaders     = []string{"Content-Type", "Content-Encoding"}
	proxyContentHeaders  = []string{"Content-Length", "Content-Encoding", "Content-Type", "Content-Language"}
	proxyResponseHeaders = []string{"Atproto-Repo-Rev", "Atproto-Content-Labelers", "Retry-After"}
)

// forward sends r to t with the service token tok and copies the answer
// back, both bodies streamed.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, t proxyTarget, tok string) error {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	wd := newWatchdog(s.opts.ProxyTimeout, cancel)
	defer wd.stop()

	target := t.origin + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	var body *progressReader
	var rd io.Reader
	if r.Method == http.MethodPost && r.ContentLength != 0 {
		max := s.opts.MaxBlobSize
		if r.ContentLength > max {
			return errTooLarge(max)
		}
		body = &progressReader{r: http.MaxBytesReader(nil, r.Body, max), wd: wd}
		rd = body
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, target, rd)
	if err != nil {
		return fmt.Errorf("proxy request: %w", err)
	}
	if rd != nil {
		req.ContentLength = r.ContentLength // -1 when unknown: chunked
		for _, k := range proxyBodyHeaders {
			copyHeader(req.Header, r.Header, k)
		}
	}
	for _, k := range proxyRequestHeaders {
		copyHeader(req.Header, r.Header, k)
	}
	// An explicit Accept-Encoding keeps the transport from decoding the
	// answer: its encoding passes through to the client.
	if ae := r.Header.Get("Accept-Encoding"); ae != "" {
		req.Header.Set("Accept-Encoding", ae)
	} else {
		req.Header.Set("Accept-Encoding", "identity")
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("User-Agent", "atlite/"+version())

	resp, err := s.proxyClient.Do(req)
	if err != nil {
		return s.upstreamError(r, t, wd, body, err)
	}
	defer resp.Body.Close()
	wd.kick()
	if resp.StatusCode >= 400 {
		return upstreamFailure(resp)
	}
	h := w.Header()
	for _, k := range proxyContentHeaders {
		copyHeader(h, resp.Header, k)
	}
	for _, k := range proxyResponseHeaders {
		copyHeader(h, resp.Header, k)
	}
	w.WriteHeader(resp.StatusCode)
	if r.Method == http.MethodHead {
		return nil
	}
	if err := copyBody(w, resp.Body, wd); err != nil {
		// The status is sent: all that is left is to break the connection,
		// so that the client sees a cut answer rather than a short one.
		s.log.Warn("proxy: answer cut short", "target", t.origin, "err", err, "timeout", wd.fired.Load())
		panic(http.ErrAbortHandler)
	}
	return nil
}

// errTooLarge is the 413 answer to a body over max bytes.
func errTooLarge(max int64) *Error {
	return Errorf(http.StatusRequestEntityTooLarge, "PayloadTooLarge", "request body is larger than %d bytes", max)
}

// upstreamError is the answer when no answer came from the upstream: 413
// for a request body over the limit, 504 UpstreamTimeout when the watchdog
// fired, 502 UpstreamFailure otherwise.
func (s *Server) upstreamError(r *http.Request, t proxyTarget, wd *watchdog, body *progressReader, err error) error {
	var mbe *http.MaxBytesError
	switch {
	case body != nil && errors.As(body.readErr(), &mbe):
		return errTooLarge(mbe.Limit)
	case wd.fired.Load() || isTimeout(err):
		s.log.Warn("proxy: upstream timed out", "target", t.origin, "err", err)
		return Errorf(http.StatusGatewayTimeout, "UpstreamTimeout", "Upstream service timed out")
	case r.Context().Err() != nil:
		return r.Context().Err()
	}
	s.log.Warn("proxy: upstream unreachable", "target", t.origin, "err", err)
	return Errorf(http.StatusBadGateway, "UpstreamFailure", "Upstream service unreachable")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// upstreamNames are the XRPC error names of the statuses, for upstream
// errors without a name of their own.
var upstreamNames = map[int]string{
	http.StatusBadRequest:            "InvalidRequest",
	http.StatusUnauthorized:          "AuthenticationRequired",
	http.StatusForbidden:             "Forbidden",
	http.StatusNotFound:              "XRPCNotSupported",
	http.StatusNotAcceptable:         "NotAcceptable",
	http.StatusRequestEntityTooLarge: "PayloadTooLarge",
	http.StatusUnsupportedMediaType:  "UnsupportedMediaType",
	http.StatusTooManyRequests:       "RateLimitExceeded",
	http.StatusNotImplemented:        "MethodNotImplemented",
	http.StatusBadGateway:            "UpstreamFailure",
	http.StatusServiceUnavailable:    "NotEnoughResources",
	http.StatusGatewayTimeout:        "UpstreamTimeout",
}

// upstreamFailure turns an upstream error answer into the XRPC error the
// client gets, as the reference PDS does: the upstream's status (500
// becomes 502 UpstreamFailure), its error name and message when its body is
// a JSON error, and its rev, labelers and Retry-After headers.
func upstreamFailure(resp *http.Response) *Error {
	status := resp.StatusCode
	if status == http.StatusInternalServerError {
		status = http.StatusBadGateway
	}
	var body struct {
		Error   any `json:"error"`
		Message any `json:"message"`
	}
	ct := resp.Header.Get("Content-Type")
	if ct == "" || strings.Contains(ct, "json") {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamErrorBody))
		json.Unmarshal(b, &body)
	}
	name, _ := body.Error.(string)
	msg, _ := body.Message.(string)
	if name == "" {
		name = upstreamNames[status]
		if name == "" {
			name = "UpstreamFailure"
		}
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	e := Errorf(status, name, "%s", msg)
	for _, k := range proxyResponseHeaders {
		if v := resp.Header.Get(k); v != "" {
			if e.Header == nil {
				e.Header = http.Header{}
			}
			e.Header.Set(k, v)
		}
	}
	return e
}

// copyHeader copies the values of the header k from src to dst.
func copyHeader(dst, src http.Header, k string) {
	if vs := src.Values(k); len(vs) > 0 {
		dst[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
	}
}

// copyBody streams an upstream answer to w, flushing each chunk so that a
// slow stream reaches the client as it comes.
func copyBody(w http.ResponseWriter, rd io.Reader, wd *watchdog) error {
	f, _ := w.(http.Flusher)
	buf := make([]byte, 32<<10)
	for {
		n, err := rd.Read(buf)
		if n > 0 {
			wd.kick()
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if f != nil {
				f.Flush()
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// watchdog cancels a proxied request that makes no progress for d.
type watchdog struct {
	d     time.Duration
	t     *time.Timer
	fired atomic.Bool
}

func newWatchdog(d time.Duration, cancel context.CancelFunc) *watchdog {
	wd := &watchdog{d: d}
	wd.t = time.AfterFunc(d, func() {
		wd.fired.Store(true)
		cancel()
	})
	return wd
}

// kick records progress: the wait starts again.
func (wd *watchdog) kick() {
	if !wd.fired.Load() {
		wd.t.Reset(wd.d)
	}
}

func (wd *watchdog) stop() { wd.t.Stop() }

// progressReader is a request body that kicks the watchdog as it is read
// and remembers its read error (the transport does not always return it).
type progressReader struct {
	r  io.Reader
	wd *watchdog

	mu  sync.Mutex // guards err: the transport reads on its own goroutine
	err error
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.wd.kick()
	}
	if err != nil && err != io.EOF {
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
	}
	return n, err
}

// readErr is the body's read error, if any.
func (p *progressReader) readErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}
