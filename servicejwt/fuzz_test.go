package servicejwt_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/atlite-dev/atlite/servicejwt"
)

// FuzzParse checks that Parse never panics, that an accepted token is kept
// byte for byte, that its segments are canonical base64url (decoding and
// re-encoding gives them back), and that parsing is deterministic.
func FuzzParse(f *testing.F) {
	k, p := k256(f, 2349872879569), p256(f, 2349872879569)
	f.Add(create(f, k, servicejwt.Params{Issuer: "did:web:user.com", Host: "relay.local", Now: now, Nonce: "n"}))
	f.Add(create(f, p, servicejwt.Params{Issuer: "did:plc:abc", IssuerService: "atproto_labeler", Audience: "did:web:x#y", LexiconMethod: "com.atproto.repo.uploadBlob", Now: now}))
	f.Add(sign(f, k, `{"typ":"jwt","alg":"ES256K"}`, `{"iss":"did:web:user.com","aud":"did:web:relay.local","alg":"ES256K","exp":1641093245}`))
	f.Add(b64.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64.EncodeToString([]byte(`{"iss":"did:plc:abc","aud":"a","exp":1}`)) + ".")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := servicejwt.Parse(s)
		if err != nil {
			if tok != nil {
				t.Fatalf("Parse(%q) returned %v with error %v", s, tok, err)
			}
			return
		}
		if tok.String() != s {
			t.Fatalf("String() = %q, want %q", tok.String(), s)
		}
		for _, part := range strings.Split(s, ".") {
			b, err := b64.DecodeString(part)
			if err != nil || b64.EncodeToString(b) != part {
				t.Fatalf("segment %q is not canonical", part)
			}
		}
		again, err := servicejwt.Parse(s)
		if err != nil || !reflect.DeepEqual(again, tok) {
			t.Fatalf("second Parse(%q) = %+v, %v", s, again, err)
		}
		if len(tok.Signature()) != 64 {
			t.Fatalf("signature of %d bytes", len(tok.Signature()))
		}
		_ = tok.VerifySignature(k.PublicKey())
		_ = tok.CheckClaims(servicejwt.VerifyOptions{Audience: tok.Claims.Audience, Now: time.Unix(tok.Claims.ExpiresAt, 0)})
	})
}
