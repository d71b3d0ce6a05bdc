package atlite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/alexedwards/argon2id"

	"github.com/atlite-dev/atlite/did"
	"github.com/atlite-dev/atlite/internal/storage"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

// MinPasswordLength is the shortest password, in bytes, that
// [Store.SetPassword] and [Store.CreateAccount] accept.
const MinPasswordLength = 8

// MaxPasswordLength is the longest password, in bytes, that
// [Store.SetPassword] and [Store.CreateAccount] accept; longer input to
// [Store.CheckPassword] never matches.
const MaxPasswordLength = 1024

// MaxAppPasswordNameLength is the longest app password name, in bytes.
const MaxAppPasswordNameLength = 100

// passwordParams are the argon2id parameters of new password hashes: the
// first recommendation of the OWASP password storage cheat sheet (19 MiB,
// two passes, one lane). Existing hashes keep the parameters they were made
// with (they are part of the PHC string).
var passwordParams = &argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// dummyHash is compared against when the account is unknown, so that an
// unknown identifier costs as much time as a wrong password.
var dummyHash = sync.OnceValue(func() string {
	h, err := argon2id.CreateHash(rand.Text(), passwordParams)
	if err != nil {
		panic("atlite: argon2id: " + err.Error())
	}
	return h
})

// Account is a repo's login data: its email and password, and its app
// passwords. It is a snapshot.
type Account struct {
	// Repo is the account's repository as stored (DID, handle, status,
	// keys, head).
	Repo *Repo
	// Email is the account's email address as given; "" for none.
	Email string
	// HasPassword reports whether a password is set.
	HasPassword bool
	// AppPassword is, in an Account returned by [Store.CheckPassword], the
	// name of the app password that matched; "" for the main password.
	AppPassword string
	// Privileged reports that the app password that matched is privileged
	// (always false for the main password).
	Privileged bool
	// Created is when the account row was first written (the repo's
	// creation for [Store.CreateAccount]).
	Created time.Time
}

// DID returns the account's DID.
func (a *Account) DID() syntax.DID { return a.Repo.DID }

// CreateAccountOptions configure [Store.CreateAccount].
type CreateAccountOptions struct {
	// DID is the account's DID, when it already has one (a did:web, or a
	// did:plc the caller controls). Default: a new did:plc derived offline
	// from a signed genesis operation, which needs Handle and PDSEndpoint.
	DID syntax.DID
	// Handle is the account's handle; "" for none (only with DID).
	Handle syntax.Handle
	// PDSEndpoint is the URL of the PDS written in a new did:plc's genesis
	// operation ("https://pds.example": http or https, a host, no path).
	PDSEndpoint string
	// P256 makes the generated signing key a P-256 key. Default: K-256.
	P256 bool
	// SigningKey is the repo's signing key. Default: a new key (see P256).
	SigningKey keys.PrivateKey
	// RotationKey is the did:plc rotation key that signs the genesis
	// operation and is kept in the file for later operations. Default: a new
	// K-256 key for a did:plc; none for other DIDs.
	RotationKey keys.PrivateKey
	// Email is the account's email address; "" for none.
	Email string
	// Password is the account's password; "" for none (the account cannot
	// sign in until [Store.SetPassword]).
	Password string
	// PLC, when set, is the PLC directory the new did:plc's genesis
	// operation is published to once the account is stored. Default: nil,
	// nothing is published (the operation is kept, [Store.PLCOperation]).
	PLC *did.PLCClient
}

