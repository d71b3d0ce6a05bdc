package did_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atlite-dev/atlite/did"
	"github.com/atlite-dev/atlite/syntax"
)

func TestWebURL(t *testing.T) {
	tests := []struct {
		d    syntax.DID
		want string
	}{
		// SPEC 11.1 vectors.
		{"did:web:abc.com", "https://abc.com/.well-known/did.json"},
		{"did:web:abc.com:def", "https://abc.com/def/did.json"},
		{"did:web:abc.com%3A99", "https://abc.com:99/.well-known/did.json"},
		{"did:web:abc.com%3a99:u:alice", "https://abc.com:99/u/alice/did.json"},
		{"did:web:localhost%3A8080", "https://localhost:8080/.well-known/did.json"},
		{"did:web:abc.com:a%20b", ""},
		{"did:web:abc.com::x", ""},
		{"did:web:abc.com:..", ""},
		{"did:web:abc.com:a%2Fb", ""},
		{"did:web:abc.com%2F..", ""},
		{"did:web:user%40abc.com", ""},
		{"did:web:abc.com%3A", ""},
		{"did:web:abc.com%3Ax", ""},
		{"did:web:abc.com%zz", ""},
		{"did:web:abc.com%3F", ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.d), func(t *testing.T) {
			got, err := did.WebURL(tt.d)
			if tt.want == "" {
				if !errors.Is(err, did.ErrInvalidDIDWeb) {
					t.Errorf("WebURL(%q) = %q, %v; want ErrInvalidDIDWeb", tt.d, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("WebURL(%q) = %q, %v; want %q", tt.d, got, err, tt.want)
			}
		})
	}
	if _, err := did.WebURL("did:plc:abc"); !errors.Is(err, did.ErrUnsupportedMethod) {
		t.Errorf("WebURL(did:plc) = %v, want ErrUnsupportedMethod", err)
	}
}

// webHost is an HTTPS server standing for every host name: its client
// dials it whatever the URL's host, and its certificate covers example.com
// and *.example.com.
type webHost struct {
	srv   *httptest.Server
	mu    sync.Mutex
	files map[string]string // host+path -> body
	hits  atomic.Int64
	// handle, if set, answers instead of files.
	handle http.HandlerFunc
}

func newWebHost(t *testing.T) *webHost {
	t.Helper()
	w := &webHost{files: map[string]string{}}
	w.srv = httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.hits.Add(1)
		w.mu.Lock()
		h := w.handle
		body, ok := w.files[r.Host+r.URL.Path]
		w.mu.Unlock()
		if h != nil {
			h(rw, r)
			return
		}
		if !ok {
			http.NotFound(rw, r)
			return
		}
		rw.Write([]byte(body))
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *webHost) setHandler(h http.HandlerFunc) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.handle = h
}

func (w *webHost) set(hostPath, body string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.files[hostPath] = body
}

// client returns an HTTP client that trusts the server and sends every
// request to it.
func (w *webHost) client() *http.Client {
	tr := w.srv.Client().Transport.(*http.Transport).Clone()
	addr := w.srv.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: tr}
}

// fakeDNS answers TXT queries from a map; unknown names are NXDOMAIN.
type fakeDNS struct {
	mu      sync.Mutex
	records map[string][]string
	queries []string
}

func (f *fakeDNS) lookup(_ context.Context, name string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, name)
	recs, ok := f.records[name]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	return recs, nil
}

func webDoc(d, handle, key string) string {
	return fmt.Sprintf(`{"@context":["https://www.w3.org/ns/did/v1"],"id":%q,"alsoKnownAs":["at://%s"],`+
		`"verificationMethod":[{"id":"#atproto","type":"Multikey","controller":%q,"publicKeyMultibase":%q}],`+
		`"service":[{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"https://pds.example.com"}]}`, d, handle, d, key)
}

