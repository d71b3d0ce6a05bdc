package servicejwt_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/servicejwt"
)

func ExampleCreate() {
	// A fixed test key (never use seeded keys for real accounts).
	key, _ := keys.K256FromSeed(2349872879569)
	tok, err := servicejwt.Create(key, servicejwt.Params{
		Issuer:        "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
		Host:          "bsky.network",
		LexiconMethod: "com.atproto.sync.getRepo",
		Now:           time.Date(2022, 1, 2, 3, 4, 5, 0, time.UTC),
		Nonce:         "c0ffee",
	})
	if err != nil {
		panic(err)
	}
	parts := strings.Split(tok, ".")
	for _, p := range parts[:2] {
		b, _ := base64.RawURLEncoding.DecodeString(p)
		fmt.Println(string(b))
	}
	// Output:
	// {"typ":"JWT","alg":"ES256K"}
	// {"iat":1641092645,"iss":"did:plc:ewvi7nxzyoun6zhxrhs64oiz","aud":"did:web:bsky.network","exp":1641092705,"lxm":"com.atproto.sync.getRepo","jti":"c0ffee"}
}

func ExampleVerify() {
	key, _ := keys.K256FromSeed(2349872879569)
	issued := time.Date(2022, 1, 2, 3, 4, 5, 0, time.UTC)
	tok, _ := servicejwt.Create(key, servicejwt.Params{
		Issuer:        "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
		Audience:      "did:web:pds.example",
		LexiconMethod: "com.atproto.repo.uploadBlob",
		Now:           issued,
	})
	opts := servicejwt.VerifyOptions{
		Audience:      "did:web:pds.example",
		LexiconMethod: "com.atproto.repo.uploadBlob",
		Now:           issued.Add(10 * time.Second),
	}
	t, err := servicejwt.Verify(tok, key.PublicKey(), opts)
	fmt.Println(t.Claims.Issuer, err)

	opts.Now = issued.Add(2 * time.Minute)
	_, err = servicejwt.Verify(tok, key.PublicKey(), opts)
	fmt.Println(err)
	// Output:
	// did:plc:ewvi7nxzyoun6zhxrhs64oiz <nil>
	// servicejwt: token expired: at 2022-01-02T03:05:05Z
}
