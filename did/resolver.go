package did

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/atlite-dev/atlite/internal/safehttp"
	"github.com/atlite-dev/atlite/syntax"
)

// Cache defaults of [ResolverOptions].
const (
	// DefaultCacheTTL is how long a resolved DID document or handle stays
	// cached.
	DefaultCacheTTL = 6 * time.Hour
	// DefaultCacheSize is the number of DID documents, and separately of
	// handles, the cache holds before evicting the least recently used.
	DefaultCacheSize = 5000
	// MaxHandleBodyBytes bounds the body of a handle's
	// /.well-known/atproto-did file.
	MaxHandleBodyBytes = 4096
)

// LookupTXTFunc looks up the TXT records of a DNS name; it has the signature
// of (*net.Resolver).LookupTXT.
type LookupTXTFunc func(ctx context.Context, name string) ([]string, error)

// ResolverOptions configures a [Resolver]. The zero value (or nil) gives
// the defaults.
type ResolverOptions struct {
	// HTTPClient fetches DID documents and well-known files, and talks to
	// the PLC directory. Its redirect policy is wrapped so that redirects to
	// other schemes than http(s), from https to http, or beyond 10 hops are
	// refused.
	//
	// nil means, for did:web documents and well-known handle files, a
	// client that connects only to public addresses, checked when
	// connecting (after DNS resolution, on every redirect), so that a DID
	// or handle cannot make the resolver reach a service only this host can
	// reach: a host that is, or resolves to, a loopback, private,
	// link-local, CGNAT, multicast or unspecified address fails with
	// [ErrForbiddenAddress]. For the PLC directory, whose URL is the
	// operator's configuration (PLCURL, PLC_HOST), nil means
	// http.DefaultClient, as for [PLCOptions.HTTPClient]. A client given
	// here is used as is for both, without the address check: it is the
	// opt-out for hosts on a private network and for tests against
	// loopback servers.
	HTTPClient *http.Client
	// LookupTXT answers DNS TXT queries; nil means
	// net.DefaultResolver.LookupTXT.
	LookupTXT LookupTXTFunc
	// PLCURL is the did:plc directory, as for [PLCOptions.URL] (PLC_HOST,
	// then DefaultPLCURL, when empty).
	PLCURL string
	// Timeout bounds each HTTP request, body included; 0 means
	// DefaultTimeout. DNS lookups get the same bound.
	Timeout time.Duration
	// MaxResponseBytes bounds each response body; 0 means
	// DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// CacheTTL is how long results stay cached; 0 means DefaultCacheTTL
	// and a negative value disables the cache.
	CacheTTL time.Duration
	// CacheSize is the maximum number of cached DID documents (and,
	// separately, handles); 0 means DefaultCacheSize.
	CacheSize int
	// UserAgent is sent with every request; "" means DefaultUserAgent.
	UserAgent string
}

// Identity is a DID with its document and its verified handle.
type Identity struct {
	DID syntax.DID
	// Handle is the handle the document claims, if it resolves back to
	// DID, and syntax.HandleInvalid otherwise.
	Handle   syntax.Handle
	Document *Document
}

// Resolver resolves DIDs (did:plc through a directory, did:web over HTTPS)
// to DID documents and handles to DIDs (DNS TXT, then HTTPS), with a cache.
// Only successful results are cached; errors are not. It is safe for
// concurrent use, and the documents it returns are fresh copies.
type Resolver struct {
	f         *fetcher
	plc       *PLCClient
	lookupTXT LookupTXTFunc
	timeout   time.Duration
	docs      *expirable.LRU[syntax.DID, *Document]
	handles   *expirable.LRU[syntax.Handle, syntax.DID]
}

// NewResolver returns a Resolver configured by opts (nil for the defaults).
// It fails if the PLC directory URL is invalid.
func NewResolver(opts *ResolverOptions) (*Resolver, error) {
	if opts == nil {
		opts = &ResolverOptions{}
	}
	maxBytes := opts.MaxResponseBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxResponseBytes
	}
	plc, err := NewPLCClient(&PLCOptions{
		URL:              opts.PLCURL,
		HTTPClient:       opts.HTTPClient,
		Timeout:          opts.Timeout,
		MaxResponseBytes: maxBytes,
		UserAgent:        opts.UserAgent,
	})
	if err != nil {
		return nil, err
	}
	hc := opts.HTTPClient
	if hc == nil {
		// No client timeout: the fetcher bounds each request with Timeout.
		hc = safehttp.NewClient(&safehttp.Options{Timeout: -1})
	}
	r := &Resolver{
		f:         newFetcher(hc, opts.Timeout, maxBytes, opts.UserAgent),
		plc:       plc,
		lookupTXT: opts.LookupTXT,
		timeout:   opts.Timeout,
	}
	if r.lookupTXT == nil {
		r.lookupTXT = net.DefaultResolver.LookupTXT
	}
	if r.timeout <= 0 {
		r.timeout = DefaultTimeout
	}
	if opts.CacheTTL >= 0 {
		ttl, size := opts.CacheTTL, opts.CacheSize
		if ttl == 0 {
			ttl = DefaultCacheTTL
		}
		if size <= 0 {
			size = DefaultCacheSize
		}
		r.docs = expirable.NewLRU[syntax.DID, *Document](size, nil, ttl)
		r.handles = expirable.NewLRU[syntax.Handle, syntax.DID](size, nil, ttl)
	}
	return r, nil
}

