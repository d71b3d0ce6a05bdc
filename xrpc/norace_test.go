//go:build !race

package xrpc

// raceEnabled reports a build with the race detector, whose slowdown
// makes timing measurements meaningless.
const raceEnabled = false
