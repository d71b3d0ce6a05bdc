// Package didtest provides an in-process fake PLC directory for tests.
//
// [NewDirectory] starts an httptest server on the loopback interface that
// implements the directory's HTTP API and its rules (through [did.History]):
// it validates operations and their signatures, checks the prev chain,
// refuses operations signed by a key that is not allowed, applies recovery
// (nullification) with the 72-hour window, and serves
//
//	POST /{did}            submit an operation (400 with {"message"} if refused)
//	GET  /{did}            the DID document (404 unknown, 410 tombstoned)
//	GET  /{did}/data       the current state
//	GET  /{did}/log        the active operations
//	GET  /{did}/log/audit  the audit log, nullified entries included
//	GET  /{did}/log/last   the latest active operation
//
// It never touches the network beyond loopback. A Directory is safe for
// concurrent use.
package didtest
