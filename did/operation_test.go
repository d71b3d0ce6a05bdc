package did_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/fxamacker/cbor/v2"

	"github.com/atlite-dev/atlite/did"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

// The genesis operation of SPEC 19.4 #24: handle han.dull, endpoint
// https://localhost:8080, arroba's test key (seed 2349872879569) as both
// rotation and signing key. Signing is deterministic, so every value is
// fixed.
const (
	repoDIDKey      = "did:key:zQ3shSEfbKCbty32G2fFh8ULBjCn5W24CBbgKxBr3zNBK6Rf4"
	genesisUnsigned = `{"alsoKnownAs":["at://han.dull"],"prev":null,"rotationKeys":["` + repoDIDKey + `"],"services":{"atproto_pds":{"endpoint":"https://localhost:8080","type":"AtprotoPersonalDataServer"}},"type":"plc_operation","verificationMethods":{"atproto":"` + repoDIDKey + `"}}`
	genesisSig      = "du5Jvz_TJ51xpxf60tkg7dtm86bahRIGuVECCGrf8mE9bWtdTgdfE1UZjSk9ykJkLd4ew24dQjWORVKOAeQlCg"
	genesisSigned   = `{"alsoKnownAs":["at://han.dull"],"prev":null,"rotationKeys":["` + repoDIDKey + `"],"services":{"atproto_pds":{"endpoint":"https://localhost:8080","type":"AtprotoPersonalDataServer"}},"sig":"` + genesisSig + `","type":"plc_operation","verificationMethods":{"atproto":"` + repoDIDKey + `"}}`
	genesisDID      = "did:plc:hjnvwtbb5h75bqjr37yq7myh"
	genesisCID      = "bafyreib2lnnuyipj77imcmo76eh3gb73mvw6tat5xeyiw2uv5hsou3fpze"
	genesisDoc      = `{"@context":["https://www.w3.org/ns/did/v1","https://w3id.org/security/multikey/v1","https://w3id.org/security/suites/secp256k1-2019/v1"],` +
		`"id":"did:plc:hjnvwtbb5h75bqjr37yq7myh","alsoKnownAs":["at://han.dull"],` +
		`"verificationMethod":[{"id":"did:plc:hjnvwtbb5h75bqjr37yq7myh#atproto","type":"Multikey","controller":"did:plc:hjnvwtbb5h75bqjr37yq7myh","publicKeyMultibase":"zQ3shSEfbKCbty32G2fFh8ULBjCn5W24CBbgKxBr3zNBK6Rf4"}],` +
		`"service":[{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"https://localhost:8080"}]}`
)

// Two operations of a did:plc log produced by another implementation
// (testdata/log_nullification_nontrivial.json of
// github.com/did-method-plc/go-didplc): their CIDs, the DID and the
// signatures were computed there.
const (
	foreignDID     = "did:plc:ana7n2ppeqk57pay7azhjs24"
	foreignGenesis = `{"sig":"IypAT0szH_8Ygl7QrnXZrxemIcg_RkW_GyYbjih_9BEe5DRGgLxmQGeWsvB0TfDqm50c0xB8mGraOf25IA25qA","prev":null,"type":"plc_operation","services":{},"alsoKnownAs":["at://op0"],` +
		`"rotationKeys":["did:key:zQ3shhiASLv8GN7ob3iWqsAxP7nE95LUPWsNEb2jTfW7e2yCt","did:key:zQ3shsnWCW7HC7bYVnRcY5XxQpKArfafpB5S39DoqTkexuiTu"],"verificationMethods":{}}`
	foreignGenesisCID = "bafyreiadih3ot3zecxp3yghygj2mwxh3szrrifwer2z4iodazbrtuvmmgm"
	foreignSecond     = `{"sig":"eabKT5-1i2MW8Z7iWXHp2tlEYn1y6HmbuHexP-fgOzQq6RuNBGlWWOjMygxl8BK98FCNU8wvX9eWkM-soBrfow","prev":"bafyreiadih3ot3zecxp3yghygj2mwxh3szrrifwer2z4iodazbrtuvmmgm","type":"plc_operation","services":{},"alsoKnownAs":["at://op1"],` +
		`"rotationKeys":["did:key:zQ3shXPgp1NrzoXSpa7YTn9ZFUVco39X8ygph16Bj6Ku4NJd2","did:key:zQ3shd4eC3ykuq1GfpuyosoBLSX3JASu9qFXggqWGWwH9MXg6"],"verificationMethods":{}}`
	foreignSecondCID = "bafyreieshd5ujokbnxfzqmaoyimbdsiuwklji2st7ffga2vkhsozxn324u"
)

