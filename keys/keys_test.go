package keys_test

import (
	"bytes"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/atlite-dev/atlite/keys"
	"github.com/mr-tron/base58"
)

const cryptoDir = "../testdata/interop/crypto"

// Curve orders, written out independently of the package under test.
var (
	k256N = mustBigHex("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141")
	p256N = mustBigHex("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551")
)

func mustBigHex(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic("bad hex " + s)
	}
	return n
}

func curveOrder(c keys.Curve) *big.Int {
	if c == keys.K256 {
		return k256N
	}
	return p256N
}

func readJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cryptoDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
}

type sigFixture struct {
	Comment            string   `json:"comment"`
	MessageBase64      string   `json:"messageBase64"`
	Algorithm          string   `json:"algorithm"`
	DIDDocSuite        string   `json:"didDocSuite"`
	PublicKeyDID       string   `json:"publicKeyDid"`
	PublicKeyMultibase string   `json:"publicKeyMultibase"`
	SignatureBase64    string   `json:"signatureBase64"`
	ValidSignature     bool     `json:"validSignature"`
	Tags               []string `json:"tags"`
}

func decodeB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		t.Fatalf("base64 %q: %v", s, err)
	}
	return b
}

func TestSignatureFixtures(t *testing.T) {
	var cases []sigFixture
	readJSON(t, "signature-fixtures.json", &cases)
	if len(cases) != 6 {
		t.Fatalf("signature-fixtures.json has %d cases, want 6", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.Comment, func(t *testing.T) {
			msg := decodeB64(t, tc.MessageBase64)
			sig := decodeB64(t, tc.SignatureBase64)

			pub, err := keys.ParseDIDKey(tc.PublicKeyDID)
			if err != nil {
				t.Fatalf("ParseDIDKey(%q) error: %v", tc.PublicKeyDID, err)
			}
			if got := pub.DIDKey(); got != tc.PublicKeyDID {
				t.Errorf("ParseDIDKey(%q).DIDKey() = %q", tc.PublicKeyDID, got)
			}
			if got := pub.Curve().JWTAlg(); got != tc.Algorithm {
				t.Errorf("ParseDIDKey(%q).Curve().JWTAlg() = %q, want %q", tc.PublicKeyDID, got, tc.Algorithm)
			}
			legacy, err := keys.ParsePublicKeyMultibase(tc.DIDDocSuite, tc.PublicKeyMultibase)
			if err != nil {
				t.Fatalf("ParsePublicKeyMultibase(%q, %q) error: %v", tc.DIDDocSuite, tc.PublicKeyMultibase, err)
			}
			if !legacy.Equal(pub) || !pub.Equal(legacy) {
				t.Errorf("ParsePublicKeyMultibase(%q, %q) = %s, want %s", tc.DIDDocSuite, tc.PublicKeyMultibase, legacy.DIDKey(), pub.DIDKey())
			}
			// The Multikey form of the same key must parse to the same key.
			mk, err := keys.ParsePublicKeyMultibase(keys.TypeMultikey, pub.Multikey())
			if err != nil || !mk.Equal(pub) {
				t.Errorf("ParsePublicKeyMultibase(Multikey, %q) = %v, %v", pub.Multikey(), mk, err)
			}

			for _, k := range []keys.PublicKey{pub, legacy} {
				err := k.Verify(msg, sig)
				if got := err == nil; got != tc.ValidSignature {
					t.Errorf("Verify(%x, %x) = %v, want valid=%v", msg, sig, err, tc.ValidSignature)
				}
				if err != nil && !errors.Is(err, keys.ErrBadSignature) {
					t.Errorf("Verify error %v does not wrap ErrBadSignature", err)
				}
			}
			if slices.Contains(tc.Tags, "high-s") || slices.Contains(tc.Tags, "der-encoded") {
				if tc.ValidSignature {
					t.Errorf("fixture tagged %v is marked valid", tc.Tags)
				}
			}
			if slices.Contains(tc.Tags, "der-encoded") && len(sig) == 64 {
				t.Errorf("DER fixture signature is %d bytes", len(sig))
			}
		})
	}
}

