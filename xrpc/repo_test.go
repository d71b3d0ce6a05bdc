package xrpc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/internal/testutil"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

// The record of arroba's tests and its CID.
const (
	helloPost    = `{"$type":"app.bsky.feed.post","createdAt":"2022-01-02T03:04:05+00:00","text":"Hello, world!"}`
	helloPostCID = "bafyreibwxoxuto2bj2lsspzs6dl4kw6cyu3goswuxi5qbhpc2xlqvnnjg4"
	postNSID     = "app.bsky.feed.post"
	aliceURI     = "at://did:web:alice.pds.test/app.bsky.feed.post/"
	// helloKey is a TID: validate true checks a post's key against the
	// lexicon's key type.
	helloKey = "3jzfcijpj2z2a"
)

// recordOutput is a record as getRecord and listRecords answer it.
type recordOutput struct {
	URI   string          `json:"uri"`
	CID   string          `json:"cid"`
	Value json.RawMessage `json:"value"`
}

func post(text string) map[string]any {
	return map[string]any{"$type": postNSID, "text": text, "createdAt": "2022-01-02T03:04:05Z"}
}

// head returns alice's commit as commitMeta.
func (e *env) head(d syntax.DID) commitMeta {
	e.t.Helper()
	r, err := e.st.LoadRepo(context.Background(), d.AtIdentifier())
	if err != nil {
		e.t.Fatal(err)
	}
	return commitMeta{CID: r.Head.String(), Rev: r.Rev}
}

func TestCreateRecord(t *testing.T) {
	e := newEnv(t, nil)
	s := e.login(aliceDID, aliceHandle)
	before := e.lastSeq()
	var got writeOutput
	e.ok("POST", "com.atproto.repo.createRecord", s.AccessJwt, map[string]any{
		"repo": aliceHandle, "collection": postNSID, "rkey": helloKey, "validate": true, "record": json.RawMessage(helloPost)}, &got)
	h := e.head(aliceDID)
	// validate: true, and a post the lexicon accepts.
	want := writeOutput{URI: aliceURI + helloKey, CID: helloPostCID, Commit: &h, ValidationStatus: "valid"}
	if got.URI != want.URI || got.CID != want.CID || got.Commit == nil || *got.Commit != h || got.ValidationStatus != "valid" {
		t.Errorf("createRecord = %+v, want %+v", got, want)
	}
	if after := e.lastSeq(); after != before+1 {
		t.Errorf("LastSeq %d -> %d, want one commit", before, after)
	}
	b := e.ok("GET", "com.atproto.repo.getRecord?repo=did:web:alice.pds.test&collection=app.bsky.feed.post&rkey="+helloKey, "", nil, nil)
	if want := `{"uri":"` + aliceURI + helloKey + `","cid":"` + helloPostCID + `","value":` + helloPost + `}`; strings.TrimSpace(string(b)) != want {
		t.Errorf("getRecord = %s, want %s", b, want)
	}
	e.ok("GET", "com.atproto.repo.getRecord?repo=alice.pds.test&collection=app.bsky.feed.post&rkey="+helloKey+"&cid="+helloPostCID, "", nil, nil)

	// No rkey: a TID; no $type: the collection's. $link and $bytes pass
	// through as atproto JSON.
	rec := `{"text":"x","createdAt":"2022-01-02T03:04:05Z","ref":{"$link":"` + helloPostCID + `"},"raw":{"$bytes":"AAEC"}}`
	e.ok("POST", "com.atproto.repo.createRecord", s.AccessJwt, map[string]any{"repo": string(aliceDID), "collection": postNSID, "record": json.RawMessage(rec)}, &got)
	rkey := strings.TrimPrefix(got.URI, aliceURI)
	if _, err := syntax.ParseTID(rkey); err != nil {
		t.Errorf("createRecord without rkey: uri %s: %v", got.URI, err)
	}
	b = e.ok("GET", "com.atproto.repo.getRecord?repo=alice.pds.test&collection=app.bsky.feed.post&rkey="+rkey, "", nil, nil)
	wantValue := `{"$type":"app.bsky.feed.post","createdAt":"2022-01-02T03:04:05Z","raw":{"$bytes":"AAEC"},"ref":{"$link":"` + helloPostCID + `"},"text":"x"}`
	if want := `{"uri":"` + got.URI + `","cid":"` + got.CID + `","value":` + wantValue + `}`; strings.TrimSpace(string(b)) != want {
		t.Errorf("getRecord = %s, want %s", b, want)
	}

	bob := e.login(bobDID, bobHandle)
	big := strings.Repeat("x", 3<<20)
	large := strings.Repeat("x", 1_200_000)
	body := func(kv ...any) map[string]any {
		m := map[string]any{"repo": aliceHandle, "collection": postNSID, "rkey": "r1", "record": post("hi")}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	tests := []struct {
		name    string
		token   string
		body    any
		status  int
		err     string
		msgPart string
	}{
		{"no token", "", body(), 401, "AuthMissing", "Authentication Required"},
		{"other account", bob.AccessJwt, body(), 401, "AuthenticationRequired", "did:web:bob.pds.test"},
		{"unknown repo", s.AccessJwt, body("repo", "carol.pds.test"), 400, "RepoNotFound", "carol.pds.test"},
		{"no repo", s.AccessJwt, body("repo", nil), 400, "InvalidRequest", `"repo"`},
		{"bad repo", s.AccessJwt, body("repo", "did:nope"), 400, "InvalidRequest", "Input/repo"},
		{"no collection", s.AccessJwt, body("collection", nil), 400, "InvalidRequest", `"collection"`},
		{"bad collection", s.AccessJwt, body("collection", "not an nsid"), 400, "InvalidRequest", "Input/collection must be a valid nsid"},
		{"bad rkey", s.AccessJwt, body("rkey", "a/b"), 400, "InvalidRequest", "Input/rkey must be a valid record-key"},
		{"dot rkey", s.AccessJwt, body("rkey", ".."), 400, "InvalidRequest", "Input/rkey"},
		{"bad swapCommit", s.AccessJwt, body("swapCommit", "bafynope"), 400, "InvalidRequest", "Input/swapCommit must be a valid cid"},
		{"wrong swapCommit", s.AccessJwt, body("swapCommit", helloPostCID), 400, "InvalidSwap", ""},
		{"no record", s.AccessJwt, body("record", nil), 400, "InvalidRequest", `"record"`},
		{"record not an object", s.AccessJwt, body("record", "text"), 400, "InvalidRequest", "Input/record"},
		{"wrong $type", s.AccessJwt, body("record", map[string]any{"$type": "app.bsky.feed.like"}), 400, "InvalidRequest", "invalid $type"},
		{"float", s.AccessJwt, body("record", map[string]any{"n": 1.5}), 400, "InvalidRequest", "Input/record"},
		{"bad $link", s.AccessJwt, body("record", map[string]any{"r": map[string]any{"$link": "nope"}}), 400, "InvalidRequest", "Input/record"},
		{"wrong type", s.AccessJwt, body("collection", 5), 400, "InvalidRequest", "collection"},
		{"bad json", s.AccessJwt, `{"repo":"alice.pds.test",`, 400, "InvalidRequest", "malformed JSON"},
		{"3 MB record", s.AccessJwt, body("record", post(big)), 413, "PayloadTooLarge", ""},
		{"1.2 MB record", s.AccessJwt, body("record", post(large)), 400, "InvalidRequest", "at most 1000000"},
		{"existing rkey", s.AccessJwt, body("rkey", helloKey), 400, "InvalidRequest", "exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := e.fail("POST", "com.atproto.repo.createRecord", tt.token, tt.body, tt.status, tt.err)
			if !strings.Contains(msg, tt.msgPart) {
				t.Errorf("message %q, want it to contain %q", msg, tt.msgPart)
			}
		})
	}
	if _, err := e.st.GetRecord(context.Background(), aliceDID, postNSID, "r1"); err == nil {
		t.Error("a refused createRecord wrote r1")
	}
	// The right swapCommit.
	h = e.head(aliceDID)
	e.ok("POST", "com.atproto.repo.createRecord", s.AccessJwt, body("swapCommit", h.CID), nil)
}

