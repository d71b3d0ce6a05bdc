package atlite_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/internal/safehttp"
	"github.com/atlite-dev/atlite/internal/testutil"
	"github.com/atlite-dev/atlite/syntax"
)

// blobContentsCID is the raw CID of "blob contents" (arroba's BLOB_CID).
var blobContentsCID = cid.MustParse("bafkreicqpqncshdd27sgztqgzocd3zhhqnnsv6slvzhs5uz6f57cq6lmtq")

const (
	keyboardCID = "bafkreicjoxic5d37v2ae3wfxkjgxtvx5hsp4ejjemaog322z5dvm7kgtvq"
	videoCID    = "bafkreibgl7xrsfokhkqozokegnrmp2evy55h3tbjwy24ffbmuet3ytohz4"
)

func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile("testdata/arroba/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// blobServer is a loopback HTTP server whose responses the tests set per
// path, counting requests.
type blobServer struct {
	*httptest.Server
	mu     sync.Mutex
	routes map[string]http.HandlerFunc
	hits   map[string]int
}

func newBlobServer(t *testing.T) *blobServer {
	t.Helper()
	bs := &blobServer{routes: map[string]http.HandlerFunc{}, hits: map[string]int{}}
	bs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bs.mu.Lock()
		bs.hits[r.URL.Path]++
		h := bs.routes[r.URL.Path]
		bs.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	t.Cleanup(bs.Close)
	return bs
}

// serve makes path answer body with the given Content-Type ("" for no
// Content-Type header at all).
func (bs *blobServer) serve(path, contentType string, body []byte) string {
	bs.handle(path, func(w http.ResponseWriter, r *http.Request) {
		if contentType == "" {
			w.Header()["Content-Type"] = nil // no sniffing either
		} else {
			w.Header().Set("Content-Type", contentType)
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.Write(body)
	})
	return bs.URL + path
}

func (bs *blobServer) handle(path string, h http.HandlerFunc) string {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	bs.routes[path] = h
	return bs.URL + path
}

// trusted returns a copy of o (nil for none) whose Client reaches the
// server: the default client refuses loopback addresses.
func (bs *blobServer) trusted(o *atlite.RemoteBlobOptions) *atlite.RemoteBlobOptions {
	var c atlite.RemoteBlobOptions
	if o != nil {
		c = *o
	}
	c.Client = bs.Client()
	return &c
}

func (bs *blobServer) count(path string) int {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	return bs.hits[path]
}

// clock is a settable time source.
type clock struct{ t atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.t.Store(testutil.Now.UnixMicro())
	return c
}

func (c *clock) Now() time.Time          { return time.UnixMicro(c.t.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.t.Add(d.Microseconds()) }
func (c *clock) opts() *atlite.Options   { return &atlite.Options{Now: c.Now} }
func (c *clock) remote() *atlite.RemoteBlobOptions {
	return &atlite.RemoteBlobOptions{Now: c.Now}
}

func blobObject(c cid.Cid, mimeType string, size int64) map[string]any {
	return map[string]any{"$type": "blob", "ref": c, "mimeType": mimeType, "size": size}
}

func sameObject(got, want map[string]any) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if c, ok := v.(cid.Cid); ok {
			if g, ok := got[k].(cid.Cid); !ok || !g.Equals(c) {
				return false
			}
		} else if got[k] != v {
			return false
		}
	}
	return true
}

func TestRemoteBlobFetch(t *testing.T) {
	png := readTestdata(t, "keyboard.png")
	mp4 := readTestdata(t, "video.mp4")
	tests := []struct {
		name        string
		path        string
		contentType string
		body        []byte
		opts        atlite.RemoteBlobOptions
		wantObject  map[string]any
		wantWidth   int
		wantHeight  int
		wantDur     time.Duration
	}{
		{"content type header", "/blob", "foo/bar", []byte("blob contents"), atlite.RemoteBlobOptions{MaxSize: 456},
			blobObject(blobContentsCID, "foo/bar", 13), 0, 0, 0},
		{"content type with parameters kept verbatim", "/text", "text/plain; charset=utf-8", []byte("blob contents"), atlite.RemoteBlobOptions{},
			blobObject(blobContentsCID, "text/plain; charset=utf-8", 13), 0, 0, 0},
		{"type from URL extension", "/my/blob.png", "", []byte("blob contents"), atlite.RemoteBlobOptions{MaxSize: 456},
			blobObject(blobContentsCID, "image/png", 13), 0, 0, 0},
		{"default type", "/blob2", "", []byte("blob contents"), atlite.RemoteBlobOptions{},
			blobObject(blobContentsCID, "application/octet-stream", 13), 0, 0, 0},
		{"accept wildcard", "/blob3", "foo/bar", []byte("blob contents"), atlite.RemoteBlobOptions{Accept: []string{"baz/biff", "foo/*"}},
			blobObject(blobContentsCID, "foo/bar", 13), 0, 0, 0},
		{"no type, accept all", "/blob4", "", []byte("blob contents"), atlite.RemoteBlobOptions{Accept: []string{"*/*"}},
			blobObject(blobContentsCID, "application/octet-stream", 13), 0, 0, 0},
		{"image size", "/keyboard.png", "", png, atlite.RemoteBlobOptions{Accept: []string{"image/*"}},
			blobObject(cid.MustParse(keyboardCID), "image/png", 9003), 21, 12, 0},
		{"video size and duration", "/video.mp4", "", mp4, atlite.RemoteBlobOptions{Accept: []string{"video/mp4"}},
			blobObject(cid.MustParse(videoCID), "video/mp4", 30109), 1280, 720, 101 * time.Millisecond},
		{"exactly 3 minutes passes", "/long.mp4", "video/mp4", videoWithDuration(t, 180_000), atlite.RemoteBlobOptions{},
			nil, 1280, 720, 3 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			s := testutil.MustOpenStore(t, c.opts())
			bs := newBlobServer(t)
			u := bs.serve(tt.path, tt.contentType, tt.body)
			want := tt.wantObject
			if want == nil {
				want = blobObject(datamodel.RawCID(tt.body), tt.contentType, int64(len(tt.body)))
			}
			for i := range 2 { // the second call reads the stored blob
				b, err := s.RemoteBlob(ctx, u, bs.trusted(&tt.opts))
				if err != nil {
					t.Fatalf("RemoteBlob(%s) #%d = %v", u, i+1, err)
				}
				if got := b.AsObject(); !sameObject(got, want) {
					t.Errorf("RemoteBlob(%s) #%d AsObject() = %v, want %v", u, i+1, got, want)
				}
				if b.Width != tt.wantWidth || b.Height != tt.wantHeight || b.Duration != tt.wantDur {
					t.Errorf("RemoteBlob(%s) #%d = %dx%d %v, want %dx%d %v", u, i+1, b.Width, b.Height, b.Duration, tt.wantWidth, tt.wantHeight, tt.wantDur)
				}
				if b.Status != "" || !b.LastFetched.Equal(testutil.Now) || b.URL != u {
					t.Errorf("RemoteBlob(%s) #%d: status %q, last fetched %v, URL %q", u, i+1, b.Status, b.LastFetched, b.URL)
				}
			}
			if n := bs.count(tt.path); n != 1 {
				t.Errorf("%d requests for %s, want 1", n, tt.path)
			}
		})
	}
}