func TestW3CDIDKeyK256(t *testing.T) {
	var cases []struct {
		PrivateKeyBytesHex string `json:"privateKeyBytesHex"`
		PublicDIDKey       string `json:"publicDidKey"`
	}
	readJSON(t, "w3c_didkey_K256.json", &cases)
	if len(cases) != 5 {
		t.Fatalf("w3c_didkey_K256.json has %d cases, want 5", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.PublicDIDKey, func(t *testing.T) {
			b, err := hex.DecodeString(tc.PrivateKeyBytesHex)
			if err != nil {
				t.Fatal(err)
			}
			priv, err := keys.ParseK256Private(b)
			if err != nil {
				t.Fatalf("ParseK256Private(%x) error: %v", b, err)
			}
			checkDIDKeyVector(t, priv, b, tc.PublicDIDKey, keys.K256)
		})
	}
}

func TestW3CDIDKeyP256(t *testing.T) {
	var cases []struct {
		PrivateKeyBytesBase58 string `json:"privateKeyBytesBase58"`
		PublicDIDKey          string `json:"publicDidKey"`
	}
	readJSON(t, "w3c_didkey_P256.json", &cases)
	if len(cases) != 1 {
		t.Fatalf("w3c_didkey_P256.json has %d cases, want 1", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.PublicDIDKey, func(t *testing.T) {
			b, err := base58.Decode(tc.PrivateKeyBytesBase58)
			if err != nil {
				t.Fatal(err)
			}
			priv, err := keys.ParseP256Private(b)
			if err != nil {
				t.Fatalf("ParseP256Private(%x) error: %v", b, err)
			}
			checkDIDKeyVector(t, priv, b, tc.PublicDIDKey, keys.P256)
		})
	}
}

func checkDIDKeyVector(t *testing.T, priv keys.PrivateKey, scalar []byte, want string, curve keys.Curve) {
	t.Helper()
	if got := priv.Bytes(); !bytes.Equal(got, scalar) {
		t.Errorf("Bytes() = %x, want %x", got, scalar)
	}
	pub := priv.PublicKey()
	if got := pub.DIDKey(); got != want {
		t.Errorf("DIDKey() = %q, want %q", got, want)
	}
	if got := pub.Curve(); got != curve {
		t.Errorf("Curve() = %v, want %v", got, curve)
	}
	parsed, err := keys.ParseDIDKey(want)
	if err != nil {
		t.Fatalf("ParseDIDKey(%q) error: %v", want, err)
	}
	if got, want := parsed.Bytes(), pub.Bytes(); !bytes.Equal(got, want) || len(got) != 33 {
		t.Errorf("ParseDIDKey(%q).Bytes() = %x, want %x", want, got, want)
	}
	if !parsed.Equal(pub) {
		t.Errorf("ParseDIDKey(%q).Equal(derived key) = false", want)
	}
	// A signature by the private key verifies with the parsed key.
	sig, err := priv.Sign([]byte("vector"))
	if err != nil {
		t.Fatal(err)
	}
	if err := parsed.Verify([]byte("vector"), sig); err != nil {
		t.Errorf("Verify with parsed did:key = %v, want nil", err)
	}
}

// Seed keys, computed independently (pure-Python curve arithmetic and
// base58) from the scalar = seed definition.
var seedVectors = []struct {
	curve     keys.Curve
	seed      uint64
	didKey    string
	multibase string
}{
	{keys.K256, 2349872879569, "did:key:zQ3shSEfbKCbty32G2fFh8ULBjCn5W24CBbgKxBr3zNBK6Rf4", "z3vLTztfd4SjVQVf9WfKUYKsCdtUznWH7f2rzpGFoK55BwVJ"},
	{keys.K256, 4597489735324, "did:key:zQ3shsWUKHPgnA2bFA96FgN6EHHo1aSCmQPhiET2gczY9L8i5", "z3vLTztfd4SjVQVf9WfKUYKsCdtUznWH7f2rzpGFpL7TPpuh"},
	{keys.P256, 2349872879569, "did:key:zDnaeWjNBknXjwz2aGMjHi1t3nFb49bPBJfKrgrmMUTkPdFVR", "z42thtK4xkebhpMHF4yzF9ZJqAa4rvBxg3Pt41EVWPfWDAYQ"},
}