func newResolver(t *testing.T, w *webHost, dns *fakeDNS, opts *did.ResolverOptions) *did.Resolver {
	t.Helper()
	if opts == nil {
		opts = &did.ResolverOptions{}
	}
	opts.HTTPClient = w.client()
	if dns != nil {
		opts.LookupTXT = dns.lookup
	}
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.PLCURL == "" {
		opts.PLCURL = "https://plc.example.com"
	}
	r, err := did.NewResolver(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestResolveDIDWeb(t *testing.T) {
	ctx := context.Background()
	w := newWebHost(t)
	key := k256(t, seedRepo).PublicKey()
	w.set("example.com/.well-known/did.json", webDoc("did:web:example.com", "example.com", key.Multikey()))
	w.set("example.com/u/alice/did.json", webDoc("did:web:example.com:u:alice", "alice.example.com", key.Multikey()))
	w.set("wrong.example.com/.well-known/did.json", webDoc("did:web:example.com", "x.example.com", key.Multikey()))
	r := newResolver(t, w, nil, nil)

	for _, d := range []syntax.DID{"did:web:example.com", "did:web:example.com:u:alice"} {
		doc, err := r.ResolveDID(ctx, d)
		if err != nil {
			t.Fatalf("ResolveDID(%s) = %v", d, err)
		}
		k, err := doc.SigningKey()
		if doc.ID != d || err != nil || !k.Equal(key) {
			t.Errorf("ResolveDID(%s) = id %s, key %v, %v", d, doc.ID, k, err)
		}
	}
	if _, err := r.ResolveDID(ctx, "did:web:wrong.example.com"); !errors.Is(err, did.ErrInvalidDocument) {
		t.Errorf("ResolveDID(doc for another did) = %v, want ErrInvalidDocument", err)
	}
	if _, err := r.ResolveDID(ctx, "did:web:missing.example.com"); !errors.Is(err, did.ErrNotFound) {
		t.Errorf("ResolveDID(404) = %v, want ErrNotFound", err)
	}
	for _, d := range []syntax.DID{"did:key:" + syntax.DID(key.Multikey()), "did:example:123"} {
		if _, err := r.ResolveDID(ctx, d); !errors.Is(err, did.ErrUnsupportedMethod) {
			t.Errorf("ResolveDID(%s) = %v, want ErrUnsupportedMethod", d, err)
		}
	}
	if _, err := r.ResolveDID(ctx, "not a did"); !errors.Is(err, syntax.ErrInvalidDID) {
		t.Errorf("ResolveDID(not a did) = %v, want syntax.ErrInvalidDID", err)
	}
}

func TestMalformedDocuments(t *testing.T) {
	ctx := context.Background()
	w := newWebHost(t)
	r := newResolver(t, w, nil, &did.ResolverOptions{CacheTTL: -1})
	tests := []struct{ name, body string }{
		{"not json", `<html>`},
		{"array", `[]`},
		{"no id", `{"alsoKnownAs":[]}`},
		{"numeric id", `{"id":1}`},
		{"bad id", `{"id":"did:web"}`},
		{"aka not list", `{"id":"did:web:example.com","alsoKnownAs":"at://a.b"}`},
		{"aka numbers", `{"id":"did:web:example.com","alsoKnownAs":[1]}`},
		{"vm not list", `{"id":"did:web:example.com","verificationMethod":{}}`},
		{"vm type number", `{"id":"did:web:example.com","verificationMethod":[{"id":"#atproto","type":1}]}`},
		{"vm without id", `{"id":"did:web:example.com","verificationMethod":[{"type":"Multikey"}]}`},
		{"service without id", `{"id":"did:web:example.com","service":[{"type":"x","serviceEndpoint":"https://x"}]}`},
		{"context number", `{"@context":1,"id":"did:web:example.com"}`},
		{"truncated", `{"id":"did:web:example.com"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w.set("example.com/.well-known/did.json", tt.body)
			doc, err := r.ResolveDID(ctx, "did:web:example.com")
			if doc != nil || !errors.Is(err, did.ErrInvalidDocument) {
				t.Errorf("ResolveDID(%s) = %v, %v; want ErrInvalidDocument", tt.body, doc, err)
			}
		})
	}
}

func TestDocumentAccessors(t *testing.T) {
	k := k256(t, seedRepo).PublicKey()
	p := p256(t, seedRepo).PublicKey()
	legacyK := "z" + base58(t, k.Bytes())
	parse := func(s string) *did.Document {
		t.Helper()
		doc, err := did.ParseDocument([]byte(s))
		if err != nil {
			t.Fatalf("ParseDocument(%s) = %v", s, err)
		}
		return doc
	}
	t.Run("handle", func(t *testing.T) {
		tests := []struct {
			aka  string
			want syntax.Handle
		}{
			{`["at://han.dull"]`, "han.dull"},
			{`["https://x.y","at://Han.Dull","at://other.test"]`, "han.dull"},
			{`["at://did:plc:123"]`, ""},
			{`["at://"]`, ""},
			{`[]`, ""},
			{`["http://han.dull"]`, ""},
		}
		for _, tt := range tests {
			doc := parse(`{"id":"did:plc:abc","alsoKnownAs":` + tt.aka + `}`)
			h, err := doc.Handle()
			if tt.want == "" {
				if !errors.Is(err, did.ErrNoHandle) {
					t.Errorf("Handle(%s) = %q, %v; want ErrNoHandle", tt.aka, h, err)
				}
			} else if h != tt.want || err != nil {
				t.Errorf("Handle(%s) = %q, %v; want %q", tt.aka, h, err, tt.want)
			}
		}
	})
	t.Run("signing key", func(t *testing.T) {
		tests := []struct {
			name, vm string
			want     string // did:key, "" for ErrNoKey
		}{
			{"relative multikey", `[{"id":"#atproto","type":"Multikey","controller":"did:plc:abc","publicKeyMultibase":"` + k.Multikey() + `"}]`, k.DIDKey()},
			{"absolute multikey", `[{"id":"did:plc:abc#atproto","type":"Multikey","controller":"did:plc:abc","publicKeyMultibase":"` + p.Multikey() + `"}]`, p.DIDKey()},
			{"legacy k256", `[{"id":"#atproto","type":"EcdsaSecp256k1VerificationKey2019","controller":"did:plc:abc","publicKeyMultibase":"` + legacyK + `"}]`, k.DIDKey()},
			{"other id first", `[{"id":"#other","type":"Multikey","publicKeyMultibase":"` + p.Multikey() + `"},{"id":"#atproto","type":"Multikey","publicKeyMultibase":"` + k.Multikey() + `"}]`, k.DIDKey()},
			{"absolute for another did", `[{"id":"did:plc:xyz#atproto","type":"Multikey","publicKeyMultibase":"` + k.Multikey() + `"}]`, ""},
			{"missing", `[]`, ""},
			{"unknown type", `[{"id":"#atproto","type":"JsonWebKey2020","publicKeyMultibase":"` + k.Multikey() + `"}]`, ""},
			{"bad key", `[{"id":"#atproto","type":"Multikey","publicKeyMultibase":"zQ3shBAD"}]`, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				doc := parse(`{"id":"did:plc:abc","verificationMethod":` + tt.vm + `}`)
				key, err := doc.SigningKey()
				if tt.want == "" {
					if !errors.Is(err, did.ErrNoKey) {
						t.Errorf("SigningKey() = %v, %v; want ErrNoKey", key, err)
					}
				} else if err != nil || key.DIDKey() != tt.want {
					t.Errorf("SigningKey() = %v, %v; want %s", key, err, tt.want)
				}
			})
		}
	})
	t.Run("pds", func(t *testing.T) {
		tests := []struct {
			name, svc, want string
		}{
			{"relative", `[{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"https://pds.test"}]`, "https://pds.test"},
			{"absolute", `[{"id":"did:plc:abc#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"http://localhost:2583"}]`, "http://localhost:2583"},
			{"map endpoint skipped", `[{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":{"uri":"https://x"}}]`, ""},
			{"wrong type", `[{"id":"#atproto_pds","type":"Other","serviceEndpoint":"https://pds.test"}]`, ""},
			{"not a url", `[{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"pds.test"}]`, ""},
			{"missing", `[]`, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				doc := parse(`{"id":"did:plc:abc","service":` + tt.svc + `}`)
				got, err := doc.PDSEndpoint()
				if tt.want == "" {
					if !errors.Is(err, did.ErrNoService) {
						t.Errorf("PDSEndpoint() = %q, %v; want ErrNoService", got, err)
					}
				} else if err != nil || got != tt.want {
					t.Errorf("PDSEndpoint() = %q, %v; want %q", got, err, tt.want)
				}
			})
		}
	})
	t.Run("context string", func(t *testing.T) {
		doc := parse(`{"@context":"https://www.w3.org/ns/did/v1","id":"did:plc:abc"}`)
		if len(doc.Context) != 1 || doc.Context[0] != did.ContextDID {
			t.Errorf("Context = %q", doc.Context)
		}
		if got := mustJSON(t, doc); got != `{"@context":["https://www.w3.org/ns/did/v1"],"id":"did:plc:abc","alsoKnownAs":[],"verificationMethod":[],"service":[]}` {
			t.Errorf("MarshalJSON = %s", got)
		}
	})
}

func TestResolveHandle(t *testing.T) {
	ctx := context.Background()
	w := newWebHost(t)
	dns := &fakeDNS{records: map[string][]string{
		"_atproto.dns.example.com.":   {"did=did:plc:123"},
		"_atproto.nope.example.com.":  {"nope"},
		"_atproto.two.example.com.":   {"did=did:plc:aaa", "did=did:plc:bbb"},
		"_atproto.same.example.com.":  {"v=spf1", "did=did:plc:aaa", " did=did:plc:aaa "},
		"_atproto.badtxt.example.com": {"did=not a did"},
	}}
	w.set("nope.example.com/.well-known/atproto-did", "did:plc:456\n")
	w.set("text.example.com/.well-known/atproto-did", "hello")
	w.set("big.example.com/.well-known/atproto-did", "did:plc:"+strings.Repeat("a", did.MaxHandleBodyBytes))
	r := newResolver(t, w, dns, &did.ResolverOptions{CacheTTL: -1})

	// SPEC 19.4 #28: DNS wins without any HTTP request.
	d, err := r.ResolveHandle(ctx, "DNS.example.com")
	if err != nil || d != "did:plc:123" {
		t.Errorf("ResolveHandle(dns) = %s, %v; want did:plc:123", d, err)
	}
	if n := w.hits.Load(); n != 0 {
		t.Errorf("DNS resolution made %d HTTP requests", n)
	}
	if dns.queries[0] != "_atproto.dns.example.com." {
		t.Errorf("DNS query = %q", dns.queries[0])
	}
	tests := []struct {
		h    syntax.Handle
		want syntax.DID
		err  error
	}{
		{"nope.example.com", "did:plc:456", nil},
		{"same.example.com", "did:plc:aaa", nil},
		{"text.example.com", "", did.ErrNotFound},
		{"missing.example.com", "", did.ErrNotFound},
		{"two.example.com", "", did.ErrNotFound},
		{"big.example.com", "", did.ErrNotFound},
		{"handle.invalid", "", did.ErrNotFound},
		{"alice.local", "", did.ErrNotFound},
		{"foo", "", syntax.ErrInvalidHandle},
		{"did:plc:x", "", syntax.ErrInvalidHandle},
		{"a b.com", "", syntax.ErrInvalidHandle},
		{"c_d.org", "", syntax.ErrInvalidHandle},
		{".x.net", "", syntax.ErrInvalidHandle},
		{"", "", syntax.ErrInvalidHandle},
	}
	for _, tt := range tests {
		t.Run(string(tt.h), func(t *testing.T) {
			d, err := r.ResolveHandle(ctx, tt.h)
			if tt.err != nil {
				if d != "" || !errors.Is(err, tt.err) {
					t.Errorf("ResolveHandle(%q) = %q, %v; want %v", tt.h, d, err, tt.err)
				}
				return
			}
			if err != nil || d != tt.want {
				t.Errorf("ResolveHandle(%q) = %q, %v; want %q", tt.h, d, err, tt.want)
			}
		})
	}
	for _, q := range dns.queries {
		if strings.HasSuffix(q, ".invalid.") || strings.HasSuffix(q, ".local.") {
			t.Errorf("reserved handle looked up in DNS: %s", q)
		}
	}
	// A DNS failure other than NXDOMAIN falls through to HTTPS.
	failing := newResolver(t, w, nil, &did.ResolverOptions{CacheTTL: -1, LookupTXT: func(context.Context, string) ([]string, error) {
		return nil, &net.DNSError{Err: "server misbehaving", IsTemporary: true}
	}})
	if d, err := failing.ResolveHandle(ctx, "nope.example.com"); err != nil || d != "did:plc:456" {
		t.Errorf("ResolveHandle(dns failure) = %s, %v; want did:plc:456", d, err)
	}
}

func TestLookupBidirectional(t *testing.T) {
	ctx := context.Background()
	w := newWebHost(t)
	key := k256(t, seedRepo).PublicKey().Multikey()
	w.set("example.com/.well-known/did.json", webDoc("did:web:example.com", "alice.example.com", key))
	w.set("liar.example.com/.well-known/did.json", webDoc("did:web:liar.example.com", "alice.example.com", key))
	w.set("nohandle.example.com/.well-known/did.json", `{"id":"did:web:nohandle.example.com"}`)
	dns := &fakeDNS{records: map[string][]string{
		"_atproto.alice.example.com.": {"did=did:web:example.com"},
		"_atproto.bob.example.com.":   {"did=did:web:example.com"},
		"_atproto.carol.example.com.": {"did=did:web:nohandle.example.com"},
	}}
	r := newResolver(t, w, dns, nil)

	id, err := r.LookupHandle(ctx, "Alice.Example.com")
	if err != nil || id.DID != "did:web:example.com" || id.Handle != "alice.example.com" || id.Document == nil {
		t.Errorf("LookupHandle(alice) = %+v, %v", id, err)
	}
	if _, err := r.LookupHandle(ctx, "bob.example.com"); !errors.Is(err, did.ErrHandleMismatch) {
		t.Errorf("LookupHandle(bob, doc claims alice) = %v, want ErrHandleMismatch", err)
	}
	if _, err := r.LookupHandle(ctx, "carol.example.com"); !errors.Is(err, did.ErrHandleMismatch) {
		t.Errorf("LookupHandle(carol, doc without handle) = %v, want ErrHandleMismatch", err)
	}
	if _, err := r.LookupHandle(ctx, "nobody.example.com"); !errors.Is(err, did.ErrNotFound) {
		t.Errorf("LookupHandle(nobody) = %v, want ErrNotFound", err)
	}
	id, err = r.LookupDID(ctx, "did:web:example.com")
	if err != nil || id.Handle != "alice.example.com" {
		t.Errorf("LookupDID(example.com) = %+v, %v", id, err)
	}
	// liar.example.com claims alice, but alice points elsewhere.
	id, err = r.LookupDID(ctx, "did:web:liar.example.com")
	if err != nil || id.Handle != syntax.HandleInvalid {
		t.Errorf("LookupDID(liar) = %+v, %v; want handle.invalid", id, err)
	}
	id, err = r.LookupDID(ctx, "did:web:nohandle.example.com")
	if err != nil || id.Handle != syntax.HandleInvalid {
		t.Errorf("LookupDID(nohandle) = %+v, %v; want handle.invalid", id, err)
	}
	if _, err := r.LookupDID(ctx, "did:web:missing.example.com"); !errors.Is(err, did.ErrNotFound) {
		t.Errorf("LookupDID(missing) = %v, want ErrNotFound", err)
	}
}

func TestResolvePLC(t *testing.T) {
	ctx := context.Background()
	dir, c, _ := newDirectory(t)
	k := k256(t, seedRepo)
	g, d := genesis(t, k, k)
	if _, err := c.Create(ctx, g); err != nil {
		t.Fatal(err)
	}
	dns := &fakeDNS{records: map[string][]string{"_atproto.han.dull.": {"did=" + string(d)}}}
	r, err := did.NewResolver(&did.ResolverOptions{PLCURL: dir.URL(), HTTPClient: dir.Client(), LookupTXT: dns.lookup})
	if err != nil {
		t.Fatal(err)
	}
	id, err := r.LookupDID(ctx, d)
	if err != nil || id.Handle != "han.dull" {
		t.Fatalf("LookupDID(%s) = %+v, %v", d, id, err)
	}
	if got := mustJSON(t, id.Document); got != genesisDoc {
		t.Errorf("document = %s\nwant %s", got, genesisDoc)
	}
	if _, err := r.ResolveDID(ctx, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"); !errors.Is(err, did.ErrNotFound) {
		t.Errorf("ResolveDID(unknown plc) = %v, want ErrNotFound", err)
	}
}

func TestResolverHTTPSafety(t *testing.T) {
	ctx := context.Background()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(webDoc("did:web:example.com", "example.com", "z")))
	}))
	defer plain.Close()
	var release chan struct{} // the slow handler's, made by each subtest
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    error
	}{
		{"redirect to ftp", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "ftp://example.com/did.json", http.StatusFound)
		}, did.ErrRedirect},
		{"redirect to javascript", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "javascript:alert(1)", http.StatusFound)
		}, did.ErrRedirect},
		{"downgrade to http", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, plain.URL+"/did.json", http.StatusFound)
		}, did.ErrRedirect},
		{"too many redirects", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.Path+"x", http.StatusFound)
		}, did.ErrRedirect},
		{"oversized", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(strings.Repeat(" ", 2000)))
		}, did.ErrResponseTooLarge},
		{"slow", func(w http.ResponseWriter, r *http.Request) {
			// Held until the subtest is over, not until r's context ends:
			// a handler that returned then answered an empty 200 that
			// once reached the client first (CI, under -race).
			select {
			case <-release:
			case <-time.After(5 * time.Second):
			}
		}, context.DeadlineExceeded},
		{"server error", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}, did.ErrHTTPStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWebHost(t)
			// Before the server's Close (cleanups run last first), which
			// waits for the slow handler.
			release = make(chan struct{})
			t.Cleanup(func() { close(release) })
			w.setHandler(tt.handler)
			timeout := 5 * time.Second
			if strings.HasPrefix(tt.name, "slow") {
				timeout = 200 * time.Millisecond
			}
			r := newResolver(t, w, nil, &did.ResolverOptions{Timeout: timeout, MaxResponseBytes: 1000})
			start := time.Now()
			doc, err := r.ResolveDID(ctx, "did:web:example.com")
			if doc != nil || !errors.Is(err, tt.want) {
				t.Errorf("ResolveDID() = %v, %v; want %v", doc, err, tt.want)
			}
			if el := time.Since(start); el > 4*time.Second {
				t.Errorf("ResolveDID took %s", el)
			}
			// Nothing was cached.
			w.setHandler(func(rw http.ResponseWriter, r *http.Request) { http.NotFound(rw, r) })
			if _, err := r.ResolveDID(ctx, "did:web:example.com"); !errors.Is(err, did.ErrNotFound) {
				t.Errorf("second ResolveDID() = %v, want ErrNotFound", err)
			}
		})
	}
	// A redirect within https is followed.
	w := newWebHost(t)
	w.set("example.com/.well-known/did.json", webDoc("did:web:example.com", "example.com", "z"))
	w.setHandler(func(rw http.ResponseWriter, r *http.Request) {
		if r.Host == "old.example.com" {
			http.Redirect(rw, r, "https://example.com/.well-known/did.json", http.StatusMovedPermanently)
			return
		}
		rw.Write([]byte(webDoc("did:web:old.example.com", "example.com", "z")))
	})
	r := newResolver(t, w, nil, nil)
	if doc, err := r.ResolveDID(ctx, "did:web:old.example.com"); err != nil || doc.ID != "did:web:old.example.com" {
		t.Errorf("ResolveDID(redirected) = %v, %v", doc, err)
	}
}

