package syntax

// MaxRecordKeyLength is the longest record key, in bytes, that ParseRecordKey accepts.
const MaxRecordKeyLength = 512

// RecordKey is a validated record key such as "self" or "3jzfcijpj2z2a".
//
// A RecordKey obtained from ParseRecordKey has 1 to 512 bytes, each an ASCII
// letter, digit or one of . - _ : ~, and is neither "." nor "..". Record keys
// are case-sensitive. The zero value "" is invalid (empty).
type RecordKey string

// ParseRecordKey validates s as a record key and returns it unchanged.
func ParseRecordKey(s string) (RecordKey, error) {
	if len(s) == 0 {
		return "", syntaxError(ErrInvalidRecordKey, s, "empty")
	}
	if len(s) > MaxRecordKeyLength {
		return "", syntaxError(ErrInvalidRecordKey, s, "longer than 512 bytes")
	}
	for i := 0; i < len(s); i++ {
		if !isRecordKeyChar(s[i]) {
			return "", syntaxError(ErrInvalidRecordKey, s, "invalid character")
		}
	}
	if s == "." || s == ".." {
		return "", syntaxError(ErrInvalidRecordKey, s, `"." and ".." are not allowed`)
	}
	return RecordKey(s), nil
}

func isRecordKeyChar(c byte) bool {
	return isAlnum(c) || c == '.' || c == '-' || c == '_' || c == ':' || c == '~'
}

// String returns the record key exactly as parsed.
func (k RecordKey) String() string { return string(k) }
