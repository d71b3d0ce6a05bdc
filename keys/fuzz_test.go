package keys_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/atlite-dev/atlite/keys"
	"github.com/mr-tron/base58"
)

// vectorDIDKeys returns every did:key found in the interop vectors, plus the
// seed keys.
func vectorDIDKeys(f *testing.F) []string {
	var out []string
	var sigs []sigFixture
	readJSON(f, "signature-fixtures.json", &sigs)
	for _, c := range sigs {
		out = append(out, c.PublicKeyDID)
	}
	var k256 []struct{ PublicDIDKey string }
	readJSON(f, "w3c_didkey_K256.json", &k256)
	var p256 []struct{ PublicDIDKey string }
	readJSON(f, "w3c_didkey_P256.json", &p256)
	for _, c := range append(k256, p256...) {
		out = append(out, c.PublicDIDKey)
	}
	for _, v := range seedVectors {
		out = append(out, v.didKey)
	}
	return out
}

// FuzzParseDIDKey checks that ParseDIDKey never panics, returns a nil key with
// ErrInvalidKey on failure, and that every accepted string is canonical:
// DIDKey on the result gives back exactly the input.
func FuzzParseDIDKey(f *testing.F) {
	for _, s := range vectorDIDKeys(f) {
		f.Add(s)
		f.Add(s[:len(s)-1])
	}
	f.Add("did:key:z")
	f.Add("did:key:" + multibase([]byte{0xe7, 0x01}, notOnCurve[keys.K256]))
	f.Fuzz(func(t *testing.T, s string) {
		k, err := keys.ParseDIDKey(s)
		if err != nil {
			if k != nil || !errors.Is(err, keys.ErrInvalidKey) {
				t.Fatalf("ParseDIDKey(%q) = %v, %v, want nil, ErrInvalidKey", s, k, err)
			}
			return
		}
		if got := k.DIDKey(); got != s {
			t.Fatalf("ParseDIDKey(%q).DIDKey() = %q, want the input", s, got)
		}
		if got := len(k.Bytes()); got != 33 {
			t.Fatalf("ParseDIDKey(%q).Bytes() has %d bytes, want 33", s, got)
		}
		k2, err := keys.ParsePublicBytes(k.Curve(), k.Bytes())
		if err != nil || !k2.Equal(k) {
			t.Fatalf("ParsePublicBytes(ParseDIDKey(%q).Bytes()) = %v, %v", s, k2, err)
		}
	})
}

// FuzzParseMultikey is FuzzParseDIDKey for the bare Multikey form.
func FuzzParseMultikey(f *testing.F) {
	for _, s := range vectorDIDKeys(f) {
		mk := strings.TrimPrefix(s, keys.DIDKeyPrefix)
		f.Add(mk)
		f.Add(mk[:len(mk)-2])
	}
	f.Add("z")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := keys.ParseMultikey(s)
		if err != nil {
			if k != nil || !errors.Is(err, keys.ErrInvalidKey) {
				t.Fatalf("ParseMultikey(%q) = %v, %v, want nil, ErrInvalidKey", s, k, err)
			}
			return
		}
		if got := k.Multikey(); got != s {
			t.Fatalf("ParseMultikey(%q).Multikey() = %q, want the input", s, got)
		}
		if got := k.DIDKey(); got != keys.DIDKeyPrefix+s {
			t.Fatalf("ParseMultikey(%q).DIDKey() = %q", s, got)
		}
	})
}

// FuzzParsePrivateMultibase checks that every accepted private key multibase
// is canonical (Multibase on the result gives back exactly the input) and
// that failures return a nil key with ErrInvalidKey.
func FuzzParsePrivateMultibase(f *testing.F) {
	for _, v := range seedVectors {
		f.Add(v.multibase)
		f.Add(v.multibase[:len(v.multibase)-1])
	}
	f.Add(multibase([]byte{0x81, 0x26}, k256N.FillBytes(make([]byte, 32))))
	f.Add(multibase([]byte{0x86, 0x26}, p256N.FillBytes(make([]byte, 32))))
	f.Add(multibase([]byte{0x86, 0x26}, make([]byte, 32)))
	f.Fuzz(func(t *testing.T, s string) {
		k, err := keys.ParsePrivateMultibase(s)
		if err != nil {
			if k != nil || !errors.Is(err, keys.ErrInvalidKey) {
				t.Fatalf("ParsePrivateMultibase(%q) = %v, %v, want nil, ErrInvalidKey", s, k, err)
			}
			return
		}
		if got := k.Multibase(); got != s {
			t.Fatalf("ParsePrivateMultibase(%q).Multibase() = %q, want the input", s, got)
		}
		b, _ := base58.Decode(s[1:])
		if got := k.Bytes(); !bytes.Equal(got, b[2:]) {
			t.Fatalf("ParsePrivateMultibase(%q).Bytes() = %x, want %x", s, got, b[2:])
		}
	})
}

