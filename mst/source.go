package mst

import (
	"context"
	"sync"

	"github.com/ipfs/go-cid"
)

// BlockSource reads blocks by CID. GetBlock returns an error wrapping
// [ErrNotFound] when it does not hold the block. This package never modifies
// the returned bytes and keeps no reference to them, except to hand them
// back to its own caller ([Tree.CoveringProof], [Tree.Blocks]).
// Implementations must be safe for concurrent use if the trees reading them
// are used concurrently.
type BlockSource interface {
	GetBlock(ctx context.Context, c cid.Cid) ([]byte, error)
}

// RecordSource is a [BlockSource] for record blocks that also learns which
// key each record is read for. When the records source given to
// [Tree.Blocks] implements it, Blocks calls GetRecord, with the entry's full
// key, instead of GetBlock; a caller can then index or check records in the
// same pass.
type RecordSource interface {
	BlockSource
	GetRecord(ctx context.Context, key string, c cid.Cid) ([]byte, error)
}

// BlockSourceFunc adapts a function to a [BlockSource].
type BlockSourceFunc func(ctx context.Context, c cid.Cid) ([]byte, error)

// GetBlock calls f(ctx, c).
func (f BlockSourceFunc) GetBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	return f(ctx, c)
}

// MemBlocks is a [BlockSource] over an in-memory map, handy in tests and for
// staging blocks. It is safe for concurrent use. The zero value is empty and
// ready to use.
type MemBlocks struct {
	mu sync.RWMutex
	m  map[cid.Cid][]byte
}

var (
	_ BlockSource = (*MemBlocks)(nil)
	_ BlockSource = BlockSourceFunc(nil)
)

// NewMemBlocks returns a MemBlocks holding blocks (the map is copied; the
// byte slices are not).
func NewMemBlocks(blocks map[cid.Cid][]byte) *MemBlocks {
	m := &MemBlocks{m: make(map[cid.Cid][]byte, len(blocks))}
	for c, b := range blocks {
		m.m[c] = b
	}
	return m
}

// GetBlock returns the block stored under c, or an error wrapping
// [ErrNotFound].
func (m *MemBlocks) GetBlock(_ context.Context, c cid.Cid) ([]byte, error) {
	m.mu.RLock()
	b, ok := m.m[c]
	m.mu.RUnlock()
	if !ok {
		return nil, ErrNotFound
	}
	return b, nil
}

// Put stores data under c. MemBlocks keeps data; the caller must not modify
// it afterwards. Put does not check that data hashes to c.
func (m *MemBlocks) Put(c cid.Cid, data []byte) {
	m.mu.Lock()
	if m.m == nil {
		m.m = make(map[cid.Cid][]byte)
	}
	m.m[c] = data
	m.mu.Unlock()
}

// PutMany stores every block of blocks, as Put does.
func (m *MemBlocks) PutMany(blocks map[cid.Cid][]byte) {
	m.mu.Lock()
	if m.m == nil {
		m.m = make(map[cid.Cid][]byte, len(blocks))
	}
	for c, b := range blocks {
		m.m[c] = b
	}
	m.mu.Unlock()
}

// Has reports whether a block is stored under c.
func (m *MemBlocks) Has(c cid.Cid) bool {
	m.mu.RLock()
	_, ok := m.m[c]
	m.mu.RUnlock()
	return ok
}

// Len returns the number of blocks held.
func (m *MemBlocks) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.m)
}
