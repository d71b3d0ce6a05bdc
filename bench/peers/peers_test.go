package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/atlite-dev/atlite/datamodel"
)

// TestMain lets the test binary serve as the child process of runChild.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-child" {
		os.Exit(childMain(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// TestGenRecordsDeterministic pins the generator: the same n gives the same
// records, so that runs on different machines compare the same repo.
func TestGenRecordsDeterministic(t *testing.T) {
	a, b := genRecords(2000), genRecords(2000)
	if len(a) != 2000 {
		t.Fatalf("genRecords(2000) gave %d records", len(a))
	}
	counts := map[string]int{}
	seen := map[string]bool{}
	for i := range a {
		if a[i].path() != b[i].path() || string(a[i].data) != string(b[i].data) {
			t.Fatalf("record %d differs between two calls: %s, %s", i, a[i].path(), b[i].path())
		}
		if seen[a[i].path()] {
			t.Fatalf("record %d: duplicate path %s", i, a[i].path())
		}
		seen[a[i].path()] = true
		if _, err := datamodel.Unmarshal(a[i].data); err != nil {
			t.Fatalf("record %d (%s) is not canonical DAG-CBOR: %v", i, a[i].path(), err)
		}
		counts[a[i].collection]++
	}
	if got, want := a[0].path(), "app.bsky.actor.profile/self"; got != want {
		t.Errorf("first record %s, want %s", got, want)
	}
	for _, c := range []string{collPost, collLike, collRepost, collFollow, collOdd, collBlob} {
		if counts[c] == 0 {
			t.Errorf("no %s record among 2000", c)
		}
	}
	if got, want := datamodel.CBORCID(a[1].data).String(), "bafyreibgr54zrukeoicrqd3qbzu4nrld7u2adutni32toov7ngleqagegi"; got != want {
		t.Errorf("CID of record 1 (%s) = %s, want %s", a[1].path(), got, want)
	}
}

// TestRunSmall runs every workload on a 2,000-record repo, one round, and
// checks that both engines hold the same repo, that indigo verifies and
// imports atlite's export and that atlite imports indigo's. This is the CI
// check of the peer benchmark.
func TestRunSmall(t *testing.T) {
	const n, singles = 2000, 20
	res, err := run(context.Background(), config{N: n, Rounds: 1, Singles: singles, Gets: 200, Dir: t.TempDir(), Mem: true})
	if err != nil {
		t.Fatal(err)
	}
	want := n + singles
	for name, got := range map[string]int{
		"atlite records": res.AtliteRecords, "indigo records": res.IndigoRecords,
		"verified by atlite": res.AtliteVerified, "verified by indigo": res.IndigoVerified,
		"imported by atlite": res.AtliteImported, "imported by indigo": res.IndigoImported,
		"indigo's export imported by atlite": res.CrossImported,
		"child import-atlite":                res.Mem["import-atlite"].Records,
		"child import-indigo":                res.Mem["import-indigo"].Records,
		"child verify-atlite":                res.Mem["verify-atlite"].Records,
		"child verify-indigo":                res.Mem["verify-indigo"].Records,
	} {
		if got != want {
			t.Errorf("%s: %d, want %d", name, got, want)
		}
	}
	if got, want := res.AtliteData.String(), "bafyreign3rk3p6yd4yojx6rh3noot4pnh4pnqdtnguxexd43jlinvhriv4"; got != want {
		t.Errorf("MST root after the preload = %s, want %s", got, want)
	}
	if res.AtliteData != res.IndigoData {
		t.Errorf("MST roots: atlite %s, indigo %s", res.AtliteData, res.IndigoData)
	}
	// The commit, the records and the MST nodes of the last head.
	if got, want := res.AtliteExportBlocks, 2557; got != want {
		t.Errorf("atlite export: %d blocks, want %d", got, want)
	}
	if res.IndigoExportBlocks <= res.AtliteExportBlocks {
		t.Errorf("indigo export: %d blocks, want more than atlite's %d (it keeps every block it stored)", res.IndigoExportBlocks, res.AtliteExportBlocks)
	}
	tab := res.table()
	for _, r := range res.rows {
		if !strings.Contains(tab, "| "+r.name+" |") {
			t.Errorf("table lacks row %q", r.name)
		}
	}
	if t.Failed() {
		t.Log("\n" + tab)
	}
}

// TestRunGCSmall runs the -gc workload on a 3,000-record repo: it must end
// with a file that Check passes, and print every step.
func TestRunGCSmall(t *testing.T) {
	var log strings.Builder
	gcLatency = 300 * time.Millisecond
	out, err := runGC(context.Background(), config{N: 3000, Rounds: 1, Dir: t.TempDir(), Log: &log})
	if err != nil {
		t.Fatalf("runGC: %v\n%s", err, log.String())
	}
	for _, want := range []string{
		"| GC off (all events kept) |",
		"| events pruned to the newest 1000, GC (",
		"| ... then VACUUM (",
		"| ... then incremental_vacuum (",
		"| single-record commits for 300ms, GC paced (Pace 3) beside, round 1 |",
		"live data exported as a CAR:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
