package did

import (
	"fmt"

	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

// KeyDID returns the did:key of pub ("did:key:zQ3s..." for K-256,
// "did:key:zDna..." for P-256).
func KeyDID(pub keys.PublicKey) syntax.DID {
	return syntax.DID(pub.DIDKey())
}

// ParseKeyDID parses a K-256 or P-256 did:key. It accepts exactly the strings
// [KeyDID] produces; other key types and non-canonical encodings fail with an
// error wrapping [keys.ErrInvalidKey].
func ParseKeyDID(d syntax.DID) (keys.PublicKey, error) {
	pub, err := keys.ParseDIDKey(string(d))
	if err != nil {
		return nil, fmt.Errorf("parse did:key: %w", err)
	}
	return pub, nil
}
