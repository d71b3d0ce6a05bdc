package servicejwt_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	decredecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/atlite-dev/atlite/did"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/servicejwt"
	"github.com/atlite-dev/atlite/syntax"
)

// now is the fixed time of arroba's tests (SPEC 19.3): 2022-01-02T03:04:05Z.
var now = time.Date(2022, 1, 2, 3, 4, 5, 0, time.UTC)

var b64 = base64.RawURLEncoding

func k256(tb testing.TB, seed uint64) keys.PrivateKey {
	tb.Helper()
	k, err := keys.K256FromSeed(seed)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func p256(tb testing.TB, seed uint64) keys.PrivateKey {
	tb.Helper()
	k, err := keys.P256FromSeed(seed)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func create(tb testing.TB, k keys.PrivateKey, p servicejwt.Params) string {
	tb.Helper()
	tok, err := servicejwt.Create(k, p)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func segments(tb testing.TB, tok string) (header, payload string, sig []byte) {
	tb.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		tb.Fatalf("token %q has %d segments", tok, len(parts))
	}
	h, err1 := b64.DecodeString(parts[0])
	p, err2 := b64.DecodeString(parts[1])
	s, err3 := b64.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		tb.Fatal(err)
	}
	return string(h), string(p), s
}

// sign builds a token from raw header and payload JSON, signed by k.
func sign(tb testing.TB, k keys.PrivateKey, header, payload string) string {
	tb.Helper()
	in := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	sig, err := k.Sign([]byte(in))
	if err != nil {
		tb.Fatal(err)
	}
	return in + "." + b64.EncodeToString(sig)
}

func TestCreateVector(t *testing.T) {
	// SPEC 10.3: host relay.local at NOW with a 10-minute lifetime gives
	// aud did:web:relay.local and exp 1641093245 (arroba's payload, minus
	// its stray alg claim, plus iat and jti as the XRPC spec requires).
	k := k256(t, 2349872879569)
	tok := create(t, k, servicejwt.Params{Issuer: "did:web:user.com", Host: "relay.local", TTL: 10 * time.Minute, Now: now, Nonce: "0123456789abcdef0123456789abcdef"})
	header, payload, sig := segments(t, tok)
	if want := `{"typ":"JWT","alg":"ES256K"}`; header != want {
		t.Errorf("header = %s, want %s", header, want)
	}
	if want := `{"iat":1641092645,"iss":"did:web:user.com","aud":"did:web:relay.local","exp":1641093245,"jti":"0123456789abcdef0123456789abcdef"}`; payload != want {
		t.Errorf("payload = %s, want %s", payload, want)
	}
	if !strings.HasPrefix(tok, "eyJ0eXAiOiJKV1QiLCJhbGciOiJFUzI1NksifQ.") {
		t.Errorf("token = %s", tok)
	}
	// Deterministic signing: the same inputs give the same token.
	if again := create(t, k, servicejwt.Params{Issuer: "did:web:user.com", Host: "relay.local", TTL: 10 * time.Minute, Now: now, Nonce: "0123456789abcdef0123456789abcdef"}); again != tok {
		t.Errorf("second token differs: %s", again)
	}

	// decred verifies the ES256K signature over the signing input, low-S.
	var r, s secp256k1.ModNScalar
	r.SetByteSlice(sig[:32])
	s.SetByteSlice(sig[32:])
	pub, err := secp256k1.ParsePubKey(k.PublicKey().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte(tok[:strings.LastIndexByte(tok, '.')]))
	if !decredecdsa.NewSignature(&r, &s).Verify(digest[:], pub) || s.IsOverHalfOrder() {
		t.Error("decred does not verify the ES256K token as low-S")
	}

	parsed, err := servicejwt.Verify(tok, k.PublicKey(), servicejwt.VerifyOptions{Audience: "did:web:relay.local", Now: now.Add(9 * time.Minute)})
	if err != nil {
		t.Fatalf("Verify = %v", err)
	}
	want := servicejwt.Claims{Issuer: "did:web:user.com", Audience: "did:web:relay.local", ExpiresAt: 1641093245, IssuedAt: 1641092645, Nonce: "0123456789abcdef0123456789abcdef"}
	if parsed.Claims != want || parsed.Header != (servicejwt.Header{Alg: "ES256K", Typ: "JWT"}) || parsed.String() != tok {
		t.Errorf("Verify = %+v %+v, want %+v", parsed.Header, parsed.Claims, want)
	}
}

func TestCreateDefaults(t *testing.T) {
	k := p256(t, 2349872879569)
	tok1 := create(t, k, servicejwt.Params{Issuer: "did:plc:abc", Audience: "did:web:api.bsky.app#bsky_appview", LexiconMethod: "app.bsky.feed.getFeedSkeleton", Now: now, IssuerService: "atproto_labeler"})
	tok2 := create(t, k, servicejwt.Params{Issuer: "did:plc:abc", Host: "localhost:2583", Now: now})
	h1, p1, sig := segments(t, tok1)
	if h1 != `{"typ":"JWT","alg":"ES256"}` {
		t.Errorf("P-256 header = %s", h1)
	}
	t1, err := servicejwt.Parse(tok1)
	if err != nil {
		t.Fatal(err)
	}
	t2, err := servicejwt.Parse(tok2)
	if err != nil {
		t.Fatal(err)
	}
	if t1.Claims.ExpiresAt-t1.Claims.IssuedAt != 60 || t1.Claims.IssuedAt != now.Unix() {
		t.Errorf("iat %d, exp %d: want a 60 s lifetime from %d", t1.Claims.IssuedAt, t1.Claims.ExpiresAt, now.Unix())
	}
	if len(t1.Claims.Nonce) != 32 || t1.Claims.Nonce == t2.Claims.Nonce {
		t.Errorf("jti %q and %q: want two random 32-hex nonces", t1.Claims.Nonce, t2.Claims.Nonce)
	}
	if t1.Claims.Issuer != "did:plc:abc" || t1.Claims.IssuerService != "atproto_labeler" || !strings.Contains(p1, `"iss":"did:plc:abc#atproto_labeler"`) {
		t.Errorf("issuer = %q %q in %s", t1.Claims.Issuer, t1.Claims.IssuerService, p1)
	}
	if t1.Claims.LexiconMethod != "app.bsky.feed.getFeedSkeleton" || t1.Claims.Audience != "did:web:api.bsky.app#bsky_appview" {
		t.Errorf("claims = %+v", t1.Claims)
	}
	if t2.Claims.Audience != "did:web:localhost%3A2583" {
		t.Errorf("aud = %q, want did:web:localhost%%3A2583", t2.Claims.Audience)
	}

	// crypto/ecdsa verifies the ES256 signature.
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), k.PublicKey().(*keys.P256PublicKey).UncompressedBytes())
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte(tok1[:strings.LastIndexByte(tok1, '.')]))
	if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Error("crypto/ecdsa does not verify the ES256 token")
	}

	for name, p := range map[string]servicejwt.Params{
		"no issuer":       {Host: "x.test"},
		"bad issuer":      {Issuer: "user.com", Host: "x.test"},
		"no audience":     {Issuer: "did:plc:abc"},
		"bad host":        {Issuer: "did:plc:abc", Host: "a b"},
		"bad lxm":         {Issuer: "did:plc:abc", Host: "x.test", LexiconMethod: "getFeed"},
		"negative ttl":    {Issuer: "did:plc:abc", Host: "x.test", TTL: -time.Second},
		"service with #":  {Issuer: "did:plc:abc", Host: "x.test", IssuerService: "a#b"},
		"service with /":  {Issuer: "did:plc:abc", Host: "x.test", IssuerService: "a/b"},
		"service with ? ": {Issuer: "did:plc:abc", Host: "x.test", IssuerService: "a?b"},
	} {
		if tok, err := servicejwt.Create(k, p); err == nil {
			t.Errorf("Create(%s) = %s, want an error", name, tok)
		}
	}
	if _, err := servicejwt.Create(nil, servicejwt.Params{Issuer: "did:plc:abc", Host: "x.test"}); err == nil {
		t.Error("Create(nil key) succeeded")
	}
}

