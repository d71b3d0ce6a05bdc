package did

import (
	"errors"

	"github.com/atlite-dev/atlite/internal/safehttp"
)

// ErrInvalidOperation is returned when a PLC operation is malformed: JSON or
// DAG-CBOR that does not follow the operation schema (unknown fields, wrong
// types, an unknown "type"), or an operation that breaks the directory's
// limits (number of rotation keys, size, key encodings).
var ErrInvalidOperation = errors.New("did: invalid plc operation")

// ErrBadSignature is returned when the signature of a PLC operation is
// missing, malformed, or made by none of the rotation keys allowed to sign it.
var ErrBadSignature = errors.New("did: bad operation signature")

// ErrBrokenChain is returned when PLC operations do not form a valid history:
// a genesis operation whose hash does not give the DID, a prev that does not
// name the expected (or any active) operation, a CID that does not match its
// operation, entries for another DID, or nullification flags that disagree
// with the recovery rules.
var ErrBrokenChain = errors.New("did: broken operation chain")

// ErrRecoveryWindow is returned when a recovery operation would nullify an
// operation older than the 72-hour recovery window, or is signed by a key
// that does not outrank the key that signed the first nullified operation.
var ErrRecoveryWindow = errors.New("did: recovery not allowed")

// ErrInvalidDocument is returned when a DID document is malformed: not a JSON
// object of the DID Core shape, fields of the wrong type, or an "id" that is
// not the DID that was resolved.
var ErrInvalidDocument = errors.New("did: invalid did document")

// ErrUnsupportedMethod is returned when a DID uses a method other than the
// ones this package handles (did:plc and did:web for resolution).
var ErrUnsupportedMethod = errors.New("did: unsupported did method")

// ErrInvalidDIDWeb is returned when a did:web cannot be turned into a safe
// HTTPS URL (bad host, empty or dangerous path segments, bad escapes).
var ErrInvalidDIDWeb = errors.New("did: invalid did:web")

// ErrNotFound is returned when a DID or handle does not resolve: the server
// answers 404, a handle has neither a usable DNS TXT record nor a well-known
// file, or a handle's DNS records name more than one DID.
var ErrNotFound = errors.New("did: not found")

// ErrDeactivated is returned when a DID has been tombstoned or deactivated
// (the PLC directory answers 410 Gone).
var ErrDeactivated = errors.New("did: deactivated")

// ErrNoHandle is returned when a DID document has no valid at:// handle in
// alsoKnownAs.
var ErrNoHandle = errors.New("did: no handle in did document")

// ErrNoKey is returned when a DID document has no usable verification method
// with the requested id (such as #atproto).
var ErrNoKey = errors.New("did: no such key in did document")

// ErrNoService is returned when a DID document has no usable service entry
// with the requested id (such as #atproto_pds).
var ErrNoService = errors.New("did: no such service in did document")

// ErrHandleMismatch is returned when the bidirectional check between a
// handle and a DID fails: the handle resolves to another DID, or the DID
// document claims another handle.
var ErrHandleMismatch = errors.New("did: handle and did do not match")

// ErrResponseTooLarge is returned when an HTTP response body is larger than
// the configured limit.
var ErrResponseTooLarge = errors.New("did: response too large")

// ErrRedirect is returned when a server redirects to a URL this package
// refuses to follow: a scheme other than http or https, a downgrade from
// https to http, or more than 10 redirects.
var ErrRedirect = errors.New("did: redirect refused")

// ErrHTTPStatus is returned when a server answers with an unexpected HTTP
// status (other than the 404 and 410 mapped to ErrNotFound and
// ErrDeactivated).
var ErrHTTPStatus = errors.New("did: unexpected http status")

// ErrRejected is returned when the PLC directory refuses an operation (any
// 4xx answer to a POST); the error text carries the directory's message.
var ErrRejected = errors.New("did: operation rejected by directory")

// ErrForbiddenAddress is returned when the [Resolver]'s default HTTP client
// refuses to connect to an address that is not public (loopback, private,
// link-local, CGNAT, multicast, unspecified, ...): a did:web or handle host
// that is such an IP literal or resolves to one, or a redirect to one. The
// error text names the address. It is the same value as
// [github.com/atlite-dev/atlite.ErrForbiddenAddress].
var ErrForbiddenAddress = safehttp.ErrForbiddenAddress