func TestGenesisVector(t *testing.T) {
	k := k256(t, seedRepo)
	op, err := did.NewGenesis([]keys.PublicKey{k.PublicKey()}, k.PublicKey(), "Han.Dull", "https://localhost:8080")
	if err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, op); got != genesisUnsigned {
		t.Errorf("unsigned genesis = %s, want %s", got, genesisUnsigned)
	}
	if _, err := op.DID(); !errors.Is(err, did.ErrBadSignature) {
		t.Errorf("DID() of unsigned op: error %v, want ErrBadSignature", err)
	}
	signed(t, op, k)
	if op.Sig != genesisSig {
		t.Errorf("Sig = %s, want %s", op.Sig, genesisSig)
	}
	if got := mustJSON(t, op); got != genesisSigned {
		t.Errorf("signed genesis = %s, want %s", got, genesisSigned)
	}
	d, err := op.DID()
	if err != nil || d != genesisDID || len(d) != 32 {
		t.Errorf("DID() = %q (len %d), %v; want %s (len 32)", d, len(d), err, genesisDID)
	}
	if got := mustCID(t, op); got != genesisCID {
		t.Errorf("CID() = %s, want %s", got, genesisCID)
	}
	doc, err := op.Document(d)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, doc); got != genesisDoc {
		t.Errorf("Document() = %s\nwant %s", got, genesisDoc)
	}

	// SPEC 19.4 #24: extra alsoKnownAs entries follow the handle.
	extra, err := did.NewGenesis([]keys.PublicKey{k.PublicKey()}, k.PublicKey(), "han.dull", "https://localhost:8080")
	if err != nil {
		t.Fatal(err)
	}
	extra.AlsoKnownAs = append(extra.AlsoKnownAs, "abc", "xyz")
	signed(t, extra, k)
	doc, err = extra.Document(genesisDID)
	if err != nil || !reflect.DeepEqual(doc.AlsoKnownAs, []string{"at://han.dull", "abc", "xyz"}) {
		t.Errorf("alsoKnownAs = %q, %v", doc.AlsoKnownAs, err)
	}
	if err := extra.Verify(k.PublicKey()); err != nil {
		t.Errorf("Verify() = %v", err)
	}
}

