package atlite

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

// TestResealSecureDeleteOff checks that resealing turns SQLite's
// secure_delete back off on the write connection when it is done, whether
// it succeeded or failed.
func TestResealSecureDeleteOff(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	s := openInternal(t, path, nil)
	internalRepo(t, s, "did:web:a.example")
	s.Close()
	s = openInternal(t, path, &Options{KeyEncryptionKey: bytes.Repeat([]byte{1}, 32)})
	check := func(when string) {
		t.Helper()
		var on int
		if err := s.sqlDB().W.QueryRowContext(ctx, "PRAGMA secure_delete").Scan(&on); err != nil {
			t.Fatal(err)
		}
		if on != 0 {
			t.Errorf("secure_delete = %d %s, want 0", on, when)
		}
	}
	if n, err := s.SealKeys(ctx); n != 1 || err != nil {
		t.Fatalf("SealKeys = %d, %v; want 1", n, err)
	}
	check("after SealKeys")
	// A store opened with another key cannot open the sealed keys: the
	// reseal fails, and rolls back.
	s.kek = bytes.Repeat([]byte{2}, 32)
	if _, err := s.RotateKeyEncryptionKey(ctx, bytes.Repeat([]byte{3}, 32)); err == nil {
		t.Fatal("RotateKeyEncryptionKey with the wrong current key succeeded")
	}
	check("after a failed rotation")
}

// TestRepoPublicKeysCached checks that LoadRepo derives a repo's public
// keys once (Store.publicKey) and still answers the keys stored: after the
// keys are sealed, under a changed key-encryption key (which must fail as
// before), and with the cache full of other entries.
func TestRepoPublicKeysCached(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pub.db")
	s := openInternal(t, path, &Options{KeyEncryptionKey: bytes.Repeat([]byte{1}, 32)})
	sk, err := keys.K256FromSeed(11)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := keys.K256FromSeed(12)
	if err != nil {
		t.Fatal(err)
	}
	did := syntax.DID("did:web:pub.example")
	if _, err := s.CreateRepo(ctx, did, &CreateRepoOptions{SigningKey: sk, RotationKey: rk}); err != nil {
		t.Fatal(err)
	}
	load := func(when string) {
		t.Helper()
		r, err := s.LoadRepo(ctx, did.AtIdentifier())
		if err != nil {
			t.Fatalf("LoadRepo %s: %v", when, err)
		}
		if r.SigningKey.DIDKey() != sk.PublicKey().DIDKey() || r.RotationKey.DIDKey() != rk.PublicKey().DIDKey() {
			t.Errorf("LoadRepo %s: keys %s, %s; want %s, %s", when, r.SigningKey.DIDKey(), r.RotationKey.DIDKey(), sk.PublicKey().DIDKey(), rk.PublicKey().DIDKey())
		}
	}
	s.pubKeys.Purge()
	load("first")
	// The did:key of the signing key, and both sealed keys.
	if n := s.pubKeys.Len(); n != 3 {
		t.Errorf("%d public keys cached, want 3", n)
	}
	load("again")
	if n := s.pubKeys.Len(); n != 3 {
		t.Errorf("%d public keys cached after a second load, want 3", n)
	}
	kek := s.kek
	s.kek = bytes.Repeat([]byte{2}, 32)
	if _, err := s.LoadRepo(ctx, did.AtIdentifier()); err == nil {
		t.Error("LoadRepo under another key-encryption key succeeded from the cache")
	}
	s.kek = kek
	for i := range pubKeyCacheSize {
		s.pubKeys.Add([32]byte{byte(i), byte(i >> 8), 1}, nil)
	}
	load("with the cache full of others")
}
