// Package did implements atproto identity: did:key, did:plc operations and
// their history rules, a PLC directory client, DID documents, and the
// resolution of DIDs (did:plc, did:web) and handles.
//
// Everything except [PLCClient] and [Resolver] is pure: no I/O, no clock
// (times are passed in). The two network types take an injectable
// *http.Client and DNS TXT lookup function, so tests run against loopback
// fakes; package [github.com/atlite-dev/atlite/did/didtest] provides a fake
// PLC directory.
//
// # did:plc operations
//
// An [Operation] is a regular operation ("plc_operation"), a tombstone
// ("plc_tombstone") or a legacy genesis ("create"), in the format of the
// did:plc specification (https://web.plc.directory/spec/v0.1/did-plc).
// [NewGenesis] builds the genesis operation of a new atproto account,
// [NewUpdate] an update that changes only what it is asked to (handle, PDS
// endpoint, signing key, rotation keys) and keeps everything else,
// [NewTombstone] a tombstone, and [Rollback] an update that restores the
// content of an earlier operation. [Operation.Sign] signs the DAG-CBOR of the
// operation without its "sig" field with a rotation key (64-byte low-S r||s,
// base64url without padding); [Operation.DID] derives the DID of a signed
// genesis operation offline ("did:plc:" + the first 24 characters of the
// base32 SHA-256 of its signed DAG-CBOR); [Operation.CID] gives the CID the
// next operation's prev holds.
//
// [ParseOperation] reads the JSON form strictly, as the directory's schemas
// do: unknown fields, missing fields (prev included), wrong JSON types,
// duplicate keys and floats are refused with [ErrInvalidOperation].
// [ParseOperationCBOR] reads the DAG-CBOR form and round-trips it byte for
// byte. [Operation.Validate] adds the directory's limits for new operations
// (1 to 5 K-256/P-256 rotation keys, at most 10 verification methods, 7500
// bytes, canonical signature encoding).
//
// # History and verification
//
// [History] applies the directory's rules to one DID's operations: the
// genesis hash gives the DID, every operation is signed by a rotation key of
// the operation its prev names, and a higher-priority rotation key may fork
// from an earlier operation within [RecoveryWindow] (72 hours), nullifying
// what followed. [VerifyAuditLog] replays a served audit log through these
// rules and checks CIDs and nullified flags; [VerifyChain] checks a plain
// list of active operations.
//
// # DID documents
//
// [State.Document] and [Operation.Document] render the DID document of a
// did:plc as the PLC directory does; [ParseDocument] reads any DID
// document. [Document.Handle], [Document.SigningKey] (the #atproto key, with
// a relative "#atproto" or absolute "did:...#atproto" id, as a Multikey or a
// legacy EcdsaSecp256k1VerificationKey2019/EcdsaSecp256r1VerificationKey2019
// key) and [Document.PDSEndpoint] (the #atproto_pds service) read what
// atproto needs.
//
// # Directory client
//
// [PLCClient] talks to a PLC directory whose base URL comes from
// [PLCOptions.URL], the PLC_HOST environment variable or [DefaultPLCURL]:
// Submit and Create post operations; Update, Tombstone and Rollback fetch and
// verify the audit log, build the next operation, check that the given key
// is a current rotation key (posting nothing otherwise) and post it; Resolve,
// AuditLog, Log and Data read.
//
// A request that fails transiently (an answer 429 or 5xx, or a failure in
// transit) is sent again, up to [DefaultPLCMaxAttempts] times in all, after
// a wait that starts at [DefaultPLCRetryBaseDelay], doubles each time up to
// [DefaultPLCRetryMaxDelay] and is drawn at random between half and all of
// that; a Retry-After header sets the wait instead, and retries stop when
// it asks for more than the maximum or when the wait would outlast the
// context's deadline ([PLCOptions.MaxAttempts], [PLCOptions.RetryBaseDelay],
// [PLCOptions.RetryMaxDelay]). Other answers, 4xx included, are never
// retried. Reads are safe to repeat, and so is the submission of a signed
// operation.
//
// # Resolution
//
// [Resolver] resolves did:plc through the directory and did:web over HTTPS
// ([WebURL]: /.well-known/did.json, or the path form, with %3A for a port),
// and handles through the DNS TXT record "_atproto.<handle>." ("did=...")
// and then https://<handle>/.well-known/atproto-did (handles under reserved
// top-level domains such as .invalid or .local are not looked up at all).
// [Resolver.LookupDID]
// and [Resolver.LookupHandle] add the bidirectional check: the handle a
// document claims must resolve back to its DID.
//
// # Limits
//
// Every HTTP request is bounded by a timeout ([DefaultTimeout], 10 s, body
// included) and a response size limit ([DefaultMaxResponseBytes], 1 MiB, for
// the Resolver; [DefaultMaxPLCResponseBytes], 8 MiB, for the PLCClient;
// [MaxHandleBodyBytes], 4 KiB, for well-known handle files): a
// Content-Length over the limit is refused before reading, and a longer body
// fails with [ErrResponseTooLarge]. Redirects are followed only to http and
// https URLs, never from https down to http, and at most 10 times
// ([ErrRedirect]).
//
// # Addresses
//
// did:web hosts and handle hosts come from DIDs and handles anyone can
// write, so by default (a nil [ResolverOptions.HTTPClient]) the Resolver
// fetches them with a client that connects only to public addresses: the
// IP address is checked when connecting, after DNS resolution and on every
// redirect, and a loopback, private, link-local, CGNAT, multicast,
// unspecified or other non-public address fails with
// [ErrForbiddenAddress]. The PLC directory is the operator's configuration
// ([PLCOptions.URL], PLC_HOST), so [PLCClient] and the Resolver's requests
// to the directory use a plain client by default and may reach a directory
// on the local network. A client given in the options is used as is, for
// everything: it is the way to reach private hosts, and what tests against
// loopback servers do.
//
// # Caching
//
// The Resolver caches DID documents and handle-to-DID results separately,
// each for [DefaultCacheTTL] (6 hours) and up to [DefaultCacheSize] (5000)
// entries, least recently used first out (github.com/hashicorp/golang-lru/v2,
// expirable). Failures are not cached. [Resolver.PurgeDID] and
// [Resolver.PurgeHandle] drop entries, for example after a key rotation.
//
// # Concurrency and ownership
//
// [PLCClient] and [Resolver] are safe for concurrent use. Operations,
// documents, states and histories are plain values, not safe to modify
// concurrently; functions that keep an operation keep a copy, and the
// Resolver returns a fresh copy of a document on every call.
//
// # Caveats
//
// Where arroba (the reference of SPEC.md) and the did:plc specification
// disagree, this package follows the specification and the PLC directory's
// reference implementation: a P-256 signing key gets the
// "https://w3id.org/security/suites/ecdsa-2019/v1" context in a rendered
// document, not secp256k1-2019 (K-256 documents are identical to arroba's);
// signing keys are found under relative and absolute ids; updates keep what
// they do not change (arroba replaces rotation keys and services and resets
// the PDS endpoint); a handle claim whose authority is not a valid handle
// (such as "at://did:123") gives [ErrNoHandle]; handle resolution refuses
// DNS answers naming several DIDs. Rollback re-submits the content of an
// earlier operation at the end of the chain, as arroba does; undoing recent
// operations within 72 hours with a higher-priority key is a recovery, done
// by submitting an operation whose prev names the operation to fork from.
package did
