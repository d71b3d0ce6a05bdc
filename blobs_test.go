package atlite_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/internal/testutil"
	"github.com/atlite-dev/atlite/syntax"
)

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// countRows counts the rows of a table through a connection of its own.
func countRows(t *testing.T, path, table string) int {
	t.Helper()
	db, err := testutil.OpenRawDB(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func mustUpload(t testing.TB, s *atlite.Store, did syntax.DID, data []byte, mimeType string) *atlite.Blob {
	t.Helper()
	b, err := s.UploadBlob(ctx, did, bytes.NewReader(data), mimeType, nil)
	if err != nil {
		t.Fatalf("UploadBlob(%d bytes) = %v", len(data), err)
	}
	return b
}

func TestBlobRefs(t *testing.T) {
	a := cid.MustParse(keyboardCID)
	b := cid.MustParse(videoCID)
	rec := cid.MustParse("bafyreiblaotetvwobe7cu2uqvnddr6ew2q3cu75qsoweulzku2egca4dxq")
	blob := func(c cid.Cid) map[string]any { return blobObject(c, "image/png", 1) }
	tests := []struct {
		name   string
		record any
		want   []cid.Cid
	}{
		{"none", map[string]any{"text": "hi", "link": rec}, nil},
		{"avatar", map[string]any{"avatar": blob(a)}, []cid.Cid{a}},
		{"embedded images, sorted, once each", map[string]any{"embed": map[string]any{"images": []any{
			map[string]any{"image": blob(b), "alt": ""}, map[string]any{"image": blob(a)}, map[string]any{"image": blob(b)}}}},
			sortedCIDs(a, b)},
		{"legacy blob", map[string]any{"avatar": map[string]any{"cid": keyboardCID, "mimeType": "image/png"}}, []cid.Cid{a}},
		{"legacy with more keys", map[string]any{"x": map[string]any{"cid": keyboardCID, "mimeType": "image/png", "size": int64(1)}}, nil},
		{"legacy with a bad CID", map[string]any{"x": map[string]any{"cid": "bafy", "mimeType": "image/png"}}, nil},
		{"another $type with a ref", map[string]any{"x": map[string]any{"$type": "com.example.ref", "ref": a}}, nil},
		{"blob without a link", map[string]any{"x": map[string]any{"$type": "blob", "ref": keyboardCID}}, nil},
		{"blob at the top", blob(a), []cid.Cid{a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := atlite.BlobRefs(tt.record); !slices.EqualFunc(got, tt.want, cid.Cid.Equals) {
				t.Errorf("BlobRefs(%v) = %v, want %v", tt.record, got, tt.want)
			}
		})
	}
}

func TestUploadBlobReadBack(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	did := newRepo(t, s, "did:plc:alice")
	sizes := []int{0, 1, 9003, atlite.BlobChunkSize - 1, atlite.BlobChunkSize, atlite.BlobChunkSize + 1, 2 * atlite.BlobChunkSize, 3*atlite.BlobChunkSize + 12345}
	for i, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			data := randomBytes(n, uint64(i))
			want := datamodel.RawCID(data)
			// Short reads from the reader: chunks still fill up.
			b, err := s.UploadBlob(ctx, did, iotest.HalfReader(bytes.NewReader(data)), "application/x-test", nil)
			if err != nil {
				t.Fatalf("UploadBlob = %v", err)
			}
			if !b.CID.Equals(want) || b.Size != int64(n) || b.MIMEType != "application/x-test" || b.Refs != 0 {
				t.Errorf("UploadBlob = %+v, want CID %s, size %d", b, want, n)
			}
			r, err := s.OpenBlob(ctx, want)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Size() != int64(n) {
				t.Errorf("Size() = %d, want %d", r.Size(), n)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("ReadAll = %d bytes, %v, want the %d bytes uploaded", len(got), err, n)
			}
			r.Seek(0, io.SeekStart)
			if err := iotest.TestReader(r, data); err != nil {
				t.Errorf("TestReader: %v", err)
			}
		})
	}
}

