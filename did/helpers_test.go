package did_test

import (
	"testing"

	"github.com/atlite-dev/atlite/did"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

// Seeds of arroba's fixed test keys (SPEC 10.3).
const (
	seedRepo  = 2349872879569
	seedOther = 4597489735324
	seedThird = 9999999999
	seedFour  = 8888888888
)

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

// genesis returns a signed genesis operation with rotation keys rot (signed
// by rot[0]), signing key sig, handle han.dull and endpoint
// https://localhost:8080, and its DID.
func genesis(tb testing.TB, sig keys.PrivateKey, rot ...keys.PrivateKey) (*did.Operation, syntax.DID) {
	tb.Helper()
	var pubs []keys.PublicKey
	for _, k := range rot {
		pubs = append(pubs, k.PublicKey())
	}
	op, err := did.NewGenesis(pubs, sig.PublicKey(), "han.dull", "https://localhost:8080")
	if err != nil {
		tb.Fatal(err)
	}
	if err := op.Sign(rot[0]); err != nil {
		tb.Fatal(err)
	}
	d, err := op.DID()
	if err != nil {
		tb.Fatal(err)
	}
	return op, d
}

func mustCID(tb testing.TB, op *did.Operation) string {
	tb.Helper()
	c, err := op.CID()
	if err != nil {
		tb.Fatal(err)
	}
	return c.String()
}

func mustJSON(tb testing.TB, v interface{ MarshalJSON() ([]byte, error) }) string {
	tb.Helper()
	b, err := v.MarshalJSON()
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func signed(tb testing.TB, op *did.Operation, k keys.PrivateKey) *did.Operation {
	tb.Helper()
	if err := op.Sign(k); err != nil {
		tb.Fatal(err)
	}
	return op
}
