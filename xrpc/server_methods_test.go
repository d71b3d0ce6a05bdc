package xrpc

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/internal/testutil"
	"github.com/atlite-dev/atlite/servicejwt"
	"github.com/atlite-dev/atlite/syntax"
)

func TestDescribeServer(t *testing.T) {
	e := newEnv(t, &Options{PublicURL: "https://pds.test:8443/", HandleDomains: []string{".pds.test", ".other.test"}})
	b := e.ok("GET", "com.atproto.server.describeServer", "", nil, nil)
	want := `{"availableUserDomains":[".pds.test",".other.test"],"did":"did:web:pds.test%3A8443","inviteCodeRequired":true}`
	if strings.TrimSpace(string(b)) != want {
		t.Errorf("describeServer = %s, want %s", b, want)
	}
}

func TestCreateAccount(t *testing.T) {
	e := newEnv(t, &Options{InviteCode: "invite-1234"})
	body := func(kv ...string) map[string]any {
		m := map[string]any{"handle": "carol.pds.test", "password": testPassword, "inviteCode": "invite-1234", "email": "carol@example.com"}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	e.account(aliceDID, aliceHandle)
	tests := []struct {
		name string
		body any
		err  string
	}{
		{"no invite code", body("inviteCode", ""), "InvalidInviteCode"},
		{"wrong invite code", body("inviteCode", "invite-9999"), "InvalidInviteCode"},
		{"no handle", body("handle", ""), "InvalidRequest"},
		{"bad handle", body("handle", "carol..pds.test"), "InvalidHandle"},
		{"other domain", body("handle", "carol.example.com"), "UnsupportedDomain"},
		{"handle taken", body("handle", aliceHandle), "HandleNotAvailable"},
		{"short password", body("password", "short"), "InvalidPassword"},
		{"no password", body("password", ""), "InvalidPassword"},
		{"bad email", body("email", "not an email"), "InvalidRequest"},
		{"existing did", body("did", "did:web:carol.pds.test"), "InvalidRequest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.fail("POST", "com.atproto.server.createAccount", "", tt.body, 400, tt.err)
			if _, err := e.st.LoadRepo(context.Background(), "carol.pds.test"); err == nil {
				t.Fatal("a refused createAccount created the repo")
			}
		})
	}

	before := e.lastSeq()
	var got struct {
		AccessJwt, RefreshJwt, Handle string
		DID                           syntax.DID `json:"did"`
		DIDDoc                        struct {
			ID          syntax.DID `json:"id"`
			AlsoKnownAs []string   `json:"alsoKnownAs"`
			Service     []struct{ ServiceEndpoint string }
		} `json:"didDoc"`
	}
	e.ok("POST", "com.atproto.server.createAccount", "", body("handle", "Carol.PDS.test"), &got)
	if got.Handle != "carol.pds.test" || !strings.HasPrefix(got.DID.String(), "did:plc:") || len(got.DID) != 32 {
		t.Errorf("createAccount = %+v", got)
	}
	if got.DIDDoc.ID != got.DID || len(got.DIDDoc.AlsoKnownAs) != 1 || got.DIDDoc.AlsoKnownAs[0] != "at://carol.pds.test" ||
		len(got.DIDDoc.Service) != 1 || got.DIDDoc.Service[0].ServiceEndpoint != "https://pds.test" {
		t.Errorf("createAccount didDoc = %+v", got.DIDDoc)
	}
	if after := e.lastSeq(); after <= before {
		t.Errorf("LastSeq %d -> %d: the new repo emitted nothing", before, after)
	}
	var sess sessionOutput
	e.ok("GET", "com.atproto.server.getSession", got.AccessJwt, nil, &sess)
	if sess.DID != got.DID || sess.Email != "carol@example.com" {
		t.Errorf("getSession = %+v", sess)
	}
	// The password works.
	if s := e.signIn("carol.pds.test", testPassword); s.DID != got.DID {
		t.Errorf("signIn = %+v", s)
	}

	// Without Options.InviteCode, createAccount is refused.
	e2 := newEnv(t, nil)
	e2.fail("POST", "com.atproto.server.createAccount", "", body("inviteCode", ""), 400, "InvalidInviteCode")
	e2.fail("POST", "com.atproto.server.createAccount", "", body(), 400, "InvalidInviteCode")
}

