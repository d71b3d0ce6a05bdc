package did

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/mr-tron/base58"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

// Operation types, the value of an operation's "type" field.
const (
	// TypeOperation is a regular creation or update operation.
	TypeOperation = "plc_operation"
	// TypeTombstone deactivates a DID for good (subject to recovery).
	TypeTombstone = "plc_tombstone"
	// TypeCreate is the deprecated genesis format, still found at the start
	// of old DIDs' logs. New operations never use it.
	TypeCreate = "create"
)

// Identifiers that atproto uses inside PLC operations and DID documents.
const (
	// KeyIDAtproto is the verificationMethods entry holding the repository
	// signing key ("#atproto" in a DID document).
	KeyIDAtproto = "atproto"
	// ServiceIDPDS is the services entry naming the account's PDS
	// ("#atproto_pds" in a DID document).
	ServiceIDPDS = "atproto_pds"
	// ServiceTypePDS is the type of the atproto_pds service.
	ServiceTypePDS = "AtprotoPersonalDataServer"
)

// Limits the PLC directory enforces on new operations (see
// [Operation.Validate]).
const (
	// MaxOperationSize is the largest signed operation, in DAG-CBOR bytes.
	MaxOperationSize = 7500
	// MaxRotationKeys is the largest number of rotation keys.
	MaxRotationKeys = 5
	// MaxVerificationMethods is the largest number of verification methods.
	MaxVerificationMethods = 10
)

// plcIDLength is the number of base32 characters of a did:plc identifier.
const plcIDLength = 24

var base32Lower = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Service is a service entry of a PLC operation, such as the atproto_pds
// entry {Type: "AtprotoPersonalDataServer", Endpoint: "https://pds.example"}.
type Service struct {
	Type     string `json:"type"`
	Endpoint string `json:"endpoint"`
}

// LegacyCreate holds the fields of a deprecated "create" genesis operation.
type LegacyCreate struct {
	// SigningKey is the did:key of the atproto signing key; it is also the
	// second rotation key.
	SigningKey string
	// RecoveryKey is the did:key of the first rotation key.
	RecoveryKey string
	// Handle is the bare handle, without "at://".
	Handle string
	// Service is the PDS URL.
	Service string
}

// Operation is a did:plc operation: a regular operation (Type
// [TypeOperation]), a tombstone ([TypeTombstone]) or a legacy genesis
// ([TypeCreate], with its fields in Legacy).
//
// The fields hold the operation exactly as encoded: RotationKeys,
// VerificationMethods, AlsoKnownAs and Services are used only by regular
// operations, Legacy only by legacy ones. Prev is the CID string of the
// previous operation, nil for a genesis operation (encoded as null, never
// omitted). Sig is the base64url signature without padding, "" while the
// operation is unsigned.
//
// An Operation is a plain value: it is not safe to modify concurrently, and
// functions of this package that keep an operation keep a copy (see
// [Operation.Clone]).
type Operation struct {
	Type                string
	RotationKeys        []string
	VerificationMethods map[string]string
	AlsoKnownAs         []string
	Services            map[string]Service
	Prev                *string
	Sig                 string
	Legacy              *LegacyCreate
}

// Clone returns a deep copy of op.
func (op *Operation) Clone() *Operation {
	c := *op
	c.RotationKeys = slices.Clone(op.RotationKeys)
	c.VerificationMethods = maps.Clone(op.VerificationMethods)
	c.AlsoKnownAs = slices.Clone(op.AlsoKnownAs)
	c.Services = maps.Clone(op.Services)
	if op.Prev != nil {
		p := *op.Prev
		c.Prev = &p
	}
	if op.Legacy != nil {
		l := *op.Legacy
		c.Legacy = &l
	}
	return &c
}