// videoWithDuration is video.mp4 with its movie and track durations set to
// ms milliseconds (its movie timescale is 1000).
func videoWithDuration(tb testing.TB, ms uint32) []byte {
	b := bytes.Clone(readTestdata(tb, "video.mp4"))
	i := bytes.Index(b, []byte("mvhd"))
	binary.BigEndian.PutUint32(b[i+4+16:], ms) // version 0: flags, created, modified, timescale
	j := bytes.Index(b, []byte("tkhd"))
	binary.BigEndian.PutUint32(b[j+4+20:], ms) // flags, created, modified, track, reserved
	return b
}

func TestRemoteBlobAsObjectMarshals(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	bs := newBlobServer(t)
	u := bs.serve("/b", "foo/bar", []byte("blob contents"))
	b, err := s.RemoteBlob(ctx, u, bs.trusted(nil))
	if err != nil {
		t.Fatal(err)
	}
	got, err := datamodel.Marshal(b.AsObject())
	if err != nil {
		t.Fatal(err)
	}
	want, _ := datamodel.FromJSON([]byte(`{"$type":"blob","ref":{"$link":"` + blobContentsCID.String() + `"},"mimeType":"foo/bar","size":13}`))
	wantB, _ := datamodel.Marshal(want)
	if !bytes.Equal(got, wantB) {
		t.Errorf("Marshal(AsObject()) = %x, want %x", got, wantB)
	}
	if obj := (&atlite.RemoteBlob{URL: u}).AsObject(); obj != nil {
		t.Errorf("AsObject() of an unfetched blob = %v, want nil", obj)
	}
}