func TestResolverCache(t *testing.T) {
	ctx := context.Background()
	w := newWebHost(t)
	w.set("example.com/.well-known/did.json", webDoc("did:web:example.com", "alice.example.com", "z"))
	w.set("alice.example.com/.well-known/atproto-did", "did:web:example.com")
	dns := &fakeDNS{records: map[string][]string{}}
	r := newResolver(t, w, dns, nil)

	doc, err := r.ResolveDID(ctx, "did:web:example.com")
	if err != nil {
		t.Fatal(err)
	}
	doc.AlsoKnownAs[0] = "at://mallory.example.com"
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			doc, err := r.ResolveDID(ctx, "did:web:example.com")
			if err != nil || doc.AlsoKnownAs[0] != "at://alice.example.com" {
				t.Errorf("cached ResolveDID() = %v, %v", doc, err)
			}
			if d, err := r.ResolveHandle(ctx, "alice.example.com"); err != nil || d != "did:web:example.com" {
				t.Errorf("ResolveHandle() = %v, %v", d, err)
			}
		}()
	}
	wg.Wait()
	if n := w.hits.Load(); n > 21 {
		t.Errorf("%d requests for 20 cached lookups", n)
	}
	before := w.hits.Load()
	for range 5 {
		r.ResolveDID(ctx, "did:web:example.com")
		r.ResolveHandle(ctx, "Alice.example.com")
	}
	if n := w.hits.Load() - before; n != 0 {
		t.Errorf("%d requests after caching, want 0", n)
	}
	r.PurgeDID("did:web:example.com")
	r.PurgeHandle("ALICE.example.com")
	r.ResolveDID(ctx, "did:web:example.com")
	r.ResolveHandle(ctx, "alice.example.com")
	if n := w.hits.Load() - before; n != 2 {
		t.Errorf("%d requests after purging, want 2", n)
	}

	// A short TTL expires.
	short := newResolver(t, w, dns, &did.ResolverOptions{CacheTTL: 50 * time.Millisecond})
	before = w.hits.Load()
	short.ResolveDID(ctx, "did:web:example.com")
	short.ResolveDID(ctx, "did:web:example.com")
	time.Sleep(120 * time.Millisecond)
	short.ResolveDID(ctx, "did:web:example.com")
	if n := w.hits.Load() - before; n != 2 {
		t.Errorf("%d requests with a 50ms TTL, want 2", n)
	}
	// A negative TTL disables the cache.
	none := newResolver(t, w, dns, &did.ResolverOptions{CacheTTL: -1})
	before = w.hits.Load()
	none.ResolveDID(ctx, "did:web:example.com")
	none.ResolveDID(ctx, "did:web:example.com")
	if n := w.hits.Load() - before; n != 2 {
		t.Errorf("%d requests without cache, want 2", n)
	}
	// The size bound evicts the least recently used entry.
	w.set("other.example.com/.well-known/did.json", webDoc("did:web:other.example.com", "other.example.com", "z"))
	one := newResolver(t, w, dns, &did.ResolverOptions{CacheSize: 1})
	before = w.hits.Load()
	one.ResolveDID(ctx, "did:web:example.com")
	one.ResolveDID(ctx, "did:web:other.example.com")
	one.ResolveDID(ctx, "did:web:example.com")
	if n := w.hits.Load() - before; n != 3 {
		t.Errorf("%d requests with a cache of 1, want 3", n)
	}
}