// NewGenesis returns an unsigned genesis operation for a new atproto account:
// the given rotation keys (in priority order), the signing key as
// verificationMethods.atproto, "at://" + handle (lower-cased) as the only
// alsoKnownAs entry, and pdsEndpoint as the atproto_pds service.
//
// pdsEndpoint must be an http or https URL with a host and nothing after it
// (no path, not even "/", no query). Sign the operation with one of the
// rotation keys, then derive the DID with [Operation.DID].
func NewGenesis(rotationKeys []keys.PublicKey, signingKey keys.PublicKey, handle syntax.Handle, pdsEndpoint string) (*Operation, error) {
	if len(rotationKeys) == 0 || len(rotationKeys) > MaxRotationKeys {
		return nil, fmt.Errorf("%w: %d rotation keys, want 1 to %d", ErrInvalidOperation, len(rotationKeys), MaxRotationKeys)
	}
	if signingKey == nil {
		return nil, fmt.Errorf("%w: no signing key", ErrInvalidOperation)
	}
	h, err := syntax.ParseHandle(string(handle))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOperation, err)
	}
	if err := checkEndpoint(pdsEndpoint); err != nil {
		return nil, err
	}
	op := &Operation{
		Type:                TypeOperation,
		VerificationMethods: map[string]string{KeyIDAtproto: signingKey.DIDKey()},
		AlsoKnownAs:         []string{"at://" + string(h.Normalize())},
		Services:            map[string]Service{ServiceIDPDS: {Type: ServiceTypePDS, Endpoint: pdsEndpoint}},
	}
	for _, k := range rotationKeys {
		if k == nil {
			return nil, fmt.Errorf("%w: nil rotation key", ErrInvalidOperation)
		}
		op.RotationKeys = append(op.RotationKeys, k.DIDKey())
	}
	if err := checkRotationKeys(op.RotationKeys); err != nil {
		return nil, err
	}
	return op, nil
}

// Update lists the changes an update operation makes. Zero fields keep the
// previous value.
type Update struct {
	// Handle replaces the first at:// entry of alsoKnownAs (or is put first
	// if there is none); other entries are kept in order.
	Handle syntax.Handle
	// PDSEndpoint replaces the endpoint of the atproto_pds service (adding
	// the service if missing); other services are kept.
	PDSEndpoint string
	// SigningKey replaces verificationMethods.atproto; other verification
	// methods are kept.
	SigningKey keys.PublicKey
	// RotationKeys, when non-nil, replaces the rotation keys.
	RotationKeys []keys.PublicKey
}

// NewUpdate returns an unsigned operation that follows prev (a signed regular
// or legacy genesis operation): a copy of prev's content with the changes of
// u applied and Prev set to prev's CID. Everything u does not mention is
// kept, including unknown verification methods, services and alsoKnownAs
// entries. Sign the result with one of prev's rotation keys.
func NewUpdate(prev *Operation, u Update) (*Operation, error) {
	next, err := successor(prev)
	if err != nil {
		return nil, err
	}
	if u.Handle != "" {
		h, err := syntax.ParseHandle(string(u.Handle))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidOperation, err)
		}
		uri := "at://" + string(h.Normalize())
		i := slices.IndexFunc(next.AlsoKnownAs, func(s string) bool { return strings.HasPrefix(s, "at://") })
		if i >= 0 {
			next.AlsoKnownAs[i] = uri
		} else {
			next.AlsoKnownAs = slices.Insert(next.AlsoKnownAs, 0, uri)
		}
	}
	if u.PDSEndpoint != "" {
		if err := checkEndpoint(u.PDSEndpoint); err != nil {
			return nil, err
		}
		next.Services[ServiceIDPDS] = Service{Type: ServiceTypePDS, Endpoint: u.PDSEndpoint}
	}
	if u.SigningKey != nil {
		next.VerificationMethods[KeyIDAtproto] = u.SigningKey.DIDKey()
	}
	if u.RotationKeys != nil {
		rk := make([]string, 0, len(u.RotationKeys))
		for _, k := range u.RotationKeys {
			if k == nil {
				return nil, fmt.Errorf("%w: nil rotation key", ErrInvalidOperation)
			}
			rk = append(rk, k.DIDKey())
		}
		if err := checkRotationKeys(rk); err != nil {
			return nil, err
		}
		next.RotationKeys = rk
	}
	return next, nil
}

// NewTombstone returns an unsigned tombstone operation following prev, which
// must be signed. Sign it with one of prev's rotation keys.
func NewTombstone(prev *Operation) (*Operation, error) {
	if prev.Type == TypeTombstone {
		return nil, fmt.Errorf("%w: the did is already tombstoned", ErrInvalidOperation)
	}
	c, err := prev.CID()
	if err != nil {
		return nil, err
	}
	p := c.String()
	return &Operation{Type: TypeTombstone, Prev: &p}, nil
}