func TestRemoteBlobValidation(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        []byte
		opts        atlite.RemoteBlobOptions
		want        error
	}{
		{"lexicon maxSize", "foo/bar", []byte("blob contents"), atlite.RemoteBlobOptions{MaxSize: 12}, atlite.ErrBlobTooLarge},
		{"type not accepted", "foo/bar", []byte("blob contents"), atlite.RemoteBlobOptions{Accept: []string{"baz/biff"}}, atlite.ErrBlobType},
		{"no type, list without wildcard", "", []byte("blob contents"), atlite.RemoteBlobOptions{Accept: []string{"baz/biff"}}, atlite.ErrBlobType},
		{"wildcard of another major type", "video/mp4", []byte("blob contents"), atlite.RemoteBlobOptions{Accept: []string{"image/*"}}, atlite.ErrBlobType},
		{"video over 3 minutes", "video/mp4", videoWithDuration(t, 180_001), atlite.RemoteBlobOptions{}, atlite.ErrBlobTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testutil.MustOpenStore(t, nil)
			bs := newBlobServer(t)
			u := bs.serve("/blob", tt.contentType, tt.body)
			for i := range 2 { // fetched, then rejected from the stored row
				b, err := s.RemoteBlob(ctx, u, bs.trusted(&tt.opts))
				if !errors.Is(err, tt.want) {
					t.Fatalf("RemoteBlob #%d = %v, want %v", i+1, err, tt.want)
				}
				if b == nil || !b.CID.Equals(datamodel.RawCID(tt.body)) {
					t.Errorf("RemoteBlob #%d returned %+v, want the fetched blob", i+1, b)
				}
			}
			if n := bs.count("/blob"); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
			// The same blob passes without the constraint, without a fetch.
			if _, err := s.RemoteBlob(ctx, u, bs.trusted(nil)); err != nil && !errors.Is(err, atlite.ErrBlobTooLong) {
				t.Errorf("RemoteBlob(no constraints) = %v", err)
			}
		})
	}
}

func TestAcceptsMIMEType(t *testing.T) {
	tests := []struct {
		accept []string
		mime   string
		want   bool
	}{
		{nil, "", true},
		{nil, "foo/bar", true},
		{[]string{"*/*"}, "", true},
		{[]string{"image/*"}, "image/png", true},
		{[]string{"image/*"}, "image", true}, // as arroba: the major type is what precedes any "/"
		{[]string{"image/*"}, "", false},
		{[]string{"image/png"}, "image/png", true},
		{[]string{"image/png"}, "image/jpeg", false},
		{[]string{"video/mp4", "image/*"}, "image/webp", true},
		{[]string{"image/png"}, "image/png; charset=x", false},
	}
	for _, tt := range tests {
		if got := atlite.AcceptsMIMEType(tt.accept, tt.mime); got != tt.want {
			t.Errorf("AcceptsMIMEType(%q, %q) = %v, want %v", tt.accept, tt.mime, got, tt.want)
		}
	}
}

