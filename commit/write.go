package commit

import (
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/internal/dagcbor"
	"github.com/atlite-dev/atlite/syntax"
)

// Action is what a write does to a record.
type Action string

// The three actions, spelled as the event stream spells them.
const (
	Create Action = "create"
	Update Action = "update"
	Delete Action = "delete"
)

// ParseAction parses "create", "update" or "delete".
func ParseAction(s string) (Action, error) {
	switch a := Action(s); a {
	case Create, Update, Delete:
		return a, nil
	}
	return "", fmt.Errorf("unknown action %q (want create, update or delete)", s)
}

// ErrInvalidWrite is returned for a write that is malformed in itself.
var ErrInvalidWrite = errors.New("invalid write")

// Write is one change a commit applies to a repo.
type Write struct {
	Action     Action
	Collection syntax.NSID
	RKey       syntax.RecordKey
	// Record is the record's DAG-CBOR encoding; required for Create and
	// Update, ignored for Delete.
	Record []byte
	// SwapRecord, when defined, makes the write apply only if the record now
	// at the path has this CID (for Update and Delete).
	SwapRecord cid.Cid
}

// Path returns "collection/rkey", the record's MST key.
func (w Write) Path() string {
	return w.Collection.String() + "/" + w.RKey.String()
}

// Validate checks the write in itself: a known action, a collection and
// record key, and for Create and Update a record that is a DAG-CBOR map
// whose "$type" is the write's collection, as the reference PDS requires
// (a record without "$type", or of another collection, is refused).
func (w Write) Validate() error {
	if _, err := ParseAction(string(w.Action)); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidWrite, err)
	}
	if w.Collection.String() == "" || w.RKey.String() == "" {
		return fmt.Errorf("%w: %s %q: empty collection or record key", ErrInvalidWrite, w.Action, w.Path())
	}
	if w.Action == Delete {
		return nil
	}
	if len(w.Record) == 0 {
		return fmt.Errorf("%w: %s %s: no record", ErrInvalidWrite, w.Action, w.Path())
	}
	// Checked as datamodel.UnmarshalMap would, building only "$type".
	typ, err := dagcbor.RecordType(w.Record)
	if err != nil {
		return fmt.Errorf("%w: %s %s: record: %v", ErrInvalidWrite, w.Action, w.Path(), err)
	}
	if t, ok := typ.(string); !ok || t != w.Collection.String() {
		return fmt.Errorf("%w: %s %s: invalid $type: expected %s, got %s", ErrInvalidWrite, w.Action, w.Path(), w.Collection, describeType(typ))
	}
	return nil
}

// describeType renders a record's "$type" value for an error message.
func describeType(v any) string {
	switch t := v.(type) {
	case nil:
		return "none"
	case string:
		return fmt.Sprintf("%q", t)
	default:
		return fmt.Sprintf("a %T", t)
	}
}

// NewWrite builds a write for a record given as a data-model value (as
// produced by [datamodel.FromJSON], or a map[string]any); record may be nil
// for Delete. Like the reference PDS's createRecord, putRecord and
// applyWrites, it fills in a missing "$type" of a map[string]any record
// with the collection (in a copy: record is not modified); a "$type" that
// names another collection is refused with ErrInvalidWrite.
func NewWrite(action Action, collection, rkey string, record any) (Write, error) {
	w := Write{Action: action}
	var err error
	if w.Collection, err = syntax.ParseNSID(collection); err != nil {
		return Write{}, fmt.Errorf("%w: collection: %v", ErrInvalidWrite, err)
	}
	if w.RKey, err = syntax.ParseRecordKey(rkey); err != nil {
		return Write{}, fmt.Errorf("%w: record key: %v", ErrInvalidWrite, err)
	}
	if action != Delete {
		if m, ok := record.(map[string]any); ok {
			if _, typed := m["$type"]; !typed {
				withType := make(map[string]any, len(m)+1)
				for k, v := range m {
					withType[k] = v
				}
				withType["$type"] = collection
				record = withType
			}
		}
		if w.Record, err = datamodel.Marshal(record); err != nil {
			return Write{}, fmt.Errorf("%w: record: %v", ErrInvalidWrite, err)
		}
	}
	return w, w.Validate()
}

// WriteFromJSON builds a write for a record given as atproto JSON (see
// [datamodel.FromJSON]: {"$link": ...} for CIDs, {"$bytes": ...} for bytes,
// blob objects), in one call: the JSON must be an object; a missing
// "$type" becomes the collection, and a "$type" naming another collection
// is refused, as in [NewWrite]. recordJSON is ignored for Delete (it may be
// nil). Every error wraps ErrInvalidWrite.
func WriteFromJSON(action Action, collection, rkey string, recordJSON []byte) (Write, error) {
	if _, err := ParseAction(string(action)); err != nil {
		return Write{}, fmt.Errorf("%w: %v", ErrInvalidWrite, err)
	}
	var rec any
	if action != Delete {
		v, err := datamodel.FromJSON(recordJSON)
		if err != nil {
			return Write{}, fmt.Errorf("%w: record JSON: %v", ErrInvalidWrite, err)
		}
		if _, ok := v.(map[string]any); !ok {
			return Write{}, fmt.Errorf("%w: record JSON is not an object", ErrInvalidWrite)
		}
		rec = v
	}
	return NewWrite(action, collection, rkey, rec)
}

// Op is a record operation as a commit and the event stream record it. For
// Create, Prev is undefined; for Delete, CID is undefined (always, even if
// the write carried a record).
type Op struct {
	Action Action
	Path   string
	CID    cid.Cid // the new record, or cid.Undef
	Prev   cid.Cid // the record before the write, or cid.Undef
}