func TestUploadBlobFixture(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	did := newRepo(t, s, "did:plc:alice")
	png := readTestdata(t, "keyboard.png")
	b := mustUpload(t, s, did, png, "image/png")
	if b.CID.String() != keyboardCID || b.Size != 9003 {
		t.Errorf("UploadBlob(keyboard.png) = %s %d, want %s 9003", b.CID, b.Size, keyboardCID)
	}
	// The same bytes again: the same blob, the first MIME type kept.
	again := mustUpload(t, s, did, png, "application/octet-stream")
	if !again.CID.Equals(b.CID) || again.MIMEType != "image/png" {
		t.Errorf("UploadBlob(again) = %+v, want %s image/png", again, b.CID)
	}
	st, err := s.StatBlob(ctx, b.CID)
	if err != nil || st.MIMEType != "image/png" || st.Size != 9003 {
		t.Errorf("StatBlob = %+v, %v", st, err)
	}
	if _, err := s.StatBlob(ctx, datamodel.RawCID([]byte("nope"))); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("StatBlob(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.OpenBlob(ctx, datamodel.RawCID([]byte("nope"))); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("OpenBlob(missing) = %v, want ErrNotFound", err)
	}
	// The default MIME type.
	d := mustUpload(t, s, did, []byte("blob contents"), "")
	if d.MIMEType != "application/octet-stream" || !d.CID.Equals(blobContentsCID) {
		t.Errorf("UploadBlob(no type) = %+v", d)
	}
}

func TestBlobReaderRanges(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	did := newRepo(t, s, "did:plc:alice")
	data := randomBytes(3*atlite.BlobChunkSize+777, 9)
	b := mustUpload(t, s, did, data, "video/mp4")
	r, err := s.OpenBlob(ctx, b.CID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cs := atlite.BlobChunkSize
	for _, rg := range [][2]int{{0, 1}, {cs - 10, cs + 10}, {cs, 2 * cs}, {100, 3*cs + 700}, {len(data) - 5, len(data)}} {
		p := make([]byte, rg[1]-rg[0])
		n, err := r.ReadAt(p, int64(rg[0]))
		if n != len(p) || err != nil || !bytes.Equal(p, data[rg[0]:rg[1]]) {
			t.Errorf("ReadAt(%d bytes at %d) = %d, %v", len(p), rg[0], n, err)
		}
	}
	p := make([]byte, 10)
	if n, err := r.ReadAt(p, int64(len(data)-4)); n != 4 || err != io.EOF || !bytes.Equal(p[:4], data[len(data)-4:]) {
		t.Errorf("ReadAt(past the end) = %d, %v, want 4, EOF", n, err)
	}
	if pos, err := r.Seek(-20, io.SeekEnd); pos != int64(len(data)-20) || err != nil {
		t.Errorf("Seek(-20, end) = %d, %v", pos, err)
	}
	if got, _ := io.ReadAll(r); !bytes.Equal(got, data[len(data)-20:]) {
		t.Errorf("after Seek, ReadAll = %d bytes, want the last 20", len(got))
	}
	if _, err := r.Seek(-1, io.SeekStart); err == nil {
		t.Errorf("Seek(-1) = nil error")
	}

	// http.ServeContent serves ranges from the reader.
	for _, tt := range []struct {
		rng        string
		from, to   int
		wantStatus int
	}{
		{"bytes=0-99", 0, 100, http.StatusPartialContent},
		{fmt.Sprintf("bytes=%d-%d", cs-50, cs+49), cs - 50, cs + 50, http.StatusPartialContent},
		{"bytes=-30", len(data) - 30, len(data), http.StatusPartialContent},
		{"", 0, len(data), http.StatusOK},
	} {
		req := httptest.NewRequest("GET", "/blob", nil)
		if tt.rng != "" {
			req.Header.Set("Range", tt.rng)
		}
		w := httptest.NewRecorder()
		http.ServeContent(w, req, "", time.Time{}, r)
		if w.Code != tt.wantStatus || !bytes.Equal(w.Body.Bytes(), data[tt.from:tt.to]) {
			t.Errorf("ServeContent(Range %q) = %d with %d bytes, want %d with bytes %d-%d", tt.rng, w.Code, w.Body.Len(), tt.wantStatus, tt.from, tt.to)
		}
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(p); err == nil {
		t.Errorf("Read after Close = nil error")
	}
}

func TestUploadBlobRejects(t *testing.T) {
	s, path := testutil.MustOpenFileStore(t, nil)
	did := newRepo(t, s, "did:plc:alice")
	gone := newRepo(t, s, "did:plc:gone")
	if err := s.Deactivate(ctx, gone); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	big := randomBytes(2*atlite.BlobChunkSize+10, 1)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		did  syntax.DID
		r    io.Reader
		mime string
		max  int64
		want error
	}{
		{"over the limit, one chunk", ctx, did, bytes.NewReader(make([]byte, 1001)), "", 1000, atlite.ErrBlobTooLarge},
		{"over the limit, many chunks", ctx, did, bytes.NewReader(big), "", atlite.BlobChunkSize + 5, atlite.ErrBlobTooLarge},
		{"read error in the first chunk", ctx, did, io.MultiReader(bytes.NewReader(big[:100]), iotest.ErrReader(boom)), "", 0, boom},
		{"read error after two chunks", ctx, did, io.MultiReader(bytes.NewReader(big[:2*atlite.BlobChunkSize+1]), iotest.ErrReader(boom)), "", 0, boom},
		{"bad MIME type", ctx, did, bytes.NewReader(big[:10]), "not a type", 0, atlite.ErrBlobType},
		{"unknown repo", ctx, "did:plc:nobody", bytes.NewReader(big[:10]), "", 0, atlite.ErrNotFound},
		{"inactive repo", ctx, gone, bytes.NewReader(big), "", 0, nil},
		{"cancelled", cancelled, did, bytes.NewReader(big), "", 0, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := s.UploadBlob(tt.ctx, tt.did, tt.r, tt.mime, &atlite.UploadBlobOptions{MaxBytes: tt.max})
			ok := errors.Is(err, tt.want)
			if tt.want == nil { // an inactive repo
				var inactive *atlite.InactiveRepoError
				ok = errors.As(err, &inactive)
			}
			if !ok || b != nil {
				t.Errorf("UploadBlob = %v, %v, want %v", b, err, tt.want)
			}
			if n, m := countRows(t, path, "blobs"), countRows(t, path, "blob_chunks"); n != 0 || m != 0 {
				t.Errorf("after a refused upload, %d blobs and %d chunks are stored, want none", n, m)
			}
		})
	}
}

