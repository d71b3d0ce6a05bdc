package atlite

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/atlite-dev/atlite/internal/storage"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

// seal returns plain sealed with AES-256-GCM under kek, with ad as
// additional data: nonce(12) || ciphertext. nil kek leaves it clear.
func seal(kek, plain, ad []byte) (sealed []byte, encrypted bool, err error) {
	if kek == nil {
		return plain, false, nil
	}
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, false, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, false, fmt.Errorf("nonce: %w", err)
	}
	return aead.Seal(nonce, nonce, plain, ad), true, nil
}

// unseal reverses seal: what (a signing key, a secret) names the value in
// errors, which wrap ErrKeyEncrypted without kek and ErrInvalidKey with the
// wrong one.
func unseal(kek, sealed, ad []byte, encrypted bool, what string) ([]byte, error) {
	if !encrypted {
		return sealed, nil
	}
	if kek == nil {
		return nil, ErrKeyEncrypted
	}
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, fmt.Errorf("sealed %s too short: %w", what, ErrInvalidKey)
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], ad)
	if err != nil {
		return nil, fmt.Errorf("cannot decrypt %s (wrong key-encryption key?): %w", what, ErrInvalidKey)
	}
	return plain, nil
}

// sealKey turns a private key into the bytes stored in the repos table:
// its multibase string, sealed under the key-encryption key with the DID
// as additional data when one is set.
func (s *Store) sealKey(did string, k keys.PrivateKey) (sealed []byte, encrypted bool, err error) {
	return seal(s.kek, []byte(k.Multibase()), []byte(did))
}

// openKey reverses sealKey.
func (s *Store) openKey(did string, sealed []byte, encrypted bool) (keys.PrivateKey, error) {
	plain, err := unseal(s.kek, sealed, []byte(did), encrypted, "signing key")
	if err != nil {
		return nil, fmt.Errorf("repo %s: %w", did, err)
	}
	k, err := keys.ParsePrivateMultibase(string(plain))
	if err != nil {
		return nil, fmt.Errorf("repo %s: stored key: %w", did, err)
	}
	return k, nil
}

func newAEAD(kek []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", ErrInvalidKey)
	}
	return cipher.NewGCM(block)
}

// clearKeysAllowed refuses to store a key in the clear, with no
// key-encryption key, in a file that already holds sealed keys: the file's
// owner chose sealing, and a clear key added silently would undo it.
func (s *Store) clearKeysAllowed(ctx context.Context) error {
	if s.kek != nil {
		return nil
	}
	sealed, err := s.b.Reader().SealedKeysExist(ctx)
	if err != nil {
		return err
	}
	if sealed {
		return fmt.Errorf("the file holds sealed keys; give the key-encryption key to add one: %w", ErrKeyEncrypted)
	}
	return nil
}

// KeyCounts tells how the private keys of a file are stored.
type KeyCounts struct {
	Sealed int // repos whose keys are sealed with a key-encryption key
	Clear  int // repos whose keys are stored in the clear
	Mirror int // read-only mirrors, which hold no private key
}

// KeyCounts counts the repos of the file by how their private keys are
// stored, so that a tool can warn about keys stored in the clear.
func (s *Store) KeyCounts(ctx context.Context) (KeyCounts, error) {
	done, err := s.enter()
	if err != nil {
		return KeyCounts{}, err
	}
	defer done()
	c, err := s.b.Reader().KeyCounts(ctx)
	if err != nil {
		return KeyCounts{}, fmt.Errorf("count keys: %w", err)
	}
	return KeyCounts(c), nil
}

// ErrNoKeyEncryptionKey is returned by [Store.SealKeys] and
// [Store.RotateKeyEncryptionKey] when there is no key-encryption key to seal
// with.
var ErrNoKeyEncryptionKey = errors.New("no key-encryption key")

// SealKeys seals every private key stored in the clear with the store's
// key-encryption key ([Options.KeyEncryptionKey]), in one transaction, and
// returns the number of repos whose keys it sealed. Keys already sealed are
// left as they are. It returns ErrNoKeyEncryptionKey when the store was
// opened without one.
func (s *Store) SealKeys(ctx context.Context) (int, error) {
	done, err := s.enter()
	if err != nil {
		return 0, err
	}
	defer done()
	if s.kek == nil {
		return 0, fmt.Errorf("seal keys: %w", ErrNoKeyEncryptionKey)
	}
	n, err := s.resealKeys(ctx, s.kek, false)
	if err != nil {
		return 0, fmt.Errorf("seal keys: %w", err)
	}
	return n, nil
}