func TestGetRecordErrors(t *testing.T) {
	e := newEnv(t, nil)
	s := e.login(aliceDID, aliceHandle)
	e.ok("POST", "com.atproto.repo.createRecord", s.AccessJwt, map[string]any{"repo": aliceHandle, "collection": postNSID, "rkey": "hello", "record": json.RawMessage(helloPost)}, nil)
	base := "com.atproto.repo.getRecord?"
	tests := []struct {
		name, query, err, msgPart string
	}{
		{"missing", "repo=alice.pds.test&collection=app.bsky.feed.post&rkey=nope", "RecordNotFound", aliceURI + "nope"},
		{"other cid", "repo=alice.pds.test&collection=app.bsky.feed.post&rkey=hello&cid=bafyreifopfvhllxlclfjqzd3a5rzs36h5ehqeurxogc7va5sjm23uh67la", "RecordNotFound", "hello"},
		{"other collection", "repo=alice.pds.test&collection=app.bsky.feed.like&rkey=hello", "RecordNotFound", ""},
		{"missing by did", "repo=did:web:alice.pds.test&collection=app.bsky.feed.post&rkey=nope", "RecordNotFound", aliceURI + "nope"},
		{"other cid by did", "repo=did:web:alice.pds.test&collection=app.bsky.feed.post&rkey=hello&cid=bafyreifopfvhllxlclfjqzd3a5rzs36h5ehqeurxogc7va5sjm23uh67la", "RecordNotFound", aliceURI + "hello"},
		{"unknown repo", "repo=did:web:nobody.test&collection=app.bsky.feed.post&rkey=hello", "RepoNotFound", "Could not find repo: did:web:nobody.test"},
		{"unknown handle", "repo=nobody.pds.test&collection=app.bsky.feed.post&rkey=hello", "RepoNotFound", "Could not find repo: nobody.pds.test"},
		{"no repo", "collection=app.bsky.feed.post&rkey=hello", "InvalidRequest", `"repo"`},
		{"bad repo", "repo=-bad-&collection=app.bsky.feed.post&rkey=hello", "InvalidRequest", "repo must be a valid value"},
		{"bad nsid", "repo=alice.pds.test&collection=post&rkey=hello", "InvalidRequest", "collection must be a valid value"},
		{"bad rkey", "repo=alice.pds.test&collection=app.bsky.feed.post&rkey=a%20b", "InvalidRequest", "rkey must be a valid value"},
		{"bad cid", "repo=alice.pds.test&collection=app.bsky.feed.post&rkey=hello&cid=xyz", "InvalidRequest", "cid must be a valid value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := e.fail("GET", base+tt.query, "", nil, 400, tt.err)
			if !strings.Contains(msg, tt.msgPart) {
				t.Errorf("message %q, want it to contain %q", msg, tt.msgPart)
			}
		})
	}
}

