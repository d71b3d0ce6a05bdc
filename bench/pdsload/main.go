// Command pdsload is a small load client for any AT Protocol PDS: it signs
// in with a handle and password and drives one workload, printing
// requests/s and p50/p99 latency.
//
//	pdsload --url http://127.0.0.1:2583 --handle alice.test --password PW --workload createRecord --n 1000 --concurrency 1
//
// Workloads:
//
//	createRecord  n com.atproto.repo.createRecord calls (a short post each)
//	getRecord     n com.atproto.repo.getRecord calls over the repo's first
//	              1000 records (listed first with listRecords)
//	getRepo       n com.atproto.sync.getRepo calls (also MB/s)
//	firehose      --subscribers WebSocket connections to subscribeRepos from
//	              cursor 0, each reading n frames, or until --idle (2 s)
//	              without a frame when n is 0 (frames/s over all of them,
//	              the fewest and most frames a subscriber read, and how
//	              many the server ended with an error)
//	latency       --subscribers live WebSocket connections to subscribeRepos
//	              (no cursor), then n sequential createRecord calls, each
//	              waiting until every subscriber has read a #commit frame:
//	              the time from sending the call to each frame's arrival
//	              (one sample a subscriber and a call), and the calls'
//	              own latency
//	commit        no HTTP: n Store.Commit calls of the same post directly on
//	              a fresh file (--db; default a temporary one), for the ratio
//	              of createRecord over HTTP to a direct commit
//
// It uses the standard library, the atlite module and the WebSocket
// package the module already depends on.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/syntax"
)

type config struct {
	url, handle, password, workload, collection, db string
	n, concurrency, subscribers                     int
	idle                                            time.Duration
}

func main() {
	var c config
	flag.StringVar(&c.url, "url", "http://127.0.0.1:2583", "the PDS base `URL`")
	flag.StringVar(&c.handle, "handle", "", "sign in with this `HANDLE` (or DID)")
	flag.StringVar(&c.password, "password", "", "the account's `PASSWORD`")
	flag.StringVar(&c.workload, "workload", "createRecord", "createRecord, getRecord, getRepo, firehose, latency or commit")
	flag.IntVar(&c.n, "n", 1000, "requests in all (firehose: frames per subscriber, 0 = until idle)")
	flag.IntVar(&c.concurrency, "concurrency", 1, "requests in flight at once")
	flag.IntVar(&c.subscribers, "subscribers", 1, "firehose connections")
	flag.DurationVar(&c.idle, "idle", 2*time.Second, "firehose with n 0: a subscriber stops after this long without a frame")
	flag.StringVar(&c.collection, "collection", "app.bsky.feed.post", "the records' `NSID`")
	flag.StringVar(&c.db, "db", "", "commit workload: the `FILE` (default: a new temporary file)")
	flag.Parse()
	if err := run(context.Background(), c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "pdsload:", err)
		os.Exit(1)
	}
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 60 * time.Second}

// post is the record every write workload creates.
func post(i int) map[string]any {
	return map[string]any{
		"$type":     "app.bsky.feed.post",
		"text":      fmt.Sprintf("pdsload post number %d: a typical short post about atproto and load", i),
		"createdAt": time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		"langs":     []any{"en"},
	}
}

// call does one XRPC call and returns the body of a 200 answer.
func call(ctx context.Context, base, method, nsid, token string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+"/xrpc/"+nsid, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %d %s", method, strings.SplitN(nsid, "?", 2)[0], resp.StatusCode, bytes.TrimSpace(b))
	}
	return b, nil
}

// result is what a workload measured.
type result struct {
	n       int
	elapsed time.Duration
	lat     []time.Duration // one a request (none for firehose)
	bytes   int64
	unit    string // "req" or "frames"
	note    string // printed last, if any
}