func TestAppPasswords(t *testing.T) {
	e := newEnv(t, nil)
	s := e.login(aliceDID, aliceHandle)
	e.fail("POST", "com.atproto.server.createAppPassword", s.AccessJwt, map[string]any{}, 400, "InvalidRequest")
	e.fail("POST", "com.atproto.server.createAppPassword", s.AccessJwt, map[string]any{"name": ""}, 400, "InvalidRequest")
	e.fail("POST", "com.atproto.server.createAppPassword", "", map[string]any{"name": "x"}, 401, "AuthMissing")

	var ap struct {
		Name, Password, CreatedAt string
		Privileged                bool
	}
	e.ok("POST", "com.atproto.server.createAppPassword", s.AccessJwt, map[string]any{"name": "phone"}, &ap)
	if ap.Name != "phone" || ap.Privileged || !regexp.MustCompile(`^[a-z2-7]{4}(-[a-z2-7]{4}){3}$`).MatchString(ap.Password) ||
		ap.CreatedAt != "2022-01-02T03:04:05.000Z" {
		t.Errorf("createAppPassword = %+v", ap)
	}
	var priv struct{ Password string }
	e.ok("POST", "com.atproto.server.createAppPassword", s.AccessJwt, map[string]any{"name": "dm", "privileged": true}, &priv)
	e.fail("POST", "com.atproto.server.createAppPassword", s.AccessJwt, map[string]any{"name": "phone"}, 400, "InvalidRequest")

	b := e.ok("GET", "com.atproto.server.listAppPasswords", s.AccessJwt, nil, nil)
	want := `{"passwords":[{"name":"dm","createdAt":"2022-01-02T03:04:05.000Z","privileged":true},{"name":"phone","createdAt":"2022-01-02T03:04:05.000Z","privileged":false}]}`
	if strings.TrimSpace(string(b)) != want {
		t.Errorf("listAppPasswords = %s, want %s", b, want)
	}

	// Signing in with the app password gives the appPass scope, and no email.
	app := e.signIn(aliceHandle, ap.Password)
	if _, c := jwtParts(t, app.AccessJwt); c["scope"] != ScopeAppPass {
		t.Errorf("app password scope = %v", c["scope"])
	}
	if _, c := jwtParts(t, e.signIn(aliceHandle, priv.Password).AccessJwt); c["scope"] != ScopeAppPassPrivileged {
		t.Errorf("privileged app password scope = %v", c["scope"])
	}
	// It may write records and list app passwords, but not manage the
	// account.
	e.ok("POST", "com.atproto.repo.createRecord", app.AccessJwt, map[string]any{"repo": aliceHandle, "collection": "app.bsky.feed.post",
		"record": map[string]any{"text": "hi", "createdAt": "2022-01-02T03:04:05Z"}}, nil)
	e.ok("GET", "com.atproto.server.listAppPasswords", app.AccessJwt, nil, nil)
	for _, m := range []struct {
		nsid string
		body any
	}{
		{"com.atproto.server.createAppPassword", map[string]any{"name": "other"}},
		{"com.atproto.server.revokeAppPassword", map[string]any{"name": "phone"}},
		{"com.atproto.server.deactivateAccount", map[string]any{}},
		{"com.atproto.server.activateAccount", nil},
		{"com.atproto.repo.importRepo", []byte("car")},
	} {
		msg := e.fail("POST", m.nsid, app.AccessJwt, m.body, 400, "InvalidToken")
		if msg != "Bad token scope" {
			t.Errorf("%s with an app password: %q", m.nsid, msg)
		}
	}
	if r, _ := e.st.LoadRepo(context.Background(), aliceDID.AtIdentifier()); !r.Active() {
		t.Error("an app password deactivated the account")
	}

	// Revoking it ends its sessions at once; revoking again is not an error.
	e.ok("POST", "com.atproto.server.revokeAppPassword", s.AccessJwt, map[string]any{"name": "phone"}, nil)
	e.fail("GET", "com.atproto.server.getSession", app.AccessJwt, nil, 401, "InvalidToken")
	e.fail("POST", "com.atproto.server.refreshSession", app.RefreshJwt, nil, 401, "InvalidToken")
	e.ok("POST", "com.atproto.server.revokeAppPassword", s.AccessJwt, map[string]any{"name": "phone"}, nil)
	e.fail("POST", "com.atproto.server.createSession", "", map[string]any{"identifier": aliceHandle, "password": ap.Password}, 401, "AuthenticationRequired")
	b = e.ok("GET", "com.atproto.server.listAppPasswords", s.AccessJwt, nil, nil)
	if want := `{"passwords":[{"name":"dm","createdAt":"2022-01-02T03:04:05.000Z","privileged":true}]}`; strings.TrimSpace(string(b)) != want {
		t.Errorf("listAppPasswords = %s, want %s", b, want)
	}
}

