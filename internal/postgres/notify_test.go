package postgres_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/atlite-dev/atlite/internal/postgres"
)

// notify sends payload on channel in a transaction that commits or rolls
// back.
func notify(tb testing.TB, db *sqlx.DB, channel, payload string, commit bool) {
	tb.Helper()
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := postgres.Notify(ctx, tx, channel, payload); err != nil {
		tx.Rollback()
		tb.Fatalf("Notify = %v", err)
	}
	if commit {
		err = tx.Commit()
	} else {
		err = tx.Rollback()
	}
	if err != nil {
		tb.Fatal(err)
	}
}

func wantPoke(tb testing.TB, l *postgres.Listener, what string) {
	tb.Helper()
	select {
	case _, ok := <-l.C():
		if !ok {
			tb.Fatalf("%s: C closed", what)
		}
	case <-time.After(10 * time.Second):
		tb.Fatalf("%s: no poke in 10s (Err %v)", what, l.Err())
	}
}

func wantNoPoke(tb testing.TB, l *postgres.Listener, what string) {
	tb.Helper()
	select {
	case <-l.C():
		tb.Fatalf("%s: poked", what)
	case <-time.After(300 * time.Millisecond):
	}
}

// listen returns a listener on the events channel of a fresh store, with
// a pool to the store.
func listen(tb testing.TB) (*postgres.Listener, *sqlx.DB, string) {
	tb.Helper()
	db, dsn := migrated(tb)
	ch, err := postgres.EventsChannel(ctx, db)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := postgres.NewListener(ctx, dsn, ch)
	if err != nil {
		tb.Fatalf("NewListener = %v", err)
	}
	tb.Cleanup(func() { l.Close() })
	return l, db, ch
}

func TestListener(t *testing.T) {
	l, db, ch := listen(t)
	wantNoPoke(t, l, "before any notification")
	notify(t, db, ch, "1", true)
	wantPoke(t, l, "committed notification")
	notify(t, db, ch, "2", false)
	wantNoPoke(t, l, "rolled-back notification")
	notify(t, db, "other", "3", true)
	wantNoPoke(t, l, "notification on another channel")
	// Pokes coalesce: two notifications leave one poke.
	notify(t, db, ch, "4", true)
	notify(t, db, ch, "5", true)
	wantPoke(t, l, "two committed notifications")
	time.Sleep(100 * time.Millisecond)
	select {
	case <-l.C():
	default:
	}
	wantNoPoke(t, l, "after draining")
	if err := l.Err(); err != nil {
		t.Errorf("Err = %v, want nil", err)
	}
	l.Close()
	select {
	case _, ok := <-l.C():
		if ok {
			t.Error("C after Close: a poke, want closed")
		}
	case <-time.After(5 * time.Second):
		t.Error("C not closed 5s after Close")
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// TestListenerReconnects ends the listener's session from the server: it
// must reconnect, poke once it listens again, and get what follows.
func TestListenerReconnects(t *testing.T) {
	l, db, ch := listen(t)
	// Two rounds: the backoff resets after each reconnection.
	for round := range 2 {
		var killed int
		err := db.QueryRowxContext(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query = $1`,
			`LISTEN "`+ch+`"`).Scan(&killed)
		if err != nil || killed != 1 {
			t.Fatalf("round %d: terminated %d listening sessions (%v), want 1", round, killed, err)
		}
		wantPoke(t, l, "reconnection")
		if err := l.Err(); err != nil {
			t.Errorf("round %d: Err after reconnecting = %v, want nil", round, err)
		}
		notify(t, db, ch, "after", true)
		wantPoke(t, l, "notification after reconnecting")
	}
}

func TestEventsChannel(t *testing.T) {
	db, dsn := migrated(t)
	var schema string
	if err := db.QueryRowxContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		schema, want string
	}{
		{schema, "atlite." + schema},
		{"Mixed Case", "atlite.Mixed Case"},
		// 57 bytes of name make 64 of channel: hashed to fit in 63
		// (printf 'atlite.sss...' | sha256sum | cut -c1-32).
		{strings.Repeat("s", 57), "atlite.2897a4e1b7ab8d4ecbffed5ec89c35ff"},
	}
	for _, tt := range tests {
		t.Run(tt.schema, func(t *testing.T) {
			var q sqlx.QueryerContext = db
			if tt.schema != schema {
				mustExec(t, db, `CREATE SCHEMA "`+tt.schema+`"`)
				t.Cleanup(func() { db.ExecContext(ctx, `DROP SCHEMA "`+tt.schema+`"`) })
				q = connect(t, withParam(t, dsn, "search_path", `"`+tt.schema+`"`), 1)
			}
			got, err := postgres.EventsChannel(ctx, q)
			if err != nil || got != tt.want {
				t.Fatalf("EventsChannel = %q, %v, want %q", got, err, tt.want)
			}
			// The name works end to end, quoting and case included.
			l, err := postgres.NewListener(ctx, dsn, got)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			notify(t, db, got, "x", true)
			wantPoke(t, l, "notification on "+got)
		})
	}
}

func TestChannelNames(t *testing.T) {
	_, dsn := migrated(t)
	for _, ch := range []string{"", strings.Repeat("c", 64)} {
		if l, err := postgres.NewListener(ctx, dsn, ch); err == nil {
			l.Close()
			t.Errorf("NewListener(%q) = nil error, want one", ch)
		}
	}
}

// TestListenerRetries refuses the listener's reconnections for a while (its
// role may not log in): Err reports why while it retries, and once logins
// are allowed again it listens, pokes, and gets what follows.
func TestListenerRetries(t *testing.T) {
	db, dsn := migrated(t)
	var role string
	if err := db.QueryRowxContext(ctx, `SELECT current_schema() || '_listener'`).Scan(&role); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE ROLE `+role+` LOGIN`); err != nil {
		t.Skipf("cannot create a role: %v", err)
	}
	t.Cleanup(func() {
		db.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, role)
		db.ExecContext(ctx, `DROP ROLE `+role)
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	ch, err := postgres.EventsChannel(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	l, err := postgres.NewListener(ctx, u.String(), ch)
	if err != nil {
		t.Fatalf("NewListener as %s = %v", role, err)
	}
	defer l.Close()

	mustExec(t, db, `ALTER ROLE `+role+` NOLOGIN`)
	mustExec(t, db, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, role)
	deadline := time.Now().Add(10 * time.Second)
	for l.Err() == nil || !strings.Contains(l.Err().Error(), "not permitted to log in") {
		if time.Now().After(deadline) {
			t.Fatalf("Err while logins are refused = %v, want the refusal", l.Err())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Let a few attempts fail, then allow logins again.
	time.Sleep(300 * time.Millisecond)
	select {
	case <-l.C():
		t.Fatal("poked while disconnected")
	default:
	}
	mustExec(t, db, `ALTER ROLE `+role+` LOGIN`)
	wantPoke(t, l, "reconnection after refused logins")
	if err := l.Err(); err != nil {
		t.Errorf("Err after reconnecting = %v, want nil", err)
	}
	notify(t, db, ch, "after", true)
	wantPoke(t, l, "notification after reconnecting")
}
