package atlite_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/car"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/internal/testutil"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

// seedRepo creates a repo with n records over three collections, written
// in commits of up to 50 writes.
func seedRepo(t testing.TB, s *atlite.Store, d string, n int) syntax.DID {
	t.Helper()
	did := newRepo(t, s, d)
	colls := []string{"app.bsky.feed.post", "app.bsky.feed.like", "app.bsky.graph.follow"}
	var batch []commit.Write
	for i := 0; i < n; i++ {
		batch = append(batch, mustWrite(t, commit.Create, colls[i%3], fmt.Sprintf("3k%011d", i), map[string]any{"i": int64(i), "text": "hello"}))
		if len(batch) == 50 || i == n-1 {
			if _, err := s.Commit(ctx, did, batch, nil); err != nil {
				t.Fatal(err)
			}
			batch = nil
		}
	}
	return did
}

func exportCAR(t testing.TB, s *atlite.Store, did syntax.DID, opts *atlite.ExportOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	st, err := s.ExportCAR(ctx, did, &buf, opts)
	if err != nil {
		t.Fatalf("ExportCAR = %v", err)
	}
	if st.Bytes != int64(buf.Len()) {
		t.Errorf("ExportStats.Bytes = %d, wrote %d", st.Bytes, buf.Len())
	}
	return buf.Bytes()
}

