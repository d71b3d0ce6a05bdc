package car

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"github.com/multiformats/go-varint"
)

// Default limits used when the corresponding [ReaderOptions] field is zero.
const (
	// DefaultMaxHeaderSize is the default limit on the length of the CAR
	// header: 1 MiB.
	DefaultMaxHeaderSize = 1 << 20

	// DefaultMaxBlockSize is the default limit on the length of one block's
	// data: 2 MiB.
	DefaultMaxBlockSize = 2 << 20
)

// byteReader is what the Reader reads from: a bufio.Reader, or the caller's
// reader when it can already read single bytes cheaply.
type byteReader interface {
	io.Reader
	io.ByteReader
}

// maxCIDSize is the room left for the CID on top of MaxBlockSize when a
// section length is checked, before the CID is parsed.
const maxCIDSize = 128

// ReaderOptions configures a [Reader]. A nil *ReaderOptions and every zero
// field mean the documented default.
type ReaderOptions struct {
	// MaxHeaderSize is the largest header length accepted, in bytes.
	// Zero means DefaultMaxHeaderSize.
	MaxHeaderSize int

	// MaxBlockSize is the largest block data length accepted, in bytes. A
	// section longer than MaxBlockSize plus 128 bytes for its CID is
	// rejected before it is read. Zero means DefaultMaxBlockSize.
	MaxBlockSize int

	// SkipHashCheck turns off the verification of each block against its
	// CID. With it, blocks whose CIDs use unsupported multihashes are
	// returned too. The default, false, verifies every block.
	SkipHashCheck bool
}

// Block is one block of a CAR file: its CID and its bytes.
type Block struct {
	// CID is the block's content identifier.
	CID cid.Cid
	// Data is the block's content.
	Data []byte
}

// Reader reads a CAR v1 stream block by block. It is not safe for
// concurrent use.
type Reader struct {
	br           byteReader
	roots        []cid.Cid
	maxBlockSize int
	skipHash     bool
	index        int // number of sections read
	err          error
}

// NewReader reads and validates the CAR header from r and returns a Reader
// positioned at the first block. The header must be the canonical DAG-CBOR
// map {"roots": [...], "version": 1} with exactly those two keys and at
// least one root; otherwise NewReader returns an error wrapping
// [ErrInvalidHeader] ([ErrUnsupportedVersion], [ErrHeaderTooLarge]).
//
// When r implements io.ByteReader (*bytes.Reader, *bufio.Reader, ...) it is
// read directly and the Reader never reads past the end of the CAR data.
// Otherwise r is wrapped in a bufio.Reader, which may read ahead.
func NewReader(r io.Reader, opts *ReaderOptions) (*Reader, error) {
	if opts == nil {
		opts = &ReaderOptions{}
	}
	maxHeader := opts.MaxHeaderSize
	if maxHeader <= 0 {
		maxHeader = DefaultMaxHeaderSize
	}
	br, ok := r.(byteReader)
	if !ok {
		br = bufio.NewReaderSize(r, 32<<10)
	}
	cr := &Reader{
		br:           br,
		maxBlockSize: opts.MaxBlockSize,
		skipHash:     opts.SkipHashCheck,
	}
	if cr.maxBlockSize <= 0 {
		cr.maxBlockSize = DefaultMaxBlockSize
	}

	n, err := varint.ReadUvarint(cr.br)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: read length: %w", ErrInvalidHeader, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: zero length", ErrInvalidHeader)
	}
	if n > uint64(maxHeader) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrHeaderTooLarge, n, maxHeader)
	}
	hb := make([]byte, n)
	if _, err := io.ReadFull(cr.br, hb); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: read %d bytes: %w", ErrInvalidHeader, n, err)
	}
	if cr.roots, err = parseHeader(hb); err != nil {
		return nil, err
	}
	return cr, nil
}

// parseHeader decodes and validates a header block.
func parseHeader(b []byte) ([]cid.Cid, error) {
	m, err := datamodel.UnmarshalMap(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidHeader, err)
	}
	v, ok := m["version"]
	if !ok {
		return nil, fmt.Errorf("%w: no version", ErrInvalidHeader)
	}
	if v != int64(1) {
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedVersion, v)
	}
	rs, ok := m["roots"].([]any)
	if !ok {
		return nil, fmt.Errorf("%w: roots is %T, want array", ErrInvalidHeader, m["roots"])
	}
	if len(m) != 2 {
		return nil, fmt.Errorf("%w: %d keys, want roots and version only", ErrInvalidHeader, len(m))
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("%w: no roots", ErrInvalidHeader)
	}
	roots := make([]cid.Cid, len(rs))
	for i, r := range rs {
		c, ok := r.(cid.Cid)
		if !ok {
			return nil, fmt.Errorf("%w: root %d is %T, want cid", ErrInvalidHeader, i, r)
		}
		roots[i] = c
	}
	return roots, nil
}

