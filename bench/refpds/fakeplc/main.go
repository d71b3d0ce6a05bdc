// Command fakeplc serves a fake PLC directory on loopback for
// bench/refpds/run.sh: the reference PDS creates its account's did:plc
// through it instead of the real directory. It prints the directory's base
// URL on one line of stdout and serves until SIGINT or SIGTERM.
//
// It is the module's test directory ([didtest.NewDirectory]): operations
// are validated and their signatures checked, and GET /{did},
// /{did}/data, /{did}/log, /{did}/log/audit and /{did}/log/last answer from
// the stored operations. Nothing leaves the machine.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/atlite-dev/atlite/did/didtest"
)

func main() {
	d := didtest.NewDirectory()
	defer d.Close()
	fmt.Println(d.URL())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	posted, refused := d.Posts()
	fmt.Fprintf(os.Stderr, "fakeplc: %d operations posted, %d refused\n", posted, refused)
}
