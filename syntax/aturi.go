package syntax

import "strings"

// MaxATURILength is the longest AT URI, in bytes, that ParseATURI accepts.
const MaxATURILength = 8192

const atURIPrefix = "at://"

// ATURI is a validated AT URI in the restricted form that Lexicon and
// repositories use: "at://" AUTHORITY [ "/" COLLECTION [ "/" RKEY ] ], such as
// "at://did:plc:7iza6de2dwap2sbkpav7c6c6/app.bsky.feed.post/3jzfcijpj2z2a".
//
// The authority is an AtIdentifier, the collection an NSID and the record key
// a RecordKey; the path may be empty. Queries, fragments, trailing slashes and
// percent-encoding are not accepted, and the whole URI has at most 8192 bytes.
// The zero value "" is invalid (empty).
type ATURI string

// ParseATURI validates s as an AT URI and returns it unchanged.
func ParseATURI(s string) (ATURI, error) {
	if len(s) > MaxATURILength {
		return "", syntaxError(ErrInvalidATURI, s, "longer than 8192 bytes")
	}
	rest, ok := strings.CutPrefix(s, atURIPrefix)
	if !ok {
		return "", syntaxError(ErrInvalidATURI, s, `must start with "at://"`)
	}
	auth, path, hasPath := strings.Cut(rest, "/")
	if _, err := ParseAtIdentifier(auth); err != nil {
		return "", syntaxError(ErrInvalidATURI, s, "authority: "+err.Error())
	}
	if !hasPath {
		return ATURI(s), nil
	}
	coll, rkey, hasRkey := strings.Cut(path, "/")
	if _, err := ParseNSID(coll); err != nil {
		return "", syntaxError(ErrInvalidATURI, s, "collection: "+err.Error())
	}
	if hasRkey {
		if _, err := ParseRecordKey(rkey); err != nil {
			return "", syntaxError(ErrInvalidATURI, s, "record key: "+err.Error())
		}
	}
	return ATURI(s), nil
}

// NewATURI returns the AT URI of an account (collection and rkey zero), of a
// collection (rkey zero) or of a record. It fails with ErrInvalidATURI if
// authority is zero or rkey is set without collection. The parts are trusted
// to be valid.
func NewATURI(authority AtIdentifier, collection NSID, rkey RecordKey) (ATURI, error) {
	switch {
	case authority == "":
		return "", syntaxError(ErrInvalidATURI, "", "empty authority")
	case collection == "" && rkey != "":
		return "", syntaxError(ErrInvalidATURI, string(rkey), "record key without collection")
	case collection == "":
		return ATURI(atURIPrefix + string(authority)), nil
	case rkey == "":
		return ATURI(atURIPrefix + string(authority) + "/" + string(collection)), nil
	}
	return ATURI(atURIPrefix + string(authority) + "/" + string(collection) + "/" + string(rkey)), nil
}

// parts splits u into authority, collection and record key.
func (u ATURI) parts() (auth, coll, rkey string) {
	rest, ok := strings.CutPrefix(string(u), atURIPrefix)
	if !ok {
		return "", "", ""
	}
	auth, path, _ := strings.Cut(rest, "/")
	coll, rkey, _ = strings.Cut(path, "/")
	return auth, coll, rkey
}

// Authority returns the DID or handle of u, or "" for the zero ATURI.
func (u ATURI) Authority() AtIdentifier {
	auth, _, _ := u.parts()
	return AtIdentifier(auth)
}

// Collection returns the collection of u, or the zero NSID if u has no path.
func (u ATURI) Collection() NSID {
	_, coll, _ := u.parts()
	return NSID(coll)
}

// RecordKey returns the record key of u, or the zero RecordKey if u has none.
func (u ATURI) RecordKey() RecordKey {
	_, _, rkey := u.parts()
	return RecordKey(rkey)
}

// String returns the AT URI exactly as parsed.
func (u ATURI) String() string { return string(u) }
