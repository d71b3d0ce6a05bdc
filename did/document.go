package did

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

// JSON-LD contexts of the DID documents a PLC directory renders.
const (
	// ContextDID is the DID Core v1 context, always first.
	ContextDID = "https://www.w3.org/ns/did/v1"
	// ContextMultikey is the Multikey context, always second.
	ContextMultikey = "https://w3id.org/security/multikey/v1"
	// ContextSecp256k1 is added when a verification method is a K-256 key.
	ContextSecp256k1 = "https://w3id.org/security/suites/secp256k1-2019/v1"
	// ContextP256 is added when a verification method is a P-256 key.
	ContextP256 = "https://w3id.org/security/suites/ecdsa-2019/v1"
)

// Document is the part of a DID document that atproto uses.
//
// [ParseDocument] reads any DID Core document and keeps these fields;
// [State.Document] renders the document of a did:plc the way the PLC
// directory does. A Document is a plain value; the Resolver hands out a
// fresh copy on each call.
type Document struct {
	Context            []string
	ID                 syntax.DID
	AlsoKnownAs        []string
	VerificationMethod []VerificationMethod
	Service            []DocumentService
}

// VerificationMethod is a public key entry of a DID document.
type VerificationMethod struct {
	ID                 string `json:"id"`
	Type               string `json:"type"`
	Controller         string `json:"controller"`
	PublicKeyMultibase string `json:"publicKeyMultibase"`
}

// DocumentService is a service entry of a DID document. Only entries whose
// serviceEndpoint is a string are kept by [ParseDocument].
type DocumentService struct {
	ID              string `json:"id"`
	Type            string `json:"type"`
	ServiceEndpoint string `json:"serviceEndpoint"`
}

// State is the current data of a did:plc, as the directory's /{did}/data
// endpoint serves it.
type State struct {
	DID                 syntax.DID         `json:"did"`
	VerificationMethods map[string]string  `json:"verificationMethods"`
	RotationKeys        []string           `json:"rotationKeys"`
	AlsoKnownAs         []string           `json:"alsoKnownAs"`
	Services            map[string]Service `json:"services"`
}

// State returns the data that op gives the DID d (legacy genesis operations
// are converted as the directory does). A tombstone has none and returns
// [ErrDeactivated].
func (op *Operation) State(d syntax.DID) (*State, error) {
	if op.Type == TypeTombstone {
		return nil, fmt.Errorf("%w: %s is tombstoned", ErrDeactivated, d)
	}
	r, err := op.regular()
	if err != nil {
		return nil, err
	}
	s := &State{
		DID:                 d,
		VerificationMethods: r.VerificationMethods,
		RotationKeys:        r.RotationKeys,
		AlsoKnownAs:         r.AlsoKnownAs,
		Services:            r.Services,
	}
	if s.RotationKeys == nil {
		s.RotationKeys = []string{}
	}
	if s.AlsoKnownAs == nil {
		s.AlsoKnownAs = []string{}
	}
	return s, nil
}

// Document returns the DID document of d as of op; see [State.Document].
func (op *Operation) Document(d syntax.DID) (*Document, error) {
	s, err := op.State(d)
	if err != nil {
		return nil, err
	}
	return s.Document(), nil
}

