package servicejwt

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

const (
	// DefaultTTL is the lifetime of a token when Params.TTL is zero.
	DefaultTTL = 60 * time.Second
	// DefaultLeeway is the clock skew tolerated when checking "exp" and
	// "iat", when VerifyOptions.Leeway is zero.
	DefaultLeeway = 5 * time.Second
	// MaxTokenLength is the longest token Parse accepts, in bytes.
	MaxTokenLength = 8192
)

// Params describes a token to create.
type Params struct {
	// Issuer is the account DID on whose behalf the request is made
	// (required).
	Issuer syntax.DID
	// IssuerService, if set, is appended to the issuer as a service
	// fragment: Issuer "did:web:x" with "atproto_labeler" gives iss
	// "did:web:x#atproto_labeler", telling the receiver to check the
	// #atproto_label key.
	IssuerService string
	// Audience is the DID (possibly with a service fragment) of the
	// receiving service. If empty, it is "did:web:" + Host.
	Audience string
	// Host is the receiving service's host name, used only when Audience
	// is empty; a port is written %3A as did:web requires.
	Host string
	// LexiconMethod, if set, is the "lxm" claim: the only XRPC method the
	// token authorizes.
	LexiconMethod syntax.NSID
	// TTL is the token lifetime; 0 means DefaultTTL.
	TTL time.Duration
	// Now is the issue time; the zero value means time.Now().
	Now time.Time
	// Nonce is the "jti" claim; "" means 16 random bytes in hex.
	Nonce string
}

// Header is the decoded JOSE header of a token.
type Header struct {
	// Alg is "ES256K" or "ES256".
	Alg string
	// Typ is "JWT".
	Typ string
}

// Claims are the decoded claims of a service token.
type Claims struct {
	// Issuer is the DID of "iss", without the service fragment.
	Issuer syntax.DID
	// IssuerService is the fragment of "iss" after '#', or "".
	IssuerService string
	// Audience is "aud".
	Audience string
	// ExpiresAt is "exp", in Unix seconds.
	ExpiresAt int64
	// IssuedAt is "iat", in Unix seconds, or 0 when absent.
	IssuedAt int64
	// LexiconMethod is "lxm", or "" when absent.
	LexiconMethod string
	// Nonce is "jti", or "" when absent.
	Nonce string
}

// Token is a parsed service JWT. Parsing checks only its syntax; see
// [Verify].
type Token struct {
	Header Header
	Claims Claims
	raw    string
	signed string // header.payload, the signing input
	sig    []byte
}

// String returns the token exactly as it was parsed or created.
func (t *Token) String() string { return t.raw }

// Signature returns a copy of the 64-byte r||s signature.
func (t *Token) Signature() []byte { return append([]byte(nil), t.sig...) }

// Create returns a service token signed by key: header
// {"typ":"JWT","alg":"ES256K"} (or "ES256" for a P-256 key) and claims
// iat, iss, aud, exp, lxm (if set) and jti, in that order. The signature is
// the deterministic low-S r||s of key.Sign, base64url without padding.
func Create(key keys.PrivateKey, p Params) (string, error) {
	if key == nil {
		return "", fmt.Errorf("create service token: no key")
	}
	alg := key.PublicKey().Curve().JWTAlg()
	if alg == "" {
		return "", fmt.Errorf("%w: key curve %s", ErrAlgorithm, key.PublicKey().Curve())
	}
	if _, err := syntax.ParseDID(string(p.Issuer)); err != nil {
		return "", fmt.Errorf("create service token: issuer: %w", err)
	}
	iss := string(p.Issuer)
	if p.IssuerService != "" {
		if strings.ContainsAny(p.IssuerService, "#/?") {
			return "", fmt.Errorf("create service token: bad issuer service %q", p.IssuerService)
		}
		iss += "#" + p.IssuerService
	}
	aud := p.Audience
	if aud == "" {
		if p.Host == "" {
			return "", fmt.Errorf("create service token: %w: neither audience nor host given", ErrAudience)
		}
		d, err := syntax.ParseDID("did:web:" + strings.ReplaceAll(p.Host, ":", "%3A"))
		if err != nil {
			return "", fmt.Errorf("create service token: host %q: %w", p.Host, err)
		}
		aud = string(d)
	}
	if p.LexiconMethod != "" {
		if _, err := syntax.ParseNSID(string(p.LexiconMethod)); err != nil {
			return "", fmt.Errorf("create service token: lexicon method: %w", err)
		}
	}
	ttl := p.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < 0 {
		return "", fmt.Errorf("create service token: negative ttl %s", ttl)
	}
	now := p.Now
	if now.IsZero() {
		now = time.Now()
	}
	nonce := p.Nonce
	if nonce == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("create service token: nonce: %w", err)
		}
		nonce = hex.EncodeToString(b[:])
	}
	iat := now.Unix()
	exp := now.Add(ttl).Unix()

	var payload bytes.Buffer
	payload.WriteString(`{"iat":`)
	payload.WriteString(strconv.FormatInt(iat, 10))
	payload.WriteString(`,"iss":`)
	writeString(&payload, iss)
	payload.WriteString(`,"aud":`)
	writeString(&payload, aud)
	payload.WriteString(`,"exp":`)
	payload.WriteString(strconv.FormatInt(exp, 10))
	if p.LexiconMethod != "" {
		payload.WriteString(`,"lxm":`)
		writeString(&payload, string(p.LexiconMethod))
	}
	payload.WriteString(`,"jti":`)
	writeString(&payload, nonce)
	payload.WriteString(`}`)

	header := `{"typ":"JWT","alg":"` + alg + `"}`
	signed := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString(payload.Bytes())
	sig, err := key.Sign([]byte(signed))
	if err != nil {
		return "", fmt.Errorf("create service token: %w", err)
	}
	return signed + "." + b64.EncodeToString(sig), nil
}