func fromSeed(t testing.TB, c keys.Curve, seed uint64) keys.PrivateKey {
	t.Helper()
	var (
		k   keys.PrivateKey
		err error
	)
	switch c {
	case keys.K256:
		k, err = keys.K256FromSeed(seed)
	case keys.P256:
		k, err = keys.P256FromSeed(seed)
	}
	if err != nil {
		t.Fatalf("%vFromSeed(%d) error: %v", c, seed, err)
	}
	return k
}

func TestFromSeed(t *testing.T) {
	for _, tc := range seedVectors {
		t.Run(tc.didKey, func(t *testing.T) {
			priv := fromSeed(t, tc.curve, tc.seed)
			want := make([]byte, 32)
			new(big.Int).SetUint64(tc.seed).FillBytes(want)
			if got := priv.Bytes(); !bytes.Equal(got, want) {
				t.Errorf("Bytes() = %x, want %x", got, want)
			}
			if got := priv.PublicKey().DIDKey(); got != tc.didKey {
				t.Errorf("DIDKey() = %q, want %q", got, tc.didKey)
			}
			if got := priv.Multibase(); got != tc.multibase {
				t.Errorf("Multibase() = %q, want %q", got, tc.multibase)
			}
			pub, err := keys.ParseDIDKey(tc.didKey)
			if err != nil || !pub.Equal(priv.PublicKey()) {
				t.Errorf("ParseDIDKey(%q) = %v, %v, want the seed key", tc.didKey, pub, err)
			}
			priv2, err := keys.ParsePrivateMultibase(tc.multibase)
			if err != nil {
				t.Fatalf("ParsePrivateMultibase(%q) error: %v", tc.multibase, err)
			}
			if !bytes.Equal(priv2.Bytes(), want) || !priv2.PublicKey().Equal(pub) {
				t.Errorf("ParsePrivateMultibase(%q) = %x, want %x", tc.multibase, priv2.Bytes(), want)
			}
		})
	}
	if _, err := keys.K256FromSeed(0); !errors.Is(err, keys.ErrInvalidKey) {
		t.Errorf("K256FromSeed(0) error = %v, want ErrInvalidKey", err)
	}
	if _, err := keys.P256FromSeed(0); !errors.Is(err, keys.ErrInvalidKey) {
		t.Errorf("P256FromSeed(0) error = %v, want ErrInvalidKey", err)
	}
}

// TestSignDeterministic pins the exact signatures of the seed-2349872879569
// keys, computed independently with a pure-Python RFC 6979 (HMAC-SHA256)
// implementation followed by low-S normalisation.
func TestSignDeterministic(t *testing.T) {
	tests := []struct {
		curve keys.Curve
		msg   string
		sig   string
	}{
		{keys.K256, "hello world", "9faa8549c2348504458d1e45e7185337a409b233f9f100d65af74caa5474b35a218a63e2e21126c581d2bbd800429eaf9b611ba79f1b0c93a3cd7d61774b6b21"},
		{keys.K256, "", "7814bf6156d663bb28291d03d74d009f840e1312c689f4682e61f6cc1457472f77604b7e1a1b6aba4423c6776b99a22223f69070589a73194fbd5b6e8cd3146d"},
		{keys.P256, "hello world", "5ea5e08d86ced066b27702351574995f5f1bd1972f1d9bec289ff41f53b3aa932ba8b5b6c37754b3b3fd5c821dca5361002bb77b886a06f608fb2863c1e31049"},
		{keys.P256, "", "1e14febbdb101f3727b9ba3d77d596a6eaa1be5d94e7179e41e9d50726913ad6329febd2342b1bda28850873e25b01d4795dda399e4928e9aef1e785f16c576f"},
	}
	for _, tc := range tests {
		t.Run(tc.curve.String()+"/"+tc.msg, func(t *testing.T) {
			priv := fromSeed(t, tc.curve, 2349872879569)
			for range 2 {
				sig, err := priv.Sign([]byte(tc.msg))
				if err != nil {
					t.Fatal(err)
				}
				if got := hex.EncodeToString(sig); got != tc.sig {
					t.Errorf("Sign(%q) = %s, want %s", tc.msg, got, tc.sig)
				}
				if err := priv.PublicKey().Verify([]byte(tc.msg), sig); err != nil {
					t.Errorf("Verify(Sign(%q)) = %v, want nil", tc.msg, err)
				}
			}
		})
	}
}

