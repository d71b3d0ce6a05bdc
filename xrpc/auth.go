package xrpc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/ipfs/go-cid"
	"golang.org/x/time/rate"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/syntax"
)

// Token scopes, as the reference PDS writes them in the "scope" claim.
const (
	// ScopeAccess is the scope of an access token from the main password.
	ScopeAccess = "com.atproto.access"
	// ScopeAppPass is the scope of an access token from an app password.
	ScopeAppPass = "com.atproto.appPass"
	// ScopeAppPassPrivileged is the scope of an access token from a
	// privileged app password.
	ScopeAppPassPrivileged = "com.atproto.appPassPrivileged"
	// ScopeRefresh is the scope of a refresh token.
	ScopeRefresh = "com.atproto.refresh"
)

// Token lifetimes and the sign-in rate limit.
const (
	// AccessTokenTTL is the lifetime of an access token: two hours, as the
	// reference PDS.
	AccessTokenTTL = 2 * time.Hour
	// CreateSessionLimit is how many createSession calls one client IP may
	// make in CreateSessionWindow (the reference PDS's limit).
	CreateSessionLimit = 30
	// CreateSessionWindow is the window of CreateSessionLimit.
	CreateSessionWindow = 5 * time.Minute
)

// Token types, the "typ" header of the JWTs.
const (
	typAccess  = "at+jwt"
	typRefresh = "refresh+jwt"
)

// jwtSecretName and jwtSecretSize name the HS256 key in the Store.
const (
	jwtSecretName = "jwt"
	jwtSecretSize = 32
)

// Auth is who made an authenticated request.
type Auth struct {
	// DID is the account the access token was issued to.
	DID syntax.DID
	// AppPassword reports that the session was opened with an app password.
	AppPassword bool
	// Privileged reports a privileged app password.
	Privileged bool
	// Session is the Store's ID of the session the token belongs to.
	Session int64
}

// claims are the claims of the JWTs the server issues. Sid, a claim of
// this server only, ties an access token to its session so that signing out
// ends it. The audience is a single string, as the reference PDS writes it.
type claims struct {
	Scope     string           `json:"scope"`
	Subject   string           `json:"sub"`
	Audience  string           `json:"aud"`
	ID        string           `json:"jti,omitempty"`
	Sid       int64            `json:"sid,omitempty"`
	IssuedAt  *jwt.NumericDate `json:"iat,omitempty"`
	ExpiresAt *jwt.NumericDate `json:"exp,omitempty"`
}

var _ jwt.Claims = (*claims)(nil)

// The getters implement jwt.Claims.

func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt, nil }
func (c *claims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (c *claims) GetIssuer() (string, error)                   { return "", nil }
func (c *claims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *claims) GetAudience() (jwt.ClaimStrings, error)       { return jwt.ClaimStrings{c.Audience}, nil }

// serviceDID is the server's DID: did:web of its public host (with the
// port percent-encoded, as did:web wants).
func (s *Server) serviceDID() syntax.DID {
	host := s.opts.PublicURL
	if u, err := url.Parse(s.opts.PublicURL); err == nil && u.Host != "" {
		host = u.Host
	}
	return syntax.DID("did:web:" + strings.ReplaceAll(host, ":", "%3A"))
}

// jwtKey returns the HS256 key, created in the Store on first use.
func (s *Server) jwtKey(ctx context.Context) ([]byte, error) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if s.key != nil {
		return s.key, nil
	}
	k, err := s.store.ServerSecret(ctx, jwtSecretName, jwtSecretSize)
	if err != nil {
		return nil, err
	}
	s.key = k
	return k, nil
}

// tokens are an access and a refresh token for one session.
type tokens struct {
	access, refresh string
}

