package lexicon

import "fmt"

// Validation statuses that [Catalog.ValidateWrite] returns, as the
// validationStatus of com.atproto.repo writes words them.
const (
	// StatusValid: the collection has a record lexicon here, and the record
	// and its key match it.
	StatusValid = "valid"
	// StatusUnknown: the catalog has no record lexicon for the collection,
	// so nothing was checked.
	StatusUnknown = "unknown"
)

// ValidateWrite checks a record about to be written at collection/rkey, as
// a PDS checks createRecord, putRecord and applyWrites when their validate
// input is not false. When the catalog has collection's record lexicon,
// the record must match it ([ErrInvalidRecord], a [*ValidationError]) and
// the status is [StatusValid]. When it has none, the status is
// [StatusUnknown].
//
// require is the strict check that validate: true asks for: the catalog
// must have the collection's lexicon (or the error wraps
// [ErrUnknownLexicon]), and rkey must match its key type ("tid", "nsid",
// "literal:self" or "any"; [ErrInvalidRecordKey]), as the record key spec
// (https://atproto.com/specs/record-key) defines them. Without require the
// key is not checked against the type, as in the reference PDS, which
// checks only its syntax (a TODO in its prepareCreate) and so accepts, say,
// a post under a key that is not a TID.
func (c *Catalog) ValidateWrite(collection, rkey string, record map[string]any, require bool) (string, error) {
	if !c.HasRecord(collection) {
		if require {
			return "", fmt.Errorf("%w: no record lexicon for %q", ErrUnknownLexicon, collection)
		}
		return StatusUnknown, nil
	}
	if err := c.ValidateRecord(collection, record); err != nil {
		return "", err
	}
	if require {
		if err := c.ValidateRecordKey(collection, rkey); err != nil {
			return "", err
		}
	}
	return StatusValid, nil
}