func TestVerifyErrors(t *testing.T) {
	k := k256(t, 2349872879569)
	other := k256(t, 4597489735324)
	base := servicejwt.Params{Issuer: "did:plc:abc", Audience: "did:web:pds.test", LexiconMethod: "com.atproto.repo.uploadBlob", Now: now, Nonce: "n"}
	tok := create(t, k, base)
	opts := servicejwt.VerifyOptions{Audience: "did:web:pds.test", LexiconMethod: "com.atproto.repo.uploadBlob", Now: now.Add(30 * time.Second)}
	if _, err := servicejwt.Verify(tok, k.PublicKey(), opts); err != nil {
		t.Fatalf("Verify(good token) = %v", err)
	}
	noLXM := base
	noLXM.LexiconMethod = ""
	tokNoLXM := create(t, k, noLXM)
	sig := tok[strings.LastIndexByte(tok, '.')+1:]
	raw, _ := b64.DecodeString(sig)
	var s secp256k1.ModNScalar
	s.SetByteSlice(raw[32:])
	s.Negate()
	hs := s.Bytes()
	highS := tok[:strings.LastIndexByte(tok, '.')+1] + b64.EncodeToString(append(append([]byte{}, raw[:32]...), hs[:]...))
	payload := `{"iat":1641092645,"iss":"did:plc:abc","aud":"did:web:pds.test","exp":1641092705,"lxm":"com.atproto.repo.uploadBlob"}`

	with := func(f func(o *servicejwt.VerifyOptions)) servicejwt.VerifyOptions {
		o := opts
		f(&o)
		return o
	}
	tests := []struct {
		name  string
		token string
		key   keys.PublicKey
		opts  servicejwt.VerifyOptions
		want  error
	}{
		{"expired", tok, k.PublicKey(), with(func(o *servicejwt.VerifyOptions) { o.Now = now.Add(66 * time.Second) }), servicejwt.ErrExpired},
		{"expired without leeway", tok, k.PublicKey(), with(func(o *servicejwt.VerifyOptions) { o.Now = now.Add(61 * time.Second); o.Leeway = -1 }), servicejwt.ErrExpired},
		{"issued in the future", tok, k.PublicKey(), with(func(o *servicejwt.VerifyOptions) { o.Now = now.Add(-6 * time.Second) }), servicejwt.ErrNotYetValid},
		{"other audience", tok, k.PublicKey(), with(func(o *servicejwt.VerifyOptions) { o.Audience = "did:web:other.test" }), servicejwt.ErrAudience},
		{"no audience configured", tok, k.PublicKey(), with(func(o *servicejwt.VerifyOptions) { o.Audience = "" }), servicejwt.ErrAudience},
		{"other method", tok, k.PublicKey(), with(func(o *servicejwt.VerifyOptions) { o.LexiconMethod = "com.atproto.repo.createRecord" }), servicejwt.ErrLexiconMethod},
		{"unexpected lxm", tok, k.PublicKey(), with(func(o *servicejwt.VerifyOptions) { o.LexiconMethod = "" }), servicejwt.ErrLexiconMethod},
		{"missing lxm", tokNoLXM, k.PublicKey(), opts, servicejwt.ErrLexiconMethod},
		{"mis-signed", tok, other.PublicKey(), opts, servicejwt.ErrBadSignature},
		{"high S", highS, k.PublicKey(), opts, servicejwt.ErrBadSignature},
		{"p256 key for ES256K", tok, p256(t, 1).PublicKey(), opts, servicejwt.ErrAlgorithm},
		{"tampered payload", b64.EncodeToString([]byte(`{"typ":"JWT","alg":"ES256K"}`)) + "." + b64.EncodeToString([]byte(strings.Replace(payload, "abc", "abd", 1))) + "." + sig, k.PublicKey(), opts, servicejwt.ErrBadSignature},
		{"alg none", b64.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64.EncodeToString([]byte(payload)) + ".", k.PublicKey(), opts, servicejwt.ErrAlgorithm},
		{"alg None", sign(t, k, `{"alg":"None","typ":"JWT"}`, payload), k.PublicKey(), opts, servicejwt.ErrAlgorithm},
		{"alg HS256", sign(t, k, `{"alg":"HS256","typ":"JWT"}`, payload), k.PublicKey(), opts, servicejwt.ErrAlgorithm},
		{"alg es256k", sign(t, k, `{"alg":"es256k","typ":"JWT"}`, payload), k.PublicKey(), opts, servicejwt.ErrAlgorithm},
		{"alg ES256 with k256", sign(t, k, `{"alg":"ES256","typ":"JWT"}`, payload), k.PublicKey(), opts, servicejwt.ErrAlgorithm},
		{"crit", sign(t, k, `{"alg":"ES256K","typ":"JWT","crit":["x"]}`, payload), k.PublicKey(), opts, servicejwt.ErrAlgorithm},
		{"access token typ", sign(t, k, `{"alg":"ES256K","typ":"at+jwt"}`, payload), k.PublicKey(), opts, servicejwt.ErrMalformed},
		{"no typ", sign(t, k, `{"alg":"ES256K"}`, payload), k.PublicKey(), opts, servicejwt.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := servicejwt.Verify(tt.token, tt.key, tt.opts)
			if got != nil || !errors.Is(err, tt.want) {
				t.Errorf("Verify() = %v, %v; want nil, %v", got, err, tt.want)
			}
		})
	}
	// Within the leeway, the token still passes.
	if _, err := servicejwt.Verify(tok, k.PublicKey(), with(func(o *servicejwt.VerifyOptions) { o.Now = now.Add(64 * time.Second) })); err != nil {
		t.Errorf("Verify(4 s after exp) = %v, want nil (leeway 5 s)", err)
	}
	// arroba's tokens: no iat, no jti, a stray alg claim, typ in lower case.
	arroba := sign(t, k, `{"typ":"jwt","alg":"ES256K"}`, `{"iss":"did:web:user.com","aud":"did:web:relay.local","alg":"ES256K","exp":1641093245}`)
	got, err := servicejwt.Verify(arroba, k.PublicKey(), servicejwt.VerifyOptions{Audience: "did:web:relay.local", Now: now})
	if err != nil || got.Claims.IssuedAt != 0 || got.Claims.Nonce != "" {
		t.Errorf("Verify(arroba token) = %+v, %v", got, err)
	}
}

