package xrpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/car"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/internal/testutil"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/mst"
)

// firehoseURL is the subscribeRepos URL of hs, with a cursor unless it is "".
func firehoseURL(hs *httptest.Server, cursor string) string {
	u := "ws" + strings.TrimPrefix(hs.URL, "http") + "/xrpc/com.atproto.sync.subscribeRepos"
	if cursor != "" {
		u += "?cursor=" + cursor
	}
	return u
}

func dialFirehose(t testing.TB, ctx context.Context, hs *httptest.Server, cursor string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, firehoseURL(hs, cursor), opts)
	if err != nil {
		t.Fatalf("dialFirehose: %v", err)
	}
	c.SetReadLimit(16 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// splitFrame splits a frame into its header and body maps.
func splitFrame(b []byte) (header, body map[string]any, err error) {
	// The header is a small map: the one prefix that decodes is it.
	for i := 1; i <= len(b) && i <= 64; i++ {
		h, err := datamodel.UnmarshalMap(b[:i])
		if err != nil {
			continue
		}
		body, err := datamodel.UnmarshalMap(b[i:])
		if err != nil {
			return nil, nil, fmt.Errorf("body: %w", err)
		}
		return h, body, nil
	}
	return nil, nil, errors.New("no header")
}

type firehoseFrame struct {
	t    string // "#commit"...; "error" for op -1
	body map[string]any
}

func readFirehoseFrame(ctx context.Context, c *websocket.Conn) (firehoseFrame, error) {
	typ, b, err := c.Read(ctx)
	if err != nil {
		return firehoseFrame{}, err
	}
	if typ != websocket.MessageBinary {
		return firehoseFrame{}, fmt.Errorf("message type %v, want binary", typ)
	}
	h, body, err := splitFrame(b)
	if err != nil {
		return firehoseFrame{}, err
	}
	switch {
	case h["op"] == int64(1) && len(h) == 2:
		t, _ := h["t"].(string)
		return firehoseFrame{t: t, body: body}, nil
	case h["op"] == int64(-1) && len(h) == 1:
		return firehoseFrame{t: "error", body: body}, nil
	}
	return firehoseFrame{}, fmt.Errorf("bad header %v", h)
}

func mustReadFrame(t testing.TB, ctx context.Context, c *websocket.Conn) firehoseFrame {
	t.Helper()
	f, err := readFirehoseFrame(ctx, c)
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	return f
}

func frameKeys(m map[string]any) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}