func TestAccountStatus(t *testing.T) {
	e := newEnv(t, nil)
	s := e.login(aliceDID, aliceHandle)
	ctx := context.Background()
	for i, text := range []string{"one", "two"} {
		rec := map[string]any{"$type": "app.bsky.feed.post", "text": text, "createdAt": "2022-01-02T03:04:05Z"}
		if i == 1 {
			rec["embed"] = map[string]any{"$type": "app.bsky.embed.images", "images": []any{map[string]any{"alt": "",
				"image": map[string]any{"$type": "blob", "ref": map[string]any{"$link": "bafkreif2pall7dybz7vecqka3zo24irdwabwdi4wc55jznaq75q7eaavvu"}, "mimeType": "image/png", "size": 3}}}}
		}
		e.ok("POST", "com.atproto.repo.createRecord", s.AccessJwt, map[string]any{"repo": aliceHandle, "collection": "app.bsky.feed.post", "rkey": text, "record": rec}, nil)
	}
	repo, _ := e.st.LoadRepo(ctx, aliceDID.AtIdentifier())
	var st map[string]any
	e.ok("GET", "com.atproto.server.checkAccountStatus", s.AccessJwt, nil, &st)
	want := map[string]any{"activated": true, "validDid": true, "repoCommit": repo.Head.String(), "repoRev": repo.Rev.String(),
		"indexedRecords": 2.0, "privateStateValues": 0.0, "expectedBlobs": 1.0, "importedBlobs": 0.0}
	for k, v := range want {
		if st[k] != v {
			t.Errorf("checkAccountStatus %s = %v, want %v", k, st[k], v)
		}
	}
	if n, _ := st["repoBlocks"].(float64); n < 4 {
		t.Errorf("repoBlocks = %v", st["repoBlocks"])
	}
	var missing map[string]any
	b := e.ok("GET", "com.atproto.repo.listMissingBlobs", s.AccessJwt, nil, &missing)
	if want := `{"blobs":[{"cid":"bafkreif2pall7dybz7vecqka3zo24irdwabwdi4wc55jznaq75q7eaavvu","recordUri":"at://did:web:alice.pds.test/app.bsky.feed.post/two"}]}`; strings.TrimSpace(string(b)) != want {
		t.Errorf("listMissingBlobs = %s, want %s", b, want)
	}
	e.fail("GET", "com.atproto.repo.listMissingBlobs?limit=0", s.AccessJwt, nil, 400, "InvalidRequest")
	// Uploading the blob makes it present.
	status, _, ub := e.doType("POST", "com.atproto.repo.uploadBlob", s.AccessJwt, "image/png", []byte("abc"))
	if status != 200 {
		t.Fatalf("uploadBlob = %d %s", status, ub)
	}
	b = e.ok("GET", "com.atproto.repo.listMissingBlobs", s.AccessJwt, nil, nil)
	if strings.TrimSpace(string(b)) != `{"blobs":[]}` {
		t.Errorf("listMissingBlobs after upload = %s", b)
	}
	e.ok("GET", "com.atproto.server.checkAccountStatus", s.AccessJwt, nil, &st)
	if st["importedBlobs"] != 1.0 {
		t.Errorf("importedBlobs = %v", st["importedBlobs"])
	}

	// Deactivate, then activate: one #account event each; repeating is a no-op.
	before := e.lastSeq()
	e.fail("POST", "com.atproto.server.deactivateAccount", s.AccessJwt, map[string]any{"deleteAfter": "soon"}, 400, "InvalidRequest")
	e.ok("POST", "com.atproto.server.deactivateAccount", s.AccessJwt, map[string]any{}, nil)
	e.ok("POST", "com.atproto.server.deactivateAccount", s.AccessJwt, nil, nil)
	if after := e.lastSeq(); after != before+1 {
		t.Errorf("deactivate: LastSeq %d -> %d, want one event", before, after)
	}
	e.ok("GET", "com.atproto.server.checkAccountStatus", s.AccessJwt, nil, &st)
	if st["activated"] != false {
		t.Errorf("activated = %v after deactivateAccount", st["activated"])
	}
	var sess sessionOutput
	e.ok("GET", "com.atproto.server.getSession", s.AccessJwt, nil, &sess)
	if sess.Active || sess.Status != atlite.StatusDeactivated {
		t.Errorf("getSession when deactivated = %+v", sess)
	}
	e.fail("POST", "com.atproto.repo.createRecord", s.AccessJwt, map[string]any{"repo": aliceHandle, "collection": "app.bsky.feed.post",
		"record": map[string]any{"text": "x", "createdAt": "2022-01-02T03:04:05Z"}}, 400, "RepoDeactivated")
	e.fail("GET", "com.atproto.repo.getRecord?repo=alice.pds.test&collection=app.bsky.feed.post&rkey=one", "", nil, 400, "RepoDeactivated")
	e.ok("POST", "com.atproto.server.activateAccount", s.AccessJwt, nil, nil)
	e.ok("POST", "com.atproto.server.activateAccount", s.AccessJwt, nil, nil)
	if after := e.lastSeq(); after != before+2 {
		t.Errorf("activate: LastSeq %d -> %d, want one more event", before, after)
	}
	e.ok("GET", "com.atproto.repo.getRecord?repo=alice.pds.test&collection=app.bsky.feed.post&rkey=one", "", nil, nil)
}