func (r result) print(w io.Writer, name string) {
	rate := float64(r.n) / r.elapsed.Seconds()
	fmt.Fprintf(w, "%s: %d %s in %v: %.1f %s/s", name, r.n, r.unit, r.elapsed.Round(time.Millisecond), rate, r.unit)
	if len(r.lat) > 0 {
		slices.Sort(r.lat)
		q := func(p float64) time.Duration { return r.lat[min(len(r.lat)-1, int(p*float64(len(r.lat))))] }
		fmt.Fprintf(w, ", p50 %v, p99 %v, max %v", q(0.50).Round(10*time.Microsecond), q(0.99).Round(10*time.Microsecond), r.lat[len(r.lat)-1].Round(10*time.Microsecond))
	}
	if r.bytes > 0 {
		fmt.Fprintf(w, ", %.1f MB/s (%.1f kB a %s)", float64(r.bytes)/1e6/r.elapsed.Seconds(), float64(r.bytes)/1e3/float64(max(r.n, 1)), strings.TrimSuffix(r.unit, "s"))
	}
	if r.note != "" {
		fmt.Fprintf(w, ", %s", r.note)
	}
	fmt.Fprintln(w)
}

// drive runs n calls of do on c.concurrency goroutines, timing each.
func drive(c config, do func(i int) (int64, error)) (result, error) {
	lat := make([]time.Duration, c.n)
	var next, size atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range max(c.concurrency, 1) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= c.n {
					return
				}
				t0 := time.Now()
				nb, err := do(i)
				lat[i] = time.Since(t0)
				if err != nil {
					once.Do(func() { firstErr = err })
					next.Store(int64(c.n))
					return
				}
				size.Add(nb)
			}
		})
	}
	wg.Wait()
	return result{n: c.n, elapsed: time.Since(start), lat: lat, bytes: size.Load(), unit: "req"}, firstErr
}

func run(ctx context.Context, c config, w io.Writer) error {
	if c.workload == "commit" {
		return runCommit(ctx, c, w)
	}
	base := strings.TrimRight(c.url, "/")
	b, err := call(ctx, base, "POST", "com.atproto.server.createSession", "", map[string]string{"identifier": c.handle, "password": c.password})
	if err != nil {
		return fmt.Errorf("sign in: %w", err)
	}
	var sess struct {
		AccessJwt string `json:"accessJwt"`
		DID       string `json:"did"`
	}
	if err := json.Unmarshal(b, &sess); err != nil {
		return err
	}
	name := fmt.Sprintf("%s n=%d concurrency=%d", c.workload, c.n, c.concurrency)
	var r result
	switch c.workload {
	case "createRecord":
		r, err = drive(c, func(i int) (int64, error) {
			_, err := call(ctx, base, "POST", "com.atproto.repo.createRecord", sess.AccessJwt,
				map[string]any{"repo": sess.DID, "collection": c.collection, "record": post(i)})
			return 0, err
		})
	case "getRecord":
		var rkeys []string
		rkeys, err = listRKeys(ctx, base, sess.DID, c.collection, 1000)
		if err != nil {
			return err
		}
		if len(rkeys) == 0 {
			return fmt.Errorf("no %s records in %s to get: run createRecord first", c.collection, sess.DID)
		}
		r, err = drive(c, func(i int) (int64, error) {
			q := url.Values{"repo": {sess.DID}, "collection": {c.collection}, "rkey": {rkeys[i%len(rkeys)]}}
			b, err := call(ctx, base, "GET", "com.atproto.repo.getRecord?"+q.Encode(), "", nil)
			return int64(len(b)), err
		})
		r.bytes = 0
	case "getRepo":
		r, err = drive(c, func(int) (int64, error) {
			b, err := call(ctx, base, "GET", "com.atproto.sync.getRepo?did="+url.QueryEscape(sess.DID), "", nil)
			return int64(len(b)), err
		})
	case "firehose":
		name = fmt.Sprintf("firehose subscribers=%d", c.subscribers)
		r, err = firehose(ctx, base, c)
	case "latency":
		var calls result
		r, calls, err = latency(ctx, base, sess.AccessJwt, sess.DID, c)
		if err == nil {
			calls.print(w, fmt.Sprintf("latency createRecord n=%d subscribers=%d", c.n, c.subscribers))
		}
		name = fmt.Sprintf("latency write-to-frame n=%d subscribers=%d", c.n, c.subscribers)
	default:
		return fmt.Errorf("unknown workload %q", c.workload)
	}
	if err != nil {
		return err
	}
	r.print(w, name)
	return nil
}

