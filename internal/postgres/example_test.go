package postgres_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/atlite-dev/atlite/internal/postgres"
)

// Example opens a store's database, migrates it, and commits an event whose
// seq comes from the counter, announcing it to a listener. It needs a server
// (ATLITE_DB here), so it has no output to check.
func Example() {
	ctx := context.Background()
	dsn := os.Getenv("ATLITE_DB") // postgres://user@host:5432/atlite
	db, err := postgres.Connect(ctx, dsn, 0)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := postgres.Migrate(ctx, db); err != nil {
		log.Fatal(err) // errors.Is(err, postgres.ErrNotAtlite), ErrSchemaTooNew
	}
	ch, err := postgres.EventsChannel(ctx, db)
	if err != nil {
		log.Fatal(err)
	}
	l, err := postgres.NewListener(ctx, dsn, ch)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()

	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback()
	var seq int64
	err = tx.QueryRowxContext(ctx, db.Rebind(postgres.InsertEventSQL), "did:web:alice.example", "identity", int64(0), nil, []byte{0xa0}).Scan(&seq)
	if err != nil {
		log.Fatal(err)
	}
	if err := postgres.Notify(ctx, tx, ch, fmt.Sprint(seq)); err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		log.Fatal(err)
	}
	<-l.C() // woken at commit: read the events after the last seq seen
	fmt.Println("event", seq)
}
