package lexicon_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/lexicon"
)

const (
	blobCID   = "bafkreidak7xq6oo6slobmalhjgolbr5auw6xhbulkhp3zxzthxgogyukqm" // raw
	recordCID = "bafyreibnoelefnzgwbcacyt4vh52ymxvzbjq7mmqhtcnwarfq4lzegsiqe" // dag-cbor
)

// testCatalog loads testdata/test-lexicons.json, two documents that use
// every rule.
func testCatalog(tb testing.TB) *lexicon.Catalog {
	tb.Helper()
	b, err := os.ReadFile("testdata/test-lexicons.json")
	if err != nil {
		tb.Fatal(err)
	}
	var docs []json.RawMessage
	if err := json.Unmarshal(b, &docs); err != nil {
		tb.Fatal(err)
	}
	raw := make([][]byte, len(docs))
	for i, d := range docs {
		raw[i] = d
	}
	c, err := lexicon.NewCatalog(raw...)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// record decodes atproto JSON into a record value.
func record(tb testing.TB, js string) map[string]any {
	tb.Helper()
	v, err := datamodel.FromJSON([]byte(js))
	if err != nil {
		tb.Fatalf("FromJSON(%s): %v", js, err)
	}
	return v.(map[string]any)
}

func blobJSON(mime string, size int) string {
	b, _ := json.Marshal(map[string]any{"$type": "blob", "ref": map[string]string{"$link": blobCID}, "mimeType": mime, "size": size})
	return string(b)
}

// TestRules checks each rule on com.example.test: a record with name "ok"
// and one more property set to value (or name removed) is valid when want
// is "", else refused with exactly want.
func TestRules(t *testing.T) {
	c := testCatalog(t)
	tests := []struct {
		name, prop, value, want string
	}{
		{"required", "name", "", `Record must have the property "name"`},
		{"required nullable null", "name", `null`, ""},
		{"string type", "name", `5`, "Record/name must be a string"},
		{"minLength", "name", `"a"`, "Record/name must not be shorter than 2 characters"},
		{"minLength counts bytes", "name", `"é"`, ""},
		{"maxLength", "name", `"abcdefghijk"`, "Record/name must not be longer than 10 characters"},
		{"maxLength counts bytes", "name", `"ééééé✨"`, "Record/name must not be longer than 10 characters"},
		{"nullable null", "maybe", `null`, ""},
		{"optional not nullable null", "flag", `null`, "Record/flag must be a boolean"},
		{"null", "nothing", `null`, ""},
		{"null refused", "nothing", `"x"`, "Record/nothing must be null"},
		{"boolean", "flag", `true`, ""},
		{"boolean const", "flag", `false`, "Record/flag must be true"},
		{"boolean type", "flag", `"true"`, "Record/flag must be a boolean"},
		{"integer", "count", `5`, ""},
		{"integer type", "count", `"5"`, "Record/count must be an integer"},
		{"integer bool", "count", `true`, "Record/count must be an integer"},
		{"minimum", "count", `0`, "Record/count can not be less than 1"},
		{"maximum", "count", `11`, "Record/count can not be greater than 10"},
		{"integer enum", "level", `4`, ""},
		{"integer enum refused", "level", `3`, "Record/level must be one of (1|2|4)"},
		{"integer const", "answer", `42`, ""},
		{"integer const refused", "answer", `41`, "Record/answer must be 42"},
		{"string enum", "color", `"green"`, ""},
		{"string enum refused", "color", `"blue"`, "Record/color must be one of (red|green)"},
		{"string const", "fixed", `"x"`, ""},
		{"string const refused", "fixed", `"y"`, "Record/fixed must be x"},
		{"knownValues not enforced", "mood", `"angry"`, ""},
		{"minGraphemes", "short", `"a"`, "Record/short must not be shorter than 2 graphemes"},
		{"minGraphemes counts clusters", "short", `"👍🏽"`, "Record/short must not be shorter than 2 graphemes"},
		{"maxGraphemes", "short", `"abcd"`, "Record/short must not be longer than 3 graphemes"},
		{"graphemes of many bytes", "short", `"👨‍👩‍👧‍👦👍🏽"`, ""},
		{"combining marks", "short", `"e\u0301e\u0301e\u0301"`, ""},
		{"combining marks too many", "short", `"e\u0301e\u0301e\u0301e\u0301"`, "Record/short must not be longer than 3 graphemes"},
		{"datetime", "when", `"2024-01-02T03:04:05.678+01:00"`, ""},
		{"datetime refused", "when", `"2024-01-02"`, "Record/when must be an valid atproto datetime (both RFC-3339 and ISO-8601)"},
		{"datetime lower-case t", "when", `"2024-01-02t03:04:05Z"`, "Record/when must be an valid atproto datetime (both RFC-3339 and ISO-8601)"},
		{"uri", "uri", `"https://example.com/a?b#c"`, ""},
		{"uri refused", "uri", `"not a uri"`, "Record/uri must be a uri"},
		{"uri beyond ASCII", "uri", `"https://ja.wikipedia.org/wiki/東京"`, ""},
		{"uri with ideographic space", "uri", `"https://example.com/a　b"`, "Record/uri must be a uri"},
		{"uri with a space", "uri", `"https://example.com/東京 x"`, "Record/uri must be a uri"},
		{"uri scheme beyond ASCII", "uri", `"é://example.com"`, "Record/uri must be a uri"},
		{"uri nothing after the scheme", "uri", `"東京"`, "Record/uri must be a uri"},
		{"at-uri", "aturi", `"at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3k43tv4rft22g"`, ""},
		{"at-uri refused", "aturi", `"https://example.com"`, "Record/aturi must be a valid at-uri"},
		{"did", "did", `"did:web:example.com"`, ""},
		{"did refused", "did", `"did:x"`, "Record/did must be a valid did"},
		{"handle", "handle", `"alice.example.com"`, ""},
		{"handle refused", "handle", `"-alice.example.com"`, "Record/handle must be a valid handle"},
		{"at-identifier did", "ident", `"did:plc:ewvi7nxzyoun6zhxrhs64oiz"`, ""},
		{"at-identifier handle", "ident", `"alice.example.com"`, ""},
		{"at-identifier refused", "ident", `"alice"`, "Record/ident must be a valid did or a handle"},
		{"nsid", "nsid", `"app.bsky.feed.post"`, ""},
		{"nsid refused", "nsid", `"post"`, "Record/nsid must be a valid nsid"},
		{"cid", "cid", `"` + recordCID + `"`, ""},
		{"cid refused", "cid", `"bafynotacid"`, "Record/cid must be a cid string"},
		{"language", "lang", `"pt-BR"`, ""},
		{"language refused", "lang", `"english!"`, "Record/lang must be a well-formed BCP 47 language tag"},
		{"tid", "tid", `"3k43tv4rft22g"`, ""},
		{"tid refused", "tid", `"3k43tv4rft22"`, "Record/tid must be a valid TID"},
		{"record-key", "rkey", `"self"`, ""},
		{"record-key refused", "rkey", `".."`, "Record/rkey must be a valid Record Key"},
		{"bytes", "data", `{"$bytes": "AQID"}`, ""},
		{"bytes type", "data", `"AQID"`, "Record/data must be a byte array"},
		{"bytes minLength", "data", `{"$bytes": "AQ"}`, "Record/data must not be smaller than 2 bytes"},
		{"bytes maxLength", "data", `{"$bytes": "AQIDBAU"}`, "Record/data must not be larger than 4 bytes"},
		{"cid-link", "link", `{"$link": "` + recordCID + `"}`, ""},
		{"cid-link type", "link", `"` + recordCID + `"`, "Record/link must be a CID"},
		{"blob", "pic", blobJSON("image/png", 1000), ""},
		{"blob accept wildcard", "pic", blobJSON("image/webp", 10), ""},
		{"blob accept", "pic", blobJSON("text/plain", 10), "Record/pic/mimeType must be one of (image/*)"},
		{"blob accept list", "video", blobJSON("video/ogg", 10), "Record/video/mimeType must be one of (video/mp4|video/webm)"},
		{"blob accept list ok", "video", blobJSON("video/webm", 10), ""},
		{"blob accept prefix only", "pic", blobJSON("imagex/png", 10), "Record/pic/mimeType must be one of (image/*)"},
		{"blob maxSize", "pic", blobJSON("image/png", 1001), "Record/pic must not be larger than 1000 bytes"},
		{"blob any type", "file", blobJSON("application/octet-stream", 1<<40), ""},
		{"blob without slash", "file", blobJSON("binary", 1), "Record/file should be a blob ref"},
		{"legacy blob", "file", `{"cid": "` + blobCID + `", "mimeType": "image/png"}`, "Record/file should be a blob ref"},
		{"blob of a dag-cbor CID", "file", `{"$type": "blob", "ref": {"$link": "` + recordCID + `"}, "mimeType": "image/png", "size": 1}`, ""},
		{"blob with another field", "file", `{"$type": "blob", "ref": {"$link": "` + blobCID + `"}, "mimeType": "image/png", "size": 1, "x": 1}`, "Record/file should be a blob ref"},
		{"blob a link", "file", `{"$link": "` + blobCID + `"}`, "Record/file should be a blob ref"},
		{"array", "tags", `["a", "b"]`, ""},
		{"array type", "tags", `"a"`, "Record/tags must be an array"},
		{"array minLength", "tags", `[]`, "Record/tags must not have fewer than 1 elements"},
		{"array maxLength", "tags", `["a", "b", "c"]`, "Record/tags must not have more than 2 elements"},
		{"array items", "tags", `["a", "abcd"]`, "Record/tags/1 must not be longer than 3 characters"},
		{"ref local", "self", `{"x": 1, "next": {"x": 2}}`, ""},
		{"ref local nested", "self", `{"x": 1, "next": {"x": "2"}}`, "Record/self/next/x must be an integer"},
		{"ref required", "self", `{"next": {"x": 2}}`, `Record/self must have the property "x"`},
		{"ref object type", "self", `[1]`, "Record/self must be an object"},
		{"ref typed", "self", `{"$type": "com.example.test#point", "x": 1}`, ""},
		{"ref wrong $type", "self", `{"$type": "com.example.other#thing", "x": 1}`, "Record/self/$type must be com.example.test#point"},
		{"ref other document", "other", `{"label": "ab"}`, ""},
		{"ref other document refused", "other", `{"label": "abc"}`, "Record/other/label must not be longer than 2 graphemes"},
		{"ref main", "otherMain", `{"$type": "com.example.other", "label": "x"}`, ""},
		{"ref main spelled #main", "otherMain", `{"$type": "com.example.other#main"}`, ""},
		{"open union member", "open", `{"$type": "com.example.test#point", "x": 1}`, ""},
		{"open union member refused", "open", `{"$type": "com.example.test#point", "x": "1"}`, "Record/open/x must be an integer"},
		{"open union other document", "open", `{"$type": "com.example.other#thing"}`, `Record/open must have the property "label"`},
		{"open union unknown $type", "open", `{"$type": "com.example.elsewhere", "x": "anything"}`, ""},
		{"union without $type", "open", `{"x": 1}`, `Record/open must be an object which includes the "$type" property`},
		{"union not an object", "open", `"com.example.test#point"`, `Record/open must be an object which includes the "$type" property`},
		{"closed union member", "closed", `{"$type": "com.example.other", "label": "x"}`, ""},
		{"closed union #main", "closed", `{"$type": "com.example.other#main"}`, ""},
		{"closed union unknown $type", "closed", `{"$type": "com.example.elsewhere"}`, "Record/closed $type must be one of com.example.test#point, com.example.other"},
		{"unknown", "any", `{"a": [1, {"$bytes": "AQ"}]}`, ""},
		{"unknown blob", "any", blobJSON("image/png", 1), "Record/any must be an object"},
		{"unknown bytes", "any", `{"$bytes": "AQ"}`, "Record/any must be an object"},
		{"unknown not an object", "any", `5`, "Record/any must be an object"},
		{"unknown array", "any", `[{}]`, "Record/any must be an object"},
		{"unknown link", "any", `{"$link": "` + recordCID + `"}`, "Record/any must be an object"},
		{"token", "tok", `"com.example.test#tok"`, ""},
		{"token refused", "tok", `"tok"`, "Record/tok must be com.example.test#tok"},
		{"array of refs", "points", `[{"x": 1}, {"x": "a"}]`, "Record/points/1/x must be an integer"},
		{"unlisted property", "extra", `{"whatever": [true]}`, ""},
		{"$type missing", "$type", "", "Record/$type must be a string"},
		{"$type not a string", "$type", `5`, "Record/$type must be a string"},
		{"$type another collection", "$type", `"com.example.other"`, "Record/$type must be com.example.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := record(t, `{"$type": "com.example.test", "name": "ok"}`)
			if tt.value == "" {
				delete(rec, tt.prop)
			} else {
				rec[tt.prop] = record(t, `{"v": `+tt.value+`}`)["v"]
			}
			err := c.ValidateRecord("com.example.test", rec)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ValidateRecord(%s = %s) = %v, want nil", tt.prop, tt.value, err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("ValidateRecord(%s = %s) = %v, want %q", tt.prop, tt.value, err, tt.want)
			}
			if !errors.Is(err, lexicon.ErrInvalidRecord) {
				t.Errorf("ValidateRecord(%s = %s) = %v, not ErrInvalidRecord", tt.prop, tt.value, err)
			}
			var ve *lexicon.ValidationError
			if !errors.As(err, &ve) || !strings.HasPrefix(tt.want, ve.Path+" ") {
				t.Errorf("ValidateRecord(%s = %s): ValidationError %+v does not match %q", tt.prop, tt.value, ve, tt.want)
			}
		})
	}
}

