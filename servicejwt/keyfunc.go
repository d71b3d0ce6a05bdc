package servicejwt

import (
	"context"
	"fmt"

	"github.com/atlite-dev/atlite/did"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

// serviceKeys maps the service fragments of "iss" to the verification
// method that signs for them, as the XRPC specification lays down.
var serviceKeys = map[string]string{
	"":                did.KeyIDAtproto,
	"atproto_labeler": "atproto_label",
}

// ResolverKeyFunc returns a KeyFunc that resolves the issuer's DID document
// with r and picks its #atproto key, or #atproto_label for an issuer with
// the "atproto_labeler" service fragment. Other fragments are refused. The
// Resolver's cache applies; call [did.Resolver.PurgeDID] to pick up a
// rotated key.
func ResolverKeyFunc(r *did.Resolver) KeyFunc {
	return func(ctx context.Context, d syntax.DID, service string) (keys.PublicKey, error) {
		id, ok := serviceKeys[service]
		if !ok {
			return nil, fmt.Errorf("unknown issuer service %q", service)
		}
		doc, err := r.ResolveDID(ctx, d)
		if err != nil {
			return nil, err
		}
		return doc.Key(id)
	}
}

// StaticKeys returns a KeyFunc that looks issuers up in a fixed map (by
// DID, ignoring service fragments), for tests and closed deployments.
func StaticKeys(m map[syntax.DID]keys.PublicKey) KeyFunc {
	return func(_ context.Context, d syntax.DID, _ string) (keys.PublicKey, error) {
		if k, ok := m[d]; ok {
			return k, nil
		}
		return nil, fmt.Errorf("no key for %s", d)
	}
}
