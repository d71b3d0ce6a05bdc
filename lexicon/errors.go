package lexicon

import "errors"

// ErrInvalidRecord is returned when a record does not match the lexicon of
// its collection. The error is a [*ValidationError], which names the path
// of the offending value.
var ErrInvalidRecord = errors.New("invalid record")

// ErrUnknownLexicon is returned when the catalog has no record lexicon for
// a collection, or when a lexicon refers to a definition the catalog lacks.
var ErrUnknownLexicon = errors.New("unknown lexicon")

// ErrInvalidRecordKey is returned when a record key does not match the key
// type of its collection's lexicon.
var ErrInvalidRecordKey = errors.New("invalid record key")

// ErrInvalidLexicon is returned when a lexicon document cannot be loaded:
// malformed JSON, a lexicon version other than 1, an invalid id, or a
// definition this package does not understand.
var ErrInvalidLexicon = errors.New("invalid lexicon")

// ValidationError is the error a record that breaks its lexicon gets. It
// wraps [ErrInvalidRecord].
type ValidationError struct {
	// Path locates the offending value, from "Record" down through object
	// keys and array indexes: "Record/embed/images/0/alt".
	Path string
	// Message says what is wrong with it: "must be a string".
	Message string
}

// Error returns the path and the message, as the reference implementation
// words them: "Record/text must be a string".
func (e *ValidationError) Error() string { return e.Path + " " + e.Message }

// Unwrap returns [ErrInvalidRecord].
func (e *ValidationError) Unwrap() error { return ErrInvalidRecord }
