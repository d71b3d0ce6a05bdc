// Package dagcbor gives the module's own packages decoder entry points of
// package datamodel that are not part of its public API.
package dagcbor

// ValidateMap reports whether b is one strict DAG-CBOR map, with the error
// datamodel.UnmarshalMap would return, without building the value. It is
// set by package datamodel when it is initialized.
var ValidateMap func(b []byte) error

// RecordType reports whether b is one strict DAG-CBOR map, with the error
// datamodel.UnmarshalMap would return, and returns the value of its "$type"
// key (nil when it has none), building no other value. It is set by package
// datamodel when it is initialized.
var RecordType func(b []byte) (any, error)
