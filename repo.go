package atlite

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/storage"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/mst"
	"github.com/atlite-dev/atlite/syntax"
)

// Account statuses a repo can have. The empty status means active.
const (
	StatusActive      = ""
	StatusDeactivated = "deactivated"
	StatusTakendown   = "takendown"
	StatusSuspended   = "suspended"
	StatusTombstoned  = "tombstoned" // final
	StatusDeleted     = "deleted"    // final
)

// Repo describes one repository as stored. It is a snapshot: later commits
// do not change it.
type Repo struct {
	DID         syntax.DID
	Handle      syntax.Handle // "" when the repo has no handle; normalized (lower case)
	Head        cid.Cid       // the current commit
	Data        cid.Cid       // the current MST root
	Rev         syntax.TID    // the current rev
	Status      string        // StatusActive ("") or another status
	SigningKey  keys.PublicKey
	RotationKey keys.PublicKey // nil when the repo has none
	// Mirror reports a read-only mirror: a repo imported without its
	// private signing key, which refuses writes ([ErrReadOnlyRepo]).
	Mirror  bool
	Created time.Time
	Updated time.Time
}

// Active reports whether the repo accepts writes and is served.
func (r *Repo) Active() bool { return r.Status == StatusActive }

// CreateRepoOptions configure [Store.CreateRepo]. A nil pointer means all
// defaults.
type CreateRepoOptions struct {
	// Handle is the repo's handle; "" for none. It is checked and stored
	// normalized (lower case); another repo of the file may not have it
	// ([ErrHandleTaken]).
	Handle syntax.Handle
	// SigningKey signs the repo's commits. Default: a new K-256 key.
	SigningKey keys.PrivateKey
	// RotationKey is kept for DID operations; nil for none.
	RotationKey keys.PrivateKey
	// PLCOperation is the signed did:plc genesis operation (DAG-CBOR) that
	// made did, kept so that it can be published later ([Store.PLCOperation]);
	// nil for none.
	PLCOperation []byte
}

// emptyNode is the DAG-CBOR of an empty MST node, {"e": [], "l": null},
// whose CID is mst.EmptyRoot().
var emptyNode = []byte{0xa2, 0x61, 0x65, 0x80, 0x61, 0x6c, 0xf6}

