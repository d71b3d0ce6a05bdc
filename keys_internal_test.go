package atlite

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
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
