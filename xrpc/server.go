package xrpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/lexicon"
)

// Defaults for the zero fields of [Options].
const (
	// DefaultMaxBodySize caps JSON request bodies: 2 MiB, room for a
	// 200-write applyWrites of large records.
	DefaultMaxBodySize = 2 << 20
	// DefaultMaxImportSize caps importRepo bodies (CAR files): 1 GiB.
	DefaultMaxImportSize = 1 << 30
)

// Options configure [New]. A nil *Options, and every zero field, mean the
// documented default.
type Options struct {
	// PublicURL is the server's public base URL (https://pds.example),
	// used for the service DID (did:web of its host) and DID documents.
	// Default: http://localhost:2583.
	PublicURL string

	// HandleDomains are the host's own handle domains (".pds.example"):
	// handles under them resolve locally, without DNS.
	HandleDomains []string

	// InviteCode, when set, allows createAccount with this invite code;
	// when empty, createAccount is refused.
	InviteCode string

	// Logger gets one line per request. Default: slog.Default().
	Logger *slog.Logger

	// MaxBodySize caps JSON request bodies in bytes. Default:
	// DefaultMaxBodySize.
	MaxBodySize int64

	// MaxImportSize caps importRepo bodies in bytes. Default:
	// DefaultMaxImportSize.
	MaxImportSize int64

	// MaxBlobSize caps uploadBlob bodies, and the bodies of forwarded
	// requests (proxy.go), in bytes. Default: atlite.DefaultBlobMaxBytes.
	MaxBlobSize int64

	// Now returns the current time (tokens, rate limits). Default: time.Now.
	Now func() time.Time

	// Lexicons is the catalog that createRecord, putRecord and applyWrites
	// check records against (see their validate input). Default:
	// lexicon.Default(), the lexicons of com.atproto, app.bsky and
	// chat.bsky.
	Lexicons *lexicon.Catalog

	// Firehose configures com.atproto.sync.subscribeRepos.
	Firehose FirehoseOptions

	// AppViewURL is the AppView (https://api.bsky.app) that the app.bsky.*
	// methods this server does not implement are forwarded to (proxy.go).
	// Default: none; they answer 501 MethodNotImplemented unless an
	// atproto-proxy header names a service.
	AppViewURL string
	// AppViewDID is the AppView's service reference, a DID with a service
	// id (did:web:api.bsky.app#bsky_appview); without one, #bsky_appview
	// is added. Its DID is the audience of the forwarded service tokens.
	// Default: did:web of AppViewURL's host.
	AppViewDID string
	// ChatURL is, as AppViewURL, the chat service (https://api.bsky.chat)
	// for chat.bsky.* methods. Default: none (501).
	ChatURL string
	// ChatDID is, as AppViewDID, the chat service's reference
	// (did:web:api.bsky.chat#bsky_chat); the default service id is
	// #bsky_chat. Default: did:web of ChatURL's host.
	ChatDID string
	// Resolver resolves the DIDs that atproto-proxy headers name. Default
	// (left nil): a did.Resolver, made on first use, that fetches did:web
	// documents from public addresses only.
	Resolver DIDResolver
	// ProxyClient makes the forwarded requests; redirects are not
	// followed but passed back. Default: a client that connects to public
	// addresses only (no loopback, private or link-local ones), since
	// targets come from DID documents. Tests against loopback services,
	// and hosts whose AppView is on a private network, give their own.
	ProxyClient *http.Client
	// ProxyTimeout is how long a forwarded request may go without
	// progress (the upstream's answer, a read of either body) before it
	// fails with 504 UpstreamTimeout, or is cut if its answer has begun.
	// Default: DefaultProxyTimeout.
	ProxyTimeout time.Duration

	// Relays are the relays (https://bsky.network; a bare host means
	// https) that [Server.RequestCrawl] asks to crawl this server.
	Relays []string
	// RelayClient makes the requestCrawl calls. Default: an http.Client
	// with DefaultRelayTimeout (relay URLs are the operator's choice).
	RelayClient *http.Client
	// CrawlRetry is the wait before the first retry of a failed
	// requestCrawl, doubling after each. Default: DefaultCrawlRetry.
	CrawlRetry time.Duration
}

// Handler handles one XRPC method. It writes its answer to w and returns
// nil, or returns an error, which the server writes as an XRPC error (see
// [ErrorFor]) if nothing was written yet.
type Handler func(w http.ResponseWriter, r *http.Request) error

type method struct {
	procedure bool // POST; a query is GET (HEAD too)
	proxy     bool // not served here: forwarded (proxy.go), checks its own verbs
	h         Handler
}

// Server is an http.Handler serving a Store over XRPC. It is safe for
// concurrent use.
type Server struct {
	store *atlite.Store
	opts  Options
	log   *slog.Logger

	mu      sync.RWMutex
	methods map[string]method
	mux     *http.ServeMux // non-XRPC paths: /.well-known, /_health, /

	keyMu        sync.Mutex     // guards key
	key          []byte         // the HS256 key of session tokens (auth.go)
	verified     verifiedTokens // the JWTs parseToken accepted (auth.go)
	sessionLimit *limiter       // createSession calls per client IP (auth.go)
	firehose     *firehose      // subscribeRepos connections (firehose.go)
	proxyClient  *http.Client   // ProxyClient, not following redirects (proxy.go)
	resolverOnce sync.Once      // makes resolver, the default Resolver (proxy.go)
	resolver     DIDResolver
	resolverErr  error
}

