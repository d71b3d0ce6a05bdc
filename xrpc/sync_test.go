package xrpc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/car"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/testutil"
	"github.com/atlite-dev/atlite/mst"
	"github.com/atlite-dev/atlite/syntax"
)

// syncEnv is a server over a file store holding alice (active, three
// commits and a blob) and inactive repos.
type syncEnv struct {
	st     *atlite.Store
	path   string
	srv    *Server
	hs     *httptest.Server
	alice  syntax.DID
	r1, r3 *atlite.CommitResult // the first and last of alice's commits
	blob   *atlite.Blob
	blobB  []byte
}

const syncPostNSID = "app.bsky.feed.post"

func syncDID(t testing.TB, s string) syntax.DID {
	t.Helper()
	d, err := syntax.ParseDID(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func syncPost(t testing.TB, action commit.Action, rkey, text string, extra map[string]any) commit.Write {
	t.Helper()
	rec := map[string]any{"$type": syncPostNSID, "text": text, "createdAt": "2026-11-22T00:00:00Z"}
	for k, v := range extra {
		rec[k] = v
	}
	w, err := commit.NewWrite(action, syncPostNSID, rkey, rec)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func newSyncEnv(t *testing.T, fo FirehoseOptions) *syncEnv {
	t.Helper()
	ctx := context.Background()
	st, path := testutil.MustOpenFileStore(t, nil)
	e := &syncEnv{st: st, path: path, alice: syncDID(t, "did:web:alice.example")}
	if _, err := st.CreateRepo(ctx, e.alice, &atlite.CreateRepoOptions{Handle: "alice.example", SigningKey: testutil.TestKey(t)}); err != nil {
		t.Fatal(err)
	}
	var err error
	e.r1, err = st.Commit(ctx, e.alice, []commit.Write{
		syncPost(t, commit.Create, "a1", "one", nil),
		syncPost(t, commit.Create, "a2", "two", nil),
		syncPost(t, commit.Create, "a3", "three", nil),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Commit(ctx, e.alice, []commit.Write{syncPost(t, commit.Update, "a2", "two again", nil)}, nil); err != nil {
		t.Fatal(err)
	}
	e.blobB = []byte("0123456789abcdefghij")
	if e.blob, err = st.UploadBlob(ctx, e.alice, bytes.NewReader(e.blobB), "image/png", nil); err != nil {
		t.Fatal(err)
	}
	ref := map[string]any{"$type": "blob", "ref": e.blob.CID, "mimeType": "image/png", "size": int64(len(e.blobB))}
	if e.r3, err = st.Commit(ctx, e.alice, []commit.Write{syncPost(t, commit.Create, "a4", "pic", map[string]any{"image": ref})}, nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		did string
		set func(context.Context, syntax.DID) error
	}{
		{"did:web:bob.example", st.Deactivate},
		{"did:web:carol.example", st.Takedown},
		{"did:web:dave.example", st.Tombstone},
	} {
		d := syncDID(t, r.did)
		if _, err := st.CreateRepo(ctx, d, nil); err != nil {
			t.Fatal(err)
		}
		if err := r.set(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	e.srv, err = New(st, &Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Firehose: fo})
	if err != nil {
		t.Fatal(err)
	}
	e.hs = httptest.NewServer(e.srv)
	t.Cleanup(func() {
		e.srv.Close()
		e.hs.Close()
	})
	return e
}

// get fetches an XRPC query with the given parameters.
func (e *syncEnv) get(t *testing.T, nsid string, params url.Values, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", e.hs.URL+"/xrpc/"+nsid+"?"+params.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func (e *syncEnv) repo(t *testing.T, d syntax.DID) *atlite.Repo {
	t.Helper()
	r, err := e.st.LoadRepo(context.Background(), d.AtIdentifier())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func syncReadCAR(t *testing.T, b []byte) ([]cid.Cid, []car.Block) {
	t.Helper()
	roots, blocks, err := car.ReadAll(bytes.NewReader(b), nil)
	if err != nil {
		t.Fatalf("car.ReadAll: %v", err)
	}
	return roots, blocks
}

// syncWantError checks an XRPC error answer.
func syncWantError(t *testing.T, resp *http.Response, body []byte, status int, name string) {
	t.Helper()
	var xe struct{ Error, Message string }
	if err := json.Unmarshal(body, &xe); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if resp.StatusCode != status || xe.Error != name {
		t.Errorf("answer %d %s (%s), want %d %s", resp.StatusCode, xe.Error, xe.Message, status, name)
	}
}

func syncQuery(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// TestSyncErrors checks the errors every repo method shares.
func TestSyncErrors(t *testing.T) {
	e := newSyncEnv(t, FirehoseOptions{})
	methods := []struct {
		nsid  string
		extra []string
	}{
		{"com.atproto.sync.getRepo", nil},
		{"com.atproto.sync.getCheckout", nil},
		{"com.atproto.sync.getRecord", []string{"collection", syncPostNSID, "rkey", "a1"}},
		{"com.atproto.sync.getBlocks", []string{"cids", e.r1.CID.String()}},
		{"com.atproto.sync.getLatestCommit", nil},
		{"com.atproto.sync.getHead", nil},
		{"com.atproto.sync.listBlobs", nil},
		{"com.atproto.sync.getBlob", []string{"cid", e.blob.CID.String()}},
	}
	for _, m := range methods {
		unknown := "RepoNotFound"
		if m.nsid == "com.atproto.sync.getHead" {
			unknown = "HeadNotFound"
		}
		for _, tt := range []struct {
			did, name string
		}{
			{"did:web:nobody.example", unknown},
			{"did:web:bob.example", "RepoDeactivated"},
			{"did:web:carol.example", "RepoTakendown"},
			{"did:web:dave.example", unknown}, // tombstoned: gone
			{"nope", "InvalidRequest"},
			{"", "InvalidRequest"},
		} {
			t.Run(m.nsid+"/"+tt.name+"/"+tt.did, func(t *testing.T) {
				p := syncQuery(m.extra...)
				if tt.did != "" {
					p.Set("did", tt.did)
				}
				resp, b := e.get(t, m.nsid, p)
				syncWantError(t, resp, b, 400, tt.name)
			})
		}
	}
	resp, b := e.get(t, "com.atproto.sync.getRepoStatus", syncQuery("did", "did:web:nobody.example"))
	syncWantError(t, resp, b, 400, "RepoNotFound")
}

func TestSyncGetRepo(t *testing.T) {
	e := newSyncEnv(t, FirehoseOptions{})
	ctx := context.Background()
	alice := e.repo(t, e.alice)
	var full, since bytes.Buffer
	stFull, err := e.st.ExportCAR(ctx, e.alice, &full, nil)
	if err != nil {
		t.Fatal(err)
	}
	stSince, err := e.st.ExportCAR(ctx, e.alice, &since, &atlite.ExportOptions{Since: e.r1.Rev})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, nsid string
		params     url.Values
		want       []byte
		blocks     int
	}{
		{"full", "com.atproto.sync.getRepo", syncQuery("did", e.alice.String()), full.Bytes(), stFull.Blocks},
		{"checkout", "com.atproto.sync.getCheckout", syncQuery("did", e.alice.String()), full.Bytes(), stFull.Blocks},
		{"since", "com.atproto.sync.getRepo", syncQuery("did", e.alice.String(), "since", e.r1.Rev.String()), since.Bytes(), stSince.Blocks},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := e.get(t, tt.nsid, tt.params)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != CARContentType {
				t.Fatalf("answer %d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
			if !bytes.Equal(b, tt.want) {
				t.Errorf("CAR differs from ExportCAR: %d bytes, want %d", len(b), len(tt.want))
			}
			roots, blocks := syncReadCAR(t, b)
			if len(roots) != 1 || roots[0] != alice.Head || len(blocks) != tt.blocks || blocks[0].CID != alice.Head {
				t.Errorf("roots %v, %d blocks (first %v), want [%v], %d blocks", roots, len(blocks), blocks[0].CID, alice.Head, tt.blocks)
			}
		})
	}
	// Four records, the commit and (a small tree) one MST node; since r1:
	// the updated and new records, the new root node and the commit.
	if stFull.Blocks != 6 || stSince.Blocks != 4 {
		t.Errorf("export blocks full %d since %d, want 6 and 4", stFull.Blocks, stSince.Blocks)
	}
	resp, b := e.get(t, "com.atproto.sync.getRepo", syncQuery("did", e.alice.String(), "since", "2222222222222"))
	syncWantError(t, resp, b, 400, "InvalidRequest")
	resp, b = e.get(t, "com.atproto.sync.getRepo", syncQuery("did", e.alice.String(), "since", "not-a-tid"))
	syncWantError(t, resp, b, 400, "InvalidRequest")
}

func TestSyncGetRecord(t *testing.T) {
	e := newSyncEnv(t, FirehoseOptions{})
	ctx := context.Background()
	alice := e.repo(t, e.alice)
	rec, err := e.st.GetRecord(ctx, e.alice, syncPostNSID, "a1")
	if err != nil {
		t.Fatal(err)
	}
	resp, b := e.get(t, "com.atproto.sync.getRecord", syncQuery("did", e.alice.String(), "collection", syncPostNSID, "rkey", "a1"))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != CARContentType {
		t.Fatalf("answer %d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	roots, blocks := syncReadCAR(t, b)
	// The commit, the one MST node, the record.
	if len(roots) != 1 || roots[0] != alice.Head || len(blocks) != 3 || blocks[0].CID != alice.Head || blocks[2].CID != rec.CID {
		t.Fatalf("roots %v, blocks %v; want [%v], [%v, node, %v]", roots, blockCIDs(blocks), alice.Head, alice.Head, rec.CID)
	}
	// The proof verifies: signed commit, and the tree holds the record.
	mem := mst.NewMemBlocks(nil)
	for _, bl := range blocks {
		mem.Put(bl.CID, bl.Data)
	}
	cmt, err := commit.Decode(blocks[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmt.Verify(alice.SigningKey); err != nil {
		t.Errorf("commit signature: %v", err)
	}
	if got, err := mst.Load(mem, cmt.Data).Get(ctx, syncPostNSID+"/a1"); err != nil || got != rec.CID {
		t.Errorf("proof Get = %v, %v; want %v", got, err, rec.CID)
	}
	resp, b = e.get(t, "com.atproto.sync.getRecord", syncQuery("did", e.alice.String(), "collection", syncPostNSID, "rkey", "zzz"))
	syncWantError(t, resp, b, 400, "RecordNotFound")
	resp, b = e.get(t, "com.atproto.sync.getRecord", syncQuery("did", e.alice.String(), "collection", "not an nsid", "rkey", "a1"))
	syncWantError(t, resp, b, 400, "InvalidRequest")
	resp, b = e.get(t, "com.atproto.sync.getRecord", syncQuery("did", e.alice.String(), "collection", syncPostNSID))
	syncWantError(t, resp, b, 400, "InvalidRequest")
}

func blockCIDs(blocks []car.Block) []cid.Cid {
	out := make([]cid.Cid, len(blocks))
	for i, b := range blocks {
		out[i] = b.CID
	}
	return out
}

func TestSyncGetBlocks(t *testing.T) {
	e := newSyncEnv(t, FirehoseOptions{})
	ctx := context.Background()
	alice := e.repo(t, e.alice)
	rec, err := e.st.GetRecord(ctx, e.alice, syncPostNSID, "a3")
	if err != nil {
		t.Fatal(err)
	}
	want := []cid.Cid{rec.CID, e.r1.CID, alice.Data}
	p := syncQuery("did", e.alice.String())
	for _, c := range want {
		p.Add("cids", c.String())
	}
	resp, b := e.get(t, "com.atproto.sync.getBlocks", p)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != CARContentType {
		t.Fatalf("answer %d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	roots, blocks := syncReadCAR(t, b)
	if len(roots) != 1 || roots[0] != alice.Head || fmt.Sprint(blockCIDs(blocks)) != fmt.Sprint(want) {
		t.Errorf("roots %v blocks %v, want [%v] %v", roots, blockCIDs(blocks), alice.Head, want)
	}
	for _, bl := range blocks {
		stored, err := e.st.GetBlock(ctx, bl.CID)
		if err != nil || !bytes.Equal(stored, bl.Data) {
			t.Errorf("block %v differs from the stored one (%v)", bl.CID, err)
		}
	}
	missing := e.blob.CID // a blob is not a block
	p.Add("cids", missing.String())
	resp, b = e.get(t, "com.atproto.sync.getBlocks", p)
	syncWantError(t, resp, b, 400, "BlockNotFound")
	if !strings.Contains(string(b), missing.String()) {
		t.Errorf("BlockNotFound does not name %v: %s", missing, b)
	}
	// Another repo's block, stored in the same file, is not alice's.
	erin := syncDID(t, "did:web:frank.example")
	if _, err := e.st.CreateRepo(ctx, erin, &atlite.CreateRepoOptions{SigningKey: testutil.TestKey(t)}); err != nil {
		t.Fatal(err)
	}
	er, err := e.st.Commit(ctx, erin, []commit.Write{syncPost(t, commit.Create, "b1", "erin's", nil)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	erinRec := er.Ops[0].CID
	resp, b = e.get(t, "com.atproto.sync.getBlocks", syncQuery("did", e.alice.String(), "cids", erinRec.String()))
	syncWantError(t, resp, b, 400, "BlockNotFound")
	if !strings.Contains(string(b), erinRec.String()) {
		t.Errorf("BlockNotFound does not name %v: %s", erinRec, b)
	}
	resp, b = e.get(t, "com.atproto.sync.getBlocks", syncQuery("did", erin.String(), "cids", erinRec.String()))
	if resp.StatusCode != 200 {
		t.Errorf("erin's own block: %d %s", resp.StatusCode, b)
	}
	resp, b = e.get(t, "com.atproto.sync.getBlocks", syncQuery("did", e.alice.String()))
	syncWantError(t, resp, b, 400, "InvalidRequest")
	resp, b = e.get(t, "com.atproto.sync.getBlocks", syncQuery("did", e.alice.String(), "cids", "bafynope"))
	syncWantError(t, resp, b, 400, "InvalidRequest")
}

func TestSyncJSONMethods(t *testing.T) {
	e := newSyncEnv(t, FirehoseOptions{})
	alice := e.repo(t, e.alice)
	bob, carol, dave := e.repo(t, syncDID(t, "did:web:bob.example")), e.repo(t, syncDID(t, "did:web:carol.example")), e.repo(t, syncDID(t, "did:web:dave.example"))
	entry := func(r *atlite.Repo, active bool, status string) string {
		s := fmt.Sprintf(`{"did":%q,"head":%q,"rev":%q,"active":%v`, r.DID, r.Head, r.Rev, active)
		if status != "" {
			s += fmt.Sprintf(`,"status":%q`, status)
		}
		return s + "}"
	}
	ea, eb, ec, ed := entry(alice, true, ""), entry(bob, false, "deactivated"), entry(carol, false, "takendown"), entry(dave, false, "deleted")
	tests := []struct {
		name, nsid string
		params     url.Values
		want       string
	}{
		{"getLatestCommit", "com.atproto.sync.getLatestCommit", syncQuery("did", e.alice.String()),
			fmt.Sprintf(`{"cid":%q,"rev":%q}`, alice.Head, alice.Rev)},
		{"getHead", "com.atproto.sync.getHead", syncQuery("did", e.alice.String()), fmt.Sprintf(`{"root":%q}`, alice.Head)},
		{"getRepoStatus active", "com.atproto.sync.getRepoStatus", syncQuery("did", e.alice.String()),
			fmt.Sprintf(`{"active":true,"did":%q,"rev":%q}`, e.alice, alice.Rev)},
		{"getRepoStatus deactivated", "com.atproto.sync.getRepoStatus", syncQuery("did", "did:web:bob.example"),
			`{"active":false,"did":"did:web:bob.example","status":"deactivated"}`},
		{"getRepoStatus takendown", "com.atproto.sync.getRepoStatus", syncQuery("did", "did:web:carol.example"),
			`{"active":false,"did":"did:web:carol.example","status":"takendown"}`},
		{"getRepoStatus tombstoned", "com.atproto.sync.getRepoStatus", syncQuery("did", "did:web:dave.example"),
			`{"active":false,"did":"did:web:dave.example","status":"deleted"}`},
		// DID order: alice, bob, carol, dave.
		{"listRepos", "com.atproto.sync.listRepos", nil, `{"repos":[` + ea + "," + eb + "," + ec + "," + ed + `]}`},
		{"listRepos limit", "com.atproto.sync.listRepos", syncQuery("limit", "2"), `{"cursor":"did:web:bob.example","repos":[` + ea + "," + eb + `]}`},
		{"listRepos cursor", "com.atproto.sync.listRepos", syncQuery("limit", "2", "cursor", "did:web:bob.example"), `{"repos":[` + ec + "," + ed + `]}`},
		{"listRepos end", "com.atproto.sync.listRepos", syncQuery("cursor", "did:web:dave.example"), `{"repos":[]}`},
		{"listBlobs", "com.atproto.sync.listBlobs", syncQuery("did", e.alice.String()), fmt.Sprintf(`{"cids":[%q]}`, e.blob.CID)},
		{"listBlobs since before", "com.atproto.sync.listBlobs", syncQuery("did", e.alice.String(), "since", e.r1.Rev.String()), fmt.Sprintf(`{"cids":[%q]}`, e.blob.CID)},
		{"listBlobs since after", "com.atproto.sync.listBlobs", syncQuery("did", e.alice.String(), "since", e.r3.Rev.String()), `{"cids":[]}`},
		{"listBlobs cursor", "com.atproto.sync.listBlobs", syncQuery("did", e.alice.String(), "cursor", e.blob.CID.String()), `{"cids":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := e.get(t, tt.nsid, tt.params)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
				t.Fatalf("answer %d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
			if got := strings.TrimSpace(string(b)); got != tt.want {
				t.Errorf("answer\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
	for _, p := range []url.Values{syncQuery("limit", "0"), syncQuery("limit", "1001"), syncQuery("limit", "x")} {
		resp, b := e.get(t, "com.atproto.sync.listRepos", p)
		syncWantError(t, resp, b, 400, "InvalidRequest")
		p.Set("did", e.alice.String())
		resp, b = e.get(t, "com.atproto.sync.listBlobs", p)
		syncWantError(t, resp, b, 400, "InvalidRequest")
	}
	resp, b := e.get(t, "com.atproto.sync.listBlobs", syncQuery("did", e.alice.String(), "cursor", "nope"))
	syncWantError(t, resp, b, 400, "InvalidRequest")
}

func TestSyncGetBlob(t *testing.T) {
	e := newSyncEnv(t, FirehoseOptions{})
	p := syncQuery("did", e.alice.String(), "cid", e.blob.CID.String())
	check := func(t *testing.T, resp *http.Response) {
		t.Helper()
		for k, want := range map[string]string{
			"Content-Type":            "image/png",
			"Cache-Control":           BlobCacheControl,
			"Content-Security-Policy": "default-src 'none'; sandbox",
			"X-Content-Type-Options":  "nosniff",
			"Accept-Ranges":           "bytes",
			"ETag":                    `"` + e.blob.CID.String() + `"`,
		} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
	}
	resp, b := e.get(t, "com.atproto.sync.getBlob", p)
	if resp.StatusCode != 200 || !bytes.Equal(b, e.blobB) || resp.Header.Get("Content-Length") != "20" {
		t.Errorf("getBlob = %d %q (length %s), want 200 %q", resp.StatusCode, b, resp.Header.Get("Content-Length"), e.blobB)
	}
	check(t, resp)
	resp, b = e.get(t, "com.atproto.sync.getBlob", p, "Range", "bytes=3-7")
	if resp.StatusCode != 206 || string(b) != "34567" || resp.Header.Get("Content-Range") != "bytes 3-7/20" {
		t.Errorf("range = %d %q %q, want 206 \"34567\" \"bytes 3-7/20\"", resp.StatusCode, b, resp.Header.Get("Content-Range"))
	}
	check(t, resp)
	resp, b = e.get(t, "com.atproto.sync.getBlob", p, "Range", "bytes=15-")
	if resp.StatusCode != 206 || string(b) != "fghij" {
		t.Errorf("open range = %d %q, want 206 \"fghij\"", resp.StatusCode, b)
	}
	resp, _ = e.get(t, "com.atproto.sync.getBlob", p, "If-None-Match", `"`+e.blob.CID.String()+`"`)
	if resp.StatusCode != 304 {
		t.Errorf("If-None-Match = %d, want 304", resp.StatusCode)
	}
	resp, b = e.get(t, "com.atproto.sync.getBlob", syncQuery("did", e.alice.String(), "cid", e.r1.CID.String()))
	syncWantError(t, resp, b, 400, "BlobNotFound")
	resp, b = e.get(t, "com.atproto.sync.getBlob", syncQuery("did", e.alice.String()))
	syncWantError(t, resp, b, 400, "InvalidRequest")
	// Another repo of the file does not serve alice's blob.
	bob := syncDID(t, "did:web:erin.example")
	if _, err := e.st.CreateRepo(context.Background(), bob, nil); err != nil {
		t.Fatal(err)
	}
	resp, b = e.get(t, "com.atproto.sync.getBlob", syncQuery("did", bob.String(), "cid", e.blob.CID.String()))
	syncWantError(t, resp, b, 400, "BlobNotFound")
}
