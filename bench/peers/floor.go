package main

import (
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"path/filepath"

	_ "modernc.org/sqlite"

	"github.com/atlite-dev/atlite/keys"
)

// floor is the least a one-record commit can cost on this machine through
// the same SQLite driver as atlite (modernc.org/sqlite): one transaction in
// WAL with synchronous=NORMAL, prepared statements, inserting as many
// blocks of the same sizes as atlite's commit wrote into a blocks table
// shaped like atlite's (a unique 64-bit digest prefix), updating a head row
// and making one K-256 signature.
type floor struct {
	db   *sql.DB
	ins  *sql.Stmt
	head *sql.Stmt
	key  keys.PrivateKey
	rng  *rand.Rand
	seq  int64
}

// newFloor opens the floor database in dir and prefills it with blocks
// blocks of 300 bytes, about as many as the repo holds.
func newFloor(dir string, blocks int, key keys.PrivateKey) (*floor, error) {
	dsn := "file:" + filepath.Join(dir, "floor.db") + "?_pragma=journal_mode(wal)&_pragma=synchronous(normal)&_pragma=busy_timeout(5000)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	f := &floor{db: db, key: key, rng: rand.New(rand.NewPCG(1, 2))}
	if _, err := db.Exec(`CREATE TABLE blocks (id INTEGER PRIMARY KEY, k INTEGER NOT NULL, cid BLOB NOT NULL, data BLOB NOT NULL);
CREATE UNIQUE INDEX blocks_k ON blocks (k);
CREATE TABLE head (id INTEGER PRIMARY KEY, root BLOB NOT NULL, seq INTEGER NOT NULL);
INSERT INTO head (id, root, seq) VALUES (1, x'', 0)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("floor schema: %w", err)
	}
	if f.ins, err = db.Prepare(`INSERT INTO blocks (k, cid, data) VALUES (?, ?, ?) ON CONFLICT (k) DO NOTHING`); err != nil {
		db.Close()
		return nil, err
	}
	if f.head, err = db.Prepare(`UPDATE head SET root = ?, seq = ? WHERE id = 1`); err != nil {
		db.Close()
		return nil, err
	}
	tx, err := db.Begin()
	if err != nil {
		db.Close()
		return nil, err
	}
	st := tx.Stmt(f.ins)
	buf := make([]byte, 300)
	for i := 0; i < blocks; i++ {
		f.fill(buf)
		h := sha256.Sum256(buf)
		if _, err := st.Exec(int64(binary.BigEndian.Uint64(h[:8])), h[:], buf); err != nil {
			tx.Rollback()
			db.Close()
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		db.Close()
		return nil, err
	}
	return f, nil
}

// fill overwrites the first 32 bytes of buf (or all of it) with random bytes.
func (f *floor) fill(buf []byte) {
	for i := 0; i < len(buf) && i < 32; i += 8 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], f.rng.Uint64())
		copy(buf[i:], b[:])
	}
}

// commit runs one floor transaction writing fresh blocks of the given sizes.
func (f *floor) commit(bufs [][]byte) error {
	tx, err := f.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st := tx.Stmt(f.ins)
	var last [32]byte
	for _, buf := range bufs {
		f.fill(buf)
		last = sha256.Sum256(buf)
		if _, err := st.Exec(int64(binary.BigEndian.Uint64(last[:8])), last[:], buf); err != nil {
			return err
		}
	}
	if _, err := f.key.Sign(last[:]); err != nil {
		return err
	}
	f.seq++
	if _, err := tx.Stmt(f.head).Exec(last[:], f.seq); err != nil {
		return err
	}
	return tx.Commit()
}

// close closes the floor database.
func (f *floor) close() error { return f.db.Close() }