// RotateKeyEncryptionKey seals every private key of the file under newKEK
// (32 bytes) in one transaction: keys sealed under the current
// key-encryption key are opened and sealed again, keys in the clear are
// sealed. From then on the store uses newKEK; the file cannot be opened with
// the old key any more. It returns the number of repos whose keys it sealed.
// Keys sealed under the current key need the store to have been opened with
// it (ErrKeyEncrypted otherwise, and nothing is changed).
func (s *Store) RotateKeyEncryptionKey(ctx context.Context, newKEK []byte) (int, error) {
	if len(newKEK) != 32 {
		return 0, fmt.Errorf("rotate key-encryption key: new key is %d bytes, want 32: %w", len(newKEK), ErrInvalidKey)
	}
	// Exclusive: no operation may open keys while the key changes.
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	kek := append([]byte(nil), newKEK...)
	n, err := s.resealKeys(ctx, kek, true)
	if err != nil {
		return 0, fmt.Errorf("rotate key-encryption key: %w", err)
	}
	s.kek = kek
	s.pubKeys.Purge() // keyed by the sealed bytes, which changed: only tidiness
	return n, nil
}

// resealKeys seals the keys of every repo that holds private keys, and the
// server secrets, under kek; with all false only the clear ones. It returns
// the number of repos whose keys it sealed.
func (s *Store) resealKeys(ctx context.Context, kek []byte, all bool) (int, error) {
	n := 0
	err := s.b.Update(ctx, nil, func(tx storage.WriteTx) error {
		// Overwrite the old cells, so that the clear keys do not stay
		// behind in free space of the rewritten pages. Turning it back off
		// only saves later writes the overwriting: its failure does not
		// undo the reseal.
		if err := tx.SecureDelete(ctx, true); err != nil {
			return err
		}
		defer tx.SecureDelete(context.WithoutCancel(ctx), false)
		rows, err := tx.RepoKeys(ctx, !all)
		if err != nil {
			return err
		}
		sealer := &Store{kek: kek}
		for _, r := range rows {
			var sealed [2][]byte
			for i, b := range [][]byte{r.SigningKey, r.RotationKey} {
				if b == nil {
					continue
				}
				k, err := s.openKey(r.DID, b, r.KeyEncrypted)
				if err != nil {
					return err
				}
				if sealed[i], _, err = sealer.sealKey(r.DID, k); err != nil {
					return err
				}
			}
			if err := tx.SealRepoKeys(ctx, r.ID, sealed[0], sealed[1]); err != nil {
				return err
			}
			n++
		}
		// Server secrets (the access-token key) are sealed under the same
		// key-encryption key: reseal them in the same transaction.
		secrets, err := tx.ServerSecrets(ctx, !all)
		if err != nil {
			return err
		}
		for _, sec := range secrets {
			plain, err := s.openSecret(sec.Name, sec.Value, sec.Encrypted)
			if err != nil {
				return fmt.Errorf("server secret %q: %w", sec.Name, err)
			}
			sealed, _, err := sealer.sealSecret(sec.Name, plain)
			if err != nil {
				return err
			}
			if err := tx.SealServerSecret(ctx, sec.Name, sealed); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// RotationKey returns the private rotation key kept for the repo did's DID
// operations, or an error wrapping ErrNotFound when the repo has none.
func (s *Store) RotationKey(ctx context.Context, did syntax.DID) (keys.PrivateKey, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	r, err := s.b.Reader().Repo(ctx, did.String())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", did, ErrRepoNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("rotation key of %s: %w", did, err)
	}
	if r.RotationKey == nil {
		return nil, fmt.Errorf("repo %s has no rotation key: %w", did, ErrNotFound)
	}
	return s.openKey(did.String(), r.RotationKey, r.KeyEncrypted)
}

// PLCOperation returns the signed did:plc genesis operation (DAG-CBOR) kept
// for the repo did ([CreateRepoOptions.PLCOperation]), or an error wrapping
// ErrNotFound when none is kept.
func (s *Store) PLCOperation(ctx context.Context, did syntax.DID) ([]byte, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	op, err := s.b.Reader().PLCOperation(ctx, did.String())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", did, ErrRepoNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("plc operation of %s: %w", did, err)
	}
	if op == nil {
		return nil, fmt.Errorf("repo %s has no stored PLC operation: %w", did, ErrNotFound)
	}
	return op, nil
}