// Roots returns the root CIDs listed in the header. The caller may modify
// the returned slice.
func (r *Reader) Roots() []cid.Cid {
	return append([]cid.Cid(nil), r.roots...)
}

// Next reads the next block. It returns io.EOF when the stream ends cleanly
// after a block (or after the header). The returned Data is a fresh slice
// that the caller owns; it is not reused by later calls.
//
// Unless SkipHashCheck is set, the block's SHA-256 digest is checked against
// its CID ([ErrHashMismatch]); CIDs with other multihashes are rejected with
// [ErrUnsupportedHash]. A stream that ends inside a section returns an error
// wrapping io.ErrUnexpectedEOF; sections over the size limit return
// [ErrBlockTooLarge]; malformed sections return [ErrInvalidSection]. After
// an error, every later call returns the same error.
func (r *Reader) Next() (Block, error) {
	if r.err != nil {
		return Block{}, r.err
	}
	blk, err := r.next()
	if err != nil {
		r.err = err
		return Block{}, err
	}
	r.index++
	return blk, nil
}

func (r *Reader) next() (Block, error) {
	n, err := varint.ReadUvarint(r.br)
	switch {
	case err == io.EOF:
		return Block{}, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Block{}, fmt.Errorf("car: section %d: read length: %w", r.index, err)
	case err != nil:
		if errors.Is(err, varint.ErrOverflow) || errors.Is(err, varint.ErrNotMinimal) {
			return Block{}, fmt.Errorf("%w %d: length: %v", ErrInvalidSection, r.index, err)
		}
		return Block{}, fmt.Errorf("car: section %d: read length: %w", r.index, err)
	case n == 0:
		return Block{}, fmt.Errorf("%w %d: zero length", ErrInvalidSection, r.index)
	case n > uint64(r.maxBlockSize)+maxCIDSize:
		return Block{}, fmt.Errorf("%w: section %d is %d bytes, limit %d", ErrBlockTooLarge, r.index, n, r.maxBlockSize)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r.br, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Block{}, fmt.Errorf("car: section %d: read %d bytes: %w", r.index, n, err)
	}
	// CIDv1 starts with the version varint 1; a CIDv0 starts with 0x12.
	if buf[0] != 1 {
		return Block{}, fmt.Errorf("%w %d: cid version byte %#x, want cidv1", ErrInvalidSection, r.index, buf[0])
	}
	cl, c, err := cid.CidFromBytes(buf)
	if err != nil {
		return Block{}, fmt.Errorf("%w %d: %v", ErrInvalidSection, r.index, err)
	}
	data := buf[cl:]
	if len(data) > r.maxBlockSize {
		return Block{}, fmt.Errorf("%w: block %s is %d bytes, limit %d", ErrBlockTooLarge, c, len(data), r.maxBlockSize)
	}
	if !r.skipHash {
		if err := verify(c, data); err != nil {
			return Block{}, err
		}
	}
	return Block{CID: c, Data: data}, nil
}

// verify checks data against the SHA-256 digest in c.
func verify(c cid.Cid, data []byte) error {
	p := c.Prefix()
	if p.MhType != multihash.SHA2_256 || p.MhLength != sha256.Size {
		return fmt.Errorf("%w: block %s uses multihash %#x of %d bytes, want sha2-256", ErrUnsupportedHash, c, p.MhType, p.MhLength)
	}
	sum := sha256.Sum256(data)
	k := c.KeyString()
	if k[len(k)-sha256.Size:] != string(sum[:]) {
		return fmt.Errorf("%w: block %s has digest %x", ErrHashMismatch, c, sum)
	}
	return nil
}

// ReadAll reads a whole CAR stream into memory: its roots and its blocks in
// stream order. It is meant for small CARs and tests; use [NewReader] to
// stream large ones.
func ReadAll(r io.Reader, opts *ReaderOptions) (roots []cid.Cid, blocks []Block, err error) {
	cr, err := NewReader(r, opts)
	if err != nil {
		return nil, nil, err
	}
	for {
		b, err := cr.Next()
		if err == io.EOF {
			return cr.roots, blocks, nil
		}
		if err != nil {
			return nil, nil, err
		}
		blocks = append(blocks, b)
	}
}