// CreateRepo creates an empty repository for did. In one transaction it
// writes the empty MST root, the first signed commit (prev null) and the repo
// row, and emits #identity, #account (active) and the first #commit, each
// with its own seq. It returns ErrExists if the DID is already in the store.
func (s *Store) CreateRepo(ctx context.Context, did syntax.DID, opts *CreateRepoOptions) (*Repo, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	var o CreateRepoOptions
	if opts != nil {
		o = *opts
	}
	if did.String() == "" {
		return nil, errors.New("create repo: empty DID")
	}
	if o.Handle != "" {
		h, err := syntax.ParseHandle(o.Handle.String())
		if err != nil {
			return nil, fmt.Errorf("create repo %s: handle: %w", did, err)
		}
		o.Handle = h.Normalize()
	}
	if o.SigningKey == nil {
		if o.SigningKey, err = keys.GenerateK256(); err != nil {
			return nil, fmt.Errorf("create repo %s: %w", did, err)
		}
	}
	if err := s.clearKeysAllowed(ctx); err != nil {
		return nil, fmt.Errorf("create repo %s: %w", did, err)
	}
	signing, signingEnc, err := s.sealKey(did.String(), o.SigningKey)
	if err != nil {
		return nil, fmt.Errorf("create repo %s: %w", did, err)
	}
	var rotation []byte
	if o.RotationKey != nil {
		if rotation, _, err = s.sealKey(did.String(), o.RotationKey); err != nil {
			return nil, fmt.Errorf("create repo %s: %w", did, err)
		}
	}

	root := mst.EmptyRoot()
	rev, err := commit.NextRev(s.clock, "")
	if err != nil {
		return nil, fmt.Errorf("create repo %s: %w", did, err)
	}
	cmt := &commit.Commit{DID: did, Data: root, Rev: rev}
	if err := cmt.Sign(o.SigningKey); err != nil {
		return nil, fmt.Errorf("create repo %s: %w", did, err)
	}
	cb, cc, err := cmt.EncodeCID()
	if err != nil {
		return nil, fmt.Errorf("create repo %s: %w", did, err)
	}
	now := s.now().UTC()
	var events []Event
	pub := o.SigningKey.PublicKey().DIDKey()
	row := &repoRow{
		DID: did.String(), Handle: optString(o.Handle.String()), Head: cc.Bytes(), Data: root.Bytes(), Rev: cmt.Rev.String(),
		SigningKey: signing, RotationKey: rotation, KeyEncrypted: signingEnc,
		Created: now.UnixMicro(), Updated: now.UnixMicro(), SigningPub: &pub,
	}
	err = s.b.Update(ctx, nil, func(tx storage.WriteTx) error {
		if err := s.handleFree(ctx, tx, did, o.Handle); err != nil {
			return err
		}
		if _, created, err := tx.InsertRepo(ctx, row, o.PLCOperation); err != nil {
			return err
		} else if !created {
			return fmt.Errorf("repo %s: %w", did, ErrExists)
		}
		if err := putBlocks(ctx, tx, []Block{{CID: root, Data: emptyNode}, {CID: cc, Data: cb}}); err != nil {
			return err
		}
		events = []Event{
			{DID: did, Kind: KindIdentity, Handle: o.Handle, Time: now},
			{DID: did, Kind: KindAccount, Active: true, Time: now},
			{DID: did, Kind: KindCommit, Time: now, Rev: cmt.Rev, Commit: cc, Ops: []commit.Op{}, Blocks: []cid.Cid{cc, root}},
		}
		for i := range events {
			if err := s.writeEvent(ctx, tx, &events[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create repo %s: %w", did, err)
	}
	s.publish(events...)
	return &Repo{
		DID: did, Handle: o.Handle, Head: cc, Data: root, Rev: cmt.Rev,
		SigningKey: o.SigningKey.PublicKey(), RotationKey: publicOf(o.RotationKey),
		Created: time.UnixMicro(now.UnixMicro()).UTC(), Updated: time.UnixMicro(now.UnixMicro()).UTC(),
	}, nil
}

// handleFree returns ErrHandleTaken when another repo than did has handle
// (normalized; "" is always free).
func (s *Store) handleFree(ctx context.Context, tx storage.ReadTx, did syntax.DID, handle syntax.Handle) error {
	if handle == "" {
		return nil
	}
	r, err := tx.RepoByHandle(ctx, handle.String())
	if errors.Is(err, storage.ErrNotFound) || (err == nil && r.DID == did.String()) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("handle %s belongs to %s: %w", handle, r.DID, ErrHandleTaken)
}

// EnsureRepo returns the repo did, creating it with opts first when the
// store does not have it (see [Store.CreateRepo]); created reports which. An
// existing repo is returned as it is, whatever opts say, and even when it is
// inactive. Two EnsureRepo calls racing for one DID both succeed, and only
// one creates it.
func (s *Store) EnsureRepo(ctx context.Context, did syntax.DID, opts *CreateRepoOptions) (repo *Repo, created bool, err error) {
	for i := 0; i < 2; i++ {
		repo, err = s.LoadRepo(ctx, did.AtIdentifier())
		if err == nil {
			return repo, false, nil
		}
		if !errors.Is(err, ErrRepoNotFound) {
			return nil, false, err
		}
		repo, err = s.CreateRepo(ctx, did, opts)
		if err == nil {
			return repo, true, nil
		}
		if !errors.Is(err, ErrExists) {
			return nil, false, err
		}
		// Created by someone else meanwhile: load it.
	}
	return nil, false, err
}

func publicOf(k keys.PrivateKey) keys.PublicKey {
	if k == nil {
		return nil
	}
	return k.PublicKey()
}

// optString is s for a nullable column: nil when s is "".
func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

type repoRow = storage.RepoRow

// repo converts a row to a Repo. Public keys are derived from the stored
// private keys, which needs the key-encryption key for encrypted rows; when
// it is missing the keys are left nil.
func (s *Store) repo(r *repoRow) (*Repo, error) {
	out := &Repo{Created: time.UnixMicro(r.Created).UTC(), Updated: time.UnixMicro(r.Updated).UTC()}
	var err error
	if out.DID, err = syntax.ParseDID(r.DID); err != nil {
		return nil, fmt.Errorf("stored repo %q: %w", r.DID, err)
	}
	if r.Handle != nil {
		out.Handle = syntax.Handle(*r.Handle)
	}
	if r.Status != nil {
		out.Status = *r.Status
	}
	if out.Head, err = cid.Cast(r.Head); err != nil {
		return nil, fmt.Errorf("stored repo %s: head: %w", r.DID, err)
	}
	if out.Data, err = cid.Cast(r.Data); err != nil {
		return nil, fmt.Errorf("stored repo %s: data: %w", r.DID, err)
	}
	if out.Rev, err = syntax.ParseTID(r.Rev); err != nil {
		return nil, fmt.Errorf("stored repo %s: rev: %w", r.DID, err)
	}
	out.Mirror = len(r.SigningKey) == 0
	if r.SigningPub != nil {
		pub := *r.SigningPub
		if out.SigningKey, err = s.publicKey(func() (keys.PublicKey, error) { return keys.ParseDIDKey(pub) }, "did:key", pub); err != nil {
			return nil, fmt.Errorf("stored repo %s: signing key: %w", r.DID, err)
		}
	}
	if !out.Mirror && (!r.KeyEncrypted || s.kek != nil) {
		if out.SigningKey, err = s.sealedPublicKey(r.DID, r.SigningKey, r.KeyEncrypted); err != nil {
			return nil, err
		}
		if r.RotationKey != nil {
			if out.RotationKey, err = s.sealedPublicKey(r.DID, r.RotationKey, r.KeyEncrypted); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// pubKeyCacheSize is the number of public keys Store.publicKey keeps.
const pubKeyCacheSize = 1024

// publicKey returns the public key that derive gives for the input named
// by parts, from the Store's cache when derive gave it before: parsing a
// did:key decompresses a point, and a private key's public key is a
// scalar multiplication (K-256: 15% of `atlite serve`'s CPU for getRecord,
// which loads the repo each request). The cache is keyed by a SHA-256 of
// parts, so it holds no key material in the clear; errors are not cached.
func (s *Store) publicKey(derive func() (keys.PublicKey, error), parts ...string) (keys.PublicKey, error) {
	h := sha256.New()
	for _, p := range parts {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	var k [32]byte
	h.Sum(k[:0])
	if pub, ok := s.pubKeys.Get(k); ok {
		return pub, nil
	}
	pub, err := derive()
	if err != nil {
		return nil, err
	}
	s.pubKeys.Add(k, pub)
	return pub, nil
}

// sealedPublicKey returns the public key of the private key that sealed
// holds for did (see Store.openKey), through the cache of publicKey. The
// key-encryption key is part of the cache key: a store whose key changed
// opens the sealed key again (and fails as openKey does).
func (s *Store) sealedPublicKey(did string, sealed []byte, encrypted bool) (keys.PublicKey, error) {
	enc := "clear"
	if encrypted {
		enc = "sealed"
	}
	return s.publicKey(func() (keys.PublicKey, error) {
		k, err := s.openKey(did, sealed, encrypted)
		if err != nil {
			return nil, err
		}
		return k.PublicKey(), nil
	}, "private key", did, enc, string(sealed), string(s.kek))
}

// LoadRepo returns the repo whose DID or handle is id (a handle matches
// whatever its case). It returns ErrRepoNotFound when there is none. Inactive
// repos are returned too; see [Repo.Active]. Use [syntax.ParseAtIdentifier]
// for user input, or DID.AtIdentifier.
func (s *Store) LoadRepo(ctx context.Context, id syntax.AtIdentifier) (*Repo, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	var r repoRow
	rd := s.b.Reader()
	if id == "" {
		return nil, fmt.Errorf("load repo: empty identifier: %w", ErrRepoNotFound)
	}
	if d, ok := id.AsDID(); ok {
		r, err = rd.Repo(ctx, d.String())
	} else {
		r, err = rd.RepoByHandle(ctx, strings.ToLower(strings.TrimPrefix(id.String(), "@")))
	}
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", id, ErrRepoNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load repo %s: %w", id, err)
	}
	return s.repo(&r)
}

// ListReposOptions select repos for [Store.ListRepos]. A nil pointer means
// the first page, without limit.
type ListReposOptions struct {
	// Cursor is the cursor [Store.ListRepos] returned for the previous
	// page (the last DID listed); "" starts at the beginning.
	Cursor string
	// Limit caps the number of repos; zero means no limit.
	Limit int
}

// ListRepos lists repos in DID order, inactive ones included, and returns
// the cursor of the next page: "" when there are no more. Like every list
// method of the Store, it takes the previous page's cursor in its options.
func (s *Store) ListRepos(ctx context.Context, opts *ListReposOptions) ([]*Repo, string, error) {
	done, err := s.enter()
	if err != nil {
		return nil, "", err
	}
	defer done()
	var o ListReposOptions
	if opts != nil {
		o = *opts
	}
	limit := 0 // no limit
	if o.Limit > 0 {
		limit = o.Limit + 1 // one more tells whether there is a next page
	}
	rows, err := s.b.Reader().Repos(ctx, o.Cursor, limit)
	if err != nil {
		return nil, "", fmt.Errorf("list repos: %w", err)
	}
	cursor := ""
	if o.Limit > 0 && len(rows) > o.Limit {
		rows = rows[:o.Limit]
		cursor = rows[len(rows)-1].DID
	}
	repos, err := convertRows(rows, s.repo)
	if err != nil {
		return nil, "", err
	}
	return repos, cursor, nil
}

// UpdateHandle sets a repo's handle ("" removes it) and emits #identity.
func (s *Store) UpdateHandle(ctx context.Context, did syntax.DID, handle syntax.Handle) error {
	done, err := s.enter()
	if err != nil {
		return err
	}
	defer done()
	if handle != "" {
		h, err := syntax.ParseHandle(handle.String())
		if err != nil {
			return fmt.Errorf("update handle of %s: %w", did, err)
		}
		handle = h.Normalize()
	}
	ev := Event{DID: did, Kind: KindIdentity, Handle: handle}
	err = s.b.Update(ctx, nil, func(tx storage.WriteTx) error {
		if err := s.handleFree(ctx, tx, did, handle); err != nil {
			return err
		}
		ok, err := tx.SetHandle(ctx, did.String(), optString(handle.String()), s.now().UnixMicro())
		if err != nil {
			return err
		}
		if !ok {
			return s.missingOrFinal(ctx, tx, did)
		}
		return s.writeEvent(ctx, tx, &ev)
	})
	if err != nil {
		return fmt.Errorf("update handle of %s: %w", did, err)
	}
	s.publish(ev)
	return nil
}

// missingOrFinal explains why a repo update touched no row.
func (s *Store) missingOrFinal(ctx context.Context, tx storage.ReadTx, did syntax.DID) error {
	r, err := tx.Repo(ctx, did.String())
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%s: %w", did, ErrRepoNotFound)
	}
	if err != nil {
		return err
	}
	status := ""
	if r.Status != nil {
		status = *r.Status
	}
	return &InactiveRepoError{DID: did.String(), Status: status}
}

// Deactivate marks a repo deactivated (reversible with Activate) and emits
// #account with active false.
func (s *Store) Deactivate(ctx context.Context, did syntax.DID) error {
	return s.setStatus(ctx, did, StatusDeactivated)
}

// Takedown marks a repo taken down (reversible with Activate) and emits
// #account with active false.
func (s *Store) Takedown(ctx context.Context, did syntax.DID) error {
	return s.setStatus(ctx, did, StatusTakendown)
}

// Activate makes a deactivated, taken-down or suspended repo active again and
// emits #account with active true. A tombstoned or deleted repo stays so
// ([InactiveRepoError]).
func (s *Store) Activate(ctx context.Context, did syntax.DID) error {
	return s.setStatus(ctx, did, StatusActive)
}

// Tombstone marks a repo tombstoned for good (its DID is gone) and emits
// #account with active false and status deleted. Its data stays readable by
// admins through the file but is no longer served.
func (s *Store) Tombstone(ctx context.Context, did syntax.DID) error {
	return s.setStatus(ctx, did, StatusTombstoned)
}

// DeleteRepo deletes a repo for good: its record index and blob references
// are dropped (its blobs become collectable by [Store.GCBlobs], and its
// blocks that no other repo holds by [Store.GC] once its events are
// pruned), it is
// marked deleted so the DID cannot be created again, and #account with
// active false and status deleted is emitted.
func (s *Store) DeleteRepo(ctx context.Context, did syntax.DID) error {
	return s.setStatus(ctx, did, StatusDeleted)
}

func (s *Store) setStatus(ctx context.Context, did syntax.DID, status string) error {
	done, err := s.enter()
	if err != nil {
		return err
	}
	defer done()
	ev := Event{DID: did, Kind: KindAccount, Active: status == StatusActive, Status: status}
	if status == StatusTombstoned {
		ev.Status = StatusDeleted
	}
	err = s.b.Update(ctx, nil, func(tx storage.WriteTx) error {
		ok, err := tx.SetStatus(ctx, did.String(), optString(status), s.now().UnixMicro())
		if err != nil {
			return err
		}
		if !ok {
			return s.missingOrFinal(ctx, tx, did)
		}
		if status == StatusDeleted {
			if err := tx.DropRepoIndex(ctx, did.String()); err != nil {
				return err
			}
		}
		return s.writeEvent(ctx, tx, &ev)
	})
	if err != nil {
		return fmt.Errorf("set status of %s to %q: %w", did, status, err)
	}
	s.keyCache.Delete(did.String())
	s.publish(ev)
	return nil
}
