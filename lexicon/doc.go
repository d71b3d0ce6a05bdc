// Package lexicon checks records against their atproto lexicons (Lexicon
// v1, https://atproto.com/specs/lexicon).
//
// A [Catalog] holds compiled lexicon documents: [NewCatalog] builds one from
// JSON documents, [NewCatalogFS] from a directory of them, and [Default]
// returns the catalog of the lexicons embedded in the package (the record
// types of app.bsky, chat.bsky and com.atproto, and what they refer to; see
// lexicons/README.md for the commit they come from). [Catalog.ValidateRecord]
// checks a record value, in the data model as package datamodel decodes it
// (int64 integers, []byte bytes, cid.Cid links, blob maps), against the
// record definition of its collection.
//
// The package is pure: it reads no files but its own embedded ones, and
// knows nothing of SQL or HTTP.
//
// # Errors
//
// A record that breaks its lexicon gets a [*ValidationError] wrapping
// [ErrInvalidRecord], whose message names the path of the first offending
// value in the words of the reference implementation
// (@atproto/lexicon): "Record/embed/images/0/alt must be a string". A
// collection the catalog has no record lexicon for is [ErrUnknownLexicon],
// and a document that cannot be loaded is [ErrInvalidLexicon].
//
// # Rules
//
// Objects check their listed properties in the order the lexicon writes
// them (required ones must be present, null is allowed only for nullable
// ones) and allow others. Strings check const, enum, minLength and
// maxLength (in UTF-8 bytes), minGraphemes and maxGraphemes (extended
// grapheme clusters, counted with github.com/rivo/uniseg) and the string
// formats, with the parsers of package syntax; knownValues are not
// enforced. Integers check const, enum, minimum and maximum; bytes and
// arrays their lengths. Blobs must be strict blob references (legacy ones
// are refused; the codec of the ref is not checked) and match accept (with
// "type/*" wildcards) and maxSize. A
// ref to an object definition is a typed object: a "$type" it carries must
// name that definition. A union member must carry "$type"; an open union
// accepts a "$type" it does not list, without checking the object, and a
// closed one refuses it. An unknown must be an object, and not a blob.
//
// # Concurrency
//
// A Catalog is immutable once built and safe for concurrent use.
// ValidateRecord does not modify or keep the record.
//
// # Caveats
//
// ValidateRecord does not check the record key against the lexicon's key
// type; [Catalog.ValidateRecordKey] does, for callers that want to. Defaults
// are not applied. Lexicon documents are trusted to be well formed beyond
// the checks NewCatalog makes (a ref's target is looked up only when a
// value reaches it).
package lexicon
