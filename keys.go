package atlite

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"

	"github.com/atlite-dev/atlite/keys"
)

// sealKey turns a private key into the bytes stored in the repos table:
// its multibase string, sealed with AES-256-GCM under the key-encryption key
// (nonce || ciphertext, with the DID as additional data) when one is set.
func (s *Store) sealKey(did string, k keys.PrivateKey) (sealed []byte, encrypted bool, err error) {
	plain := []byte(k.Multibase())
	if s.kek == nil {
		return plain, false, nil
	}
	aead, err := newAEAD(s.kek)
	if err != nil {
		return nil, false, err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, false, fmt.Errorf("key nonce: %w", err)
	}
	return aead.Seal(nonce, nonce, plain, []byte(did)), true, nil
}

// openKey reverses sealKey.
func (s *Store) openKey(did string, sealed []byte, encrypted bool) (keys.PrivateKey, error) {
	plain := sealed
	if encrypted {
		if s.kek == nil {
			return nil, fmt.Errorf("repo %s: %w", did, ErrKeyEncrypted)
		}
		aead, err := newAEAD(s.kek)
		if err != nil {
			return nil, err
		}
		if len(sealed) < aead.NonceSize() {
			return nil, fmt.Errorf("repo %s: sealed key too short: %w", did, ErrInvalidKey)
		}
		plain, err = aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(did))
		if err != nil {
			return nil, fmt.Errorf("repo %s: cannot decrypt signing key (wrong key-encryption key?): %w", did, ErrInvalidKey)
		}
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
