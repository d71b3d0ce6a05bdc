package xrpc

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/syntax"
)

// TestWriteAuthRevokedElsewhere: the writes leave the check of the access
// token's session to the commit (CommitOptions.Session); a session ended
// by a second Store on the same file, as the CLI would, is refused by the
// very next write of every kind, with the answer the up-front check gave
// (401 InvalidToken before any problem with the input), and nothing is
// written. An account deactivated or taken down elsewhere is refused too.
func TestWriteAuthRevokedElsewhere(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	e.login(aliceDID, aliceHandle)
	other, err := atlite.Open(e.path, &atlite.Options{Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	appPassword, _, err := e.st.CreateAppPassword(ctx, aliceDID, "phone", false)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	// writes are the four writes with tok, each of which must answer
	// status and name (200 for success). deleteRecord deletes a record
	// made with a live token beforehand.
	writes := func(tok string, status int, name string) {
		t.Helper()
		n++
		key := fmt.Sprintf("k%d", n)
		victim := key + "-victim"
		w, err := commit.NewWrite(commit.Create, postNSID, victim, post("victim"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.Commit(ctx, aliceDID, []commit.Write{w}, nil); err != nil {
			t.Fatal(err)
		}
		calls := []struct {
			nsid string
			body map[string]any
		}{
			{"com.atproto.repo.createRecord", map[string]any{"repo": string(aliceDID), "collection": postNSID, "rkey": key + "-c", "record": post("c")}},
			{"com.atproto.repo.putRecord", map[string]any{"repo": string(aliceDID), "collection": postNSID, "rkey": key + "-p", "record": post("p")}},
			{"com.atproto.repo.deleteRecord", map[string]any{"repo": string(aliceDID), "collection": postNSID, "rkey": victim}},
			{"com.atproto.repo.applyWrites", map[string]any{"repo": string(aliceDID), "writes": []any{
				map[string]any{"$type": applyWritesCreate, "collection": postNSID, "rkey": key + "-a", "value": post("a")}}}},
		}
		for _, c := range calls {
			if status == 200 {
				e.ok("POST", c.nsid, tok, c.body, nil)
				continue
			}
			msg := e.fail("POST", c.nsid, tok, c.body, status, name)
			if name == "InvalidToken" && msg != "Token has been revoked" {
				t.Errorf("%s: message %q, want %q", c.nsid, msg, "Token has been revoked")
			}
		}
		if status == 200 {
			return
		}
		// The token's error comes before the input's, and before a delete
		// of a missing record (which commits nothing).
		e.fail("POST", "com.atproto.repo.createRecord", tok, map[string]any{"repo": string(aliceDID), "collection": postNSID, "record": map[string]any{"n": 1.5}}, status, name)
		e.fail("POST", "com.atproto.repo.putRecord", tok, map[string]any{"repo": string(aliceDID), "collection": postNSID, "rkey": "x", "record": map[string]any{"$type": "app.bsky.feed.like"}}, status, name)
		e.fail("POST", "com.atproto.repo.applyWrites", tok, map[string]any{"repo": string(aliceDID), "writes": []any{map[string]any{"$type": "nope"}}}, status, name)
		if name == "InvalidToken" {
			e.fail("POST", "com.atproto.repo.deleteRecord", tok, map[string]any{"repo": string(aliceDID), "collection": postNSID, "rkey": "missing"}, status, name)
		}
	}
	refreshID := func(s session) string {
		_, c := jwtParts(t, s.RefreshJwt)
		return c["jti"].(string)
	}

	t.Run("signed out", func(t *testing.T) {
		s := e.signIn(aliceHandle, testPassword)
		writes(s.AccessJwt, 200, "")
		if err := other.RevokeSession(ctx, refreshID(s)); err != nil {
			t.Fatal(err)
		}
		writes(s.AccessJwt, 401, "InvalidToken")
	})
	t.Run("refreshed", func(t *testing.T) {
		s := e.signIn(aliceHandle, testPassword)
		writes(s.AccessJwt, 200, "")
		if _, _, err := other.RefreshSession(ctx, refreshID(s)); err != nil {
			t.Fatal(err)
		}
		writes(s.AccessJwt, 401, "InvalidToken")
	})
	t.Run("password changed", func(t *testing.T) {
		s := e.signIn(aliceHandle, testPassword)
		writes(s.AccessJwt, 200, "")
		if err := other.SetPassword(ctx, aliceDID, testPassword); err != nil {
			t.Fatal(err)
		}
		if _, err := other.RevokeSessions(ctx, aliceDID); err != nil {
			t.Fatal(err)
		}
		writes(s.AccessJwt, 401, "InvalidToken")
	})
	t.Run("app password revoked", func(t *testing.T) {
		s := e.signIn(aliceHandle, appPassword)
		writes(s.AccessJwt, 200, "")
		if err := other.RevokeAppPassword(ctx, aliceDID, "phone"); err != nil {
			t.Fatal(err)
		}
		writes(s.AccessJwt, 401, "InvalidToken")
	})
	for _, st := range []struct {
		name, status, errName string
		set                   func(context.Context, syntax.DID) error
	}{
		{"deactivated", atlite.StatusDeactivated, "RepoDeactivated", other.Deactivate},
		{"takendown", atlite.StatusTakendown, "RepoTakendown", other.Takedown},
	} {
		t.Run(st.name, func(t *testing.T) {
			s := e.signIn(aliceHandle, testPassword)
			writes(s.AccessJwt, 200, "")
			if err := st.set(ctx, aliceDID); err != nil {
				t.Fatal(err)
			}
			calls := []struct {
				nsid string
				body map[string]any
			}{
				{"com.atproto.repo.createRecord", map[string]any{"repo": string(aliceDID), "collection": postNSID, "rkey": st.name + "-c", "record": post("c")}},
				{"com.atproto.repo.putRecord", map[string]any{"repo": string(aliceDID), "collection": postNSID, "rkey": st.name + "-p", "record": post("p")}},
				{"com.atproto.repo.applyWrites", map[string]any{"repo": string(aliceDID), "writes": []any{
					map[string]any{"$type": applyWritesCreate, "collection": postNSID, "rkey": st.name + "-a", "value": post("a")}}}},
			}
			for _, c := range calls {
				e.fail("POST", c.nsid, s.AccessJwt, c.body, 400, st.errName)
			}
			if err := other.Activate(ctx, aliceDID); err != nil {
				t.Fatal(err)
			}
			writes(s.AccessJwt, 200, "")
		})
	}
}

// TestVerifiedTokens: an access token parseToken accepted once is cached,
// but still refused as an uncached one would be: once expired, of the
// wrong type or scope, or when its session ends; and the cache is bounded.
func TestVerifiedTokens(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	s := e.login(aliceDID, aliceHandle)
	e.ok("GET", "com.atproto.server.getSession", s.AccessJwt, nil, nil)
	if _, ok := e.s.verified.get(s.AccessJwt, typAccess, e.clk.Now()); !ok {
		t.Fatal("a token getSession accepted is not cached")
	}
	// Cached, it is still no refresh token, nor of another scope.
	if msg := e.fail("POST", "com.atproto.server.refreshSession", s.AccessJwt, nil, 401, "InvalidToken"); msg != "Invalid token type" {
		t.Errorf("refreshSession(cached access token): %q, want %q", msg, "Invalid token type")
	}
	_, err := e.s.parseToken(ctx, s.AccessJwt, typAccess, ScopeRefresh)
	if xe := ErrorFor(err); xe.Status != 401 || xe.Message != "Bad token scope" {
		t.Errorf("parseToken(cached token, another scope) = %v, want 401 Bad token scope", err)
	}
	// A second before it expires it works; at its expiry it is refused.
	e.clk.Advance(AccessTokenTTL - time.Second)
	e.ok("POST", "com.atproto.repo.createRecord", s.AccessJwt, map[string]any{"repo": string(aliceDID), "collection": postNSID, "record": post("late")}, nil)
	e.clk.Advance(time.Second)
	for _, nsid := range []string{"com.atproto.server.getSession", "com.atproto.repo.createRecord"} {
		method := "GET"
		var body any
		if nsid == "com.atproto.repo.createRecord" {
			method, body = "POST", map[string]any{"repo": string(aliceDID), "collection": postNSID, "record": post("expired")}
		}
		if msg := e.fail(method, nsid, s.AccessJwt, body, 401, "ExpiredToken"); msg != "Token has expired" {
			t.Errorf("%s(expired cached token): %q", nsid, msg)
		}
	}
	// A cached token whose session is signed out is refused.
	s = e.signIn(aliceHandle, testPassword)
	e.ok("GET", "com.atproto.server.getSession", s.AccessJwt, nil, nil)
	e.ok("POST", "com.atproto.server.deleteSession", s.RefreshJwt, nil, nil)
	if msg := e.fail("GET", "com.atproto.server.getSession", s.AccessJwt, nil, 401, "InvalidToken"); msg != "Token has been revoked" {
		t.Errorf("getSession(signed-out cached token): %q", msg)
	}
	e.fail("POST", "com.atproto.repo.createRecord", s.AccessJwt, map[string]any{"repo": string(aliceDID), "collection": postNSID, "record": post("out")}, 401, "InvalidToken")

	// Bounded. It holds the two tokens above, the first expired; of
	// maxVerified+10 more, the first maxVerified-2 fill it, the next one
	// takes the expired token's place, the next empties it: 11 are left.
	if n := len(e.s.verified.m); n != 2 {
		t.Fatalf("%d tokens cached, want 2", n)
	}
	key, err := e.st.ServerSecret(ctx, "jwt", 32)
	if err != nil {
		t.Fatal(err)
	}
	now := e.clk.Now().Truncate(time.Second)
	var last string
	for i := range maxVerified + 10 {
		tk := jwt.NewWithClaims(jwt.SigningMethodHS256, &claims{Scope: ScopeAccess, Subject: aliceDID.String(), Audience: e.s.serviceDID().String(),
			Sid: int64(i + 1), IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))})
		tk.Header["typ"] = typAccess
		if last, err = tk.SignedString(key); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.parseToken(ctx, last, typAccess, ScopeAccess); err != nil {
			t.Fatalf("parseToken(token %d) = %v", i, err)
		}
	}
	if n := len(e.s.verified.m); n != 11 {
		t.Errorf("%d tokens cached, want 11", n)
	}
	if _, ok := e.s.verified.get(last, typAccess, e.clk.Now()); !ok {
		t.Error("the last token is not cached")
	}
}