func generated(t *testing.T) []keys.PrivateKey {
	t.Helper()
	k, err := keys.GenerateK256()
	if err != nil {
		t.Fatal(err)
	}
	p, err := keys.GenerateP256()
	if err != nil {
		t.Fatal(err)
	}
	return []keys.PrivateKey{k, p, fromSeed(t, keys.K256, 2349872879569), fromSeed(t, keys.P256, 2349872879569)}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	for _, priv := range generated(t) {
		pub := priv.PublicKey()
		t.Run(pub.DIDKey(), func(t *testing.T) {
			msg := []byte("\xa1cfoocbar")
			sig, err := priv.Sign(msg)
			if err != nil {
				t.Fatal(err)
			}
			if len(sig) != 64 {
				t.Fatalf("len(Sign()) = %d, want 64", len(sig))
			}
			if err := pub.Verify(msg, sig); err != nil {
				t.Errorf("Verify(%q, %x) = %v, want nil", msg, sig, err)
			}
			// Parsing the did:key and the private multibase gives keys that
			// interoperate with the originals.
			pub2, err := keys.ParseDIDKey(pub.DIDKey())
			if err != nil {
				t.Fatal(err)
			}
			if err := pub2.Verify(msg, sig); err != nil {
				t.Errorf("re-parsed key Verify = %v, want nil", err)
			}
			priv2, err := keys.ParsePrivateMultibase(priv.Multibase())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(priv2.Bytes(), priv.Bytes()) || !priv2.PublicKey().Equal(pub) {
				t.Errorf("ParsePrivateMultibase(Multibase()) is a different key")
			}

			tampered := bytes.Clone(msg)
			tampered[0] ^= 1
			if err := pub.Verify(tampered, sig); !errors.Is(err, keys.ErrBadSignature) {
				t.Errorf("Verify(tampered) = %v, want ErrBadSignature", err)
			}
			for i := range sig {
				bad := bytes.Clone(sig)
				bad[i] ^= 0x10
				if err := pub.Verify(msg, bad); !errors.Is(err, keys.ErrBadSignature) {
					t.Errorf("Verify(sig with byte %d flipped) = %v, want ErrBadSignature", i, err)
				}
			}
		})
	}
	// A signature by one key does not verify with another key.
	ks := generated(t)
	sig, _ := ks[0].Sign([]byte("x"))
	if err := ks[2].PublicKey().Verify([]byte("x"), sig); !errors.Is(err, keys.ErrBadSignature) {
		t.Errorf("Verify with another key = %v, want ErrBadSignature", err)
	}
}

func TestSignLowS(t *testing.T) {
	for _, priv := range generated(t) {
		pub := priv.PublicKey()
		half := new(big.Int).Rsh(curveOrder(pub.Curve()), 1)
		t.Run(pub.DIDKey(), func(t *testing.T) {
			for i := range 50 {
				msg := []byte{byte(i), 'm', 's', 'g'}
				sig, err := priv.Sign(msg)
				if err != nil {
					t.Fatal(err)
				}
				s := new(big.Int).SetBytes(sig[32:])
				if s.Sign() == 0 || s.Cmp(half) > 0 {
					t.Errorf("Sign(%x) s = %x, want 0 < s <= n/2", msg, s)
				}
				if err := pub.Verify(msg, sig); err != nil {
					t.Errorf("Verify(Sign(%x)) = %v", msg, err)
				}
			}
		})
	}
}