// checkFrame compares a frame with the stored event it shows; for a
// #commit it verifies the blocks: the signed commit (with key) and the
// inversion of its ops onto prevData, using the frame's blocks only.
func checkFrame(t testing.TB, f firehoseFrame, e atlite.Event, key keys.PublicKey) {
	t.Helper()
	ctx := context.Background()
	if f.t != "#"+string(e.Kind) {
		t.Fatalf("frame %s, want #%s (seq %d)", f.t, e.Kind, e.Seq)
	}
	b := f.body
	tm := e.Time.UTC().Format(frameTime)
	if b["seq"] != e.Seq || b["time"] != tm {
		t.Errorf("seq %v time %v, want %d %s", b["seq"], b["time"], e.Seq, tm)
	}
	switch e.Kind {
	case atlite.KindCommit:
		want := "blobs,blocks,commit,ops,prevData,rebase,repo,rev,seq,since,time,tooBig"
		if !e.PrevData.Defined() {
			want = "blobs,blocks,commit,ops,rebase,repo,rev,seq,since,time,tooBig"
		}
		if got := frameKeys(b); got != want {
			t.Errorf("#commit %d keys %s, want %s", e.Seq, got, want)
		}
		var since any
		if e.Since != "" {
			since = e.Since.String()
		}
		if b["repo"] != e.DID.String() || b["commit"] != e.Commit || b["rev"] != e.Rev.String() || b["since"] != since ||
			b["rebase"] != false || b["tooBig"] != false || fmt.Sprint(b["blobs"]) != "[]" {
			t.Errorf("#commit %d = %v, want repo %s commit %s rev %s since %v", e.Seq, b, e.DID, e.Commit, e.Rev, since)
		}
		if e.PrevData.Defined() && b["prevData"] != e.PrevData {
			t.Errorf("#commit %d prevData %v, want %v", e.Seq, b["prevData"], e.PrevData)
		}
		ops, _ := b["ops"].([]any)
		if len(ops) != len(e.Ops) {
			t.Fatalf("#commit %d: %d ops, want %d", e.Seq, len(ops), len(e.Ops))
		}
		var rops []mst.RecordOp
		for i, o := range ops {
			om := o.(map[string]any)
			w := e.Ops[i]
			wantKeys, wantCID := "action,cid,path,prev", any(nil)
			if w.Action == commit.Create {
				wantKeys = "action,cid,path"
			}
			if w.CID.Defined() {
				wantCID = w.CID
			}
			if frameKeys(om) != wantKeys || om["action"] != string(w.Action) || om["path"] != w.Path || om["cid"] != wantCID ||
				(w.Prev.Defined() && om["prev"] != w.Prev) {
				t.Errorf("#commit %d op %d = %v, want %+v", e.Seq, i, om, w)
			}
			rops = append(rops, mst.RecordOp{Key: w.Path, Old: w.Prev, New: w.CID})
		}
		carb, _ := b["blocks"].([]byte)
		roots, blocks, err := frameCARMap(carb)
		if err != nil {
			t.Fatalf("#commit %d blocks: %v", e.Seq, err)
		}
		if len(roots) != 1 || roots[0] != e.Commit || len(blocks) != len(e.Blocks) {
			t.Errorf("#commit %d CAR roots %v, %d blocks; want [%v], %d", e.Seq, roots, len(blocks), e.Commit, len(e.Blocks))
		}
		mem := mst.NewMemBlocks(blocks)
		cb, err := mem.GetBlock(ctx, e.Commit)
		if err != nil {
			t.Fatalf("#commit %d: the commit is not in its blocks", e.Seq)
		}
		cmt, err := commit.Decode(cb)
		if err != nil {
			t.Fatal(err)
		}
		if err := cmt.Verify(key); err != nil {
			t.Errorf("#commit %d signature: %v", e.Seq, err)
		}
		if cmt.Rev != e.Rev || cmt.DID != e.DID {
			t.Errorf("#commit %d: commit rev %s did %s, want %s %s", e.Seq, cmt.Rev, cmt.DID, e.Rev, e.DID)
		}
		if e.PrevData.Defined() {
			if err := mst.VerifyInversion(ctx, mem, cmt.Data, rops, e.PrevData); err != nil {
				t.Errorf("#commit %d: inversion: %v", e.Seq, err)
			}
		}
	case atlite.KindIdentity:
		want := fmt.Sprintf("map[did:%s seq:%d time:%s]", e.DID, e.Seq, tm)
		if e.Handle != "" {
			want = fmt.Sprintf("map[did:%s handle:%s seq:%d time:%s]", e.DID, e.Handle, e.Seq, tm)
		}
		if got := fmt.Sprint(b); got != want {
			t.Errorf("#identity = %s, want %s", got, want)
		}
	case atlite.KindAccount:
		want := fmt.Sprintf("map[active:%v did:%s seq:%d time:%s]", e.Active, e.DID, e.Seq, tm)
		if e.Status != "" {
			want = fmt.Sprintf("map[active:%v did:%s seq:%d status:%s time:%s]", e.Active, e.DID, e.Seq, e.Status, tm)
		}
		if got := fmt.Sprint(b); got != want {
			t.Errorf("#account = %s, want %s", got, want)
		}
	case atlite.KindSync:
		if frameKeys(b) != "blocks,did,rev,seq,time" || b["did"] != e.DID.String() || b["rev"] != e.Rev.String() {
			t.Errorf("#sync = %v", b)
		}
		carb, _ := b["blocks"].([]byte)
		roots, blocks, err := frameCARBlocks(carb)
		if err != nil || len(roots) != 1 || roots[0] != e.Commit || len(blocks) != 1 || blocks[0].CID != e.Commit {
			t.Fatalf("#sync %d blocks: roots %v, %d blocks, %v; want the commit %v alone", e.Seq, roots, len(blocks), err, e.Commit)
		}
		cmt, err := commit.Decode(blocks[0].Data)
		if err != nil {
			t.Fatal(err)
		}
		if err := cmt.Verify(key); err != nil || cmt.Rev != e.Rev {
			t.Errorf("#sync %d commit: rev %s, signature %v; want rev %s", e.Seq, cmt.Rev, err, e.Rev)
		}
	}
}

