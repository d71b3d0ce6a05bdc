package syntax

import "strings"

// MaxNSIDLength is the longest NSID, in bytes, that ParseNSID accepts.
const MaxNSIDLength = 317

// NSID is a validated Namespaced Identifier such as "app.bsky.feed.post".
//
// An NSID obtained from ParseNSID has at most 317 bytes and at least three
// segments separated by '.'. All but the last form the domain authority in
// reversed order: each has 1 to 63 ASCII letters, digits or hyphens, neither
// starts nor ends with a hyphen, and the first starts with a letter. The last
// segment, the name, has 1 to 63 ASCII letters and digits and starts with a
// letter. The authority is case-insensitive, the name is case-sensitive. The
// zero value "" is invalid (empty).
type NSID string

// ParseNSID validates s as an NSID and returns it unchanged.
func ParseNSID(s string) (NSID, error) {
	if len(s) > MaxNSIDLength {
		return "", syntaxError(ErrInvalidNSID, s, "longer than 317 bytes")
	}
	last := strings.LastIndexByte(s, '.')
	if last < 0 {
		return "", syntaxError(ErrInvalidNSID, s, "needs at least three segments")
	}
	segments := 0
	start := 0
	for i := 0; i <= last; i++ {
		if i < last && s[i] != '.' {
			c := s[i]
			if !isAlnum(c) && c != '-' {
				return "", syntaxError(ErrInvalidNSID, s, "invalid character in authority")
			}
			continue
		}
		n := i - start
		if n == 0 {
			return "", syntaxError(ErrInvalidNSID, s, "empty segment")
		}
		if n > 63 {
			return "", syntaxError(ErrInvalidNSID, s, "segment longer than 63 bytes")
		}
		if s[start] == '-' || s[i-1] == '-' {
			return "", syntaxError(ErrInvalidNSID, s, "segment starts or ends with a hyphen")
		}
		if segments == 0 && !isAlpha(s[0]) {
			return "", syntaxError(ErrInvalidNSID, s, "first segment must start with a letter")
		}
		segments++
		start = i + 1
	}
	if segments < 2 {
		return "", syntaxError(ErrInvalidNSID, s, "needs at least three segments")
	}
	name := s[last+1:]
	if len(name) == 0 {
		return "", syntaxError(ErrInvalidNSID, s, "empty name")
	}
	if len(name) > 63 {
		return "", syntaxError(ErrInvalidNSID, s, "name longer than 63 bytes")
	}
	if !isAlpha(name[0]) {
		return "", syntaxError(ErrInvalidNSID, s, "name must start with a letter")
	}
	for i := 1; i < len(name); i++ {
		if !isAlnum(name[i]) {
			return "", syntaxError(ErrInvalidNSID, s, "name must be letters and digits")
		}
	}
	return NSID(s), nil
}

// Authority returns the domain authority of n in DNS order and lower case:
// "feed.bsky.app" for "app.bsky.feed.post". It returns "" for the zero NSID.
func (n NSID) Authority() string {
	last := strings.LastIndexByte(string(n), '.')
	if last < 0 {
		return ""
	}
	var b strings.Builder
	b.Grow(last)
	rest := string(n[:last])
	for rest != "" {
		i := strings.LastIndexByte(rest, '.')
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		for _, c := range []byte(rest[i+1:]) {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b.WriteByte(c)
		}
		if i < 0 {
			break
		}
		rest = rest[:i]
	}
	return b.String()
}

// Name returns the last segment of n: "post" for "app.bsky.feed.post". It
// returns "" for the zero NSID.
func (n NSID) Name() string {
	last := strings.LastIndexByte(string(n), '.')
	if last < 0 {
		return ""
	}
	return string(n[last+1:])
}

// Normalize returns n with its authority segments in lower case and its name
// unchanged, the canonical form.
func (n NSID) Normalize() NSID {
	last := strings.LastIndexByte(string(n), '.')
	if last < 0 {
		return n
	}
	return NSID(strings.ToLower(string(n[:last])) + string(n[last:]))
}

// String returns the NSID exactly as parsed.
func (n NSID) String() string { return string(n) }
