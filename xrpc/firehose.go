package xrpc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/datamodel"
)

// The subscribeRepos firehose. Every connection is driven from the events
// table: it reads the events after the last seq it sent, in batches, so
// that events committed by another process on the same file reach it too,
// in seq order, with no gap and no duplicate. Store.Subscribe serves only
// as a wake-up, with a poll of the last seq as a fallback; a connection
// never depends on in-process delivery for what it sends.
//
// Each connection has its own goroutines and a bounded queue of frames:
// writers (commits) never wait on consumers, and a consumer whose queue
// stays full or whose write blocks beyond FirehoseOptions.WriteTimeout is
// dropped with ConsumerTooSlow. Frames are built once and shared through a
// small cache keyed by seq, so N consumers cost one read of each event.

// Defaults for the zero fields of [FirehoseOptions].
const (
	// DefaultFirehoseRetention is the backfill window: 72 hours, as the
	// reference PDS.
	DefaultFirehoseRetention = 72 * time.Hour
	// DefaultFirehoseQueue is the number of frames queued per connection.
	DefaultFirehoseQueue = 256
	// DefaultFirehoseWriteTimeout is how long a frame may wait to be sent.
	DefaultFirehoseWriteTimeout = 10 * time.Second
	// DefaultFirehosePingInterval is the interval of WebSocket pings.
	DefaultFirehosePingInterval = 30 * time.Second
	// DefaultFirehosePollInterval is the interval at which the last seq
	// is read, for events written by other processes.
	DefaultFirehosePollInterval = 200 * time.Millisecond
	// DefaultFirehoseBatch is the number of events read at a time.
	DefaultFirehoseBatch = 100
)

// FirehoseOptions configure com.atproto.sync.subscribeRepos
// ([Options.Firehose]). Every zero field means its documented default.
type FirehoseOptions struct {
	// Retention is the backfill window, back from Options.Now, over the
	// events' times (which the Store's clock set): a cursor older than the
	// oldest event of the window gets #info OutdatedCursor and the stream
	// starts at that event. Events are not deleted; the window only bounds
	// what a cursor replays. Negative means every stored event. Default:
	// DefaultFirehoseRetention.
	Retention time.Duration
	// Queue is the number of frames queued per connection. Default:
	// DefaultFirehoseQueue.
	Queue int
	// WriteTimeout is how long a frame may wait for room in a full queue
	// before the consumer is dropped with ConsumerTooSlow: the write in
	// progress may then finish, within twice WriteTimeout from its start,
	// and the error frame follows it, so that a consumer that was only
	// stuck for a while learns why it was dropped. A write that takes
	// longer ends the connection without the error frame. Default:
	// DefaultFirehoseWriteTimeout.
	WriteTimeout time.Duration
	// PingInterval is the interval of WebSocket pings; a consumer that
	// does not answer within WriteTimeout is disconnected. Default:
	// DefaultFirehosePingInterval.
	PingInterval time.Duration
	// PollInterval is the interval at which the file's last seq is read,
	// so that events committed by other processes are sent. Default:
	// DefaultFirehosePollInterval.
	PollInterval time.Duration
	// Batch is the number of events read from the file at a time.
	// Default: DefaultFirehoseBatch.
	Batch int
	// SendBuffer, when positive, sets the kernel send buffer of each
	// connection's socket (SO_SNDBUF), in bytes: with the queue it bounds
	// what a consumer that stopped reading holds before its writes block
	// and it is dropped. Zero leaves the operating system's default (on
	// Linux, autotuned up to net.ipv4.tcp_wmem's maximum, 4 MiB).
	SendBuffer int
}

func (o FirehoseOptions) withDefaults() FirehoseOptions {
	if o.Retention == 0 {
		o.Retention = DefaultFirehoseRetention
	}
	if o.Queue <= 0 {
		o.Queue = DefaultFirehoseQueue
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultFirehoseWriteTimeout
	}
	if o.PingInterval <= 0 {
		o.PingInterval = DefaultFirehosePingInterval
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultFirehosePollInterval
	}
	if o.Batch <= 0 {
		o.Batch = DefaultFirehoseBatch
	}
	return o
}

func init() {
	registrations = append(registrations, func(s *Server) error {
		s.firehose = newFirehose(s)
		s.Query("com.atproto.sync.subscribeRepos", s.firehose.serve)
		return nil
	})
}