// successor returns an unsigned regular copy of prev's content whose Prev is
// prev's CID.
func successor(prev *Operation) (*Operation, error) {
	if prev.Type == TypeTombstone {
		return nil, fmt.Errorf("%w: cannot follow a tombstone", ErrInvalidOperation)
	}
	c, err := prev.CID()
	if err != nil {
		return nil, err
	}
	next, err := prev.regular()
	if err != nil {
		return nil, err
	}
	p := c.String()
	next.Prev = &p
	return next, nil
}

// regular returns an unsigned copy of op's content as a regular operation
// with a nil Prev, converting a legacy genesis operation the way the
// directory does.
func (op *Operation) regular() (*Operation, error) {
	switch op.Type {
	case TypeOperation:
		c := op.Clone()
		c.Prev, c.Sig = nil, ""
		if c.VerificationMethods == nil {
			c.VerificationMethods = map[string]string{}
		}
		if c.Services == nil {
			c.Services = map[string]Service{}
		}
		return c, nil
	case TypeCreate:
		if op.Legacy == nil {
			return nil, fmt.Errorf("%w: legacy operation without its fields", ErrInvalidOperation)
		}
		l := op.Legacy
		return &Operation{
			Type:                TypeOperation,
			RotationKeys:        []string{l.RecoveryKey, l.SigningKey},
			VerificationMethods: map[string]string{KeyIDAtproto: l.SigningKey},
			AlsoKnownAs:         []string{ensureATPrefix(l.Handle)},
			Services:            map[string]Service{ServiceIDPDS: {Type: ServiceTypePDS, Endpoint: ensureHTTPPrefix(l.Service)}},
		}, nil
	default:
		return nil, fmt.Errorf("%w: %q operation has no content", ErrInvalidOperation, op.Type)
	}
}

func ensureATPrefix(h string) string {
	if strings.HasPrefix(h, "at://") {
		return h
	}
	h = strings.TrimPrefix(strings.TrimPrefix(h, "http://"), "https://")
	return "at://" + h
}

func ensureHTTPPrefix(s string) string {
	if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") {
		return s
	}
	return "https://" + s
}

// rotationKeys returns the did:keys allowed to sign the operation that
// follows op: its rotation keys, [recovery, signing] for a legacy genesis,
// none for a tombstone.
func (op *Operation) rotationKeys() []string {
	switch op.Type {
	case TypeOperation:
		return op.RotationKeys
	case TypeCreate:
		if op.Legacy != nil {
			return []string{op.Legacy.RecoveryKey, op.Legacy.SigningKey}
		}
	}
	return nil
}

// dataModel returns op as a data model map, with "sig" if withSig.
func (op *Operation) dataModel(withSig bool) (map[string]any, error) {
	var prev any
	if op.Prev != nil {
		prev = *op.Prev
	}
	var m map[string]any
	switch op.Type {
	case TypeOperation:
		vm := make(map[string]any, len(op.VerificationMethods))
		for k, v := range op.VerificationMethods {
			vm[k] = v
		}
		svc := make(map[string]any, len(op.Services))
		for k, s := range op.Services {
			svc[k] = map[string]any{"type": s.Type, "endpoint": s.Endpoint}
		}
		m = map[string]any{
			"type":                op.Type,
			"rotationKeys":        op.RotationKeys,
			"verificationMethods": vm,
			"alsoKnownAs":         op.AlsoKnownAs,
			"services":            svc,
			"prev":                prev,
		}
	case TypeTombstone:
		if op.Prev == nil {
			return nil, fmt.Errorf("%w: tombstone without prev", ErrInvalidOperation)
		}
		m = map[string]any{"type": op.Type, "prev": prev}
	case TypeCreate:
		if op.Legacy == nil {
			return nil, fmt.Errorf("%w: legacy operation without its fields", ErrInvalidOperation)
		}
		if op.Prev != nil {
			return nil, fmt.Errorf("%w: legacy create operation with a prev", ErrInvalidOperation)
		}
		m = map[string]any{
			"type":        op.Type,
			"signingKey":  op.Legacy.SigningKey,
			"recoveryKey": op.Legacy.RecoveryKey,
			"handle":      op.Legacy.Handle,
			"service":     op.Legacy.Service,
			"prev":        nil,
		}
	default:
		return nil, fmt.Errorf("%w: unknown type %q", ErrInvalidOperation, op.Type)
	}
	if withSig {
		if op.Sig == "" {
			return nil, fmt.Errorf("%w: operation is not signed", ErrBadSignature)
		}
		m["sig"] = op.Sig
	}
	return m, nil
}

