// Package xrpc serves an atlite Store over HTTP as a single-user AT Protocol
// PDS: the XRPC methods of com.atproto.server, com.atproto.repo,
// com.atproto.sync and com.atproto.identity, and the subscribeRepos
// firehose over WebSocket.
//
// It is an adapter: it holds no SQL and no storage logic of its own. Every
// request is parsed and checked here (parameters by their lexicon formats,
// bodies by size and JSON shape, records of createRecord, putRecord and
// applyWrites by their collection's lexicon as their validate input asks,
// with [Options.Lexicons]), turned into one call of the Store, and the
// Store's answer or error is written back as the lexicon says: JSON bodies,
// CAR streams (application/vnd.ipld.car), or an XRPC error
// {"error": NAME, "message": TEXT} with its HTTP status.
//
// Errors: unknown methods answer 501 MethodNotImplemented; bad or missing
// parameters 400 InvalidRequest naming the parameter; oversized bodies 413
// PayloadTooLarge; a panic in a handler 500 InternalServerError, and the
// server goes on. Store errors map to RepoNotFound, RecordNotFound,
// InvalidSwap and so on (see [ErrorFor]).
//
// # Authentication
//
// createSession answers an access token (HS256, typ at+jwt, two hours) and
// a refresh token (typ refresh+jwt) whose jti is the Store's opaque refresh
// token, signed with a secret kept in the file (Store.ServerSecret). Every
// write and account method needs a live access token: signing out, a
// refresh or revoking an app password ends it at once. Missing, malformed
// and expired tokens answer 401 AuthMissing, InvalidToken and ExpiredToken;
// app passwords cannot manage the account. createSession is limited per
// client address (30 in 5 minutes).
//
// # Firehose
//
// subscribeRepos frames are built from the events table: with a cursor the
// stream replays the events after it and goes live with no gap and no
// duplicate; without one it is live only. Events written by another
// process on the same file reach it too. A consumer that cannot keep up is
// sent ConsumerTooSlow and dropped, and slows no one else.
//
// # Proxying
//
// Methods this server does not implement (app.bsky.*, chat.bsky.*, or any
// method named by an atproto-proxy header) are forwarded to the configured
// AppView or chat service, or to the service the header names, with a
// service JWT signed by the account's key (Store.CreateServiceAuth).
package xrpc
