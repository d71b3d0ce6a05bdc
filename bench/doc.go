// Package bench holds atlite's end-to-end benchmarks: workloads through the
// public API on a file database with default settings, and the floor they
// are measured against (a bare SQLite transaction writing the same blocks
// plus one K-256 signature). It has no non-test code.
//
// Run them with:
//
//	go test -run '^$' -bench . -benchtime 2000x ./bench/
//
// The first benchmark builds a 100,000-record repo once (about half a
// minute) and every benchmark starts from a copy of it.
package bench