// UnsignedBytes returns the DAG-CBOR encoding of op without its "sig" field:
// the bytes a rotation key signs.
func (op *Operation) UnsignedBytes() ([]byte, error) {
	m, err := op.dataModel(false)
	if err != nil {
		return nil, err
	}
	b, err := datamodel.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOperation, err)
	}
	return b, nil
}

// Bytes returns the DAG-CBOR encoding of the signed operation, from which
// its CID and (for a genesis operation) its DID are computed. It fails with
// [ErrBadSignature] if op is unsigned.
func (op *Operation) Bytes() ([]byte, error) {
	m, err := op.dataModel(true)
	if err != nil {
		return nil, err
	}
	b, err := datamodel.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOperation, err)
	}
	return b, nil
}

// CID returns the CID of the signed operation (CIDv1, dag-cbor, SHA-256),
// the value the next operation's Prev holds.
func (op *Operation) CID() (cid.Cid, error) {
	b, err := op.Bytes()
	if err != nil {
		return cid.Undef, err
	}
	return datamodel.CBORCID(b), nil
}

// DID derives the did:plc of a signed genesis operation: "did:plc:" followed
// by the first 24 characters of the lower-case, unpadded base32 encoding of
// the SHA-256 of the signed operation's DAG-CBOR. It works offline; the DID
// exists only once the operation is submitted to a directory.
func (op *Operation) DID() (syntax.DID, error) {
	if op.Prev != nil || op.Type == TypeTombstone {
		return "", fmt.Errorf("%w: not a genesis operation", ErrInvalidOperation)
	}
	b, err := op.Bytes()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return syntax.DID("did:plc:" + base32Lower.EncodeToString(sum[:])[:plcIDLength]), nil
}

// Sign signs op with a rotation key: an ECDSA signature (64 bytes, r||s,
// low-S) over [Operation.UnsignedBytes], stored in Sig as base64url without
// padding. Any previous signature is replaced. Signing is deterministic.
func (op *Operation) Sign(key keys.PrivateKey) error {
	b, err := op.UnsignedBytes()
	if err != nil {
		return err
	}
	sig, err := key.Sign(b)
	if err != nil {
		return fmt.Errorf("sign plc operation: %w", err)
	}
	op.Sig = base64.RawURLEncoding.EncodeToString(sig)
	return nil
}

// Verify checks that op is signed by pub. The signature must be canonical
// base64url without padding of a 64-byte low-S signature; anything else
// fails with an error wrapping [ErrBadSignature].
func (op *Operation) Verify(pub keys.PublicKey) error {
	sig, err := decodeSig(op.Sig)
	if err != nil {
		return err
	}
	b, err := op.UnsignedBytes()
	if err != nil {
		return err
	}
	if err := pub.Verify(b, sig); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return nil
}

// verifyAny returns the index in didKeys of the key that signed op. Keys
// that do not parse are skipped.
func (op *Operation) verifyAny(didKeys []string) (int, error) {
	sig, err := decodeSig(op.Sig)
	if err != nil {
		return -1, err
	}
	b, err := op.UnsignedBytes()
	if err != nil {
		return -1, err
	}
	for i, dk := range didKeys {
		pub, err := keys.ParseDIDKey(dk)
		if err != nil {
			continue
		}
		if pub.Verify(b, sig) == nil {
			return i, nil
		}
	}
	return -1, fmt.Errorf("%w: signed by none of %d allowed rotation keys", ErrBadSignature, len(didKeys))
}

// decodeSig decodes a base64url signature, refusing padding, line breaks and
// non-zero trailing bits, which would let one signature have several
// encodings (and so an operation several CIDs).
func decodeSig(s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: operation is not signed", ErrBadSignature)
	}
	if strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("%w: line break in signature", ErrBadSignature)
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: signature is not canonical base64url: %v", ErrBadSignature, err)
	}
	if len(sig) != 64 {
		return nil, fmt.Errorf("%w: signature has %d bytes, want 64", ErrBadSignature, len(sig))
	}
	return sig, nil
}