func TestParseErrors(t *testing.T) {
	k := k256(t, 2349872879569)
	good := create(t, k, servicejwt.Params{Issuer: "did:plc:abc", Audience: "did:web:x.test", Now: now, Nonce: "n"})
	parts := strings.Split(good, ".")
	h := parts[0]
	enc := func(s string) string { return b64.EncodeToString([]byte(s)) }
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := parts[2][len(parts[2])-1]
	nonCanonical := parts[2][:len(parts[2])-1] + string(alphabet[strings.IndexByte(alphabet, last)|1])
	tests := []struct{ name, token string }{
		{"empty", ""},
		{"two segments", parts[0] + "." + parts[1]},
		{"four segments", good + ".x"},
		{"padded", good + "=="},
		{"std base64", parts[0] + "." + parts[1] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[2]) + "+/"},
		{"non-canonical trailing bits", parts[0] + "." + parts[1] + "." + nonCanonical},
		{"line break", parts[0] + "." + parts[1][:5] + "\n" + parts[1][5:] + "." + parts[2]},
		{"header not json", enc("{") + "." + parts[1] + "." + parts[2]},
		{"header array", enc(`["ES256K"]`) + "." + parts[1] + "." + parts[2]},
		{"duplicate header key", enc(`{"alg":"ES256K","alg":"ES256K","typ":"JWT"}`) + "." + parts[1] + "." + parts[2]},
		{"duplicate claim", h + "." + enc(`{"iss":"did:plc:abc","aud":"did:web:x.test","exp":1,"exp":2}`) + "." + parts[2]},
		{"float exp", h + "." + enc(`{"iss":"did:plc:abc","aud":"did:web:x.test","exp":1.5}`) + "." + parts[2]},
		{"string exp", h + "." + enc(`{"iss":"did:plc:abc","aud":"did:web:x.test","exp":"1"}`) + "." + parts[2]},
		{"no exp", h + "." + enc(`{"iss":"did:plc:abc","aud":"did:web:x.test"}`) + "." + parts[2]},
		{"aud array", h + "." + enc(`{"iss":"did:plc:abc","aud":["did:web:x.test"],"exp":1}`) + "." + parts[2]},
		{"empty aud", h + "." + enc(`{"iss":"did:plc:abc","aud":"","exp":1}`) + "." + parts[2]},
		{"no iss", h + "." + enc(`{"aud":"did:web:x.test","exp":1}`) + "." + parts[2]},
		{"iss not a did", h + "." + enc(`{"iss":"alice.test","aud":"did:web:x.test","exp":1}`) + "." + parts[2]},
		{"iss empty service", h + "." + enc(`{"iss":"did:plc:abc#","aud":"did:web:x.test","exp":1}`) + "." + parts[2]},
		{"string iat", h + "." + enc(`{"iss":"did:plc:abc","aud":"did:web:x.test","exp":1,"iat":"1"}`) + "." + parts[2]},
		{"numeric lxm", h + "." + enc(`{"iss":"did:plc:abc","aud":"did:web:x.test","exp":1,"lxm":1}`) + "." + parts[2]},
		{"numeric jti", h + "." + enc(`{"iss":"did:plc:abc","aud":"did:web:x.test","exp":1,"jti":1}`) + "." + parts[2]},
		{"payload trailing data", h + "." + enc(`{"iss":"did:plc:abc","aud":"did:web:x.test","exp":1} x`) + "." + parts[2]},
		{"short signature", parts[0] + "." + parts[1] + "." + b64.EncodeToString(make([]byte, 63))},
		{"der signature", parts[0] + "." + parts[1] + "." + b64.EncodeToString(append([]byte{0x30, 0x44}, make([]byte, 70)...))},
		{"too long", h + "." + enc(`{"iss":"did:plc:abc","aud":"`+strings.Repeat("a", 9000)+`","exp":1}`) + "." + parts[2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := servicejwt.Parse(tt.token)
			if tok != nil || !errors.Is(err, servicejwt.ErrMalformed) {
				t.Errorf("Parse(%q) = %v, %v; want nil, ErrMalformed", tt.token, tok, err)
			}
		})
	}
}