// TestUnknownLexicon: a collection without a record lexicon, and refs to
// definitions the catalog lacks, are ErrUnknownLexicon, not invalid
// records.
func TestUnknownLexicon(t *testing.T) {
	c := testCatalog(t)
	tests := []struct {
		name, collection, js, want string
	}{
		{"no lexicon", "com.example.nowhere", `{"$type": "com.example.nowhere"}`, `unknown lexicon: no record lexicon for "com.example.nowhere"`},
		{"object, not a record", "com.example.other", `{"$type": "com.example.other"}`, `unknown lexicon: no record lexicon for "com.example.other"`},
		{"ref", "com.example.test", `{"$type": "com.example.test", "name": "ok", "missing": {}}`, "Record/missing: unknown lexicon: com.example.nowhere#thing"},
		{"union member", "com.example.test", `{"$type": "com.example.test", "name": "ok", "gone": {"$type": "com.example.nowhere"}}`, "Record/gone: unknown lexicon: com.example.nowhere"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.ValidateRecord(tt.collection, record(t, tt.js))
			if !errors.Is(err, lexicon.ErrUnknownLexicon) || errors.Is(err, lexicon.ErrInvalidRecord) || err.Error() != tt.want {
				t.Errorf("ValidateRecord(%s) = %v, want %q (ErrUnknownLexicon)", tt.js, err, tt.want)
			}
		})
	}
	if c.HasRecord("com.example.nowhere") || !c.HasRecord("com.example.test") {
		t.Error("HasRecord is wrong")
	}
}