// issue signs the access and refresh JWTs of sess, whose Store refresh
// token is refreshToken.
func (s *Server) issue(ctx context.Context, sess *atlite.Session, refreshToken string) (tokens, error) {
	key, err := s.jwtKey(ctx)
	if err != nil {
		return tokens{}, err
	}
	now := s.opts.Now().Truncate(time.Second)
	scope := ScopeAccess
	switch {
	case sess.AppPassword != "" && sess.Privileged:
		scope = ScopeAppPassPrivileged
	case sess.AppPassword != "":
		scope = ScopeAppPass
	}
	aud := s.serviceDID().String()
	access := jwt.NewWithClaims(jwt.SigningMethodHS256, &claims{
		Scope: scope, Subject: sess.DID.String(), Audience: aud, Sid: sess.ID,
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(AccessTokenTTL)),
	})
	access.Header["typ"] = typAccess
	refresh := jwt.NewWithClaims(jwt.SigningMethodHS256, &claims{
		Scope: ScopeRefresh, Subject: sess.DID.String(), Audience: aud, ID: refreshToken,
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(sess.Expires),
	})
	refresh.Header["typ"] = typRefresh
	var t tokens
	if t.access, err = access.SignedString(key); err != nil {
		return tokens{}, err
	}
	if t.refresh, err = refresh.SignedString(key); err != nil {
		return tokens{}, err
	}
	return t, nil
}

// authError is a 401 with the reference PDS's name and a WWW-Authenticate
// header (RFC 6750).
func authError(name, msg string) *Error {
	e := Errorf(http.StatusUnauthorized, name, "%s", msg)
	h := `Bearer`
	if name != "AuthMissing" {
		h = fmt.Sprintf(`Bearer error="invalid_token", error_description=%q`, msg)
	}
	e.Header = http.Header{"WWW-Authenticate": {h}}
	return e
}

// errAuthMissing is the answer to a request without a bearer token.
func errAuthMissing() *Error { return authError("AuthMissing", "Authentication Required") }

// bearer returns the request's bearer token.
func bearer(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || strings.TrimSpace(tok) == "" {
		return "", errAuthMissing()
	}
	return strings.TrimSpace(tok), nil
}

// maxVerified bounds the verified-token cache: past it, the tokens that
// have expired are dropped, then, if it is still full, all.
const maxVerified = 1024

// verifiedTokens caches the access tokens parseToken accepted, keyed by
// the whole token, so that a client's every request does not decode and
// verify the same token again (about 20 µs a request, a tenth of the HTTP
// path's own CPU in a createRecord). It holds only what cannot change for
// a given token: that its HS256 signature is the server's (a Server's key
// never changes once loaded), its header's type and its claims.
// Everything that can change is checked again on every use: the times (exp
// after now, iat not after now, as jwt checks them; a token that fails
// them is parsed afresh, for the same error) and the scope. The token's
// session is not cached at all: the callers check it in the Store on
// every request (auth) or in the commit's transaction (authWrite), so
// revoking a session refuses a cached token as soon as an uncached one.
// A cached token is thus accepted exactly when parsing it again would
// accept it.
type verifiedTokens struct {
	mu sync.Mutex
	m  map[string]verifiedToken
}

// verifiedToken is a verified JWT's header type and claims.
type verifiedToken struct {
	typ string
	c   claims
}

// get returns the claims of tok when it is cached, of type typ, and its
// times hold at now.
func (v *verifiedTokens) get(tok, typ string, now time.Time) (*claims, bool) {
	v.mu.Lock()
	e, ok := v.m[tok]
	v.mu.Unlock()
	if !ok || e.typ != typ || e.c.ExpiresAt == nil || !now.Before(e.c.ExpiresAt.Time) ||
		e.c.IssuedAt != nil && now.Before(e.c.IssuedAt.Time) {
		return nil, false
	}
	return &e.c, true
}

// put caches tok, verified at now.
func (v *verifiedTokens) put(tok, typ string, c *claims, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = make(map[string]verifiedToken)
	}
	if len(v.m) >= maxVerified {
		for k, e := range v.m {
			if !now.Before(e.c.ExpiresAt.Time) {
				delete(v.m, k)
			}
		}
		if len(v.m) >= maxVerified {
			clear(v.m)
		}
	}
	v.m[tok] = verifiedToken{typ: typ, c: *c}
}

