package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/atlite-dev/atlite/datamodel"
)

// killServer is an "atlite serve" process started by TestServeSIGKILL.
type killServer struct {
	cmd  *exec.Cmd
	base string      // http://127.0.0.1:PORT
	log  *syncBuffer // its stderr after the listening line
	done chan error  // cmd.Wait's result
}

// startKillServer starts bin serving db on a free loopback port and waits
// for its listening line.
func startKillServer(t *testing.T, bin, db string) *killServer {
	t.Helper()
	cmd := exec.Command(bin, "--db", db, "serve", "--addr", "127.0.0.1:0", "--handle-domains", ".test")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ks := &killServer{cmd: cmd, log: &syncBuffer{}, done: make(chan error, 1)}
	t.Cleanup(func() { cmd.Process.Kill(); <-ks.done })
	re := regexp.MustCompile(`^listening on (http://127\.0\.0\.1:\d+)$`)
	found := make(chan string, 1)
	go func() {
		// Keep draining stderr (a log line a request) so the server never
		// blocks on a full pipe.
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil && !sent {
				found <- m[1]
				sent = true
			}
			fmt.Fprintln(ks.log, sc.Text())
		}
		ks.done <- cmd.Wait()
	}()
	select {
	case ks.base = <-found:
	case <-time.After(10 * time.Second):
		t.Fatalf("no listening line from %s; stderr:\n%s", bin, ks.log.String())
	}
	return ks
}

// killCall calls an XRPC method with a JSON body (or none), decoding a 200
// answer into out. err is a transport error (the server was killed).
func killCall(c *http.Client, base, method, nsid, token string, body, out any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+"/xrpc/"+nsid, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, b, err
		}
	}
	return resp.StatusCode, b, nil
}

// frameSeq returns the seq of a firehose frame: the header is the one short
// prefix that decodes as a map, the body is the rest.
func frameSeq(b []byte) (string, int64, error) {
	for i := 1; i <= len(b) && i <= 64; i++ {
		h, err := datamodel.UnmarshalMap(b[:i])
		if err != nil {
			continue
		}
		if h["op"] != int64(1) {
			return "", 0, fmt.Errorf("frame header %v", h)
		}
		body, err := datamodel.UnmarshalMap(b[i:])
		if err != nil {
			return "", 0, fmt.Errorf("frame body: %w", err)
		}
		typ, _ := h["t"].(string)
		seq, ok := body["seq"].(int64)
		if !ok {
			return typ, 0, fmt.Errorf("%s frame without an integer seq", typ)
		}
		return typ, seq, nil
	}
	return "", 0, errors.New("frame without a header")
}

