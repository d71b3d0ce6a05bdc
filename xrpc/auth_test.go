package xrpc

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/internal/testutil"
	"github.com/atlite-dev/atlite/syntax"
)

// testClock is a clock the tests move: it starts at testutil.Now and
// advances a microsecond a call (so revs and TIDs keep increasing), plus
// whatever Advance adds.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Microsecond)
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a server over loopback HTTP on a Store in a temporary file; the
// server and the Store share one clock.
type env struct {
	t   *testing.T
	s   *Server
	hs  *httptest.Server
	st  *atlite.Store
	clk *testClock
	// path is the Store's file (or PostgreSQL URL), for a second Store.
	path string
}

const (
	testPassword = "correct horse battery"
	aliceDID     = syntax.DID("did:web:alice.pds.test")
	aliceHandle  = "alice.pds.test"
	bobDID       = syntax.DID("did:web:bob.pds.test")
	bobHandle    = "bob.pds.test"
)

// newEnv starts a server; opts may be nil (PublicURL https://pds.test,
// HandleDomains .pds.test).
func newEnv(t *testing.T, opts *Options) *env {
	t.Helper()
	return newEnvClock(t, opts, &testClock{t: testutil.Now})
}

func newEnvClock(t *testing.T, opts *Options, clk *testClock) *env {
	t.Helper()
	st, path := testutil.MustOpenFileStore(t, &atlite.Options{Now: clk.Now})
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.PublicURL == "" {
		o.PublicURL = "https://pds.test"
	}
	if o.HandleDomains == nil {
		o.HandleDomains = []string{".pds.test"}
	}
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	o.Now = clk.Now
	s, err := New(st, &o)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return &env{t: t, s: s, hs: hs, st: st, clk: clk, path: path}
}

// account creates an account with testPassword; alice is signed with
// testutil.TestKey, so her commits verify with a known key.
func (e *env) account(d syntax.DID, handle string) {
	e.t.Helper()
	o := &atlite.CreateAccountOptions{DID: d, Handle: syntax.Handle(handle), Password: testPassword}
	if d == aliceDID {
		o.SigningKey = testutil.TestKey(e.t)
	}
	if _, err := e.st.CreateAccount(context.Background(), o); err != nil {
		e.t.Fatal(err)
	}
}

// session is a createSession answer.
type session struct {
	AccessJwt, RefreshJwt, Handle string
	DID                           syntax.DID `json:"did"`
}

// login creates the account (when it does not exist) and signs in.
func (e *env) login(d syntax.DID, handle string) session {
	e.t.Helper()
	if _, err := e.st.LoadRepo(context.Background(), d.AtIdentifier()); err != nil {
		e.account(d, handle)
	}
	return e.signIn(handle, testPassword)
}

func (e *env) signIn(identifier, password string) session {
	e.t.Helper()
	var s session
	e.ok("POST", "com.atproto.server.createSession", "", map[string]any{"identifier": identifier, "password": password}, &s)
	return s
}

// do calls an XRPC method; body is JSON-encoded unless it is []byte or a
// string. It returns the status, the headers and the body.
func (e *env) do(method, nsid, token string, body any) (int, http.Header, []byte) {
	e.t.Helper()
	return e.doType(method, nsid, token, "application/json", body)
}

func (e *env) doType(method, nsid, token, contentType string, body any) (int, http.Header, []byte) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	path := nsid
	if !strings.HasPrefix(path, "/") {
		path = "/xrpc/" + nsid
	}
	req, err := http.NewRequest(method, e.hs.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil && contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
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

// ok calls a method that must answer 200 and decodes its answer into out
// (when not nil).
func (e *env) ok(method, nsid, token string, body, out any) []byte {
	e.t.Helper()
	status, _, b := e.do(method, nsid, token, body)
	if status != http.StatusOK {
		e.t.Fatalf("%s %s = %d %s, want 200", method, nsid, status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: answer %s: %v", method, nsid, b, err)
		}
	}
	return b
}

// fail calls a method that must fail with status and the XRPC error name,
// and without writing anything (no new event seq); it returns the message.
func (e *env) fail(method, nsid, token string, body any, status int, name string) string {
	e.t.Helper()
	before := e.lastSeq()
	got, _, b := e.do(method, nsid, token, body)
	return e.checkFail(method+" "+nsid, got, b, status, name, before)
}

func (e *env) checkFail(what string, got int, b []byte, status int, name string, before int64) string {
	e.t.Helper()
	var xe struct{ Error, Message string }
	if err := json.Unmarshal(b, &xe); err != nil {
		e.t.Fatalf("%s: error body %q: %v", what, b, err)
	}
	if got != status || xe.Error != name {
		e.t.Errorf("%s = %d %s %q, want %d %s", what, got, xe.Error, xe.Message, status, name)
	}
	if after := e.lastSeq(); after != before {
		e.t.Errorf("%s: LastSeq %d -> %d, want nothing written", what, before, after)
	}
	return xe.Message
}

func (e *env) lastSeq() int64 {
	e.t.Helper()
	n, err := e.st.LastSeq(context.Background(), atlite.SubscribeReposNSID)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// jwtParts decodes a JWT's header and claims without checking it.
func jwtParts(t *testing.T, tok string) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("JWT %q: %d parts", tok, len(parts))
	}
	var h, c map[string]any
	for i, v := range []*map[string]any{&h, &c} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	return h, c
}

