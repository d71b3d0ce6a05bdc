package commit_test

import (
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/syntax"
)

// TestValidateType checks that a record's $type must be its collection.
func TestValidateType(t *testing.T) {
	rec := func(v map[string]any) []byte {
		b, err := datamodel.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name    string
		record  []byte
		wantErr string // "" for a valid write
	}{
		{"matching", rec(map[string]any{"$type": "com.example.coll", "n": int64(1)}), ""},
		{"missing", rec(map[string]any{"n": int64(1)}), "invalid write: create com.example.coll/a: invalid $type: expected com.example.coll, got none"},
		{"other collection", rec(map[string]any{"$type": "app.bsky.feed.post"}), `invalid write: create com.example.coll/a: invalid $type: expected com.example.coll, got "app.bsky.feed.post"`},
		{"not a string", rec(map[string]any{"$type": int64(7)}), "invalid write: create com.example.coll/a: invalid $type: expected com.example.coll, got a int64"},
		{"a map", rec(map[string]any{"$type": map[string]any{"a": "com.example.coll"}}), "invalid write: create com.example.coll/a: invalid $type: expected com.example.coll, got a map[string]interface {}"},
		{"only nested", rec(map[string]any{"n": map[string]any{"$type": "com.example.coll"}, "z": []any{map[string]any{"$type": "com.example.coll"}}}), "invalid write: create com.example.coll/a: invalid $type: expected com.example.coll, got none"},
		{"nested and top", rec(map[string]any{"$type": "com.example.coll", "n": map[string]any{"$type": "other"}}), ""},
		{"not canonical", []byte{0xa1, 0x65, '$', 't', 'y', 'p', 'e', 0x78, 0x03, 'a', 'b', 'c'}, "invalid write: create com.example.coll/a: record: invalid dag-cbor: non-canonical encoding at offset 7: argument 3 in 1 byte"},
		{"trailing bytes", append(rec(map[string]any{"$type": "com.example.coll"}), 0), "invalid write: create com.example.coll/a: record: invalid dag-cbor: trailing bytes: 1 bytes after the value"},
		{"not a map", []byte{0x63, 'a', 'b', 'c'}, "invalid write: create com.example.coll/a: record: invalid dag-cbor: top-level value is not a map: major type 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := commit.Write{Action: commit.Create, Collection: "com.example.coll", RKey: "a", Record: tt.record}
			err := w.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tt.wantErr != "" && (!errors.Is(err, commit.ErrInvalidWrite) || err.Error() != tt.wantErr):
				t.Errorf("Validate = %v, want %q (ErrInvalidWrite)", err, tt.wantErr)
			}
		})
	}
	// A delete carries no record to check.
	if err := (commit.Write{Action: commit.Delete, Collection: "com.example.coll", RKey: "a"}).Validate(); err != nil {
		t.Errorf("Validate(delete) = %v", err)
	}
}