// TestGetRecordAnswer checks getRecord's answer byte for byte for a record
// past 2 KiB whose text needs escapes, and that it carries its length
// rather than going out chunked.
func TestGetRecordAnswer(t *testing.T) {
	e := newEnv(t, nil)
	s := e.login(aliceDID, aliceHandle)
	text := strings.Repeat("<b>&amp; \"quoted\" back\\slash\ttab\u2028 é ", 60)
	// A collection without a lexicon here: a post's text is at most 300
	// graphemes.
	rec := map[string]any{"$type": "com.example.note", "text": text}
	var created struct{ URI, CID string }
	e.ok("POST", "com.atproto.repo.createRecord", s.AccessJwt, map[string]any{"repo": aliceHandle, "collection": "com.example.note", "rkey": "big", "record": rec}, &created)
	status, h, b := e.do("GET", "com.atproto.repo.getRecord?repo=alice.pds.test&collection=com.example.note&rkey=big", "", nil)
	if status != http.StatusOK {
		t.Fatalf("getRecord = %d %s", status, b)
	}
	value, err := datamodel.ToJSON(rec)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"uri":"at://did:web:alice.pds.test/com.example.note/big","cid":"` + created.CID + `","value":` + string(value) + "}\n"
	if string(b) != want {
		t.Errorf("getRecord = %s, want %s", b, want)
	}
	if len(b) <= 2048 {
		t.Errorf("answer of %d bytes, want one past 2 KiB", len(b))
	}
	if got := h.Get("Content-Length"); got != fmt.Sprint(len(want)) {
		t.Errorf("Content-Length %q, want %d", got, len(want))
	}
	if got := h.Get("Content-Type"); got != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
	var out recordOutput
	if err := json.Unmarshal(b, &out); err != nil || out.CID != created.CID {
		t.Errorf("answer decodes to %+v, %v", out, err)
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", `""`},
		{"at://did:plc:abc/app.bsky.feed.post/3jzfcijpj2z2a", `"at://did:plc:abc/app.bsky.feed.post/3jzfcijpj2z2a"`},
		{`a"b`, `"a\"b"`},
		{`a\b`, `"a\\b"`},
		{"a\nb", `"a\nb"`},
		{"\x7f", "\"\x7f\""},
		{"é<", `"é\u003c"`},
	} {
		got := string(appendJSONString([]byte("x"), tt.in))
		if got != "x"+tt.want {
			t.Errorf("appendJSONString(%q) = %s, want x%s", tt.in, got, tt.want)
		}
		var back string
		if err := json.Unmarshal([]byte(got[1:]), &back); err != nil || back != tt.in {
			t.Errorf("appendJSONString(%q) reads back as %q, %v", tt.in, back, err)
		}
	}
}

// TestGetRecordInactiveRepo checks that getRecord answers a repo that is
// not active with its status, by DID or handle, record or not, and the
// record again once the repo is active.
func TestGetRecordInactiveRepo(t *testing.T) {
	e := newEnv(t, nil)
	s := e.login(aliceDID, aliceHandle)
	var created struct{ CID string }
	e.ok("POST", "com.atproto.repo.createRecord", s.AccessJwt, map[string]any{"repo": aliceHandle, "collection": postNSID, "rkey": "hello", "record": json.RawMessage(helloPost)}, &created)
	queries := []string{
		"repo=did:web:alice.pds.test&collection=app.bsky.feed.post&rkey=hello",
		"repo=alice.pds.test&collection=app.bsky.feed.post&rkey=hello",
		"repo=did:web:alice.pds.test&collection=app.bsky.feed.post&rkey=nope",
	}
	for _, tc := range []struct {
		set  func(context.Context, syntax.DID) error
		name string
	}{
		{e.st.Deactivate, "RepoDeactivated"},
		{e.st.Takedown, "RepoTakendown"},
	} {
		if err := tc.set(context.Background(), aliceDID); err != nil {
			t.Fatal(err)
		}
		for _, q := range queries {
			if msg := e.fail("GET", "com.atproto.repo.getRecord?"+q, "", nil, 400, tc.name); !strings.Contains(msg, "did:web:alice.pds.test") {
				t.Errorf("getRecord?%s: message %q, want the repo's DID", q, msg)
			}
		}
	}
	if err := e.st.Activate(context.Background(), aliceDID); err != nil {
		t.Fatal(err)
	}
	var got recordOutput
	e.ok("GET", "com.atproto.repo.getRecord?"+queries[0], "", nil, &got)
	if created.CID != helloPostCID || got.CID != helloPostCID || got.URI != aliceURI+"hello" {
		t.Errorf("getRecord after activate = %s %s (created %s), want %s %s", got.URI, got.CID, created.CID, aliceURI+"hello", helloPostCID)
	}
}

func TestPutDeleteRecord(t *testing.T) {
	e := newEnv(t, nil)
	s := e.login(aliceDID, aliceHandle)
	put := func(kv ...any) map[string]any {
		m := map[string]any{"repo": aliceHandle, "collection": postNSID, "rkey": "p", "record": json.RawMessage(helloPost)}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	// Create by put, then the same value again: no commit.
	var got writeOutput
	e.ok("POST", "com.atproto.repo.putRecord", s.AccessJwt, put(), &got)
	if h := e.head(aliceDID); got.URI != aliceURI+"p" || got.CID != helloPostCID || got.Commit == nil || *got.Commit != h {
		t.Errorf("putRecord = %+v", got)
	}
	before := e.lastSeq()
	b := e.ok("POST", "com.atproto.repo.putRecord", s.AccessJwt, put(), nil)
	if want := `{"uri":"` + aliceURI + `p","cid":"` + helloPostCID + `","validationStatus":"valid"}`; strings.TrimSpace(string(b)) != want {
		t.Errorf("no-op putRecord = %s, want %s", b, want)
	}
	if e.lastSeq() != before {
		t.Error("a no-op putRecord committed")
	}
	other := "bafyreifopfvhllxlclfjqzd3a5rzs36h5ehqeurxogc7va5sjm23uh67la"
	e.fail("POST", "com.atproto.repo.putRecord", s.AccessJwt, put("record", post("v2"), "swapRecord", other), 400, "InvalidSwap")
	e.fail("POST", "com.atproto.repo.putRecord", s.AccessJwt, put("record", post("v2"), "swapRecord", nil), 400, "InvalidSwap")
	e.fail("POST", "com.atproto.repo.putRecord", s.AccessJwt, put("record", post("v2"), "swapCommit", other), 400, "InvalidSwap")
	e.fail("POST", "com.atproto.repo.putRecord", s.AccessJwt, put("record", post("v2"), "swapRecord", 7), 400, "InvalidRequest")
	e.fail("POST", "com.atproto.repo.putRecord", s.AccessJwt, put("rkey", nil), 400, "InvalidRequest")
	e.fail("POST", "com.atproto.repo.putRecord", s.AccessJwt, map[string]any{"repo": aliceHandle, "collection": postNSID, "record": post("v2")}, 400, "InvalidRequest")
	// Update with the right swaps.
	e.ok("POST", "com.atproto.repo.putRecord", s.AccessJwt, put("record", post("v2"), "swapRecord", helloPostCID, "swapCommit", e.head(aliceDID).CID), &got)
	rec, err := e.st.GetRecord(context.Background(), aliceDID, postNSID, "p")
	if err != nil || rec.CID.String() != got.CID || got.CID == helloPostCID {
		t.Errorf("after putRecord: %v %v, answer %s", rec, err, got.CID)
	}
	// swapRecord null creates only.
	e.ok("POST", "com.atproto.repo.putRecord", s.AccessJwt, put("rkey", "fresh", "swapRecord", nil), nil)

	// Delete: wrong swaps refused; then a commit; deleting again is a no-op.
	del := map[string]any{"repo": aliceHandle, "collection": postNSID, "rkey": "p"}
	e.fail("POST", "com.atproto.repo.deleteRecord", s.AccessJwt, map[string]any{"repo": aliceHandle, "collection": postNSID, "rkey": "p", "swapRecord": helloPostCID}, 400, "InvalidSwap")
	e.fail("POST", "com.atproto.repo.deleteRecord", s.AccessJwt, map[string]any{"repo": aliceHandle, "collection": postNSID, "rkey": "p", "swapCommit": other}, 400, "InvalidSwap")
	e.fail("POST", "com.atproto.repo.deleteRecord", "", del, 401, "AuthMissing")
	e.fail("POST", "com.atproto.repo.deleteRecord", s.AccessJwt, map[string]any{"repo": aliceHandle, "collection": postNSID}, 400, "InvalidRequest")
	var dg struct{ Commit *commitMeta }
	e.ok("POST", "com.atproto.repo.deleteRecord", s.AccessJwt, del, &dg)
	if h := e.head(aliceDID); dg.Commit == nil || *dg.Commit != h {
		t.Errorf("deleteRecord = %+v, want commit %+v", dg.Commit, h)
	}
	before = e.lastSeq()
	if b := e.ok("POST", "com.atproto.repo.deleteRecord", s.AccessJwt, del, nil); strings.TrimSpace(string(b)) != `{}` {
		t.Errorf("deleting a missing record = %s", b)
	}
	if e.lastSeq() != before {
		t.Error("deleting a missing record committed")
	}
	e.fail("POST", "com.atproto.repo.deleteRecord", s.AccessJwt, map[string]any{"repo": aliceHandle, "collection": postNSID, "rkey": "p", "swapRecord": helloPostCID}, 400, "InvalidSwap")
	e.fail("GET", "com.atproto.repo.getRecord?repo=alice.pds.test&collection=app.bsky.feed.post&rkey=p", "", nil, 400, "RecordNotFound")
}

func TestListRecords(t *testing.T) {
	e := newEnv(t, nil)
	s := e.login(aliceDID, aliceHandle)
	cids := map[string]string{}
	for _, k := range []string{"c", "a", "e", "b", "d"} {
		var got writeOutput
		e.ok("POST", "com.atproto.repo.createRecord", s.AccessJwt, map[string]any{"repo": aliceHandle, "collection": postNSID, "rkey": k, "record": post(k)}, &got)
		cids[k] = got.CID
	}
	e.ok("POST", "com.atproto.repo.createRecord", s.AccessJwt, map[string]any{"repo": aliceHandle, "collection": "app.bsky.feed.like", "rkey": "a",
		"record": map[string]any{"subject": map[string]any{"uri": aliceURI + "a", "cid": cids["a"]}, "createdAt": "2022-01-02T03:04:05Z"}}, nil)
	page := func(query string, keys []string, cursor string) {
		t.Helper()
		var got struct {
			Cursor  *string
			Records []struct {
				URI, CID string
				Value    map[string]any
			}
		}
		e.ok("GET", "com.atproto.repo.listRecords?repo=alice.pds.test&collection=app.bsky.feed.post"+query, "", nil, &got)
		var gotKeys []string
		for _, r := range got.Records {
			k := strings.TrimPrefix(r.URI, aliceURI)
			gotKeys = append(gotKeys, k)
			if r.CID != cids[k] || r.Value["text"] != k || r.Value["$type"] != postNSID {
				t.Errorf("listRecords%s: record %s = %+v", query, k, r)
			}
		}
		gotCursor := ""
		if got.Cursor != nil {
			gotCursor = *got.Cursor
		}
		if fmt.Sprint(gotKeys) != fmt.Sprint(keys) || gotCursor != cursor {
			t.Errorf("listRecords%s = %v cursor %q, want %v cursor %q", query, gotKeys, gotCursor, keys, cursor)
		}
	}
	// Newest (highest rkey) first, as the reference PDS lists them;
	// reverse=true lists oldest first.
	page("", []string{"e", "d", "c", "b", "a"}, "")
	page("&limit=2", []string{"e", "d"}, "d")
	page("&limit=2&cursor=d", []string{"c", "b"}, "b")
	page("&limit=2&cursor=b", []string{"a"}, "")
	page("&limit=2&reverse=true", []string{"a", "b"}, "b")
	page("&limit=2&reverse=true&cursor=b", []string{"c", "d"}, "d")
	page("&cursor=a", nil, "")
	page("&reverse=true&cursor=e", nil, "")
	// A page byte for byte, with its length.
	status, h, b := e.do("GET", "com.atproto.repo.listRecords?repo=alice.pds.test&collection=app.bsky.feed.post&limit=2", "", nil)
	rec := func(k string) string {
		v, err := datamodel.ToJSON(post(k))
		if err != nil {
			t.Fatal(err)
		}
		return `{"uri":"` + aliceURI + k + `","cid":"` + cids[k] + `","value":` + string(v) + `}`
	}
	if want := `{"cursor":"d","records":[` + rec("e") + `,` + rec("d") + "]}\n"; status != 200 || string(b) != want {
		t.Errorf("listRecords limit=2 = %d %s, want %s", status, b, want)
	}
	if got := h.Get("Content-Length"); got != fmt.Sprint(len(b)) {
		t.Errorf("listRecords Content-Length %q, want %d", got, len(b))
	}
	b = e.ok("GET", "com.atproto.repo.listRecords?repo=alice.pds.test&collection=app.bsky.feed.repost", "", nil, nil)
	if string(b) != "{\"records\":[]}\n" {
		t.Errorf("empty collection = %q", b)
	}
	for _, q := range []string{"repo=alice.pds.test", "collection=app.bsky.feed.post", "repo=alice.pds.test&collection=nsid",
		"repo=alice.pds.test&collection=app.bsky.feed.post&limit=0", "repo=alice.pds.test&collection=app.bsky.feed.post&limit=101",
		"repo=alice.pds.test&collection=app.bsky.feed.post&limit=x", "repo=alice.pds.test&collection=app.bsky.feed.post&reverse=yes"} {
		e.fail("GET", "com.atproto.repo.listRecords?"+q, "", nil, 400, "InvalidRequest")
	}
	e.fail("GET", "com.atproto.repo.listRecords?repo=nobody.pds.test&collection=app.bsky.feed.post", "", nil, 400, "RepoNotFound")
}

func TestDescribeRepo(t *testing.T) {
	e := newEnv(t, nil)
	s := e.login(aliceDID, aliceHandle)
	e.ok("POST", "com.atproto.repo.createRecord", s.AccessJwt, map[string]any{"repo": aliceHandle, "collection": postNSID, "rkey": "a", "record": post("a")}, nil)
	e.ok("POST", "com.atproto.repo.createRecord", s.AccessJwt, map[string]any{"repo": aliceHandle, "collection": "app.bsky.actor.profile", "rkey": "self",
		"record": map[string]any{"displayName": "Alice"}}, nil)
	b := e.ok("GET", "com.atproto.repo.describeRepo?repo=alice.pds.test", "", nil, nil)
	mb := strings.TrimPrefix(testutil.TestKey(t).PublicKey().DIDKey(), keys.DIDKeyPrefix)
	want := `{"collections":["app.bsky.actor.profile","app.bsky.feed.post"],"did":"did:web:alice.pds.test",` +
		`"didDoc":{"@context":["https://www.w3.org/ns/did/v1","https://w3id.org/security/multikey/v1","https://w3id.org/security/suites/secp256k1-2019/v1"],` +
		`"id":"did:web:alice.pds.test","alsoKnownAs":["at://alice.pds.test"],` +
		`"verificationMethod":[{"id":"did:web:alice.pds.test#atproto","type":"Multikey","controller":"did:web:alice.pds.test","publicKeyMultibase":"` + mb + `"}],` +
		`"service":[{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"https://pds.test"}]},` +
		`"handle":"alice.pds.test","handleIsCorrect":true}`
	if strings.TrimSpace(string(b)) != want {
		t.Errorf("describeRepo =\n%s\nwant\n%s", b, want)
	}
	// A handle outside HandleDomains is not known to be correct (no DNS).
	e2 := newEnv(t, &Options{HandleDomains: []string{".elsewhere.test"}})
	e2.account(aliceDID, aliceHandle)
	var got map[string]any
	e2.ok("GET", "com.atproto.repo.describeRepo?repo=did:web:alice.pds.test", "", nil, &got)
	if got["handleIsCorrect"] != false || got["handle"] != aliceHandle || fmt.Sprint(got["collections"]) != "[]" {
		t.Errorf("describeRepo = %v", got)
	}
	e.fail("GET", "com.atproto.repo.describeRepo?repo=nobody.pds.test", "", nil, 400, "RepoNotFound")
	e.fail("GET", "com.atproto.repo.describeRepo", "", nil, 400, "InvalidRequest")
	e.fail("GET", "com.atproto.repo.describeRepo?repo=did:bad", "", nil, 400, "InvalidRequest")
}

func TestApplyWrites(t *testing.T) {
	e := newEnv(t, nil)
	s := e.login(aliceDID, aliceHandle)
	e.ok("POST", "com.atproto.repo.createRecord", s.AccessJwt, map[string]any{"repo": aliceHandle, "collection": postNSID, "rkey": "old", "record": post("old")}, nil)
	e.ok("POST", "com.atproto.repo.createRecord", s.AccessJwt, map[string]any{"repo": aliceHandle, "collection": postNSID, "rkey": "gone", "record": post("gone")}, nil)
	before := e.lastSeq()
	var got struct {
		Commit  *commitMeta
		Results []map[string]any
	}
	e.ok("POST", "com.atproto.repo.applyWrites", s.AccessJwt, map[string]any{"repo": aliceHandle, "validate": false, "writes": []any{
		map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": postNSID, "rkey": "hello", "value": json.RawMessage(helloPost)},
		map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": postNSID, "value": post("tid")},
		map[string]any{"$type": "com.atproto.repo.applyWrites#update", "collection": postNSID, "rkey": "old", "value": post("new")},
		map[string]any{"$type": "com.atproto.repo.applyWrites#delete", "collection": postNSID, "rkey": "gone"},
	}}, &got)
	if after := e.lastSeq(); after != before+1 {
		t.Errorf("applyWrites: LastSeq %d -> %d, want one commit", before, after)
	}
	if h := e.head(aliceDID); got.Commit == nil || *got.Commit != h {
		t.Errorf("applyWrites commit = %+v, want %+v", got.Commit, h)
	}
	ctx := context.Background()
	newRec, _ := e.st.GetRecord(ctx, aliceDID, postNSID, "old")
	if len(got.Results) != 4 {
		t.Fatalf("results = %v", got.Results)
	}
	tidURI, _ := got.Results[1]["uri"].(string)
	if _, err := syntax.ParseTID(strings.TrimPrefix(tidURI, aliceURI)); err != nil {
		t.Errorf("created rkey: %s", tidURI)
	}
	tidRec, err := e.st.GetRecord(ctx, aliceDID, postNSID, syntax.RecordKey(strings.TrimPrefix(tidURI, aliceURI)))
	if err != nil {
		t.Fatal(err)
	}
	// validate: false: no validationStatus, as in the reference PDS.
	want := []map[string]any{
		{"$type": "com.atproto.repo.applyWrites#createResult", "uri": aliceURI + "hello", "cid": helloPostCID},
		{"$type": "com.atproto.repo.applyWrites#createResult", "uri": tidURI, "cid": tidRec.CID.String()},
		{"$type": "com.atproto.repo.applyWrites#updateResult", "uri": aliceURI + "old", "cid": newRec.CID.String()},
		{"$type": "com.atproto.repo.applyWrites#deleteResult"},
	}
	if fmt.Sprint(got.Results) != fmt.Sprint(want) {
		t.Errorf("results =\n%v\nwant\n%v", got.Results, want)
	}
	if _, err := e.st.GetRecord(ctx, aliceDID, postNSID, "gone"); err == nil {
		t.Error("the delete did not apply")
	}

	w := func(typ, rkey string, value any) map[string]any {
		m := map[string]any{"$type": "com.atproto.repo.applyWrites#" + typ, "collection": postNSID, "rkey": rkey}
		if value != nil {
			m["value"] = value
		}
		return m
	}
	many := make([]any, 201)
	for i := range many {
		many[i] = w("create", fmt.Sprintf("r%d", i), post("x"))
	}
	bob := e.login(bobDID, bobHandle)
	tests := []struct {
		name    string
		token   string
		body    any
		status  int
		err     string
		msgPart string
	}{
		{"201 writes", s.AccessJwt, map[string]any{"repo": aliceHandle, "writes": many}, 400, "InvalidRequest", "Too many writes. Max: 200"},
		{"no writes", s.AccessJwt, map[string]any{"repo": aliceHandle}, 400, "InvalidRequest", `"writes"`},
		{"no token", "", map[string]any{"repo": aliceHandle, "writes": []any{w("create", "n", post("n"))}}, 401, "AuthMissing", ""},
		{"other account", bob.AccessJwt, map[string]any{"repo": aliceHandle, "writes": []any{w("create", "n", post("n"))}}, 401, "AuthenticationRequired", ""},
		{"bad $type", s.AccessJwt, map[string]any{"repo": aliceHandle, "writes": []any{w("create", "n", post("n")), w("upsert", "m", post("m"))}}, 400, "InvalidRequest", "Input/writes/1/$type"},
		{"short $type", s.AccessJwt, map[string]any{"repo": aliceHandle, "writes": []any{map[string]any{"$type": "#create", "collection": postNSID, "value": post("n")}}}, 400, "InvalidRequest", "Input/writes/0/$type"},
		{"bad collection", s.AccessJwt, map[string]any{"repo": aliceHandle, "writes": []any{w("create", "n", post("n")), map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": "nope", "value": post("m")}}}, 400, "InvalidRequest", "Input/writes/1/collection must be a valid nsid"},
		{"bad rkey", s.AccessJwt, map[string]any{"repo": aliceHandle, "writes": []any{w("delete", "a b", nil)}}, 400, "InvalidRequest", "Input/writes/0/rkey"},
		{"update without rkey", s.AccessJwt, map[string]any{"repo": aliceHandle, "writes": []any{map[string]any{"$type": "com.atproto.repo.applyWrites#update", "collection": postNSID, "value": post("m")}}}, 400, "InvalidRequest", "rkey"},
		{"no value", s.AccessJwt, map[string]any{"repo": aliceHandle, "writes": []any{w("create", "n", nil)}}, 400, "InvalidRequest", "writes/0/value"},
		{"update of missing", s.AccessJwt, map[string]any{"repo": aliceHandle, "writes": []any{w("create", "n", post("n")), w("update", "missing", post("m"))}}, 400, "InvalidRequest", "no such record"},
		{"delete of missing", s.AccessJwt, map[string]any{"repo": aliceHandle, "writes": []any{w("create", "n", post("n")), w("delete", "missing", nil)}}, 400, "InvalidRequest", "no such record"},
		{"two writes to one path", s.AccessJwt, map[string]any{"repo": aliceHandle, "writes": []any{w("create", "n", post("n")), w("update", "n", post("m"))}}, 400, "InvalidRequest", "more than one write"},
		{"wrong swapCommit", s.AccessJwt, map[string]any{"repo": aliceHandle, "swapCommit": helloPostCID, "writes": []any{w("create", "n", post("n"))}}, 400, "InvalidSwap", ""},
		{"writes not a list", s.AccessJwt, map[string]any{"repo": aliceHandle, "writes": "x"}, 400, "InvalidRequest", "malformed JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := e.fail("POST", "com.atproto.repo.applyWrites", tt.token, tt.body, tt.status, tt.err)
			if !strings.Contains(msg, tt.msgPart) {
				t.Errorf("message %q, want it to contain %q", msg, tt.msgPart)
			}
		})
	}
	if _, err := e.st.GetRecord(ctx, aliceDID, postNSID, "n"); err == nil {
		t.Error("a refused applyWrites wrote n")
	}
	// 200 writes is the limit, and fits.
	e.ok("POST", "com.atproto.repo.applyWrites", s.AccessJwt, map[string]any{"repo": aliceHandle, "swapCommit": e.head(aliceDID).CID, "writes": many[:200]}, nil)
}

func TestUploadBlob(t *testing.T) {
	e := newEnv(t, &Options{MaxBlobSize: 10})
	s := e.login(aliceDID, aliceHandle)
	status, _, b := e.doType("POST", "com.atproto.repo.uploadBlob", s.AccessJwt, "image/png", []byte("abc"))
	want := `{"blob":{"$type":"blob","ref":{"$link":"bafkreif2pall7dybz7vecqka3zo24irdwabwdi4wc55jznaq75q7eaavvu"},"mimeType":"image/png","size":3}}`
	if status != 200 || strings.TrimSpace(string(b)) != want {
		t.Errorf("uploadBlob = %d %s, want %s", status, b, want)
	}
	blob, err := e.st.StatBlob(context.Background(), datamodel.RawCID([]byte("abc")))
	if err != nil || blob.MIMEType != "image/png" || blob.Size != 3 {
		t.Errorf("StatBlob = %+v, %v", blob, err)
	}
	check := func(name, token, ct string, body any, status int, errName string) {
		t.Helper()
		got, _, b := e.doType("POST", "com.atproto.repo.uploadBlob", token, ct, body)
		e.checkFail(name, got, b, status, errName, e.lastSeq())
	}
	check("too large", s.AccessJwt, "image/png", []byte("0123456789a"), 413, "PayloadTooLarge")
	check("no token", "", "image/png", []byte("abc"), 401, "AuthMissing")
	check("bad type", s.AccessJwt, "image/png; ===", []byte("xyz"), 400, "InvalidRequest")
	if _, err := e.st.StatBlob(context.Background(), datamodel.RawCID([]byte("0123456789a"))); err == nil {
		t.Error("a refused blob was stored")
	}
	// A streamed body with no Content-Length is cut at the limit too.
	req, _ := http.NewRequest("POST", e.hs.URL+"/xrpc/com.atproto.repo.uploadBlob", struct{ *bytes.Reader }{bytes.NewReader([]byte("0123456789abcdef"))})
	req.Header.Set("Authorization", "Bearer "+s.AccessJwt)
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if name, _ := xrpcError(t, resp); resp.StatusCode != 413 || name != "PayloadTooLarge" {
		t.Errorf("streamed too-large blob = %d %s", resp.StatusCode, name)
	}
	// Without a Content-Type, application/octet-stream.
	status, _, b = e.doType("POST", "com.atproto.repo.uploadBlob", s.AccessJwt, "", []byte("raw"))
	if status != 200 || !strings.Contains(string(b), `"mimeType":"application/octet-stream"`) {
		t.Errorf("uploadBlob without type = %d %s", status, b)
	}
}

func TestImportRepo(t *testing.T) {
	clk := &testClock{t: testutil.Now}
	e := newEnvClock(t, nil, clk)
	s := e.login(aliceDID, aliceHandle)
	ctx := context.Background()
	// The same repo, DID and key, written elsewhere after the account here.
	src := testutil.MustOpenStore(t, &atlite.Options{Now: clk.Now})
	if _, err := src.CreateRepo(ctx, aliceDID, &atlite.CreateRepoOptions{SigningKey: testutil.TestKey(t)}); err != nil {
		t.Fatal(err)
	}
	export := func(st *atlite.Store, d syntax.DID) []byte {
		var buf bytes.Buffer
		if _, err := st.ExportCAR(ctx, d, &buf, nil); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	if _, err := src.PutRecordJSON(ctx, aliceDID, postNSID, "hello", []byte(helloPost)); err != nil {
		t.Fatal(err)
	}
	car := export(src, aliceDID)
	const carType = "application/vnd.ipld.car"
	before := e.lastSeq()
	if status, _, b := e.doType("POST", "com.atproto.repo.importRepo", s.AccessJwt, carType, car); status != 200 {
		t.Fatalf("importRepo = %d %s", status, b)
	}
	if after := e.lastSeq(); after != before+1 {
		t.Errorf("importRepo: LastSeq %d -> %d, want one #sync", before, after)
	}
	srcRepo, _ := src.LoadRepo(ctx, aliceDID.AtIdentifier())
	if h := e.head(aliceDID); h.CID != srcRepo.Head.String() {
		t.Errorf("head after import = %s, want %s", h.CID, srcRepo.Head)
	}
	var rec recordOutput
	e.ok("GET", "com.atproto.repo.getRecord?repo=alice.pds.test&collection=app.bsky.feed.post&rkey=hello", "", nil, &rec)
	if rec.CID != helloPostCID {
		t.Errorf("imported record cid %s", rec.CID)
	}
	// The imported repo is still written to with the account's key.
	e.ok("POST", "com.atproto.repo.createRecord", s.AccessJwt, map[string]any{"repo": aliceHandle, "collection": postNSID, "rkey": "after", "record": post("after")}, nil)

	// Refusals write nothing.
	if _, err := src.PutRecordJSON(ctx, aliceDID, postNSID, "more", []byte(`{"text":"more"}`)); err != nil {
		t.Fatal(err)
	}
	car2 := export(src, aliceDID)
	bobKey, _ := keys.GenerateK256()
	if _, err := src.CreateRepo(ctx, bobDID, &atlite.CreateRepoOptions{SigningKey: bobKey}); err != nil {
		t.Fatal(err)
	}
	bobCAR := export(src, bobDID)
	check := func(name, token, ct string, body []byte, status int, errName string) {
		t.Helper()
		got, _, b := e.doType("POST", "com.atproto.repo.importRepo", token, ct, body)
		e.checkFail(name, got, b, status, errName, e.lastSeq())
	}
	check("truncated", s.AccessJwt, carType, car2[:len(car2)/2], 400, "InvalidRequest")
	check("truncated header", s.AccessJwt, carType, car2[:5], 400, "InvalidRequest")
	check("empty", s.AccessJwt, carType, nil, 400, "InvalidRequest")
	check("not a CAR", s.AccessJwt, carType, []byte("hello, world"), 400, "InvalidRequest")
	check("another key", s.AccessJwt, carType, bobCAR, 400, "InvalidRequest")
	check("wrong content type", s.AccessJwt, "application/json", car2, 400, "InvalidRequest")
	check("no token", "", carType, car2, 401, "AuthMissing")
	if _, err := e.st.GetRecord(ctx, aliceDID, postNSID, "more"); err == nil {
		t.Error("a refused import wrote a record")
	}
	if _, err := e.st.LoadRepo(ctx, bobDID.AtIdentifier()); err == nil {
		t.Error("a refused import created bob's repo")
	}

	small := newEnvClock(t, &Options{MaxImportSize: 100}, clk)
	ss := small.login(aliceDID, aliceHandle)
	got, _, b := small.doType("POST", "com.atproto.repo.importRepo", ss.AccessJwt, carType, car2)
	small.checkFail("over MaxImportSize", got, b, 413, "PayloadTooLarge", small.lastSeq())
	// Streamed, without a Content-Length, it is cut at the limit too.
	req, _ := http.NewRequest("POST", small.hs.URL+"/xrpc/com.atproto.repo.importRepo", struct{ *bytes.Reader }{bytes.NewReader(car2)})
	req.Header.Set("Authorization", "Bearer "+ss.AccessJwt)
	req.Header.Set("Content-Type", carType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if name, _ := xrpcError(t, resp); resp.StatusCode != 413 || name != "PayloadTooLarge" {
		t.Errorf("streamed import over the limit = %d %s", resp.StatusCode, name)
	}
}
