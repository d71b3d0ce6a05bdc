package atlite

import (
	"errors"
	"fmt"

	"github.com/atlite-dev/atlite/internal/storage"

	"github.com/atlite-dev/atlite/internal/safehttp"
	"github.com/atlite-dev/atlite/keys"
)

// ErrNotFound is returned when a repo, record, block or event does not exist.
// The finer [ErrRepoNotFound] and [ErrRecordNotFound] wrap it: errors.Is(err,
// ErrNotFound) holds for them too. A block missing inside a stored tree is
// not "not found" but damage ([ErrCorrupt]).
var ErrNotFound = storage.ErrNotFound

// ErrRepoNotFound is returned when the store has no repo with the DID or
// handle asked for. It wraps [ErrNotFound].
var ErrRepoNotFound = fmt.Errorf("repo %w", ErrNotFound)

// ErrRecordNotFound is returned when a repo of the store holds no record at
// the path asked for. It wraps [ErrNotFound].
var ErrRecordNotFound = fmt.Errorf("record %w", ErrNotFound)

// ErrExists is returned when creating something that already exists: a repo
// with a DID already in the store, or a record at a path that is taken.
var ErrExists = errors.New("already exists")

// ErrClosed is returned by every method called after [Store.Close].
var ErrClosed = errors.New("store is closed")

// ErrSchemaTooNew is returned by [Open] when the file was written by a newer
// version of atlite whose schema this version does not know.
var ErrSchemaTooNew = storage.ErrSchemaTooNew

// ErrNotAtlite is returned by [Open] when the file is a SQLite database that
// belongs to another application.
var ErrNotAtlite = storage.ErrNotAtlite

// ErrInvalidKey is returned when a key-encryption key has the wrong size, or
// when a stored signing key cannot be decrypted with the key given.
var ErrInvalidKey = errors.New("invalid key")

// ErrKeyEncrypted is returned when a repo's signing key is encrypted in the
// file and the store was opened without [Options.KeyEncryptionKey].
var ErrKeyEncrypted = errors.New("signing key is encrypted and no key-encryption key was given")

// ErrBadSignature is returned when a commit signature does not verify. It is
// the same value as [keys.ErrBadSignature] and [commit.ErrBadSignature], so
// errors.Is matches it whichever layer reported the bad signature.
var ErrBadSignature = keys.ErrBadSignature

// ErrSwapMismatch is returned when a compare-and-swap on a repo head or on a
// record CID finds another value than the one expected.
var ErrSwapMismatch = errors.New("swap mismatch")

// ErrInvalidWrite is returned when a commit's writes are invalid: too many,
// too large, a create of an existing path, an update or delete of a missing
// one, or a malformed record.
var ErrInvalidWrite = errors.New("invalid write")

// ErrInvalidCAR is returned when an imported or verified CAR file is
// malformed, incomplete or does not match its commit.
var ErrInvalidCAR = errors.New("invalid CAR")

// InactiveRepoError is returned when writing to a repo whose status is not
// active (deactivated, taken down, tombstoned or deleted), and by the reads
// that serve active repos only, such as [Store.GetActiveRecord].
type InactiveRepoError struct {
	DID    string // the repo
	Status string // its status: StatusDeactivated, StatusTakendown, ...
}

// Error implements error.
func (e *InactiveRepoError) Error() string {
	return fmt.Sprintf("repo %s is inactive (%s)", e.DID, e.Status)
}

// ErrHandleTaken is returned when a handle is given to a repo while another
// repo of the file has it: handles are unique in a file. On PostgreSQL a
// handle taken by another process between the check and the write is
// refused by the unique index with this error too.
var ErrHandleTaken = storage.ErrHandleTaken

// ErrReadOnlyRepo is returned when writing to a read-only mirror: a repo
// imported without its private signing key, which this host cannot sign for.
var ErrReadOnlyRepo = errors.New("repo is a read-only mirror (this host does not hold its signing key)")

// ErrForbiddenAddress is returned, together with [ErrBlobFetch], when
// [Store.RemoteBlob] with its default client would connect to an address
// that is not public (loopback, private, link-local, CGNAT, multicast,
// unspecified, ...): the URL's host is such an IP literal, resolves to such
// an address, or redirects to one. It is the same value as
// [github.com/atlite-dev/atlite/did.ErrForbiddenAddress].
var ErrForbiddenAddress = safehttp.ErrForbiddenAddress

// ErrBadCredentials is returned by [Store.CheckPassword] when the identifier
// names no account, or the password is neither the account's password nor
// one of its app passwords. The two cases are not told apart.
var ErrBadCredentials = errors.New("invalid identifier or password")

// ErrPasswordTooShort is returned when a password shorter than
// [MinPasswordLength] bytes is set.
var ErrPasswordTooShort = errors.New("password is too short")

// ErrEmailTaken is returned when an email address is given to an account
// while another account of the file has it (whatever its case), also when
// another process took it between the check and the write.
var ErrEmailTaken = storage.ErrEmailTaken

// ErrInvalidEmail is returned when an email address is malformed.
var ErrInvalidEmail = errors.New("invalid email address")

// ErrInvalidToken is returned when a refresh token is malformed, unknown or
// revoked (by a refresh that rotated it, a sign-out, or the revocation of
// its app password).
var ErrInvalidToken = errors.New("invalid token")

// ErrExpiredToken is returned when a refresh token or session has expired.
var ErrExpiredToken = errors.New("token has expired")

// ErrPLCPublish is returned by [Store.CreateAccount] when the account was
// created but its genesis operation could not be published to the PLC
// directory; the operation is kept ([Store.PLCOperation]) for a later
// publish.
var ErrPLCPublish = errors.New("plc directory publish failed")

// ErrRevConflict is returned by [Store.ImportCAR] when the CAR's rev is not
// newer than the rev of the repo's stored head: importing it would move the
// repo back in time ([ImportOptions.Force] allows it).
var ErrRevConflict = errors.New("rev conflict")

// ErrFutureRev is returned by [Store.ImportCAR] when the CAR's rev is dated
// more than five minutes after the store's clock. It wraps [ErrInvalidCAR].
var ErrFutureRev = fmt.Errorf("%w: rev from the future", ErrInvalidCAR)

// ErrCorrupt is returned by [Store.Check], and by any method that reads
// damaged data, when the file is damaged: a block that does not hash to its
// CID or is missing (a missing block inside a stored tree is damage, never
// [ErrNotFound]), a malformed commit or MST node, a record index that
// disagrees with the tree, a gap in the event seqs. A key-encryption key
// that does not open the stored keys is not damage: Check reports it with
// [ErrInvalidKey].
var ErrCorrupt = errors.New("file is damaged")