func TestVerifyRejectsMalformed(t *testing.T) {
	for _, priv := range generated(t)[2:] {
		pub := priv.PublicKey()
		n := curveOrder(pub.Curve())
		msg := []byte("malformed")
		sig, err := priv.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		der, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
		if err != nil {
			t.Fatal(err)
		}
		join := func(r, s *big.Int) []byte {
			out := make([]byte, 64)
			r.FillBytes(out[:32])
			s.FillBytes(out[32:])
			return out
		}
		zero := new(big.Int)
		tests := []struct {
			name string
			sig  []byte
		}{
			{"nil", nil},
			{"empty", []byte{}},
			{"63 bytes", sig[:63]},
			{"65 bytes", append(bytes.Clone(sig), 0)},
			{"65 bytes with leading zero", append([]byte{0}, sig...)},
			{"DER", der},
			{"high-S", join(r, new(big.Int).Sub(n, s))},
			{"r zero", join(zero, s)},
			{"s zero", join(r, zero)},
			{"r = n", join(n, s)},
			{"s = n", join(r, n)},
			{"r + n overflow", join(new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1)), s)},
			{"all zero", make([]byte, 64)},
			{"all ff", bytes.Repeat([]byte{0xff}, 64)},
		}
		for _, tc := range tests {
			t.Run(pub.Curve().String()+"/"+tc.name, func(t *testing.T) {
				if err := pub.Verify(msg, tc.sig); !errors.Is(err, keys.ErrBadSignature) {
					t.Errorf("Verify(%q, %x) = %v, want ErrBadSignature", msg, tc.sig, err)
				}
			})
		}
		if err := pub.Verify(msg, sig); err != nil {
			t.Errorf("Verify(valid) = %v, want nil", err)
		}
	}
}

// notOnCurve holds a compressed point whose x has no y on the curve:
// x^3+7 (K-256, x = 0) and x^3-3x+b (P-256, x = 1) are quadratic non-residues.
var notOnCurve = map[keys.Curve][]byte{
	keys.K256: append([]byte{0x02}, make([]byte, 32)...),
	keys.P256: append([]byte{0x03}, big.NewInt(1).FillBytes(make([]byte, 32))...),
}

func TestParsePublicBytes(t *testing.T) {
	for _, priv := range generated(t)[2:] {
		pub := priv.PublicKey()
		c := pub.Curve()
		comp := pub.Bytes()
		var unc []byte
		switch k := pub.(type) {
		case *keys.K256PublicKey:
			unc = k.UncompressedBytes()
		case *keys.P256PublicKey:
			unc = k.UncompressedBytes()
		}
		if len(unc) != 65 || unc[0] != 0x04 || !bytes.Equal(unc[1:33], comp[1:]) {
			t.Fatalf("UncompressedBytes() = %x, inconsistent with Bytes() = %x", unc, comp)
		}
		ok := []struct {
			name string
			b    []byte
		}{{"compressed", comp}, {"uncompressed", unc}}
		for _, tc := range ok {
			t.Run(c.String()+"/"+tc.name, func(t *testing.T) {
				got, err := keys.ParsePublicBytes(c, tc.b)
				if err != nil {
					t.Fatalf("ParsePublicBytes(%v, %x) error: %v", c, tc.b, err)
				}
				if !got.Equal(pub) || !bytes.Equal(got.Bytes(), comp) {
					t.Errorf("ParsePublicBytes(%v, %x).Bytes() = %x, want %x", c, tc.b, got.Bytes(), comp)
				}
			})
		}
		flipY := bytes.Clone(comp)
		flipY[0] ^= 1
		hybrid := bytes.Clone(unc)
		hybrid[0] = 0x06 | unc[64]&1
		offCurve := bytes.Clone(unc)
		offCurve[64] ^= 1
		bad := []struct {
			name string
			b    []byte
		}{
			{"nil", nil},
			{"32 bytes", comp[1:]},
			{"34 bytes", append(bytes.Clone(comp), 0)},
			{"prefix 04 on 33 bytes", append([]byte{0x04}, comp[1:]...)},
			{"prefix 00", append([]byte{0x00}, comp[1:]...)},
			{"hybrid", hybrid},
			{"uncompressed off curve", offCurve},
			{"x all ff", append([]byte{0x02}, bytes.Repeat([]byte{0xff}, 32)...)},
			{"x not on curve", notOnCurve[c]},
		}
		for _, tc := range bad {
			t.Run(c.String()+"/bad/"+tc.name, func(t *testing.T) {
				got, err := keys.ParsePublicBytes(c, tc.b)
				if !errors.Is(err, keys.ErrInvalidKey) || got != nil {
					t.Errorf("ParsePublicBytes(%v, %x) = %v, %v, want nil, ErrInvalidKey", c, tc.b, got, err)
				}
			})
		}
		// The other y parity is a different valid point, not the same key.
		if other, err := keys.ParsePublicBytes(c, flipY); err != nil || other.Equal(pub) {
			t.Errorf("ParsePublicBytes(%v, flipped parity) = %v, %v, want a different key", c, other, err)
		}
	}
	if got, err := keys.ParsePublicBytes(keys.Curve(0), make([]byte, 33)); !errors.Is(err, keys.ErrInvalidKey) || got != nil {
		t.Errorf("ParsePublicBytes(Curve(0)) = %v, %v, want nil, ErrInvalidKey", got, err)
	}
}

