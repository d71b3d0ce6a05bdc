package syntax

import "strings"

// MaxDIDLength is the longest DID, in bytes, that ParseDID accepts.
const MaxDIDLength = 2048

// DID is a validated decentralized identifier such as "did:plc:7iza6de2dwap2sbkpav7c6c6".
//
// A DID obtained from ParseDID is "did:", a method of lower-case ASCII letters,
// ":", and a method-specific identifier of ASCII letters, digits and ._:%-
// that does not end in ':' or '%'. The zero value "" is invalid (empty).
// DIDs are case-sensitive and compared byte for byte.
type DID string

// ParseDID validates s as a DID and returns it unchanged.
func ParseDID(s string) (DID, error) {
	if len(s) > MaxDIDLength {
		return "", syntaxError(ErrInvalidDID, s, "longer than 2048 bytes")
	}
	if !strings.HasPrefix(s, "did:") {
		return "", syntaxError(ErrInvalidDID, s, `must start with "did:"`)
	}
	i := 4
	for i < len(s) && 'a' <= s[i] && s[i] <= 'z' {
		i++
	}
	if i == 4 {
		return "", syntaxError(ErrInvalidDID, s, "method must be one or more lower-case letters")
	}
	if i == len(s) || s[i] != ':' {
		return "", syntaxError(ErrInvalidDID, s, "method must be lower-case letters followed by ':'")
	}
	i++
	if i == len(s) {
		return "", syntaxError(ErrInvalidDID, s, "empty method-specific identifier")
	}
	for ; i < len(s); i++ {
		if !isDIDIDChar(s[i]) {
			return "", syntaxError(ErrInvalidDID, s, "invalid character in method-specific identifier")
		}
	}
	if last := s[len(s)-1]; last == ':' || last == '%' {
		return "", syntaxError(ErrInvalidDID, s, "must not end in ':' or '%'")
	}
	return DID(s), nil
}

func isDIDIDChar(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == ':' || c == '%' || c == '-'
}

// Method returns the DID method, for example "plc" for "did:plc:abc", or ""
// for the zero DID.
func (d DID) Method() string {
	rest, ok := strings.CutPrefix(string(d), "did:")
	if !ok {
		return ""
	}
	m, _, _ := strings.Cut(rest, ":")
	return m
}

// Identifier returns the method-specific identifier, for example "abc" for
// "did:plc:abc", or "" for the zero DID.
func (d DID) Identifier() string {
	rest, ok := strings.CutPrefix(string(d), "did:")
	if !ok {
		return ""
	}
	_, id, _ := strings.Cut(rest, ":")
	return id
}

// AtIdentifier returns d as an AtIdentifier.
func (d DID) AtIdentifier() AtIdentifier { return AtIdentifier(d) }

// String returns the DID exactly as parsed.
func (d DID) String() string { return string(d) }

func isAlpha(c byte) bool { return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isAlnum(c byte) bool { return isAlpha(c) || isDigit(c) }