// frameTime is the format of the time fields of frames.
const frameTime = "2006-01-02T15:04:05.000000Z"

// The cache of recent frames: at most frameCacheSize frames and
// frameCacheBytes bytes; a frame that would pass the byte limit is not
// cached (each connection then reads it from the file).
const (
	frameCacheSize  = 16384
	frameCacheBytes = 32 << 20
)

// frame is one encoded message; data nil means the event is not sent
// (a kind this server does not know).
type frame struct {
	seq  int64
	data []byte
}

// firehose serves subscribeRepos for one Server.
type firehose struct {
	s      *Server
	opts   FirehoseOptions
	ctx    context.Context // cancelled by shutdown
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	wakes  map[chan struct{}]struct{}
	wg     sync.WaitGroup // connections and the hub
	hub    bool           // the hub is running

	latest atomic.Int64 // the last seq known to exist

	fillMu     sync.Mutex // one reader of the file at a time
	cacheMu    sync.Mutex
	cache      [frameCacheSize]frame
	cacheBytes int

	beforeRead func(last int64) // tests: run by each connection before it reads after last
}

func newFirehose(s *Server) *firehose {
	ctx, cancel := context.WithCancel(context.Background())
	return &firehose{s: s, opts: s.opts.Firehose.withDefaults(), ctx: ctx, cancel: cancel, wakes: map[chan struct{}]struct{}{}}
}

// register adds a connection's wake channel, starting the hub with the
// first connection; false once shut down.
func (f *firehose) register(wake chan struct{}) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.wg.Add(1)
	f.wakes[wake] = struct{}{}
	if !f.hub {
		f.hub = true
		f.wg.Add(1)
		go f.runHub()
	}
	return true
}

// conns returns the number of open connections.
func (f *firehose) conns() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.wakes)
}

func (f *firehose) unregister(wake chan struct{}) {
	f.mu.Lock()
	delete(f.wakes, wake)
	f.mu.Unlock()
	f.wg.Done()
}