// listRKeys lists up to limit record keys of a collection.
func listRKeys(ctx context.Context, base, did, coll string, limit int) ([]string, error) {
	var rkeys []string
	cursor := ""
	for len(rkeys) < limit {
		q := url.Values{"repo": {did}, "collection": {coll}, "limit": {"100"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		b, err := call(ctx, base, "GET", "com.atproto.repo.listRecords?"+q.Encode(), "", nil)
		if err != nil {
			return nil, err
		}
		var page struct {
			Cursor  string `json:"cursor"`
			Records []struct {
				URI string `json:"uri"`
			} `json:"records"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			return nil, err
		}
		for _, rec := range page.Records {
			rkeys = append(rkeys, rec.URI[strings.LastIndexByte(rec.URI, '/')+1:])
		}
		if page.Cursor == "" || len(page.Records) == 0 {
			break
		}
		cursor = page.Cursor
	}
	return rkeys, nil
}

// firehose replays subscribeRepos from cursor 0 on c.subscribers
// connections at once; the time is up to the last frame any of them read.
func firehose(ctx context.Context, base string, c config) (result, error) {
	u := "ws" + strings.TrimPrefix(base, "http") + "/xrpc/com.atproto.sync.subscribeRepos?cursor=0"
	idle := c.idle
	if idle <= 0 {
		idle = 2 * time.Second
	}
	var frames, size atomic.Int64
	perSub := make([]int, c.subscribers)
	var lastFrame atomic.Int64 // unix nanos
	errs := make(chan error, c.subscribers)
	conns := make([]*websocket.Conn, c.subscribers)
	for i := range conns {
		conn, _, err := websocket.Dial(ctx, u, nil)
		if err != nil {
			return result{}, err
		}
		conn.SetReadLimit(64 << 20)
		conns[i] = conn
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i, conn := range conns {
		wg.Go(func() {
			defer conn.CloseNow()
			// one buffer for every frame, as a consumer that handles each
			// frame before reading the next would keep (conn.Read would
			// allocate and grow a new one a frame)
			var buf bytes.Buffer
			for got := 0; c.n == 0 || got < c.n; got++ {
				perSub[i] = got
				rctx, cancel := context.WithTimeout(ctx, idle)
				_, rd, err := conn.Reader(rctx)
				if err == nil {
					buf.Reset()
					_, err = buf.ReadFrom(rd)
				}
				cancel()
				b := buf.Bytes()
				if err != nil {
					if c.n == 0 && errors.Is(err, context.DeadlineExceeded) {
						return
					}
					errs <- fmt.Errorf("firehose after %d frames: %w", got, err)
					return
				}
				frames.Add(1)
				size.Add(int64(len(b)))
				lastFrame.Store(time.Now().UnixNano())
				perSub[i] = got + 1
			}
		})
	}
	wg.Wait()
	close(errs)
	// a subscriber the server dropped (ConsumerTooSlow, say) is counted and
	// named; the figure stands for the frames the others read
	var dropped []error
	for err := range errs {
		dropped = append(dropped, err)
	}
	if len(dropped) == c.subscribers {
		return result{}, dropped[0]
	}
	note := fmt.Sprintf("%d-%d frames a subscriber", slices.Min(perSub), slices.Max(perSub))
	if len(dropped) > 0 {
		note += fmt.Sprintf(", %d of %d subscribers ended by an error (first: %v)", len(dropped), c.subscribers, dropped[0])
	}
	end := time.Unix(0, lastFrame.Load())
	return result{n: int(frames.Load()), elapsed: end.Sub(start), bytes: size.Load(), unit: "frames", note: note}, nil
}

// runCommit is the createRecord workload without HTTP: Store.Commit of the
// same post, on c.concurrency goroutines, into a fresh file.
func runCommit(ctx context.Context, c config, w io.Writer) error {
	path := c.db
	if path == "" {
		dir, err := os.MkdirTemp("", "pdsload-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "commit.db")
	}
	s, err := atlite.Open(path, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	did := syntax.DID("did:web:pdsload.example")
	if _, err := s.LoadRepo(ctx, did.AtIdentifier()); err != nil {
		if _, err := s.CreateAccount(ctx, &atlite.CreateAccountOptions{DID: did, Handle: "pdsload.test"}); err != nil {
			return err
		}
	}
	r, err := drive(c, func(i int) (int64, error) {
		b, err := json.Marshal(post(i))
		if err != nil {
			return 0, err
		}
		wr, err := commit.WriteFromJSON(commit.Create, c.collection, s.NextTID().String(), b)
		if err != nil {
			return 0, err
		}
		_, err = s.Commit(ctx, did, []commit.Write{wr}, nil)
		return 0, err
	})
	if err != nil {
		return err
	}
	r.print(w, fmt.Sprintf("direct Store.Commit n=%d concurrency=%d", c.n, c.concurrency))
	return nil
}

// latency measures commit-to-frame latency as a client sees it: with
// c.subscribers live subscribeRepos connections open, it makes c.n
// sequential createRecord calls, and after each waits until every
// subscriber has read one #commit frame. A sample is the time from sending
// the call to a frame's arrival at one subscriber. Only this client writes,
// so the #commit frame after a call is that call's commit.
func latency(ctx context.Context, base, token, did string, c config) (frames, calls result, err error) {
	if c.subscribers < 1 {
		return result{}, result{}, errors.New("latency needs --subscribers 1 or more")
	}
	u := "ws" + strings.TrimPrefix(base, "http") + "/xrpc/com.atproto.sync.subscribeRepos"
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	arrived := make([]chan time.Time, c.subscribers) // closed when the subscriber ends
	subErr := make([]error, c.subscribers)           // why, read once arrived[i] is closed
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for i := range arrived {
		conn, _, err := websocket.Dial(ctx, u, nil)
		if err != nil {
			return result{}, result{}, err
		}
		conn.SetReadLimit(64 << 20)
		ch := make(chan time.Time, c.n+1)
		arrived[i] = ch
		wg.Go(func() {
			defer conn.CloseNow()
			defer close(ch)
			for {
				_, b, err := conn.Read(ctx)
				if err != nil {
					subErr[i] = err
					return
				}
				// the header is a small map {op, t}: "#commit" is in its first bytes
				if bytes.Contains(b[:min(len(b), 32)], []byte("#commit")) {
					ch <- time.Now()
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond) // let the servers register the subscriptions
	frames = result{unit: "frames", lat: make([]time.Duration, 0, c.n*c.subscribers)}
	calls = result{unit: "req", lat: make([]time.Duration, 0, c.n)}
	dead := make([]bool, c.subscribers)
	ndead := 0
	var firstErr error
	start := time.Now()
	for i := range c.n {
		t0 := time.Now()
		if _, err := call(ctx, base, "POST", "com.atproto.repo.createRecord", token,
			map[string]any{"repo": did, "collection": c.collection, "record": post(i)}); err != nil {
			return result{}, result{}, err
		}
		calls.lat = append(calls.lat, time.Since(t0))
		for j, ch := range arrived {
			if dead[j] {
				continue
			}
			select {
			case t, ok := <-ch:
				if !ok { // the server ended it (ConsumerTooSlow, say): counted, not waited for
					dead[j] = true
					if ndead++; ndead == c.subscribers {
						return result{}, result{}, fmt.Errorf("every subscriber ended: %w", subErr[j])
					}
					if firstErr == nil {
						firstErr = subErr[j]
					}
					continue
				}
				frames.lat = append(frames.lat, t.Sub(t0))
			case <-time.After(10 * time.Second):
				return result{}, result{}, fmt.Errorf("no #commit frame 10 s after createRecord %d", i)
			}
		}
	}
	elapsed := time.Since(start)
	frames.n, frames.elapsed = len(frames.lat), elapsed
	calls.n, calls.elapsed = len(calls.lat), elapsed
	if ndead > 0 {
		frames.note = fmt.Sprintf("%d of %d subscribers ended by an error (first: %v)", ndead, c.subscribers, firstErr)
	}
	return frames, calls, nil
}
