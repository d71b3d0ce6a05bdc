package mst_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/mst"
)

func TestKeyHeights(t *testing.T) {
	for _, path := range []string{
		"../testdata/interop/mst/key_heights.json",
		"../testdata/arroba/interop-older/key_heights.json",
	} {
		var cases []struct {
			Key    string `json:"key"`
			Height int    `json:"height"`
		}
		if err := json.Unmarshal(readFile(t, path), &cases); err != nil {
			t.Fatal(err)
		}
		if len(cases) != 9 {
			t.Fatalf("%s: %d cases, want 9", path, len(cases))
		}
		for _, c := range cases {
			if got := mst.Layer(c.Key); got != c.Height {
				t.Errorf("Layer(%q) = %d, want %d", c.Key, got, c.Height)
			}
		}
	}
	// Extra vectors from SPEC.md 7.2.
	for k, want := range map[string]int{
		"com.example.record/3jqfcqzm3fx2j": 2,
		"com.example.record/3jqfcqzm3fs2j": 1,
	} {
		if got := mst.Layer(k); got != want {
			t.Errorf("Layer(%q) = %d, want %d", k, got, want)
		}
	}
}

func TestCommonPrefix(t *testing.T) {
	for _, path := range []string{
		"../testdata/interop/mst/common_prefix.json",
		"../testdata/arroba/interop-older/common_prefix.json",
	} {
		var cases []struct {
			Left  string `json:"left"`
			Right string `json:"right"`
			Len   int    `json:"len"`
		}
		if err := json.Unmarshal(readFile(t, path), &cases); err != nil {
			t.Fatal(err)
		}
		if len(cases) != 13 {
			t.Fatalf("%s: %d cases, want 13", path, len(cases))
		}
		for _, c := range cases {
			if got := mst.CommonPrefixLen(c.Left, c.Right); got != c.Len {
				t.Errorf("CommonPrefixLen(%q, %q) = %d, want %d", c.Left, c.Right, got, c.Len)
			}
		}
	}
}

// TestExampleKeys checks every key of example_keys.txt: it is a valid key,
// its layer is the digit after its letter (in the current generation only:
// the older generation was mined with a different height function, and its
// "B1/293486", for one, is on layer 0), and a tree of all of them is the same
// whatever the insertion order.
func TestExampleKeys(t *testing.T) {
	for _, path := range []string{
		"../testdata/interop/mst/example_keys.txt",
		"../testdata/arroba/interop-older/example_keys.txt",
	} {
		checkLayers := strings.Contains(path, "/interop/mst/")
		keys := strings.Fields(string(readFile(t, path)))
		if len(keys) != 156 {
			t.Fatalf("%s: %d keys, want 156", path, len(keys))
		}
		for _, k := range keys {
			if err := mst.ValidateKey(k); err != nil {
				t.Errorf("ValidateKey(%q) = %v", k, err)
			}
			if got, want := mst.Layer(k), int(k[1]-'0'); checkLayers && got != want {
				t.Errorf("Layer(%q) = %d, want %d", k, got, want)
			}
		}
		v := mustCID(t, cid1Str)
		fwd := buildByAdding(t, nil, keys, v)
		rev := make([]string, len(keys))
		for i, k := range keys {
			rev[len(keys)-1-i] = k
		}
		back := buildByAdding(t, nil, rev, v)
		if a, b := rootOf(t, fwd), rootOf(t, back); a != b {
			t.Errorf("%s: root in file order %s, in reverse order %s", path, a, b)
		}
		n, err := fwd.LeafCount(context.Background())
		if err != nil || n != 156 {
			t.Errorf("LeafCount() = %d, %v, want 156", n, err)
		}
	}
}

