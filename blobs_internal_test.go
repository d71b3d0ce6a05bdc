package atlite

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/syntax"
)

// TestIndexRepoBlobRefs rebuilds a repo's blob references from its records
// by importing the repo's CAR into another store (importing it over itself
// is a no-op that writes nothing).
func TestIndexRepoBlobRefs(t *testing.T) {
	ctx := context.Background()
	s, err := Open(":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	did := syntax.DID("did:plc:alice")
	if _, err := s.CreateRepo(ctx, did, nil); err != nil {
		t.Fatal(err)
	}
	var cs []cid.Cid
	for _, data := range []string{"a", "b", "c"} {
		b, err := s.UploadBlob(ctx, did, bytes.NewReader([]byte(data)), "image/png", nil)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, b.CID)
	}
	blob := func(c cid.Cid) map[string]any {
		return map[string]any{"$type": "blob", "ref": c, "mimeType": "image/png", "size": int64(1)}
	}
	var writes []commit.Write
	for i, rec := range []map[string]any{
		{"avatar": blob(cs[0]), "banner": blob(cs[1])},
		{"images": []any{blob(cs[2])}},
		{"legacy": map[string]any{"cid": cs[0].String(), "mimeType": "image/png"}},
		{"text": "none"},
	} {
		w, err := commit.NewWrite(commit.Create, "com.example.rec", string(rune('a'+i)), rec)
		if err != nil {
			t.Fatal(err)
		}
		writes = append(writes, w)
	}
	res, err := s.Commit(ctx, did, writes, nil)
	if err != nil {
		t.Fatal(err)
	}
	type ref struct {
		Path string `db:"path"`
		CID  []byte `db:"cid"`
		Rev  string `db:"rev"`
	}
	refs := func(s *Store) []ref {
		var out []ref
		if err := s.sqlDB().R.SelectContext(ctx, &out, `SELECT path, cid, rev FROM blob_refs ORDER BY path, cid`); err != nil {
			t.Fatal(err)
		}
		return out
	}
	want := refs(s)
	if len(want) != 4 {
		t.Fatalf("%d refs after the commit, want 4: %v", len(want), want)
	}
	for _, r := range want {
		if r.Rev != res.Commit.Rev.String() {
			t.Errorf("ref %s has rev %q, want the commit's %s", r.Path, r.Rev, res.Commit.Rev)
		}
	}
	var buf bytes.Buffer
	if _, err := s.ExportCAR(ctx, did, &buf, nil); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(":memory:", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.ImportCAR(ctx, &buf, nil); err != nil {
		t.Fatal(err)
	}
	if got := refs(s2); !slices.EqualFunc(got, want, func(a, b ref) bool {
		return a.Path == b.Path && bytes.Equal(a.CID, b.CID) && a.Rev == b.Rev
	}) {
		t.Errorf("refs rebuilt = %v, want %v", got, want)
	}
}

// TestMayCiteBlobs checks the byte test that lets commits skip records
// without blobs.
func TestMayCiteBlobs(t *testing.T) {
	for _, tt := range []struct {
		rec  []byte
		want bool
	}{
		{[]byte("\xa1\x64text\x62hi"), false},
		{[]byte("\xa1\x65$type\x64blob"), true},
		{[]byte("\xa1\x68mimeType\x61x"), true},
	} {
		if got := mayCiteBlobs(tt.rec); got != tt.want {
			t.Errorf("mayCiteBlobs(%x) = %v, want %v", tt.rec, got, tt.want)
		}
	}
}