// Document renders s as the PLC directory does: contexts DID v1 and
// Multikey, plus the suite context of each verification method's curve
// (secp256k1-2019 for K-256, ecdsa-2019 for P-256; nothing for other key
// types); one Multikey verification method "<did>#<id>" per entry, its
// publicKeyMultibase being the did:key without "did:key:"; one service
// "#<id>" per entry. Verification methods and services are listed in
// DAG-CBOR key order (shorter ids first, then bytewise), so "atproto" comes
// before "atproto_label".
func (s *State) Document() *Document {
	doc := &Document{
		Context:            []string{ContextDID, ContextMultikey},
		ID:                 s.DID,
		AlsoKnownAs:        slices.Clone(s.AlsoKnownAs),
		VerificationMethod: []VerificationMethod{},
		Service:            []DocumentService{},
	}
	if doc.AlsoKnownAs == nil {
		doc.AlsoKnownAs = []string{}
	}
	for _, id := range sortedKeys(s.VerificationMethods) {
		dk := s.VerificationMethods[id]
		if pub, err := keys.ParseDIDKey(dk); err == nil {
			ctx := ContextSecp256k1
			if pub.Curve() == keys.P256 {
				ctx = ContextP256
			}
			if !slices.Contains(doc.Context, ctx) {
				doc.Context = append(doc.Context, ctx)
			}
		}
		doc.VerificationMethod = append(doc.VerificationMethod, VerificationMethod{
			ID:                 string(s.DID) + "#" + id,
			Type:               keys.TypeMultikey,
			Controller:         string(s.DID),
			PublicKeyMultibase: strings.TrimPrefix(dk, keys.DIDKeyPrefix),
		})
	}
	for _, id := range sortedKeys(s.Services) {
		svc := s.Services[id]
		doc.Service = append(doc.Service, DocumentService{ID: "#" + id, Type: svc.Type, ServiceEndpoint: svc.Endpoint})
	}
	return doc
}

// clone returns a deep copy of doc.
func (doc *Document) clone() *Document {
	c := *doc
	c.Context = slices.Clone(doc.Context)
	c.AlsoKnownAs = slices.Clone(doc.AlsoKnownAs)
	c.VerificationMethod = slices.Clone(doc.VerificationMethod)
	c.Service = slices.Clone(doc.Service)
	return &c
}

type documentJSON struct {
	Context            []string             `json:"@context"`
	ID                 syntax.DID           `json:"id"`
	AlsoKnownAs        []string             `json:"alsoKnownAs"`
	VerificationMethod []VerificationMethod `json:"verificationMethod"`
	Service            []DocumentService    `json:"service"`
}