// multibase returns "z" + base58btc(parts...).
func multibase(parts ...[]byte) string {
	return "z" + base58.Encode(bytes.Join(parts, nil))
}

func TestParseDIDKeyErrors(t *testing.T) {
	k := fromSeed(t, keys.K256, 2349872879569).(*keys.K256PrivateKey).K256PublicKey()
	comp := k.Bytes()
	unc := k.UncompressedBytes()
	tests := []string{
		"",
		"did:key:",
		"did:key:z",
		"zQ3shSEfbKCbty32G2fFh8ULBjCn5W24CBbgKxBr3zNBK6Rf4",        // no did:key: prefix
		"did:key:Q3shSEfbKCbty32G2fFh8ULBjCn5W24CBbgKxBr3zNBK6Rf4", // no multibase prefix
		"DID:KEY:zQ3shSEfbKCbty32G2fFh8ULBjCn5W24CBbgKxBr3zNBK6Rf4",
		"did:key:zQ3shSEfbKCbty32G2fFh8ULBjCn5W24CBbgKxBr3zNBK6Rf5", // checksum-free, but a different, invalid x
		"did:key:zQ3shSEfbKCbty32G2fFh8ULBjCn5W24CBbgKxBr3zNBK6Rf0", // '0' is not base58
		"did:key:zQ3shSEfbKCbty32G2fFh8ULBjCn5W24CBbgKxBr3zNBK6Rf4 ",
		"did:key:" + "f" + hex.EncodeToString(append([]byte{0xe7, 0x01}, comp...)), // base16 multibase
		"did:key:" + multibase([]byte{0xe7, 0x01}, unc),                            // uncompressed point
		"did:key:" + multibase([]byte{0xe7, 0x81, 0x00}, comp),                     // non-minimal varint
		"did:key:" + multibase([]byte{0x80, 0x24}, comp),                           // K-256 point under P-256 codec
		"did:key:" + multibase([]byte{0xed, 0x01}, make([]byte, 32)),               // ed25519
		"did:key:" + multibase([]byte{0x81, 0x26}, comp[1:]),                       // private codec
		"did:key:" + multibase([]byte{0xe7, 0x01}, comp[:32]),
		"did:key:z" + strings.Repeat("1", 200),
	}
	for _, s := range tests {
		t.Run(s, func(t *testing.T) {
			got, err := keys.ParseDIDKey(s)
			if !errors.Is(err, keys.ErrInvalidKey) || got != nil {
				t.Errorf("ParseDIDKey(%q) = %v, %v, want nil, ErrInvalidKey", s, got, err)
			}
			if mk, ok := strings.CutPrefix(s, "did:key:"); ok {
				got, err := keys.ParseMultikey(mk)
				if !errors.Is(err, keys.ErrInvalidKey) || got != nil {
					t.Errorf("ParseMultikey(%q) = %v, %v, want nil, ErrInvalidKey", mk, got, err)
				}
			}
		})
	}
	// ParseMultikey takes the bare multibase, not the did:key.
	if got, err := keys.ParseMultikey(k.DIDKey()); err == nil {
		t.Errorf("ParseMultikey(%q) = %v, want error", k.DIDKey(), got)
	}
	if got, err := keys.ParseMultikey(k.Multikey()); err != nil || !got.Equal(k) || got.Multikey() != k.Multikey() {
		t.Errorf("ParseMultikey(%q) = %v, %v", k.Multikey(), got, err)
	}
}