// parseToken checks a JWT's signature, type, audience, times and scope
// (one of scopes) and returns its claims. Access tokens it accepted are
// cached (verifiedTokens), their times and scope checked again.
func (s *Server) parseToken(ctx context.Context, tok, typ string, scopes ...string) (*claims, error) {
	if c, ok := s.verified.get(tok, typ, s.opts.Now()); ok && slices.Contains(scopes, c.Scope) {
		return c, nil
	}
	key, err := s.jwtKey(ctx)
	if err != nil {
		return nil, err
	}
	var c claims
	t, err := jwt.ParseWithClaims(tok, &c, func(t *jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithTimeFunc(s.opts.Now),
		jwt.WithAudience(s.serviceDID().String()),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, authError("ExpiredToken", "Token has expired")
	case err != nil:
		return nil, authError("InvalidToken", "Token could not be verified")
	}
	if got, _ := t.Header["typ"].(string); got != typ {
		return nil, authError("InvalidToken", "Invalid token type")
	}
	if _, err := syntax.ParseDID(c.Subject); err != nil {
		return nil, authError("InvalidToken", "Malformed token")
	}
	if !slices.Contains(scopes, c.Scope) {
		return nil, authError("InvalidToken", "Bad token scope")
	}
	if typ == typAccess {
		s.verified.put(tok, typ, &c, s.opts.Now())
	}
	return &c, nil
}

// accessClaims checks r's bearer access token (any scope: main password or
// app password) and returns its claims; the session is not looked at.
func (s *Server) accessClaims(r *http.Request) (*claims, error) {
	tok, err := bearer(r)
	if err != nil {
		return nil, err
	}
	return s.parseToken(r.Context(), tok, typAccess, ScopeAccess, ScopeAppPass, ScopeAppPassPrivileged)
}

// auth authenticates r by its access token (any scope: main password or
// app password). The token's session must still be live, so signing out or
// revoking the app password ends it at once.
func (s *Server) auth(r *http.Request) (*Auth, error) {
	c, err := s.accessClaims(r)
	if err != nil {
		return nil, err
	}
	sess, err := s.store.LookupSession(r.Context(), c.Sid)
	switch {
	case errors.Is(err, atlite.ErrExpiredToken):
		return nil, authError("ExpiredToken", "Token has expired")
	case errors.Is(err, atlite.ErrNotFound), errors.Is(err, atlite.ErrInvalidToken):
		return nil, authError("InvalidToken", "Token has been revoked")
	case err != nil:
		return nil, err
	}
	if sess.DID.String() != c.Subject {
		return nil, authError("InvalidToken", "Malformed token")
	}
	return &Auth{DID: sess.DID, AppPassword: sess.AppPassword != "", Privileged: sess.Privileged, Session: sess.ID}, nil
}

// authFull is auth for the methods that manage the account (app passwords,
// deactivation): an app password's token is refused with the reference
// PDS's 400 InvalidToken "Bad token scope".
func (s *Server) authFull(r *http.Request) (*Auth, error) {
	a, err := s.auth(r)
	if err != nil {
		return nil, err
	}
	if a.AppPassword {
		return nil, Errorf(http.StatusBadRequest, "InvalidToken", "Bad token scope")
	}
	return a, nil
}

// authRepo is auth for a write to the repo id: the token's account must be
// that repo (401 AuthenticationRequired otherwise, as the reference PDS answers).
func (s *Server) authRepo(r *http.Request, id syntax.AtIdentifier) (*Auth, *atlite.Repo, error) {
	a, err := s.auth(r)
	if err != nil {
		return nil, nil, err
	}
	repo, err := s.repoByID(r.Context(), id)
	if err != nil {
		return nil, nil, err
	}
	if repo.DID != a.DID {
		return nil, nil, Errorf(http.StatusUnauthorized, "AuthenticationRequired", "Authentication Required: the token's account is %s, not %s", a.DID, id)
	}
	return a, repo, nil
}

// writeAuth is the access check of a write to a repo (createRecord,
// putRecord, deleteRecord, applyWrites), split so that a write reads
// nothing its commit does not. authWrite checks the access token itself
// (signature, type, audience, times, scope) and that the repo named is the
// token's account; the session's check (live: not signed out, refreshed
// away, revoked with its app password or by a password change; not
// expired) is left to the commit, which makes it in its own write
// transaction (atlite.CommitOptions.Session): no session state is cached,
// and a revocation by any process on the file refuses the very next write.
// Whenever the write fails, or ends without a commit, settle or verify
// runs the full check (authRepo) first, so that its error still comes
// before the write's own, as when the session was read up front.
type writeAuth struct {
	s  *Server
	r  *http.Request
	id syntax.AtIdentifier
	// did is the repo written.
	did syntax.DID
	// sid is the session the commit must check; 0 once the full check ran.
	sid int64
}

// authWrite authenticates a write to the repo id. Only when id is the DID
// of the token's account is the session's check deferred to the commit;
// a handle, or another account's DID, takes the full check at once.
func (s *Server) authWrite(r *http.Request, id syntax.AtIdentifier) (*writeAuth, error) {
	w := &writeAuth{s: s, r: r, id: id}
	c, err := s.accessClaims(r)
	if err != nil {
		return nil, err
	}
	if d, ok := id.AsDID(); ok && d.String() == c.Subject && c.Sid != 0 {
		w.did, w.sid = d, c.Sid
		return w, nil
	}
	if err := w.verify(); err != nil {
		return nil, err
	}
	return w, nil
}

// verify runs the full check (authRepo), once; a write that ends without
// a commit calls it before answering.
func (w *writeAuth) verify() error {
	if w.did != "" && w.sid == 0 {
		return nil
	}
	_, repo, err := w.s.authRepo(w.r, w.id)
	if err != nil {
		return err
	}
	w.did, w.sid = repo.DID, 0
	return nil
}

// opts are the options of the write's commit, with swap as SwapCommit.
func (w *writeAuth) opts(swap cid.Cid) *atlite.CommitOptions {
	return &atlite.CommitOptions{SwapCommit: swap, Session: w.sid}
}

// settle replaces *err, the error a write is about to answer, by the full
// check's error when that fails (a handler defers it).
func (w *writeAuth) settle(err *error) {
	if *err == nil {
		return
	}
	if e := w.verify(); e != nil {
		*err = e
	}
}

// refreshAuth checks r's bearer refresh token and returns the Store's
// opaque refresh token it carries.
func (s *Server) refreshAuth(r *http.Request) (string, error) {
	tok, err := bearer(r)
	if err != nil {
		return "", err
	}
	c, err := s.parseToken(r.Context(), tok, typRefresh, ScopeRefresh)
	if err != nil {
		return "", err
	}
	if c.ID == "" {
		return "", authError("InvalidToken", "Malformed token")
	}
	return c.ID, nil
}

// limiter is a rate limit per key (the client IP), built on rate.Limiter.
type limiter struct {
	mu    sync.Mutex
	every rate.Limit
	burst int
	m     map[string]*rate.Limiter
}

func newLimiter(n int, window time.Duration) *limiter {
	return &limiter{every: rate.Every(window / time.Duration(n)), burst: n, m: map[string]*rate.Limiter{}}
}

// maxLimiterKeys bounds the limiter map; past it, keys whose bucket is full
// again (no recent calls) are dropped.
const maxLimiterKeys = 10000

// allow takes one token for key at now; when none is left it returns how
// long to wait.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.m[key]
	if !ok {
		if len(l.m) >= maxLimiterKeys {
			for k, v := range l.m {
				if v.TokensAt(now) >= float64(l.burst) {
					delete(l.m, k)
				}
			}
			// Still full: forget arbitrary keys (map order is random).
			for k := range l.m {
				if len(l.m) < maxLimiterKeys {
					break
				}
				delete(l.m, k)
			}
		}
		lim = rate.NewLimiter(l.every, l.burst)
		l.m[key] = lim
	}
	res := lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// clientIP is the request's remote address without the port.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// rateLimit answers 429 RateLimitExceeded when the client is over l.
func (s *Server) rateLimit(l *limiter, r *http.Request) error {
	ok, wait := l.allow(clientIP(r), s.opts.Now())
	if ok {
		return nil
	}
	e := Errorf(http.StatusTooManyRequests, "RateLimitExceeded", "Rate Limit Exceeded")
	e.Header = http.Header{"Retry-After": {strconv.Itoa(int(math.Ceil(wait.Seconds())))}}
	return e
}
