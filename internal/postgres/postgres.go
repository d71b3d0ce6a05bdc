package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/atlite-dev/atlite/internal/storage"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"
)

// DefaultMaxConns is the size of the connection pool [Connect] opens when
// its maxConns is 0 or less.
const DefaultMaxConns = 10

// ErrBadURL is returned by [Connect] and [NewListener] when the database
// URL is not a postgres:// (or postgresql://) URL that pgx can parse.
var ErrBadURL = errors.New("bad PostgreSQL URL")

// ErrNotAtlite is returned by [Migrate] when the schema holds tables but no
// atlite mark, or a mark of another application.
var ErrNotAtlite = storage.ErrNotAtlite

// ErrSchemaTooNew is returned by [Migrate] when the schema was written by a
// newer atlite than this build.
var ErrSchemaTooNew = storage.ErrSchemaTooNew

// Connect opens a pool of at most maxConns connections (DefaultMaxConns
// when maxConns <= 0) to the database at rawURL, a URL such as
// postgres://user:password@host:5432/database?sslmode=disable, and checks
// that the server answers. The pool's driver name is "pgx", so sqlx rebinds
// ? placeholders to $1, $2, ... A Go bool argument for an integer column
// is sent as 0 or 1, as SQLite's driver does (pgx refuses it otherwise).
// The caller closes the pool. Errors name the URL without its password.
func Connect(ctx context.Context, rawURL string, maxConns int) (*sqlx.DB, error) {
	cfg, err := parseConfig(rawURL)
	if err != nil {
		return nil, err
	}
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	db := sqlx.NewDb(stdlib.OpenDB(*cfg, stdlib.OptionAfterConnect(boolsAsIntegers)), "pgx")
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s: %w", redactURL(rawURL), err)
	}
	return db, nil
}

// parseConfig parses rawURL into a pgx configuration; its errors wrap
// ErrBadURL and never show the password.
func parseConfig(rawURL string) (*pgx.ConnConfig, error) {
	shown := redactURL(rawURL)
	if !strings.HasPrefix(rawURL, "postgres://") && !strings.HasPrefix(rawURL, "postgresql://") {
		return nil, fmt.Errorf("%w %s: want postgres://user@host:port/database", ErrBadURL, shown)
	}
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		// pgx's own message quotes the URL with a best-effort redaction;
		// say only what was wrong with it.
		reason := "cannot parse it"
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) && pe.Unwrap() != nil {
			reason = pe.Unwrap().Error()
		}
		if u, uerr := url.Parse(rawURL); uerr == nil {
			if pw, ok := u.User.Password(); ok && pw != "" {
				reason = strings.ReplaceAll(reason, pw, "xxxxx")
			}
			if strings.Contains(reason, rawURL) {
				reason = "cannot parse it"
			}
		} else {
			reason = "cannot parse it"
		}
		return nil, fmt.Errorf("%w %s: %s", ErrBadURL, shown, reason)
	}
	return cfg, nil
}

// redactURL returns rawURL with its password replaced by xxxxx, or a
// placeholder when it is not a URL at all.
func redactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Sprintf("(URL not shown: %v)", ue.Err)
		}
		return "(URL not shown)"
	}
	if u.Scheme == "" || u.Opaque != "" {
		return "(not a URL, not shown)"
	}
	return u.Redacted()
}

// boolsAsIntegers makes conn encode a Go bool given for an integer
// parameter as 0 or 1: atlite's flags are integer columns, on SQLite and
// here. A bool for a boolean parameter is encoded as before (wrappers are
// tried only for values the column's codec cannot take).
func boolsAsIntegers(_ context.Context, conn *pgx.Conn) error {
	m := conn.TypeMap()
	m.TryWrapEncodePlanFuncs = append([]pgtype.TryWrapEncodePlanFunc{tryBoolAsInt}, m.TryWrapEncodePlanFuncs...)
	return nil
}

func tryBoolAsInt(value any) (pgtype.WrappedEncodePlanNextSetter, any, bool) {
	b, ok := value.(bool)
	if !ok {
		return nil, nil, false
	}
	return &boolAsIntPlan{}, boolInt(b), true
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// boolAsIntPlan encodes a bool as the integer 0 or 1 with the next plan.
type boolAsIntPlan struct{ next pgtype.EncodePlan }

func (p *boolAsIntPlan) SetNext(next pgtype.EncodePlan) { p.next = next }

func (p *boolAsIntPlan) Encode(value any, buf []byte) ([]byte, error) {
	return p.next.Encode(boolInt(value.(bool)), buf)
}