// validRecords reads testdata/valid: real records of the app.bsky and
// chat.bsky lexicons, by file name.
func validRecords(tb testing.TB) map[string][]byte {
	tb.Helper()
	files, err := filepath.Glob("testdata/valid/*.json")
	if err != nil || len(files) == 0 {
		tb.Fatalf("testdata/valid: %v %v", files, err)
	}
	m := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		m[filepath.Base(f)] = b
	}
	return m
}

func TestValidRecords(t *testing.T) {
	c := lexicon.Default()
	for name, b := range validRecords(t) {
		t.Run(name, func(t *testing.T) {
			rec := record(t, string(b))
			coll := rec["$type"].(string)
			if err := c.ValidateRecord(coll, rec); err != nil {
				t.Errorf("ValidateRecord(%s) = %v, want nil", coll, err)
			}
		})
	}
}

// TestInvalidRecords: real records with one thing wrong, as the reference
// PDS words the refusal.
func TestInvalidRecords(t *testing.T) {
	c := lexicon.Default()
	recs := validRecords(t)
	long := strings.Repeat("é", 301)
	tests := []struct {
		name, file, edit, want string
	}{
		{"text a number", "post-facets.json", `{"text": 5}`, "Record/text must be a string"},
		{"text too long", "post-facets.json", `{"text": "` + long + `"}`, "Record/text must not be longer than 300 graphemes"},
		{"text too many bytes", "post-facets.json", `{"text": "` + strings.Repeat("👍🏽", 400) + `"}`, "Record/text must not be longer than 3000 characters"},
		{"createdAt missing", "post-facets.json", `{"createdAt": null}`, `Record must have the property "createdAt"`},
		{"createdAt not a datetime", "post-facets.json", `{"createdAt": "yesterday"}`, "Record/createdAt must be an valid atproto datetime (both RFC-3339 and ISO-8601)"},
		{"too many langs", "post-facets.json", `{"langs": ["en", "fr", "de", "es"]}`, "Record/langs must not have more than 3 elements"},
		{"bad lang", "post-facets.json", `{"langs": ["en", "EN!"]}`, "Record/langs/1 must be a well-formed BCP 47 language tag"},
		{"facet without index", "post-facets.json", `{"facets": [{"features": []}]}`, `Record/facets/0 must have the property "index"`},
		{"mention did", "post-facets.json", `{"facets": [{"index": {"byteStart": 0, "byteEnd": 1}, "features": [{"$type": "app.bsky.richtext.facet#mention", "did": "bob.test"}]}]}`, "Record/facets/0/features/0/did must be a valid did"},
		{"byteStart negative", "post-facets.json", `{"facets": [{"index": {"byteStart": -1, "byteEnd": 1}, "features": []}]}`, "Record/facets/0/index/byteStart can not be less than 0"},
		{"alt a number", "post-images.json", `{"embed": {"$type": "app.bsky.embed.images", "images": [{"alt": 5, "image": ` + blobJSON("image/png", 1) + `}]}}`, "Record/embed/images/0/alt must be a string"},
		{"five images", "post-images.json", `{"embed": {"$type": "app.bsky.embed.images", "images": [{}, {}, {}, {}, {}]}}`, "Record/embed/images must not have more than 4 elements"},
		{"image not a blob", "post-images.json", `{"embed": {"$type": "app.bsky.embed.images", "images": [{"alt": "", "image": "cat.png"}]}}`, "Record/embed/images/0/image should be a blob ref"},
		{"image too big", "post-images.json", `{"embed": {"$type": "app.bsky.embed.images", "images": [{"alt": "", "image": ` + blobJSON("image/png", 2000001) + `}]}}`, "Record/embed/images/0/image must not be larger than 2000000 bytes"},
		{"embed without $type", "post-images.json", `{"embed": {"images": []}}`, `Record/embed must be an object which includes the "$type" property`},
		{"external uri", "post-external.json", `{"embed": {"$type": "app.bsky.embed.external", "external": {"uri": "nope", "title": "", "description": ""}}}`, "Record/embed/external/uri must be a uri"},
		{"quoted cid", "post-record.json", `{"embed": {"$type": "app.bsky.embed.record", "record": {"uri": "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3k43tv4rft22g", "cid": "nope"}}}`, "Record/embed/record/cid must be a cid string"},
		{"media not media", "post-recordwithmedia.json", `{"embed": {"$type": "app.bsky.embed.recordWithMedia", "record": {"$type": "app.bsky.embed.record", "record": {"uri": "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3k43tv4rft22g", "cid": "` + recordCID + `"}}, "media": {"$type": "app.bsky.embed.images", "images": [{"alt": 1, "image": ` + blobJSON("image/png", 1) + `}]}}}`, "Record/embed/media/images/0/alt must be a string"},
		{"image before alt", "post-images.json", `{"embed": {"$type": "app.bsky.embed.images", "images": [{"alt": 1}]}}`, `Record/embed/images/0 must have the property "image"`},
		{"reply without parent", "post-reply.json", `{"reply": {"root": {"uri": "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3k43tv4rft22g", "cid": "` + recordCID + `"}}}`, `Record/reply must have the property "parent"`},
		{"self label too long", "post-reply.json", `{"labels": {"$type": "com.atproto.label.defs#selfLabels", "values": [{"val": "` + strings.Repeat("x", 129) + `"}]}}`, "Record/labels/values/0/val must not be longer than 128 characters"},
		{"like subject", "like.json", `{"subject": "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3k43tv4rft22g"}`, "Record/subject must be an object"},
		{"follow subject", "follow.json", `{"subject": "alice.test"}`, "Record/subject must be a valid did"},
		{"avatar type", "profile.json", `{"avatar": ` + blobJSON("image/gif", 10) + `}`, "Record/avatar/mimeType must be one of (image/png|image/jpeg)"},
		{"avatar size", "profile.json", `{"avatar": ` + blobJSON("image/png", 1000001) + `}`, "Record/avatar must not be larger than 1000000 bytes"},
		{"displayName", "profile.json", `{"displayName": "` + strings.Repeat("a", 65) + `"}`, "Record/displayName must not be longer than 64 graphemes"},
		{"list name empty", "list.json", `{"name": ""}`, "Record/name must not be shorter than 1 characters"},
		{"list purpose", "list.json", `{"purpose": 1}`, "Record/purpose must be a string"},
		{"threadgate rules", "threadgate.json", `{"allow": [{}, {}, {}, {}, {}, {}]}`, "Record/allow must not have more than 5 elements"},
		{"threadgate list rule", "threadgate.json", `{"allow": [{"$type": "app.bsky.feed.threadgate#listRule"}]}`, `Record/allow/0 must have the property "list"`},
		{"chat declaration", "chat-declaration.json", `{"allowIncoming": null}`, `Record must have the property "allowIncoming"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, ok := recs[tt.file]
			if !ok {
				t.Fatalf("no testdata/valid/%s", tt.file)
			}
			rec := record(t, string(b))
			for k, v := range record(t, tt.edit) {
				if v == nil {
					delete(rec, k)
				} else {
					rec[k] = v
				}
			}
			err := c.ValidateRecord(rec["$type"].(string), rec)
			if err == nil || err.Error() != tt.want || !errors.Is(err, lexicon.ErrInvalidRecord) {
				t.Errorf("ValidateRecord(%s + %s) = %v, want %q", tt.file, tt.edit, err, tt.want)
			}
		})
	}
}

// TestDefault: every reference in the embedded lexicons resolves, and the
// record types the reference PDS validates are there.
func TestDefault(t *testing.T) {
	c := lexicon.Default()
	if c != lexicon.Default() {
		t.Error("Default() returns a new catalog each time")
	}
	for _, coll := range []string{
		"app.bsky.actor.profile", "app.bsky.actor.status", "app.bsky.feed.generator", "app.bsky.feed.like",
		"app.bsky.feed.post", "app.bsky.feed.postgate", "app.bsky.feed.repost", "app.bsky.feed.threadgate",
		"app.bsky.graph.block", "app.bsky.graph.follow", "app.bsky.graph.list", "app.bsky.graph.listblock",
		"app.bsky.graph.listitem", "app.bsky.graph.starterpack", "app.bsky.graph.verification",
		"app.bsky.labeler.service", "app.bsky.notification.declaration", "chat.bsky.actor.declaration",
		"com.atproto.lexicon.schema",
	} {
		if !c.HasRecord(coll) {
			t.Errorf("Default() has no record lexicon for %s", coll)
		}
	}
	if ids := c.IDs(); len(ids) != 36 {
		t.Errorf("Default() has %d documents, want the 36 of lexicons/", len(ids))
	}
	if got := c.RecordKey("app.bsky.actor.profile"); got != "literal:self" {
		t.Errorf(`RecordKey("app.bsky.actor.profile") = %q, want "literal:self"`, got)
	}
	if unresolved := lexicon.Unresolved(c); len(unresolved) != 0 {
		t.Errorf("Default() has unresolved references: %v", unresolved)
	}
}

func TestNewCatalogErrors(t *testing.T) {
	tests := []struct {
		name string
		docs []string
	}{
		{"not json", []string{`{`}},
		{"version", []string{`{"lexicon": 2, "id": "com.example.a", "defs": {}}`}},
		{"id", []string{`{"lexicon": 1, "id": "nope", "defs": {}}`}},
		{"twice", []string{`{"lexicon": 1, "id": "com.example.a", "defs": {}}`, `{"lexicon": 1, "id": "com.example.a", "defs": {}}`}},
		{"unknown type", []string{`{"lexicon": 1, "id": "com.example.a", "defs": {"main": {"type": "object", "properties": {"x": {"type": "float"}}}}}`}},
		{"unknown format", []string{`{"lexicon": 1, "id": "com.example.a", "defs": {"main": {"type": "string", "format": "email"}}}`}},
		{"record not main", []string{`{"lexicon": 1, "id": "com.example.a", "defs": {"x": {"type": "record", "key": "tid", "record": {"type": "object"}}}}`}},
		{"record without object", []string{`{"lexicon": 1, "id": "com.example.a", "defs": {"main": {"type": "record", "key": "tid"}}}`}},
		{"array without items", []string{`{"lexicon": 1, "id": "com.example.a", "defs": {"main": {"type": "array"}}}`}},
		{"bad enum", []string{`{"lexicon": 1, "id": "com.example.a", "defs": {"main": {"type": "integer", "enum": ["a"]}}}`}},
		{"ref without target", []string{`{"lexicon": 1, "id": "com.example.a", "defs": {"main": {"type": "ref"}}}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := make([][]byte, len(tt.docs))
			for i, d := range tt.docs {
				raw[i] = []byte(d)
			}
			c, err := lexicon.NewCatalog(raw...)
			if !errors.Is(err, lexicon.ErrInvalidLexicon) || c != nil {
				t.Errorf("NewCatalog(%s) = %v, %v, want nil, ErrInvalidLexicon", tt.docs, c, err)
			}
		})
	}
	// Procedures, queries and the like load; they are just not records.
	c, err := lexicon.NewCatalog([]byte(`{"lexicon": 1, "id": "com.example.a", "defs": {"main": {"type": "procedure", "input": {"encoding": "application/json"}}}}`))
	if err != nil || c.HasRecord("com.example.a") {
		t.Errorf("NewCatalog(procedure) = %v, %v", c, err)
	}
}