// ResolveDID returns the DID document of d: from the PLC directory for
// did:plc, from https://<host>/.well-known/did.json (or the path form, see
// [WebURL]) for did:web. The document's id must be d. Other methods fail
// with [ErrUnsupportedMethod].
func (r *Resolver) ResolveDID(ctx context.Context, d syntax.DID) (*Document, error) {
	if _, err := syntax.ParseDID(string(d)); err != nil {
		return nil, err
	}
	if r.docs != nil {
		if doc, ok := r.docs.Get(d); ok {
			return doc.clone(), nil
		}
	}
	var doc *Document
	switch d.Method() {
	case "plc":
		var err error
		if doc, err = r.plc.Resolve(ctx, d); err != nil {
			return nil, err
		}
	case "web":
		u, err := WebURL(d)
		if err != nil {
			return nil, err
		}
		b, err := r.f.get(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", d, err)
		}
		if doc, err = ParseDocument(b); err != nil {
			return nil, fmt.Errorf("resolve %s: %w", d, err)
		}
		if doc.ID != d {
			return nil, fmt.Errorf("%w: resolve %s: document is for %s", ErrInvalidDocument, d, doc.ID)
		}
	default:
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedMethod, d)
	}
	if r.docs != nil {
		r.docs.Add(d, doc.clone())
	}
	return doc, nil
}

// WebURL returns the URL of the DID document of a did:web: the identifier is
// split on ':', each part is percent-decoded, the first is the host (with an
// optional port written %3A) and the others path segments.
// "did:web:example.com" gives "https://example.com/.well-known/did.json",
// "did:web:example.com:u:alice" gives "https://example.com/u/alice/did.json"
// and "did:web:localhost%3A8080" gives
// "https://localhost:8080/.well-known/did.json". Hosts with user info or
// odd characters, empty segments, "." and "..", and segments holding '/',
// '?' or '#' are refused with [ErrInvalidDIDWeb].
func WebURL(d syntax.DID) (string, error) {
	if d.Method() != "web" {
		return "", fmt.Errorf("%w: %q is not a did:web", ErrUnsupportedMethod, d)
	}
	parts := strings.Split(d.Identifier(), ":")
	for i, p := range parts {
		s, err := url.PathUnescape(p)
		if err != nil || s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/?#\\@ ") {
			return "", fmt.Errorf("%w: %s: bad segment %q", ErrInvalidDIDWeb, d, p)
		}
		parts[i] = s
	}
	host := parts[0]
	u := &url.URL{Scheme: "https", Host: host}
	if len(parts) == 1 {
		u.Path = "/.well-known/did.json"
	} else {
		u.Path = "/" + strings.Join(parts[1:], "/") + "/did.json"
	}
	s := u.String()
	back, err := url.Parse(s)
	if err != nil || back.Host != host || back.Hostname() == "" || back.User != nil {
		return "", fmt.Errorf("%w: %s: bad host %q", ErrInvalidDIDWeb, d, host)
	}
	if port := back.Port(); port == "" && strings.HasSuffix(host, ":") {
		return "", fmt.Errorf("%w: %s: bad host %q", ErrInvalidDIDWeb, d, host)
	}
	return s, nil
}

