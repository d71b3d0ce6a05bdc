package commit

import (
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

// Version is the repository format version of the commits this package
// writes and reads.
const Version = 3

// ErrInvalidCommit is returned when commit bytes are not a well-formed
// version 3 commit.
var ErrInvalidCommit = errors.New("invalid commit")

// ErrBadSignature is returned when a commit signature does not verify. It is
// the same value as [keys.ErrBadSignature]: errors.Is matches it whichever
// layer reported the bad signature.
var ErrBadSignature = keys.ErrBadSignature

// Commit is a signed repository commit. Its zero value is not valid.
type Commit struct {
	DID  syntax.DID // the repo's DID
	Data cid.Cid    // CID of the MST root node
	Rev  syntax.TID // the commit's rev
	Prev cid.Cid    // previous commit, or cid.Undef for null
	Sig  []byte     // 64-byte r||s signature, nil before Sign
}

// unsigned returns the commit as a data-model map without sig.
func (c *Commit) unsigned() map[string]any {
	var prev any // nil encodes as null
	if c.Prev.Defined() {
		prev = c.Prev
	}
	return map[string]any{
		"did":     c.DID.String(),
		"version": int64(Version),
		"data":    c.Data,
		"rev":     c.Rev.String(),
		"prev":    prev,
	}
}

func (c *Commit) check() error {
	if c.DID.String() == "" {
		return fmt.Errorf("%w: empty did", ErrInvalidCommit)
	}
	if c.Rev.String() == "" {
		return fmt.Errorf("%w: empty rev", ErrInvalidCommit)
	}
	if !c.Data.Defined() {
		return fmt.Errorf("%w: undefined data CID", ErrInvalidCommit)
	}
	return nil
}

// UnsignedBytes returns the DAG-CBOR bytes that the signature covers: the
// commit without its sig key.
func (c *Commit) UnsignedBytes() ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return datamodel.Marshal(c.unsigned())
}

// Sign signs the commit with key, setting Sig.
func (c *Commit) Sign(key keys.PrivateKey) error {
	b, err := c.UnsignedBytes()
	if err != nil {
		return err
	}
	sig, err := key.Sign(b)
	if err != nil {
		return fmt.Errorf("sign commit: %w", err)
	}
	c.Sig = sig
	return nil
}

// Verify checks the commit's signature against pub. It returns an error
// wrapping ErrBadSignature when the signature does not verify.
func (c *Commit) Verify(pub keys.PublicKey) error {
	b, err := c.UnsignedBytes()
	if err != nil {
		return err
	}
	if err := pub.Verify(b, c.Sig); err != nil {
		if errors.Is(err, ErrBadSignature) {
			return fmt.Errorf("commit signature: %w", err)
		}
		return fmt.Errorf("commit signature: %w: %v", ErrBadSignature, err)
	}
	return nil
}

// Encode returns the signed commit's canonical DAG-CBOR bytes. It fails when
// the commit is not signed.
func (c *Commit) Encode() ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if len(c.Sig) == 0 {
		return nil, fmt.Errorf("%w: not signed", ErrInvalidCommit)
	}
	m := c.unsigned()
	m["sig"] = c.Sig
	return datamodel.Marshal(m)
}

// EncodeCID encodes the signed commit and returns its bytes and CID.
func (c *Commit) EncodeCID() ([]byte, cid.Cid, error) {
	b, err := c.Encode()
	if err != nil {
		return nil, cid.Undef, err
	}
	return b, datamodel.CBORCID(b), nil
}

// Decode parses a signed version 3 commit. It is strict: exactly the keys
// did, version, data, rev, prev and sig, each of its type, version 3, a
// valid DID and TID, and a 64-byte signature.
func Decode(b []byte) (*Commit, error) {
	m, err := datamodel.UnmarshalMap(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidCommit, err)
	}
	if len(m) != 6 {
		return nil, fmt.Errorf("%w: %d keys, want did, version, data, rev, prev, sig", ErrInvalidCommit, len(m))
	}
	var c Commit
	ds, ok := m["did"].(string)
	if !ok {
		return nil, fmt.Errorf("%w: did missing or not a string", ErrInvalidCommit)
	}
	if c.DID, err = syntax.ParseDID(ds); err != nil {
		return nil, fmt.Errorf("%w: did: %v", ErrInvalidCommit, err)
	}
	if v, ok := m["version"].(int64); !ok || v != Version {
		return nil, fmt.Errorf("%w: version %v, want %d", ErrInvalidCommit, m["version"], Version)
	}
	if c.Data, ok = m["data"].(cid.Cid); !ok {
		return nil, fmt.Errorf("%w: data missing or not a CID", ErrInvalidCommit)
	}
	rs, ok := m["rev"].(string)
	if !ok {
		return nil, fmt.Errorf("%w: rev missing or not a string", ErrInvalidCommit)
	}
	if c.Rev, err = syntax.ParseTID(rs); err != nil {
		return nil, fmt.Errorf("%w: rev: %v", ErrInvalidCommit, err)
	}
	prev, ok := m["prev"]
	if !ok {
		return nil, fmt.Errorf("%w: prev missing", ErrInvalidCommit)
	}
	if prev != nil {
		if c.Prev, ok = prev.(cid.Cid); !ok {
			return nil, fmt.Errorf("%w: prev is neither null nor a CID", ErrInvalidCommit)
		}
	}
	if c.Sig, ok = m["sig"].([]byte); !ok {
		return nil, fmt.Errorf("%w: sig missing or not bytes", ErrInvalidCommit)
	}
	if len(c.Sig) != 64 {
		return nil, fmt.Errorf("%w: sig is %d bytes, want 64", ErrInvalidCommit, len(c.Sig))
	}
	return &c, nil
}

// ErrRevExhausted is returned by NextRev when no rev can follow the
// previous one (a rev beyond the year 2255, as a forged import may carry).
var ErrRevExhausted = errors.New("no rev can follow the previous rev")

// NextRev returns the rev of a repo's next commit: strictly greater than
// prev (the repo's previous rev; "" for a new repo). It is clock's next TID
// when that is greater than prev. When prev is ahead of clock (a repo
// imported with a rev from the future, or a wall clock that went back), it
// is prev's timestamp plus one microsecond, with clock's identifier, and
// clock is NOT advanced to it: one repo's rev never moves the revs or
// record keys that a clock shared by many repos hands out to the others.
// It returns ErrRevExhausted when prev is too large to be followed.
func NextRev(clock *syntax.Clock, prev syntax.TID) (syntax.TID, error) {
	rev := clock.Next()
	if rev != "" && rev.Compare(prev) > 0 {
		return rev, nil
	}
	// One microsecond above prev, by TID arithmetic; maxRevMicros bounds the
	// 53-bit timestamp so that the top bit stays clear.
	next := prev.Integer()>>10 + 1
	if next >= maxRevMicros {
		return "", fmt.Errorf("%w: %s", ErrRevExhausted, prev)
	}
	return syntax.NewTID(int64(next), clock.ClockID()), nil
}

// maxRevMicros is one past the largest timestamp a TID may carry (2^53 µs).
const maxRevMicros = 1 << 53
