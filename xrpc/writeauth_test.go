package xrpc

import (
	"context"
	"fmt"
	"testing"

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