func TestExportImportRoundTrip(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	did := seedRepo(t, s, "did:web:user.com", 300)
	repo, _ := s.LoadRepo(ctx, did.AtIdentifier())
	b := exportCAR(t, s, did, nil)

	// The CAR starts with the head commit and holds the commit, every node and
	// every record once.
	roots, blocks, err := car.ReadAll(bytes.NewReader(b), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != 1 || roots[0] != repo.Head || blocks[0].CID != repo.Head {
		t.Errorf("roots %v, first block %s; want the head %s", roots, blocks[0].CID, repo.Head)
	}
	vr, err := atlite.VerifyCAR(ctx, bytes.NewReader(b), repo.SigningKey)
	if err != nil {
		t.Fatalf("VerifyCAR = %v", err)
	}
	if vr.Records != 300 || vr.Blocks != len(blocks) || vr.DID != did || vr.Rev != repo.Rev {
		t.Errorf("VerifyCAR = %+v; want 300 records, %d blocks", vr, len(blocks))
	}
	// Export is deterministic.
	if again := exportCAR(t, s, did, nil); !bytes.Equal(again, b) {
		t.Error("two exports of the same head differ")
	}

	// Import into another store: same head, same records, one #sync event.
	s2 := testutil.MustOpenStore(t, nil)
	res, err := s2.ImportCAR(ctx, bytes.NewReader(b), &atlite.ImportOptions{VerifyKey: repo.SigningKey})
	if err != nil {
		t.Fatalf("ImportCAR = %v", err)
	}
	if res.Records != 300 || res.Repo.Head != repo.Head || res.Seq != 1 {
		t.Errorf("ImportCAR = %+v", res)
	}
	evs, _ := s2.Events(ctx, &atlite.EventsOptions{})
	if len(evs) != 1 || evs[0].Kind != atlite.KindSync || evs[0].Commit != repo.Head || evs[0].Rev != repo.Rev {
		t.Errorf("events after import = %+v", evs)
	}
	r1, _, _ := s.ListRecords(ctx, did, "app.bsky.feed.like", &atlite.ListRecordsOptions{Limit: 1000})
	r2, _, _ := s2.ListRecords(ctx, did, "app.bsky.feed.like", &atlite.ListRecordsOptions{Limit: 1000})
	if len(r1) != 100 || len(r2) != 100 || r1[99].CID != r2[99].CID {
		t.Errorf("records after import: %d vs %d", len(r1), len(r2))
	}
	if b2 := exportCAR(t, s2, did, nil); !bytes.Equal(b2, b) {
		t.Error("export of the imported repo differs from the original CAR")
	}
	if err := s2.Check(ctx); err != nil {
		t.Error(err)
	}
}

func TestExportSince(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	did := seedRepo(t, s, "did:web:user.com", 200)
	mid, _ := s.LoadRepo(ctx, did.AtIdentifier())
	res, err := s.Commit(ctx, did, []commit.Write{
		mustWrite(t, commit.Create, "app.bsky.feed.post", "zzz", map[string]any{"new": true}),
		mustWrite(t, commit.Update, "app.bsky.feed.post", "3k00000000000", map[string]any{"changed": true}),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := exportCAR(t, s, did, &atlite.ExportOptions{Since: mid.Rev})
	_, blocks, err := car.ReadAll(bytes.NewReader(b), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, bl := range blocks {
		got[bl.CID.String()] = true
	}
	// Exactly the blocks the commit created.
	if len(blocks) != len(res.Blocks) {
		t.Errorf("since export has %d blocks, the commit created %d", len(blocks), len(res.Blocks))
	}
	for _, bl := range res.Blocks {
		if !got[bl.CID.String()] {
			t.Errorf("since export lacks %s", bl.CID)
		}
	}
	if _, err := s.ExportCAR(ctx, did, &bytes.Buffer{}, &atlite.ExportOptions{Since: "2222222222222"}); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("ExportCAR(unknown since) = %v, want ErrNotFound", err)
	}
}

func TestImportRejects(t *testing.T) {
	src := testutil.MustOpenStore(t, nil)
	did := seedRepo(t, src, "did:web:user.com", 100)
	repo, _ := src.LoadRepo(ctx, did.AtIdentifier())
	good := exportCAR(t, src, did, nil)
	_, blocks, _ := car.ReadAll(bytes.NewReader(good), nil)

	rewrite := func(roots []int, drop int) []byte {
		var buf bytes.Buffer
		w, err := car.NewWriter(&buf, []cid.Cid{blocks[roots[0]].CID})
		if err != nil {
			t.Fatal(err)
		}
		for i, bl := range blocks {
			if i != drop {
				w.WriteBlock(bl.CID, bl.Data)
			}
		}
		w.Flush()
		return buf.Bytes()
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)-3] ^= 0xff
	other, _ := keys.K256FromSeed(4597489735324)
	tests := []struct {
		name string
		car  []byte
		key  keys.PublicKey
		want error
	}{
		{"empty", nil, nil, atlite.ErrInvalidCAR},
		{"truncated", good[:len(good)/2], nil, atlite.ErrInvalidCAR},
		{"corrupt block", flipped, nil, atlite.ErrInvalidCAR},
		{"root is not a commit", rewrite([]int{1}, -1), nil, atlite.ErrInvalidCAR},
		{"missing node", rewrite([]int{0}, 1), nil, atlite.ErrInvalidCAR},
		{"missing record", rewrite([]int{0}, 2), nil, atlite.ErrInvalidCAR},
		{"wrong signature", good, other.PublicKey(), atlite.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testutil.MustOpenStore(t, nil)
			_, err := s.ImportCAR(ctx, bytes.NewReader(tt.car), &atlite.ImportOptions{VerifyKey: tt.key})
			if !errors.Is(err, tt.want) {
				t.Fatalf("ImportCAR = %v, want %v", err, tt.want)
			}
			if repos, _, _ := s.ListRepos(ctx, nil); len(repos) != 0 {
				t.Errorf("failed import left %d repos", len(repos))
			}
			if seq, _ := s.LastSeq(ctx, atlite.SubscribeReposNSID); seq != 0 {
				t.Errorf("failed import consumed seq %d", seq)
			}
			if _, err := s.GetBlock(ctx, repo.Head); !errors.Is(err, atlite.ErrNotFound) {
				t.Errorf("failed import left blocks: %v", err)
			}
		})
	}
	// Re-importing over the existing repo checks against its stored key;
	// the CAR's commit is the head already, so nothing is written.
	seq, _ := src.LastSeq(ctx, atlite.SubscribeReposNSID)
	res, err := src.ImportCAR(ctx, bytes.NewReader(good), nil)
	if err != nil || !res.NoOp || !res.SignatureChecked || res.Seq != 0 || res.Records != 100 {
		t.Errorf("re-import own CAR = %+v, %v; want a checked no-op with 100 records", res, err)
	}
	if after, _ := src.LastSeq(ctx, atlite.SubscribeReposNSID); after != seq {
		t.Errorf("no-op re-import moved the last seq from %d to %d", seq, after)
	}
}

func TestImportArrobaRepo(t *testing.T) {
	b, err := os.ReadFile("testdata/arroba/snarfed2.car")
	if err != nil {
		t.Fatal(err)
	}
	s := testutil.MustOpenStore(t, nil)
	res, err := s.ImportCAR(ctx, bytes.NewReader(b), nil)
	if err != nil {
		t.Fatalf("ImportCAR(snarfed2.car) = %v", err)
	}
	if res.Repo.DID != "did:plc:5zspv27pk4iqtrl2ql2nykjh" || res.Repo.Rev != "3lh6cdwqxx42x" || res.Records != 5 || res.Blocks != 8 {
		t.Errorf("ImportCAR(snarfed2.car) = %s rev %s, %d records, %d blocks; want did:plc:5zspv27pk4iqtrl2ql2nykjh rev 3lh6cdwqxx42x, 5 records, 8 blocks",
			res.Repo.DID, res.Repo.Rev, res.Records, res.Blocks)
	}
	// Every record matches snarfed2.json (DAG-JSON links {"/": cid}).
	jb, err := os.ReadFile("testdata/arroba/snarfed2.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]map[string]any
	if err := json.Unmarshal([]byte(strings.ReplaceAll(string(jb), `"/":`, `"$link":`)), &want); err != nil {
		t.Fatal(err)
	}
	n := 0
	for coll, recs := range want {
		for rkey, rec := range recs {
			n++
			rj, _ := json.Marshal(rec)
			v, err := datamodel.FromJSON(rj)
			if err != nil {
				t.Fatalf("%s/%s: %v", coll, rkey, err)
			}
			got, err := s.GetRecord(ctx, res.Repo.DID, syntax.NSID(coll), syntax.RecordKey(rkey))
			if err != nil {
				t.Errorf("GetRecord(%s/%s) = %v", coll, rkey, err)
				continue
			}
			if c := cborCID(t, v); got.CID != c {
				t.Errorf("record %s/%s has CID %s, snarfed2.json gives %s", coll, rkey, got.CID, c)
			}
		}
	}
	if n != 5 {
		t.Errorf("snarfed2.json has %d records, want 5", n)
	}
	// Export gives back the same blocks.
	out := exportCAR(t, s, res.Repo.DID, nil)
	_, inBlocks, _ := car.ReadAll(bytes.NewReader(b), nil)
	_, outBlocks, _ := car.ReadAll(bytes.NewReader(out), nil)
	if len(inBlocks) != len(outBlocks) {
		t.Errorf("export has %d blocks, the original CAR %d", len(outBlocks), len(inBlocks))
	}
}

func TestWriteEventCAR(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	did := seedRepo(t, s, "did:web:user.com", 100)
	res, err := s.Commit(ctx, did, []commit.Write{mustWrite(t, commit.Delete, "app.bsky.feed.post", "3k00000000003", nil)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	evs, _ := s.Events(ctx, &atlite.EventsOptions{After: res.Seq - 1})
	var buf bytes.Buffer
	if err := s.WriteEventCAR(ctx, evs[0], &buf); err != nil {
		t.Fatal(err)
	}
	roots, blocks, err := car.ReadAll(&buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != 1 || roots[0] != res.CID || len(blocks) != len(evs[0].Blocks) {
		t.Errorf("event CAR: roots %v, %d blocks; want [%s], %d", roots, len(blocks), res.CID, len(evs[0].Blocks))
	}
	first, _ := s.Events(ctx, &atlite.EventsOptions{Limit: 1})
	if err := s.WriteEventCAR(ctx, first[0], &buf); err == nil {
		t.Error("WriteEventCAR(#identity) = nil, want an error")
	}
}

// TestImportNonCanonicalMST builds a signed commit over an MST node that
// holds keys of two different layers in one node: every hash is right, but
// the tree is not the canonical MST of its keys, so import refuses it.
func TestImportNonCanonicalMST(t *testing.T) {
	rec := []byte("\xa1cfoocbar")
	rc := datamodel.CBORCID(rec)
	// com.example.record/3jqfcqzm3fo2j is on layer 0, .../3jqfcqzm3fs2j on layer 1.
	node := map[string]any{"l": nil, "e": []any{
		map[string]any{"p": int64(0), "k": []byte("com.example.record/3jqfcqzm3fo2j"), "v": rc, "t": nil},
		map[string]any{"p": int64(29), "k": []byte("s2j"), "v": rc, "t": nil},
	}}
	nb, err := datamodel.Marshal(node)
	if err != nil {
		t.Fatal(err)
	}
	nc := datamodel.CBORCID(nb)
	key := testutil.TestKey(t)
	cmt := &commit.Commit{DID: "did:web:user.com", Data: nc, Rev: "3jzfcijpj2z2a"}
	if err := cmt.Sign(key); err != nil {
		t.Fatal(err)
	}
	cb, cc, _ := cmt.EncodeCID()
	var buf bytes.Buffer
	w, _ := car.NewWriter(&buf, []cid.Cid{cc})
	w.WriteBlock(cc, cb)
	w.WriteBlock(nc, nb)
	w.WriteBlock(rc, rec)
	w.Flush()

	s := testutil.MustOpenStore(t, nil)
	if _, err := s.ImportCAR(ctx, bytes.NewReader(buf.Bytes()), &atlite.ImportOptions{VerifyKey: key.PublicKey()}); !errors.Is(err, atlite.ErrInvalidCAR) {
		t.Errorf("ImportCAR(non-canonical MST) = %v, want ErrInvalidCAR", err)
	}
	if repos, _, _ := s.ListRepos(ctx, nil); len(repos) != 0 {
		t.Errorf("failed import left %d repos", len(repos))
	}
}

// TestImportAndDeleteKeepBlobRefs checks blob references across an export
// and import, and that deleting a repo lets its blobs be collected.
func TestImportAndDeleteKeepBlobRefs(t *testing.T) {
	src := testutil.MustOpenStore(t, nil)
	did := newRepo(t, src, "did:web:user.com")
	png, err := os.ReadFile("testdata/arroba/keyboard.png")
	if err != nil {
		t.Fatal(err)
	}
	blob, err := src.UploadBlob(ctx, did, bytes.NewReader(png), "image/png", nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := map[string]any{"$type": "app.bsky.feed.post", "text": "look", "embed": map[string]any{
		"$type": "app.bsky.embed.images", "images": []any{map[string]any{"alt": "", "image": map[string]any{
			"$type": "blob", "ref": blob.CID, "mimeType": "image/png", "size": int64(len(png))}}}}}
	if _, err := src.Commit(ctx, did, []commit.Write{mustWrite(t, commit.Create, "app.bsky.feed.post", "p1", rec)}, nil); err != nil {
		t.Fatal(err)
	}
	list := func(s *atlite.Store) []cid.Cid {
		t.Helper()
		cids, _, err := s.ListBlobs(ctx, did, nil)
		if err != nil {
			t.Fatal(err)
		}
		return cids
	}
	if got := list(src); len(got) != 1 || got[0] != blob.CID {
		t.Fatalf("ListBlobs(src) = %v, want [%s]", got, blob.CID)
	}

	dst := testutil.MustOpenStore(t, nil)
	if _, err := dst.ImportCAR(ctx, bytes.NewReader(exportCAR(t, src, did, nil)), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.UploadBlob(ctx, did, bytes.NewReader(png), "image/png", nil); err != nil {
		t.Fatal(err)
	}
	if got := list(dst); len(got) != 1 || got[0] != blob.CID {
		t.Errorf("ListBlobs after import = %v, want [%s]", got, blob.CID)
	}

	// Cited blobs survive GC; after DeleteRepo they go.
	if n, err := src.GCBlobs(ctx, -1); err != nil || n != 0 {
		t.Errorf("GCBlobs with the blob cited = %d, %v; want 0", n, err)
	}
	if err := src.DeleteRepo(ctx, did); err != nil {
		t.Fatal(err)
	}
	if n, err := src.GCBlobs(ctx, -1); err != nil || n != 1 {
		t.Errorf("GCBlobs after DeleteRepo = %d, %v; want 1", n, err)
	}
}