// New returns a Server for store; opts may be nil. The store stays the
// caller's: Close it after the server has stopped.
func New(store *atlite.Store, opts *Options) (*Server, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.PublicURL == "" {
		o.PublicURL = "http://localhost:2583"
	}
	o.PublicURL = strings.TrimRight(o.PublicURL, "/")
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxBodySize <= 0 {
		o.MaxBodySize = DefaultMaxBodySize
	}
	if o.MaxImportSize <= 0 {
		o.MaxImportSize = DefaultMaxImportSize
	}
	if o.MaxBlobSize <= 0 {
		o.MaxBlobSize = atlite.DefaultBlobMaxBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Lexicons == nil {
		o.Lexicons = lexicon.Default()
	}
	s := &Server{store: store, opts: o, log: o.Logger, methods: map[string]method{}, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /xrpc/_health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"version": version()})
	})
	for _, register := range registrations {
		if err := register(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// registrations are the groups of methods New registers (each file adds
// its own with an init function), so that the server's parts stay apart.
var registrations []func(*Server) error

// Query registers a GET method.
func (s *Server) Query(nsid string, h Handler) { s.handle(nsid, false, h) }

// Procedure registers a POST method.
func (s *Server) Procedure(nsid string, h Handler) { s.handle(nsid, true, h) }

func (s *Server) handle(nsid string, procedure bool, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.methods[nsid] = method{procedure: procedure, h: h}
}

// HandleFunc registers a handler for a non-XRPC path pattern of
// http.ServeMux ("GET /.well-known/atproto-did").
func (s *Server) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	s.mux.HandleFunc(pattern, h)
}

// Shutdown ends the long-lived connections (subscribeRepos, with close
// code 1001 going away) and waits for them until ctx is done; new ones are
// refused. Call it before http.Server.Shutdown, which does not track
// hijacked connections, and before closing the Store.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.firehose == nil {
		return nil
	}
	return s.firehose.shutdown(ctx)
}

// Close is Shutdown waiting at most 10 seconds.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Shutdown(ctx)
}

// Store returns the store the server serves.
func (s *Server) Store() *atlite.Store { return s.store }

// Options returns the server's options with defaults filled in.
func (s *Server) Options() Options { return s.opts }

// ServeHTTP implements http.Handler: CORS, a log line per request, panic
// recovery and XRPC dispatch.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &responseWriter{ResponseWriter: w}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic in handler", "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if !rw.wrote {
				writeError(rw, Errorf(http.StatusInternalServerError, "InternalServerError", "Internal Server Error"))
			}
		}
		s.log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rw.status(), "bytes", rw.n,
			"ms", float64(time.Since(start).Microseconds())/1000)
	}()
	cors(rw, r)
	if r.Method == http.MethodOptions {
		rw.WriteHeader(http.StatusNoContent)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/xrpc/")
	if !ok || name == "_health" {
		s.mux.ServeHTTP(rw, r)
		return
	}
	s.mu.RLock()
	m, ok := s.methods[name]
	s.mu.RUnlock()
	if !ok {
		// Forwarded to another service, or 501 MethodNotImplemented.
		m = method{proxy: true, h: func(w http.ResponseWriter, r *http.Request) error { return s.proxy(w, r, name) }}
	}
	switch {
	case m.proxy:
	case m.procedure && r.Method != http.MethodPost,
		!m.procedure && r.Method != http.MethodGet && r.Method != http.MethodHead:
		e := Errorf(http.StatusMethodNotAllowed, "InvalidRequest", "%s is a %s: use %s", name, kind(m), verb(m))
		e.Header = http.Header{"Allow": {verb(m)}}
		writeError(rw, e)
		return
	}
	if err := m.h(rw, r); err != nil {
		xe := ErrorFor(err)
		if xe.Status >= 500 {
			s.log.Error("handler error", "method", name, "err", err)
		}
		if !rw.wrote {
			writeError(rw, xe)
		}
	}
}

func kind(m method) string {
	if m.procedure {
		return "procedure"
	}
	return "query"
}

func verb(m method) string {
	if m.procedure {
		return http.MethodPost
	}
	return http.MethodGet
}

// cors answers browser clients: any origin, the headers atproto clients
// send.
func cors(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, OPTIONS")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
		} else {
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, atproto-proxy, atproto-accept-labelers, DPoP")
		}
		h.Set("Access-Control-Max-Age", "86400")
	}
	h.Set("Access-Control-Expose-Headers", "*")
}

// responseWriter remembers whether and what was written.
type responseWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
	n     int64
}

func (w *responseWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.code, w.wrote = http.StatusOK, true
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

// Flush passes on to the underlying writer when it can flush.
func (w *responseWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer (WebSocket
// upgrades need its Hijacker).
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *responseWriter) status() int {
	if !w.wrote {
		return http.StatusOK
	}
	return w.code
}

// writeJSON writes v as a JSON answer.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// WriteJSON writes v as a 200 JSON answer.
func WriteJSON(w http.ResponseWriter, v any) error { return writeJSON(w, http.StatusOK, v) }

// DecodeJSON reads r's JSON body, at most max bytes, into v: 413
// PayloadTooLarge past the limit, 400 InvalidRequest for malformed JSON or
// another content type.
func DecodeJSON(r *http.Request, max int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return InvalidRequest("wrong content type %q: want application/json", ct)
	}
	body := http.MaxBytesReader(nil, r.Body, max)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return Errorf(http.StatusRequestEntityTooLarge, "PayloadTooLarge", "request body is larger than %d bytes", max)
		}
		if errors.Is(err, io.EOF) {
			return InvalidRequest("request body is empty: want a JSON object")
		}
		return InvalidRequest("malformed JSON body: %v", err)
	}
	if dec.More() {
		return InvalidRequest("malformed JSON body: data after the JSON object")
	}
	return nil
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