// blobRecord is a post citing the given blobs.
func blobRecord(text string, blobs ...cid.Cid) map[string]any {
	imgs := []any{}
	for _, c := range blobs {
		imgs = append(imgs, map[string]any{"alt": "", "image": blobObject(c, "image/png", 1)})
	}
	return map[string]any{"$type": "app.bsky.feed.post", "text": text, "createdAt": "2024-01-01T00:00:00.000Z",
		"embed": map[string]any{"$type": "app.bsky.embed.images", "images": imgs}}
}

func refsOf(t *testing.T, s *atlite.Store, c cid.Cid) int64 {
	t.Helper()
	b, err := s.StatBlob(ctx, c)
	if err != nil {
		t.Fatalf("StatBlob(%s) = %v", c, err)
	}
	return b.Refs
}

func listBlobs(t *testing.T, s *atlite.Store, did syntax.DID, since syntax.TID) []cid.Cid {
	t.Helper()
	got, _, err := s.ListBlobs(ctx, did, &atlite.ListBlobsOptions{Since: since})
	if err != nil {
		t.Fatalf("ListBlobs(%s, %q) = %v", did, since, err)
	}
	return got
}

func sortedCIDs(cs ...cid.Cid) []cid.Cid {
	out := slices.Clone(cs)
	slices.SortFunc(out, func(a, b cid.Cid) int { return strings.Compare(a.KeyString(), b.KeyString()) })
	return out
}