// noteSeq records that seq exists and, when it is new, wakes every
// connection.
func (f *firehose) noteSeq(seq int64) {
	for {
		cur := f.latest.Load()
		if seq <= cur {
			return
		}
		if f.latest.CompareAndSwap(cur, seq) {
			break
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for w := range f.wakes {
		select {
		case w <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
}

// runHub follows the Store's in-process events, and polls the file's last
// seq for the others, to wake the connections. It runs while there are
// connections.
func (f *firehose) runHub() {
	defer f.wg.Done()
	poll := time.NewTicker(f.opts.PollInterval)
	defer poll.Stop()
	var sub *atlite.Subscription
	var events <-chan atlite.Event
	defer func() {
		if sub != nil {
			sub.Close()
		}
	}()
	for {
		if sub == nil {
			var err error
			if sub, err = f.s.store.Subscribe(f.ctx, 1024); err == nil {
				events = sub.Events()
			} else {
				sub, events = nil, nil // the poll goes on alone
			}
			f.poll()
		}
		select {
		case <-f.ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				// Dropped (too slow) or ended: subscribe again on the
				// next poll, and catch up by reading the last seq.
				stopped := sub.Err()
				sub, events = nil, nil
				if errors.Is(stopped, atlite.ErrClosed) {
					return
				}
				continue
			}
			f.noteSeq(e.Seq)
		case <-poll.C:
			if f.idle() {
				return
			}
			f.poll()
		}
	}
}

// idle stops the hub when no connection is left; the next one starts it
// again.
func (f *firehose) idle() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.wakes) > 0 {
		return false
	}
	f.hub = false
	return true
}

func (f *firehose) poll() {
	if last, err := f.s.store.LastSeq(f.ctx, atlite.SubscribeReposNSID); err == nil {
		f.noteSeq(last)
	}
}

// shutdown ends every connection and waits for them until ctx is done.
func (f *firehose) shutdown(ctx context.Context) error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.cancel()
	done := make(chan struct{})
	go func() {
		f.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// cached returns the frames cached from seq on, in order, at most max.
func (f *firehose) cached(seq int64, max int) []frame {
	f.cacheMu.Lock()
	defer f.cacheMu.Unlock()
	var out []frame
	for ; len(out) < max; seq++ {
		fr := f.cache[seq%frameCacheSize]
		if fr.seq != seq {
			break
		}
		out = append(out, fr)
	}
	return out
}

// after returns the frames of the events after seq last, in seq order:
// from the cache, or read from the file. None means no newer event is
// stored.
func (f *firehose) after(ctx context.Context, last int64) ([]frame, error) {
	if out := f.cached(last+1, f.opts.Batch); len(out) > 0 {
		return out, nil
	}
	if last >= f.latest.Load() {
		return nil, nil // the hub wakes us when there is more
	}
	f.fillMu.Lock()
	defer f.fillMu.Unlock()
	if out := f.cached(last+1, f.opts.Batch); len(out) > 0 {
		return out, nil // another connection read them meanwhile
	}
	// The events of the batch and their blocks come from one read
	// snapshot (so none can be pruned and its blocks collected between
	// the two); each frame is encoded while its CAR is at hand, without a
	// copy of it.
	out := make([]frame, 0, f.opts.Batch)
	if _, err := f.s.store.EventsWithCARs(ctx, &atlite.EventsOptions{After: last, Limit: f.opts.Batch}, func(_ int, e *atlite.Event, car []byte) error {
		data, err := f.encode(*e, car)
		out = append(out, frame{seq: e.Seq, data: data})
		return err
	}); err != nil {
		return nil, err
	}
	f.cacheMu.Lock()
	for _, fr := range out {
		slot := &f.cache[fr.seq%frameCacheSize]
		if f.cacheBytes-len(slot.data)+len(fr.data) > frameCacheBytes {
			continue
		}
		f.cacheBytes += len(fr.data) - len(slot.data)
		*slot = fr
	}
	f.cacheMu.Unlock()
	if n := len(out); n > 0 {
		f.noteSeq(out[n-1].seq)
	}
	return out, nil
}

// encodeFrame is a frame of type t ("#commit"; "" for an error frame,
// op -1) with body.
func encodeFrame(t string, body map[string]any) ([]byte, error) {
	header := map[string]any{"op": int64(1), "t": t}
	if t == "" {
		header = map[string]any{"op": int64(-1)}
	}
	h, err := datamodel.Marshal(header)
	if err != nil {
		return nil, err
	}
	b, err := datamodel.Marshal(body)
	if err != nil {
		return nil, err
	}
	return append(h, b...), nil
}

// errorFrame is the error frame {error, message}.
func errorFrame(name, message string) []byte {
	b, err := encodeFrame("", map[string]any{"error": name, "message": message})
	if err != nil {
		panic("xrpc: error frame: " + err.Error())
	}
	return b
}

// encode builds the frame of a stored event: #commit, #sync, #identity or
// #account, with every field of the subscribeRepos lexicon; car is the
// CAR slice of a #commit or #sync event (Store.WriteEventCARs). It returns
// nil for a kind it does not know.
func (f *firehose) encode(e atlite.Event, car []byte) ([]byte, error) {
	t := e.Time.UTC().Format(frameTime)
	if b, ok := commitFrame(&e, car, t); ok {
		return b, nil
	}
	return f.encodeGeneric(e, car, t)
}

// encodeGeneric is encode through datamodel.Marshal, for every kind; t is
// the event's time as frameTime.
func (f *firehose) encodeGeneric(e atlite.Event, car []byte, t string) ([]byte, error) {
	switch e.Kind {
	case atlite.KindCommit:
		ops := make([]any, len(e.Ops))
		for i, op := range e.Ops {
			m := map[string]any{"action": string(op.Action), "path": op.Path, "cid": nil}
			if op.CID.Defined() {
				m["cid"] = op.CID
			}
			if op.Prev.Defined() {
				m["prev"] = op.Prev // updates and deletes only
			}
			ops[i] = m
		}
		body := map[string]any{
			"seq": e.Seq, "rebase": false, "tooBig": false, "repo": e.DID.String(), "commit": e.Commit,
			"rev": e.Rev.String(), "since": nil, "blocks": car, "ops": ops, "blobs": []any{}, "time": t,
		}
		if e.Since != "" {
			body["since"] = e.Since.String()
		}
		if e.PrevData.Defined() {
			body["prevData"] = e.PrevData
		}
		return encodeFrame("#commit", body)
	case atlite.KindSync:
		return encodeFrame("#sync", map[string]any{"seq": e.Seq, "did": e.DID.String(), "blocks": car, "rev": e.Rev.String(), "time": t})
	case atlite.KindIdentity:
		body := map[string]any{"seq": e.Seq, "did": e.DID.String(), "time": t}
		if e.Handle != "" {
			body["handle"] = e.Handle.String()
		}
		return encodeFrame("#identity", body)
	case atlite.KindAccount:
		body := map[string]any{"seq": e.Seq, "did": e.DID.String(), "time": t, "active": e.Active}
		if e.Status != "" {
			body["status"] = syncStatus(e.Status)
		}
		return encodeFrame("#account", body)
	}
	return nil, nil
}

// oldestRetained returns the first seq of the backfill window (head+1
// when the window is empty).
func (f *firehose) oldestRetained(ctx context.Context, head int64) (int64, error) {
	first, err := f.s.store.Events(ctx, &atlite.EventsOptions{Limit: 1})
	if err != nil {
		return 0, err
	}
	if len(first) == 0 {
		return head + 1, nil
	}
	lo, hi := first[0].Seq, head+1
	if f.opts.Retention < 0 {
		return lo, nil
	}
	cutoff := f.s.opts.Now().Add(-f.opts.Retention)
	// Seqs are gapless and their times rise with them: search the first
	// event inside the window.
	for lo < hi {
		mid := lo + (hi-lo)/2
		evs, err := f.s.store.Events(ctx, &atlite.EventsOptions{After: mid - 1, Limit: 1})
		if err != nil {
			return 0, err
		}
		if len(evs) == 0 || !evs[0].Time.Before(cutoff) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo, nil
}

// Why a connection ended.
const (
	endClient   = "client gone"
	endShutdown = "shutdown"
	endTooSlow  = "ConsumerTooSlow"
	endFailed   = "internal error"
)

// serve handles one subscribeRepos connection.
func (f *firehose) serve(w http.ResponseWriter, r *http.Request) error {
	p := ParamsOf(r)
	cursor := p.Int("cursor", -1, 0, math.MaxInt64)
	if err := p.Err(); err != nil {
		return err
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return InvalidRequest("com.atproto.sync.subscribeRepos is a WebSocket endpoint: connect with an Upgrade: websocket request")
	}
	wake := make(chan struct{}, 1)
	if !f.register(wake) {
		return Errorf(http.StatusServiceUnavailable, "ServiceUnavailable", "the server is shutting down")
	}
	defer f.unregister(wake)
	h := &batchHijacker{ResponseWriter: w, size: f.opts.SendBuffer}
	// The firehose is public: any origin may subscribe.
	conn, err := websocket.Accept(h, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return nil // Accept answered
	}
	c := &fhConn{f: f, conn: conn, sock: h.conn, wake: wake, queue: make(chan frame, f.opts.Queue)}
	c.run(cursor)
	return nil
}

// batchHijacker hijacks the connection's socket as a batchConn, setting its
// send buffer when size is positive.
type batchHijacker struct {
	http.ResponseWriter
	size int
	conn *batchConn // set by Hijack
}

// Hijack implements http.Hijacker.
func (h *batchHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if sb, ok := conn.(interface{ SetWriteBuffer(int) error }); ok && h.size > 0 {
		sb.SetWriteBuffer(h.size)
	}
	// The WebSocket library writes through rw's buffered writer: it must
	// write to the batchConn too (anything buffered goes out first).
	if err := rw.Writer.Flush(); err != nil {
		conn.Close()
		return nil, nil, err
	}
	h.conn = &batchConn{Conn: conn}
	return h.conn, bufio.NewReadWriter(rw.Reader, bufio.NewWriterSize(h.conn, rw.Writer.Size())), nil
}

// batchBytes is the most a batchConn holds back.
const batchBytes = 64 << 10

// batchConn is a connection's socket that gathers the frames of a backlog
// into fewer system calls: while hold is set (by the send loop, when more
// frames are queued behind the one it writes), writes are kept, up to
// batchBytes, and go out, in order, with the next write made without hold
// or that would pass batchBytes. The send loop clears hold for the last
// frame of a burst, so nothing stays held once the queue is empty; a ping
// or pong written meanwhile waits at most for batchBytes of frames. The
// WebSocket library serialises its writes; mu only guards buf against
// the writes of another goroutine all the same. A connection that ever
// held a write keeps its batchBytes buffer (allocated once, never grown)
// until it closes; one that keeps up with the stream allocates none.
type batchConn struct {
	net.Conn
	hold atomic.Bool
	mu   sync.Mutex
	buf  []byte
}

// Write implements net.Conn.
func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fits := len(b.buf)+len(p) <= batchBytes
	if b.hold.Load() && fits {
		if b.buf == nil {
			b.buf = make([]byte, 0, batchBytes) // once: a connection's buffer never grows
		}
		b.buf = append(b.buf, p...)
		return len(p), nil
	}
	if len(b.buf) == 0 {
		return b.Conn.Write(p)
	}
	held := len(b.buf)
	var n int
	var err error
	if fits {
		// One write: the copy costs less than a system call.
		b.buf = append(b.buf, p...)
		n, err = b.Conn.Write(b.buf)
	} else {
		// One writev on a TCP connection.
		bufs := net.Buffers{b.buf, p}
		var n64 int64
		n64, err = bufs.WriteTo(b.Conn)
		n = int(n64)
	}
	b.buf = b.buf[:0]
	return min(max(0, n-held), len(p)), err
}

// fhConn is one subscribeRepos connection.
type fhConn struct {
	f     *firehose
	conn  *websocket.Conn
	sock  *batchConn // conn's socket
	wake  chan struct{}
	queue chan frame

	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	why    string       // why the connection ended; "" while it runs
	sent   atomic.Int64 // the last seq written to the socket
}

// end stops the connection's goroutines; the first reason stays.
func (c *fhConn) end(why string) {
	c.mu.Lock()
	if c.why == "" {
		c.why = why
	}
	c.mu.Unlock()
	c.cancel()
}

func (c *fhConn) reason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.why
}

func (c *fhConn) run(cursor int64) {
	f := c.f
	// Reading discards what the client sends and answers pings and the
	// close handshake; it ends when the client goes.
	gone := c.conn.CloseRead(context.Background())
	// Only end cancels c.ctx, so that why is set first.
	c.ctx, c.cancel = context.WithCancel(context.Background())
	defer c.cancel()
	defer context.AfterFunc(gone, func() { c.end(endClient) })()
	defer context.AfterFunc(f.ctx, func() { c.end(endShutdown) })()

	last, first, err := c.start(cursor)
	if err != nil {
		c.end(endFailed)
		f.s.log.Error("firehose start", "err", err)
	}
	var wg sync.WaitGroup
	if err == nil && last >= 0 {
		wg.Add(2)
		go func() { defer wg.Done(); c.send() }()
		go func() { defer wg.Done(); c.ping() }()
		if first != nil {
			c.queue <- frame{data: first}
		}
		c.pump(last)
	}
	wg.Wait()
	c.finish()
}

// start answers the cursor: it returns the seq to stream after, and an
// #info frame to send first; last < 0 when the connection was ended
// (FutureCursor).
func (c *fhConn) start(cursor int64) (last int64, first []byte, err error) {
	f := c.f
	head, err := f.s.store.LastSeq(c.ctx, atlite.SubscribeReposNSID)
	if err != nil {
		return 0, nil, err
	}
	f.noteSeq(head)
	if cursor < 0 {
		return head, nil, nil // live only
	}
	if cursor > head {
		c.errorAndClose("FutureCursor", fmt.Sprintf("Cursor %d is past our current sequence number %d", cursor, head))
		return -1, nil, nil
	}
	oldest, err := f.oldestRetained(c.ctx, head)
	if err != nil {
		return 0, nil, err
	}
	if cursor+1 < oldest {
		info, err := outdatedCursor(fmt.Sprintf("Requested cursor %d is older than the backfill window: streaming from seq %d; events may be missing", cursor, oldest))
		if err != nil {
			return 0, nil, err
		}
		return oldest - 1, info, nil
	}
	return cursor, nil, nil
}

// outdatedCursor is the #info OutdatedCursor frame with message.
func outdatedCursor(message string) ([]byte, error) {
	return encodeFrame("#info", map[string]any{"name": "OutdatedCursor", "message": message})
}

// errorAndClose sends an error frame and closes the connection.
func (c *fhConn) errorAndClose(name, message string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c.end(name)
	if err := c.conn.Write(ctx, websocket.MessageBinary, errorFrame(name, message)); err != nil {
		c.conn.CloseNow()
		return
	}
	c.closeWithin(websocket.StatusPolicyViolation, name)
}

// closeWithin closes the connection with the close handshake, waiting at
// most a second for it: a client that does not answer is left to the
// library's own handshake timeouts (5 s each way), in the background.
func (c *fhConn) closeWithin(code websocket.StatusCode, reason string) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.conn.Close(code, reason)
	}()
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// pump reads the frames after last and queues them, until the connection
// ends.
func (c *fhConn) pump(last int64) {
	f := c.f
	for c.ctx.Err() == nil {
		if f.beforeRead != nil {
			f.beforeRead(last)
		}
		frames, err := f.after(c.ctx, last)
		if err != nil {
			if c.ctx.Err() == nil {
				f.s.log.Error("firehose read", "after", last, "err", err)
				c.end(endFailed)
			}
			return
		}
		if len(frames) == 0 {
			select {
			case <-c.wake:
			case <-c.ctx.Done():
			}
			continue
		}
		if next := frames[0].seq; next > last+1 {
			// Seqs are gapless: the events after last were pruned before
			// this connection read them (it fell behind the retention
			// window). Say so, as for a cursor older than the window.
			info, err := outdatedCursor(fmt.Sprintf("Events %d to %d were pruned before they could be sent: streaming from seq %d; events are missing", last+1, next-1, next))
			if err != nil {
				f.s.log.Error("firehose info", "err", err)
				c.end(endFailed)
				return
			}
			if !c.enqueue(frame{data: info}) {
				return
			}
		}
		for _, fr := range frames {
			if fr.data != nil && !c.enqueue(fr) {
				return
			}
			last = fr.seq
		}
	}
}