func TestParsePrivateMultibaseErrors(t *testing.T) {
	n := k256N.FillBytes(make([]byte, 32))
	pn := p256N.FillBytes(make([]byte, 32))
	one := big.NewInt(1).FillBytes(make([]byte, 32))
	tests := []string{
		"",
		"z",
		"z3vLTztfd4SjVQVf9WfKUYKsCdtUznWH7f2rzpGFoK55BwVJ ",
		multibase([]byte{0x81, 0x26}, make([]byte, 32)), // zero scalar
		multibase([]byte{0x81, 0x26}, n),                // scalar = n
		multibase([]byte{0x86, 0x26}, pn),               // scalar = n
		multibase([]byte{0x86, 0x26}, make([]byte, 32)),
		multibase([]byte{0x81, 0x26}, one[1:]),          // 31 bytes
		multibase([]byte{0x81, 0x26}, append(one, 0)),   // 33 bytes
		multibase([]byte{0xe7, 0x01}, one),              // public codec
		multibase([]byte{0x80, 0x26}, one),              // ed25519-priv
		"did:key:" + multibase([]byte{0x81, 0x26}, one), // not a bare multibase
	}
	for _, s := range tests {
		t.Run(s, func(t *testing.T) {
			got, err := keys.ParsePrivateMultibase(s)
			if !errors.Is(err, keys.ErrInvalidKey) || got != nil {
				t.Errorf("ParsePrivateMultibase(%q) = %v, %v, want nil, ErrInvalidKey", s, got, err)
			}
			if len(s) > 8 && err != nil && strings.Contains(err.Error(), s[1:]) {
				t.Errorf("ParsePrivateMultibase error %q quotes the input", err)
			}
		})
	}
	for _, c := range []struct {
		name  string
		parse func([]byte) (keys.PrivateKey, error)
		n     []byte
	}{
		{"K256", func(b []byte) (keys.PrivateKey, error) { return keys.ParseK256Private(b) }, n},
		{"P256", func(b []byte) (keys.PrivateKey, error) { return keys.ParseP256Private(b) }, pn},
	} {
		nMinus1 := new(big.Int).Sub(new(big.Int).SetBytes(c.n), big.NewInt(1)).FillBytes(make([]byte, 32))
		if _, err := c.parse(nMinus1); err != nil {
			t.Errorf("Parse%sPrivate(n-1) error: %v", c.name, err)
		}
		for _, b := range [][]byte{nil, make([]byte, 32), c.n, bytes.Repeat([]byte{0xff}, 32), one[1:], append(bytes.Clone(one), 1)} {
			if _, err := c.parse(b); !errors.Is(err, keys.ErrInvalidKey) {
				t.Errorf("Parse%sPrivate(%x) error = %v, want ErrInvalidKey", c.name, b, err)
			}
		}
	}
}