func frameCARBlocks(b []byte) ([]cid.Cid, []car.Block, error) {
	return car.ReadAll(bytes.NewReader(b), nil)
}

func frameCARMap(b []byte) ([]cid.Cid, map[cid.Cid][]byte, error) {
	roots, blocks, err := frameCARBlocks(b)
	if err != nil {
		return nil, nil, err
	}
	m := make(map[cid.Cid][]byte, len(blocks))
	for _, bl := range blocks {
		m[bl.CID] = bl.Data
	}
	return roots, m, nil
}

// allEvents returns every stored event.
func allEvents(t testing.TB, st *atlite.Store) []atlite.Event {
	t.Helper()
	evs, err := st.Events(context.Background(), &atlite.EventsOptions{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// repoKeys returns each repo's signing key.
func repoKeys(t testing.TB, st *atlite.Store) map[string]keys.PublicKey {
	t.Helper()
	repos, _, err := st.ListRepos(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]keys.PublicKey{}
	for _, r := range repos {
		out[r.DID.String()] = r.SigningKey
	}
	return out
}

func TestFirehoseReplayThenLive(t *testing.T) {
	e := newSyncEnv(t, FirehoseOptions{Retention: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	evs := allEvents(t, e.st)
	if len(evs) != 18 {
		t.Fatalf("%d stored events, want 18", len(evs))
	}
	ks := repoKeys(t, e.st)
	c := dialFirehose(t, ctx, e.hs, "0", nil)
	for _, ev := range evs {
		checkFrame(t, mustReadFrame(t, ctx, c), ev, ks[ev.DID.String()])
	}
	// Live: an update and a delete (ops with prev) right after the replay.
	if _, err := e.st.Commit(ctx, e.alice, []commit.Write{syncPost(t, commit.Update, "a1", "one again", nil)}, nil); err != nil {
		t.Fatal(err)
	}
	dw, _ := commit.NewWrite(commit.Delete, syncPostNSID, "a3", nil)
	if _, err := e.st.Commit(ctx, e.alice, []commit.Write{dw}, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.st.UpdateHandle(ctx, e.alice, "alice2.example"); err != nil {
		t.Fatal(err)
	}
	all := allEvents(t, e.st)
	if len(all) != 21 {
		t.Fatalf("%d stored events, want 21", len(all))
	}
	for _, ev := range all[18:] {
		checkFrame(t, mustReadFrame(t, ctx, c), ev, ks[ev.DID.String()])
	}
	// An import emits #sync.
	other := testutil.MustOpenStore(t, nil)
	erin := syncDID(t, "did:web:erin.example")
	if _, err := other.CreateRepo(ctx, erin, &atlite.CreateRepoOptions{SigningKey: testutil.TestKey(t)}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Commit(ctx, erin, []commit.Write{syncPost(t, commit.Create, "e1", "erin", nil)}, nil); err != nil {
		t.Fatal(err)
	}
	var carBuf bytes.Buffer
	if _, err := other.ExportCAR(ctx, erin, &carBuf, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.ImportCAR(ctx, &carBuf, &atlite.ImportOptions{SigningKey: testutil.TestKey(t)}); err != nil {
		t.Fatal(err)
	}
	all = allEvents(t, e.st)
	ks = repoKeys(t, e.st)
	if len(all) != 22 || all[21].Kind != atlite.KindSync {
		t.Fatalf("%d stored events, the last %s; want 22, the last #sync", len(all), all[len(all)-1].Kind)
	}
	checkFrame(t, mustReadFrame(t, ctx, c), all[21], ks[erin.String()])
	// A cursor in the middle starts right after it.
	c2 := dialFirehose(t, ctx, e.hs, "19", nil)
	for _, ev := range all[19:] {
		checkFrame(t, mustReadFrame(t, ctx, c2), ev, ks[ev.DID.String()])
	}
	// The current seq as cursor, and no cursor: live only.
	c3 := dialFirehose(t, ctx, e.hs, "22", nil)
	c4 := dialFirehose(t, ctx, e.hs, "", nil)
	time.Sleep(50 * time.Millisecond) // let c4 start before the next commit
	if _, err := e.st.Commit(ctx, e.alice, []commit.Write{syncPost(t, commit.Create, "a5", "five", nil)}, nil); err != nil {
		t.Fatal(err)
	}
	last := allEvents(t, e.st)[22]
	for _, cc := range []*websocket.Conn{c, c3, c4} {
		f := mustReadFrame(t, ctx, cc)
		checkFrame(t, f, last, ks[last.DID.String()])
	}
}

func TestFirehoseCursorErrors(t *testing.T) {
	e := newSyncEnv(t, FirehoseOptions{Retention: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := dialFirehose(t, ctx, e.hs, "19", nil)
	f := mustReadFrame(t, ctx, c)
	if f.t != "error" || fmt.Sprint(f.body) != "map[error:FutureCursor message:Cursor 19 is past our current sequence number 18]" {
		t.Errorf("frame %s %v, want the FutureCursor error", f.t, f.body)
	}
	if _, err := readFirehoseFrame(ctx, c); websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Errorf("after FutureCursor: %v, want close 1008", err)
	}
	// Bad cursors, and a request that is not a WebSocket upgrade.
	for _, p := range []url.Values{syncQuery("cursor", "-1"), syncQuery("cursor", "x"), nil} {
		resp, b := e.get(t, "com.atproto.sync.subscribeRepos", p)
		syncWantError(t, resp, b, 400, "InvalidRequest")
	}
}

func TestFirehoseOutdatedCursor(t *testing.T) {
	e := newSyncEnv(t, FirehoseOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	evs := allEvents(t, e.st)
	ks := repoKeys(t, e.st)
	// A window of an hour that ends an hour after event 10: the events
	// from the first one as old as event 10 are retained.
	cutoff := evs[9].Time
	oldest := slices.IndexFunc(evs, func(ev atlite.Event) bool { return !ev.Time.Before(cutoff) })
	srv, err := New(e.st, &Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now: func() time.Time { return cutoff.Add(time.Hour) }, Firehose: FirehoseOptions{Retention: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	c := dialFirehose(t, ctx, hs, "2", nil)
	f := mustReadFrame(t, ctx, c)
	if f.t != "#info" || f.body["name"] != "OutdatedCursor" || frameKeys(f.body) != "message,name" {
		t.Fatalf("first frame %s %v, want #info OutdatedCursor", f.t, f.body)
	}
	for _, ev := range evs[oldest:] {
		checkFrame(t, mustReadFrame(t, ctx, c), ev, ks[ev.DID.String()])
	}
	// A cursor inside the window gets no #info.
	c2 := dialFirehose(t, ctx, hs, fmt.Sprint(evs[oldest].Seq), nil)
	checkFrame(t, mustReadFrame(t, ctx, c2), evs[oldest+1], ks[evs[oldest+1].DID.String()])
	c.CloseNow()
	c2.CloseNow()
}

func TestFirehoseOtherProcess(t *testing.T) {
	e := newSyncEnv(t, FirehoseOptions{Retention: -1, PollInterval: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := dialFirehose(t, ctx, e.hs, "18", nil)
	// Another Store on the same file: its commits are not published to
	// this process's subscribers, only written to the file.
	other, err := atlite.Open(e.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ks := repoKeys(t, e.st)
	for i := range 3 {
		if _, err := other.Commit(ctx, e.alice, []commit.Write{syncPost(t, commit.Create, fmt.Sprintf("o%d", i), "other", nil)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// And one from this process, after them.
	if _, err := e.st.Commit(ctx, e.alice, []commit.Write{syncPost(t, commit.Create, "here", "here", nil)}, nil); err != nil {
		t.Fatal(err)
	}
	evs := allEvents(t, e.st)
	for _, ev := range evs[18:] {
		checkFrame(t, mustReadFrame(t, ctx, c), ev, ks[ev.DID.String()])
	}
	start := time.Now()
	if _, err := other.Commit(ctx, e.alice, []commit.Write{syncPost(t, commit.Create, "o9", "other", nil)}, nil); err != nil {
		t.Fatal(err)
	}
	f := mustReadFrame(t, ctx, c)
	if f.body["seq"] != int64(len(evs)+1) {
		t.Errorf("seq %v, want %d", f.body["seq"], len(evs)+1)
	}
	t.Logf("a commit of another process reached the subscriber in %v (poll every 50ms)", time.Since(start))
}

func TestFirehoseShutdown(t *testing.T) {
	e := newSyncEnv(t, FirehoseOptions{Retention: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := dialFirehose(t, ctx, e.hs, "17", nil)
	mustReadFrame(t, ctx, c)
	done := make(chan error, 1)
	go func() {
		_, err := readFirehoseFrame(ctx, c)
		done <- err
	}()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// The server completes the close handshake with 1001; the client
	// library sometimes reports the end of the connection that follows
	// the handshake (EOF) instead of the close frame.
	if err := <-done; websocket.CloseStatus(err) != websocket.StatusGoingAway && !errors.Is(err, io.EOF) {
		t.Errorf("after Shutdown: %v, want close 1001", err)
	}
	if _, _, err := websocket.Dial(ctx, firehoseURL(e.hs, ""), nil); err == nil {
		t.Errorf("Dial after Shutdown succeeded")
	}
}

// logBuffer is a goroutine-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *logBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *logBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// commitSeq returns the seq of a #commit frame without decoding it all
// (the readers of the latency test share the two cores with the server
// and the writer): the header is {"t": "#commit", "op": 1}, and in the
// body's canonical key order "seq" comes before "blocks", so the first
// "seq" key is the body's. TestFirehoseReplayThenLive checks whole frames.
func commitSeq(b []byte) (int64, bool) {
	header := []byte("\xa2atg#commitbop\x01")
	if !bytes.HasPrefix(b, header) {
		return 0, false
	}
	i := bytes.Index(b, []byte("cseq"))
	if i < 0 || i+5 > len(b) {
		return 0, false
	}
	v, err := datamodel.Unmarshal(readCBORInt(b[i+4:]))
	if err != nil {
		return 0, false
	}
	n, ok := v.(int64)
	return n, ok
}

// readCBORInt returns the CBOR unsigned integer at the start of b.
func readCBORInt(b []byte) []byte {
	n := 1
	switch b[0] & 0x1f {
	case 24:
		n = 2
	case 25:
		n = 3
	case 26:
		n = 5
	case 27:
		n = 9
	}
	return b[:min(n, len(b))]
}

// commitLatencies summarizes commit latencies.
type commitLatencies struct{ median, mean, p90, p99, max time.Duration }

func (l commitLatencies) String() string {
	return fmt.Sprintf("median %v mean %v p90 %v p99 %v max %v", l.median, l.mean, l.p90, l.p99, l.max)
}

// commitLatency makes n one-record commits, one every pace, and returns
// their latencies.
func commitLatency(t *testing.T, st *atlite.Store, e *syncEnv, prefix string, n int, text string, pace time.Duration) commitLatencies {
	t.Helper()
	ctx := context.Background()
	lat := make([]time.Duration, n)
	for i := range n {
		w := syncPost(t, commit.Create, fmt.Sprintf("%s%04d", prefix, i), text, nil)
		start := time.Now()
		if _, err := st.Commit(ctx, e.alice, []commit.Write{w}, nil); err != nil {
			t.Fatal(err)
		}
		lat[i] = time.Since(start)
		time.Sleep(pace)
	}
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	slices.Sort(lat)
	return commitLatencies{lat[n/2], sum / time.Duration(n), lat[n*9/10], lat[n*99/100], lat[n-1]}
}

func TestFirehoseManyConsumers(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	logs := &logBuffer{}
	e := newSyncEnv(t, FirehoseOptions{Retention: -1})
	// A reader of 99 must not fall a whole WriteTimeout behind: under the
	// race detector, with other test binaries on the same 2 cores, 2 s was
	// not enough (14 readers dropped in CI), so it gets more time there.
	wt := 2 * time.Second
	if raceEnabled {
		wt = 8 * time.Second
	}
	srv, err := New(e.st, &Options{Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Firehose: FirehoseOptions{Retention: -1, Queue: 16, WriteTimeout: wt, SendBuffer: 32 << 10}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const commits = 200
	text := strings.Repeat("x", 2000) // frames of about 3 kB
	// Warm up, then the latency without subscribers.
	const pace = 20 * time.Millisecond // 50 commits/s at most
	commitLatency(t, e.st, e, "w", 20, text, pace)
	lat0 := commitLatency(t, e.st, e, "n", commits, text, pace)

	head, err := e.st.LastSeq(ctx, atlite.SubscribeReposNSID)
	if err != nil {
		t.Fatal(err)
	}
	const readers = 99
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	frames := make([][]int64, readers)
	for i := range readers {
		c := dialFirehose(t, ctx, hs, fmt.Sprint(head), nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			seqs := make([]int64, 0, commits)
			for range commits {
				_, b, err := c.Read(ctx)
				if err != nil {
					errs <- fmt.Errorf("reader %d after %d frames: %v", i, len(seqs), err)
					return
				}
				seq, ok := commitSeq(b)
				if !ok {
					errs <- fmt.Errorf("reader %d: not a #commit frame: %x", i, b[:min(len(b), 64)])
					return
				}
				seqs = append(seqs, seq)
			}
			c.CloseNow() // done: leave the stalled consumer alone
			frames[i] = seqs
		}()
	}
	// The stalled consumer: a tiny receive buffer, and it reads nothing.
	stalled := dialFirehose(t, ctx, hs, fmt.Sprint(head), &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				conn.(*net.TCPConn).SetReadBuffer(4 << 10)
			}
			return conn, err
		},
	}}})
	time.Sleep(100 * time.Millisecond) // every consumer connected
	lat100 := commitLatency(t, e.st, e, "s", commits, text, pace)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i, seqs := range frames {
		for j, seq := range seqs {
			if want := head + 1 + int64(j); seq != want {
				t.Fatalf("reader %d frame %d: seq %d, want %d", i, j, seq, want)
			}
		}
		if len(seqs) != commits {
			t.Errorf("reader %d got %d frames, want %d", i, len(seqs), commits)
		}
	}
	t.Logf("commit latency, %d commits of 2 kB records, one every %v:\n\t  0 subscribers: %v\n\t100 subscribers (one stalled): %v\n\tmedian x%.2f, mean x%.2f",
		commits, pace, lat0, lat100, float64(lat100.median)/float64(lat0.median), float64(lat100.mean)/float64(lat0.mean))
	if lat100.median > 2*lat0.median && !raceEnabled {
		t.Errorf("median commit latency with 100 subscribers %v, without %v: more than 2x", lat100.median, lat0.median)
	}
	// The stalled one is dropped.
	// How much it takes to jam its socket depends on the kernel: commit
	// until it is dropped.
	extra := 0
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "firehose consumer too slow") && time.Now().Before(deadline) {
		if _, err := e.st.Commit(ctx, e.alice, []commit.Write{syncPost(t, commit.Create, fmt.Sprintf("x%05d", extra), text, nil)}, nil); err != nil {
			t.Fatal(err)
		}
		extra++
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "firehose consumer too slow") {
		t.Fatalf("the stalled consumer was not dropped; log:\n%s", logs.String())
	}
	// It reads again: it gets the frames that were on their way, then the
	// error frame or, when it was stuck too long for its last write to
	// end (here: while the other consumers were measured; see
	// TestFirehoseTooSlowFrame), the end of the connection.
	want := head + 1
	var end error
	for {
		f, err := readFirehoseFrame(ctx, stalled)
		if err != nil {
			end = err
			break
		}
		if f.t == "error" {
			if f.body["error"] != "ConsumerTooSlow" {
				t.Errorf("error frame %v, want ConsumerTooSlow", f.body)
			}
			end = fmt.Errorf("error frame %v", f.body)
			break
		}
		if f.body["seq"] != want {
			t.Fatalf("stalled consumer: seq %v, want %d", f.body["seq"], want)
		}
		want++
	}
	if want > head+int64(commits+extra) {
		t.Errorf("the stalled consumer got every event")
	}
	t.Logf("the stalled consumer got %d of %d events before it was dropped, then: %v", want-head-1, commits+extra, end)
}

func TestFirehoseReplayRate(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	e := newSyncEnv(t, FirehoseOptions{Retention: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 2000
	for i := range n / 10 {
		var ws []commit.Write
		for j := range 10 {
			ws = append(ws, syncPost(t, commit.Create, fmt.Sprintf("r%03d%d", i, j), "replay", nil))
		}
		if _, err := e.st.Commit(ctx, e.alice, ws, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n - n/10 {
		if _, err := e.st.Commit(ctx, e.alice, []commit.Write{syncPost(t, commit.Create, fmt.Sprintf("s%05d", i), "replay", nil)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	total := int64(18 + n)
	for _, round := range []string{"cold", "cached"} {
		c := dialFirehose(t, ctx, e.hs, "0", nil)
		start := time.Now()
		for want := int64(1); want <= total; want++ {
			f := mustReadFrame(t, ctx, c)
			if f.body["seq"] != want {
				t.Fatalf("seq %v, want %d", f.body["seq"], want)
			}
		}
		d := time.Since(start)
		t.Logf("replay (%s) of %d frames: %v, %.0f frames/s", round, total, d, float64(total)/d.Seconds())
		c.CloseNow()
	}
}

func TestFirehosePing(t *testing.T) {
	logs := &logBuffer{}
	e := newSyncEnv(t, FirehoseOptions{})
	srv, err := New(e.st, &Options{Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Firehose: FirehoseOptions{PingInterval: 20 * time.Millisecond, WriteTimeout: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// A reading client answers the pings (its Read does) and stays.
	c := dialFirehose(t, ctx, hs, "", nil)
	got := make(chan firehoseFrame, 1)
	go func() {
		for {
			f, err := readFirehoseFrame(ctx, c)
			if err != nil {
				return
			}
			got <- f
		}
	}()
	time.Sleep(300 * time.Millisecond) // many pings
	if _, err := e.st.Commit(ctx, e.alice, []commit.Write{syncPost(t, commit.Create, "p1", "ping", nil)}, nil); err != nil {
		t.Fatal(err)
	}
	if f := <-got; f.t != "#commit" || f.body["seq"] != int64(19) {
		t.Errorf("after pings: %s seq %v, want #commit 19", f.t, f.body["seq"])
	}
	// A client that reads nothing answers no ping: it is disconnected.
	mute := dialFirehose(t, ctx, hs, "", nil)
	_ = mute
	deadline := time.Now().Add(5 * time.Second)
	for srv.firehose.conns() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := srv.firehose.conns(); n != 1 {
		t.Errorf("%d connections, want 1 (the mute client dropped)", n)
	}
	// The reading client is still served.
	if _, err := e.st.Commit(ctx, e.alice, []commit.Write{syncPost(t, commit.Create, "p2", "ping", nil)}, nil); err != nil {
		t.Fatal(err)
	}
	if f := <-got; f.t != "#commit" || f.body["seq"] != int64(20) {
		t.Errorf("after the drop: %s seq %v, want #commit 20", f.t, f.body["seq"])
	}
	c.CloseNow()
}

// smallReadBuffer dials with a 4 kB socket receive buffer, so that a
// client that stops reading jams its connection quickly.
var smallReadBuffer = &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{
	DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			conn.(*net.TCPConn).SetReadBuffer(4 << 10)
		}
		return conn, err
	},
}}}

func TestFirehoseTooSlowFrame(t *testing.T) {
	logs := &logBuffer{}
	e := newSyncEnv(t, FirehoseOptions{})
	srv, err := New(e.st, &Options{Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Firehose: FirehoseOptions{Queue: 4, WriteTimeout: 2 * time.Second, SendBuffer: 16 << 10}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := dialFirehose(t, ctx, hs, "18", smallReadBuffer)
	// The client is stuck (reads nothing) until the server gives up on it.
	text := strings.Repeat("y", 2000)
	n := 0
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "firehose consumer too slow") && time.Now().Before(deadline) {
		if _, err := e.st.Commit(ctx, e.alice, []commit.Write{syncPost(t, commit.Create, fmt.Sprintf("t%05d", n), text, nil)}, nil); err != nil {
			t.Fatal(err)
		}
		n++
		time.Sleep(2 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "firehose consumer too slow") {
		t.Fatalf("not dropped after %d commits", n)
	}
	// Then it reads again: a gapless prefix, the error frame, the close.
	want := int64(19)
	for {
		f, err := readFirehoseFrame(ctx, c)
		if err != nil {
			t.Fatalf("after %d frames: %v, want the ConsumerTooSlow error frame", want-19, err)
		}
		if f.t == "error" {
			if f.body["error"] != "ConsumerTooSlow" || frameKeys(f.body) != "error,message" {
				t.Errorf("error frame %v, want ConsumerTooSlow", f.body)
			}
			break
		}
		if f.t != "#commit" || f.body["seq"] != want {
			t.Fatalf("%s seq %v, want #commit %d", f.t, f.body["seq"], want)
		}
		want++
	}
	if _, err := readFirehoseFrame(ctx, c); websocket.CloseStatus(err) != websocket.StatusPolicyViolation && !errors.Is(err, io.EOF) {
		t.Errorf("after the error frame: %v, want close 1008", err)
	}
	t.Logf("dropped after %d of %d commits, with the error frame", want-19, n)
}

// TestFirehosePrunedCursor checks a cursor older than the events that
// Store.PruneEvents left: #info OutdatedCursor, then every kept event.
func TestFirehosePrunedCursor(t *testing.T) {
	e := newSyncEnv(t, FirehoseOptions{Retention: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	evs := allEvents(t, e.st)
	ks := repoKeys(t, e.st)
	r, err := e.st.PruneEvents(ctx, &atlite.PruneEventsOptions{Before: evs[len(evs)-1].Time.Add(time.Hour), Keep: 3})
	if err != nil || r.Oldest != evs[len(evs)-3].Seq {
		t.Fatalf("PruneEvents = %+v, %v, want oldest %d", r, err, evs[len(evs)-3].Seq)
	}
	c := dialFirehose(t, ctx, e.hs, "1", nil)
	defer c.CloseNow()
	f := mustReadFrame(t, ctx, c)
	if f.t != "#info" || f.body["name"] != "OutdatedCursor" {
		t.Fatalf("first frame %s %v, want #info OutdatedCursor", f.t, f.body)
	}
	for _, ev := range evs[len(evs)-3:] {
		checkFrame(t, mustReadFrame(t, ctx, c), ev, ks[ev.DID.String()])
	}
}

// TestFirehosePrunedMidStream: events pruned after a connection started,
// before it read them, are announced with #info OutdatedCursor at the gap,
// then the stream goes on from the oldest kept event.
func TestFirehosePrunedMidStream(t *testing.T) {
	e := newSyncEnv(t, FirehoseOptions{Retention: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	evs := allEvents(t, e.st)
	ks := repoKeys(t, e.st)
	if len(evs) < 8 {
		t.Fatalf("only %d events", len(evs))
	}
	// A server whose connections read two events at a time; once the
	// first two are read, all but the newest three events are pruned.
	srv, err := New(e.st, &Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Firehose: FirehoseOptions{Retention: -1, Batch: 2}})
	if err != nil {
		t.Fatal(err)
	}
	const keep = 3
	var once sync.Once
	srv.firehose.beforeRead = func(last int64) {
		if last == evs[1].Seq {
			once.Do(func() {
				if _, err := e.st.PruneEvents(ctx, &atlite.PruneEventsOptions{Before: evs[len(evs)-1].Time.Add(time.Hour), Keep: keep}); err != nil {
					t.Error(err)
				}
			})
		}
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	c := dialFirehose(t, ctx, hs, "0", nil)
	defer c.CloseNow()
	for _, ev := range evs[:2] {
		checkFrame(t, mustReadFrame(t, ctx, c), ev, ks[ev.DID.String()])
	}
	f := mustReadFrame(t, ctx, c)
	want := fmt.Sprintf("Events %d to %d were pruned before they could be sent: streaming from seq %d; events are missing", evs[2].Seq, evs[len(evs)-keep-1].Seq, evs[len(evs)-keep].Seq)
	if f.t != "#info" || f.body["name"] != "OutdatedCursor" || f.body["message"] != want {
		t.Fatalf("frame after the gap: %s %v, want #info OutdatedCursor %q", f.t, f.body, want)
	}
	for _, ev := range evs[len(evs)-keep:] {
		checkFrame(t, mustReadFrame(t, ctx, c), ev, ks[ev.DID.String()])
	}
}