func TestEmptyTree(t *testing.T) {
	const want = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
	if got := rootOf(t, mst.New(nil)).String(); got != want {
		t.Errorf("New().Root() = %s, want %s", got, want)
	}
	if got := mst.EmptyRoot().String(); got != want {
		t.Errorf("EmptyRoot() = %s, want %s", got, want)
	}
	b, err := mst.Build(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := rootOf(t, b).String(); got != want {
		t.Errorf("Build(nil).Root() = %s, want %s", got, want)
	}
	blocks, err := mst.New(nil).UnstoredBlocks(context.Background())
	if err != nil || len(blocks) != 1 {
		t.Fatalf("UnstoredBlocks() = %d blocks, %v, want 1", len(blocks), err)
	}
	c, err := cid.Decode(want)
	if err != nil {
		t.Fatal(err)
	}
	if got := blocks[c]; string(got) != "\xa2\x61e\x80\x61l\xf6" {
		t.Errorf("empty node bytes = %x", got)
	}
}

// TestRootVectors checks the root CIDs of SPEC.md section 7.5.
func TestRootVectors(t *testing.T) {
	ctx := context.Background()
	v := mustCID(t, cid1Str)
	const p = "com.example.record/"
	keys := func(rkeys ...string) []string {
		out := make([]string, len(rkeys))
		for i, r := range rkeys {
			out[i] = p + r
		}
		return out
	}
	type step struct {
		add, del  string
		wantRoot  string
		wantLayer int
	}
	tests := []struct {
		name  string
		keys  []string
		root  string
		layer int
		steps []step
	}{
		{"one key", keys("3jqfcqzm3fo2j"), "bafyreibj4lsc3aqnrvphp5xmrnfoorvru4wynt6lwidqbm2623a6tatzdu", 0, nil},
		{"one key on layer 2", keys("3jqfcqzm3fx2j"), "bafyreih7wfei65pxzhauoibu3ls7jgmkju4bspy4t2ha2qdjnzqvoy33ai", 2, nil},
		{"five keys", keys("3jqfcqzm3fp2j", "3jqfcqzm3fr2j", "3jqfcqzm3fs2j", "3jqfcqzm3ft2j", "3jqfcqzm4fc2j"),
			"bafyreicmahysq4n6wfuxo522m6dpiy7z7qzym3dzs756t5n7nfdgccwq7m", 1, nil},
		{"trim on delete", keys("3jqfcqzm3fn2j", "3jqfcqzm3fo2j", "3jqfcqzm3fp2j", "3jqfcqzm3fs2j", "3jqfcqzm3ft2j", "3jqfcqzm3fu2j"),
			"bafyreifnqrwbk6ffmyaz5qtujqrzf5qmxf7cbxvgzktl4e3gabuxbtatv4", 1,
			[]step{{del: p + "3jqfcqzm3fs2j", wantRoot: "bafyreie4kjuxbwkhzg2i5dljaswcroeih4dgiqq6pazcmunwt2byd725vi", wantLayer: 0}}},
		{"two layers down split",
			keys("3jqfcqzm3fo2j", "3jqfcqzm3fp2j", "3jqfcqzm3fr2j", "3jqfcqzm3fs2j", "3jqfcqzm3ft2j", "3jqfcqzm3fz2j",
				"3jqfcqzm4fc2j", "3jqfcqzm4fd2j", "3jqfcqzm4ff2j", "3jqfcqzm4fg2j", "3jqfcqzm4fh2j"),
			"bafyreiettyludka6fpgp33stwxfuwhkzlur6chs4d2v4nkmq2j3ogpdjem", 1,
			[]step{
				{add: p + "3jqfcqzm3fx2j", wantRoot: "bafyreid2x5eqs4w4qxvc5jiwda4cien3gw2q6cshofxwnvv7iucrmfohpm", wantLayer: 2},
				{del: p + "3jqfcqzm3fx2j", wantRoot: "bafyreiettyludka6fpgp33stwxfuwhkzlur6chs4d2v4nkmq2j3ogpdjem", wantLayer: 1},
			}},
		{"new layer two higher", keys("3jqfcqzm3ft2j", "3jqfcqzm3fz2j"),
			"bafyreidfcktqnfmykz2ps3dbul35pepleq7kvv526g47xahuz3rqtptmky", 0,
			[]step{
				{add: p + "3jqfcqzm3fx2j", wantRoot: "bafyreiavxaxdz7o7rbvr3zg2liox2yww46t7g6hkehx4i4h3lwudly7dhy", wantLayer: 2},
				{del: p + "3jqfcqzm3fx2j", wantRoot: "bafyreidfcktqnfmykz2ps3dbul35pepleq7kvv526g47xahuz3rqtptmky", wantLayer: 0},
				{add: p + "3jqfcqzm3fx2j", wantRoot: "bafyreiavxaxdz7o7rbvr3zg2liox2yww46t7g6hkehx4i4h3lwudly7dhy", wantLayer: 2},
				{add: p + "3jqfcqzm4fd2j", wantRoot: "bafyreig4jv3vuajbsybhyvb7gggvpwh2zszwfyttjrj6qwvcsp24h6popu", wantLayer: 2},
				{del: p + "3jqfcqzm4fd2j", wantRoot: "bafyreiavxaxdz7o7rbvr3zg2liox2yww46t7g6hkehx4i4h3lwudly7dhy", wantLayer: 2},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tree := buildByAdding(t, nil, tc.keys, v)
			check := func(what, want string, wantLayer int) {
				t.Helper()
				if got := rootOf(t, tree).String(); got != want {
					t.Errorf("%s: Root() = %s, want %s", what, got, want)
				}
				if got, err := tree.Layer(ctx); err != nil || got != wantLayer {
					t.Errorf("%s: Layer() = %d, %v, want %d", what, got, err, wantLayer)
				}
				// Loading the stored tree gives the same root and entries.
				blocks, err := tree.UnstoredBlocks(ctx)
				if err != nil {
					t.Fatal(err)
				}
				loaded := mst.Load(mst.NewMemBlocks(blocks), rootOf(t, tree))
				n, err := loaded.LeafCount(ctx)
				m, _ := tree.LeafCount(ctx)
				if err != nil || n != m {
					t.Errorf("%s: loaded LeafCount() = %d, %v, want %d", what, n, err, m)
				}
			}
			check("build", tc.root, tc.layer)
			entries := make([]mst.Entry, len(tc.keys))
			for i, k := range tc.keys {
				entries[i] = mst.Entry{Key: k, Value: v}
			}
			built, err := mst.Build(nil, entries)
			if err != nil {
				t.Fatal(err)
			}
			if got := rootOf(t, built).String(); got != tc.root {
				t.Errorf("Build().Root() = %s, want %s", got, tc.root)
			}
			for _, s := range tc.steps {
				var err error
				if s.add != "" {
					tree, err = tree.Add(ctx, s.add, v)
					check("add "+s.add, s.wantRoot, s.wantLayer)
				} else {
					tree, err = tree.Delete(ctx, s.del)
					check("delete "+s.del, s.wantRoot, s.wantLayer)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestCIDsForPath(t *testing.T) {
	ctx := context.Background()
	v := mustCID(t, cid1Str)
	tree := buildByAdding(t, nil, []string{"A0/501344", "B2/303249", "C0/535043"}, v)
	root := "bafyreifoy7ierkqljk37wozudqhqjuuahjnubqvd3qprx5ocwcfrx5v3hm"
	if got := rootOf(t, tree).String(); got != root {
		t.Fatalf("Root() = %s, want %s", got, root)
	}
	blocks, _ := tree.UnstoredBlocks(ctx)
	loaded := mst.Load(mst.NewMemBlocks(blocks), mustCID(t, root))
	tests := map[string][]string{
		"A0/501344": {root, "bafyreihexby6fnhajsjzzqkmegqpqt2lrr3rpesyl6kt3t3xppid7tuvfy", "bafyreiciix65xuk62hu6ew6jdy3m2swqstvnuhuwcwffidk3nduf7eaoh4", cid1Str},
		"B2/303249": {root, cid1Str},
		"C0/535043": {root, "bafyreiagiwrefvm27hvgryirykp7reqcpz56v6txzksgbargjlibtpsqwu", "bafyreiewdvzcopoza6bdntvhmvdfqeolql6sckkiu75jpvfnwwnfi57jia", cid1Str},
	}
	for key, want := range tests {
		for name, tr := range map[string]*mst.Tree{"memory": tree, "loaded": loaded} {
			got, err := tr.CIDsForPath(ctx, key)
			if err != nil {
				t.Fatalf("%s CIDsForPath(%q): %v", name, key, err)
			}
			if s := cidStrings(got); strings.Join(s, " ") != strings.Join(want, " ") {
				t.Errorf("%s CIDsForPath(%q) = %v, want %v", name, key, s, want)
			}
		}
	}
}

func cidStrings(cs []cid.Cid) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.String()
	}
	return out
}

var _ = os.ReadFile