func TestValidateRecordKey(t *testing.T) {
	c := lexicon.Default()
	tests := []struct {
		collection, rkey string
		want             error
	}{
		{"app.bsky.feed.post", "3k43tv4rft22g", nil},
		{"app.bsky.feed.post", "hello", lexicon.ErrInvalidRecordKey},
		{"app.bsky.actor.profile", "self", nil},
		{"app.bsky.actor.profile", "3k43tv4rft22g", lexicon.ErrInvalidRecordKey},
		{"com.atproto.lexicon.schema", "app.bsky.feed.post", nil},
		{"com.atproto.lexicon.schema", "post", lexicon.ErrInvalidRecordKey},
		{"com.example.nowhere", "self", lexicon.ErrUnknownLexicon},
	}
	for _, tt := range tests {
		if err := c.ValidateRecordKey(tt.collection, tt.rkey); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
			t.Errorf("ValidateRecordKey(%s, %s) = %v, want %v", tt.collection, tt.rkey, err, tt.want)
		}
	}
	if err := testCatalog(t).ValidateRecordKey("com.example.test", "any.key:here"); err != nil {
		t.Errorf(`ValidateRecordKey(key "any") = %v`, err)
	}
	err := c.ValidateRecordKey("app.bsky.actor.profile", "me")
	if want := `invalid record key "me" for app.bsky.actor.profile (key type literal:self): must be "self"`; err == nil || err.Error() != want {
		t.Errorf("ValidateRecordKey = %v, want %q", err, want)
	}
}