// CreateAccount creates an account: its keys, its DID (a did:plc derived
// offline from a genesis operation signed with the rotation key, unless
// opts.DID is given), its repo ([Store.CreateRepo], which keeps the signed
// genesis operation for [Store.PLCOperation]) and its email and password.
//
// Everything is checked before the repo is written (handle and email free,
// password long enough), so a refusal writes nothing: ErrExists,
// ErrHandleTaken, ErrEmailTaken, ErrPasswordTooShort, ErrInvalidEmail.
//
// The repo and the account row (email, password hash) are written by two
// transactions, since [Store.CreateRepo] runs its own: if the second fails
// (an email taken in between by another account), the repo exists without
// email or password and CreateAccount returns the account with the error.
//
// With opts.PLC the genesis operation is then published. A failed publish
// leaves the account created: CreateAccount returns the account together
// with an error wrapping ErrPLCPublish and the directory's error.
func (s *Store) CreateAccount(ctx context.Context, opts *CreateAccountOptions) (*Account, error) {
	if opts == nil {
		opts = &CreateAccountOptions{}
	}
	o := *opts
	var err error
	if o.Handle != "" {
		h, err := syntax.ParseHandle(o.Handle.String())
		if err != nil {
			return nil, fmt.Errorf("create account: handle: %w", err)
		}
		o.Handle = h.Normalize()
	}
	if o.Email != "" {
		if err := checkEmail(o.Email); err != nil {
			return nil, fmt.Errorf("create account: %w", err)
		}
	}
	var hash string
	if o.Password != "" {
		if hash, err = hashPassword(o.Password); err != nil {
			return nil, fmt.Errorf("create account: %w", err)
		}
	}
	if o.SigningKey == nil {
		if o.P256 {
			o.SigningKey, err = keys.GenerateP256()
		} else {
			o.SigningKey, err = keys.GenerateK256()
		}
		if err != nil {
			return nil, fmt.Errorf("create account: %w", err)
		}
	}
	if o.RotationKey == nil && (o.DID == "" || o.DID.Method() == "plc") {
		if o.RotationKey, err = keys.GenerateK256(); err != nil {
			return nil, fmt.Errorf("create account: %w", err)
		}
	}
	d := o.DID
	var genesis *did.Operation
	var opBytes []byte
	if d == "" {
		if o.Handle == "" {
			return nil, errors.New("create account: a handle is needed to derive a did:plc (or give a DID)")
		}
		if genesis, err = did.NewGenesis([]keys.PublicKey{o.RotationKey.PublicKey()}, o.SigningKey.PublicKey(), o.Handle, o.PDSEndpoint); err != nil {
			return nil, fmt.Errorf("create account: %w", err)
		}
		if err := genesis.Sign(o.RotationKey); err != nil {
			return nil, fmt.Errorf("create account: %w", err)
		}
		if d, err = genesis.DID(); err != nil {
			return nil, fmt.Errorf("create account: %w", err)
		}
		if opBytes, err = genesis.Bytes(); err != nil {
			return nil, fmt.Errorf("create account: %w", err)
		}
	} else if o.PLC != nil {
		return nil, errors.New("create account: publishing to a PLC directory needs a new did:plc (no DID given)")
	}
	if err := s.accountFree(ctx, d, o.Handle, o.Email); err != nil {
		return nil, fmt.Errorf("create account %s: %w", d, err)
	}
	repo, err := s.CreateRepo(ctx, d, &CreateRepoOptions{
		Handle: o.Handle, SigningKey: o.SigningKey, RotationKey: o.RotationKey, PLCOperation: opBytes,
	})
	if err != nil {
		return nil, fmt.Errorf("create account: %w", err)
	}
	acct := &Account{Repo: repo, Email: o.Email, HasPassword: hash != "", Created: repo.Created}
	if o.Email != "" || hash != "" {
		// A second transaction: CreateRepo runs its own. Only an email
		// taken meanwhile by another account can fail here.
		err := s.putAccount(ctx, d, func(ctx context.Context, tx storage.WriteTx, repoID int64, now int64) error {
			return tx.InsertAccount(ctx, storage.AccountRow{Repo: repoID, Email: optString(o.Email), Password: optString(hash),
				Created: repo.Created.UnixMicro(), Updated: now})
		}, o.Email)
		if err != nil {
			return acct, fmt.Errorf("create account %s: the repo is created, but its email and password are not stored: %w", d, err)
		}
	}
	if genesis != nil && o.PLC != nil {
		if _, err := o.PLC.Create(ctx, genesis); err != nil {
			return acct, fmt.Errorf("create account %s: the account is created; publish its operation again later: %w: %w", d, ErrPLCPublish, err)
		}
	}
	return acct, nil
}

// accountFree checks, before anything is written, that an account can be
// created for d with handle and email.
func (s *Store) accountFree(ctx context.Context, d syntax.DID, handle syntax.Handle, email string) error {
	done, err := s.enter()
	if err != nil {
		return err
	}
	defer done()
	return s.b.View(ctx, func(tx storage.ReadTx) error {
		exists, err := tx.RepoExists(ctx, d.String())
		if err != nil {
			return err
		}
		if exists {
			return fmt.Errorf("repo %s: %w", d, ErrExists)
		}
		if err := s.handleFree(ctx, tx, d, handle); err != nil {
			return err
		}
		return emailFree(ctx, tx, -1, email)
	})
}