func TestTokens(t *testing.T) {
	e := newEnv(t, nil)
	s := e.login(aliceDID, aliceHandle)
	if s.DID != aliceDID || s.Handle != aliceHandle {
		t.Errorf("createSession = %s %s, want %s %s", s.DID, s.Handle, aliceDID, aliceHandle)
	}
	now := testutil.Now.Unix()
	h, c := jwtParts(t, s.AccessJwt)
	if h["typ"] != "at+jwt" || h["alg"] != "HS256" {
		t.Errorf("access header = %v", h)
	}
	if c["scope"] != "com.atproto.access" || c["sub"] != string(aliceDID) || c["aud"] != "did:web:pds.test" ||
		c["iat"] != float64(now) || c["exp"] != float64(now+7200) {
		t.Errorf("access claims = %v", c)
	}
	h, c = jwtParts(t, s.RefreshJwt)
	if h["typ"] != "refresh+jwt" || h["alg"] != "HS256" {
		t.Errorf("refresh header = %v", h)
	}
	if c["scope"] != "com.atproto.refresh" || c["sub"] != string(aliceDID) || c["aud"] != "did:web:pds.test" ||
		c["exp"] != float64(now+90*24*3600) || len(c["jti"].(string)) != 43 {
		t.Errorf("refresh claims = %v", c)
	}
	// The key is the Store's "jwt" secret.
	key, err := e.st.ServerSecret(context.Background(), "jwt", 32)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jwt.Parse(s.AccessJwt, func(*jwt.Token) (any, error) { return key, nil },
		jwt.WithTimeFunc(func() time.Time { return testutil.Now })); err != nil {
		t.Errorf("access token does not verify with the jwt secret: %v", err)
	}

	var got map[string]any
	e.ok("GET", "com.atproto.server.getSession", s.AccessJwt, nil, &got)
	if got["did"] != string(aliceDID) || got["handle"] != aliceHandle || got["active"] != true {
		t.Errorf("getSession = %v", got)
	}
}

