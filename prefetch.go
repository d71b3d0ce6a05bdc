package atlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/internal/cborhead"
	"github.com/atlite-dev/atlite/internal/storage"
	"github.com/atlite-dev/atlite/mst"
)

// prefetcher serves the nodes of a pre-order tree walk with few queries:
// when a node is read whose subtrees were not asked for yet, the nodes below
// it are fetched breadth first, one query a level of its subtree, until
// about readAhead nodes are held; the walk then finds most nodes ready, and
// only a node at the edge of what was read ahead starts another read. It
// holds at most readAhead nodes plus one node's links (memory does not
// depend on the repo's size). Records come from a [recordStream].
type prefetcher struct {
	many  storage.BlockReader
	one   mst.BlockSource
	ready map[cid.Cid][]byte
	// expanded holds the ready nodes whose links were asked for.
	expanded map[cid.Cid]struct{}
	limit    int
	peak     int // the most blocks held, for the tests
}

// readAhead is the number of nodes a prefetcher holds at most, about
// 1 MB of a typical repo (a variable for the tests).
var readAhead = 4096

// newPrefetcher prefetches from tx; single blocks not prefetched are
// read through viewBlocks (a missing one is damage).
func newPrefetcher(tx storage.ReadTx) *prefetcher {
	return &prefetcher{many: tx, one: viewBlocks(tx), ready: map[cid.Cid][]byte{}, expanded: map[cid.Cid]struct{}{}, limit: readAhead}
}

// GetBlock implements mst.BlockSource for nodes: it serves a prefetched
// block, or reads it, then reads ahead below the node if its links were
// not asked for yet.
func (p *prefetcher) GetBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	data, err := p.take(ctx, c)
	if err != nil {
		return nil, err
	}
	if _, ok := p.expanded[c]; ok {
		delete(p.expanded, c)
		return data, nil
	}
	if err := p.prefetchBelow(ctx, data); err != nil {
		return nil, err
	}
	return data, nil
}

func (p *prefetcher) take(ctx context.Context, c cid.Cid) ([]byte, error) {
	if data, ok := p.ready[c]; ok {
		delete(p.ready, c)
		return data, nil
	}
	return p.one.GetBlock(ctx, c)
}

// recordStream serves the record blocks of a pre-order walk of a repo's
// tree at its head, which asks for them in key order, from the repo's
// record index read a chunk at a time with the blocks joined (one query a
// chunk, where reading them by CID took a look-up a block). The keys of a
// collection are contiguous in key order and sorted by rkey, so the stream
// follows one collection at a time. A record the chunk does not hold with
// the CID asked for (an index out of step with the tree, a missing block)
// is read by CID, so the walk still gets the block, or reports it missing.
// Each block's hash is checked. It holds one chunk of records, and one
// more being read ahead when it has a [chunkReader].
type recordStream struct {
	tx    storage.ReadTx
	repo  int64
	one   mst.BlockSource
	coll  string
	rows  []storage.RecordRow
	more  bool // the collection may have rows after rows
	chunk int
	// ahead, when set, reads the chunks on another connection, the next
	// one while the walk uses this one; next is that read.
	ahead *chunkReader
	next  *chunkRead
	// startAhead, when set, makes the chunkReader once a chunk comes
	// back full (a repo whose records fit in one chunk never opens it).
	startAhead func() *chunkReader
	// strict makes a record the index lacks, or holds with another CID,
	// an error (for Check) rather than a read by CID; n counts the
	// records asked for.
	strict bool
	n      int
}

// recordChunk is the number of records a recordStream reads a query (a
// variable for the tests).
var recordChunk = 512

func newRecordStream(tx storage.ReadTx, repo int64) *recordStream {
	return &recordStream{tx: tx, repo: repo, one: viewBlocks(tx), chunk: recordChunk}
}

// GetBlock implements mst.BlockSource: a block read by CID.
func (r *recordStream) GetBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	data, err := r.one.GetBlock(ctx, c)
	if err != nil {
		return nil, err
	}
	return data, checkHash(c, data)
}

