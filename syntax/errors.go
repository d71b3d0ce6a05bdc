package syntax

import (
	"errors"
	"fmt"
)

// ErrSyntax is returned, wrapped, when a string is not a valid identifier of
// the requested kind. Every more specific error of this package (ErrInvalidDID,
// ErrInvalidTID, ...) wraps it, so errors.Is(err, ErrSyntax) holds for any
// parse failure.
var ErrSyntax = errors.New("invalid syntax")

// kindError is the type of the per-kind sentinels: its own message, unwrapping
// to ErrSyntax.
type kindError struct{ msg string }

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return ErrSyntax }

var (
	// ErrInvalidDID is returned when a string is not a valid DID.
	ErrInvalidDID error = &kindError{"invalid did"}
	// ErrInvalidHandle is returned when a string is not a valid handle.
	ErrInvalidHandle error = &kindError{"invalid handle"}
	// ErrInvalidAtIdentifier is returned when a string is neither a valid DID nor a valid handle.
	ErrInvalidAtIdentifier error = &kindError{"invalid at-identifier"}
	// ErrInvalidNSID is returned when a string is not a valid NSID.
	ErrInvalidNSID error = &kindError{"invalid nsid"}
	// ErrInvalidRecordKey is returned when a string is not a valid record key.
	ErrInvalidRecordKey error = &kindError{"invalid record key"}
	// ErrInvalidTID is returned when a string is not a valid TID.
	ErrInvalidTID error = &kindError{"invalid tid"}
	// ErrInvalidATURI is returned when a string is not a valid AT URI.
	ErrInvalidATURI error = &kindError{"invalid at-uri"}
	// ErrInvalidDatetime is returned when a string is not a valid atproto datetime.
	ErrInvalidDatetime error = &kindError{"invalid datetime"}
	// ErrInvalidLanguage is returned when a string is not a valid BCP 47 language tag.
	ErrInvalidLanguage error = &kindError{"invalid language"}
	// ErrInvalidCID is returned when a string is not a syntactically valid CID string.
	ErrInvalidCID error = &kindError{"invalid cid"}
	// ErrInvalidURI is returned when a string is not a valid generic URI.
	ErrInvalidURI error = &kindError{"invalid uri"}
)

// maxQuoted is how much of an offending input an error message repeats.
const maxQuoted = 64

// syntaxError builds the error returned by a parser: kind, the (clipped)
// input and a short reason.
func syntaxError(kind error, s, reason string) error {
	if len(s) > maxQuoted {
		s = s[:maxQuoted] + "..."
	}
	return fmt.Errorf("%w %q: %s", kind, s, reason)
}