func TestRemoteBlobTooLarge(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	bs := newBlobServer(t)
	// Content-Length over the limit: refused before the body is read.
	u := bs.handle("/cl", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "foo/bar")
		w.Header().Set("Content-Length", "13")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		w.Write([]byte("blob contents"))
	})
	opts := bs.trusted(&atlite.RemoteBlobOptions{MaxBytes: 10})
	b, err := s.RemoteBlob(ctx, u, opts)
	if !errors.Is(err, atlite.ErrBlobTooLarge) {
		t.Fatalf("RemoteBlob(Content-Length 13, MaxBytes 10) = %v, want ErrBlobTooLarge", err)
	}
	if b.CID.Defined() || b.Size != 13 || b.MIMEType != "foo/bar" || b.Status != "" || b.LastFetched.IsZero() {
		t.Errorf("after an oversized Content-Length: %+v, want no CID, size 13, foo/bar, active, fetched", b)
	}
	// Stored: refused again without a fetch (not an image, so not refetched).
	if _, err := s.RemoteBlob(ctx, u, opts); !errors.Is(err, atlite.ErrBlobTooLarge) {
		t.Errorf("RemoteBlob again = %v, want ErrBlobTooLarge", err)
	}
	if n := bs.count("/cl"); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}

	// No Content-Length (chunked): the body is cut at the limit.
	u = bs.handle("/chunked", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "foo/bar")
		for range 4 {
			w.Write([]byte("blob "))
			w.(http.Flusher).Flush()
		}
	})
	b, err = s.RemoteBlob(ctx, u, opts)
	if !errors.Is(err, atlite.ErrBlobTooLarge) {
		t.Fatalf("RemoteBlob(chunked 20 bytes, MaxBytes 10) = %v, want ErrBlobTooLarge", err)
	}
	if b.CID.Defined() || b.Size != 11 || b.Status != "" {
		t.Errorf("after an oversized body: %+v, want no CID, size 11 (the limit + 1), active", b)
	}
}

func TestRemoteBlobStatus(t *testing.T) {
	c := newClock()
	s := testutil.MustOpenStore(t, c.opts())
	bs := newBlobServer(t)
	opts := bs.trusted(c.remote())

	// 404: inactive, then refused without a fetch.
	u := bs.URL + "/missing"
	if _, err := s.RemoteBlob(ctx, u, opts); !errors.Is(err, atlite.ErrBlobFetch) {
		t.Fatalf("RemoteBlob(404) = %v, want ErrBlobFetch", err)
	}
	c.Advance(30 * 24 * time.Hour)
	b, err := s.RemoteBlob(ctx, u, opts)
	if !errors.Is(err, atlite.ErrBlobInactive) || b.Status != atlite.RemoteBlobInactive {
		t.Fatalf("RemoteBlob(inactive) = %+v, %v, want ErrBlobInactive", b, err)
	}
	if n := bs.count("/missing"); n != 1 {
		t.Errorf("%d requests for an inactive blob, want 1", n)
	}

	// 500 before any fetch succeeded: inactive too.
	u = bs.handle("/broken", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "oops", http.StatusInternalServerError) })
	if _, err := s.RemoteBlob(ctx, u, opts); !errors.Is(err, atlite.ErrBlobFetch) {
		t.Fatalf("RemoteBlob(500) = %v, want ErrBlobFetch", err)
	}
	if b, _ := s.GetRemoteBlob(ctx, u); b.Status != atlite.RemoteBlobInactive {
		t.Errorf("after a 500 on a new blob, status = %q, want inactive", b.Status)
	}

	// 500 on the refetch of an image that has a CID: stays active and keeps
	// its CID; the fetch time moves.
	png := readTestdata(t, "keyboard.png")
	u = bs.serve("/img.png", "image/png", png)
	if _, err := s.RemoteBlob(ctx, u, opts); err != nil {
		t.Fatal(err)
	}
	bs.handle("/img.png", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "oops", http.StatusServiceUnavailable) })
	c.Advance(8 * 24 * time.Hour)
	b, err = s.RemoteBlob(ctx, u, opts)
	if !errors.Is(err, atlite.ErrBlobFetch) {
		t.Fatalf("RemoteBlob(refetch 503) = %v, want ErrBlobFetch", err)
	}
	if b.Status != "" || b.CID.String() != keyboardCID || !b.LastFetched.Equal(c.Now()) {
		t.Errorf("after a 503 refetch: status %q, CID %s, last fetched %v; want active, %s, %v", b.Status, b.CID, b.LastFetched, keyboardCID, c.Now())
	}
	// A 4xx on refetch makes it inactive.
	bs.handle("/img.png", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "gone", http.StatusGone) })
	c.Advance(8 * 24 * time.Hour)
	if _, err := s.RemoteBlob(ctx, u, opts); !errors.Is(err, atlite.ErrBlobFetch) {
		t.Fatalf("RemoteBlob(refetch 410) = %v, want ErrBlobFetch", err)
	}
	if _, err := s.RemoteBlob(ctx, u, opts); !errors.Is(err, atlite.ErrBlobInactive) {
		t.Errorf("RemoteBlob(after 410) = %v, want ErrBlobInactive", err)
	}
}