var b64 = base64.RawURLEncoding

// writeString writes s as a JSON string without HTML escaping.
func writeString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // cannot fail for a string
	buf.Truncate(buf.Len() - 1)
}

// Parse parses a service token without verifying it. It is strict: the
// token has at most MaxTokenLength bytes and three segments of canonical
// base64url without padding; header and payload are JSON objects without
// duplicate keys or floats; "alg" is ES256K or ES256 (anything else,
// "none" included, fails with [ErrAlgorithm]), "typ" is "JWT" (any case)
// and "crit" is absent; "iss" is a DID with an optional "#service"
// fragment, "aud" a non-empty string and "exp" an integer; "iat" (integer),
// "lxm" and "jti" (strings) are optional; other claims are ignored. The
// signature decodes to 64 bytes. Errors wrap [ErrMalformed] unless said
// otherwise, and a nil Token is returned with them.
func Parse(s string) (*Token, error) {
	if len(s) > MaxTokenLength {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxTokenLength)
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: %d segments, want 3", ErrMalformed, len(parts))
	}
	var seg [3][]byte
	for i, p := range parts {
		if strings.ContainsAny(p, "\r\n") {
			return nil, fmt.Errorf("%w: line break in segment %d", ErrMalformed, i)
		}
		b, err := b64.Strict().DecodeString(p)
		if err != nil {
			return nil, fmt.Errorf("%w: segment %d is not canonical base64url: %v", ErrMalformed, i, err)
		}
		seg[i] = b
	}
	t := &Token{raw: s, signed: parts[0] + "." + parts[1], sig: seg[2]}
	h, err := object(seg[0], "header")
	if err != nil {
		return nil, err
	}
	alg, ok := h["alg"].(string)
	if !ok {
		return nil, fmt.Errorf("%w: header has no string alg", ErrMalformed)
	}
	if alg != keys.K256.JWTAlg() && alg != keys.P256.JWTAlg() {
		return nil, fmt.Errorf("%w: alg %q", ErrAlgorithm, alg)
	}
	if _, ok := h["crit"]; ok {
		return nil, fmt.Errorf("%w: critical header extensions", ErrAlgorithm)
	}
	typ, ok := h["typ"].(string)
	if !ok || !strings.EqualFold(typ, "JWT") {
		return nil, fmt.Errorf("%w: typ %v, want JWT", ErrMalformed, h["typ"])
	}
	t.Header = Header{Alg: alg, Typ: typ}

	c, err := object(seg[1], "payload")
	if err != nil {
		return nil, err
	}
	iss, ok := c["iss"].(string)
	if !ok {
		return nil, fmt.Errorf("%w: no string iss", ErrMalformed)
	}
	issDID, svc, hasSvc := strings.Cut(iss, "#")
	d, err := syntax.ParseDID(issDID)
	if err != nil {
		return nil, fmt.Errorf("%w: iss: %w", ErrMalformed, err)
	}
	if hasSvc && svc == "" {
		return nil, fmt.Errorf("%w: iss %q has an empty service", ErrMalformed, iss)
	}
	t.Claims.Issuer, t.Claims.IssuerService = d, svc
	if t.Claims.Audience, ok = c["aud"].(string); !ok || t.Claims.Audience == "" {
		return nil, fmt.Errorf("%w: no string aud", ErrMalformed)
	}
	if t.Claims.ExpiresAt, ok = c["exp"].(int64); !ok {
		return nil, fmt.Errorf("%w: no integer exp", ErrMalformed)
	}
	if v, ok := c["iat"]; ok {
		if t.Claims.IssuedAt, ok = v.(int64); !ok {
			return nil, fmt.Errorf("%w: iat is not an integer", ErrMalformed)
		}
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"lxm", &t.Claims.LexiconMethod}, {"jti", &t.Claims.Nonce}} {
		if v, ok := c[f.name]; ok {
			if *f.dst, ok = v.(string); !ok {
				return nil, fmt.Errorf("%w: %s is not a string", ErrMalformed, f.name)
			}
		}
	}
	if len(t.sig) != 64 {
		return nil, fmt.Errorf("%w: signature has %d bytes, want 64", ErrMalformed, len(t.sig))
	}
	return t, nil
}