// GetRecord implements mst.RecordSource.
func (r *recordStream) GetRecord(ctx context.Context, key string, c cid.Cid) ([]byte, error) {
	coll, rkey, ok := strings.Cut(key, "/")
	if !ok {
		return r.GetBlock(ctx, c)
	}
	if coll != r.coll {
		r.coll, r.rows, r.more = coll, nil, true
	}
	for {
		for len(r.rows) > 0 && r.rows[0].RKey < rkey {
			r.rows = r.rows[1:]
		}
		if len(r.rows) > 0 || !r.more {
			break
		}
		rows, err := r.read(ctx, coll, rkey)
		if err != nil {
			return nil, fmt.Errorf("read records: %w", err)
		}
		r.rows, r.more = rows, len(rows) == r.chunk
	}
	r.n++
	if len(r.rows) == 0 || r.rows[0].RKey != rkey {
		if r.strict {
			return nil, fmt.Errorf("%w: record index lacks %s", ErrCorrupt, key)
		}
		return r.GetBlock(ctx, c)
	}
	row := r.rows[0]
	r.rows = r.rows[1:]
	if string(row.CID) != c.KeyString() && r.strict {
		return nil, fmt.Errorf("%w: record index has another CID for %s", ErrCorrupt, key)
	}
	if row.Data == nil || string(row.CID) != c.KeyString() {
		return r.GetBlock(ctx, c)
	}
	return row.Data, checkHash(c, row.Data)
}

// read returns the chunk of coll from rkey: the one read ahead if it
// covers it, else one read now; with a chunkReader, it then starts reading
// the chunk after it.
func (r *recordStream) read(ctx context.Context, coll, rkey string) ([]storage.RecordRow, error) {
	if r.ahead == nil {
		rows, err := r.tx.RepoRecords(ctx, r.repo, coll, rkey, false, r.chunk)
		if err == nil && len(rows) == r.chunk && r.startAhead != nil {
			if r.ahead = r.startAhead(); r.ahead != nil {
				r.next = r.ahead.start(coll, rows[len(rows)-1].RKey, true)
			}
			r.startAhead = nil
		}
		return rows, err
	}
	next := r.next
	r.next = nil
	if next == nil || next.coll != coll || next.from > rkey || next.after && next.from == rkey {
		if next != nil {
			next.wait() // its rows are not those asked for
		}
		next = r.ahead.start(coll, rkey, false)
	}
	rows, err := next.wait()
	if err == nil && len(rows) == r.chunk {
		r.next = r.ahead.start(coll, rows[len(rows)-1].RKey, true)
	}
	return rows, err
}

// readAheadOn lets the stream read its chunks on a second connection of
// b (startChunkReader), from its second chunk on, while the snapshot there
// shows the repo did at head.
func (r *recordStream) readAheadOn(ctx context.Context, b storage.Backend, did string, head []byte) {
	r.startAhead = func() *chunkReader { return startChunkReader(ctx, b, did, head, r.repo, r.chunk) }
}

// close ends the read ahead, if any.
func (r *recordStream) close() {
	if r.next != nil {
		r.next.wait()
		r.next = nil
	}
	if r.ahead != nil {
		r.ahead.close()
	}
}

// chunkReader reads record chunks of one repo in a read transaction of
// its own, one at a time, on a goroutine: an export's walk then reads its
// nodes on the first connection while its records are read on the second
// (2 cores), where one connection runs one query at a time.
type chunkReader struct {
	reqs  chan *chunkRead
	done  chan struct{}
	repo  int64
	chunk int
}

// chunkRead is one chunk asked of a chunkReader: the records of coll from
// rkey from on, or after it.
type chunkRead struct {
	coll, from string
	after      bool
	out        chan struct{}
	rows       []storage.RecordRow
	err        error
}

func (c *chunkRead) wait() ([]storage.RecordRow, error) {
	<-c.out
	return c.rows, c.err
}

// startChunkReader begins a read transaction on another connection of b,
// if b has one free at once and its snapshot shows the repo at head, and
// reads chunks there until close; else it returns nil.
func startChunkReader(ctx context.Context, b storage.Backend, did string, head []byte, repo int64, chunk int) *chunkReader {
	var try func(context.Context, func(storage.ReadTx) error) error
	if bv, ok := b.(storage.BulkViewer); ok {
		// The walk reads on the bulk pool too (Store.bulkView).
		try = bv.TryViewBulk
	} else if sv, ok := b.(storage.SecondViewer); ok {
		try = sv.TryView
	} else {
		return nil
	}
	cr := &chunkReader{reqs: make(chan *chunkRead), done: make(chan struct{}), repo: repo, chunk: chunk}
	ready := make(chan bool, 1)
	go func() {
		defer close(cr.done)
		err := try(ctx, func(tx storage.ReadTx) error {
			h, err := tx.Repo(ctx, did)
			if err != nil || string(h.Head) != string(head) {
				ready <- false
				return nil
			}
			ready <- true
			for req := range cr.reqs {
				req.rows, req.err = tx.RepoRecords(ctx, repo, req.coll, req.from, req.after, chunk)
				close(req.out)
			}
			return nil
		})
		if err != nil {
			ready <- false
		}
	}()
	if !<-ready {
		<-cr.done
		return nil
	}
	return cr
}

