package mst

import (
	"errors"

	"github.com/ipfs/go-cid"
)

var (
	// ErrNotFound is returned when a key is not in the tree (Get, Update,
	// Delete). A [BlockSource] also returns an error wrapping it for a block
	// it does not hold; the tree turns that into a [*NodeError] wrapping
	// [ErrMissingBlock], so that ErrNotFound from a tree operation always
	// means a missing key.
	ErrNotFound = errors.New("not found")

	// ErrExists is returned when Add (or a [ActionCreate] write) names a key
	// that is already in the tree.
	ErrExists = errors.New("key already exists")

	// ErrInvalidKey is returned when a key is not a valid MST key (see
	// [ValidateKey]), or when Build is given keys that are not strictly
	// increasing.
	ErrInvalidKey = errors.New("invalid mst key")

	// ErrInvalidValue is returned when a write carries an undefined value
	// CID where one is needed.
	ErrInvalidValue = errors.New("invalid mst value")

	// ErrMalformedNode is returned, inside a [*NodeError], when a block is
	// not a valid MST node: bad or non-canonical CBOR, wrong field types,
	// unsorted or duplicate keys, a bad prefix length, a key on the wrong
	// layer, a subtree below layer 0, an empty inner node, a root that should
	// have been trimmed, or bytes that do not hash to the node's CID.
	ErrMalformedNode = errors.New("malformed mst node")

	// ErrMissingBlock is returned, inside a [*NodeError], when an operation
	// needs a node that the block source does not hold.
	ErrMissingBlock = errors.New("missing mst node")

	// ErrRootMismatch is returned by [VerifyInversion] when inverting the
	// operations does not give back the previous root.
	ErrRootMismatch = errors.New("inverted tree does not match previous root")
)

// SkipAll is returned by a Walk or Blocks callback to stop the iteration
// early; the walk then returns nil.
//
//lint:ignore ST1012 named like fs.SkipAll: a signal, not a failure.
var SkipAll = errors.New("skip everything and stop the walk")

// NodeError reports a node that could not be read: it names the node's CID.
// Err wraps [ErrMalformedNode] or [ErrMissingBlock] (or the block source's
// own error, or the context's).
type NodeError struct {
	// CID is the CID of the node that could not be read.
	CID cid.Cid
	// Err is the reason.
	Err error
}

// Error returns "mst node <cid>: <reason>".
func (e *NodeError) Error() string {
	return "mst node " + e.CID.String() + ": " + e.Err.Error()
}

// Unwrap returns the reason.
func (e *NodeError) Unwrap() error { return e.Err }

func malformed(c cid.Cid, msg string) error {
	return &NodeError{CID: c, Err: &detailError{base: ErrMalformedNode, msg: msg}}
}

// detailError is a sentinel with a detail appended, built without fmt.
type detailError struct {
	base error
	msg  string
}

func (e *detailError) Error() string { return e.base.Error() + ": " + e.msg }
func (e *detailError) Unwrap() error { return e.base }
