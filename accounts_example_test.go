package atlite_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/atlite-dev/atlite"
)

// ExampleStore_CreateAccount creates an account under a did:plc derived
// offline, signs in with its password and an app password, and rotates a
// refresh token.
func ExampleStore_CreateAccount() {
	ctx := context.Background()
	s, err := atlite.Open(":memory:", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	acct, err := s.CreateAccount(ctx, &atlite.CreateAccountOptions{
		Handle:      "alice.example",
		PDSEndpoint: "https://pds.example",
		Email:       "alice@example.com",
		Password:    "correct horse battery staple",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(acct.DID().Method(), acct.Repo.Handle)

	if _, err := s.CheckPassword(ctx, "alice@example.com", "wrong"); errors.Is(err, atlite.ErrBadCredentials) {
		fmt.Println("wrong password refused")
	}
	a, err := s.CheckPassword(ctx, "@Alice.Example", "correct horse battery staple")
	if err != nil {
		log.Fatal(err)
	}

	// A session: the refresh token is handed to the client, only its hash
	// is kept. Refreshing revokes the old token.
	tok, sess, err := s.CreateSession(ctx, a.DID(), a.AppPassword, 24*time.Hour)
	if err != nil {
		log.Fatal(err)
	}
	tok2, sess2, err := s.RefreshSession(ctx, tok)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok2 != tok, sess2.Chain == sess.ID)
	// Signing out ends the chain, and the old token with it (before that,
	// within RefreshGracePeriod, it would still refresh: a second client).
	if err := s.RevokeSession(ctx, tok2); err != nil {
		log.Fatal(err)
	}
	if _, _, err := s.RefreshSession(ctx, tok); errors.Is(err, atlite.ErrInvalidToken) {
		fmt.Println("old refresh token refused")
	}

	// An app password for a client app.
	pw, _, err := s.CreateAppPassword(ctx, a.DID(), "phone", false)
	if err != nil {
		log.Fatal(err)
	}
	b, err := s.CheckPassword(ctx, "alice.example", pw)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(pw), b.AppPassword)
	// Output:
	// plc alice.example
	// wrong password refused
	// true true
	// old refresh token refused
	// 19 phone
}
