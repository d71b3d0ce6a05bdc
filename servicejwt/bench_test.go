package servicejwt_test

import (
	"testing"
	"time"

	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/servicejwt"
)

func benchCreateVerify(b *testing.B, k keys.PrivateKey) {
	p := servicejwt.Params{Issuer: "did:plc:ewvi7nxzyoun6zhxrhs64oiz", Audience: "did:web:pds.test", LexiconMethod: "com.atproto.repo.uploadBlob", Now: now}
	opts := servicejwt.VerifyOptions{Audience: "did:web:pds.test", LexiconMethod: "com.atproto.repo.uploadBlob", Now: now.Add(time.Second)}
	pub := k.PublicKey()
	b.ReportAllocs()
	for b.Loop() {
		tok, err := servicejwt.Create(k, p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := servicejwt.Verify(tok, pub, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateVerifyES256K creates and verifies a K-256 token.
func BenchmarkCreateVerifyES256K(b *testing.B) { benchCreateVerify(b, k256(b, 2349872879569)) }

// BenchmarkCreateVerifyES256 creates and verifies a P-256 token.
func BenchmarkCreateVerifyES256(b *testing.B) { benchCreateVerify(b, p256(b, 2349872879569)) }

func BenchmarkParse(b *testing.B) {
	tok := create(b, k256(b, 2349872879569), servicejwt.Params{Issuer: "did:plc:ewvi7nxzyoun6zhxrhs64oiz", Audience: "did:web:pds.test", Now: now})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := servicejwt.Parse(tok); err != nil {
			b.Fatal(err)
		}
	}
}
