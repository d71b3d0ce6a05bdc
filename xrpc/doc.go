// Package xrpc serves an atlite Store over HTTP as a single-user AT Protocol
// PDS: the XRPC methods of com.atproto.server, com.atproto.repo,
// com.atproto.sync and com.atproto.identity, and the subscribeRepos
// firehose over WebSocket.
//
// It is an adapter: it holds no SQL and no storage logic of its own. Every
// request is parsed and checked here (parameters by their lexicon formats,
// bodies by size and JSON shape), turned into one call of the Store, and the
// Store's answer or error is written back as the lexicon says: JSON bodies,
// CAR streams (application/vnd.ipld.car), or an XRPC error
// {"error": NAME, "message": TEXT} with its HTTP status.
//
// Errors: unknown methods answer 501 MethodNotImplemented; bad or missing
// parameters 400 InvalidRequest naming the parameter; oversized bodies 413
// PayloadTooLarge; a panic in a handler 500 InternalServerError, and the
// server goes on. Store errors map to RepoNotFound, RecordNotFound,
// InvalidSwap and so on (see [ErrorFor]).
package xrpc
