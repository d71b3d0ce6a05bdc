package safehttp

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"syscall"
	"time"
)

// ErrForbiddenAddress is returned when a client is about to connect to an
// address its policy refuses (by default, any address that is not
// [IsPublic]), and by [CheckURL] for such an IP literal. The error text names
// the address, its port and why it was refused.
var ErrForbiddenAddress = errors.New("forbidden address")

// ErrForbiddenScheme is returned when a request, or a redirect, is for a URL
// whose scheme is neither http nor https.
var ErrForbiddenScheme = errors.New("forbidden url scheme")

// ErrTooManyRedirects is returned when a request is redirected more than
// [Options.MaxRedirects] times.
var ErrTooManyRedirects = errors.New("too many redirects")

// Defaults of [Options].
const (
	// DefaultTimeout bounds a whole request: connecting, redirects and
	// reading the body.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxRedirects is how many redirects a request follows.
	DefaultMaxRedirects = 10
	// DialTimeout bounds connecting to one address.
	DialTimeout = 10 * time.Second
	// TLSHandshakeTimeout bounds a TLS handshake.
	TLSHandshakeTimeout = 10 * time.Second
)

// Options configures [NewClient]. A nil pointer, and every zero field, mean
// the documented default: the [IsPublic] policy, [DefaultTimeout] and
// [DefaultMaxRedirects].
type Options struct {
	// AllowPrivate turns the address check off: every address may be
	// connected to. It is the opt-out for tests against loopback servers and
	// for operators whose services live on a private network. Schemes and
	// redirects are still checked.
	AllowPrivate bool
	// Allow, when set and AllowPrivate is false, decides which addresses may
	// be connected to in place of [IsPublic]. It is called at dial time, on
	// every connection (redirects included), with the IP address actually
	// being connected to (an IPv4-mapped IPv6 address unmapped) and its
	// port; it may be called concurrently. To widen the default policy,
	// return IsPublic(a.Addr()) || ...
	Allow func(a netip.AddrPort) bool
	// Timeout bounds each request, redirects and reading the body included.
	// 0 means DefaultTimeout; a negative value means no bound (the caller
	// bounds requests with contexts).
	Timeout time.Duration
	// MaxRedirects is how many redirects a request follows before failing
	// with ErrTooManyRedirects. 0 means DefaultMaxRedirects; a negative
	// value means redirects are not followed: the 3xx response is returned.
	MaxRedirects int
}

// NewClient returns an HTTP client that checks, at dial time, every address
// it connects to against the policy of opts (nil for the defaults), so that
// neither a redirect nor a DNS answer that changes between a check and the
// connection (DNS rebinding) reaches an address the policy refuses
// ([ErrForbiddenAddress]). It refuses URLs, redirects included, whose
// scheme is not http or https ([ErrForbiddenScheme]), follows at most
// MaxRedirects redirects ([ErrTooManyRedirects]) and ignores the
// HTTP_PROXY, HTTPS_PROXY and NO_PROXY environment variables: through a
// proxy, the address check would judge the proxy instead of the server.
//
// Clients with the default address policy share one transport, and so
// their pool of idle connections; each client with AllowPrivate or Allow
// set has its own.
func NewClient(opts *Options) *http.Client {
	var o Options
	if opts != nil {
		o = *opts
	}
	timeout := o.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultTimeout
	case timeout < 0:
		timeout = 0
	}
	var rt http.RoundTripper
	switch {
	case o.AllowPrivate:
		rt = newTransport(nil)
	case o.Allow != nil:
		rt = newTransport(control(o.Allow))
	default:
		rt = defaultTransport()
	}
	return &http.Client{Transport: rt, CheckRedirect: checkRedirect(o.MaxRedirects), Timeout: timeout}
}

// defaultTransport is the transport of the clients with the IsPublic
// policy, made on first use.
var defaultTransport = sync.OnceValue(func() http.RoundTripper {
	return newTransport(control(func(a netip.AddrPort) bool { return IsPublic(a.Addr()) }))
})

// transport refuses URLs that are not http or https before handing them to
// the underlying transport. Embedding keeps CloseIdleConnections.
type transport struct {
	*http.Transport
}

// RoundTrip implements http.RoundTripper.
func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := checkScheme(req.URL); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return t.Transport.RoundTrip(req)
}

// newTransport returns a transport whose dialer runs ctrl (when not nil)
// before every connection. It uses no proxy.
func newTransport(ctrl func(network, address string, c syscall.RawConn) error) transport {
	d := &net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second, Control: ctrl}
	return transport{&http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   TLSHandshakeTimeout,
		ExpectContinueTimeout: time.Second,
	}}
}

// control returns a net.Dialer Control function that refuses the addresses
// allow rejects. It runs after the host name has been resolved and before
// the connection is made, with the "ip:port" about to be connected to.
func control(allow func(netip.AddrPort) bool) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w %s (not an ip address)", ErrForbiddenAddress, address)
		}
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		if allow(ap) {
			return nil
		}
		why := reason(ap.Addr())
		if why == "" {
			why = "not allowed"
		}
		return fmt.Errorf("%w %s (%s)", ErrForbiddenAddress, ap, why)
	}
}

// checkRedirect returns a redirect policy that follows at most max
// redirects (see Options.MaxRedirects) and only to http and https URLs.
func checkRedirect(max int) func(req *http.Request, via []*http.Request) error {
	if max == 0 {
		max = DefaultMaxRedirects
	}
	return func(req *http.Request, via []*http.Request) error {
		if max < 0 {
			return http.ErrUseLastResponse
		}
		if err := checkScheme(req.URL); err != nil {
			return err
		}
		if len(via) > max {
			return fmt.Errorf("%w: stopped after %d", ErrTooManyRedirects, max)
		}
		return nil
	}
}

func checkScheme(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w %q", ErrForbiddenScheme, u.Scheme)
	}
	return nil
}

// CheckURL checks u before any request, as a client with the default policy
// would: its scheme must be http or https ([ErrForbiddenScheme]) and, if
// its host is an IP literal, the address must be public ([IsPublic];
// [ErrForbiddenAddress]). A host name is not resolved here: a client of
// [NewClient] checks the addresses it resolves to when it connects. CheckURL
// lets a caller refuse such URLs before doing anything else, such as
// recording them.
func CheckURL(u *url.URL) error {
	if err := checkScheme(u); err != nil {
		return err
	}
	a, err := netip.ParseAddr(u.Hostname())
	if err != nil {
		return nil // a host name
	}
	a = a.Unmap()
	if why := reason(a); why != "" {
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		return fmt.Errorf("%w %s (%s)", ErrForbiddenAddress, net.JoinHostPort(a.String(), port), why)
	}
	return nil
}