func TestRemoteBlobRefetch(t *testing.T) {
	png := readTestdata(t, "keyboard.png")
	mp4 := readTestdata(t, "video.mp4")
	day := 24 * time.Hour
	tests := []struct {
		name     string
		path     string
		body     []byte
		opts     atlite.RemoteBlobOptions
		advances []time.Duration // before each further call
		want     int             // requests in all
	}{
		{"image within 7 days", "/a.png", png, atlite.RemoteBlobOptions{}, []time.Duration{6 * day, day - time.Second}, 1},
		{"image after 7 days", "/a.png", png, atlite.RemoteBlobOptions{}, []time.Duration{7 * day, 7 * day, time.Hour}, 3},
		{"video fetched once", "/v.mp4", mp4, atlite.RemoteBlobOptions{}, []time.Duration{30 * day, 365 * day}, 1},
		{"video refetched when asked", "/v.mp4", mp4, atlite.RemoteBlobOptions{RefetchTypes: []string{"video"}, RefetchAge: day}, []time.Duration{day, time.Hour}, 2},
		{"negative age never refetches", "/a.png", png, atlite.RemoteBlobOptions{RefetchAge: -1}, []time.Duration{100 * day}, 1},
		{"other types fetched once", "/x", []byte("blob contents"), atlite.RemoteBlobOptions{}, []time.Duration{100 * day}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			s := testutil.MustOpenStore(t, c.opts())
			bs := newBlobServer(t)
			u := bs.serve(tt.path, "", tt.body)
			tt.opts.Now = c.Now
			tt.opts.Client = bs.Client()
			if _, err := s.RemoteBlob(ctx, u, &tt.opts); err != nil {
				t.Fatal(err)
			}
			for _, d := range tt.advances {
				c.Advance(d)
				if _, err := s.RemoteBlob(ctx, u, &tt.opts); err != nil {
					t.Fatal(err)
				}
			}
			if n := bs.count(tt.path); n != tt.want {
				t.Errorf("%d requests, want %d", n, tt.want)
			}
		})
	}
}

func TestRemoteBlobRepos(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	bs := newBlobServer(t)
	u := bs.serve("/b", "foo/bar", []byte("blob contents"))
	for _, d := range []string{"did:plc:bob", "did:plc:alice", "did:plc:bob", ""} {
		if _, err := s.RemoteBlob(ctx, u, bs.trusted(&atlite.RemoteBlobOptions{Repo: syntax.DID(d)})); err != nil {
			t.Fatal(err)
		}
	}
	b, err := s.GetRemoteBlob(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(b.Repos); got != "[did:plc:alice did:plc:bob]" {
		t.Errorf("Repos = %s, want [did:plc:alice did:plc:bob]", got)
	}
	if n := bs.count("/b"); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	if _, err := s.GetRemoteBlob(ctx, bs.URL+"/other"); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("GetRemoteBlob(unknown) = %v, want ErrNotFound", err)
	}
}

