package atlite_test

import (
	"errors"
	"testing"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/internal/testutil"
	"github.com/atlite-dev/atlite/servicejwt"
)

func TestCreateServiceAuth(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	d := newRepo(t, s, "did:web:user.com")
	p := servicejwt.Params{Audience: "did:web:api.example", LexiconMethod: "app.bsky.feed.getFeed", Now: testutil.Now}
	tok, err := s.CreateServiceAuth(ctx, d, p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := servicejwt.Verify(tok, testutil.TestKey(t).PublicKey(), servicejwt.VerifyOptions{Audience: "did:web:api.example", LexiconMethod: "app.bsky.feed.getFeed", Now: testutil.Now})
	if err != nil || got.Claims.Issuer != d || got.Header.Alg != "ES256K" {
		t.Fatalf("token %q: %+v, %v", tok, got, err)
	}
	if _, err := s.CreateServiceAuth(ctx, "did:web:nobody.example", p); !errors.Is(err, atlite.ErrRepoNotFound) {
		t.Errorf("unknown repo = %v, want ErrNotFound", err)
	}
	if err := s.Deactivate(ctx, d); err != nil {
		t.Fatal(err)
	}
	var ie *atlite.InactiveRepoError
	if _, err := s.CreateServiceAuth(ctx, d, p); !errors.As(err, &ie) {
		t.Errorf("deactivated repo = %v, want InactiveRepoError", err)
	}
}
