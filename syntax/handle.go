package syntax

import "strings"

// MaxHandleLength is the longest handle, in bytes, that ParseHandle accepts.
const MaxHandleLength = 253

// HandleInvalid is the special handle that stands for a handle that could not
// be verified.
const HandleInvalid Handle = "handle.invalid"

// Handle is a validated atproto handle: a DNS host name such as "alice.bsky.social".
//
// A Handle obtained from ParseHandle has at most 253 bytes and at least two
// labels separated by '.'. Every label has 1 to 63 ASCII letters, digits or
// hyphens and neither starts nor ends with a hyphen; the last label (the TLD)
// starts with a letter. Handles are case-insensitive: ParseHandle keeps the
// case it was given and Normalize lower-cases. The zero value "" is invalid
// (empty).
type Handle string

// ParseHandle validates s as a handle and returns it unchanged (case kept).
// It does not reject TLDs that are not allowed for registration; see
// [Handle.AllowedTLD].
func ParseHandle(s string) (Handle, error) {
	if len(s) > MaxHandleLength {
		return "", syntaxError(ErrInvalidHandle, s, "longer than 253 bytes")
	}
	labels := 0
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			c := s[i]
			if !isAlnum(c) && c != '-' {
				return "", syntaxError(ErrInvalidHandle, s, "invalid character")
			}
			continue
		}
		n := i - start
		if n == 0 {
			return "", syntaxError(ErrInvalidHandle, s, "empty label")
		}
		if n > 63 {
			return "", syntaxError(ErrInvalidHandle, s, "label longer than 63 bytes")
		}
		if s[start] == '-' || s[i-1] == '-' {
			return "", syntaxError(ErrInvalidHandle, s, "label starts or ends with a hyphen")
		}
		labels++
		if i == len(s) && !isAlpha(s[start]) {
			return "", syntaxError(ErrInvalidHandle, s, "top-level domain must start with a letter")
		}
		start = i + 1
	}
	if labels < 2 {
		return "", syntaxError(ErrInvalidHandle, s, "needs at least two labels")
	}
	return Handle(s), nil
}

// Normalize returns h in lower case, its canonical form.
func (h Handle) Normalize() Handle {
	for i := 0; i < len(h); i++ {
		if 'A' <= h[i] && h[i] <= 'Z' {
			return Handle(strings.ToLower(string(h)))
		}
	}
	return h
}

// disallowedTLDs are the top-level domains the handle specification
// reserves: syntactically valid, never to be registered (except HandleInvalid).
var disallowedTLDs = []string{"alt", "arpa", "example", "internal", "invalid", "local", "localhost", "onion"}

// AllowedTLD reports whether h ends in a top-level domain that may be used
// for a new account's handle: it is false for .alt, .arpa, .example,
// .internal, .invalid, .local, .localhost and .onion (case-insensitively),
// and for the zero Handle.
func (h Handle) AllowedTLD() bool {
	i := strings.LastIndexByte(string(h), '.')
	if i < 0 {
		return false
	}
	tld := string(h[i+1:])
	for _, d := range disallowedTLDs {
		if strings.EqualFold(tld, d) {
			return false
		}
	}
	return true
}

// AtIdentifier returns h as an AtIdentifier.
func (h Handle) AtIdentifier() AtIdentifier { return AtIdentifier(h) }

// String returns the handle exactly as parsed.
func (h Handle) String() string { return string(h) }