func TestRemoteBlobBadInput(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	bs := newBlobServer(t)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	wait := func(r *http.Request) {
		select {
		case <-stop:
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
	bs.handle("/to-file", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
	})
	bs.handle("/to-ftp", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "ftp://example.com/blob", http.StatusMovedPermanently)
	})
	bs.handle("/slow-headers", func(w http.ResponseWriter, r *http.Request) { wait(r) })
	bs.handle("/slow-body", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write([]byte("\x89PNG\r\n\x1a\n"))
		w.(http.Flusher).Flush()
		wait(r)
	})
	bs.handle("/redirect-ok", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/target", http.StatusFound)
	})
	bs.serve("/target", "foo/bar", []byte("blob contents"))

	client := &http.Client{Timeout: 200 * time.Millisecond}
	opts := &atlite.RemoteBlobOptions{Client: client}
	for _, tt := range []struct {
		name, url string
		stored    bool // a row records the failure (the blob is then inactive)
	}{
		{"ftp URL", "ftp://example.com/blob", false},
		{"relative URL", "/blob.png", false},
		{"no host", "http:///blob.png", false},
		{"unparsable URL", "http://[::1", false},
		{"redirect to file", bs.URL + "/to-file", true},
		{"redirect to ftp", bs.URL + "/to-ftp", true},
		{"slow headers", bs.URL + "/slow-headers", true},
		{"slow body", bs.URL + "/slow-body", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			b, err := s.RemoteBlob(ctx, tt.url, opts)
			if !errors.Is(err, atlite.ErrBlobFetch) {
				t.Fatalf("RemoteBlob(%s) = %v, want ErrBlobFetch", tt.url, err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("RemoteBlob(%s) took %v", tt.url, d)
			}
			stored, gerr := s.GetRemoteBlob(ctx, tt.url)
			if !tt.stored {
				if !errors.Is(gerr, atlite.ErrNotFound) {
					t.Errorf("GetRemoteBlob(%s) = %+v, %v, want ErrNotFound", tt.url, stored, gerr)
				}
				return
			}
			if gerr != nil || stored.CID.Defined() || stored.Status != atlite.RemoteBlobInactive || b.Status != atlite.RemoteBlobInactive {
				t.Errorf("GetRemoteBlob(%s) = %+v, %v, want an inactive blob without CID", tt.url, stored, gerr)
			}
		})
	}

	// An http redirect is followed, whatever the client's own policy.
	b, err := s.RemoteBlob(ctx, bs.URL+"/redirect-ok", opts)
	if err != nil || !b.CID.Equals(blobContentsCID) {
		t.Errorf("RemoteBlob(redirect to http) = %+v, %v, want %s", b, err, blobContentsCID)
	}
}

