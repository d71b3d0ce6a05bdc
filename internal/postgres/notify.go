package postgres

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jmoiron/sqlx"
)

// maxChannelLen is the longest channel name PostgreSQL keeps (NAMEDATALEN-1
// bytes); LISTEN would silently cut a longer one.
const maxChannelLen = 63

// ListenerApplicationName is the application_name of a [Listener]'s
// connection when its URL sets none, so that it can be told apart in
// pg_stat_activity.
const ListenerApplicationName = "atlite-listener"

// Backoff bounds of a [Listener] reconnecting after an error.
const (
	// ListenerMinBackoff is the wait before the first reconnection attempt.
	ListenerMinBackoff = 50 * time.Millisecond
	// ListenerMaxBackoff is the longest wait between attempts; the wait
	// doubles from ListenerMinBackoff up to it.
	ListenerMaxBackoff = 5 * time.Second
)

// eventsChannelSQL returns the name of the channel on which the store in
// the current schema announces new events (see [EventsChannel]).
const eventsChannelSQL = `SELECT 'atlite.' || current_schema()`

// EventsChannel returns the LISTEN/NOTIFY channel of the store in db's
// current schema: "atlite." followed by the schema's name, or by a hash of
// it when that would not fit in a channel name. Channels belong to the
// database, not to a schema, so two stores in one database need channels
// of their own not to wake each other.
func EventsChannel(ctx context.Context, q sqlx.QueryerContext) (string, error) {
	var ch sql.NullString
	if err := q.QueryRowxContext(ctx, eventsChannelSQL).Scan(&ch); err != nil {
		return "", fmt.Errorf("events channel: %w", err)
	}
	if !ch.Valid {
		return "", errors.New("events channel: no schema of the search_path exists")
	}
	if len(ch.String) > maxChannelLen {
		sum := sha256.Sum256([]byte(ch.String))
		return "atlite." + hex.EncodeToString(sum[:16]), nil
	}
	return ch.String, nil
}

func checkChannel(channel string) error {
	if channel == "" || len(channel) > maxChannelLen {
		return fmt.Errorf("notification channel %q: want 1 to %d bytes", channel, maxChannelLen)
	}
	return nil
}

// Notify sends payload on channel from inside tx, with pg_notify: the
// notification is delivered to the listeners when tx commits, and never if
// it rolls back. Notifications of one transaction with the same channel and
// payload are delivered once. PostgreSQL limits payload to 7999 bytes.
//
// A transaction that notifies takes a database-wide lock at commit, so such
// commits are serialized at their end; seq allocation ([AllocSeq]) already
// serializes them from the allocation on.
func Notify(ctx context.Context, tx *sqlx.Tx, channel, payload string) error {
	if err := checkChannel(channel); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, channel, payload); err != nil {
		return fmt.Errorf("notify %s: %w", channel, err)
	}
	return nil
}

// Listener listens on one channel through a connection of its own (not one
// of a pool: a LISTEN lasts as long as its session) and pokes [Listener.C]
// for every notification. When the connection fails it reconnects, waiting
// ListenerMinBackoff, then twice as long each time up to ListenerMaxBackoff,
// and pokes C once it listens again, since notifications sent meanwhile are
// lost. A Listener is safe for concurrent use.
//
// It is meant to wake a reader early, not to carry data: pokes coalesce (C
// holds at most one), so the reader reads the table the notifications are
// about after each one. A connection cut without a word from the server
// (a network partition) is noticed only through Go's TCP keepalive, after
// a few minutes, so a reader should also poll, as the firehose does.
type Listener struct {
	cfg     *pgx.ConnConfig
	channel string
	c       chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}

	closeOnce sync.Once
	mu        sync.Mutex
	err       error // the last connection error, nil while listening
}

// NewListener connects to rawURL and listens on channel. The first
// connection is made before it returns, so a bad URL ([ErrBadURL]) or an
// unreachable server is reported here; later failures are retried. The
// caller must call [Listener.Close].
func NewListener(ctx context.Context, rawURL, channel string) (*Listener, error) {
	if err := checkChannel(channel); err != nil {
		return nil, err
	}
	cfg, err := parseConfig(rawURL)
	if err != nil {
		return nil, err
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = ListenerApplicationName
	}
	l := &Listener{cfg: cfg, channel: channel, c: make(chan struct{}, 1), done: make(chan struct{})}
	conn, err := l.connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("listen on %s at %s: %w", channel, redactURL(rawURL), err)
	}
	// The loop's context lives until Close, not as long as ctx.
	lctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go l.run(lctx, conn)
	return l, nil
}

// C returns the channel poked after every notification, and after every
// reconnection. It is closed when the Listener is closed.
func (l *Listener) C() <-chan struct{} { return l.c }

// Err returns the error that broke the connection while the Listener is
// reconnecting, and nil while it listens.
func (l *Listener) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Close stops listening, closes the connection and then C. It is
// idempotent and always returns nil.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		l.cancel()
		<-l.done
	})
	return nil
}

// connect opens the connection and runs LISTEN.
func (l *Listener) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.channel}.Sanitize()); err != nil {
		closeConn(conn)
		return nil, err
	}
	return conn, nil
}

func (l *Listener) poke() {
	select {
	case l.c <- struct{}{}:
	default:
	}
}

func (l *Listener) setErr(err error) {
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
}

// run waits for notifications until ctx ends, reconnecting on errors.
func (l *Listener) run(ctx context.Context, conn *pgx.Conn) {
	defer close(l.done)
	defer close(l.c)
	backoff := ListenerMinBackoff
	for {
		for conn == nil {
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, ListenerMaxBackoff)
			c, err := l.connect(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				l.setErr(err)
				continue
			}
			conn = c
			backoff = ListenerMinBackoff
			l.setErr(nil)
			l.poke() // notifications may have been sent while disconnected
		}
		_, err := conn.WaitForNotification(ctx)
		if err == nil {
			l.poke()
			continue
		}
		closeConn(conn)
		conn = nil
		if ctx.Err() != nil {
			return
		}
		l.setErr(err)
	}
}

// closeConn closes conn, waiting at most a second for the server.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}
