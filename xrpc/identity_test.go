package xrpc

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/atlite-dev/atlite"
)

func TestResolveHandle(t *testing.T) {
	e := newEnv(t, nil)
	e.account(aliceDID, aliceHandle)
	for _, h := range []string{aliceHandle, "ALICE.pds.test"} {
		b := e.ok("GET", "com.atproto.identity.resolveHandle?handle="+h, "", nil, nil)
		if want := `{"did":"did:web:alice.pds.test"}`; strings.TrimSpace(string(b)) != want {
			t.Errorf("resolveHandle(%s) = %s, want %s", h, b, want)
		}
	}
	e.fail("GET", "com.atproto.identity.resolveHandle?handle=nobody.pds.test", "", nil, 400, "HandleNotFound")
	e.fail("GET", "com.atproto.identity.resolveHandle?handle=bsky.app", "", nil, 400, "HandleNotFound")
	e.fail("GET", "com.atproto.identity.resolveHandle?handle=not_a_handle", "", nil, 400, "InvalidRequest")
	e.fail("GET", "com.atproto.identity.resolveHandle", "", nil, 400, "InvalidRequest")
	// A taken-down account's handle does not resolve.
	if err := e.st.Takedown(context.Background(), aliceDID); err != nil {
		t.Fatal(err)
	}
	e.fail("GET", "com.atproto.identity.resolveHandle?handle="+aliceHandle, "", nil, 400, "HandleNotFound")
}

func TestUpdateHandle(t *testing.T) {
	e := newEnv(t, nil)
	s := e.login(aliceDID, aliceHandle)
	e.account(bobDID, bobHandle)
	before := e.lastSeq()
	e.ok("POST", "com.atproto.identity.updateHandle", s.AccessJwt, map[string]any{"handle": "Alice2.pds.test"}, nil)
	if after := e.lastSeq(); after != before+1 {
		t.Errorf("updateHandle: LastSeq %d -> %d, want one #identity", before, after)
	}
	evs, err := e.st.Events(context.Background(), &atlite.EventsOptions{After: before})
	if err != nil || len(evs) != 1 || evs[0].Kind != atlite.KindIdentity || evs[0].Handle != "alice2.pds.test" || evs[0].DID != aliceDID {
		t.Errorf("events after updateHandle = %+v, %v", evs, err)
	}
	b := e.ok("GET", "com.atproto.identity.resolveHandle?handle=alice2.pds.test", "", nil, nil)
	if strings.TrimSpace(string(b)) != `{"did":"did:web:alice.pds.test"}` {
		t.Errorf("resolveHandle(new) = %s", b)
	}
	e.fail("GET", "com.atproto.identity.resolveHandle?handle="+aliceHandle, "", nil, 400, "HandleNotFound")
	var sess sessionOutput
	e.ok("GET", "com.atproto.server.getSession", s.AccessJwt, nil, &sess)
	if sess.Handle != "alice2.pds.test" {
		t.Errorf("getSession handle = %q", sess.Handle)
	}

	tests := []struct {
		name, token string
		body        any
		status      int
		err         string
	}{
		{"taken", s.AccessJwt, map[string]any{"handle": bobHandle}, 400, "HandleNotAvailable"},
		{"other domain", s.AccessJwt, map[string]any{"handle": "alice.example.com"}, 400, "UnsupportedDomain"},
		{"invalid", s.AccessJwt, map[string]any{"handle": "-alice-.pds.test"}, 400, "InvalidHandle"},
		{"missing", s.AccessJwt, map[string]any{}, 400, "InvalidRequest"},
		{"wrong type", s.AccessJwt, map[string]any{"handle": true}, 400, "InvalidRequest"},
		{"no token", "", map[string]any{"handle": "alice3.pds.test"}, 401, "AuthMissing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.fail("POST", "com.atproto.identity.updateHandle", tt.token, tt.body, tt.status, tt.err)
		})
	}
}

func TestWellKnownDID(t *testing.T) {
	e := newEnv(t, nil)
	e.account(aliceDID, aliceHandle)
	get := func(host string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", e.hs.URL+"/.well-known/atproto-did", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	if status, ct, body := get("alice.pds.test"); status != 200 || ct != "text/plain; charset=utf-8" || body != string(aliceDID) {
		t.Errorf("atproto-did for alice = %d %q %q", status, ct, body)
	}
	if status, _, body := get("ALICE.pds.test:443"); status != 200 || body != string(aliceDID) {
		t.Errorf("atproto-did for ALICE with a port = %d %q", status, body)
	}
	for _, host := range []string{"nobody.pds.test", "pds.test", "127.0.0.1"} {
		if status, _, _ := get(host); status != 404 {
			t.Errorf("atproto-did for %s = %d, want 404", host, status)
		}
	}
}
