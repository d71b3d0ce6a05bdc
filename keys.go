package atlite

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

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
	var sealed bool
	if err := s.r.QueryRowxContext(ctx, `SELECT EXISTS (SELECT 1 FROM repos WHERE key_encrypted = 1)`).Scan(&sealed); err != nil {
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
	var c KeyCounts
	const q = `SELECT
	coalesce(sum(length(signing_key) > 0 AND key_encrypted = 1), 0),
	coalesce(sum(length(signing_key) > 0 AND key_encrypted = 0), 0),
	coalesce(sum(length(signing_key) = 0), 0) FROM repos`
	if err := s.r.QueryRowxContext(ctx, q).Scan(&c.Sealed, &c.Clear, &c.Mirror); err != nil {
		return c, fmt.Errorf("count keys: %w", err)
	}
	return c, nil
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
	return n, nil
}

// resealKeys seals the keys of every repo that holds private keys, and the
// server secrets, under kek; with all false only the clear ones. It returns
// the number of repos whose keys it sealed.
func (s *Store) resealKeys(ctx context.Context, kek []byte, all bool) (int, error) {
	type row struct {
		ID        int64  `db:"id"`
		DID       string `db:"did"`
		Signing   []byte `db:"signing_key"`
		Rotation  []byte `db:"rotation_key"`
		Encrypted bool   `db:"key_encrypted"`
	}
	n := 0
	// secure_delete overwrites the old cells, so the clear keys do not stay
	// behind in free space of the rewritten pages.
	if _, err := s.w.ExecContext(ctx, "PRAGMA secure_delete = ON"); err != nil {
		return 0, err
	}
	defer s.w.ExecContext(context.WithoutCancel(ctx), "PRAGMA secure_delete = OFF")
	err := s.update(ctx, func(tx *sqlx.Tx) error {
		var rows []row
		q := `SELECT id, did, signing_key, rotation_key, key_encrypted FROM repos WHERE length(signing_key) > 0`
		if !all {
			q += ` AND key_encrypted = 0`
		}
		if err := tx.SelectContext(ctx, &rows, q+` ORDER BY id`); err != nil {
			return err
		}
		sealer := &Store{kek: kek}
		for _, r := range rows {
			var sealed [2][]byte
			for i, b := range [][]byte{r.Signing, r.Rotation} {
				if b == nil {
					continue
				}
				k, err := s.openKey(r.DID, b, r.Encrypted)
				if err != nil {
					return err
				}
				if sealed[i], _, err = sealer.sealKey(r.DID, k); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `UPDATE repos SET signing_key = ?, rotation_key = ?, key_encrypted = 1 WHERE id = ?`,
				sealed[0], sealed[1], r.ID); err != nil {
				return err
			}
			n++
		}
		// Server secrets (the access-token key) are sealed under the same
		// key-encryption key: reseal them in the same transaction.
		type secret struct {
			Name      string `db:"name"`
			Value     []byte `db:"value"`
			Encrypted bool   `db:"encrypted"`
		}
		var secrets []secret
		q = `SELECT name, value, encrypted FROM server_secrets`
		if !all {
			q += ` WHERE encrypted = 0`
		}
		if err := tx.SelectContext(ctx, &secrets, q+` ORDER BY name`); err != nil {
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
			if _, err := tx.ExecContext(ctx, `UPDATE server_secrets SET value = ?, encrypted = 1 WHERE name = ?`, sealed, sec.Name); err != nil {
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
	var sealed []byte
	var enc bool
	err = s.r.QueryRowxContext(ctx, `SELECT rotation_key, key_encrypted FROM repos WHERE did = ?`, did.String()).Scan(&sealed, &enc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s: %w", did, ErrRepoNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("rotation key of %s: %w", did, err)
	}
	if sealed == nil {
		return nil, fmt.Errorf("repo %s has no rotation key: %w", did, ErrNotFound)
	}
	return s.openKey(did.String(), sealed, enc)
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
	var op []byte
	err = s.r.QueryRowxContext(ctx, `SELECT plc_op FROM repos WHERE did = ?`, did.String()).Scan(&op)
	if errors.Is(err, sql.ErrNoRows) {
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
