// Package interop runs the reference AT Protocol clients, written in
// TypeScript by others, against "atlite serve" on loopback: @atproto/api's
// AtpAgent (agent.mjs) and @atproto/sync's Firehose with commit
// authentication (firehose.mjs). Their node modules come from "npm ci" in
// this folder; without them the test skips, except under CI (CI set), where
// it fails.
package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/atlite-dev/atlite/did/didtest"
)

const (
	handle   = "alice.test"
	password = "interop password, long enough"
	// nodeTimeout bounds each node process.
	nodeTimeout = 60 * time.Second
	// agentCommits is how many commits agent.mjs makes.
	agentCommits = 10
)

// lockedBuffer is a bytes.Buffer that a process writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// needNode skips (fails under CI) when node or the node modules are missing.
func needNode(t *testing.T) string {
	t.Helper()
	if raceEnabled {
		t.Skip("the interop test runs external processes; skipped under -race (it runs in the plain go test)")
	}
	miss := func(why string) {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s (CI runs \"npm ci\" in interop/ before the tests)", why)
		}
		t.Skipf("%s: run \"npm ci\" in interop/ to run the interop test", why)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		miss("no node on PATH")
	}
	for _, p := range []string{"@atproto/api", "@atproto/sync", "@atproto/identity", "@atproto/repo"} {
		if _, err := os.Stat(filepath.Join("node_modules", p, "package.json")); err != nil {
			miss("no node_modules/" + p)
		}
	}
	return node
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// server is "atlite serve" running on loopback.
type server struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan error
	base   string
}

// startServer builds atlite, creates the repo (its genesis operation
// published to the fake PLC directory plc) and serves it.
func startServer(t *testing.T, plc string) (*server, string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "atlite")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/atlite-dev/atlite/cmd/atlite")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	db := filepath.Join(dir, "pds.db")
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)

	initCmd := exec.CommandContext(ctx, bin, "--db", db, "--json", "init", "--handle", handle, "--pds", base, "--plc", plc, "--password-stdin")
	initCmd.Stdin = strings.NewReader(password + "\n")
	out, err := initCmd.Output()
	if err != nil {
		t.Fatalf("atlite init: %v\n%s", err, out)
	}
	var res struct{ DID, Published string }
	if err := json.Unmarshal(out, &res); err != nil || !strings.HasPrefix(res.DID, "did:plc:") || res.Published != plc {
		t.Fatalf("atlite init printed %s (%v)", out, err)
	}

	s := &server{stderr: &lockedBuffer{}, done: make(chan error, 1)}
	s.cmd = exec.Command(bin, "--db", db, "serve", "--addr", fmt.Sprintf("127.0.0.1:%d", port), "--handle-domains", ".test")
	s.cmd.Stdout = io.Discard
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Kill()
			<-s.done
		}
	})
	re := regexp.MustCompile(`listening on (http://\S+)\n`)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(s.stderr.String()); m != nil {
			s.base = m[1]
			break
		}
		select {
		case err := <-s.done:
			t.Fatalf("atlite serve exited: %v\n%s", err, s.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("atlite serve printed no listening line:\n%s", s.stderr.String())
		}
	}
	if s.base != base {
		t.Fatalf("atlite serve listens on %s, want %s", s.base, base)
	}
	return s, res.DID
}

// stop sends SIGTERM and expects a clean exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("atlite serve after SIGTERM: %v\n%s", err, s.stderr.String())
		}
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		t.Errorf("atlite serve did not stop on SIGTERM")
	}
}

// nodeProc is a node script running.
type nodeProc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr *lockedBuffer
	done           chan error
	cancel         context.CancelFunc
}

// startNode runs node script args with $PLC_URL = plc and env added.
func startNode(t *testing.T, node, plc string, env []string, script string, args ...string) *nodeProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), nodeTimeout)
	p := &nodeProc{name: script, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan error, 1), cancel: cancel}
	p.cmd = exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	p.cmd.Env = append(append(os.Environ(), "PLC_URL="+plc), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-p.done
	})
	return p
}

// wait waits for the script's exit and returns its stdout; it fails the
// test when the script fails.
func (p *nodeProc) wait(t *testing.T) string {
	t.Helper()
	err := <-p.done
	p.done <- err // for the cleanup
	p.cancel()
	out := p.stdout.String()
	t.Logf("%s stdout:\n%s", p.name, out)
	if e := p.stderr.String(); e != "" {
		t.Logf("%s stderr:\n%s", p.name, e)
	}
	if err != nil {
		t.Fatalf("%s: %v", p.name, err)
	}
	return out
}