// identityServer serves did:web documents over TLS for any host.
func identityServer(t *testing.T, docs map[string]string) *http.Client {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := docs[r.Host]
		if !ok || r.URL.Path != "/.well-known/did.json" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	tr := srv.Client().Transport.(*http.Transport).Clone()
	addr := srv.Listener.Addr().String()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: tr}
}

func TestVerifyWithResolver(t *testing.T) {
	ctx := context.Background()
	user, label := k256(t, 2349872879569), p256(t, 4597489735324)
	doc := `{"id":"did:web:example.com","verificationMethod":[` +
		`{"id":"#atproto","type":"Multikey","controller":"did:web:example.com","publicKeyMultibase":"` + user.PublicKey().Multikey() + `"},` +
		`{"id":"did:web:example.com#atproto_label","type":"Multikey","controller":"did:web:example.com","publicKeyMultibase":"` + label.PublicKey().Multikey() + `"}]}`
	r, err := did.NewResolver(&did.ResolverOptions{HTTPClient: identityServer(t, map[string]string{"example.com": doc}), PLCURL: "https://plc.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	keyFn := servicejwt.ResolverKeyFunc(r)
	opts := servicejwt.VerifyOptions{Audience: "did:web:pds.test", Now: now}

	tok := create(t, user, servicejwt.Params{Issuer: "did:web:example.com", Audience: "did:web:pds.test", Now: now})
	if got, err := servicejwt.VerifyWithKeyFunc(ctx, tok, keyFn, opts); err != nil || got.Claims.Issuer != "did:web:example.com" {
		t.Errorf("VerifyWithKeyFunc(user token) = %v, %v", got, err)
	}
	lab := create(t, label, servicejwt.Params{Issuer: "did:web:example.com", IssuerService: "atproto_labeler", Audience: "did:web:pds.test", Now: now})
	if _, err := servicejwt.VerifyWithKeyFunc(ctx, lab, keyFn, opts); err != nil {
		t.Errorf("VerifyWithKeyFunc(labeler token) = %v", err)
	}
	// The user's key does not sign for the labeler, nor the other way round.
	wrong := create(t, user, servicejwt.Params{Issuer: "did:web:example.com", IssuerService: "atproto_labeler", Audience: "did:web:pds.test", Now: now})
	if _, err := servicejwt.VerifyWithKeyFunc(ctx, wrong, keyFn, opts); !errors.Is(err, servicejwt.ErrAlgorithm) {
		t.Errorf("VerifyWithKeyFunc(user key as labeler) = %v, want ErrAlgorithm", err)
	}
	wrong = create(t, k256(t, 9999999999), servicejwt.Params{Issuer: "did:web:example.com", Audience: "did:web:pds.test", Now: now})
	if _, err := servicejwt.VerifyWithKeyFunc(ctx, wrong, keyFn, opts); !errors.Is(err, servicejwt.ErrBadSignature) {
		t.Errorf("VerifyWithKeyFunc(mis-signed) = %v, want ErrBadSignature", err)
	}
	for _, p := range []servicejwt.Params{
		{Issuer: "did:web:unknown.example.com", Audience: "did:web:pds.test", Now: now},
		{Issuer: "did:web:example.com", IssuerService: "bsky_fg", Audience: "did:web:pds.test", Now: now},
		{Issuer: "did:key:" + syntax.DID(user.PublicKey().Multikey()), Audience: "did:web:pds.test", Now: now},
	} {
		tok := create(t, user, p)
		if _, err := servicejwt.VerifyWithKeyFunc(ctx, tok, keyFn, opts); !errors.Is(err, servicejwt.ErrIssuer) {
			t.Errorf("VerifyWithKeyFunc(%s#%s) = %v, want ErrIssuer", p.Issuer, p.IssuerService, err)
		}
	}

	// The key function is not consulted for a token that fails its claims.
	calls := 0
	counting := func(ctx context.Context, d syntax.DID, svc string) (keys.PublicKey, error) {
		calls++
		return keyFn(ctx, d, svc)
	}
	if _, err := servicejwt.VerifyWithKeyFunc(ctx, tok, counting, servicejwt.VerifyOptions{Audience: "did:web:pds.test", Now: now.Add(time.Hour)}); !errors.Is(err, servicejwt.ErrExpired) || calls != 0 {
		t.Errorf("VerifyWithKeyFunc(expired) = %v after %d key lookups, want ErrExpired after 0", err, calls)
	}

	static := servicejwt.StaticKeys(map[syntax.DID]keys.PublicKey{"did:web:example.com": user.PublicKey()})
	if _, err := servicejwt.VerifyWithKeyFunc(ctx, tok, static, opts); err != nil {
		t.Errorf("VerifyWithKeyFunc(static) = %v", err)
	}
	if _, err := servicejwt.VerifyWithKeyFunc(ctx, create(t, user, servicejwt.Params{Issuer: "did:plc:zzz", Audience: "did:web:pds.test", Now: now}), static, opts); !errors.Is(err, servicejwt.ErrIssuer) {
		t.Errorf("VerifyWithKeyFunc(static, unknown) = %v, want ErrIssuer", err)
	}
}