// start asks for the chunk of coll from rkey from on (after it, with
// after).
func (cr *chunkReader) start(coll, from string, after bool) *chunkRead {
	req := &chunkRead{coll: coll, from: from, after: after, out: make(chan struct{})}
	cr.reqs <- req
	return req
}

// close ends the reader's transaction and waits for its goroutine.
func (cr *chunkReader) close() {
	close(cr.reqs)
	<-cr.done
}

// prefetchBelow fetches the subtree nodes node links to in one query,
// then level by level those the fetched nodes link to, while fewer than
// limit nodes are held. A node whose links are asked for is marked
// expanded; the others read ahead themselves when the walk reaches them.
func (p *prefetcher) prefetchBelow(ctx context.Context, node []byte) error {
	level := []cid.Cid{cid.Undef}
	var want []cid.Cid
	asked := map[cid.Cid]struct{}{}
	for len(level) > 0 {
		want = want[:0]
		clear(asked)
		for _, c := range level {
			if len(want) > 0 && len(p.ready)+len(want) >= p.limit {
				break
			}
			data := node
			if c.Defined() {
				data = p.ready[c]
				p.expanded[c] = struct{}{}
			}
			want = p.links(data, want, asked)
		}
		if len(want) == 0 {
			return nil
		}
		if err := p.many.GetBlocks(ctx, want, p.ready); err != nil {
			return fmt.Errorf("prefetch blocks: %w", err)
		}
		p.peak = max(p.peak, len(p.ready))
		if len(p.ready) >= p.limit {
			return nil
		}
		// The next level: the fetched nodes (a missing one is left to the
		// walk, which reports it).
		level = level[:0]
		for _, c := range want {
			if _, ok := p.ready[c]; ok {
				level = append(level, c)
			}
		}
	}
	return nil
}

// links appends to want the subtree nodes node links to that are not
// ready nor asked for yet. A node that does not decode is left to the
// tree, which reports it properly.
func (p *prefetcher) links(node []byte, want []cid.Cid, asked map[cid.Cid]struct{}) []cid.Cid {
	nodeLinks(node, func(c cid.Cid, tree bool) {
		if !tree {
			return
		}
		if _, have := p.ready[c]; have {
			return
		}
		if _, have := asked[c]; have {
			return
		}
		asked[c] = struct{}{}
		want = append(want, c)
	})
	return want
}

// nodeLinks calls fn for each CID link (CBOR tag 42) in the DAG-CBOR
// node, with tree set for the links under the keys "l" and "t" (subtrees);
// it reads the node's bytes without building a value. It reports false if
// the bytes are not well-formed CBOR (the links found before may have been
// passed).
func nodeLinks(b []byte, fn func(c cid.Cid, tree bool)) bool {
	s := cborScan{b: b, fn: fn}
	return s.item("", 0) && s.off == len(b)
}

type cborScan struct {
	b   []byte
	off int
	fn  func(cid.Cid, bool)
}

func (s *cborScan) head() (major byte, arg uint64, ok bool) {
	major, _, arg, n, p := cborhead.Read(s.b[s.off:])
	if p != cborhead.OK {
		return 0, 0, false
	}
	s.off += n
	return major, arg, true
}

func (s *cborScan) bytes(arg uint64) ([]byte, bool) {
	if arg > uint64(len(s.b)-s.off) {
		return nil, false
	}
	v := s.b[s.off : s.off+int(arg)]
	s.off += int(arg)
	return v, true
}

func (s *cborScan) item(key string, depth int) bool {
	if depth > 8 {
		return false
	}
	major, arg, ok := s.head()
	if !ok {
		return false
	}
	switch major {
	case 0, 1, 7:
		return true
	case 2, 3:
		_, ok := s.bytes(arg)
		return ok
	case 4:
		for ; arg > 0; arg-- {
			if !s.item("", depth+1) {
				return false
			}
		}
		return true
	case 5:
		for ; arg > 0; arg-- {
			km, kn, ok := s.head()
			if !ok || km != 3 {
				return false
			}
			k, ok := s.bytes(kn)
			if !ok || !s.item(string(k), depth+1) {
				return false
			}
		}
		return true
	case 6:
		if arg != 42 {
			return s.item("", depth+1)
		}
		bm, bn, ok := s.head()
		if !ok || bm != 2 {
			return false
		}
		v, ok := s.bytes(bn)
		if !ok || len(v) < 1 || v[0] != 0 {
			return false
		}
		c, err := cid.Cast(v[1:])
		if err != nil {
			return false
		}
		s.fn(c, key == "l" || key == "t")
		return true
	}
	return false
}
