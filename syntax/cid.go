package syntax

import "strings"

// CIDString is a CID in string form that passed a syntax-only check, such as
// "bafyreiblaotetvwobe7cu2uqvnddr6ew2q3cu75qsoweulzku2egca4dxq".
//
// A CIDString obtained from ParseCIDString has 8 to 256 bytes, each an ASCII
// letter, digit, '+' or '=', and does not start with "Qm" (legacy CIDv0 is not
// supported). The multibase prefix, codec and hash are not checked: decode
// the CID with a CID library for that. The zero value "" is invalid (empty).
type CIDString string

// ParseCIDString checks the syntax of s as a CID string and returns it unchanged.
func ParseCIDString(s string) (CIDString, error) {
	if len(s) < 8 || len(s) > 256 {
		return "", syntaxError(ErrInvalidCID, s, "must be 8 to 256 characters")
	}
	if strings.HasPrefix(s, "Qm") {
		return "", syntaxError(ErrInvalidCID, s, "CIDv0 is not supported")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '+' && c != '=' {
			return "", syntaxError(ErrInvalidCID, s, "invalid character")
		}
	}
	return CIDString(s), nil
}

// String returns the CID string exactly as parsed.
func (c CIDString) String() string { return string(c) }
