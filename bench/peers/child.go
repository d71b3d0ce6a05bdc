package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/atlite-dev/atlite"
)

// childResult is what a child process measured.
type childResult struct {
	RSSMB   float64 // VmHWM at the end minus VmRSS before the work, MB
	HeapMB  float64 // peak HeapInuse sampled every 5 ms minus HeapInuse before, MB
	Records int
	CPUSec  float64 // the child's user + system CPU time, whole process, seconds
}

// runChild runs one workload (import-atlite, import-indigo, verify-atlite,
// verify-indigo) on the CAR at carPath in a child process of this binary,
// working in dir, and returns what it measured.
func runChild(mode, carPath, dir string) (childResult, error) {
	var cr childResult
	exe, err := os.Executable()
	if err != nil {
		return cr, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return cr, err
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command(exe, "-child", "-mode", mode, "-car", carPath, "-dir", dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return cr, err
	}
	if err := json.Unmarshal(out, &cr); err != nil {
		return cr, err
	}
	cr.CPUSec = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	return cr, nil
}

// childMain is the child process's main. With PEERS_CPUPROFILE set it
// writes a CPU profile of the workload there.
func childMain(args []string) int {
	fs := flag.NewFlagSet("child", flag.ContinueOnError)
	mode := fs.String("mode", "", "workload")
	carPath := fs.String("car", "", "CAR file")
	dir := fs.String("dir", "", "working directory")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx := context.Background()
	akey, km, err := signingKeys()
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	if path := os.Getenv("PEERS_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	rss0 := procStatus("VmRSS")
	stop := make(chan struct{})
	peak := peakHeap(stop)
	var n int
	switch *mode {
	case "import-atlite":
		_, n, err = importAtlite(ctx, *carPath, filepath.Join(*dir, "import.db"), akey.PublicKey())
	case "import-indigo":
		_, n, err = importIndigo(ctx, *carPath, filepath.Join(*dir, "import"), km)
	case "verify-atlite":
		err = readFile(*carPath, func(r io.Reader) error {
			vr, err := atlite.VerifyCAR(ctx, r, akey.PublicKey())
			if err == nil {
				n = vr.Records
			}
			return err
		})
	case "verify-indigo":
		err = readFile(*carPath, func(r io.Reader) error {
			var err error
			n, err = indigoVerify(ctx, r, km.pub)
			return err
		})
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	close(stop)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	hwm := procStatus("VmHWM")
	b, _ := json.Marshal(childResult{
		RSSMB:   float64(hwm-rss0) / 1e6,
		HeapMB:  float64(int64(peak())-int64(base.HeapInuse)) / 1e6,
		Records: n,
	})
	os.Stdout.Write(b)
	return 0
}

// procStatus returns a field of /proc/self/status in bytes (0 if absent).
func procStatus(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		var kb int64
		fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kb)
		return kb * 1024
	}
	return 0
}

// peakHeap samples HeapInuse every 5 ms until stop is closed and returns
// a function giving the peak.
func peakHeap(stop <-chan struct{}) func() uint64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { <-done; return peak.Load() }
}
