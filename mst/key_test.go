package mst_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/atlite-dev/atlite/mst"
)

func TestValidateKey(t *testing.T) {
	long := "com.example." + strings.Repeat("a", 317-len("com.example.")) + "/" + strings.Repeat("b", 512)
	valid := []string{
		"com.example.record/3jqfcqzm3fo2j",
		"app.bsky.feed.post/3jui7kd2z2t2y",
		"A0/374913",
		"k/39",
		"coll/rkey~with~tildes",
		"coll/self",
		"coll/lang:en",
		"coll/a_b-c.d:e~f",
		"coll/...",
		long,
	}
	invalid := []string{
		"",
		"asdf",
		"nested/collection/asdf",
		"coll/",
		"/rkey",
		"coll/jalapeñoA",
		"coll/coöperative",
		"coll/abc💩",
		"coll/key$",
		"coll/key%",
		"coll/key(",
		"coll/key)",
		"coll/key+",
		"coll/key=",
		"coll/key with space",
		"coll/.",
		"coll/..",
		"coll_x/rkey",
		"coll:x/rkey",
		".coll/rkey",
		"coll./rkey",
		"coll/" + strings.Repeat("a", 513),
		long + "b",
		"com.example." + strings.Repeat("a", 318-len("com.example.")) + "/rkey",
	}
	for _, k := range valid {
		if err := mst.ValidateKey(k); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", k, err)
		}
	}
	for _, k := range invalid {
		if err := mst.ValidateKey(k); !errors.Is(err, mst.ErrInvalidKey) {
			t.Errorf("ValidateKey(%q) = %v, want ErrInvalidKey", k, err)
		}
	}
}

// TestRecordKeySyntax checks the interop record-key lists: every valid
// record key makes a valid MST key, every invalid one an invalid key.
func TestRecordKeySyntax(t *testing.T) {
	for file, wantValid := range map[string]bool{
		"../testdata/interop/syntax/recordkey_syntax_valid.txt":   true,
		"../testdata/interop/syntax/recordkey_syntax_invalid.txt": false,
	} {
		n := 0
		for _, line := range strings.Split(string(readFile(t, file)), "\n") {
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			n++
			err := mst.ValidateKey("com.example.record/" + line)
			if wantValid && err != nil {
				t.Errorf("ValidateKey(collection/%q) = %v, want nil", line, err)
			}
			if !wantValid && err == nil {
				t.Errorf("ValidateKey(collection/%q) = nil, want an error", line)
			}
		}
		if n < 10 {
			t.Errorf("%s: only %d lines", file, n)
		}
	}
}

// TestInvalidWrites checks that a batch with an invalid key or value fails
// before reading or changing anything.
func TestInvalidWrites(t *testing.T) {
	ctx := context.Background()
	v := mustCID(t, cid1Str)
	tr := buildByAdding(t, nil, []string{"A0/374913", "B0/601692"}, v)
	root := rootOf(t, tr)
	// A tree whose root cannot be read: a write reaching it would fail
	// with ErrMissingBlock rather than the validation error.
	unreadable := mst.Load(&mst.MemBlocks{}, root)
	tests := []struct {
		name   string
		writes []mst.Write
		want   error
	}{
		{"bad key", []mst.Write{{Action: mst.ActionCreate, Key: "C0/1", Value: v}, {Action: mst.ActionCreate, Key: "bad key", Value: v}}, mst.ErrInvalidKey},
		{"bad update key", []mst.Write{{Action: mst.ActionUpdate, Key: "no-slash", Value: v}}, mst.ErrInvalidKey},
		{"bad delete key", []mst.Write{{Action: mst.ActionDelete, Key: "a/b/c"}}, mst.ErrInvalidKey},
		{"undefined value", []mst.Write{{Action: mst.ActionPut, Key: "C0/1"}}, mst.ErrInvalidValue},
		{"unknown action", []mst.Write{{Action: 9, Key: "C0/1", Value: v}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, tree := range []*mst.Tree{tr, unreadable} {
				got, err := tree.Apply(ctx, tc.writes)
				if err == nil || got != nil {
					t.Fatalf("Apply() = %v, %v, want an error", got, err)
				}
				if tc.want != nil && !errors.Is(err, tc.want) {
					t.Errorf("Apply() = %v, want %v", err, tc.want)
				}
				if errors.Is(err, mst.ErrMissingBlock) {
					t.Errorf("Apply() = %v: read a node before validating", err)
				}
			}
			if got := rootOf(t, tr); got != root {
				t.Errorf("tree changed: root %s, want %s", got, root)
			}
		})
	}
	// Errors of the write itself name the key.
	if _, err := tr.Add(ctx, "A0/374913", v); !errors.Is(err, mst.ErrExists) || !strings.Contains(err.Error(), "A0/374913") {
		t.Errorf("Add(existing) = %v, want ErrExists naming the key", err)
	}
	if _, err := tr.Update(ctx, "C0/451630", v); !errors.Is(err, mst.ErrNotFound) {
		t.Errorf("Update(absent) = %v, want ErrNotFound", err)
	}
	if _, err := tr.Delete(ctx, "C0/451630"); !errors.Is(err, mst.ErrNotFound) {
		t.Errorf("Delete(absent) = %v, want ErrNotFound", err)
	}
	if _, err := tr.Get(ctx, "C0/451630"); !errors.Is(err, mst.ErrNotFound) {
		t.Errorf("Get(absent) = %v, want ErrNotFound", err)
	}
	// Build refuses unsorted, duplicate and invalid keys.
	for name, entries := range map[string][]mst.Entry{
		"unsorted":  {{Key: "B0/601692", Value: v}, {Key: "A0/374913", Value: v}},
		"duplicate": {{Key: "A0/374913", Value: v}, {Key: "A0/374913", Value: v}},
		"invalid":   {{Key: "A0 374913", Value: v}},
	} {
		if _, err := mst.Build(nil, entries); !errors.Is(err, mst.ErrInvalidKey) {
			t.Errorf("Build(%s) = %v, want ErrInvalidKey", name, err)
		}
	}
	if _, err := mst.Build(nil, []mst.Entry{{Key: "A0/374913"}}); !errors.Is(err, mst.ErrInvalidValue) {
		t.Errorf("Build(undefined value) = %v, want ErrInvalidValue", err)
	}
}