// object decodes a strict JSON object (atproto JSON: no duplicate keys, no
// floats).
func object(b []byte, what string) (map[string]any, error) {
	v, err := datamodel.FromJSON(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not an object", ErrMalformed, what)
	}
	return m, nil
}

// VerifySignature checks the token's signature with pub, whose curve must
// match the token's alg.
func (t *Token) VerifySignature(pub keys.PublicKey) error {
	if pub == nil {
		return fmt.Errorf("%w: no key", ErrIssuer)
	}
	if want := pub.Curve().JWTAlg(); t.Header.Alg != want {
		return fmt.Errorf("%w: token alg %s, issuer key needs %s", ErrAlgorithm, t.Header.Alg, want)
	}
	if err := pub.Verify([]byte(t.signed), t.sig); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return nil
}

// VerifyOptions are the expectations a token must meet.
type VerifyOptions struct {
	// Audience is the receiving service's own DID (with its service
	// fragment if tokens carry one); "aud" must equal it exactly. It is
	// required: an empty Audience fails every token with ErrAudience.
	Audience string
	// LexiconMethod is the XRPC method being called. If set, "lxm" must
	// equal it. If empty, tokens that carry an "lxm" are refused, since
	// they cannot be checked.
	LexiconMethod syntax.NSID
	// Now is the current time; the zero value means time.Now().
	Now time.Time
	// Leeway is the clock skew tolerated for "exp" and "iat"; 0 means
	// DefaultLeeway and a negative value none.
	Leeway time.Duration
}

// CheckClaims checks the token's claims against opts: the audience, the
// lexicon method, expiry ("exp" must not be before now minus the leeway)
// and issue time ("iat", if present, must not be after now plus the
// leeway). It does not check the signature.
func (t *Token) CheckClaims(opts VerifyOptions) error {
	if opts.Audience == "" {
		return fmt.Errorf("%w: no audience configured", ErrAudience)
	}
	if t.Claims.Audience != opts.Audience {
		return fmt.Errorf("%w: token is for %q, not %q", ErrAudience, t.Claims.Audience, opts.Audience)
	}
	if t.Claims.LexiconMethod != string(opts.LexiconMethod) {
		return fmt.Errorf("%w: token allows %q, request is %q", ErrLexiconMethod, t.Claims.LexiconMethod, opts.LexiconMethod)
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	leeway := opts.Leeway
	if leeway == 0 {
		leeway = DefaultLeeway
	}
	if leeway < 0 {
		leeway = 0
	}
	if exp := time.Unix(t.Claims.ExpiresAt, 0); now.After(exp.Add(leeway)) {
		return fmt.Errorf("%w: at %s", ErrExpired, exp.UTC().Format(time.RFC3339))
	}
	if t.Claims.IssuedAt != 0 {
		if iat := time.Unix(t.Claims.IssuedAt, 0); iat.After(now.Add(leeway)) {
			return fmt.Errorf("%w: at %s", ErrNotYetValid, iat.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// Verify parses token, checks its claims ([Token.CheckClaims]) and its
// signature with pub, the issuer's signing key. It returns the token only if
// everything holds.
func Verify(token string, pub keys.PublicKey, opts VerifyOptions) (*Token, error) {
	t, err := Parse(token)
	if err != nil {
		return nil, err
	}
	if err := t.CheckClaims(opts); err != nil {
		return nil, err
	}
	if err := t.VerifySignature(pub); err != nil {
		return nil, err
	}
	return t, nil
}

// KeyFunc returns the public key that signs tokens for the issuer DID d and
// the service fragment of "iss" ("" for none).
type KeyFunc func(ctx context.Context, d syntax.DID, service string) (keys.PublicKey, error)

// VerifyWithKeyFunc is [Verify] with the issuer's key looked up by keyFn,
// which is called only once the claims have passed.
func VerifyWithKeyFunc(ctx context.Context, token string, keyFn KeyFunc, opts VerifyOptions) (*Token, error) {
	t, err := Parse(token)
	if err != nil {
		return nil, err
	}
	if err := t.CheckClaims(opts); err != nil {
		return nil, err
	}
	pub, err := keyFn(ctx, t.Claims.Issuer, t.Claims.IssuerService)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrIssuer, t.Claims.Issuer, err)
	}
	if err := t.VerifySignature(pub); err != nil {
		return nil, err
	}
	return t, nil
}
