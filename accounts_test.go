package atlite_test

import (
	"bytes"
	"database/sql"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/did"
	"github.com/atlite-dev/atlite/did/didtest"
	"github.com/atlite-dev/atlite/internal/testutil"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

// accountTables are the tables schema 3 adds.
var accountTables = []string{"accounts", "app_passwords", "sessions", "server_secrets", "blob_uploads"}

// checkSchema3 checks the file at p has the current schema and the account
// tables.
func checkSchema3(t *testing.T, p string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+p+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != atlite.SchemaVersion || atlite.SchemaVersion != 6 {
		t.Errorf("user_version = %d, %v; want SchemaVersion = 6", v, err)
	}
	for _, name := range accountTables {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, name).Scan(&n); err != nil || n != 1 {
			t.Errorf("table %s: %d, %v", name, n, err)
		}
	}
}

// TestMigrateV2 takes a file back to schema 2 (the current schema without
// the account tables) and checks that Open brings it to 3 with its repos
// intact; and that the v1 fixture and a new file reach schema 3 too.
func TestMigrateV2(t *testing.T) {
	testutil.SQLiteOnly(t, "a version-2 file migrated by Open")
	s, p := testutil.MustOpenFileStore(t, nil)
	alice := mustDID(t, "did:web:alice.example")
	if _, err := s.CreateRepo(ctx, alice, &atlite.CreateRepoOptions{Handle: "alice.test"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkSchema3(t, p)

	db, err := sql.Open("sqlite", "file:"+p)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range accountTables {
		if _, err := db.Exec(`DROP TABLE ` + name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`PRAGMA user_version = 2`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err = atlite.Open(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkSchema3(t, p)
	r, err := s.LoadRepo(ctx, "alice.test")
	if err != nil || r.DID != alice {
		t.Fatalf("LoadRepo(alice.test) after migration = %v, %v", r, err)
	}
	if err := s.SetPassword(ctx, alice, "correct horse"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckPassword(ctx, "alice.test", "correct horse"); err != nil {
		t.Errorf("CheckPassword after migration: %v", err)
	}
	if err := s.Check(ctx); err != nil {
		t.Errorf("Check after migration: %v", err)
	}

	// The v1 fixture goes through both steps; TestMigrateV1 checks its data.
	p1 := copyFixture(t, "schema-v1.db")
	s1, err := atlite.Open(p1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	checkSchema3(t, p1)
	repos, _, err := s1.ListRepos(ctx, nil)
	if err != nil || len(repos) != 3 {
		t.Errorf("v1 fixture after migration: %d repos, %v; want 3", len(repos), err)
	}
	if err := s1.SetPassword(ctx, mustDID(t, "did:web:one.example"), "password1"); err != nil {
		t.Errorf("SetPassword on a migrated v1 repo: %v", err)
	}
}

func TestAccountPassword(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	alice := mustDID(t, "did:web:alice.example")
	bob := mustDID(t, "did:web:bob.example")
	for _, c := range []struct {
		d syntax.DID
		h syntax.Handle
	}{{alice, "alice.test"}, {bob, "bob.test"}} {
		if _, err := s.CreateRepo(ctx, c.d, &atlite.CreateRepoOptions{Handle: c.h}); err != nil {
			t.Fatal(err)
		}
	}
	// A repo without a password cannot sign in.
	if _, err := s.CheckPassword(ctx, "alice.test", ""); !errors.Is(err, atlite.ErrBadCredentials) {
		t.Errorf("CheckPassword before SetPassword = %v, want ErrBadCredentials", err)
	}
	if err := s.SetPassword(ctx, alice, "1234567"); !errors.Is(err, atlite.ErrPasswordTooShort) {
		t.Errorf("SetPassword(7 bytes) = %v, want ErrPasswordTooShort", err)
	}
	if err := s.SetPassword(ctx, mustDID(t, "did:web:nobody.example"), "12345678"); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("SetPassword(unknown repo) = %v, want ErrNotFound", err)
	}
	if err := s.SetPassword(ctx, alice, "12345678"); err != nil {
		t.Fatalf("SetPassword(8 bytes) = %v", err)
	}
	if err := s.SetPassword(ctx, alice, "hunter2hunter2"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetEmail(ctx, alice, "Alice@Example.com"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetEmail(ctx, bob, "alice@example.COM"); !errors.Is(err, atlite.ErrEmailTaken) {
		t.Errorf("SetEmail(taken, other case) = %v, want ErrEmailTaken", err)
	}
	if err := s.SetEmail(ctx, bob, "Bob <bob@example.com>"); !errors.Is(err, atlite.ErrInvalidEmail) {
		t.Errorf("SetEmail(with a name) = %v, want ErrInvalidEmail", err)
	}
	if err := s.SetEmail(ctx, alice, "Alice@Example.com"); err != nil {
		t.Errorf("SetEmail(own email again) = %v", err)
	}

	for _, id := range []string{"did:web:alice.example", "alice.test", "@Alice.Test", "alice@example.com", "ALICE@example.com"} {
		a, err := s.CheckPassword(ctx, id, "hunter2hunter2")
		if err != nil {
			t.Errorf("CheckPassword(%q, right) = %v", id, err)
			continue
		}
		if a.DID() != alice || a.Email != "Alice@Example.com" || !a.HasPassword || a.AppPassword != "" || a.Privileged || a.Repo.Handle != "alice.test" {
			t.Errorf("CheckPassword(%q) = %+v", id, a)
		}
	}
	for _, c := range []struct{ id, pw string }{
		{"alice.test", "12345678"},        // the old password
		{"alice.test", "hunter2hunter2 "}, // one byte more
		{"alice.test", ""},
		{"bob.test", "hunter2hunter2"},          // no password
		{"carol.test", "hunter2hunter2"},        // unknown handle
		{"did:web:carol.example", "x"},          // unknown DID
		{"carol@example.com", "hunter2hunter2"}, // unknown email
		{"", "hunter2hunter2"},
		{"not a handle!", "hunter2hunter2"},
	} {
		a, err := s.CheckPassword(ctx, c.id, c.pw)
		if !errors.Is(err, atlite.ErrBadCredentials) || a != nil {
			t.Errorf("CheckPassword(%q, %q) = %v, %v; want ErrBadCredentials", c.id, c.pw, a, err)
		}
	}

	// Inactive accounts: a right password gives the account and the status.
	if err := s.Deactivate(ctx, alice); err != nil {
		t.Fatal(err)
	}
	a, err := s.CheckPassword(ctx, "alice.test", "hunter2hunter2")
	var inactive *atlite.InactiveRepoError
	if !errors.As(err, &inactive) || inactive.Status != atlite.StatusDeactivated || a == nil || a.DID() != alice {
		t.Errorf("CheckPassword(deactivated) = %v, %v; want the account and InactiveRepoError(deactivated)", a, err)
	}
	if _, err := s.CheckPassword(ctx, "alice.test", "wrong password"); !errors.Is(err, atlite.ErrBadCredentials) {
		t.Errorf("CheckPassword(deactivated, wrong) = %v, want ErrBadCredentials", err)
	}
	if err := s.Takedown(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckPassword(ctx, "alice.test", "hunter2hunter2"); !errors.As(err, &inactive) || inactive.Status != atlite.StatusTakendown {
		t.Errorf("CheckPassword(taken down) = %v, want InactiveRepoError(takendown)", err)
	}

	la, err := s.LoadAccount(ctx, "bob.test")
	if err != nil || la.DID() != bob || la.HasPassword || la.Email != "" {
		t.Errorf("LoadAccount(bob.test) = %+v, %v", la, err)
	}
	if _, err := s.LoadAccount(ctx, "carol.test"); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("LoadAccount(unknown) = %v, want ErrNotFound", err)
	}
}

func TestAppPassword(t *testing.T) {
	c := newClock()
	s := testutil.MustOpenStore(t, c.opts())
	alice := mustDID(t, "did:web:alice.example")
	if _, err := s.CreateRepo(ctx, alice, &atlite.CreateRepoOptions{Handle: "alice.test"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPassword(ctx, alice, "main password"); err != nil {
		t.Fatal(err)
	}
	format := regexp.MustCompile(`^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$`)
	pw1, ap1, err := s.CreateAppPassword(ctx, alice, "phone", false)
	if err != nil {
		t.Fatal(err)
	}
	if !format.MatchString(pw1) {
		t.Errorf("app password %q does not match %s", pw1, format)
	}
	if ap1.Name != "phone" || ap1.Privileged || !ap1.Created.Equal(testutil.Now) {
		t.Errorf("CreateAppPassword = %+v", ap1)
	}
	c.Advance(time.Second)
	pw2, _, err := s.CreateAppPassword(ctx, alice, "desktop", true)
	if err != nil {
		t.Fatal(err)
	}
	if pw1 == pw2 || !format.MatchString(pw2) {
		t.Errorf("app passwords %q, %q", pw1, pw2)
	}
	if _, _, err := s.CreateAppPassword(ctx, alice, "phone", true); !errors.Is(err, atlite.ErrExists) {
		t.Errorf("CreateAppPassword(same name) = %v, want ErrExists", err)
	}
	if _, _, err := s.CreateAppPassword(ctx, alice, "", false); err == nil {
		t.Error("CreateAppPassword(empty name) succeeded")
	}
	if _, _, err := s.CreateAppPassword(ctx, mustDID(t, "did:web:nobody.example"), "x", false); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("CreateAppPassword(unknown repo) = %v, want ErrNotFound", err)
	}

	list, err := s.ListAppPasswords(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	want := []atlite.AppPassword{
		{Name: "desktop", Privileged: true, Created: testutil.Now.Add(time.Second)},
		{Name: "phone", Privileged: false, Created: testutil.Now},
	}
	if len(list) != len(want) {
		t.Fatalf("ListAppPasswords = %d entries, want %d", len(list), len(want))
	}
	for i := range want {
		if *list[i] != want[i] {
			t.Errorf("ListAppPasswords[%d] = %+v, want %+v", i, *list[i], want[i])
		}
	}

	for _, c := range []struct {
		pw         string
		name       string
		privileged bool
	}{{"main password", "", false}, {pw1, "phone", false}, {pw2, "desktop", true}} {
		a, err := s.CheckPassword(ctx, "alice.test", c.pw)
		if err != nil || a.AppPassword != c.name || a.Privileged != c.privileged {
			t.Errorf("CheckPassword(%q) = %+v, %v; want app password %q privileged %v", c.pw, a, err, c.name, c.privileged)
		}
	}
	if _, err := s.CheckPassword(ctx, "alice.test", strings.ToUpper(pw1)); !errors.Is(err, atlite.ErrBadCredentials) {
		t.Errorf("CheckPassword(app password in upper case) = %v, want ErrBadCredentials", err)
	}

	// Revoking an app password revokes its sessions, not the others.
	tokPhone, sessPhone, err := s.CreateSession(ctx, alice, "phone", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if sessPhone.AppPassword != "phone" || sessPhone.Privileged {
		t.Errorf("CreateSession(phone) = %+v", sessPhone)
	}
	_, sessDesk, err := s.CreateSession(ctx, alice, "desktop", time.Hour)
	if err != nil || !sessDesk.Privileged {
		t.Fatalf("CreateSession(desktop) = %+v, %v", sessDesk, err)
	}
	if _, _, err := s.CreateSession(ctx, alice, "tablet", time.Hour); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("CreateSession(unknown app password) = %v, want ErrNotFound", err)
	}
	if err := s.RevokeAppPassword(ctx, alice, "phone"); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeAppPassword(ctx, alice, "phone"); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("RevokeAppPassword twice = %v, want ErrNotFound", err)
	}
	if _, err := s.CheckPassword(ctx, "alice.test", pw1); !errors.Is(err, atlite.ErrBadCredentials) {
		t.Errorf("CheckPassword(revoked app password) = %v, want ErrBadCredentials", err)
	}
	if _, _, err := s.RefreshSession(ctx, tokPhone); !errors.Is(err, atlite.ErrInvalidToken) {
		t.Errorf("RefreshSession(session of a revoked app password) = %v, want ErrInvalidToken", err)
	}
	if _, err := s.LookupSession(ctx, sessPhone.ID); !errors.Is(err, atlite.ErrInvalidToken) {
		t.Errorf("LookupSession(session of a revoked app password) = %v, want ErrInvalidToken", err)
	}
	if _, err := s.LookupSession(ctx, sessDesk.ID); err != nil {
		t.Errorf("LookupSession(other app password's session) = %v", err)
	}
	if list, _ := s.ListAppPasswords(ctx, alice); len(list) != 1 || list[0].Name != "desktop" {
		t.Errorf("ListAppPasswords after revoke = %v", list)
	}

	// An account without a main password can sign in with an app password;
	// another account's app password does not work.
	bob := mustDID(t, "did:web:bob.example")
	if _, err := s.CreateRepo(ctx, bob, &atlite.CreateRepoOptions{Handle: "bob.test"}); err != nil {
		t.Fatal(err)
	}
	pwb, _, err := s.CreateAppPassword(ctx, bob, "bot", false)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := s.CheckPassword(ctx, "bob.test", pwb); err != nil || a.AppPassword != "bot" || a.HasPassword {
		t.Errorf("CheckPassword(app password, no main password) = %+v, %v", a, err)
	}
	if _, err := s.CheckPassword(ctx, "bob.test", pw2); !errors.Is(err, atlite.ErrBadCredentials) {
		t.Errorf("CheckPassword(another account's app password) = %v, want ErrBadCredentials", err)
	}
}

func TestSession(t *testing.T) {
	c := newClock()
	s := testutil.MustOpenStore(t, c.opts())
	alice := mustDID(t, "did:web:alice.example")
	if _, err := s.CreateRepo(ctx, alice, nil); err != nil {
		t.Fatal(err)
	}
	tokenForm := regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

	t0, s0, err := s.CreateSession(ctx, alice, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	want := atlite.Session{ID: s0.ID, Chain: s0.ID, DID: alice, Created: testutil.Now, Expires: testutil.Now.Add(time.Hour)}
	if !tokenForm.MatchString(t0) || *s0 != want {
		t.Errorf("CreateSession = %q, %+v; want 43 base64url characters, %+v", t0, *s0, want)
	}
	if got, err := s.LookupSession(ctx, s0.ID); err != nil || *got != want {
		t.Errorf("LookupSession = %+v, %v; want %+v", got, err, want)
	}
	if _, err := s.LookupSession(ctx, 999); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("LookupSession(999) = %v, want ErrNotFound", err)
	}

	// Refresh: a new token, same chain, same lifetime from now.
	c.Advance(10 * time.Minute)
	t1, s1, err := s.RefreshSession(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	want1 := atlite.Session{ID: s1.ID, Chain: s0.ID, DID: alice, Created: testutil.Now.Add(10 * time.Minute), Expires: testutil.Now.Add(70 * time.Minute)}
	if t1 == t0 || s1.ID == s0.ID || *s1 != want1 {
		t.Errorf("RefreshSession = %q, %+v; want a new token, %+v", t1, *s1, want1)
	}
	if _, err := s.LookupSession(ctx, s0.ID); !errors.Is(err, atlite.ErrInvalidToken) {
		t.Errorf("LookupSession(rotated) = %v, want ErrInvalidToken", err)
	}

	// Within the grace period the rotated token refreshes again (a second
	// client sharing the session), in the same chain, and the other branch
	// stays valid: neither client signs the other out.
	c.Advance(time.Minute)
	tb, sb, err := s.RefreshSession(ctx, t0)
	if err != nil || sb.Chain != s0.ID || tb == t1 || sb.ID == s1.ID {
		t.Fatalf("RefreshSession(rotated, in the grace period) = %+v, %v; want a new session of chain %d", sb, err, s0.ID)
	}
	if _, err := s.LookupSession(ctx, s1.ID); err != nil {
		t.Errorf("LookupSession(the other branch) = %v", err)
	}
	if _, _, err := s.RefreshSession(ctx, tb); err != nil {
		t.Errorf("RefreshSession(the new branch) = %v", err)
	}

	// After the grace period, reuse of a rotated token fails and revokes the
	// chain.
	u0, _, err := s.CreateSession(ctx, alice, "", 10*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	u1, su1, err := s.RefreshSession(ctx, u0)
	if err != nil {
		t.Fatal(err)
	}
	c.Advance(atlite.RefreshGracePeriod + time.Minute)
	if _, _, err := s.RefreshSession(ctx, u0); !errors.Is(err, atlite.ErrInvalidToken) {
		t.Errorf("RefreshSession(reused after the grace period) = %v, want ErrInvalidToken", err)
	}
	if _, _, err := s.RefreshSession(ctx, u1); !errors.Is(err, atlite.ErrInvalidToken) {
		t.Errorf("RefreshSession(newest of a revoked chain) = %v, want ErrInvalidToken", err)
	}
	if _, err := s.LookupSession(ctx, su1.ID); !errors.Is(err, atlite.ErrInvalidToken) {
		t.Errorf("LookupSession(newest of a revoked chain) = %v, want ErrInvalidToken", err)
	}
	// Nor does the grace period outlive a sign-out.
	v0, _, err := s.CreateSession(ctx, alice, "", 10*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	v1, _, err := s.RefreshSession(ctx, v0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeSession(ctx, v1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.RefreshSession(ctx, v0); !errors.Is(err, atlite.ErrInvalidToken) {
		t.Errorf("RefreshSession(rotated, after sign-out) = %v, want ErrInvalidToken", err)
	}

	// Another sign-in is not touched by that chain, and expires.
	t2, s2, err := s.CreateSession(ctx, alice, "", time.Hour)
	if err != nil || s2.Chain != s2.ID {
		t.Fatalf("CreateSession = %+v, %v", s2, err)
	}
	c.Advance(time.Hour)
	if _, _, err := s.RefreshSession(ctx, t2); !errors.Is(err, atlite.ErrExpiredToken) {
		t.Errorf("RefreshSession(expired) = %v, want ErrExpiredToken", err)
	}
	if _, err := s.LookupSession(ctx, s2.ID); !errors.Is(err, atlite.ErrExpiredToken) {
		t.Errorf("LookupSession(expired) = %v, want ErrExpiredToken", err)
	}

	// Default lifetime; sign-out revokes; expired rows are deleted.
	t3, s3, err := s.CreateSession(ctx, alice, "", 0)
	if err != nil || !s3.Expires.Equal(c.Now().Add(atlite.DefaultSessionTTL)) {
		t.Fatalf("CreateSession(ttl 0) = %+v, %v; want expiry in %v", s3, err, atlite.DefaultSessionTTL)
	}
	if _, err := s.LookupSession(ctx, s2.ID); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("LookupSession(expired, pruned) = %v, want ErrNotFound", err)
	}
	t4, s4, err := s.RefreshSession(ctx, t3)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeSession(ctx, t4); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeSession(ctx, t4); err != nil {
		t.Errorf("RevokeSession twice = %v", err)
	}
	if _, _, err := s.RefreshSession(ctx, t4); !errors.Is(err, atlite.ErrInvalidToken) {
		t.Errorf("RefreshSession(signed out) = %v, want ErrInvalidToken", err)
	}
	if _, err := s.LookupSession(ctx, s4.ID); !errors.Is(err, atlite.ErrInvalidToken) {
		t.Errorf("LookupSession(signed out) = %v, want ErrInvalidToken", err)
	}

	for _, bad := range []string{"", "x", t0 + "A", strings.Repeat("A", 43) + "=", "not-a-token-not-a-token-not-a-token-not-a-t"} {
		if _, _, err := s.RefreshSession(ctx, bad); !errors.Is(err, atlite.ErrInvalidToken) {
			t.Errorf("RefreshSession(%q) = %v, want ErrInvalidToken", bad, err)
		}
		if err := s.RevokeSession(ctx, bad); !errors.Is(err, atlite.ErrInvalidToken) {
			t.Errorf("RevokeSession(%q) = %v, want ErrInvalidToken", bad, err)
		}
	}

	// An inactive repo cannot refresh; the token stays valid.
	t5, _, err := s.CreateSession(ctx, alice, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Deactivate(ctx, alice); err != nil {
		t.Fatal(err)
	}
	// A deactivated account refreshes (to reactivate itself); a taken-down
	// one does not, and its token stays valid for when it is back.
	t6, _, err := s.RefreshSession(ctx, t5)
	if err != nil {
		t.Fatalf("RefreshSession(deactivated) = %v", err)
	}
	if err := s.Takedown(ctx, alice); err != nil {
		t.Fatal(err)
	}
	var inactive *atlite.InactiveRepoError
	if _, _, err := s.RefreshSession(ctx, t6); !errors.As(err, &inactive) || inactive.Status != atlite.StatusTakendown {
		t.Errorf("RefreshSession(taken down) = %v, want InactiveRepoError", err)
	}
	if err := s.Activate(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.RefreshSession(ctx, t6); err != nil {
		t.Errorf("RefreshSession(reactivated) = %v", err)
	}
	if _, _, err := s.CreateSession(ctx, mustDID(t, "did:web:nobody.example"), "", 0); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("CreateSession(unknown repo) = %v, want ErrNotFound", err)
	}

	// RevokeSessions: every live session of the account (t5's successor
	// and two new ones).
	_, s6, _ := s.CreateSession(ctx, alice, "", time.Hour)
	_, s7, _ := s.CreateSession(ctx, alice, "", time.Hour)
	if n, err := s.RevokeSessions(ctx, alice); err != nil || n != 3 {
		t.Errorf("RevokeSessions = %d, %v; want 3", n, err)
	}
	for _, id := range []int64{s6.ID, s7.ID} {
		if _, err := s.LookupSession(ctx, id); !errors.Is(err, atlite.ErrInvalidToken) {
			t.Errorf("LookupSession(%d) after RevokeSessions = %v, want ErrInvalidToken", id, err)
		}
	}
	if _, err := s.RevokeSessions(ctx, mustDID(t, "did:web:nobody.example")); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("RevokeSessions(unknown repo) = %v, want ErrNotFound", err)
	}
}

// fixedKeys are deterministic signing and rotation keys, so that the
// genesis operation and the DID are fixed.
func fixedKeys(t *testing.T) (keys.PrivateKey, keys.PrivateKey) {
	t.Helper()
	sk := testutil.TestKey(t)
	rk, err := keys.K256FromSeed(1234567)
	if err != nil {
		t.Fatal(err)
	}
	return sk, rk
}

func TestAccountCreate(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	sk, rk := fixedKeys(t)
	a, err := s.CreateAccount(ctx, &atlite.CreateAccountOptions{
		Handle: "Alice.Test", PDSEndpoint: "https://pds.example", SigningKey: sk, RotationKey: rk,
		Email: "alice@example.com", Password: "hunter2hunter2",
	})
	if err != nil {
		t.Fatal(err)
	}
	// Fixed keys and deterministic signatures give a fixed DID (pinned when
	// this test was written; the did package's tests check the derivation
	// against other implementations).
	d := a.DID()
	if d != "did:plc:f5auxix47rlkxsejkacilbdc" {
		t.Errorf("DID %s, want did:plc:f5auxix47rlkxsejkacilbdc", d)
	}
	if a.Repo.Handle != "alice.test" || a.Email != "alice@example.com" || !a.HasPassword ||
		a.Repo.SigningKey.DIDKey() != sk.PublicKey().DIDKey() || a.Repo.RotationKey.DIDKey() != rk.PublicKey().DIDKey() {
		t.Errorf("CreateAccount = %+v, repo %+v", a, a.Repo)
	}
	// The genesis operation is kept, decodes back and gives the DID.
	b, err := s.PLCOperation(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	op, err := did.ParseOperationCBOR(b)
	if err != nil {
		t.Fatal(err)
	}
	if od, err := op.DID(); err != nil || od != d {
		t.Errorf("stored operation's DID = %s, %v; want %s", od, err, d)
	}
	if err := op.Verify(rk.PublicKey()); err != nil {
		t.Errorf("stored operation not signed by the rotation key: %v", err)
	}
	doc, err := op.Document(d)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := doc.Handle(); h != "alice.test" {
		t.Errorf("operation's handle = %q", h)
	}
	if ep, _ := doc.PDSEndpoint(); ep != "https://pds.example" {
		t.Errorf("operation's PDS = %q", ep)
	}
	if k, _ := doc.SigningKey(); k == nil || k.DIDKey() != sk.PublicKey().DIDKey() {
		t.Errorf("operation's signing key = %v", k)
	}
	// It is the genesis operation built from the same keys.
	again, err := did.NewGenesis([]keys.PublicKey{rk.PublicKey()}, sk.PublicKey(), "alice.test", "https://pds.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Sign(rk); err != nil {
		t.Fatal(err)
	}
	if ab, _ := again.Bytes(); !bytes.Equal(ab, b) {
		t.Errorf("stored operation differs from the genesis rebuilt from the same keys")
	}
	if got, err := s.CheckPassword(ctx, "alice@example.com", "hunter2hunter2"); err != nil || got.DID() != d {
		t.Errorf("CheckPassword(new account) = %v, %v", got, err)
	}

	// Refusals write nothing.
	countRepos := func() int {
		repos, _, err := s.ListRepos(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		return len(repos)
	}
	for _, c := range []struct {
		name string
		o    atlite.CreateAccountOptions
		want error
	}{
		{"handle taken", atlite.CreateAccountOptions{Handle: "ALICE.test", PDSEndpoint: "https://pds.example"}, atlite.ErrHandleTaken},
		{"email taken", atlite.CreateAccountOptions{Handle: "bob.test", PDSEndpoint: "https://pds.example", Email: "Alice@example.com"}, atlite.ErrEmailTaken},
		{"short password", atlite.CreateAccountOptions{Handle: "bob.test", PDSEndpoint: "https://pds.example", Password: "short"}, atlite.ErrPasswordTooShort},
		{"bad email", atlite.CreateAccountOptions{Handle: "bob.test", PDSEndpoint: "https://pds.example", Email: "bob"}, atlite.ErrInvalidEmail},
		{"same DID", atlite.CreateAccountOptions{DID: d, Handle: "bob.test"}, atlite.ErrExists},
		{"no handle", atlite.CreateAccountOptions{PDSEndpoint: "https://pds.example"}, nil},
		{"bad endpoint", atlite.CreateAccountOptions{Handle: "bob.test", PDSEndpoint: "https://pds.example/"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := s.CreateAccount(ctx, &c.o)
			if err == nil || a != nil || (c.want != nil && !errors.Is(err, c.want)) {
				t.Errorf("CreateAccount = %v, %v; want %v", a, err, c.want)
			}
			if n := countRepos(); n != 1 {
				t.Errorf("refused CreateAccount left %d repos, want 1", n)
			}
		})
	}

	// A given DID: no genesis operation, no rotation key; a P-256 key.
	web := mustDID(t, "did:web:bob.example")
	b2, err := s.CreateAccount(ctx, &atlite.CreateAccountOptions{DID: web, Handle: "bob.test", P256: true})
	if err != nil {
		t.Fatal(err)
	}
	if b2.DID() != web || b2.Repo.SigningKey.Curve() != keys.P256 || b2.Repo.RotationKey != nil || b2.HasPassword {
		t.Errorf("CreateAccount(did:web, P-256) = %+v, repo %+v", b2, b2.Repo)
	}
	if _, err := s.PLCOperation(ctx, web); !errors.Is(err, atlite.ErrNotFound) {
		t.Errorf("PLCOperation(did:web) = %v, want ErrNotFound", err)
	}
	if _, err := s.CheckPassword(ctx, "bob.test", ""); !errors.Is(err, atlite.ErrBadCredentials) {
		t.Errorf("CheckPassword(no password) = %v, want ErrBadCredentials", err)
	}
	// K-256 by default.
	c3, err := s.CreateAccount(ctx, &atlite.CreateAccountOptions{Handle: "carol.test", PDSEndpoint: "http://localhost:2583"})
	if err != nil || c3.Repo.SigningKey.Curve() != keys.K256 || c3.Repo.RotationKey == nil {
		t.Errorf("CreateAccount(defaults) = %+v, %v", c3, err)
	}
}

func TestAccountCreatePLC(t *testing.T) {
	s := testutil.MustOpenStore(t, nil)
	dir := didtest.NewDirectory()
	defer dir.Close()
	plc, err := did.NewPLCClient(&did.PLCOptions{URL: dir.URL(), HTTPClient: dir.Client()})
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAccount(ctx, &atlite.CreateAccountOptions{Handle: "alice.test", PDSEndpoint: "https://pds.example", PLC: plc})
	if err != nil {
		t.Fatal(err)
	}
	if log := dir.AuditLog(a.DID()); len(log) != 1 {
		t.Errorf("directory holds %d operations for %s, want 1", len(log), a.DID())
	}
	doc, err := plc.Resolve(ctx, a.DID())
	if err != nil {
		t.Fatal(err)
	}
	if k, _ := doc.SigningKey(); k == nil || k.DIDKey() != a.Repo.SigningKey.DIDKey() {
		t.Errorf("published signing key = %v, want %s", k, a.Repo.SigningKey.DIDKey())
	}

	// A directory that refuses: the account is kept with its operation.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"message":"no"}`))
	}))
	defer bad.Close()
	badPLC, err := did.NewPLCClient(&did.PLCOptions{URL: bad.URL, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateAccount(ctx, &atlite.CreateAccountOptions{Handle: "bob.test", PDSEndpoint: "https://pds.example", Password: "bob's password", PLC: badPLC})
	if !errors.Is(err, atlite.ErrPLCPublish) || !errors.Is(err, did.ErrRejected) || b == nil {
		t.Fatalf("CreateAccount(refusing directory) = %v, %v; want the account and ErrPLCPublish wrapping did.ErrRejected", b, err)
	}
	if got, err := s.CheckPassword(ctx, "bob.test", "bob's password"); err != nil || got.DID() != b.DID() {
		t.Errorf("CheckPassword after a failed publish = %v, %v", got, err)
	}
	// Publish later from the stored operation.
	ob, err := s.PLCOperation(ctx, b.DID())
	if err != nil {
		t.Fatal(err)
	}
	op, err := did.ParseOperationCBOR(ob)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := plc.Create(ctx, op); err != nil || d != b.DID() {
		t.Errorf("later publish = %s, %v; want %s", d, err, b.DID())
	}
	if _, err := s.CreateAccount(ctx, &atlite.CreateAccountOptions{DID: mustDID(t, "did:web:carol.example"), PLC: plc}); err == nil {
		t.Error("CreateAccount with a DID and a PLC directory succeeded")
	}
}

func TestServerSecret(t *testing.T) {
	s, p := testutil.MustOpenFileStore(t, nil)
	var wg sync.WaitGroup
	got := make([][]byte, 8)
	errs := make([]error, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = s.ServerSecret(ctx, "jwt", 32)
		}()
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil || len(got[i]) != 32 || !bytes.Equal(got[i], got[0]) {
			t.Errorf("ServerSecret #%d = %x, %v; want the same 32 bytes as #0 (%x)", i, got[i], errs[i], got[0])
		}
	}
	other, err := s.ServerSecret(ctx, "other", 16)
	if err != nil || len(other) != 16 || bytes.Equal(other, got[0][:16]) {
		t.Errorf("ServerSecret(other) = %x, %v", other, err)
	}
	if _, err := s.ServerSecret(ctx, "jwt", 16); err == nil {
		t.Error("ServerSecret with another size succeeded")
	}
	for _, c := range []struct {
		name string
		size int
	}{{"", 32}, {"x", 0}, {"x", atlite.MaxServerSecretSize + 1}} {
		if _, err := s.ServerSecret(ctx, c.name, c.size); err == nil {
			t.Errorf("ServerSecret(%q, %d) succeeded", c.name, c.size)
		}
	}
	s.Close()
	s, err = atlite.Open(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if again, err := s.ServerSecret(ctx, "jwt", 32); err != nil || !bytes.Equal(again, got[0]) {
		t.Errorf("ServerSecret after reopen = %x, %v; want %x", again, err, got[0])
	}
}

func TestServerSecretSealed(t *testing.T) {
	kek := bytes.Repeat([]byte{7}, 32)
	s, p := testutil.MustOpenFileStore(t, &atlite.Options{KeyEncryptionKey: kek})
	if _, err := s.CreateRepo(ctx, mustDID(t, "did:web:alice.example"), nil); err != nil {
		t.Fatal(err)
	}
	v, err := s.ServerSecret(ctx, "jwt", 32)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	db, err := testutil.OpenRawDB(p)
	if err != nil {
		t.Fatal(err)
	}
	var stored []byte
	var enc bool
	if err := db.QueryRow(`SELECT value, encrypted FROM server_secrets WHERE name = 'jwt'`).Scan(&stored, &enc); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if !enc || len(stored) != 12+32+16 || bytes.Contains(stored, v) {
		t.Errorf("stored secret: encrypted %v, %d bytes; want sealed, 60 bytes, without the secret", enc, len(stored))
	}

	s, err = atlite.Open(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ServerSecret(ctx, "jwt", 32); !errors.Is(err, atlite.ErrKeyEncrypted) {
		t.Errorf("ServerSecret(sealed, no KEK) = %v, want ErrKeyEncrypted", err)
	}
	if _, err := s.ServerSecret(ctx, "new", 32); !errors.Is(err, atlite.ErrKeyEncrypted) {
		t.Errorf("new clear ServerSecret in a sealed file = %v, want ErrKeyEncrypted", err)
	}
	s.Close()
	s, err = atlite.Open(p, &atlite.Options{KeyEncryptionKey: kek})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if again, err := s.ServerSecret(ctx, "jwt", 32); err != nil || !bytes.Equal(again, v) {
		t.Errorf("ServerSecret(sealed, KEK) = %x, %v; want %x", again, err, v)
	}
}
