// Command peers runs the same workloads on atlite and on indigo (Bluesky's
// Go implementation: its sqlite carstore driven through repomgr), in one
// process, interleaved, and prints a markdown table of the two times and
// their ratio (indigo / atlite: above 1 means atlite is faster).
//
// It is its own Go module so that indigo stays out of atlite's go.mod. Run
// it from this directory:
//
//	cd bench/peers && go run . -n 100000 -rounds 2
//
// The repo is generated (seeded, so the same -n gives the same records):
// a profile, posts, likes, reposts, follows and odd data-model records,
// under app.bsky collections and two unknown ones. Both engines are fed the
// same DAG-CBOR bytes under the same keys and sign with the same real K-256
// key; the run fails unless both end with the same MST root and record
// count.
//
// Workloads: the preload itself in 200-record commits; file size after it;
// GetRecord at head; single-record commits (with the floor: a bare SQLite
// transaction of the same blocks plus a signature); full export to a file;
// load + verify of the exported CAR without a store; import of that CAR
// into a fresh store; the MST in memory (build, insert, 10-key diff). With
// -mem, the import and verify are run once more per engine in a child
// process to measure the peak RSS growth (VmHWM minus VmRSS before the work,
// from /proc/self/status) and the peak Go heap (HeapInuse sampled every
// 5 ms).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-child" {
		os.Exit(childMain(os.Args[2:]))
	}
	var cfg config
	flag.IntVar(&cfg.N, "n", envInt("PEERS_N", 100_000), "records in the generated repo (env PEERS_N)")
	flag.IntVar(&cfg.Rounds, "rounds", envInt("PEERS_ROUNDS", 2), "rounds of each workload, interleaved (env PEERS_ROUNDS)")
	flag.IntVar(&cfg.Singles, "singles", 200, "single-record commits per engine per round")
	flag.IntVar(&cfg.Gets, "gets", 5000, "GetRecord calls per engine per round")
	flag.StringVar(&cfg.Dir, "dir", "", "working directory (default: a new temporary directory, removed at the end)")
	flag.BoolVar(&cfg.Mem, "mem", true, "measure import and verify memory in child processes")
	gc := flag.Bool("gc", false, "run only the GC workload on atlite: file size with GC off and on, VACUUM against incremental vacuum, commit latency with GC beside")
	flag.Parse()
	cfg.Log = os.Stderr
	if cfg.Dir == "" {
		d, err := os.MkdirTemp("", "atlite-peers-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "peers:", err)
			os.Exit(1)
		}
		defer os.RemoveAll(d)
		cfg.Dir = d
	}
	if *gc {
		out, err := runGC(context.Background(), cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, "peers:", err)
			os.Exit(1)
		}
		fmt.Print(out)
		return
	}
	res, err := run(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		os.Exit(1)
	}
	fmt.Print(res.table())
}

// envInt reads an integer from the environment, or returns def.
func envInt(name string, def int) int {
	var n int
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		if _, err := fmt.Sscan(v, &n); err == nil && n > 0 {
			return n
		}
	}
	return def
}
