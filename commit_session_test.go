package atlite_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/testutil"
)

// TestCommitSession: CommitOptions.Session refuses a commit whose session
// is not live, checked in the commit's transaction, so that a revocation
// by a second Store on the same file (another process: the CLI) is seen
// at once, with nothing written.
func TestCommitSession(t *testing.T) {
	c := newClock()
	s, path := testutil.MustOpenFileStore(t, c.opts())
	other, err := atlite.Open(path, c.opts())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	alice := newRepo(t, s, "did:web:alice.example")
	bob := newRepo(t, s, "did:web:bob.example")
	n := 0
	try := func(sid int64) error {
		t.Helper()
		n++
		before, err := s.LastSeq(ctx, atlite.SubscribeReposNSID)
		if err != nil {
			t.Fatal(err)
		}
		w := mustWrite(t, commit.Create, "app.bsky.feed.post", s.NextTID().String(),
			map[string]any{"$type": "app.bsky.feed.post", "text": fmt.Sprint("post ", n), "createdAt": "2022-01-02T03:04:05.000Z"})
		_, cerr := s.Commit(ctx, alice, []commit.Write{w}, &atlite.CommitOptions{Session: sid})
		after, err := s.LastSeq(ctx, atlite.SubscribeReposNSID)
		if err != nil {
			t.Fatal(err)
		}
		if cerr == nil && after != before+1 || cerr != nil && after != before {
			t.Errorf("Commit(session %d) = %v, and LastSeq %d -> %d", sid, cerr, before, after)
		}
		return cerr
	}
	session := func(st *atlite.Store, d string, app string, ttl time.Duration) (string, int64) {
		t.Helper()
		tok, sess, err := st.CreateSession(ctx, mustDID(t, d), app, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return tok, sess.ID
	}

	// No session: no check.
	if err := try(0); err != nil {
		t.Fatalf("Commit without a session = %v", err)
	}
	tok, sid := session(s, string(alice), "", time.Hour)
	if err := try(sid); err != nil {
		t.Fatalf("Commit(live session) = %v", err)
	}
	// Signed out by the other Store: refused at once.
	if err := other.RevokeSession(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := try(sid); !errors.Is(err, atlite.ErrInvalidToken) {
		t.Errorf("Commit(session signed out by another Store) = %v, want ErrInvalidToken", err)
	}
	// Every session revoked by the other Store (a password change).
	_, sid = session(s, string(alice), "", time.Hour)
	if err := try(sid); err != nil {
		t.Fatalf("Commit(new live session) = %v", err)
	}
	if err := other.SetPassword(ctx, alice, "a new long password"); err != nil {
		t.Fatal(err)
	}
	if got, err := other.RevokeSessions(ctx, alice); err != nil || got != 1 {
		t.Fatalf("RevokeSessions = %d, %v; want 1", got, err)
	}
	if err := try(sid); !errors.Is(err, atlite.ErrInvalidToken) {
		t.Errorf("Commit(sessions revoked by another Store) = %v, want ErrInvalidToken", err)
	}
	// An app password revoked by the other Store.
	if _, _, err := s.CreateAppPassword(ctx, alice, "phone", false); err != nil {
		t.Fatal(err)
	}
	_, sid = session(s, string(alice), "phone", time.Hour)
	if err := try(sid); err != nil {
		t.Fatalf("Commit(app password session) = %v", err)
	}
	if err := other.RevokeAppPassword(ctx, alice, "phone"); err != nil {
		t.Fatal(err)
	}
	if err := try(sid); !errors.Is(err, atlite.ErrInvalidToken) {
		t.Errorf("Commit(app password revoked by another Store) = %v, want ErrInvalidToken", err)
	}
	// A refresh replaces the session.
	tok, sid = session(s, string(alice), "", time.Hour)
	_, next, err := other.RefreshSession(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := try(sid); !errors.Is(err, atlite.ErrInvalidToken) {
		t.Errorf("Commit(refreshed session) = %v, want ErrInvalidToken", err)
	}
	if err := try(next.ID); err != nil {
		t.Errorf("Commit(the refresh's session) = %v", err)
	}
	// Another repo's session, an unknown one.
	_, bobSid := session(s, string(bob), "", time.Hour)
	if err := try(bobSid); !errors.Is(err, atlite.ErrInvalidToken) {
		t.Errorf("Commit(another repo's session) = %v, want ErrInvalidToken", err)
	}
	if err := try(next.ID + 1000); !errors.Is(err, atlite.ErrInvalidToken) {
		t.Errorf("Commit(unknown session) = %v, want ErrInvalidToken", err)
	}
	// Expired.
	c.Advance(time.Hour)
	if err := try(next.ID); !errors.Is(err, atlite.ErrExpiredToken) {
		t.Errorf("Commit(expired session) = %v, want ErrExpiredToken", err)
	}
	// A group commit: the refused request fails alone.
	_, live := session(s, string(alice), "", time.Hour)
	errs := make(chan error, 8)
	for i := range 8 {
		sid := live
		if i%2 == 1 {
			sid = bobSid
		}
		go func() {
			w := mustWrite(t, commit.Create, "app.bsky.feed.post", s.NextTID().String(),
				map[string]any{"$type": "app.bsky.feed.post", "text": fmt.Sprint("group ", i), "createdAt": "2022-01-02T03:04:05.000Z"})
			_, err := s.Commit(ctx, alice, []commit.Write{w}, &atlite.CommitOptions{Session: sid})
			if i%2 == 1 && !errors.Is(err, atlite.ErrInvalidToken) || i%2 == 0 && err != nil {
				err = fmt.Errorf("commit %d (session %d) = %v", i, sid, err)
			} else {
				err = nil
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