func TestNewWriteKeepsRecord(t *testing.T) {
	m := map[string]any{"text": "hi"}
	if _, err := commit.NewWrite(commit.Create, "com.example.coll", "a", m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["$type"]; ok || len(m) != 1 {
		t.Errorf("NewWrite modified its record: %v", m)
	}
}

func TestWriteFromJSON(t *testing.T) {
	// $bytes and $link become bytes and a CID; the missing $type is the
	// collection. Bytes and CID computed independently of this package.
	const js = `{"b":{"$bytes":"aGk"},"ref":{"$link":"bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"}}`
	want, _ := hex.DecodeString("a3616242686963726566d82a582500017112209dfefe61dd76ea3dcae5023880b08379d57adf20482d6fdbe2759289f647677b6524747970656f636f6d2e6578616d706c652e646f63")
	for _, in := range []string{js, `{"$type":"com.example.doc",` + js[1:]} {
		w, err := commit.WriteFromJSON(commit.Create, "com.example.doc", "self", []byte(in))
		if err != nil {
			t.Fatalf("WriteFromJSON(%s) = %v", in, err)
		}
		if w.Action != commit.Create || w.Path() != "com.example.doc/self" || string(w.Record) != string(want) {
			t.Errorf("WriteFromJSON(%s) = %s %s %x, want create com.example.doc/self %x", in, w.Action, w.Path(), w.Record, want)
		}
		if got := datamodel.CBORCID(w.Record).String(); got != "bafyreibxjadau5jacngfcaqql7rllpj2zub4bthwzwnecq3zhiwlfw2vli" {
			t.Errorf("record CID = %s", got)
		}
	}
	// A blob object survives as a typed blob.
	w, err := commit.WriteFromJSON(commit.Update, "app.bsky.actor.profile", "self",
		[]byte(`{"avatar":{"$type":"blob","ref":{"$link":"bafkreicqpqncshdd27sgztqgzocd3zhhqnnsv6slvzhs5uz6f57cq6lmtq"},"mimeType":"image/png","size":13}}`))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := datamodel.Unmarshal(w.Record)
	j, _ := datamodel.ToJSON(v)
	if want := `{"$type":"app.bsky.actor.profile","avatar":{"$type":"blob","mimeType":"image/png","ref":{"$link":"bafkreicqpqncshdd27sgztqgzocd3zhhqnnsv6slvzhs5uz6f57cq6lmtq"},"size":13}}`; string(j) != want {
		t.Errorf("blob record = %s, want %s", j, want)
	}
	// Delete ignores the record.
	if w, err := commit.WriteFromJSON(commit.Delete, "com.example.doc", "self", nil); err != nil || w.Record != nil || w.Path() != "com.example.doc/self" {
		t.Errorf("WriteFromJSON(delete) = %+v, %v", w, err)
	}
	bad := []struct{ name, action, coll, json, msg string }{
		{"other $type", "create", "com.example.doc", `{"$type":"com.example.other"}`, `invalid write: create com.example.doc/self: invalid $type: expected com.example.doc, got "com.example.other"`},
		{"array", "create", "com.example.doc", `[1]`, "invalid write: record JSON: invalid atproto json: top-level value is not an object"},
		{"float", "create", "com.example.doc", `{"n":1.5}`, ""},
		{"truncated", "create", "com.example.doc", `{"n":`, ""},
		{"no record", "update", "com.example.doc", ``, ""},
		{"bad action", "upsert", "com.example.doc", `{}`, ""},
		{"bad collection", "create", "doc", `{}`, ""},
	}
	for _, tt := range bad {
		_, err := commit.WriteFromJSON(commit.Action(tt.action), tt.coll, "self", []byte(tt.json))
		if !errors.Is(err, commit.ErrInvalidWrite) || (tt.msg != "" && err.Error() != tt.msg) {
			t.Errorf("WriteFromJSON(%s) = %v, want ErrInvalidWrite %q", tt.name, err, tt.msg)
		}
	}
}

// TestNextRevFuturePrev checks that a previous rev ahead of the clock gets
// a rev one microsecond above it, and leaves the clock where it was.
func TestNextRevFuturePrev(t *testing.T) {
	now := time.Date(2022, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := syntax.NewClockWithSource(7, func() time.Time { return now })
	future := syntax.NewTID(now.Add(24*time.Hour).UnixMicro(), 3)
	rev, err := commit.NextRev(clock, future)
	if want := syntax.NewTID(now.Add(24*time.Hour).UnixMicro()+1, 7); err != nil || rev != want {
		t.Fatalf("NextRev(%s) = %s, %v; want %s", future, rev, err, want)
	}
	again, _ := commit.NextRev(clock, rev)
	if want := syntax.NewTID(now.Add(24*time.Hour).UnixMicro()+2, 7); again != want {
		t.Errorf("NextRev(%s) = %s, want %s", rev, again, want)
	}
	// The clock did not jump: it hands out wall-clock TIDs (two were
	// consumed by the calls above).
	if got, want := clock.Next(), syntax.NewTID(now.UnixMicro()+2, 7); got != want {
		t.Errorf("clock.Next after a future prev = %s (%s), want %s", got, got.Time(), want)
	}
	// A prev behind the clock gets the clock's TID.
	if got, _ := commit.NextRev(clock, syntax.NewTID(now.Add(-time.Hour).UnixMicro(), 0)); got != syntax.NewTID(now.UnixMicro()+3, 7) {
		t.Errorf("NextRev(past) = %s", got)
	}
	// prev with the same timestamp as the clock but a higher clock id.
	clock2 := syntax.NewClockWithSource(1, func() time.Time { return now })
	same := syntax.NewTID(now.UnixMicro(), 900)
	if got, _ := commit.NextRev(clock2, same); got != syntax.NewTID(now.UnixMicro()+1, 1) {
		t.Errorf("NextRev(%s) = %s", same, got)
	}
}

// BenchmarkValidatePost checks a typical post's write.
func BenchmarkValidatePost(b *testing.B) {
	w, err := commit.NewWrite(commit.Create, "app.bsky.feed.post", "3jzfcijpj2z2a", map[string]any{
		"$type": "app.bsky.feed.post", "text": "Hello, world! This is a post of about the usual length, with a few words.", "createdAt": "2026-12-02T00:00:00.000Z",
		"langs": []any{"en"}, "reply": map[string]any{"root": map[string]any{"uri": "at://did:plc:abc/app.bsky.feed.post/3jzfcijpj2z2a", "cid": "bafyreibwxoxuto2bj2lsspzs6dl4kw6cyu3goswuxi5qbhpc2xlqvnnjg4"}}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}