// Validate checks op against the rules the PLC directory applies to a new
// operation, beyond the schema that parsing already enforces: a regular
// operation has 1 to 5 distinct K-256 or P-256 rotation keys, at most 10
// verification methods whose values are base58btc did:keys, ids without '#';
// prev is null or a dag-cbor CID; a legacy genesis has parseable keys and a
// null prev; the signature, if present, is 64 bytes of canonical base64url;
// the signed operation fits in [MaxOperationSize] bytes. Errors wrap
// [ErrInvalidOperation] or [ErrBadSignature].
//
// Operations read from an existing log are not validated this way, since
// older operations predate some of these limits.
func (op *Operation) Validate() error {
	switch op.Type {
	case TypeOperation:
		if err := checkRotationKeys(op.RotationKeys); err != nil {
			return err
		}
		if len(op.VerificationMethods) > MaxVerificationMethods {
			return fmt.Errorf("%w: %d verification methods, at most %d", ErrInvalidOperation, len(op.VerificationMethods), MaxVerificationMethods)
		}
		for id, dk := range op.VerificationMethods {
			if err := checkID(id); err != nil {
				return err
			}
			if err := checkAnyDIDKey(dk); err != nil {
				return err
			}
		}
		for id := range op.Services {
			if err := checkID(id); err != nil {
				return err
			}
		}
	case TypeTombstone:
		if op.Prev == nil {
			return fmt.Errorf("%w: tombstone without prev", ErrInvalidOperation)
		}
	case TypeCreate:
		if op.Legacy == nil {
			return fmt.Errorf("%w: legacy operation without its fields", ErrInvalidOperation)
		}
		if op.Prev != nil {
			return fmt.Errorf("%w: legacy create operation with a prev", ErrInvalidOperation)
		}
		for _, dk := range []string{op.Legacy.SigningKey, op.Legacy.RecoveryKey} {
			if _, err := keys.ParseDIDKey(dk); err != nil {
				return fmt.Errorf("%w: %w", ErrInvalidOperation, err)
			}
		}
	default:
		return fmt.Errorf("%w: unknown type %q", ErrInvalidOperation, op.Type)
	}
	if op.Prev != nil {
		c, err := datamodel.ParseCID(*op.Prev)
		if err != nil || c.Prefix().Codec != datamodel.CodecDagCBOR {
			return fmt.Errorf("%w: prev %q is not a dag-cbor cid", ErrInvalidOperation, *op.Prev)
		}
	}
	var b []byte
	var err error
	if op.Sig != "" {
		if _, err := decodeSig(op.Sig); err != nil {
			return err
		}
		b, err = op.Bytes()
	} else {
		b, err = op.UnsignedBytes()
	}
	if err != nil {
		return err
	}
	if len(b) > MaxOperationSize {
		return fmt.Errorf("%w: %d bytes of dag-cbor, at most %d", ErrInvalidOperation, len(b), MaxOperationSize)
	}
	return nil
}

func checkRotationKeys(rk []string) error {
	if len(rk) == 0 || len(rk) > MaxRotationKeys {
		return fmt.Errorf("%w: %d rotation keys, want 1 to %d", ErrInvalidOperation, len(rk), MaxRotationKeys)
	}
	for i, dk := range rk {
		if _, err := keys.ParseDIDKey(dk); err != nil {
			return fmt.Errorf("%w: rotation key %d: %w", ErrInvalidOperation, i, err)
		}
		if slices.Index(rk, dk) != i {
			return fmt.Errorf("%w: duplicate rotation key %s", ErrInvalidOperation, dk)
		}
	}
	return nil
}

func checkID(id string) error {
	if id == "" || strings.Contains(id, "#") {
		return fmt.Errorf("%w: bad id %q (empty or with '#')", ErrInvalidOperation, id)
	}
	return nil
}

// checkAnyDIDKey checks the syntax the directory requires of verification
// method keys, which may use any key type: "did:key:z" and base58btc.
func checkAnyDIDKey(s string) error {
	mb, ok := strings.CutPrefix(s, "did:key:z")
	if !ok || mb == "" {
		return fmt.Errorf("%w: %q is not a base58btc did:key", ErrInvalidOperation, s)
	}
	if _, err := base58.Decode(mb); err != nil {
		return fmt.Errorf("%w: %q is not a base58btc did:key", ErrInvalidOperation, s)
	}
	return nil
}

// checkEndpoint checks a PDS endpoint: an http or https URL with a host and
// no path, query, fragment or user info.
func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" ||
		strings.HasSuffix(s, "?") || strings.HasSuffix(s, "#") {
		return fmt.Errorf("%w: endpoint %q must be http(s)://host with nothing after the host", ErrInvalidOperation, s)
	}
	return nil
}