func base58(t *testing.T, b []byte) string {
	t.Helper()
	const alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	// Simple big-number base conversion, independent of the library.
	digits := []byte{0}
	for _, c := range b {
		carry := int(c)
		for i := range digits {
			carry += int(digits[i]) << 8
			digits[i] = byte(carry % 58)
			carry /= 58
		}
		for carry > 0 {
			digits = append(digits, byte(carry%58))
			carry /= 58
		}
	}
	var out []byte
	for _, c := range b {
		if c != 0 {
			break
		}
		out = append(out, '1')
	}
	for i := len(digits) - 1; i >= 0; i-- {
		if i == len(digits)-1 && digits[i] == 0 && len(digits) > 1 {
			continue
		}
		out = append(out, alphabet[digits[i]])
	}
	return string(out)
}

// TestResolverRefusesLoopback is the regression test of issue 8: with the
// default client, a did:web whose host is, or resolves to, a loopback
// address is refused when connecting, and the server never sees a request.
func TestResolverRefusesLoopback(t *testing.T) {
	ctx := context.Background()
	w := newWebHost(t)
	w.setHandler(func(rw http.ResponseWriter, r *http.Request) {
		rw.Write([]byte(webDoc("did:web:example.com", "example.com", "z")))
	})
	port := w.srv.Listener.Addr().(*net.TCPAddr).Port
	r, err := did.NewResolver(&did.ResolverOptions{PLCURL: "https://plc.example.com", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		d    syntax.DID
		want string // the end of the error text
	}{
		{syntax.DID(fmt.Sprintf("did:web:127.0.0.1%%3A%d", port)), fmt.Sprintf(": dial tcp 127.0.0.1:%d: forbidden address 127.0.0.1:%d (loopback)", port, port)},
		{syntax.DID(fmt.Sprintf("did:web:localhost%%3A%d", port)), fmt.Sprintf(":%d (loopback)", port)},
		{"did:web:localhost", ":443 (loopback)"},
		{"did:web:127.0.0.1:u:alice", ": dial tcp 127.0.0.1:443: forbidden address 127.0.0.1:443 (loopback)"},
	} {
		doc, err := r.ResolveDID(ctx, tt.d)
		if doc != nil || !errors.Is(err, did.ErrForbiddenAddress) {
			t.Errorf("ResolveDID(%s) = %v, %v; want ErrForbiddenAddress", tt.d, doc, err)
			continue
		}
		if !strings.HasSuffix(err.Error(), tt.want) {
			t.Errorf("ResolveDID(%s) error = %q, want it to end with %q", tt.d, err, tt.want)
		}
	}
	if n := w.hits.Load(); n != 0 {
		t.Errorf("%d requests reached the server, want 0", n)
	}
}

// TestResolverPLCOnLoopback: the PLC directory is operator configuration,
// so the default client reaches one on loopback, while did:web hosts on
// loopback stay refused by the same Resolver.
func TestResolverPLCOnLoopback(t *testing.T) {
	ctx := context.Background()
	dir, c, _ := newDirectory(t)
	k := k256(t, seedRepo)
	g, d := genesis(t, k, k)
	if _, err := c.Create(ctx, g); err != nil {
		t.Fatal(err)
	}
	r, err := did.NewResolver(&did.ResolverOptions{PLCURL: dir.URL()})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := r.ResolveDID(ctx, d)
	if err != nil {
		t.Fatalf("ResolveDID(%s) = %v", d, err)
	}
	if got := mustJSON(t, doc); got != genesisDoc {
		t.Errorf("document = %s\nwant %s", got, genesisDoc)
	}
	host := strings.TrimPrefix(dir.URL(), "http://")
	web := syntax.DID("did:web:" + strings.ReplaceAll(host, ":", "%3A"))
	if _, err := r.ResolveDID(ctx, web); !errors.Is(err, did.ErrForbiddenAddress) {
		t.Errorf("ResolveDID(%s) = %v, want ErrForbiddenAddress", web, err)
	}
}
