package did_test

import (
	"context"
	"fmt"
	"time"

	"github.com/atlite-dev/atlite/did"
	"github.com/atlite-dev/atlite/did/didtest"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

func ExampleNewGenesis() {
	// Fixed test keys (never use seeded keys for real accounts).
	rotation, _ := keys.K256FromSeed(2349872879569)
	signing, _ := keys.K256FromSeed(2349872879569)

	op, err := did.NewGenesis([]keys.PublicKey{rotation.PublicKey()}, signing.PublicKey(), "han.dull", "https://localhost:8080")
	if err != nil {
		panic(err)
	}
	if err := op.Sign(rotation); err != nil {
		panic(err)
	}
	d, err := op.DID()
	if err != nil {
		panic(err)
	}
	c, _ := op.CID()
	fmt.Println(d, len(d))
	fmt.Println(c)
	// Output:
	// did:plc:hjnvwtbb5h75bqjr37yq7myh 32
	// bafyreib2lnnuyipj77imcmo76eh3gb73mvw6tat5xeyiw2uv5hsou3fpze
}

func ExampleNewUpdate() {
	k, _ := keys.K256FromSeed(2349872879569)
	genesis, _ := did.NewGenesis([]keys.PublicKey{k.PublicKey()}, k.PublicKey(), "han.dull", "https://localhost:8080")
	genesis.Sign(k)

	// Change the handle only: the PDS and keys stay.
	op, err := did.NewUpdate(genesis, did.Update{Handle: "new.ie"})
	if err != nil {
		panic(err)
	}
	op.Sign(k)
	fmt.Println(op.AlsoKnownAs, op.Services["atproto_pds"].Endpoint)
	fmt.Println(*op.Prev)
	// Output:
	// [at://new.ie] https://localhost:8080
	// bafyreib2lnnuyipj77imcmo76eh3gb73mvw6tat5xeyiw2uv5hsou3fpze
}

func ExampleWebURL() {
	for _, d := range []syntax.DID{"did:web:abc.com", "did:web:abc.com:def", "did:web:abc.com%3A99"} {
		u, err := did.WebURL(d)
		fmt.Println(u, err)
	}
	// Output:
	// https://abc.com/.well-known/did.json <nil>
	// https://abc.com/def/did.json <nil>
	// https://abc.com:99/.well-known/did.json <nil>
}

func ExampleParseDocument() {
	doc, err := did.ParseDocument([]byte(`{
		"id": "did:plc:7iza6de2dwap2sbkpav7c6c6",
		"alsoKnownAs": ["at://alice.test"],
		"verificationMethod": [{
			"id": "#atproto",
			"type": "Multikey",
			"controller": "did:plc:7iza6de2dwap2sbkpav7c6c6",
			"publicKeyMultibase": "zDnaeh9v2RmcMo13Du2d6pjUf5bZwtauYxj3n9dYjw4EZUAR7"
		}],
		"service": [{
			"id": "#atproto_pds",
			"type": "AtprotoPersonalDataServer",
			"serviceEndpoint": "https://example.test"
		}]
	}`))
	if err != nil {
		panic(err)
	}
	h, _ := doc.Handle()
	key, _ := doc.SigningKey()
	pds, _ := doc.PDSEndpoint()
	fmt.Println(h, key.Curve(), pds)
	// Output:
	// alice.test P-256 https://example.test
}

// The directory client against the in-process fake directory of package
// didtest.
func ExamplePLCClient() {
	dir := didtest.NewDirectory()
	defer dir.Close()
	dir.SetClock(func() time.Time { return time.Date(2022, 1, 2, 3, 4, 5, 0, time.UTC) })
	client, err := did.NewPLCClient(&did.PLCOptions{URL: dir.URL()})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	k, _ := keys.K256FromSeed(2349872879569)
	op, _ := did.NewGenesis([]keys.PublicKey{k.PublicKey()}, k.PublicKey(), "han.dull", "https://localhost:8080")
	op.Sign(k)
	d, err := client.Create(ctx, op)
	if err != nil {
		panic(err)
	}
	if _, err := client.Update(ctx, d, did.Update{PDSEndpoint: "https://pds.example"}, k); err != nil {
		panic(err)
	}
	doc, _ := client.Resolve(ctx, d)
	pds, _ := doc.PDSEndpoint()
	log, _ := client.AuditLog(ctx, d)
	_, err = did.VerifyAuditLog(d, log)
	fmt.Println(d, pds, len(log), err)
	// Output:
	// did:plc:hjnvwtbb5h75bqjr37yq7myh https://pds.example 2 <nil>
}