// waitFor waits until the script printed a line matching re.
func (p *nodeProc) waitFor(t *testing.T, re *regexp.Regexp) {
	t.Helper()
	for deadline := time.Now().Add(nodeTimeout); !re.MatchString(p.stdout.String()); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("%s exited (%v) before printing %s:\n%s\n%s", p.name, err, re, p.stdout.String(), p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s printed no %s in %s", p.name, re, nodeTimeout)
		}
	}
}

type op struct {
	Action string  `json:"action"`
	Path   string  `json:"path"`
	CID    *string `json:"cid"`
}

type commit struct {
	Rev string `json:"rev"`
	Ops []op   `json:"ops"`
}

// lastJSON parses the JSON after prefix on the output's last line that
// starts with it.
func lastJSON(t *testing.T, out, prefix string) []commit {
	t.Helper()
	var line string
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			line = strings.TrimPrefix(sc.Text(), prefix)
		}
	}
	var cs []commit
	if err := json.Unmarshal([]byte(line), &cs); err != nil {
		t.Fatalf("no %q line with JSON (%v) in:\n%s", prefix, err, out)
	}
	return cs
}

func sameCommits(t *testing.T, what string, got, want []commit) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// TestReferenceClients runs agent.mjs while firehose.mjs follows the
// firehose live, then firehose.mjs again replaying it from cursor 0, and
// checks that both firehose runs saw exactly the commits the agent made,
// after the commit of "atlite init".
func TestReferenceClients(t *testing.T) {
	node := needNode(t)
	plc := didtest.NewDirectory()
	defer plc.Close()
	srv, did := startServer(t, plc.URL())
	t.Logf("%s serves %s (%s)", srv.base, did, handle)
	n := fmt.Sprint(agentCommits + 1)

	live := startNode(t, node, plc.URL(), nil, "firehose.mjs", srv.base, did, handle, n)
	live.waitFor(t, regexp.MustCompile(`(?m)^account seq=`))
	agentOut := startNode(t, node, plc.URL(), nil, "agent.mjs", srv.base, handle, password).wait(t)
	if !strings.Contains(agentOut, "\nagent: ") {
		t.Fatalf("agent.mjs printed no summary line")
	}
	want := lastJSON(t, agentOut, "EXPECT ")
	if len(want) != agentCommits {
		t.Fatalf("agent.mjs made %d commits, the test expects %d", len(want), agentCommits)
	}
	liveOut := live.wait(t)
	for i, out := range []string{liveOut, startNode(t, node, plc.URL(), nil, "firehose.mjs", srv.base, did, handle, n).wait(t)} {
		seen := lastJSON(t, out, "SEEN ")
		what := []string{"live firehose", "firehose replayed from cursor 0"}[i]
		if len(seen) != agentCommits+1 || len(seen[0].Ops) != 0 {
			t.Fatalf("%s: %d commits, want the empty commit of init then %d", what, len(seen), agentCommits)
		}
		sameCommits(t, what, seen[1:], want)
	}

	// A consumer resuming from the seq of the agent's 5th commit gets the
	// five after it.
	seqs := regexp.MustCompile(`(?m)^commit seq=(\d+) `).FindAllStringSubmatch(liveOut, -1)
	if len(seqs) != agentCommits+1 {
		t.Fatalf("live firehose printed %d commit lines", len(seqs))
	}
	const from = 5
	out := startNode(t, node, plc.URL(), []string{"CURSOR=" + seqs[from][1]}, "firehose.mjs", srv.base, did, handle, fmt.Sprint(agentCommits-from)).wait(t)
	sameCommits(t, "firehose from cursor "+seqs[from][1], lastJSON(t, out, "SEEN "), want[from:])

	// A cursor past the last seq: an error frame FutureCursor.
	if out := startNode(t, node, plc.URL(), nil, "future-cursor.mjs", srv.base).wait(t); !strings.HasPrefix(out, "ok FutureCursor") {
		t.Errorf("future-cursor.mjs printed %q", out)
	}
	srv.stop(t)
	if t.Failed() {
		t.Logf("atlite serve stderr:\n%s", srv.stderr.String())
	}
}

// TestSharedSession runs shared-session.mjs: two AtpAgents share one
// session; after one refreshes it, the other's stale access token gets 401
// and its refresh with the rotated token must still work (the store's
// RefreshGracePeriod), so neither signs the other out, as with the
// reference PDS.
func TestSharedSession(t *testing.T) {
	node := needNode(t)
	plc := didtest.NewDirectory()
	defer plc.Close()
	srv, _ := startServer(t, plc.URL())
	startNode(t, node, plc.URL(), nil, "shared-session.mjs", srv.base, handle, password).wait(t)
	srv.stop(t)
}
