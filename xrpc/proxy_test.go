package xrpc

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atlite-dev/atlite/did"
	"github.com/atlite-dev/atlite/internal/testutil"
	"github.com/atlite-dev/atlite/servicejwt"
	"github.com/atlite-dev/atlite/syntax"
)

// seen is a request as a fake service received it.
type seen struct {
	Method, URI string
	Header      http.Header
	Body        []byte
}

// fakeService is a loopback service that records the requests it gets and
// answers them with answer (200 and fakeBody by default).
type fakeService struct {
	*httptest.Server
	mu     sync.Mutex
	got    []seen
	answer func(w http.ResponseWriter, r *http.Request)
}

const fakeBody = `{"feed":[{"post":{"uri":"at://did:plc:x/app.bsky.feed.post/1"}}],"cursor":"next page"}` + "\n"

func newFakeService(t *testing.T) *fakeService {
	t.Helper()
	f := &fakeService{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.got = append(f.got, seen{Method: r.Method, URI: r.RequestURI, Header: r.Header.Clone(), Body: b})
		answer := f.answer
		f.mu.Unlock()
		if answer != nil {
			answer(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Atproto-Repo-Rev", "3kabc")
		w.Header().Set("Atproto-Content-Labelers", "did:plc:labeler")
		w.Header().Set("X-Upstream-Only", "secret")
		io.WriteString(w, fakeBody)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeService) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.got...)
}

func (f *fakeService) setAnswer(a func(w http.ResponseWriter, r *http.Request)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answer = a
}

// proxyCall makes an XRPC call with extra request headers.
func (e *env) proxyCall(method, path, token string, body io.Reader, hdr map[string]string) (int, http.Header, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.hs.URL+"/xrpc/"+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := plainClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// plainClient sends no Accept-Encoding of its own.
var plainClient = &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 20 * time.Second}

// checkServiceToken checks that the Authorization of a forwarded request
// is a service token of alice for aud and lxm.
func checkServiceToken(t *testing.T, e *env, h http.Header, aud string, lxm syntax.NSID) {
	t.Helper()
	tok, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer ")
	if !ok {
		t.Fatalf("forwarded Authorization = %q, want a bearer token", h.Get("Authorization"))
	}
	repo, err := e.st.LoadRepo(context.Background(), aliceDID.AtIdentifier())
	if err != nil {
		t.Fatal(err)
	}
	st, err := servicejwt.Verify(tok, repo.SigningKey, servicejwt.VerifyOptions{Audience: aud, LexiconMethod: lxm, Now: testutil.Now})
	if err != nil {
		t.Fatalf("forwarded token: %v", err)
	}
	if st.Claims.Issuer != aliceDID || st.Claims.IssuerService != "" {
		t.Errorf("token iss = %s#%s, want %s", st.Claims.Issuer, st.Claims.IssuerService, aliceDID)
	}
	if ttl := st.Claims.ExpiresAt - st.Claims.IssuedAt; ttl != 60 {
		t.Errorf("token lifetime = %ds, want 60s", ttl)
	}
}

// staticResolver resolves the DIDs of docs, and counts its calls.
func staticResolver(calls *atomic.Int32, docs ...*did.Document) DIDResolverFunc {
	return func(ctx context.Context, d syntax.DID) (*did.Document, error) {
		calls.Add(1)
		for _, doc := range docs {
			if doc.ID == d {
				return doc, nil
			}
		}
		return nil, did.ErrNotFound
	}
}

func TestProxyAppView(t *testing.T) {
	av := newFakeService(t)
	e := newEnv(t, &Options{AppViewURL: av.URL, AppViewDID: "did:web:api.bsky.test#bsky_appview", ProxyClient: av.Client()})
	s := e.login(aliceDID, aliceHandle)

	const query = "app.bsky.feed.getTimeline?algorithm=reverse-chronological&limit=30&cursor=a%20b%2Fc"
	status, h, b := e.proxyCall("GET", query, s.AccessJwt, nil, map[string]string{
		"Accept-Language":         "fr, en;q=0.5",
		"Atproto-Accept-Labelers": "did:plc:ar7c4by46qjdydhdevvrndac;redact",
		"Accept-Encoding":         "gzip, br",
		"X-Client-Secret":         "not forwarded",
	})
	if status != http.StatusOK || string(b) != fakeBody {
		t.Fatalf("getTimeline = %d %q, want 200 %q", status, b, fakeBody)
	}
	for k, want := range map[string]string{
		"Content-Type":             "application/json; charset=utf-8",
		"Atproto-Repo-Rev":         "3kabc",
		"Atproto-Content-Labelers": "did:plc:labeler",
		"X-Upstream-Only":          "",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("answer header %s = %q, want %q", k, got, want)
		}
	}
	got := av.requests()
	if len(got) != 1 {
		t.Fatalf("AppView got %d requests, want 1", len(got))
	}
	r := got[0]
	if r.Method != "GET" || r.URI != "/xrpc/"+query || len(r.Body) != 0 {
		t.Errorf("AppView got %s %s (%d bytes), want GET /xrpc/%s", r.Method, r.URI, len(r.Body), query)
	}
	for k, want := range map[string]string{
		"Accept-Language":         "fr, en;q=0.5",
		"Atproto-Accept-Labelers": "did:plc:ar7c4by46qjdydhdevvrndac;redact",
		"Accept-Encoding":         "gzip, br",
		"X-Client-Secret":         "",
		"Atproto-Proxy":           "",
		"Content-Type":            "",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("forwarded header %s = %q, want %q", k, got, want)
		}
	}
	checkServiceToken(t, e, r.Header, "did:web:api.bsky.test", "app.bsky.feed.getTimeline")

	// A procedure: the body, its type and length go along; the answer's
	// status too.
	av.setAnswer(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"ok":true}`)
	})
	in := `{"interactions":[{"item":"at://did:plc:x/app.bsky.feed.post/1","event":"app.bsky.feed.defs#interactionLike"}]}`
	status, _, b = e.proxyCall("POST", "app.bsky.feed.sendInteractions", s.AccessJwt, strings.NewReader(in),
		map[string]string{"Content-Type": "application/json"})
	if status != http.StatusAccepted || string(b) != `{"ok":true}` {
		t.Fatalf("sendInteractions = %d %q, want 202 {\"ok\":true}", status, b)
	}
	got = av.requests()
	r = got[len(got)-1]
	if r.Method != "POST" || r.URI != "/xrpc/app.bsky.feed.sendInteractions" || string(r.Body) != in ||
		r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Content-Length") != strconv.Itoa(len(in)) {
		t.Errorf("AppView got %s %s %q (type %q, length %q), want POST of the body", r.Method, r.URI, r.Body,
			r.Header.Get("Content-Type"), r.Header.Get("Content-Length"))
	}
	if r.Header.Get("Accept-Encoding") != "identity" {
		t.Errorf("forwarded Accept-Encoding = %q, want identity when the client sent none", r.Header.Get("Accept-Encoding"))
	}
	checkServiceToken(t, e, r.Header, "did:web:api.bsky.test", "app.bsky.feed.sendInteractions")

	// HEAD: the status and headers, no body.
	av.setAnswer(nil)
	status, h, b = e.proxyCall("HEAD", "app.bsky.actor.getProfile?actor=alice.test", s.AccessJwt, nil, nil)
	if status != http.StatusOK || len(b) != 0 || h.Get("Atproto-Repo-Rev") != "3kabc" {
		t.Errorf("HEAD getProfile = %d %q rev %q, want 200, no body, rev 3kabc", status, b, h.Get("Atproto-Repo-Rev"))
	}
	if got := av.requests(); got[len(got)-1].Method != "HEAD" {
		t.Errorf("AppView got %s, want HEAD", got[len(got)-1].Method)
	}
}

func TestProxyHeader(t *testing.T) {
	av := newFakeService(t)
	labeler := newFakeService(t)
	chat := newFakeService(t)
	var calls atomic.Int32
	res := staticResolver(&calls,
		&did.Document{ID: "did:web:labeler.test", Service: []did.DocumentService{
			{ID: "#atproto_labeler", Type: "AtprotoLabeler", ServiceEndpoint: labeler.URL},
			{ID: "#ftp", Type: "X", ServiceEndpoint: "ftp://labeler.test"},
		}},
		&did.Document{ID: "did:plc:chatchatchatchatchatchat", Service: []did.DocumentService{
			{ID: "did:plc:chatchatchatchatchatchat#bsky_chat", Type: "BskyChatService", ServiceEndpoint: chat.URL + "/ignored/path"},
		}})
	e := newEnv(t, &Options{AppViewURL: av.URL, AppViewDID: "did:web:api.bsky.test", ProxyClient: av.Client(), Resolver: res})
	s := e.login(aliceDID, aliceHandle)

	tests := []struct {
		name, header, path string
		to                 *fakeService
		aud                string
		resolves           int32
	}{
		// Any method, an app.bsky one included, goes where the header says.
		{"labeler", "did:web:labeler.test#atproto_labeler", "com.atproto.label.queryLabels?uriPatterns=at%3A%2F%2F%2A", labeler, "did:web:labeler.test", 1},
		{"app.bsky elsewhere", "did:web:labeler.test#atproto_labeler", "app.bsky.feed.getTimeline", labeler, "did:web:labeler.test", 1},
		{"absolute service id", "did:plc:chatchatchatchatchatchat#bsky_chat", "chat.bsky.convo.listConvos?limit=2", chat, "did:plc:chatchatchatchatchatchat", 1},
		// The configured AppView is not looked up.
		{"configured AppView", "did:web:api.bsky.test#bsky_appview", "app.bsky.actor.getProfile?actor=x", av, "did:web:api.bsky.test", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, n := calls.Load(), len(tt.to.requests())
			status, _, b := e.proxyCall("GET", tt.path, s.AccessJwt, nil, map[string]string{"Atproto-Proxy": tt.header})
			if status != http.StatusOK || string(b) != fakeBody {
				t.Fatalf("%s = %d %s, want 200 and the fake's body", tt.path, status, b)
			}
			got := tt.to.requests()
			if len(got) != n+1 {
				t.Fatalf("target got %d requests, want %d", len(got), n+1)
			}
			if r := got[n]; r.URI != "/xrpc/"+tt.path {
				t.Errorf("target got %s, want /xrpc/%s", r.URI, tt.path)
			}
			nsid, _, _ := strings.Cut(tt.path, "?")
			checkServiceToken(t, e, got[n].Header, tt.aud, syntax.NSID(nsid))
			if d := calls.Load() - before; d != tt.resolves {
				t.Errorf("resolver called %d times, want %d", d, tt.resolves)
			}
		})
	}
}

func TestProxyErrors(t *testing.T) {
	av := newFakeService(t)
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	var calls atomic.Int32
	res := staticResolver(&calls,
		&did.Document{ID: "did:web:down.test", Service: []did.DocumentService{{ID: "#svc", ServiceEndpoint: downURL}}},
		&did.Document{ID: "did:web:ftp.test", Service: []did.DocumentService{{ID: "#svc", ServiceEndpoint: "ftp://ftp.test"}}})
	opts := func(o Options) *Options {
		o.ProxyClient, o.Resolver, o.ProxyTimeout, o.MaxBlobSize = av.Client(), res, 200*time.Millisecond, 100
		return &o
	}
	e := newEnv(t, opts(Options{AppViewURL: av.URL}))
	s := e.login(aliceDID, aliceHandle)
	var ap struct{ Password string }
	e.ok("POST", "com.atproto.server.createAppPassword", s.AccessJwt, map[string]any{"name": "app"}, &ap)
	app := e.signIn(aliceHandle, ap.Password)
	none := newEnv(t, opts(Options{}))
	sn := none.login(aliceDID, aliceHandle)
	chatEnv := newEnv(t, opts(Options{ChatURL: av.URL}))
	sc := chatEnv.login(aliceDID, aliceHandle)
	var cap struct{ Password string }
	chatEnv.ok("POST", "com.atproto.server.createAppPassword", sc.AccessJwt, map[string]any{"name": "app"}, &cap)
	capp := chatEnv.signIn(aliceHandle, cap.Password)

	tests := []struct {
		name         string
		e            *env
		method, path string
		token        string
		header       string
		body         string
		status       int
		err, msg     string
	}{
		{"no token", e, "GET", "app.bsky.feed.getTimeline", "", "", "", 401, "AuthMissing", "Authentication Required"},
		{"bad token", e, "GET", "app.bsky.feed.getTimeline", "nope", "", "", 401, "InvalidToken", ""},
		{"no AppView", none, "GET", "app.bsky.feed.getTimeline", sn.AccessJwt, "", "", 501, "MethodNotImplemented", "Method Not Implemented: app.bsky.feed.getTimeline"},
		{"no chat service", e, "GET", "chat.bsky.convo.listConvos", s.AccessJwt, "", "", 501, "MethodNotImplemented", "Method Not Implemented: chat.bsky.convo.listConvos"},
		{"other namespace", e, "GET", "com.example.nothing", s.AccessJwt, "", "", 501, "MethodNotImplemented", "Method Not Implemented: com.example.nothing"},
		{"not an NSID", e, "GET", "nothing", s.AccessJwt, "did:web:down.test#svc", "", 501, "MethodNotImplemented", "Method Not Implemented: nothing"},
		{"unknown DID", e, "GET", "com.example.thing", s.AccessJwt, "did:web:unknown.test#svc", "", 400, "InvalidRequest", "could not resolve proxy did"},
		{"unknown service", e, "GET", "com.example.thing", s.AccessJwt, "did:web:down.test#other", "", 400, "InvalidRequest", "could not resolve proxy did service url"},
		{"not http", e, "GET", "com.example.thing", s.AccessJwt, "did:web:ftp.test#svc", "", 400, "InvalidRequest", "could not resolve proxy did service url"},
		{"no service id", e, "GET", "app.bsky.feed.getTimeline", s.AccessJwt, "did:web:down.test", "", 400, "InvalidRequest", "no service id specified in proxy header"},
		{"empty service id", e, "GET", "app.bsky.feed.getTimeline", s.AccessJwt, "did:web:down.test#", "", 400, "InvalidRequest", "no service id specified in proxy header"},
		{"no DID", e, "GET", "app.bsky.feed.getTimeline", s.AccessJwt, "#svc", "", 400, "InvalidRequest", "no did specified in proxy header"},
		{"two hashes", e, "GET", "app.bsky.feed.getTimeline", s.AccessJwt, "did:web:down.test#a#b", "", 400, "InvalidRequest", "invalid proxy header format"},
		{"space", e, "GET", "app.bsky.feed.getTimeline", s.AccessJwt, "did:web:down.test #svc", "", 400, "InvalidRequest", "proxy header cannot contain spaces"},
		{"not a DID", e, "GET", "app.bsky.feed.getTimeline", s.AccessJwt, "api.bsky.app#bsky_appview", "", 400, "InvalidRequest", `invalid did in proxy header: "api.bsky.app"`},
		{"bad header before auth", e, "GET", "app.bsky.feed.getTimeline", "", "#svc", "", 400, "InvalidRequest", "no did specified in proxy header"},
		{"protected method", e, "POST", "com.atproto.server.updateEmail", s.AccessJwt, "did:web:down.test#svc", `{}`, 400, "InvalidToken", "Bad token method"},
		{"chat with an app password", chatEnv, "GET", "chat.bsky.convo.listConvos", capp.AccessJwt, "", "", 400, "InvalidToken", "Bad token method"},
		{"app password, chat via header", e, "GET", "chat.bsky.convo.listConvos", app.AccessJwt, "did:web:down.test#svc", "", 400, "InvalidToken", "Bad token method"},
		{"verb", e, "DELETE", "app.bsky.feed.getTimeline", s.AccessJwt, "", "", 400, "InvalidRequest", "XRPC requests only supports GET and POST"},
		{"upstream down", e, "GET", "com.example.thing", s.AccessJwt, "did:web:down.test#svc", "", 502, "UpstreamFailure", "Upstream service unreachable"},
		{"body too large", e, "POST", "app.bsky.feed.sendInteractions", s.AccessJwt, "", strings.Repeat("x", 101), 413, "PayloadTooLarge", "request body is larger than 100 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := len(av.requests())
			hdr := map[string]string{}
			if tt.header != "" {
				hdr["Atproto-Proxy"] = tt.header
			}
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			status, _, b := tt.e.proxyCall(tt.method, tt.path, tt.token, body, hdr)
			var xe struct{ Error, Message string }
			if err := json.Unmarshal(b, &xe); err != nil {
				t.Fatalf("answer %d %q: %v", status, b, err)
			}
			if status != tt.status || xe.Error != tt.err || (tt.msg != "" && xe.Message != tt.msg) {
				t.Errorf("%s %s = %d %s %q, want %d %s %q", tt.method, tt.path, status, xe.Error, xe.Message, tt.status, tt.err, tt.msg)
			}
			if got := len(av.requests()); got != n {
				t.Errorf("the AppView got %d requests, want none", got-n)
			}
		})
	}
}

func TestProxyUpstreamErrors(t *testing.T) {
	av := newFakeService(t)
	e := newEnv(t, &Options{AppViewURL: av.URL, ProxyClient: av.Client(), ProxyTimeout: 100 * time.Millisecond, MaxBlobSize: 100})
	s := e.login(aliceDID, aliceHandle)
	release := make(chan struct{})
	defer close(release)
	tests := []struct {
		name   string
		answer func(w http.ResponseWriter, r *http.Request)
		body   io.Reader
		status int
		err    string
		msg    string
		header map[string]string
	}{
		{"500 becomes 502", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(500)
			io.WriteString(w, `{"error":"InternalServerError","message":"kaput"}`)
		}, nil, 502, "InternalServerError", "kaput", nil},
		{"400 passes", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Atproto-Repo-Rev", "3kdef")
			w.WriteHeader(400)
			io.WriteString(w, `{"error":"InvalidCursor","message":"bad cursor"}`)
		}, nil, 400, "InvalidCursor", "bad cursor", map[string]string{"Atproto-Repo-Rev": "3kdef"}},
		{"429 with Retry-After", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(429)
			io.WriteString(w, `<html>slow down</html>`)
		}, nil, 429, "RateLimitExceeded", "Too Many Requests", map[string]string{"Retry-After": "7"}},
		{"503 without a body", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(503)
		}, nil, 503, "NotEnoughResources", "Service Unavailable", nil},
		{"timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}, nil, 504, "UpstreamTimeout", "Upstream service timed out", nil},
		{"chunked body too large", nil, io.MultiReader(strings.NewReader(strings.Repeat("x", 150))), 413, "PayloadTooLarge", "request body is larger than 100 bytes", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			av.setAnswer(tt.answer)
			method := "GET"
			if tt.body != nil {
				method = "POST"
			}
			start := time.Now()
			status, h, b := e.proxyCall(method, "app.bsky.feed.getTimeline", s.AccessJwt, tt.body, nil)
			var xe struct{ Error, Message string }
			if err := json.Unmarshal(b, &xe); err != nil {
				t.Fatalf("answer %d %q: %v", status, b, err)
			}
			if status != tt.status || xe.Error != tt.err || xe.Message != tt.msg {
				t.Errorf("= %d %s %q, want %d %s %q", status, xe.Error, xe.Message, tt.status, tt.err, tt.msg)
			}
			for k, v := range tt.header {
				if h.Get(k) != v {
					t.Errorf("header %s = %q, want %q", k, h.Get(k), v)
				}
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// TestProxySafeClient: by default the forwarded request goes through the
// client that refuses loopback addresses.
func TestProxySafeClient(t *testing.T) {
	av := newFakeService(t)
	e := newEnv(t, &Options{AppViewURL: av.URL})
	s := e.login(aliceDID, aliceHandle)
	status, _, b := e.proxyCall("GET", "app.bsky.feed.getTimeline", s.AccessJwt, nil, nil)
	if status != http.StatusBadGateway || !bytes.Contains(b, []byte(`"UpstreamFailure"`)) {
		t.Errorf("getTimeline to a loopback AppView = %d %s, want 502 UpstreamFailure", status, b)
	}
	if n := len(av.requests()); n != 0 {
		t.Errorf("the loopback AppView got %d requests, want 0", n)
	}
}

func TestProxyOptions(t *testing.T) {
	st, _ := testutil.MustOpenFileStore(t, nil)
	for _, tt := range []struct {
		name string
		o    Options
		av   string // AppViewDID after New; "" when New must fail
	}{
		{"default DID", Options{AppViewURL: "https://api.bsky.app/"}, "did:web:api.bsky.app#bsky_appview"},
		{"DID without service", Options{AppViewURL: "https://api.bsky.app", AppViewDID: "did:web:api.bsky.app"}, "did:web:api.bsky.app#bsky_appview"},
		{"DID with service", Options{AppViewURL: "https://x.test", AppViewDID: "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa#other"}, "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa#other"},
		{"port", Options{AppViewURL: "http://localhost:2584"}, "did:web:localhost%3A2584#bsky_appview"},
		{"bad URL", Options{AppViewURL: "api.bsky.app"}, ""},
		{"bad DID", Options{AppViewURL: "https://api.bsky.app", AppViewDID: "bsky"}, ""},
		{"DID without URL", Options{AppViewDID: "did:web:api.bsky.app"}, ""},
		{"bad chat URL", Options{ChatURL: "ftp://chat"}, ""},
		{"bad relay", Options{Relays: []string{"ftp://relay"}}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(st, &tt.o)
			if tt.av == "" {
				if err == nil {
					t.Fatalf("New(%+v) succeeded, want an error", tt.o)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Options().AppViewDID; got != tt.av {
				t.Errorf("AppViewDID = %q, want %q", got, tt.av)
			}
		})
	}
}

// TestProxyStreams: the answer reaches the client as the upstream sends
// it, and an upstream that stalls midway gets the answer cut (an error for
// the client, not a short body that looks whole).
func TestProxyStreams(t *testing.T) {
	av := newFakeService(t)
	e := newEnv(t, &Options{AppViewURL: av.URL, ProxyClient: av.Client(), ProxyTimeout: 300 * time.Millisecond})
	s := e.login(aliceDID, aliceHandle)
	more := make(chan struct{})
	av.setAnswer(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		io.WriteString(w, "first ")
		w.(http.Flusher).Flush()
		select {
		case <-more:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "second ")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // stall until the proxy gives up
	})
	req, _ := http.NewRequest("GET", e.hs.URL+"/xrpc/app.bsky.video.getJobStatus?jobId=1", nil)
	req.Header.Set("Authorization", "Bearer "+s.AccessJwt)
	resp, err := plainClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("getJobStatus = %d %q, want 200 application/octet-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first " {
		t.Fatalf("first chunk = %q, %v; want it before the upstream goes on", buf, err)
	}
	close(more)
	start := time.Now()
	rest, err := io.ReadAll(resp.Body)
	if string(rest) != "second " || err == nil {
		t.Errorf("rest = %q, %v; want \"second \" and an error (the answer cut)", rest, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the stall lasted %v, want about ProxyTimeout", d)
	}
}

// TestProxyChat: chat.bsky.* goes to the configured chat service, for the
// main password and a privileged app password.
func TestProxyChat(t *testing.T) {
	av, chat := newFakeService(t), newFakeService(t)
	e := newEnv(t, &Options{AppViewURL: av.URL, ChatURL: chat.URL, ChatDID: "did:web:api.bsky.chat#bsky_chat", ProxyClient: chat.Client()})
	s := e.login(aliceDID, aliceHandle)
	var ap struct{ Password string }
	e.ok("POST", "com.atproto.server.createAppPassword", s.AccessJwt, map[string]any{"name": "dm", "privileged": true}, &ap)
	priv := e.signIn(aliceHandle, ap.Password)
	for i, tok := range []string{s.AccessJwt, priv.AccessJwt} {
		status, _, b := e.proxyCall("GET", "chat.bsky.convo.listConvos?limit=5", tok, nil, nil)
		if status != http.StatusOK || string(b) != fakeBody {
			t.Fatalf("listConvos #%d = %d %s, want 200 and the fake's body", i, status, b)
		}
		got := chat.requests()
		if len(got) != i+1 || got[i].URI != "/xrpc/chat.bsky.convo.listConvos?limit=5" {
			t.Fatalf("chat service got %+v, want listConvos #%d", got, i)
		}
		checkServiceToken(t, e, got[i].Header, "did:web:api.bsky.chat", "chat.bsky.convo.listConvos")
	}
	if n := len(av.requests()); n != 0 {
		t.Errorf("the AppView got %d requests, want 0", n)
	}
}