// FuzzParsePublicBytes checks that accepted SEC1 points re-encode to the
// input: Bytes for compressed input, UncompressedBytes for uncompressed input.
func FuzzParsePublicBytes(f *testing.F) {
	for _, v := range seedVectors {
		k, err := keys.ParseDIDKey(v.didKey)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(v.curve), k.Bytes())
		switch k := k.(type) {
		case *keys.K256PublicKey:
			f.Add(byte(v.curve), k.UncompressedBytes())
		case *keys.P256PublicKey:
			f.Add(byte(v.curve), k.UncompressedBytes())
		}
	}
	f.Add(byte(keys.K256), notOnCurve[keys.K256])
	f.Add(byte(keys.P256), notOnCurve[keys.P256])
	f.Fuzz(func(t *testing.T, c byte, b []byte) {
		curve := keys.Curve(c)
		k, err := keys.ParsePublicBytes(curve, b)
		if err != nil {
			if k != nil || !errors.Is(err, keys.ErrInvalidKey) {
				t.Fatalf("ParsePublicBytes(%v, %x) = %v, %v, want nil, ErrInvalidKey", curve, b, k, err)
			}
			return
		}
		if k.Curve() != curve {
			t.Fatalf("ParsePublicBytes(%v, %x).Curve() = %v", curve, b, k.Curve())
		}
		var unc []byte
		switch k := k.(type) {
		case *keys.K256PublicKey:
			unc = k.UncompressedBytes()
		case *keys.P256PublicKey:
			unc = k.UncompressedBytes()
		}
		comp := k.Bytes()
		switch len(b) {
		case 33:
			if !bytes.Equal(comp, b) {
				t.Fatalf("ParsePublicBytes(%v, %x).Bytes() = %x, want the input", curve, b, comp)
			}
		case 65:
			if !bytes.Equal(unc, b) {
				t.Fatalf("ParsePublicBytes(%v, %x).UncompressedBytes() = %x, want the input", curve, b, unc)
			}
		default:
			t.Fatalf("ParsePublicBytes(%v, %x) accepted %d bytes", curve, b, len(b))
		}
		if k2, err := keys.ParseDIDKey(k.DIDKey()); err != nil || !k2.Equal(k) {
			t.Fatalf("ParseDIDKey(%q) = %v, %v", k.DIDKey(), k2, err)
		}
	})
}

// FuzzVerify checks that Verify never panics on arbitrary signatures and
// messages, and only ever accepts 64-byte low-S signatures with r, s in
// [1, n-1].
func FuzzVerify(f *testing.F) {
	var sigs []sigFixture
	readJSON(f, "signature-fixtures.json", &sigs)
	var pubs []keys.PublicKey
	for i, c := range sigs {
		k, err := keys.ParseDIDKey(c.PublicKeyDID)
		if err != nil {
			f.Fatal(err)
		}
		pubs = append(pubs, k)
		f.Add(byte(i), mustB64(c.MessageBase64), mustB64(c.SignatureBase64))
	}
	for _, v := range seedVectors {
		priv := fromSeed(f, v.curve, v.seed)
		msg := []byte("fuzz")
		sig, err := priv.Sign(msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(len(pubs)), msg, sig)
		pubs = append(pubs, priv.PublicKey())
	}
	f.Fuzz(func(t *testing.T, i byte, msg, sig []byte) {
		pub := pubs[int(i)%len(pubs)]
		err := pub.Verify(msg, sig)
		if err != nil {
			if !errors.Is(err, keys.ErrBadSignature) {
				t.Fatalf("Verify(%x, %x) = %v, want ErrBadSignature", msg, sig, err)
			}
			return
		}
		n := curveOrder(pub.Curve())
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		if len(sig) != 64 || r.Sign() == 0 || r.Cmp(n) >= 0 || s.Sign() == 0 || s.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
			t.Fatalf("Verify(%x, %x) accepted a non-canonical signature", msg, sig)
		}
	})
}

func mustB64(s string) []byte {
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		panic(err)
	}
	return b
}