// ResolveHandle returns the DID a handle points to, without the reverse
// check (see [Resolver.LookupHandle]). The handle is validated and
// lower-cased first; handles under the reserved top-level domains refused
// by [syntax.Handle.AllowedTLD] (.invalid, .local, .onion, ...) are not
// looked up and give [ErrNotFound]. The DNS TXT records of "_atproto.<handle>." are
// consulted first: exactly one DID among the "did=<DID>" records wins, and
// several different ones are an error. If DNS gives nothing (NXDOMAIN, no
// such record, a failure), https://<handle>/.well-known/atproto-did is
// fetched and its trimmed body must be a DID. If both fail the error wraps
// [ErrNotFound].
func (r *Resolver) ResolveHandle(ctx context.Context, h syntax.Handle) (syntax.DID, error) {
	h, err := syntax.ParseHandle(string(h))
	if err != nil {
		return "", err
	}
	h = h.Normalize()
	if !h.AllowedTLD() {
		return "", fmt.Errorf("%w: handle %s: reserved top-level domain", ErrNotFound, h)
	}
	if r.handles != nil {
		if d, ok := r.handles.Get(h); ok {
			return d, nil
		}
	}
	d, dnsErr := r.handleDNS(ctx, h)
	if dnsErr != nil && errors.Is(dnsErr, errAmbiguous) {
		return "", fmt.Errorf("%w: resolve handle %s: %w", ErrNotFound, h, dnsErr)
	}
	if dnsErr != nil {
		var httpErr error
		d, httpErr = r.handleHTTPS(ctx, h)
		if httpErr != nil {
			return "", fmt.Errorf("%w: resolve handle %s: dns: %v; https: %v", ErrNotFound, h, dnsErr, httpErr)
		}
	}
	if r.handles != nil {
		r.handles.Add(h, d)
	}
	return d, nil
}

var errAmbiguous = errors.New("several dids in dns txt records")

func (r *Resolver) handleDNS(ctx context.Context, h syntax.Handle) (syntax.DID, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	name := "_atproto." + string(h) + "."
	recs, err := r.lookupTXT(ctx, name)
	if err != nil {
		return "", fmt.Errorf("txt %s: %w", name, err)
	}
	var found syntax.DID
	for _, rec := range recs {
		v, ok := strings.CutPrefix(strings.TrimSpace(rec), "did=")
		if !ok {
			continue
		}
		d, err := syntax.ParseDID(v)
		if err != nil {
			continue
		}
		if found != "" && found != d {
			return "", fmt.Errorf("%w: %s and %s", errAmbiguous, found, d)
		}
		found = d
	}
	if found == "" {
		return "", fmt.Errorf("txt %s: no did= record", name)
	}
	return found, nil
}

func (r *Resolver) handleHTTPS(ctx context.Context, h syntax.Handle) (syntax.DID, error) {
	u := "https://" + string(h) + "/.well-known/atproto-did"
	resp, err := r.f.do(ctx, http.MethodGet, u, nil, MaxHandleBodyBytes)
	if err != nil {
		return "", err
	}
	if err := statusError(http.MethodGet, u, resp); err != nil {
		return "", err
	}
	d, err := syntax.ParseDID(strings.TrimSpace(string(resp.body)))
	if err != nil {
		return "", fmt.Errorf("GET %s: body is not a did", u)
	}
	return d, nil
}

// LookupDID resolves d and checks its handle both ways: the handle the
// document claims must resolve back to d. If it does not (or there is no
// handle), the Identity has syntax.HandleInvalid as its handle; only a
// failure to resolve d is an error.
func (r *Resolver) LookupDID(ctx context.Context, d syntax.DID) (*Identity, error) {
	doc, err := r.ResolveDID(ctx, d)
	if err != nil {
		return nil, err
	}
	id := &Identity{DID: d, Handle: syntax.HandleInvalid, Document: doc}
	h, err := doc.Handle()
	if err != nil {
		return id, nil
	}
	back, err := r.ResolveHandle(ctx, h)
	if err == nil && back == d {
		id.Handle = h
	}
	return id, nil
}

// LookupHandle resolves h to a DID and that DID to its document, whose
// claimed handle must be h (case-insensitively); otherwise it fails with
// [ErrHandleMismatch].
func (r *Resolver) LookupHandle(ctx context.Context, h syntax.Handle) (*Identity, error) {
	d, err := r.ResolveHandle(ctx, h)
	if err != nil {
		return nil, err
	}
	doc, err := r.ResolveDID(ctx, d)
	if err != nil {
		return nil, err
	}
	claimed, err := doc.Handle()
	if err != nil {
		return nil, fmt.Errorf("%w: %s resolves to %s, whose document has no handle", ErrHandleMismatch, h, d)
	}
	if claimed != h.Normalize() {
		return nil, fmt.Errorf("%w: %s resolves to %s, whose document claims %s", ErrHandleMismatch, h, d, claimed)
	}
	return &Identity{DID: d, Handle: claimed, Document: doc}, nil
}

// PurgeDID drops d from the cache, so that the next resolution fetches it
// again (after a key rotation, say).
func (r *Resolver) PurgeDID(d syntax.DID) {
	if r.docs != nil {
		r.docs.Remove(d)
	}
}

// PurgeHandle drops h from the cache.
func (r *Resolver) PurgeHandle(h syntax.Handle) {
	if r.handles != nil {
		r.handles.Remove(h.Normalize())
	}
}