func TestAuthErrors(t *testing.T) {
	e := newEnv(t, nil)
	s := e.login(aliceDID, aliceHandle)
	key, _ := e.st.ServerSecret(context.Background(), "jwt", 32)
	sign := func(typ string, c jwt.MapClaims, k []byte) string {
		tk := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
		tk.Header["typ"] = typ
		str, err := tk.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return str
	}
	_, ac := jwtParts(t, s.AccessJwt)
	good := jwt.MapClaims{}
	for k, v := range ac {
		good[k] = v
	}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	tests := []struct {
		name, header, token string
		errName, msg        string
	}{
		{"no header", "", "", "AuthMissing", "Authentication Required"},
		{"basic auth", "Basic YWRtaW46cGFzcw==", "", "AuthMissing", "Authentication Required"},
		{"garbage", "", "not.a.jwt", "InvalidToken", "Token could not be verified"},
		{"bad signature", "", sign("at+jwt", good, []byte("another key of thirty-two bytes!")), "InvalidToken", "Token could not be verified"},
		{"refresh token as access", "", s.RefreshJwt, "InvalidToken", "Invalid token type"},
		{"wrong scope", "", sign("at+jwt", with("scope", "com.atproto.refresh"), key), "InvalidToken", "Bad token scope"},
		{"wrong audience", "", sign("at+jwt", with("aud", "did:web:other.test"), key), "InvalidToken", "Token could not be verified"},
		{"no expiry", "", sign("at+jwt", with("exp", nil), key), "InvalidToken", "Token could not be verified"},
		{"bad sub", "", sign("at+jwt", with("sub", "alice"), key), "InvalidToken", "Malformed token"},
		{"unknown session", "", sign("at+jwt", with("sid", 999), key), "InvalidToken", "Token has been revoked"},
		{"other account's session", "", sign("at+jwt", with("sub", string(bobDID)), key), "InvalidToken", "Malformed token"},
		{"none alg", "", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + strings.Split(s.AccessJwt, ".")[1] + ".", "InvalidToken", "Token could not be verified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", e.hs.URL+"/xrpc/com.atproto.server.getSession", nil)
			switch {
			case tt.header != "":
				req.Header.Set("Authorization", tt.header)
			case tt.token != "":
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			name, msg := xrpcError(t, resp)
			if resp.StatusCode != 401 || name != tt.errName || msg != tt.msg {
				t.Errorf("getSession = %d %s %q, want 401 %s %q", resp.StatusCode, name, msg, tt.errName, tt.msg)
			}
			if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}

	// Expired: two hours later by the shared clock.
	e.clk.Advance(AccessTokenTTL)
	msg := e.fail("GET", "com.atproto.server.getSession", s.AccessJwt, nil, 401, "ExpiredToken")
	if msg != "Token has expired" {
		t.Errorf("expired message %q", msg)
	}
	// The refresh token still works, and gives a working access token.
	var r session
	e.ok("POST", "com.atproto.server.refreshSession", s.RefreshJwt, nil, &r)
	e.ok("GET", "com.atproto.server.getSession", r.AccessJwt, nil, nil)
	// The refresh token is expired after 90 days.
	e.clk.Advance(atlite.DefaultSessionTTL)
	e.fail("POST", "com.atproto.server.refreshSession", r.RefreshJwt, nil, 401, "ExpiredToken")
}

func TestSessionLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	s := e.login(aliceDID, aliceHandle)
	// An access token is not a refresh token.
	e.fail("POST", "com.atproto.server.refreshSession", s.AccessJwt, nil, 401, "InvalidToken")
	e.fail("POST", "com.atproto.server.deleteSession", s.AccessJwt, nil, 401, "InvalidToken")
	e.fail("POST", "com.atproto.server.refreshSession", "", nil, 401, "AuthMissing")

	var r session
	e.ok("POST", "com.atproto.server.refreshSession", s.RefreshJwt, nil, &r)
	if r.DID != aliceDID || r.Handle != aliceHandle || r.RefreshJwt == s.RefreshJwt || r.AccessJwt == "" {
		t.Errorf("refreshSession = %+v", r)
	}
	// Within the grace period the replaced refresh token refreshes again
	// (a second client sharing the session), and the other branch lives on.
	var r2 session
	e.ok("POST", "com.atproto.server.refreshSession", s.RefreshJwt, nil, &r2)
	if r2.RefreshJwt == r.RefreshJwt || r2.RefreshJwt == s.RefreshJwt {
		t.Errorf("a second refresh of the old token gave a token already seen")
	}
	e.ok("GET", "com.atproto.server.getSession", r.AccessJwt, nil, nil)
	// After it, presenting a replaced token again revokes the chain.
	e.clk.Advance(atlite.RefreshGracePeriod + time.Minute)
	e.fail("POST", "com.atproto.server.refreshSession", s.RefreshJwt, nil, 401, "InvalidToken")
	e.fail("POST", "com.atproto.server.refreshSession", r.RefreshJwt, nil, 401, "InvalidToken")
	e.fail("POST", "com.atproto.server.refreshSession", r2.RefreshJwt, nil, 401, "InvalidToken")

	// Sign out ends the access token at once.
	s = e.signIn(string(aliceDID), testPassword)
	e.ok("GET", "com.atproto.server.getSession", s.AccessJwt, nil, nil)
	if status, _, b := e.do("POST", "com.atproto.server.deleteSession", s.RefreshJwt, nil); status != 200 || len(b) != 0 {
		t.Errorf("deleteSession = %d %q", status, b)
	}
	msg := e.fail("GET", "com.atproto.server.getSession", s.AccessJwt, nil, 401, "InvalidToken")
	if msg != "Token has been revoked" {
		t.Errorf("after sign-out: %q", msg)
	}
	e.fail("POST", "com.atproto.server.refreshSession", s.RefreshJwt, nil, 401, "InvalidToken")
}