// TestServeSIGKILL runs the atlite binary as a real process, writes to it
// from 4 goroutines and SIGKILLs it mid-write, 3 times on the same file.
// Every write answered 200 must survive with its CID, the file must pass
// "atlite check", and the firehose replayed from cursor 0 must carry seqs
// 1..LastSeq with no gap and no duplicate.
func TestServeSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a real process; skipped with -short")
	}
	start := time.Now()
	dir := t.TempDir()
	bin := filepath.Join(dir, "atlite")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	db := filepath.Join(dir, "kill.db")
	const (
		did      = "did:web:kill.example"
		handle   = "kill.test"
		password = "a long kill password"
		writers  = 4
		rounds   = 3
	)
	initCmd := exec.Command(bin, "--db", db, "init", "--did", did, "--handle", handle, "--password-stdin")
	initCmd.Stdin = strings.NewReader(password + "\n")
	if out, err := initCmd.CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	t.Logf("built and initialized in %v", time.Since(start).Round(time.Millisecond))
	checkSeq := func() int64 {
		t.Helper()
		out, err := exec.Command(bin, "--db", db, "--json", "check").Output()
		if err != nil {
			t.Fatalf("atlite check: %v\n%s", err, out)
		}
		var chk struct {
			OK  bool  `json:"ok"`
			Seq int64 `json:"seq"`
		}
		if err := json.Unmarshal(out, &chk); err != nil || !chk.OK {
			t.Fatalf("atlite check = %s (%v), want ok", out, err)
		}
		return chk.Seq
	}
	initSeq := checkSeq()

	client := &http.Client{Timeout: 10 * time.Second}
	login := func(base string) string {
		t.Helper()
		var sess struct{ AccessJwt, Did string }
		code, b, err := killCall(client, base, "POST", "com.atproto.server.createSession", "",
			map[string]string{"identifier": handle, "password": password}, &sess)
		if err != nil || code != 200 || sess.Did != did {
			t.Fatalf("createSession = %d %s %v", code, b, err)
		}
		return sess.AccessJwt
	}

	type written struct{ URI, CID string }
	var (
		mu      sync.Mutex
		acked   []written
		refused = map[string]int{} // "status error" -> count, answers other than 200
		lost    int                // transport errors (the kill)
	)
	for round := 0; round < rounds; round++ {
		ks := startKillServer(t, bin, db)
		token := login(ks.base)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					rec := map[string]any{"repo": did, "collection": "app.bsky.feed.post",
						"record": map[string]any{"$type": "app.bsky.feed.post", "text": fmt.Sprintf("round %d writer %d #%d", round, w, i), "createdAt": "2026-12-01T00:00:00Z"}}
					var out written
					code, b, err := killCall(client, ks.base, "POST", "com.atproto.repo.createRecord", token, rec, &out)
					mu.Lock()
					switch {
					case err != nil && code == 0:
						lost++
					case err != nil:
						refused[fmt.Sprintf("%d undecodable %s", code, b)]++
					case code == 200:
						acked = append(acked, out)
					default:
						var xe struct{ Error string }
						json.Unmarshal(b, &xe)
						refused[fmt.Sprintf("%d %s", code, xe.Error)]++
					}
					mu.Unlock()
					if err != nil && code == 0 {
						return // killed
					}
				}
			}()
		}
		time.Sleep(time.Second)
		if err := ks.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		werr := <-ks.done
		ks.done <- werr // for the cleanup
		close(stop)
		wg.Wait()
		if ws, ok := ks.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: serve ended with %v, want killed by SIGKILL; stderr:\n%s", round, werr, ks.log.String())
		}
		mu.Lock()
		t.Logf("round %d: %d writes answered 200 so far, %d cut by the kill", round, len(acked), lost)
		mu.Unlock()
	}
	if len(refused) > 0 {
		t.Errorf("createRecord answers other than 200 (want none: only the kill may stop a write): %v", refused)
	}
	if len(acked) == 0 {
		t.Fatal("no write answered 200")
	}

	// The file passes atlite check; its LastSeq is what the firehose must
	// replay.
	lastSeq := checkSeq()
	// One event a commit: the writes answered 200, plus at most one a
	// request cut by a kill (committed, the answer lost).
	if n := lastSeq - initSeq; n < int64(len(acked)) || n > int64(len(acked)+lost) {
		t.Errorf("%d events after init, want %d writes answered 200 plus at most %d cut", n, len(acked), lost)
	}

	ks := startKillServer(t, bin, db)
	// Every write answered 200 is there with its CID.
	seen := map[string]bool{}
	for _, w := range acked {
		if seen[w.URI] {
			t.Errorf("two writes answered with the same URI %s", w.URI)
		}
		seen[w.URI] = true
		rest, ok := strings.CutPrefix(w.URI, "at://"+did+"/")
		coll, rkey, ok2 := strings.Cut(rest, "/")
		if !ok || !ok2 {
			t.Fatalf("createRecord answered URI %q", w.URI)
		}
		var got struct{ URI, CID string }
		q := url.Values{"repo": {did}, "collection": {coll}, "rkey": {rkey}}
		code, b, err := killCall(client, ks.base, "GET", "com.atproto.repo.getRecord?"+q.Encode(), "", nil, &got)
		if err != nil || code != 200 || got.CID != w.CID {
			t.Errorf("getRecord %s = %d %s %v, want CID %s (answered 200 before a SIGKILL)", w.URI, code, b, err, w.CID)
		}
	}

	// The firehose from cursor 0 replays seqs 1..LastSeq exactly once each.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ks.base, "http")+"/xrpc/com.atproto.sync.subscribeRepos?cursor=0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.SetReadLimit(16 << 20)
	var last int64
	types := map[string]int{}
	for last < lastSeq {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("firehose after seq %d of %d: %v", last, lastSeq, err)
		}
		typ, seq, err := frameSeq(b)
		if err != nil {
			t.Fatalf("firehose after seq %d: %v", last, err)
		}
		if seq != last+1 {
			t.Fatalf("firehose: seq %d (%s) after %d, want %d (no gap, no duplicate)", seq, typ, last, last+1)
		}
		types[typ]++
		last = seq
	}
	c.Close(websocket.StatusNormalClosure, "")
	t.Logf("%d writes answered 200 over %d SIGKILLs, %d cut; firehose replayed seqs 1..%d %v; %v in all",
		len(acked), rounds, lost, last, types, time.Since(start).Round(time.Millisecond))

	// A graceful stop still works on the file.
	if err := ks.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ks.done:
		ks.done <- err
		if err != nil {
			t.Errorf("serve after SIGTERM: %v; stderr:\n%s", err, ks.log.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
}