// MarshalJSON encodes doc with the field order of the PLC directory
// ("@context", "id", "alsoKnownAs", "verificationMethod", "service"); nil
// lists are written as [].
func (doc *Document) MarshalJSON() ([]byte, error) {
	j := documentJSON(*doc)
	if j.Context == nil {
		j.Context = []string{}
	}
	if j.AlsoKnownAs == nil {
		j.AlsoKnownAs = []string{}
	}
	if j.VerificationMethod == nil {
		j.VerificationMethod = []VerificationMethod{}
	}
	if j.Service == nil {
		j.Service = []DocumentService{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(j); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// UnmarshalJSON parses b with [ParseDocument] into doc.
func (doc *Document) UnmarshalJSON(b []byte) error {
	d, err := ParseDocument(b)
	if err != nil {
		return err
	}
	*doc = *d
	return nil
}

// ParseDocument parses a DID document. It must be a JSON object whose "id"
// is a valid DID; "@context" may be a string or a list of strings;
// "alsoKnownAs" a list of strings; "verificationMethod" a list of objects
// with string "id", "type", "controller" and (optional) "publicKeyMultibase";
// "service" a list of objects with string "id" and "type". Services whose
// serviceEndpoint is not a string (DID Core also allows maps and lists) are
// left out. Other fields are ignored. Errors wrap [ErrInvalidDocument].
func ParseDocument(b []byte) (*Document, error) {
	var raw struct {
		Context            json.RawMessage      `json:"@context"`
		ID                 *string              `json:"id"`
		AlsoKnownAs        []string             `json:"alsoKnownAs"`
		VerificationMethod []VerificationMethod `json:"verificationMethod"`
		Service            []struct {
			ID              string          `json:"id"`
			Type            string          `json:"type"`
			ServiceEndpoint json.RawMessage `json:"serviceEndpoint"`
		} `json:"service"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidDocument, err)
	}
	if raw.ID == nil {
		return nil, fmt.Errorf("%w: no id", ErrInvalidDocument)
	}
	id, err := syntax.ParseDID(*raw.ID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidDocument, err)
	}
	doc := &Document{ID: id, AlsoKnownAs: raw.AlsoKnownAs, VerificationMethod: raw.VerificationMethod}
	if len(raw.Context) > 0 && string(raw.Context) != "null" {
		var one string
		if json.Unmarshal(raw.Context, &one) == nil {
			doc.Context = []string{one}
		} else if err := json.Unmarshal(raw.Context, &doc.Context); err != nil {
			return nil, fmt.Errorf("%w: @context must be a string or a list of strings", ErrInvalidDocument)
		}
	}
	for i, vm := range doc.VerificationMethod {
		if vm.ID == "" {
			return nil, fmt.Errorf("%w: verificationMethod %d has no id", ErrInvalidDocument, i)
		}
	}
	for i, s := range raw.Service {
		if s.ID == "" {
			return nil, fmt.Errorf("%w: service %d has no id", ErrInvalidDocument, i)
		}
		var ep string
		if json.Unmarshal(s.ServiceEndpoint, &ep) != nil {
			continue
		}
		doc.Service = append(doc.Service, DocumentService{ID: s.ID, Type: s.Type, ServiceEndpoint: ep})
	}
	return doc, nil
}

// matchID reports whether a document entry id ("#x" or "<did>#x") names the
// fragment frag of doc.
func (doc *Document) matchID(entryID, frag string) bool {
	return entryID == "#"+frag || entryID == string(doc.ID)+"#"+frag
}

// Handle returns the handle the document claims: the authority of the first
// alsoKnownAs entry starting with "at://", lower-cased. If there is none, or
// it is not a valid handle (a DID, say), it returns [ErrNoHandle]. The
// claim is not verified; see [Resolver.LookupDID].
func (doc *Document) Handle() (syntax.Handle, error) {
	for _, aka := range doc.AlsoKnownAs {
		rest, ok := strings.CutPrefix(aka, "at://")
		if !ok {
			continue
		}
		h, err := syntax.ParseHandle(rest)
		if err != nil {
			return "", fmt.Errorf("%w: %q: %w", ErrNoHandle, aka, err)
		}
		return h.Normalize(), nil
	}
	return "", fmt.Errorf("%w: %s", ErrNoHandle, doc.ID)
}

// Key returns the public key of the verification method with the fragment
// id (without '#'), whose id may be written relative ("#atproto") or
// absolute ("did:plc:...#atproto"). Multikey and the legacy
// EcdsaSecp256k1VerificationKey2019 and EcdsaSecp256r1VerificationKey2019
// types are understood. Errors wrap [ErrNoKey].
func (doc *Document) Key(id string) (keys.PublicKey, error) {
	for _, vm := range doc.VerificationMethod {
		if !doc.matchID(vm.ID, id) {
			continue
		}
		pub, err := keys.ParsePublicKeyMultibase(vm.Type, vm.PublicKeyMultibase)
		if err != nil {
			return nil, fmt.Errorf("%w: #%s of %s: %w", ErrNoKey, id, doc.ID, err)
		}
		return pub, nil
	}
	return nil, fmt.Errorf("%w: #%s of %s", ErrNoKey, id, doc.ID)
}

// SigningKey returns the atproto signing key, the #atproto verification
// method.
func (doc *Document) SigningKey() (keys.PublicKey, error) {
	return doc.Key(KeyIDAtproto)
}

// ServiceEndpoint returns the endpoint of the service with fragment id
// (relative or absolute, as for [Document.Key]) and type typ (any type if
// typ is ""). The endpoint must be an http or https URL with a host.
// Errors wrap [ErrNoService].
func (doc *Document) ServiceEndpoint(id, typ string) (string, error) {
	for _, s := range doc.Service {
		if !doc.matchID(s.ID, id) {
			continue
		}
		if typ != "" && s.Type != typ {
			return "", fmt.Errorf("%w: #%s of %s has type %q, want %q", ErrNoService, id, doc.ID, s.Type, typ)
		}
		u, err := url.Parse(s.ServiceEndpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return "", fmt.Errorf("%w: #%s of %s: endpoint %q is not an http(s) url", ErrNoService, id, doc.ID, s.ServiceEndpoint)
		}
		return s.ServiceEndpoint, nil
	}
	return "", fmt.Errorf("%w: #%s of %s", ErrNoService, id, doc.ID)
}

// PDSEndpoint returns the URL of the account's PDS, the #atproto_pds service
// of type AtprotoPersonalDataServer.
func (doc *Document) PDSEndpoint() (string, error) {
	return doc.ServiceEndpoint(ServiceIDPDS, ServiceTypePDS)
}