// enqueue queues fr, waiting at most WriteTimeout for room.
func (c *fhConn) enqueue(fr frame) bool {
	select {
	case c.queue <- fr:
		return true
	default:
	}
	t := time.NewTimer(c.f.opts.WriteTimeout)
	defer t.Stop()
	select {
	case c.queue <- fr:
		return true
	case <-t.C:
		c.f.s.log.Warn("firehose consumer too slow", "queued", len(c.queue), "sent", c.sent.Load(), "next", fr.seq)
		c.end(endTooSlow)
	case <-c.ctx.Done():
	}
	return false
}

// send writes the queued frames, each within twice WriteTimeout. A write
// is not cut short when the connection ends (cutting it would close the
// socket), so that the ConsumerTooSlow error frame can follow it; only
// shutdown cuts it.
//
// While more frames are queued behind the one written, the socket holds
// the bytes back (batchConn), to send a backlog in fewer system calls.
func (c *fhConn) send() {
	defer c.sock.hold.Store(false) // what follows (an error frame, the close) is not held
	for c.ctx.Err() == nil {
		select {
		case <-c.ctx.Done():
			return
		case fr := <-c.queue:
			c.sock.hold.Store(len(c.queue) > 0)
			ctx, cancel := context.WithTimeout(c.f.ctx, 2*c.f.opts.WriteTimeout)
			err := c.conn.Write(ctx, websocket.MessageBinary, fr.data)
			timedOut := ctx.Err() == context.DeadlineExceeded
			cancel()
			if err != nil {
				if timedOut {
					c.end(endTooSlow)
				} else {
					c.end(endClient)
				}
				return
			}
			if fr.seq > 0 {
				c.sent.Store(fr.seq)
			}
		}
	}
}

// ping pings the client every PingInterval.
func (c *fhConn) ping() {
	t := time.NewTicker(c.f.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			// Not c.ctx: ending the connection must not cut a ping (and
			// with it the socket) before the error frame.
			ctx, cancel := context.WithTimeout(c.f.ctx, c.f.opts.WriteTimeout)
			err := c.conn.Ping(ctx)
			cancel()
			if err != nil {
				c.end(endClient)
				return
			}
		}
	}
}

// finish closes the connection as its end calls for.
func (c *fhConn) finish() {
	f := c.f
	switch c.reason() {
	case endTooSlow:
		f.s.log.Info("firehose consumer dropped", "reason", endTooSlow, "sent", c.sent.Load(), "latest", f.latest.Load())
		c.errorAndClose("ConsumerTooSlow", "Stream consumer too slow: it fell too far behind")
	case endShutdown:
		c.closeWithin(websocket.StatusGoingAway, "server shutting down")
	case endFailed:
		c.closeWithin(websocket.StatusInternalError, "internal error")
	default:
		c.conn.CloseNow()
	}
}
