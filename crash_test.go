package atlite_test

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/testutil"
)

const crashEnv = "ATLITE_CRASH_CHILD"

// crashChild commits to the database at path until it is killed.
func crashChild(path string) {
	s, err := atlite.Open(path, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	did := mustDID(nil, "did:web:crash.example")
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for i := 0; ; i++ {
		n := 1 + r.IntN(20)
		writes := make([]commit.Write, 0, n)
		for j := 0; j < n; j++ {
			w, _ := commit.NewWrite(commit.Create, "com.example.crash", s.NextTID().String(), map[string]any{"i": int64(i), "j": int64(j), "pad": "crash test record"})
			writes = append(writes, w)
		}
		if _, err := s.Commit(ctx, did, writes, nil); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(4)
		}
		if i == 0 {
			fmt.Println(crashReady) // the parent kills from now on
		}
	}
}

// crashReady is the line a child prints after its first commit.
const crashReady = "committing"

// TestCrash kills a committing child process with SIGKILL at random moments
// and checks after each kill that the file is whole: integrity_check, every
// head a complete MST, gapless seqs, every event's commit stored and every
// head commit with its event. On the PostgreSQL half of the matrix the
// child writes to a PostgreSQL schema instead, with the same checks.
func TestCrash(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(path)
		return
	}
	kills := 20
	if testing.Short() {
		kills = 5
	}
	path := t.TempDir() + "/crash.db"
	if testutil.Backend() == testutil.BackendPostgres {
		path = testutil.PostgresURL(t)
		kills = 10
	}
	s, err := atlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRepo(ctx, mustDID(t, "did:web:crash.example"), &atlite.CreateRepoOptions{SigningKey: testutil.TestKey(t)}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	r := rand.New(rand.NewPCG(1, 2))
	var lastSeq int64
	for i := 0; i < kills; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$")
		cmd.Env = append(os.Environ(), crashEnv+"="+path)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill at a random moment after the child's first commit, however
		// long it takes to start (a race-instrumented build, a loaded
		// machine, a PostgreSQL connection).
		ready := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if sc.Text() == crashReady {
					ready <- true
					io.Copy(io.Discard, out)
					return
				}
			}
			ready <- false
		}()
		select {
		case ok := <-ready:
			if !ok {
				t.Fatalf("kill %d: the child ended before its first commit", i)
			}
		case <-time.After(2 * time.Minute):
			t.Fatalf("kill %d: no commit from the child in 2 minutes", i)
		}
		time.Sleep(time.Duration(r.IntN(300)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		err = cmd.Wait()
		if st, ok := cmd.ProcessState.Sys().(interface{ Signaled() bool }); !ok || !st.Signaled() {
			t.Fatalf("kill %d: child ended on its own: %v", i, err)
		}
		s, err := atlite.Open(path, nil)
		if err != nil {
			t.Fatalf("kill %d: reopen: %v", i, err)
		}
		if err := s.Check(ctx); err != nil {
			t.Fatalf("kill %d: Check = %v", i, err)
		}
		seq, _ := s.LastSeq(ctx, atlite.SubscribeReposNSID)
		if seq < lastSeq {
			t.Fatalf("kill %d: last seq went back from %d to %d", i, lastSeq, seq)
		}
		lastSeq = seq
		s.Close()
	}
	if lastSeq <= 3 {
		t.Errorf("children committed nothing (last seq %d)", lastSeq)
	}
	t.Logf("%d kills, %d events", kills, lastSeq)
}