// TestGenesisOracle recomputes the signed genesis bytes, the DID and the
// signature check with independent code: fxamacker/cbor with length-first
// key sorting, crypto/sha256 with encoding/base32, and decred's ECDSA.
func TestGenesisOracle(t *testing.T) {
	k := k256(t, seedRepo)
	op, d := genesis(t, k, k)
	em, err := cbor.EncOptions{Sort: cbor.SortLengthFirst}.EncMode()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{
		"type":                "plc_operation",
		"rotationKeys":        []string{repoDIDKey},
		"verificationMethods": map[string]string{"atproto": repoDIDKey},
		"alsoKnownAs":         []string{"at://han.dull"},
		"services":            map[string]any{"atproto_pds": map[string]string{"type": "AtprotoPersonalDataServer", "endpoint": "https://localhost:8080"}},
		"prev":                nil,
	}
	unsigned, err := em.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := op.UnsignedBytes(); err != nil || !bytes.Equal(got, unsigned) {
		t.Errorf("UnsignedBytes() = %x, %v; fxamacker gives %x", got, err, unsigned)
	}
	m["sig"] = op.Sig
	full, err := em.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := op.Bytes(); err != nil || !bytes.Equal(got, full) {
		t.Errorf("Bytes() = %x, %v; fxamacker gives %x", got, err, full)
	}
	sum := sha256.Sum256(full)
	want := "did:plc:" + strings.ToLower(base32.StdEncoding.EncodeToString(sum[:]))[:24]
	if string(d) != want {
		t.Errorf("DID() = %s, want %s", d, want)
	}

	sig, err := base64.RawURLEncoding.DecodeString(op.Sig)
	if err != nil || len(sig) != 64 {
		t.Fatalf("sig %q: %v (len %d)", op.Sig, err, len(sig))
	}
	var r, s secp256k1.ModNScalar
	r.SetByteSlice(sig[:32])
	s.SetByteSlice(sig[32:])
	pub, err := secp256k1.ParsePubKey(k.PublicKey().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(unsigned)
	if !ecdsa.NewSignature(&r, &s).Verify(digest[:], pub) {
		t.Error("decred does not verify the genesis signature")
	}
	if s.IsOverHalfOrder() {
		t.Error("signature is high-S")
	}
}

func TestForeignOperations(t *testing.T) {
	first, err := did.ParseOperation([]byte(foreignGenesis))
	if err != nil {
		t.Fatal(err)
	}
	second, err := did.ParseOperation([]byte(foreignSecond))
	if err != nil {
		t.Fatal(err)
	}
	if got := mustCID(t, first); got != foreignGenesisCID {
		t.Errorf("CID(genesis) = %s, want %s", got, foreignGenesisCID)
	}
	if got := mustCID(t, second); got != foreignSecondCID {
		t.Errorf("CID(second) = %s, want %s", got, foreignSecondCID)
	}
	if d, err := first.DID(); err != nil || d != foreignDID {
		t.Errorf("DID() = %s, %v; want %s", d, err, foreignDID)
	}
	if err := did.VerifyChain(foreignDID, []*did.Operation{first, second}); err != nil {
		t.Errorf("VerifyChain(foreign log) = %v", err)
	}
	if err := did.VerifyChain(foreignDID, []*did.Operation{second}); !errors.Is(err, did.ErrBrokenChain) {
		t.Errorf("VerifyChain(without genesis) = %v, want ErrBrokenChain", err)
	}
}

func TestP256Document(t *testing.T) {
	// The example of the did:plc specification ("Presentation as DID
	// Document"): a P-256 signing key gets the ecdsa-2019 context.
	s := &did.State{
		DID:                 "did:plc:7iza6de2dwap2sbkpav7c6c6",
		VerificationMethods: map[string]string{"atproto": "did:key:zDnaeh9v2RmcMo13Du2d6pjUf5bZwtauYxj3n9dYjw4EZUAR7"},
		RotationKeys:        []string{"did:key:zDnaedvvAsDE6H3BDdBejpx9ve2Tz95cymyCAKF66JbyMh1Lt", "did:key:zDnaeh9v2RmcMo13Du2d6pjUf5bZwtauYxj3n9dYjw4EZUAR7"},
		AlsoKnownAs:         []string{"at://alice.test"},
		Services:            map[string]did.Service{"atproto_pds": {Type: "AtprotoPersonalDataServer", Endpoint: "https://example.test"}},
	}
	want := `{"@context":["https://www.w3.org/ns/did/v1","https://w3id.org/security/multikey/v1","https://w3id.org/security/suites/ecdsa-2019/v1"],` +
		`"id":"did:plc:7iza6de2dwap2sbkpav7c6c6","alsoKnownAs":["at://alice.test"],` +
		`"verificationMethod":[{"id":"did:plc:7iza6de2dwap2sbkpav7c6c6#atproto","type":"Multikey","controller":"did:plc:7iza6de2dwap2sbkpav7c6c6","publicKeyMultibase":"zDnaeh9v2RmcMo13Du2d6pjUf5bZwtauYxj3n9dYjw4EZUAR7"}],` +
		`"service":[{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"https://example.test"}]}`
	doc := s.Document()
	if got := mustJSON(t, doc); got != want {
		t.Errorf("Document() = %s\nwant %s", got, want)
	}
	key, err := doc.SigningKey()
	if err != nil || key.Curve() != keys.P256 || key.DIDKey() != s.VerificationMethods["atproto"] {
		t.Errorf("SigningKey() = %v, %v", key, err)
	}
	// Several methods and services come out in DAG-CBOR key order, with
	// each curve's context once.
	s.VerificationMethods["atproto_label"] = repoDIDKey
	s.VerificationMethods["zz"] = "did:key:zDnaedvvAsDE6H3BDdBejpx9ve2Tz95cymyCAKF66JbyMh1Lt"
	s.Services["atproto_labeler"] = did.Service{Type: "AtprotoLabeler", Endpoint: "https://label.test"}
	doc = s.Document()
	var ids []string
	for _, vm := range doc.VerificationMethod {
		ids = append(ids, vm.ID)
	}
	for _, sv := range doc.Service {
		ids = append(ids, sv.ID)
	}
	wantIDs := []string{"did:plc:7iza6de2dwap2sbkpav7c6c6#zz", "did:plc:7iza6de2dwap2sbkpav7c6c6#atproto", "did:plc:7iza6de2dwap2sbkpav7c6c6#atproto_label", "#atproto_pds", "#atproto_labeler"}
	if !reflect.DeepEqual(ids, wantIDs) {
		t.Errorf("ids = %q, want %q", ids, wantIDs)
	}
	wantCtx := []string{did.ContextDID, did.ContextMultikey, did.ContextP256, did.ContextSecp256k1}
	if !reflect.DeepEqual(doc.Context, wantCtx) {
		t.Errorf("Context = %q, want %q", doc.Context, wantCtx)
	}
}

func TestKeyDID(t *testing.T) {
	for _, k := range []keys.PrivateKey{k256(t, seedRepo), p256(t, seedRepo)} {
		d := did.KeyDID(k.PublicKey())
		pub, err := did.ParseKeyDID(d)
		if err != nil || !pub.Equal(k.PublicKey()) {
			t.Errorf("ParseKeyDID(%s) = %v, %v", d, pub, err)
		}
	}
	if got := did.KeyDID(k256(t, seedRepo).PublicKey()); got != repoDIDKey {
		t.Errorf("KeyDID = %s, want %s", got, repoDIDKey)
	}
	if got := string(did.KeyDID(p256(t, seedRepo).PublicKey())); !strings.HasPrefix(got, "did:key:zDna") {
		t.Errorf("P-256 KeyDID = %s, want did:key:zDna...", got)
	}
	if _, err := did.ParseKeyDID("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"); !errors.Is(err, keys.ErrInvalidKey) {
		t.Errorf("ParseKeyDID(ed25519) error = %v, want ErrInvalidKey", err)
	}
}

func TestParseOperationRoundTrip(t *testing.T) {
	k := k256(t, seedRepo)
	op, _ := genesis(t, k, k)
	upd, err := did.NewUpdate(op, did.Update{Handle: "new.ie"})
	if err != nil {
		t.Fatal(err)
	}
	signed(t, upd, k)
	tomb, err := did.NewTombstone(upd)
	if err != nil {
		t.Fatal(err)
	}
	signed(t, tomb, k)
	legacy := legacyGenesis(t)
	unsigned, _ := did.NewUpdate(op, did.Update{})
	for _, op := range []*did.Operation{op, upd, tomb, legacy, unsigned} {
		j := mustJSON(t, op)
		back, err := did.ParseOperation([]byte(j))
		if err != nil {
			t.Errorf("ParseOperation(%s) error: %v", j, err)
			continue
		}
		if !reflect.DeepEqual(back, op) {
			t.Errorf("ParseOperation(%s) = %+v, want %+v", j, back, op)
		}
		var b []byte
		if op.Sig != "" {
			b, err = op.Bytes()
		} else {
			b, err = op.UnsignedBytes()
		}
		if err != nil {
			t.Fatal(err)
		}
		fromCBOR, err := did.ParseOperationCBOR(b)
		if err != nil || !reflect.DeepEqual(fromCBOR, op) {
			t.Errorf("ParseOperationCBOR(%x) = %+v, %v; want %+v", b, fromCBOR, err, op)
		}
	}
}

func TestParseOperationErrors(t *testing.T) {
	const rk = `"rotationKeys":["` + repoDIDKey + `"],`
	const vm = `"verificationMethods":{"atproto":"` + repoDIDKey + `"},`
	const svc = `"services":{"atproto_pds":{"type":"AtprotoPersonalDataServer","endpoint":"https://a.b"}},`
	tests := []struct{ name, in string }{
		{"not json", `{`},
		{"array", `[]`},
		{"no type", `{"prev":null,"sig":"x"}`},
		{"numeric type", `{"type":1,"prev":null}`},
		{"unknown type", `{"type":"plc_update","prev":null}`},
		{"unknown field", `{"type":"plc_operation",` + rk + vm + `"alsoKnownAs":[],` + svc + `"prev":null,"extra":1}`},
		{"missing prev", `{"type":"plc_operation",` + rk + vm + `"alsoKnownAs":[],` + svc + `"sig":"x"}`},
		{"missing services", `{"type":"plc_operation",` + rk + vm + `"alsoKnownAs":[],"prev":null}`},
		{"prev number", `{"type":"plc_operation",` + rk + vm + `"alsoKnownAs":[],` + svc + `"prev":1}`},
		{"rotation key not string", `{"type":"plc_operation","rotationKeys":[1],` + vm + `"alsoKnownAs":[],` + svc + `"prev":null}`},
		{"rotationKeys object", `{"type":"plc_operation","rotationKeys":{},` + vm + `"alsoKnownAs":[],` + svc + `"prev":null}`},
		{"vm not string", `{"type":"plc_operation",` + rk + `"verificationMethods":{"atproto":null},"alsoKnownAs":[],` + svc + `"prev":null}`},
		{"aka not list", `{"type":"plc_operation",` + rk + vm + `"alsoKnownAs":"at://a.b",` + svc + `"prev":null}`},
		{"service extra field", `{"type":"plc_operation",` + rk + vm + `"alsoKnownAs":[],"services":{"atproto_pds":{"type":"x","endpoint":"y","z":"w"}},"prev":null}`},
		{"service missing endpoint", `{"type":"plc_operation",` + rk + vm + `"alsoKnownAs":[],"services":{"atproto_pds":{"type":"x","kind":"y"}},"prev":null}`},
		{"service string", `{"type":"plc_operation",` + rk + vm + `"alsoKnownAs":[],"services":{"atproto_pds":"https://a.b"},"prev":null}`},
		{"duplicate key", `{"type":"plc_operation",` + rk + vm + `"alsoKnownAs":[],` + svc + `"prev":null,"prev":null}`},
		{"float", `{"type":"plc_tombstone","prev":"x","sig":1.5}`},
		{"sig number", `{"type":"plc_tombstone","prev":"x","sig":1}`},
		{"empty sig", `{"type":"plc_tombstone","prev":"x","sig":""}`},
		{"tombstone null prev", `{"type":"plc_tombstone","prev":null,"sig":"x"}`},
		{"tombstone extra", `{"type":"plc_tombstone","prev":"x","sig":"x","rotationKeys":[]}`},
		{"legacy with prev", `{"type":"create","signingKey":"a","recoveryKey":"b","handle":"c","service":"d","prev":"x"}`},
		{"legacy missing handle", `{"type":"create","signingKey":"a","recoveryKey":"b","service":"d","prev":null}`},
		{"link object", `{"type":"plc_tombstone","prev":{"$link":"` + genesisCID + `"}}`},
		{"trailing data", `{"type":"plc_tombstone","prev":"x"} {}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, err := did.ParseOperation([]byte(tt.in))
			if op != nil || !errors.Is(err, did.ErrInvalidOperation) {
				t.Errorf("ParseOperation(%s) = %v, %v; want nil, ErrInvalidOperation", tt.in, op, err)
			}
		})
	}
	if op, err := did.ParseOperationCBOR([]byte{0xa1, 0x61, 0x61}); op != nil || !errors.Is(err, did.ErrInvalidOperation) {
		t.Errorf("ParseOperationCBOR(truncated) = %v, %v; want nil, ErrInvalidOperation", op, err)
	}
}

func TestVerify(t *testing.T) {
	k := k256(t, seedRepo)
	op, _ := genesis(t, k, k)
	if err := op.Verify(k.PublicKey()); err != nil {
		t.Fatalf("Verify(signer) = %v", err)
	}
	sig, _ := base64.RawURLEncoding.DecodeString(op.Sig)
	var s secp256k1.ModNScalar
	s.SetByteSlice(sig[32:])
	s.Negate()
	hs := s.Bytes()
	highS := base64.RawURLEncoding.EncodeToString(append(append([]byte{}, sig[:32]...), hs[:]...))
	flipped := append([]byte{}, sig...)
	flipped[10] ^= 1
	last := op.Sig[len(op.Sig)-1]
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	nonCanonical := op.Sig[:len(op.Sig)-1] + string(alphabet[strings.IndexByte(alphabet, last)|1])
	tests := []struct {
		name string
		sig  string
		key  keys.PublicKey
	}{
		{"other key", op.Sig, k256(t, seedOther).PublicKey()},
		{"p256 key", op.Sig, p256(t, seedRepo).PublicKey()},
		{"flipped bit", base64.RawURLEncoding.EncodeToString(flipped), k.PublicKey()},
		{"high S", highS, k.PublicKey()},
		{"padded", op.Sig + "==", k.PublicKey()},
		{"std alphabet", base64.RawStdEncoding.EncodeToString(sig), k.PublicKey()},
		{"non-canonical trailing bits", nonCanonical, k.PublicKey()},
		{"line break", op.Sig[:40] + "\n" + op.Sig[40:], k.PublicKey()},
		{"63 bytes", base64.RawURLEncoding.EncodeToString(sig[:63]), k.PublicKey()},
		{"unsigned", "", k.PublicKey()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := op.Clone()
			c.Sig = tt.sig
			if err := c.Verify(tt.key); !errors.Is(err, did.ErrBadSignature) {
				t.Errorf("Verify() = %v, want ErrBadSignature", err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	k := k256(t, seedRepo)
	base, _ := genesis(t, k, k)
	if err := base.Validate(); err != nil {
		t.Fatalf("Validate(genesis) = %v", err)
	}
	bad := "bafyreib2lnnuyipj77imcmo76eh3gb73mvw6tat5xeyiw2uv5hsou3fpz" // truncated
	raw := "bafkreib2lnnuyipj77imcmo76eh3gb73mvw6tat5xeyiw2uv5hsou3fpze"
	var six []string
	for i := uint64(1); i <= 6; i++ {
		six = append(six, k256(t, i).PublicKey().DIDKey())
	}
	tests := []struct {
		name string
		edit func(op *did.Operation)
		want error
	}{
		{"no rotation keys", func(op *did.Operation) { op.RotationKeys = nil }, did.ErrInvalidOperation},
		{"six rotation keys", func(op *did.Operation) { op.RotationKeys = six }, did.ErrInvalidOperation},
		{"duplicate rotation key", func(op *did.Operation) { op.RotationKeys = []string{repoDIDKey, repoDIDKey} }, did.ErrInvalidOperation},
		{"ed25519 rotation key", func(op *did.Operation) {
			op.RotationKeys = []string{"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"}
		}, did.ErrInvalidOperation},
		{"vm not did:key", func(op *did.Operation) { op.VerificationMethods["x"] = "zQ3sh" }, did.ErrInvalidOperation},
		{"vm bad base58", func(op *did.Operation) { op.VerificationMethods["x"] = "did:key:z0OIl" }, did.ErrInvalidOperation},
		{"vm id with hash", func(op *did.Operation) { op.VerificationMethods["#x"] = repoDIDKey }, did.ErrInvalidOperation},
		{"service id empty", func(op *did.Operation) { op.Services[""] = did.Service{} }, did.ErrInvalidOperation},
		{"eleven vms", func(op *did.Operation) {
			for i := range 10 {
				op.VerificationMethods[string(rune('a'+i))] = repoDIDKey
			}
		}, did.ErrInvalidOperation},
		{"prev not cid", func(op *did.Operation) { op.Prev = &bad }, did.ErrInvalidOperation},
		{"prev raw cid", func(op *did.Operation) { op.Prev = &raw }, did.ErrInvalidOperation},
		{"too big", func(op *did.Operation) { op.AlsoKnownAs = append(op.AlsoKnownAs, strings.Repeat("x", 7400)) }, did.ErrInvalidOperation},
		{"bad sig", func(op *did.Operation) { op.Sig = "abc" }, did.ErrBadSignature},
		{"unknown type", func(op *did.Operation) { op.Type = "plc_update" }, did.ErrInvalidOperation},
		{"legacy without fields", func(op *did.Operation) { op.Type = did.TypeCreate }, did.ErrInvalidOperation},
		{"tombstone without prev", func(op *did.Operation) { op.Type = did.TypeTombstone }, did.ErrInvalidOperation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := base.Clone()
			tt.edit(op)
			if err := op.Validate(); !errors.Is(err, tt.want) {
				t.Errorf("Validate() = %v, want %v", err, tt.want)
			}
		})
	}
	// Exactly the limits pass: 5 rotation keys, 10 verification methods.
	op := base.Clone()
	op.RotationKeys = six[:5]
	for i := range 9 {
		op.VerificationMethods[string(rune('a'+i))] = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
	}
	if err := op.Validate(); err != nil {
		t.Errorf("Validate(at the limits) = %v", err)
	}
}

func TestNewGenesisErrors(t *testing.T) {
	k := k256(t, seedRepo).PublicKey()
	tests := []struct {
		name     string
		rot      []keys.PublicKey
		sig      keys.PublicKey
		handle   syntax.Handle
		endpoint string
	}{
		{"no rotation keys", nil, k, "a.test", "https://a.test"},
		{"nil rotation key", []keys.PublicKey{nil}, k, "a.test", "https://a.test"},
		{"duplicate rotation keys", []keys.PublicKey{k, k}, k, "a.test", "https://a.test"},
		{"no signing key", []keys.PublicKey{k}, nil, "a.test", "https://a.test"},
		{"bad handle", []keys.PublicKey{k}, k, "c_d.org", "https://a.test"},
		{"empty handle", []keys.PublicKey{k}, k, "", "https://a.test"},
		{"trailing slash", []keys.PublicKey{k}, k, "a.test", "https://a.test/"},
		{"path", []keys.PublicKey{k}, k, "a.test", "https://a.test/xrpc"},
		{"ftp", []keys.PublicKey{k}, k, "a.test", "ftp://a.test"},
		{"no host", []keys.PublicKey{k}, k, "a.test", "https://"},
		{"query", []keys.PublicKey{k}, k, "a.test", "https://a.test?x=1"},
		{"user", []keys.PublicKey{k}, k, "a.test", "https://u@a.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, err := did.NewGenesis(tt.rot, tt.sig, tt.handle, tt.endpoint)
			if op != nil || !errors.Is(err, did.ErrInvalidOperation) {
				t.Errorf("NewGenesis() = %v, %v; want nil, ErrInvalidOperation", op, err)
			}
		})
	}
}

func TestNewUpdate(t *testing.T) {
	k := k256(t, seedRepo)
	newRot := k256(t, seedOther)
	newSig := p256(t, seedThird)
	op, d := genesis(t, k, k)
	// A richer state: extra aka entries, service and verification method.
	op.AlsoKnownAs = []string{"https://han.dy", "at://han.dull", "http://han.dy"}
	op.Services["atproto_labeler"] = did.Service{Type: "AtprotoLabeler", Endpoint: "https://label.test"}
	op.VerificationMethods["atproto_label"] = repoDIDKey
	op = signed(t, op, k)
	d, _ = op.DID()
	prevCID := mustCID(t, op)

	tests := []struct {
		name string
		u    did.Update
		want func(op *did.Operation)
	}{
		{"nothing", did.Update{}, func(*did.Operation) {}},
		{"handle", did.Update{Handle: "New.IE"}, func(op *did.Operation) {
			op.AlsoKnownAs = []string{"https://han.dy", "at://new.ie", "http://han.dy"}
		}},
		{"pds", did.Update{PDSEndpoint: "http://sur.vur"}, func(op *did.Operation) {
			op.Services["atproto_pds"] = did.Service{Type: "AtprotoPersonalDataServer", Endpoint: "http://sur.vur"}
		}},
		{"signing key", did.Update{SigningKey: newSig.PublicKey()}, func(op *did.Operation) {
			op.VerificationMethods["atproto"] = newSig.PublicKey().DIDKey()
		}},
		{"rotation keys", did.Update{RotationKeys: []keys.PublicKey{newRot.PublicKey(), k.PublicKey()}}, func(op *did.Operation) {
			op.RotationKeys = []string{newRot.PublicKey().DIDKey(), repoDIDKey}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := did.NewUpdate(op, tt.u)
			if err != nil {
				t.Fatal(err)
			}
			want := op.Clone()
			want.Sig = ""
			want.Prev = &prevCID
			tt.want(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("NewUpdate(%+v) = %+v\nwant %+v", tt.u, got, want)
			}
			// The old rotation key signs; the chain verifies.
			signed(t, got, k)
			if err := did.VerifyChain(d, []*did.Operation{op, got}); err != nil {
				t.Errorf("VerifyChain = %v", err)
			}
		})
	}
	// The prev operation is not modified.
	if op.AlsoKnownAs[1] != "at://han.dull" || op.Prev != nil {
		t.Errorf("NewUpdate modified prev: %+v", op)
	}
	// Without an at:// entry, the handle goes first.
	noAT := op.Clone()
	noAT.AlsoKnownAs = []string{"https://x.y"}
	signed(t, noAT, k)
	got, err := did.NewUpdate(noAT, did.Update{Handle: "new.ie"})
	if err != nil || !reflect.DeepEqual(got.AlsoKnownAs, []string{"at://new.ie", "https://x.y"}) {
		t.Errorf("NewUpdate(no at://) alsoKnownAs = %q, %v", got.AlsoKnownAs, err)
	}
	for name, u := range map[string]did.Update{
		"bad handle":   {Handle: "a b.com"},
		"bad endpoint": {PDSEndpoint: "ftp://x.y"},
		"no rotation":  {RotationKeys: []keys.PublicKey{}},
		"nil rotation": {RotationKeys: []keys.PublicKey{nil}},
	} {
		if got, err := did.NewUpdate(op, u); got != nil || !errors.Is(err, did.ErrInvalidOperation) {
			t.Errorf("NewUpdate(%s) = %v, %v; want ErrInvalidOperation", name, got, err)
		}
	}
	unsigned := op.Clone()
	unsigned.Sig = ""
	if _, err := did.NewUpdate(unsigned, did.Update{}); !errors.Is(err, did.ErrBadSignature) {
		t.Errorf("NewUpdate(unsigned prev) = %v, want ErrBadSignature", err)
	}
}

// legacyGenesis returns a signed legacy "create" genesis operation.
func legacyGenesis(tb testing.TB) *did.Operation {
	tb.Helper()
	op := &did.Operation{Type: did.TypeCreate, Legacy: &did.LegacyCreate{
		SigningKey:  k256(tb, seedOther).PublicKey().DIDKey(),
		RecoveryKey: k256(tb, seedRepo).PublicKey().DIDKey(),
		Handle:      "old.test",
		Service:     "pds.old.test",
	}}
	return signed(tb, op, k256(tb, seedOther))
}

func TestLegacyGenesis(t *testing.T) {
	op := legacyGenesis(t)
	if err := op.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	d, err := op.DID()
	if err != nil || len(d) != 32 {
		t.Fatalf("DID() = %s, %v", d, err)
	}
	s, err := op.State(d)
	if err != nil {
		t.Fatal(err)
	}
	want := &did.State{
		DID:                 d,
		VerificationMethods: map[string]string{"atproto": k256(t, seedOther).PublicKey().DIDKey()},
		RotationKeys:        []string{repoDIDKey, k256(t, seedOther).PublicKey().DIDKey()},
		AlsoKnownAs:         []string{"at://old.test"},
		Services:            map[string]did.Service{"atproto_pds": {Type: "AtprotoPersonalDataServer", Endpoint: "https://pds.old.test"}},
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("State() = %+v, want %+v", s, want)
	}
	// The recovery key (first rotation key) may sign the next operation,
	// which is a regular one.
	next, err := did.NewUpdate(op, did.Update{Handle: "new.test"})
	if err != nil {
		t.Fatal(err)
	}
	if next.Type != did.TypeOperation || !reflect.DeepEqual(next.AlsoKnownAs, []string{"at://new.test"}) {
		t.Errorf("NewUpdate(legacy) = %+v", next)
	}
	signed(t, next, k256(t, seedRepo))
	if err := did.VerifyChain(d, []*did.Operation{op, next}); err != nil {
		t.Errorf("VerifyChain(legacy, update) = %v", err)
	}
	// A legacy create must not follow anything.
	if err := did.VerifyChain(d, []*did.Operation{op, op}); !errors.Is(err, did.ErrBrokenChain) {
		t.Errorf("VerifyChain(legacy twice) = %v, want ErrBrokenChain", err)
	}
}

func TestTombstone(t *testing.T) {
	k := k256(t, seedRepo)
	op, d := genesis(t, k, k)
	tomb, err := did.NewTombstone(op)
	if err != nil {
		t.Fatal(err)
	}
	signed(t, tomb, k)
	want := `{"prev":"` + genesisCID + `","sig":"` + tomb.Sig + `","type":"plc_tombstone"}`
	if got := mustJSON(t, tomb); got != want {
		t.Errorf("tombstone = %s, want %s", got, want)
	}
	if err := did.VerifyChain(d, []*did.Operation{op, tomb}); err != nil {
		t.Errorf("VerifyChain = %v", err)
	}
	if _, err := tomb.Document(d); !errors.Is(err, did.ErrDeactivated) {
		t.Errorf("Document(tombstone) = %v, want ErrDeactivated", err)
	}
	if _, err := did.NewTombstone(tomb); !errors.Is(err, did.ErrInvalidOperation) {
		t.Errorf("NewTombstone(tombstone) = %v, want ErrInvalidOperation", err)
	}
	if _, err := did.NewUpdate(tomb, did.Update{}); !errors.Is(err, did.ErrInvalidOperation) {
		t.Errorf("NewUpdate(tombstone) = %v, want ErrInvalidOperation", err)
	}
	if _, err := tomb.DID(); !errors.Is(err, did.ErrInvalidOperation) {
		t.Errorf("DID(tombstone) = %v, want ErrInvalidOperation", err)
	}
	// Marshalled JSON decodes with encoding/json too.
	var m map[string]any
	if err := json.Unmarshal([]byte(want), &m); err != nil || m["type"] != "plc_tombstone" {
		t.Errorf("json.Unmarshal = %v, %v", m, err)
	}
}
