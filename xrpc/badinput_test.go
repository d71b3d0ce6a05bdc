package xrpc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/atlite-dev/atlite"
)

// Bad input through HTTP: every refusal is the exact XRPC error (status and
// name) and writes nothing — no new event seq, the same head, the same
// records and the same blobs. TestCreateRecord, TestGetRecordErrors,
// TestApplyWrites, TestImportRepo, TestUploadBlob, TestSyncErrors and
// TestAuthErrors cover the rest of the refusals; these tests extend them to
// every com.atproto.repo and com.atproto.sync method.

// repoState is what a refusal must leave unchanged.
type repoState struct {
	seq     int64
	head    string
	records string // alice's posts as listRecords answers them
	blobs   string
}

func (e *env) state() repoState {
	e.t.Helper()
	ctx := context.Background()
	st := repoState{seq: e.lastSeq(), head: e.head(aliceDID).CID}
	_, _, b := e.do("GET", "com.atproto.repo.listRecords?repo=alice.pds.test&collection=app.bsky.feed.post&limit=100", "", nil)
	st.records = string(b)
	cids, _, err := e.st.ListBlobs(ctx, aliceDID, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range cids {
		st.blobs += c.String() + " "
	}
	return st
}

// refused checks that a call failed with exactly status and name and left
// the state as before.
func (e *env) refused(what string, got int, b []byte, status int, name string, before repoState) {
	e.t.Helper()
	var xe struct{ Error, Message string }
	if err := json.Unmarshal(b, &xe); err != nil {
		e.t.Errorf("%s: error body %q: %v", what, b, err)
	}
	if got != status || xe.Error != name {
		e.t.Errorf("%s = %d %s %q, want %d %s", what, got, xe.Error, xe.Message, status, name)
	}
	if after := e.state(); after != before {
		e.t.Errorf("%s: state changed by a refused call:\nbefore %+v\nafter  %+v", what, before, after)
	}
}

// badEnv is alice's server with two posts and a blob cited by one.
func badEnv(t *testing.T) (*env, session, string) {
	e := newEnv(t, nil)
	s := e.login(aliceDID, aliceHandle)
	_, _, b := e.doType("POST", "com.atproto.repo.uploadBlob", s.AccessJwt, "image/png", []byte("a png, really"))
	var up struct{ Blob map[string]any }
	if err := json.Unmarshal(b, &up); err != nil || up.Blob == nil {
		t.Fatalf("uploadBlob = %s %v", b, err)
	}
	blobCID := up.Blob["ref"].(map[string]any)["$link"].(string)
	e.ok("POST", "com.atproto.repo.createRecord", s.AccessJwt, map[string]any{"repo": aliceHandle, "collection": postNSID, "rkey": "hello", "record": json.RawMessage(helloPost)}, nil)
	pic := post("pic")
	pic["embed"] = map[string]any{"$type": "app.bsky.embed.images", "images": []any{map[string]any{"alt": "", "image": up.Blob}}}
	e.ok("POST", "com.atproto.repo.createRecord", s.AccessJwt, map[string]any{"repo": aliceHandle, "collection": postNSID, "rkey": "pic", "record": pic}, nil)
	return e, s, blobCID
}

// TestBadInputParams: every parameter of every com.atproto.repo and
// com.atproto.sync query, missing when required and malformed, is 400
// InvalidRequest naming it.
func TestBadInputParams(t *testing.T) {
	e, s, blobCID := badEnv(t)
	head := e.head(aliceDID).CID
	did := string(aliceDID)
	type param struct {
		name, good string
		bad        []string // malformed values
		required   bool
	}
	repoP := param{"repo", aliceHandle, []string{"-bad-", "did:nope", "at://alice.pds.test", "alice..test"}, true}
	didP := param{"did", did, []string{"nope", "did:nope", aliceHandle, "did:web:", "DID:web:alice.pds.test"}, true}
	collP := param{"collection", postNSID, []string{"post", "app.bsky..post", "app.bsky.feed.post/x", "1pp.bsky.feed.post"}, true}
	rkeyP := param{"rkey", "hello", []string{"a b", "..", ".", "a/b", strings.Repeat("k", 513)}, true}
	badCIDs := []string{"xyz", "bafynope", "Qmnope", "bafyreibwxoxuto2bj2lsspzs6dl4kw6cyu3goswuxi5qbhpc2xlqvnnjg"}
	badTIDs := []string{"nope", "3kserve00001x", "zzzzzzzzzzzzz"}
	limit := func(max string) param {
		return param{"limit", "1", []string{"0", "-1", max, "x", "1.5"}, false}
	}
	methods := []struct {
		nsid   string
		token  bool
		params []param
	}{
		{"com.atproto.repo.getRecord", false, []param{repoP, collP, rkeyP, {"cid", helloPostCID, badCIDs, false}}},
		{"com.atproto.repo.listRecords", false, []param{repoP, collP, limit("101"), {"reverse", "true", []string{"yes", "1", "TRUE"}, false}}},
		{"com.atproto.repo.describeRepo", false, []param{repoP}},
		{"com.atproto.repo.listMissingBlobs", true, []param{limit("1001")}},
		{"com.atproto.sync.getRepo", false, []param{didP, {"since", "", badTIDs, false}}},
		{"com.atproto.sync.getCheckout", false, []param{didP}},
		{"com.atproto.sync.getRecord", false, []param{didP, collP, rkeyP}},
		{"com.atproto.sync.getBlocks", false, []param{didP, {"cids", head, badCIDs, true}}},
		{"com.atproto.sync.getLatestCommit", false, []param{didP}},
		{"com.atproto.sync.getHead", false, []param{didP}},
		{"com.atproto.sync.getRepoStatus", false, []param{didP}},
		{"com.atproto.sync.listRepos", false, []param{limit("1001")}},
		{"com.atproto.sync.listBlobs", false, []param{didP, {"since", "", badTIDs, false}, limit("1001"), {"cursor", "", badCIDs, false}}},
		{"com.atproto.sync.getBlob", false, []param{didP, {"cid", blobCID, badCIDs, true}}},
	}
	n := 0
	for _, m := range methods {
		token := ""
		if m.token {
			token = s.AccessJwt
		}
		query := func(except string, v *string) string {
			q := url.Values{}
			for _, p := range m.params {
				switch {
				case p.name == except && v != nil:
					q.Set(p.name, *v)
				case p.name == except, p.good == "":
				default:
					q.Set(p.name, p.good)
				}
			}
			return m.nsid + "?" + q.Encode()
		}
		// The good parameters are accepted: the refusals below are the bad
		// value's.
		e.ok("GET", query("", nil), token, nil, nil)
		for _, p := range m.params {
			type tc struct {
				what string
				v    *string
			}
			var cases []tc
			if p.required {
				cases = append(cases, tc{"missing", nil})
			}
			for _, v := range p.bad {
				cases = append(cases, tc{"bad " + v, &v})
			}
			for _, c := range cases {
				t.Run(m.nsid+"/"+p.name+"/"+c.what, func(t *testing.T) {
					before := e.state()
					got, _, b := e.do("GET", query(p.name, c.v), token, nil)
					e.refused("GET "+query(p.name, c.v), got, b, 400, "InvalidRequest", before)
					var xe struct{ Message string }
					json.Unmarshal(b, &xe)
					if !strings.Contains(xe.Message, p.name) {
						t.Errorf("message %q does not name %q", xe.Message, p.name)
					}
				})
				n++
			}
		}
	}
	// subscribeRepos' cursor over plain HTTP (no upgrade): still its error.
	for _, v := range []string{"-1", "x", "1.5"} {
		before := e.state()
		got, _, b := e.do("GET", "com.atproto.sync.subscribeRepos?cursor="+v, "", nil)
		e.refused("subscribeRepos cursor="+v, got, b, 400, "InvalidRequest", before)
		n++
	}
	t.Logf("%d refusals over %d methods", n, len(methods)+1)
}

// TestBadInputProcedures: bad JSON, wrong types, too large records, bad
// tokens and corrupt CARs on every com.atproto.repo procedure.
func TestBadInputProcedures(t *testing.T) {
	e, s, _ := badEnv(t)
	big := strings.Repeat("x", 3<<20)
	create := func(kv ...any) map[string]any {
		m := map[string]any{"repo": aliceHandle, "collection": postNSID, "record": post("new")}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	put := func(kv ...any) map[string]any {
		m := create("rkey", "hello")
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	del := func(kv ...any) map[string]any {
		m := map[string]any{"repo": aliceHandle, "collection": postNSID, "rkey": "hello"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	wcreate := func(rkey string, v any) map[string]any {
		return map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": postNSID, "rkey": rkey, "value": v}
	}
	apply := func(writes ...any) map[string]any {
		return map[string]any{"repo": aliceHandle, "writes": writes}
	}
	const (
		cr = "com.atproto.repo.createRecord"
		pr = "com.atproto.repo.putRecord"
		dr = "com.atproto.repo.deleteRecord"
		aw = "com.atproto.repo.applyWrites"
	)
	type tc struct {
		name, nsid string
		ct         string // "" for application/json
		body       any
		status     int
		err        string
	}
	tests := []tc{
		{"truncated JSON", pr, "", `{"repo":"alice.pds.test","collection":`, 400, "InvalidRequest"},
		{"truncated JSON", dr, "", `{"repo":"alice.pds.test"`, 400, "InvalidRequest"},
		{"truncated JSON", aw, "", `{"repo":"alice.pds.test","writes":[{"$type":`, 400, "InvalidRequest"},
		{"JSON array", cr, "", `[]`, 400, "InvalidRequest"},
		{"JSON string", pr, "", `"hello"`, 400, "InvalidRequest"},
		{"JSON null", aw, "", `null`, 400, "InvalidRequest"},
		{"two objects", cr, "", `{"repo":"alice.pds.test","collection":"app.bsky.feed.post","record":{"text":"a"}}{}`, 400, "InvalidRequest"},
		{"empty body", pr, "", ``, 400, "InvalidRequest"},
		{"empty body", dr, "", ``, 400, "InvalidRequest"},
		{"not UTF-8", cr, "", "{\"repo\":\"alice.pds.test\",\"collection\":\"app.bsky.feed.post\",\"record\":{\"text\":\"\xff\xfe\"}}", 400, "InvalidRequest"},
		{"text/plain", cr, "text/plain", `{"repo":"alice.pds.test","collection":"app.bsky.feed.post","record":{"text":"a"}}`, 400, "InvalidRequest"},
		{"text/plain", aw, "text/plain", apply(wcreate("n", post("n"))), 400, "InvalidRequest"},

		{"record as a string", pr, "", put("record", "text"), 400, "InvalidRequest"},
		{"record as an array", cr, "", create("record", []any{post("a")}), 400, "InvalidRequest"},
		{"record as a number", cr, "", create("record", 5), 400, "InvalidRequest"},
		{"record null", pr, "", put("record", nil), 400, "InvalidRequest"},
		{"value as a string", aw, "", apply(wcreate("n", "text")), 400, "InvalidRequest"},
		{"rkey as a number", cr, "", create("rkey", 5), 400, "InvalidRequest"},
		{"rkey as a number", pr, "", put("rkey", 5), 400, "InvalidRequest"},
		{"rkey as a number", dr, "", del("rkey", 5), 400, "InvalidRequest"},
		{"repo as a number", dr, "", del("repo", 5), 400, "InvalidRequest"},
		{"repo as an object", aw, "", map[string]any{"repo": map[string]any{}, "writes": []any{wcreate("n", post("n"))}}, 400, "InvalidRequest"},
		{"validate as a string", cr, "", create("validate", "yes"), 400, "InvalidRequest"},
		{"validate as a string", aw, "", map[string]any{"repo": aliceHandle, "validate": "no", "writes": []any{wcreate("n", post("n"))}}, 400, "InvalidRequest"},
		{"swapCommit as a number", aw, "", map[string]any{"repo": aliceHandle, "swapCommit": 7, "writes": []any{wcreate("n", post("n"))}}, 400, "InvalidRequest"},
		{"swapRecord as a number", dr, "", del("swapRecord", 7), 400, "InvalidRequest"},
		{"bad swapRecord CID", pr, "", put("swapRecord", "bafynope"), 400, "InvalidRequest"},
		{"bad swapCommit CID", dr, "", del("swapCommit", "xyz"), 400, "InvalidRequest"},
		{"write not an object", aw, "", apply("create"), 400, "InvalidRequest"},
		{"$type as a number", aw, "", apply(map[string]any{"$type": 1, "collection": postNSID, "value": post("n")}), 400, "InvalidRequest"},
		{"text as a number, float", cr, "", create("record", map[string]any{"$type": postNSID, "text": 1.5}), 400, "InvalidRequest"},
		{"bad collection", pr, "", put("collection", "post"), 400, "InvalidRequest"},
		{"bad collection", dr, "", del("collection", "a..b"), 400, "InvalidRequest"},
		{"bad rkey", pr, "", put("rkey", "a b"), 400, "InvalidRequest"},
		{"bad rkey", dr, "", del("rkey", ".."), 400, "InvalidRequest"},
		{"bad repo DID", pr, "", put("repo", "did:nope"), 400, "InvalidRequest"},
		{"unknown repo", dr, "", del("repo", "did:web:nobody.pds.test"), 400, "RepoNotFound"},
		{"unknown repo", aw, "", map[string]any{"repo": "nobody.pds.test", "writes": []any{wcreate("n", post("n"))}}, 400, "RepoNotFound"},

		{"3 MB record", pr, "", put("record", post(big)), 413, "PayloadTooLarge"},
		{"3 MB record", aw, "", apply(wcreate("n", post(big))), 413, "PayloadTooLarge"},
		{"3 MB of JSON whitespace", cr, "", strings.Repeat(" ", 3<<20) + `{}`, 413, "PayloadTooLarge"},
	}
	writes := make([]any, 201)
	for i := range writes {
		writes[i] = wcreate(fmt.Sprintf("w%03d", i), post("w"))
	}
	tests = append(tests, tc{"201 writes", aw, "", apply(writes...), 400, "InvalidRequest"})
	// One bad write among 200 good ones: the whole commit is refused.
	writes = writes[:200]
	writes[199] = wcreate("a b", post("w"))
	tests = append(tests, tc{"bad rkey in write 199", aw, "", apply(writes...), 400, "InvalidRequest"})

	for _, tt := range tests {
		t.Run(tt.nsid[len("com.atproto.repo."):]+"/"+tt.name, func(t *testing.T) {
			ct := tt.ct
			if ct == "" {
				ct = "application/json"
			}
			before := e.state()
			got, _, b := e.doType("POST", tt.nsid, s.AccessJwt, ct, tt.body)
			e.refused("POST "+tt.nsid+" "+tt.name, got, b, tt.status, tt.err, before)
		})
	}
}

// TestBadInputTokens: every authenticated com.atproto.repo method refuses
// a missing, garbage, refresh, revoked and (two hours later) expired token
// with its exact error, writing nothing.
func TestBadInputTokens(t *testing.T) {
	e, s, _ := badEnv(t)
	var car bytes.Buffer
	if _, err := e.st.ExportCAR(context.Background(), aliceDID, &car, nil); err != nil {
		t.Fatal(err)
	}
	type call struct {
		nsid, ct string
		body     any
		method   string
	}
	calls := []call{
		{"com.atproto.repo.createRecord", "application/json", map[string]any{"repo": aliceHandle, "collection": postNSID, "record": post("new")}, "POST"},
		{"com.atproto.repo.putRecord", "application/json", map[string]any{"repo": aliceHandle, "collection": postNSID, "rkey": "hello", "record": post("new")}, "POST"},
		{"com.atproto.repo.deleteRecord", "application/json", map[string]any{"repo": aliceHandle, "collection": postNSID, "rkey": "hello"}, "POST"},
		{"com.atproto.repo.applyWrites", "application/json", map[string]any{"repo": aliceHandle, "writes": []any{map[string]any{"$type": "com.atproto.repo.applyWrites#delete", "collection": postNSID, "rkey": "hello"}}}, "POST"},
		{"com.atproto.repo.uploadBlob", "image/png", []byte("another png"), "POST"},
		{"com.atproto.repo.importRepo", "application/vnd.ipld.car", car.Bytes(), "POST"},
		{"com.atproto.repo.listMissingBlobs", "", nil, "GET"},
	}
	other := e.signIn(aliceHandle, testPassword)
	e.ok("POST", "com.atproto.server.deleteSession", other.RefreshJwt, nil, nil)
	try := func(label, token string, status int, name string) {
		t.Helper()
		for _, c := range calls {
			before := e.state()
			got, _, b := e.doType(c.method, c.nsid, token, c.ct, c.body)
			e.refused(label+" "+c.nsid, got, b, status, name, before)
		}
	}
	try("no token", "", 401, "AuthMissing")
	try("garbage token", "not.a.jwt", 401, "InvalidToken")
	try("truncated token", s.AccessJwt[:len(s.AccessJwt)-5], 401, "InvalidToken")
	try("refresh token", s.RefreshJwt, 401, "InvalidToken")
	try("revoked session", other.AccessJwt, 401, "InvalidToken")
	e.clk.Advance(AccessTokenTTL)
	try("expired token", s.AccessJwt, 401, "ExpiredToken")
}

// TestBadInputImportRepo: CARs cut anywhere or with a flipped byte are
// refused whole, on top of TestImportRepo's cases.
func TestBadInputImportRepo(t *testing.T) {
	e, s, _ := badEnv(t)
	ctx := context.Background()
	// A CAR of alice's repo one commit ahead, made on a copy of the
	// account's key elsewhere: importing it whole would change the head.
	var car bytes.Buffer
	if _, err := e.st.ExportCAR(ctx, aliceDID, &car, nil); err != nil {
		t.Fatal(err)
	}
	src := newEnvClock(t, nil, e.clk)
	src.account(aliceDID, aliceHandle)
	if _, err := src.st.ImportCAR(ctx, bytes.NewReader(car.Bytes()), &atlite.ImportOptions{DID: aliceDID, Force: true}); err != nil {
		t.Fatalf("import into the copy: %v", err)
	}
	if _, err := src.st.PutRecordJSON(ctx, aliceDID, postNSID, "ahead", []byte(helloPost)); err != nil {
		t.Fatal(err)
	}
	var ahead bytes.Buffer
	if _, err := src.st.ExportCAR(ctx, aliceDID, &ahead, nil); err != nil {
		t.Fatal(err)
	}
	full := ahead.Bytes()
	const carType = "application/vnd.ipld.car"
	cuts := []int{1, 10, 40, len(full) / 3, len(full) / 2, len(full) - 40, len(full) - 1}
	for _, n := range cuts {
		before := e.state()
		got, _, b := e.doType("POST", "com.atproto.repo.importRepo", s.AccessJwt, carType, full[:n])
		e.refused("importRepo cut at "+strconv.Itoa(n)+" of "+strconv.Itoa(len(full)), got, b, 400, "InvalidRequest", before)
	}
	// A flipped byte in the last block's data: its CID no longer matches.
	flipped := bytes.Clone(full)
	flipped[len(flipped)-3] ^= 0x55
	before := e.state()
	got, _, b := e.doType("POST", "com.atproto.repo.importRepo", s.AccessJwt, carType, flipped)
	e.refused("importRepo with a flipped byte", got, b, 400, "InvalidRequest", before)
	// Streamed without a Content-Length and cut mid-block.
	req, _ := http.NewRequest("POST", e.hs.URL+"/xrpc/com.atproto.repo.importRepo", struct{ *bytes.Reader }{bytes.NewReader(full[:len(full)/2])})
	req.Header.Set("Authorization", "Bearer "+s.AccessJwt)
	req.Header.Set("Content-Type", carType)
	before = e.state()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	e.refused("importRepo streamed and cut", resp.StatusCode, body.Bytes(), 400, "InvalidRequest", before)
	// The whole CAR is accepted: the refusals were the cuts'.
	if status, _, b := e.doType("POST", "com.atproto.repo.importRepo", s.AccessJwt, carType, full); status != 200 {
		t.Fatalf("importRepo of the whole CAR = %d %s", status, b)
	}
	if _, err := e.st.GetRecord(ctx, aliceDID, postNSID, "ahead"); err != nil {
		t.Errorf("after the whole import: %v", err)
	}
}

// TestBadInputRecordTypes: a record of a collection with a known lexicon
// is checked against it by default and with validate: true, so a post whose
// text is a number is refused, as the reference PDS refuses it: 400
// InvalidRequest, "Invalid app.bsky.feed.post record: Record/text must be a
// string", and nothing is written.
func TestBadInputRecordTypes(t *testing.T) {
	e, s, _ := badEnv(t)
	for _, validate := range []any{nil, true} {
		body := map[string]any{"repo": aliceHandle, "collection": postNSID,
			"record": map[string]any{"$type": postNSID, "text": 5, "createdAt": "2022-01-02T03:04:05Z"}}
		if validate != nil {
			body["validate"] = validate
		}
		before := e.state()
		got, _, b := e.do("POST", "com.atproto.repo.createRecord", s.AccessJwt, body)
		what := fmt.Sprintf("createRecord text as a number, validate %v", validate)
		e.refused(what, got, b, 400, "InvalidRequest", before)
		if want := "Invalid app.bsky.feed.post record: Record/text must be a string"; !strings.Contains(string(b), want) {
			t.Errorf("%s = %s, want the message %q", what, b, want)
		}
	}
}