func TestCreateSession(t *testing.T) {
	e := newEnv(t, nil)
	e.account(aliceDID, aliceHandle)
	if err := e.st.SetEmail(context.Background(), aliceDID, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{aliceHandle, "@ALICE.pds.test", string(aliceDID), "alice@example.com"} {
		var got sessionOutput
		status, _, b := e.do("POST", "com.atproto.server.createSession", "", map[string]any{"identifier": id, "password": testPassword})
		if status != 200 {
			t.Fatalf("createSession(%q) = %d %s", id, status, b)
		}
		json.Unmarshal(b, &got)
		if got.DID != aliceDID || got.Handle != aliceHandle || got.Email != "alice@example.com" || !got.Active || got.Status != "" ||
			got.DIDDoc == nil || got.DIDDoc.ID != aliceDID {
			t.Errorf("createSession(%q) = %s", id, b)
		}
	}
	tests := []struct {
		name   string
		body   any
		status int
		err    string
	}{
		{"wrong password", map[string]any{"identifier": aliceHandle, "password": "wrong password"}, 401, "AuthenticationRequired"},
		{"unknown account", map[string]any{"identifier": "nobody.pds.test", "password": testPassword}, 401, "AuthenticationRequired"},
		{"no password", map[string]any{"identifier": aliceHandle}, 400, "InvalidRequest"},
		{"no identifier", map[string]any{"password": testPassword}, 400, "InvalidRequest"},
		{"wrong type", map[string]any{"identifier": 7, "password": testPassword}, 400, "InvalidRequest"},
		{"bad json", `{"identifier":`, 400, "InvalidRequest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.fail("POST", "com.atproto.server.createSession", "", tt.body, tt.status, tt.err)
		})
	}

	// A deactivated account signs in (to reactivate itself); a taken-down
	// one does not.
	ctx := context.Background()
	if err := e.st.Deactivate(ctx, aliceDID); err != nil {
		t.Fatal(err)
	}
	var got sessionOutput
	e.ok("POST", "com.atproto.server.createSession", "", map[string]any{"identifier": aliceHandle, "password": testPassword}, &got)
	if got.Active || got.Status != "deactivated" {
		t.Errorf("deactivated createSession: active %v status %q", got.Active, got.Status)
	}
	// ... and refreshes its session, as the reference PDS lets it.
	var refreshed sessionOutput
	e.ok("POST", "com.atproto.server.refreshSession", got.RefreshJwt, nil, &refreshed)
	if refreshed.Active || refreshed.Status != "deactivated" || refreshed.RefreshJwt == got.RefreshJwt {
		t.Errorf("deactivated refreshSession: active %v status %q, new token %v", refreshed.Active, refreshed.Status, refreshed.RefreshJwt != got.RefreshJwt)
	}
	got = refreshed
	if err := e.st.Takedown(ctx, aliceDID); err != nil {
		t.Fatal(err)
	}
	e.fail("POST", "com.atproto.server.createSession", "", map[string]any{"identifier": aliceHandle, "password": testPassword}, 401, "AccountTakedown")
	e.fail("POST", "com.atproto.server.refreshSession", got.RefreshJwt, nil, 401, "AccountTakedown")
	e.ok("POST", "com.atproto.server.createSession", "", map[string]any{"identifier": aliceHandle, "password": testPassword, "allowTakendown": true}, nil)
}

func TestCreateSessionRateLimit(t *testing.T) {
	e := newEnv(t, nil)
	body := map[string]any{"identifier": "nobody.pds.test", "password": "wrong password"}
	for i := 1; i <= CreateSessionLimit; i++ {
		if status, _, b := e.do("POST", "com.atproto.server.createSession", "", body); status != 401 {
			t.Fatalf("call %d = %d %s, want 401", i, status, b)
		}
	}
	status, h, b := e.do("POST", "com.atproto.server.createSession", "", body)
	e.checkFail("31st createSession", status, b, 429, "RateLimitExceeded", 0)
	if h.Get("Retry-After") != "10" {
		t.Errorf("Retry-After = %q, want 10", h.Get("Retry-After"))
	}
	// A right password is limited too.
	e.account(aliceDID, aliceHandle)
	e.fail("POST", "com.atproto.server.createSession", "", map[string]any{"identifier": aliceHandle, "password": testPassword}, 429, "RateLimitExceeded")
	// Ten seconds later, one more call is allowed.
	e.clk.Advance(10 * time.Second)
	e.signIn(aliceHandle, testPassword)
	e.fail("POST", "com.atproto.server.createSession", "", body, 429, "RateLimitExceeded")
}

func TestLimiterBounded(t *testing.T) {
	l := newLimiter(2, time.Minute)
	now := testutil.Now
	if ok, _ := l.allow("a", now); !ok {
		t.Fatal("first call refused")
	}
	l.allow("a", now)
	if ok, wait := l.allow("a", now); ok || wait != 30*time.Second {
		t.Errorf("third call = %v %v, want refused for 30s", ok, wait)
	}
	// A refused call takes no token: 30s later one call is allowed.
	if ok, _ := l.allow("a", now.Add(30*time.Second)); !ok {
		t.Error("call after 30s refused")
	}
	for i := range maxLimiterKeys + 10 {
		l.allow(fmt.Sprint("k", i), now)
	}
	if n := len(l.m); n > maxLimiterKeys {
		t.Errorf("limiter holds %d keys, want at most %d", n, maxLimiterKeys)
	}
}
