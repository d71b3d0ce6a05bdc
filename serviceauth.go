package atlite

import (
	"context"
	"errors"
	"fmt"

	"github.com/atlite-dev/atlite/internal/storage"
	"github.com/atlite-dev/atlite/servicejwt"
	"github.com/atlite-dev/atlite/syntax"
)

// CreateServiceAuth returns an inter-service JWT (see package servicejwt)
// signed with the private signing key of the repo did, for
// com.atproto.server.getServiceAuth and for proxied requests; p.Issuer is
// set to did. It returns an error wrapping ErrNotFound for an unknown repo,
// ErrReadOnlyRepo for a mirror, ErrKeyEncrypted when the key is sealed and
// the store has no key-encryption key, and an [InactiveRepoError] for a repo
// that is not active.
func (s *Store) CreateServiceAuth(ctx context.Context, did syntax.DID, p servicejwt.Params) (string, error) {
	done, err := s.enter()
	if err != nil {
		return "", err
	}
	defer done()
	h, err := s.b.Reader().Head(ctx, did.String())
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return "", fmt.Errorf("service auth for %s: %w", did, ErrRepoNotFound)
		}
		return "", fmt.Errorf("service auth for %s: %w", did, err)
	}
	if h.Status != nil {
		return "", &InactiveRepoError{DID: did.String(), Status: *h.Status}
	}
	key, err := s.signingKey(did.String(), h.SigningKey, h.KeyEncrypted)
	if err != nil {
		return "", fmt.Errorf("service auth for %s: %w", did, err)
	}
	p.Issuer = did
	tok, err := servicejwt.Create(key, p)
	if err != nil {
		return "", fmt.Errorf("service auth for %s: %w", did, err)
	}
	return tok, nil
}
