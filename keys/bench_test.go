package keys_test

import (
	"testing"

	"github.com/atlite-dev/atlite/keys"
)

var benchMsg = []byte("\xa6cdidx\x20did:plc:abcdefghijklmnopqrstuvwxcrevm3kabcdefghijcsig")

func benchSign(b *testing.B, c keys.Curve) {
	priv := fromSeed(b, c, 2349872879569)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := priv.Sign(benchMsg); err != nil {
			b.Fatal(err)
		}
	}
}

func benchVerify(b *testing.B, c keys.Curve) {
	priv := fromSeed(b, c, 2349872879569)
	sig, err := priv.Sign(benchMsg)
	if err != nil {
		b.Fatal(err)
	}
	pub := priv.PublicKey()
	b.ReportAllocs()
	for b.Loop() {
		if err := pub.Verify(benchMsg, sig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkK256Sign(b *testing.B)   { benchSign(b, keys.K256) }
func BenchmarkK256Verify(b *testing.B) { benchVerify(b, keys.K256) }
func BenchmarkP256Sign(b *testing.B)   { benchSign(b, keys.P256) }
func BenchmarkP256Verify(b *testing.B) { benchVerify(b, keys.P256) }

func BenchmarkParseDIDKey(b *testing.B) {
	for _, v := range seedVectors[1:] {
		b.Run(v.curve.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := keys.ParseDIDKey(v.didKey); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDIDKey(b *testing.B) {
	pub := fromSeed(b, keys.K256, 2349872879569).PublicKey()
	b.ReportAllocs()
	for b.Loop() {
		_ = pub.DIDKey()
	}
}