func TestRemoteBlobCancelled(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	bs := newBlobServer(t)
	u := bs.handle("/slow", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := s.RemoteBlob(cctx, u, bs.trusted(nil)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RemoteBlob(cancelled) = %v, want context.DeadlineExceeded", err)
	}
	b, err := s.GetRemoteBlob(ctx, u)
	if err != nil || b.Status != "" || !b.LastFetched.IsZero() {
		t.Errorf("after a cancelled fetch: %+v, %v, want an active, never fetched blob", b, err)
	}
}

func TestRemoteBlobClosed(t *testing.T) {
	s, err := atlite.Open(":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// A public-looking URL: with the default client, a loopback literal is
	// refused before the store is looked at.
	if _, err := s.RemoteBlob(ctx, "https://blobs.example.com/x", nil); !errors.Is(err, atlite.ErrClosed) {
		t.Errorf("RemoteBlob after Close = %v, want ErrClosed", err)
	}
}

// TestRemoteBlobForbiddenLiteral is the regression test of issue 8: with
// the default client, a URL naming a non-public IP address is refused
// before any request, and nothing is stored.
func TestRemoteBlobForbiddenLiteral(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	bs := newBlobServer(t)
	bs.serve("/x", "foo/bar", []byte("blob contents"))
	port := bs.Listener.Addr().(*net.TCPAddr).Port
	tests := []struct {
		url, addr, why string
	}{
		{fmt.Sprintf("http://127.0.0.1:%d/x", port), fmt.Sprintf("127.0.0.1:%d", port), "loopback"},
		{fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/x", port), fmt.Sprintf("127.0.0.1:%d", port), "loopback"},
		{fmt.Sprintf("http://[::1]:%d/x", port), fmt.Sprintf("[::1]:%d", port), "loopback"},
		{fmt.Sprintf("http://0.0.0.0:%d/x", port), fmt.Sprintf("0.0.0.0:%d", port), "unspecified"},
		{"http://169.254.169.254/latest/meta-data/", "169.254.169.254:80", "link-local"},
		{"https://10.1.2.3/blob.png", "10.1.2.3:443", "private"},
		{"http://100.64.0.1/x", "100.64.0.1:80", "shared address space (CGNAT)"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			b, err := s.RemoteBlob(ctx, tt.url, nil)
			if !errors.Is(err, atlite.ErrForbiddenAddress) || !errors.Is(err, atlite.ErrBlobFetch) {
				t.Fatalf("RemoteBlob(%s) = %+v, %v, want ErrForbiddenAddress and ErrBlobFetch", tt.url, b, err)
			}
			want := fmt.Sprintf("remote blob %q: cannot fetch blob: forbidden address %s (%s)", tt.url, tt.addr, tt.why)
			if b != nil || err.Error() != want {
				t.Errorf("RemoteBlob(%s) = %+v, %q, want nil, %q", tt.url, b, err, want)
			}
			if got, err := s.GetRemoteBlob(ctx, tt.url); !errors.Is(err, atlite.ErrNotFound) {
				t.Errorf("GetRemoteBlob(%s) = %+v, %v, want ErrNotFound", tt.url, got, err)
			}
		})
	}
	if n := bs.count("/x"); n != 0 {
		t.Errorf("%d requests reached the server, want 0", n)
	}
}

// TestRemoteBlobForbiddenAtDial: a host name that resolves to loopback is
// refused when the default client connects; the blob is then inactive, as
// after any failed first fetch, and not fetched again.
func TestRemoteBlobForbiddenAtDial(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	bs := newBlobServer(t)
	bs.serve("/x", "foo/bar", []byte("blob contents"))
	u := fmt.Sprintf("http://localhost:%d/x", bs.Listener.Addr().(*net.TCPAddr).Port)
	b, err := s.RemoteBlob(ctx, u, nil)
	if !errors.Is(err, atlite.ErrForbiddenAddress) || !errors.Is(err, atlite.ErrBlobFetch) {
		t.Fatalf("RemoteBlob(%s) = %v, want ErrForbiddenAddress and ErrBlobFetch", u, err)
	}
	if b == nil || b.CID.Defined() || b.Status != atlite.RemoteBlobInactive || b.LastFetched.IsZero() {
		t.Errorf("RemoteBlob(%s) = %+v, want an inactive blob without CID", u, b)
	}
	if _, err := s.RemoteBlob(ctx, u, nil); !errors.Is(err, atlite.ErrBlobInactive) {
		t.Errorf("RemoteBlob(%s) again = %v, want ErrBlobInactive", u, err)
	}
	if n := bs.count("/x"); n != 0 {
		t.Errorf("%d requests reached the server, want 0", n)
	}
}

// TestRemoteBlobForbiddenRedirect: a redirect to a refused address fails
// with ErrForbiddenAddress. The client allows the first server only, as if
// it were public.
func TestRemoteBlobForbiddenRedirect(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	inner := newBlobServer(t)
	inner.serve("/secret", "foo/bar", []byte("blob contents"))
	front := newBlobServer(t)
	u := front.handle("/blob", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inner.URL+"/secret", http.StatusFound)
	})
	frontAddr := netip.MustParseAddrPort(front.Listener.Addr().String())
	client := safehttp.NewClient(&safehttp.Options{Allow: func(a netip.AddrPort) bool { return a == frontAddr }})
	b, err := s.RemoteBlob(ctx, u, &atlite.RemoteBlobOptions{Client: client})
	if !errors.Is(err, atlite.ErrForbiddenAddress) || !errors.Is(err, atlite.ErrBlobFetch) {
		t.Fatalf("RemoteBlob(%s) = %v, want ErrForbiddenAddress and ErrBlobFetch", u, err)
	}
	if b == nil || b.CID.Defined() || b.Status != atlite.RemoteBlobInactive {
		t.Errorf("RemoteBlob(%s) = %+v, want an inactive blob without CID", u, b)
	}
	if f, i := front.count("/blob"), inner.count("/secret"); f != 1 || i != 0 {
		t.Errorf("front got %d requests, inner %d; want 1 and 0", f, i)
	}
}