// TestCycle: a value that contains itself (only Go code can build one)
// ends in an error, not a hang.
func TestCycle(t *testing.T) {
	c := testCatalog(t)
	point := map[string]any{"x": int64(1)}
	point["next"] = point
	err := c.ValidateRecord("com.example.test", map[string]any{"$type": "com.example.test", "name": "ok", "self": point})
	if !errors.Is(err, lexicon.ErrInvalidRecord) || !strings.HasSuffix(err.Error(), " is nested too deeply") {
		t.Errorf("ValidateRecord(cycle) = ...%s, want nested too deeply", err.Error()[len(err.Error())-60:])
	}
}

func TestValidateWrite(t *testing.T) {
	c := lexicon.Default()
	post := map[string]any{"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2026-01-01T00:00:00.000Z"}
	tests := []struct {
		name, collection, rkey string
		record                 map[string]any
		require                bool
		status                 string
		want                   error
	}{
		{"valid post", "app.bsky.feed.post", "3k43tv4rft22g", post, false, lexicon.StatusValid, nil},
		{"valid post, required", "app.bsky.feed.post", "3k43tv4rft22g", post, true, lexicon.StatusValid, nil},
		{"post under a non-TID key", "app.bsky.feed.post", "hello", post, false, lexicon.StatusValid, nil},
		{"post under a non-TID key, required", "app.bsky.feed.post", "hello", post, true, "", lexicon.ErrInvalidRecordKey},
		{"post without createdAt", "app.bsky.feed.post", "3k43tv4rft22g", map[string]any{"$type": "app.bsky.feed.post", "text": "hi"}, false, "", lexicon.ErrInvalidRecord},
		{"profile not at self", "app.bsky.actor.profile", "me", map[string]any{"$type": "app.bsky.actor.profile"}, true, "", lexicon.ErrInvalidRecordKey},
		{"profile at self", "app.bsky.actor.profile", "self", map[string]any{"$type": "app.bsky.actor.profile"}, false, lexicon.StatusValid, nil},
		{"unknown collection", "com.example.note", "any:key", map[string]any{"x": int64(1)}, false, lexicon.StatusUnknown, nil},
		{"unknown collection, required", "com.example.note", "any:key", map[string]any{"x": int64(1)}, true, "", lexicon.ErrUnknownLexicon},
	}
	for _, tt := range tests {
		status, err := c.ValidateWrite(tt.collection, tt.rkey, tt.record, tt.require)
		if status != tt.status || !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
			t.Errorf("%s: ValidateWrite = %q, %v; want %q, %v", tt.name, status, err, tt.status, tt.want)
		}
	}
}
