package keys_test

import (
	"fmt"

	"github.com/atlite-dev/atlite/keys"
)

func Example() {
	// The fixed test key of arroba's test suite: the private scalar is the seed.
	priv, err := keys.K256FromSeed(2349872879569)
	if err != nil {
		panic(err)
	}
	pub := priv.PublicKey()
	fmt.Println(pub.DIDKey())

	msg := []byte("hello world")
	sig, err := priv.Sign(msg)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(sig), pub.Verify(msg, sig) == nil)
	fmt.Println(pub.Verify([]byte("hello world!"), sig) == nil)
	// Output:
	// did:key:zQ3shSEfbKCbty32G2fFh8ULBjCn5W24CBbgKxBr3zNBK6Rf4
	// 64 true
	// false
}

func ExampleParseDIDKey() {
	pub, err := keys.ParseDIDKey("did:key:zDnaembgSGUhZULN2Caob4HLJPaxBh92N7rtH21TErzqf8HQo")
	if err != nil {
		panic(err)
	}
	fmt.Println(pub.Curve(), pub.Curve().JWTAlg())
	fmt.Printf("%x\n", pub.Bytes())
	fmt.Println(pub.Multikey())
	// Output:
	// P-256 ES256
	// 033a8273eece6b0d82e95c3506617db5000e14ff0023325d0bb0274918bc6a6cdc
	// zDnaembgSGUhZULN2Caob4HLJPaxBh92N7rtH21TErzqf8HQo
}

func ExampleParsePublicKeyMultibase() {
	// A legacy DID document verification method: the bare compressed point.
	pub, err := keys.ParsePublicKeyMultibase("EcdsaSecp256k1VerificationKey2019", "z25z9DTpsiYYJKGsWmSPJK2NFN8PcJtZig12K59UgW7q5t")
	if err != nil {
		panic(err)
	}
	fmt.Println(pub.DIDKey())
	// Output:
	// did:key:zQ3shqwJEJyMBsBXCWyCBpUBMqxcon9oHB7mCvx4sSpMdLJwc
}

func ExamplePrivateKey_Multibase() {
	priv, err := keys.P256FromSeed(2349872879569)
	if err != nil {
		panic(err)
	}
	s := priv.Multibase()
	fmt.Println(s)
	again, err := keys.ParsePrivateMultibase(s)
	if err != nil {
		panic(err)
	}
	fmt.Println(again.PublicKey().DIDKey())
	// Output:
	// z42thtK4xkebhpMHF4yzF9ZJqAa4rvBxg3Pt41EVWPfWDAYQ
	// did:key:zDnaeWjNBknXjwz2aGMjHi1t3nFb49bPBJfKrgrmMUTkPdFVR
}