func TestBlobRefCounting(t *testing.T) {
	c := newClock()
	s := testutil.MustOpenStore(t, c.opts())
	alice := newRepo(t, s, "did:plc:alice")
	bob := newRepo(t, s, "did:plc:bob")
	a := mustUpload(t, s, alice, []byte("blob a"), "image/png").CID
	b := mustUpload(t, s, alice, []byte("blob b"), "image/png").CID
	unknown := datamodel.RawCID([]byte("never uploaded yet"))
	const coll = "app.bsky.feed.post"

	commitW := func(did syntax.DID, ws ...commit.Write) {
		t.Helper()
		if _, err := s.Commit(ctx, did, ws, nil); err != nil {
			t.Fatalf("Commit = %v", err)
		}
	}
	check := func(step string, wantA, wantB int64, wantAlice, wantBob []cid.Cid) {
		t.Helper()
		if got := refsOf(t, s, a); got != wantA {
			t.Errorf("%s: refs of a = %d, want %d", step, got, wantA)
		}
		if got := refsOf(t, s, b); got != wantB {
			t.Errorf("%s: refs of b = %d, want %d", step, got, wantB)
		}
		if got := listBlobs(t, s, alice, ""); !slices.EqualFunc(got, wantAlice, cid.Cid.Equals) {
			t.Errorf("%s: ListBlobs(alice) = %v, want %v", step, got, wantAlice)
		}
		if got := listBlobs(t, s, bob, ""); !slices.EqualFunc(got, wantBob, cid.Cid.Equals) {
			t.Errorf("%s: ListBlobs(bob) = %v, want %v", step, got, wantBob)
		}
	}
	check("uploaded", 0, 0, nil, nil)

	// A record citing a twice, and one citing a blob never uploaded: both
	// commits are accepted.
	commitW(alice, mustWrite(t, commit.Create, coll, "p1", blobRecord("one", a, a)),
		mustWrite(t, commit.Create, coll, "p2", blobRecord("two", unknown)))
	check("create", 1, 0, []cid.Cid{a}, nil)
	// Another repo cites a too.
	commitW(bob, mustWrite(t, commit.Create, coll, "p1", blobRecord("bob", a)))
	check("bob cites a", 2, 0, []cid.Cid{a}, []cid.Cid{a})
	// A no-op update changes nothing.
	commitW(alice, mustWrite(t, commit.Update, coll, "p1", blobRecord("one", a, a)),
		mustWrite(t, commit.Create, coll, "p3", map[string]any{"text": "no blobs"}))
	check("no-op update", 2, 0, []cid.Cid{a}, []cid.Cid{a})
	// Update p1 to cite b instead.
	commitW(alice, mustWrite(t, commit.Update, coll, "p1", blobRecord("one, edited", b)))
	check("update", 1, 1, []cid.Cid{b}, []cid.Cid{a})
	// GC keeps what is cited.
	if n, err := s.GCBlobs(ctx, 0); err != nil || n != 0 {
		t.Errorf("GCBlobs = %d, %v, want 0", n, err)
	}
	// Bob deletes his record: a is uncited and collected.
	commitW(bob, mustWrite(t, commit.Delete, coll, "p1", nil))
	check("bob deletes", 0, 1, []cid.Cid{b}, nil)
	if n, err := s.GCBlobs(ctx, 0); err != nil || n != 1 {
		t.Errorf("GCBlobs = %d, %v, want 1", n, err)
	}
	if _, err := s.StatBlob(ctx, a); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("StatBlob(a) after GC = %v, want ErrNotFound", err)
	}
	// The blob cited before it was uploaded counts from its upload, and is
	// listed from then on.
	if got := mustUpload(t, s, alice, []byte("never uploaded yet"), "image/png"); got.Refs != 1 {
		t.Errorf("UploadBlob(cited blob).Refs = %d, want 1", got.Refs)
	}
	if got, want := listBlobs(t, s, alice, ""), sortedCIDs(b, unknown); !slices.EqualFunc(got, want, cid.Cid.Equals) {
		t.Errorf("ListBlobs(alice) = %v, want %v", got, want)
	}
	// Two deletes in one commit.
	commitW(alice, mustWrite(t, commit.Delete, coll, "p1", nil), mustWrite(t, commit.Delete, coll, "p2", nil))
	if n, err := s.GCBlobs(ctx, 0); err != nil || n != 2 {
		t.Errorf("GCBlobs = %d, %v, want 2", n, err)
	}
	if left := listBlobs(t, s, alice, ""); len(left) != 0 {
		t.Errorf("ListBlobs(alice) at the end = %v, want none", left)
	}
}