// emailFree returns ErrEmailTaken when an account other than the repo
// repoID has email (whatever its case; "" is always free).
func emailFree(ctx context.Context, tx storage.ReadTx, repoID int64, email string) error {
	if email == "" {
		return nil
	}
	owner, err := tx.EmailOwner(ctx, email, repoID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("email belongs to %s: %w", owner, ErrEmailTaken)
}

// checkEmail accepts a bare address (local@domain), without a display name
// or angle brackets.
func checkEmail(email string) error {
	a, err := mail.ParseAddress(email)
	if err != nil || a.Name != "" || a.Address != email || len(email) > 254 {
		return fmt.Errorf("%q: %w", email, ErrInvalidEmail)
	}
	return nil
}

// hashPassword checks a new password's length and hashes it.
func hashPassword(password string) (string, error) {
	if len(password) < MinPasswordLength {
		return "", fmt.Errorf("%w: %d bytes, want at least %d", ErrPasswordTooShort, len(password), MinPasswordLength)
	}
	if len(password) > MaxPasswordLength {
		return "", fmt.Errorf("password is %d bytes, at most %d allowed", len(password), MaxPasswordLength)
	}
	h, err := argon2id.CreateHash(password, passwordParams)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// putAccount runs fn in a write transaction with the id of the repo d,
// after checking that email is free.
func (s *Store) putAccount(ctx context.Context, d syntax.DID, fn func(ctx context.Context, tx storage.WriteTx, repoID int64, now int64) error, email string) error {
	done, err := s.enter()
	if err != nil {
		return err
	}
	defer done()
	return s.b.Update(ctx, nil, func(tx storage.WriteTx) error {
		id, err := repoID(ctx, tx, d)
		if err != nil {
			return err
		}
		if err := emailFree(ctx, tx, id, email); err != nil {
			return err
		}
		return fn(ctx, tx, id, s.now().UnixMicro())
	})
}

// repoID returns the row id of the repo d, or ErrRepoNotFound.
func repoID(ctx context.Context, tx storage.ReadTx, d syntax.DID) (int64, error) {
	r, err := tx.Repo(ctx, d.String())
	if errors.Is(err, storage.ErrNotFound) {
		return 0, fmt.Errorf("%s: %w", d, ErrRepoNotFound)
	}
	return r.ID, err
}

// SetPassword sets the password of the account d, creating its account row
// when the repo has none (a repo made by [Store.CreateRepo]). The password
// must be at least MinPasswordLength bytes (ErrPasswordTooShort otherwise);
// it is stored as an argon2id hash. Sessions and app passwords are kept.
func (s *Store) SetPassword(ctx context.Context, d syntax.DID, password string) error {
	hash, err := hashPassword(password)
	if err != nil {
		return fmt.Errorf("set password of %s: %w", d, err)
	}
	err = s.putAccount(ctx, d, func(ctx context.Context, tx storage.WriteTx, repoID int64, now int64) error {
		return tx.SetAccountPassword(ctx, repoID, hash, now)
	}, "")
	if err != nil {
		return fmt.Errorf("set password of %s: %w", d, err)
	}
	return nil
}

// SetEmail sets the email address of the account d ("" removes it),
// creating its account row when the repo has none. Another account may not
// have it, whatever its case (ErrEmailTaken).
func (s *Store) SetEmail(ctx context.Context, d syntax.DID, email string) error {
	if email != "" {
		if err := checkEmail(email); err != nil {
			return fmt.Errorf("set email of %s: %w", d, err)
		}
	}
	err := s.putAccount(ctx, d, func(ctx context.Context, tx storage.WriteTx, repoID int64, now int64) error {
		return tx.SetAccountEmail(ctx, repoID, optString(email), now)
	}, email)
	if err != nil {
		return fmt.Errorf("set email of %s: %w", d, err)
	}
	return nil
}

// loadAccount reads the account whose identifier is a DID, a handle or an
// email address (anything with an '@' that is not a leading one), with its
// repo row id. A repo without an account row gives an Account without a
// password.
func (s *Store) loadAccount(ctx context.Context, tx storage.ReadTx, identifier string) (*Account, int64, string, error) {
	var r repoRow
	var err error
	switch {
	case strings.HasPrefix(identifier, "did:"):
		r, err = tx.Repo(ctx, identifier)
	case strings.Contains(strings.TrimPrefix(identifier, "@"), "@"):
		r, err = tx.RepoByEmail(ctx, identifier)
	default:
		r, err = tx.RepoByHandle(ctx, strings.ToLower(strings.TrimPrefix(identifier, "@")))
	}
	if errors.Is(err, storage.ErrNotFound) {
		return nil, 0, "", fmt.Errorf("account %q: %w", identifier, ErrNotFound)
	}
	if err != nil {
		return nil, 0, "", err
	}
	repo, err := s.repo(&r)
	if err != nil {
		return nil, 0, "", err
	}
	acct := &Account{Repo: repo, Created: repo.Created}
	a, err := tx.Account(ctx, r.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return acct, r.ID, "", nil
	}
	if err != nil {
		return nil, 0, "", err
	}
	acct.Created = time.UnixMicro(a.Created).UTC()
	hash := ""
	if a.Email != nil {
		acct.Email = *a.Email
	}
	if a.Password != nil {
		hash = *a.Password
		acct.HasPassword = true
	}
	return acct, r.ID, hash, nil
}

// LoadAccount returns the account whose DID, handle or email address is
// identifier, or ErrNotFound. Any repo of the file has an account, without
// password or email until they are set.
func (s *Store) LoadAccount(ctx context.Context, identifier string) (*Account, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	var acct *Account
	err = s.b.View(ctx, func(tx storage.ReadTx) error {
		acct, _, _, err = s.loadAccount(ctx, tx, identifier)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load account: %w", err)
	}
	return acct, nil
}

// CheckPassword signs in: identifier is what the user typed, a DID, a handle
// (with or without a leading '@', any case) or an email address, and
// password the account's password or one of its app passwords (then
// Account.AppPassword names it and Account.Privileged tells its scope).
//
// An unknown identifier and a wrong password both give ErrBadCredentials, in
// about the same time (a password hash is checked either way). A right
// password for an account whose repo is not active gives the account
// together with an *InactiveRepoError, so that a server may still let a
// deactivated account sign in (to reactivate it) and refuse the others.
func (s *Store) CheckPassword(ctx context.Context, identifier, password string) (*Account, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	var acct *Account
	var id int64
	var hash string
	err = s.b.View(ctx, func(tx storage.ReadTx) error {
		acct, id, hash, err = s.loadAccount(ctx, tx, identifier)
		return err
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("check password: %w", err)
	}
	if err != nil || len(password) > MaxPasswordLength {
		argon2id.ComparePasswordAndHash(password, dummyHash())
		return nil, fmt.Errorf("check password of %q: %w", identifier, ErrBadCredentials)
	}
	ok := false
	if hash == "" {
		argon2id.ComparePasswordAndHash(password, dummyHash())
	} else if ok, err = argon2id.ComparePasswordAndHash(password, hash); err != nil {
		return nil, fmt.Errorf("check password of %s: stored hash: %v", acct.Repo.DID, err)
	}
	if !ok && appPasswordFormat.MatchString(password) {
		ap, err := s.b.Reader().AppPasswordByHash(ctx, id, appPasswordHash(acct.Repo.DID, password))
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("check password of %s: %w", acct.Repo.DID, err)
		}
		if err == nil {
			ok, acct.AppPassword, acct.Privileged = true, ap.Name, ap.Privileged
		}
	}
	if !ok {
		return nil, fmt.Errorf("check password of %q: %w", identifier, ErrBadCredentials)
	}
	if !acct.Repo.Active() {
		return acct, &InactiveRepoError{DID: acct.Repo.DID.String(), Status: acct.Repo.Status}
	}
	return acct, nil
}

// AppPassword describes an app password; the password itself is shown only
// once, by [Store.CreateAppPassword].
type AppPassword struct {
	Name string
	// Privileged app passwords may reach sensitive account state (direct
	// messages, for instance), at the server's discretion.
	Privileged bool
	Created    time.Time
}

// appPasswordFormat is the form of generated app passwords: four groups of
// four base32 characters (RFC 4648 alphabet, lower case), as the reference
// PDS makes them.
var appPasswordFormat = regexp.MustCompile(`^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$`)

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// appPasswordHash is the stored form of an app password: the password has
// 80 random bits, so a fast hash is enough, and it finds the row directly.
func appPasswordHash(d syntax.DID, password string) []byte {
	h := sha256.New()
	h.Write([]byte("atlite app password\x00"))
	h.Write([]byte(d.String()))
	h.Write([]byte{0})
	h.Write([]byte(password))
	return h.Sum(nil)
}

// CreateAppPassword creates an app password for the account d and returns
// it, in the form xxxx-xxxx-xxxx-xxxx (lower-case letters and the digits 2
// to 7, 80 random bits); only its hash is stored, so it cannot be shown
// again. name must be unique among the account's app passwords (ErrExists),
// non-empty, valid UTF-8 and at most MaxAppPasswordNameLength bytes.
func (s *Store) CreateAppPassword(ctx context.Context, d syntax.DID, name string, privileged bool) (string, *AppPassword, error) {
	if name == "" || len(name) > MaxAppPasswordNameLength || !utf8.ValidString(name) {
		return "", nil, fmt.Errorf("create app password for %s: name %q: want 1 to %d bytes of UTF-8", d, name, MaxAppPasswordNameLength)
	}
	var b [10]byte
	rand.Read(b[:])
	str := lowerBase32.EncodeToString(b[:])
	password := str[0:4] + "-" + str[4:8] + "-" + str[8:12] + "-" + str[12:16]
	done, err := s.enter()
	if err != nil {
		return "", nil, err
	}
	defer done()
	now := s.now().UTC()
	err = s.b.Update(ctx, nil, func(tx storage.WriteTx) error {
		id, err := repoID(ctx, tx, d)
		if err != nil {
			return err
		}
		added, err := tx.InsertAppPassword(ctx, storage.AppPasswordRow{Repo: id, Name: name,
			Hash: appPasswordHash(d, password), Privileged: privileged, Created: now.UnixMicro()})
		if err != nil {
			return err
		}
		if !added {
			return fmt.Errorf("app password %q: %w", name, ErrExists)
		}
		return nil
	})
	if err != nil {
		return "", nil, fmt.Errorf("create app password for %s: %w", d, err)
	}
	return password, &AppPassword{Name: name, Privileged: privileged, Created: time.UnixMicro(now.UnixMicro()).UTC()}, nil
}

// ListAppPasswords lists the app passwords of the account d, newest first.
// It returns ErrRepoNotFound when the store has no repo d.
func (s *Store) ListAppPasswords(ctx context.Context, d syntax.DID) ([]*AppPassword, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	var rows []storage.AppPasswordRow
	err = s.b.View(ctx, func(tx storage.ReadTx) error {
		id, err := repoID(ctx, tx, d)
		if err != nil {
			return err
		}
		rows, err = tx.AppPasswords(ctx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list app passwords of %s: %w", d, err)
	}
	return convertRows(rows, func(r *storage.AppPasswordRow) (*AppPassword, error) {
		return &AppPassword{Name: r.Name, Privileged: r.Privileged, Created: time.UnixMicro(r.Created).UTC()}, nil
	})
}

// RevokeAppPassword deletes the app password name of the account d and
// revokes the sessions opened with it, in one transaction. It returns
// ErrNotFound when there is no such app password.
func (s *Store) RevokeAppPassword(ctx context.Context, d syntax.DID, name string) error {
	done, err := s.enter()
	if err != nil {
		return err
	}
	defer done()
	err = s.b.Update(ctx, nil, func(tx storage.WriteTx) error {
		id, err := repoID(ctx, tx, d)
		if err != nil {
			return err
		}
		deleted, err := tx.DeleteAppPassword(ctx, id, name)
		if err != nil {
			return err
		}
		if !deleted {
			return fmt.Errorf("app password %q: %w", name, ErrNotFound)
		}
		return tx.RevokeAppPasswordSessions(ctx, id, name, s.now().UnixMicro())
	})
	if err != nil {
		return fmt.Errorf("revoke app password of %s: %w", d, err)
	}
	return nil
}