func TestParsePublicKeyMultibase(t *testing.T) {
	k := fromSeed(t, keys.K256, 2349872879569).(*keys.K256PrivateKey).K256PublicKey()
	p := fromSeed(t, keys.P256, 2349872879569).(*keys.P256PrivateKey).P256PublicKey()
	ok := []struct {
		typ, mb string
		want    keys.PublicKey
	}{
		{keys.TypeMultikey, k.Multikey(), k},
		{keys.TypeMultikey, p.Multikey(), p},
		{keys.TypeK256Legacy, multibase(k.Bytes()), k},
		{keys.TypeK256Legacy, multibase(k.UncompressedBytes()), k},
		{keys.TypeP256Legacy, multibase(p.Bytes()), p},
		{keys.TypeP256Legacy, multibase(p.UncompressedBytes()), p},
	}
	for _, tc := range ok {
		t.Run(tc.typ+"/"+tc.mb, func(t *testing.T) {
			got, err := keys.ParsePublicKeyMultibase(tc.typ, tc.mb)
			if err != nil || !got.Equal(tc.want) {
				t.Errorf("ParsePublicKeyMultibase(%q, %q) = %v, %v, want %s", tc.typ, tc.mb, got, err, tc.want.DIDKey())
			}
		})
	}
	bad := []struct{ typ, mb string }{
		{"Ed25519VerificationKey2020", k.Multikey()},
		{"", k.Multikey()},
		{keys.TypeK256Legacy, k.Multikey()},         // multicodec-prefixed under a legacy type
		{keys.TypeP256Legacy, multibase(k.Bytes())}, // K-256 point as P-256: x not on P-256 (for this key)
		{keys.TypeK256Legacy, "f" + hex.EncodeToString(k.Bytes())},
		{keys.TypeMultikey, multibase(k.Bytes())},
		{keys.TypeMultikey, k.DIDKey()},
	}
	for _, tc := range bad {
		t.Run("bad/"+tc.typ+"/"+tc.mb, func(t *testing.T) {
			got, err := keys.ParsePublicKeyMultibase(tc.typ, tc.mb)
			if !errors.Is(err, keys.ErrInvalidKey) || got != nil {
				t.Errorf("ParsePublicKeyMultibase(%q, %q) = %v, %v, want nil, ErrInvalidKey", tc.typ, tc.mb, got, err)
			}
		})
	}
}

func TestEqual(t *testing.T) {
	k := fromSeed(t, keys.K256, 2349872879569).PublicKey()
	k2 := fromSeed(t, keys.K256, 4597489735324).PublicKey()
	p := fromSeed(t, keys.P256, 2349872879569).PublicKey()
	tests := []struct {
		a, b keys.PublicKey
		want bool
	}{
		{k, k, true},
		{k, k2, false},
		{k, p, false},
		{p, k, false},
		{p, p, true},
		{k, nil, false},
		{p, nil, false},
		{k, (*keys.K256PublicKey)(nil), false},
		{p, (*keys.P256PublicKey)(nil), false},
	}
	for _, tc := range tests {
		if got := tc.a.Equal(tc.b); got != tc.want {
			t.Errorf("%v.Equal(%v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestCurve(t *testing.T) {
	tests := []struct {
		c           keys.Curve
		str, jwtAlg string
	}{
		{keys.K256, "K-256", "ES256K"},
		{keys.P256, "P-256", "ES256"},
		{keys.Curve(0), "Curve(0)", ""},
		{keys.Curve(7), "Curve(7)", ""},
	}
	for _, tc := range tests {
		if got := tc.c.String(); got != tc.str {
			t.Errorf("Curve(%d).String() = %q, want %q", int(tc.c), got, tc.str)
		}
		if got := tc.c.JWTAlg(); got != tc.jwtAlg {
			t.Errorf("Curve(%d).JWTAlg() = %q, want %q", int(tc.c), got, tc.jwtAlg)
		}
	}
}

func TestBytesAreCopies(t *testing.T) {
	for _, priv := range generated(t) {
		b := priv.Bytes()
		b[0] ^= 0xff
		if bytes.Equal(priv.Bytes(), b) {
			t.Errorf("%T.Bytes() aliases internal state", priv)
		}
		pb := priv.PublicKey().Bytes()
		pb[0] ^= 0xff
		if bytes.Equal(priv.PublicKey().Bytes(), pb) {
			t.Errorf("%T.Bytes() aliases internal state", priv.PublicKey())
		}
	}
}