func TestListBlobsSinceAndCursor(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	did := newRepo(t, s, "did:plc:alice")
	var cs []cid.Cid
	for i := range 5 {
		cs = append(cs, mustUpload(t, s, did, []byte(fmt.Sprint("blob ", i)), "image/png").CID)
	}
	const coll = "app.bsky.feed.post"
	r1, err := s.Commit(ctx, did, []commit.Write{mustWrite(t, commit.Create, coll, "a", blobRecord("a", cs[0], cs[1]))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.Commit(ctx, did, []commit.Write{mustWrite(t, commit.Create, coll, "b", blobRecord("b", cs[2], cs[3], cs[4]))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	all := sortedCIDs(cs...)
	if got := listBlobs(t, s, did, ""); !slices.EqualFunc(got, all, cid.Cid.Equals) {
		t.Errorf("ListBlobs() = %v, want %v", got, all)
	}
	if got, want := listBlobs(t, s, did, r1.Commit.Rev), sortedCIDs(cs[2:]...); !slices.EqualFunc(got, want, cid.Cid.Equals) {
		t.Errorf("ListBlobs(since %s) = %v, want %v", r1.Commit.Rev, got, want)
	}
	if got := listBlobs(t, s, did, r2.Commit.Rev); len(got) != 0 {
		t.Errorf("ListBlobs(since the last rev) = %v, want none", got)
	}
	// Updating record a moves its blobs to the new rev.
	r3, err := s.Commit(ctx, did, []commit.Write{mustWrite(t, commit.Update, coll, "a", blobRecord("a2", cs[0]))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := listBlobs(t, s, did, r2.Commit.Rev); !slices.EqualFunc(got, cs[:1], cid.Cid.Equals) {
		t.Errorf("ListBlobs(since %s) = %v, want %v", r3.Commit.Rev, got, cs[:1])
	}

	// Pages of 2.
	all = sortedCIDs(cs[0], cs[2], cs[3], cs[4])
	var got []cid.Cid
	cursor := ""
	pages := 0
	for page := 0; ; page++ {
		p, next, err := s.ListBlobs(ctx, did, &atlite.ListBlobsOptions{Cursor: cursor, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p...)
		pages++
		if next == "" {
			break
		}
		if page > 3 {
			t.Fatal("too many pages")
		}
		cursor = next
	}
	if !slices.EqualFunc(got, all, cid.Cid.Equals) || pages != 2 {
		t.Errorf("ListBlobs by pages of 2 = %v in %d pages, want %v in 2 (the last one says there is no more)", got, pages, all)
	}
	if _, _, err := s.ListBlobs(ctx, "did:plc:nobody", nil); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("ListBlobs(unknown repo) = %v, want ErrNotFound", err)
	}
	if _, _, err := s.ListBlobs(ctx, did, &atlite.ListBlobsOptions{Cursor: "not a cid"}); !errors.Is(err, datamodel.ErrInvalidCID) {
		t.Errorf("ListBlobs(bad cursor) = %v, want ErrInvalidCID", err)
	}
}

func TestGCBlobsGracePeriod(t *testing.T) {
	c := newClock()
	s, path := testutil.MustOpenFileStore(t, c.opts())
	did := newRepo(t, s, "did:plc:alice")
	first := mustUpload(t, s, did, []byte("first"), "")
	c.Advance(40 * time.Minute)
	mustUpload(t, s, did, []byte("second"), "")
	c.Advance(21 * time.Minute) // first is 61 minutes old, second 21
	if n, err := s.GCBlobs(ctx, atlite.DefaultBlobGracePeriod); err != nil || n != 1 {
		t.Errorf("GCBlobs(1h) = %d, %v, want 1", n, err)
	}
	if _, err := s.StatBlob(ctx, first.CID); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("StatBlob(first) = %v, want ErrNotFound", err)
	}
	// Uploading again restarts the grace period.
	c.Advance(50 * time.Minute)
	mustUpload(t, s, did, []byte("second"), "")
	c.Advance(50 * time.Minute)
	if n, err := s.GCBlobs(ctx, atlite.DefaultBlobGracePeriod); err != nil || n != 0 {
		t.Errorf("GCBlobs(1h) after a re-upload = %d, %v, want 0", n, err)
	}

	// An upload in progress is kept through the grace period, and collected
	// after it (its upload then fails).
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := s.UploadBlob(ctx, did, pr, "", nil)
		done <- err
	}()
	if _, err := pw.Write(make([]byte, atlite.BlobChunkSize+1)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for countRows(t, path, "blob_chunks") < 2 { // second's chunk and the first of the upload
		if time.Now().After(deadline) {
			t.Fatal("the first chunk of the upload was not written")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n, err := s.GCBlobs(ctx, atlite.DefaultBlobGracePeriod); err != nil || n != 0 {
		t.Errorf("GCBlobs(1h) during an upload = %d, %v, want 0", n, err)
	}
	c.Advance(2 * time.Hour)
	if n, err := s.GCBlobs(ctx, atlite.DefaultBlobGracePeriod); err != nil || n != 2 {
		t.Errorf("GCBlobs(1h) of a stalled upload = %d, %v, want 2 (it and second)", n, err)
	}
	pw.Close() // the upload's last chunk finds its blob gone
	if err := <-done; err == nil {
		t.Errorf("UploadBlob of a collected upload = nil error")
	}
	if n, m := countRows(t, path, "blobs"), countRows(t, path, "blob_chunks"); n != 0 || m != 0 {
		t.Errorf("%d blobs and %d chunks left, want none", n, m)
	}
}

func TestBlobsClosed(t *testing.T) {
	s, err := atlite.Open(":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	did := newRepo(t, s, "did:plc:alice")
	b := mustUpload(t, s, did, randomBytes(atlite.BlobChunkSize+1, 1), "")
	r, err := s.OpenBlob(ctx, b.CID)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := io.ReadAll(r); !errors.Is(err, atlite.ErrClosed) {
		t.Errorf("reading after the store closed = %v, want ErrClosed", err)
	}
	if _, err := s.UploadBlob(ctx, did, strings.NewReader("x"), "", nil); !errors.Is(err, atlite.ErrClosed) {
		t.Errorf("UploadBlob after Close = %v, want ErrClosed", err)
	}
	if _, _, err := s.ListBlobs(ctx, did, nil); !errors.Is(err, atlite.ErrClosed) {
		t.Errorf("ListBlobs after Close = %v, want ErrClosed", err)
	}
	if _, err := s.GCBlobs(ctx, 0); !errors.Is(err, atlite.ErrClosed) {
		t.Errorf("GCBlobs after Close = %v, want ErrClosed", err)
	}
}

// TestCloseDuringUpload checks that Close does not wait for an upload whose
// client stalls, and that the leftovers are collected after a reopen.
func TestCloseDuringUpload(t *testing.T) {
	s, path := testutil.MustOpenFileStore(t, nil)
	did := newRepo(t, s, "did:plc:alice")
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := s.UploadBlob(ctx, did, pr, "", nil)
		done <- err
	}()
	if _, err := pw.Write(make([]byte, atlite.BlobChunkSize+1)); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for a stalled upload")
	}
	pw.Close()
	if err := <-done; !errors.Is(err, atlite.ErrClosed) {
		t.Errorf("UploadBlob across Close = %v, want ErrClosed", err)
	}
	s2, err := atlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if n, err := s2.GCBlobs(ctx, 0); err != nil || n != 1 {
		t.Errorf("GCBlobs after reopen = %d, %v, want 1 (the unfinished upload)", n, err)
	}
	if n := countRows(t, path, "blob_chunks"); n != 0 {
		t.Errorf("%d chunks left, want none", n)
	}
}
