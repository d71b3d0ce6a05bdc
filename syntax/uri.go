package syntax

// MaxURILength is the longest URI, in bytes, that ParseURI accepts.
const MaxURILength = 8192

// URI is a validated generic URI, as the Lexicon "uri" string format requires,
// such as "https://example.com/path" or "did:plc:abc".
//
// A URI obtained from ParseURI is a scheme (an ASCII letter followed by
// letters, digits, '+', '-' or '.'), ':', and one or more printable
// non-space ASCII characters, at most 8192 bytes in all. Nothing else of RFC
// 3986 is checked. The zero value "" is invalid (empty).
type URI string

// ParseURI validates s as a URI and returns it unchanged.
func ParseURI(s string) (URI, error) {
	if len(s) > MaxURILength {
		return "", syntaxError(ErrInvalidURI, s, "longer than 8192 bytes")
	}
	if len(s) == 0 || !isAlpha(s[0]) {
		return "", syntaxError(ErrInvalidURI, s, "scheme must start with a letter")
	}
	i := 1
	for i < len(s) && (isAlnum(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.') {
		i++
	}
	if i == len(s) || s[i] != ':' {
		return "", syntaxError(ErrInvalidURI, s, "missing ':' after scheme")
	}
	i++
	if i == len(s) {
		return "", syntaxError(ErrInvalidURI, s, "empty after scheme")
	}
	for ; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return "", syntaxError(ErrInvalidURI, s, "invalid character")
		}
	}
	return URI(s), nil
}

// String returns the URI exactly as parsed.
func (u URI) String() string { return string(u) }
