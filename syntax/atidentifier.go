package syntax

import "strings"

// AtIdentifier is a validated account identifier: either a DID or a handle.
//
// An AtIdentifier that starts with "did:" is a DID, anything else is a handle.
// The zero value "" is invalid (empty).
type AtIdentifier string

// ParseAtIdentifier validates s as a DID (if it starts with "did:") or as a
// handle, and returns it unchanged.
func ParseAtIdentifier(s string) (AtIdentifier, error) {
	if strings.HasPrefix(s, "did:") {
		if _, err := ParseDID(s); err != nil {
			return "", syntaxError(ErrInvalidAtIdentifier, s, err.Error())
		}
		return AtIdentifier(s), nil
	}
	if _, err := ParseHandle(s); err != nil {
		return "", syntaxError(ErrInvalidAtIdentifier, s, err.Error())
	}
	return AtIdentifier(s), nil
}

// IsDID reports whether a is a DID rather than a handle.
func (a AtIdentifier) IsDID() bool { return strings.HasPrefix(string(a), "did:") }

// IsHandle reports whether a is a handle rather than a DID; it is false for
// the zero AtIdentifier.
func (a AtIdentifier) IsHandle() bool { return a != "" && !a.IsDID() }

// AsDID returns a as a DID, and whether it is one.
func (a AtIdentifier) AsDID() (DID, bool) {
	if !a.IsDID() {
		return "", false
	}
	return DID(a), true
}

// AsHandle returns a as a Handle, and whether it is one.
func (a AtIdentifier) AsHandle() (Handle, bool) {
	if !a.IsHandle() {
		return "", false
	}
	return Handle(a), true
}

// String returns the identifier exactly as parsed.
func (a AtIdentifier) String() string { return string(a) }