func TestGetServiceAuth(t *testing.T) {
	e := newEnv(t, nil)
	s := e.login(aliceDID, aliceHandle)
	var ap struct{ Password string }
	e.ok("POST", "com.atproto.server.createAppPassword", s.AccessJwt, map[string]any{"name": "app"}, &ap)
	app := e.signIn(aliceHandle, ap.Password)
	now := testutil.Now.Unix()
	base := "com.atproto.server.getServiceAuth?aud=did:web:api.bsky.app%23bsky_appview"
	tests := []struct {
		name, token, query string
		status             int
		err, msgPart       string
	}{
		{"no token", "", "", 401, "AuthMissing", ""},
		{"no aud", s.AccessJwt, "&aud=", 400, "InvalidRequest", `"aud"`},
		{"bad aud", s.AccessJwt, "&aud=api.bsky.app", 400, "InvalidRequest", "aud must be a DID"},
		{"bad lxm", s.AccessJwt, "&lxm=nope", 400, "InvalidRequest", "lxm must be a valid value"},
		{"past exp", s.AccessJwt, fmt.Sprintf("&exp=%d", now-1), 400, "BadExpiration", "expiration is in past"},
		{"exp over an hour", s.AccessJwt, fmt.Sprintf("&lxm=app.bsky.feed.getFeed&exp=%d", now+3601), 400, "BadExpiration", "more than an hour"},
		{"unbound exp over a minute", s.AccessJwt, fmt.Sprintf("&exp=%d", now+61), 400, "BadExpiration", "method-less token"},
		{"protected method", s.AccessJwt, "&lxm=com.atproto.server.createAppPassword", 400, "InvalidRequest", "protected method"},
		{"chat with an app password", app.AccessJwt, "&lxm=chat.bsky.convo.getLog", 400, "InvalidRequest", "insufficient access"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := base + tt.query
			if strings.Contains(tt.query, "&aud=") {
				q = "com.atproto.server.getServiceAuth?" + strings.TrimPrefix(tt.query, "&")
			}
			msg := e.fail("GET", q, tt.token, nil, tt.status, tt.err)
			if !strings.Contains(msg, tt.msgPart) {
				t.Errorf("message %q, want it to contain %q", msg, tt.msgPart)
			}
		})
	}
	// A token signed with the repo's own key, for the audience and method
	// asked, expiring when asked.
	var out struct{ Token string }
	e.ok("GET", base+fmt.Sprintf("&lxm=app.bsky.feed.getFeed&exp=%d", now+600), s.AccessJwt, nil, &out)
	repo, err := e.st.LoadRepo(context.Background(), aliceDID.AtIdentifier())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := servicejwt.Verify(out.Token, repo.SigningKey, servicejwt.VerifyOptions{
		Audience: "did:web:api.bsky.app#bsky_appview", LexiconMethod: "app.bsky.feed.getFeed", Now: testutil.Now})
	if err != nil {
		t.Fatalf("service token %q: %v", out.Token, err)
	}
	if tok.Claims.Issuer != aliceDID || tok.Claims.ExpiresAt != now+600 {
		t.Errorf("claims iss %q exp %d, want %s and %d", tok.Claims.Issuer, tok.Claims.ExpiresAt, aliceDID, now+600)
	}
	var plain struct{ Token string }
	e.ok("GET", base, s.AccessJwt, nil, &plain)
	tok, err = servicejwt.Verify(plain.Token, repo.SigningKey, servicejwt.VerifyOptions{Audience: "did:web:api.bsky.app#bsky_appview", Now: testutil.Now})
	if err != nil || tok.Claims.ExpiresAt != now+60 {
		t.Errorf("default service token: %v, exp %d, want %d", err, tok.Claims.ExpiresAt, now+60)
	}
}
