package commit_test

import (
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/keys"
)

// A commit is signed with the repo's key and verifies with its public key.
func ExampleCommit_Sign() {
	key, _ := keys.K256FromSeed(2349872879569)
	c := &commit.Commit{
		DID:  "did:web:user.com",
		Data: cid.MustParse("bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"),
		Rev:  "3iom4o4g6u222",
	}
	if err := c.Sign(key); err != nil {
		panic(err)
	}
	fmt.Println(len(c.Sig), c.Verify(key.PublicKey()) == nil)
	// Output: 64 true
}
