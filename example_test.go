package atlite_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

// Create a repo, commit a record and read it back.
func Example() {
	ctx := context.Background()
	s, err := atlite.Open(":memory:", nil) // a file path in real use
	if err != nil {
		panic(err)
	}
	defer s.Close()

	did, _ := syntax.ParseDID("did:web:alice.example")
	key, _ := keys.K256FromSeed(2349872879569) // keys.GenerateK256() in real use
	if _, err := s.CreateRepo(ctx, did, &atlite.CreateRepoOptions{Handle: "alice.example", SigningKey: key}); err != nil {
		panic(err)
	}
	w, err := commit.NewWrite(commit.Create, "app.bsky.feed.post", "3jzfcijpj2z2a",
		map[string]any{"$type": "app.bsky.feed.post", "text": "hello", "createdAt": "2026-11-22T00:00:00.000Z"})
	if err != nil {
		panic(err)
	}
	res, err := s.Commit(ctx, did, []commit.Write{w}, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("seq", res.Seq, res.Ops[0].Action, res.Ops[0].Path)

	rec, err := s.GetRecord(ctx, did, "app.bsky.feed.post", "3jzfcijpj2z2a")
	if err != nil {
		panic(err)
	}
	v, _ := datamodel.Unmarshal(rec.Data)
	j, _ := datamodel.ToJSON(v)
	fmt.Println(rec.CID)
	fmt.Println(string(j))
	// Output:
	// seq 4 create app.bsky.feed.post/3jzfcijpj2z2a
	// bafyreidjvbc4ldqhlyjlcpehgjyfm4wmzj5fxnouvh7fbfskpi7gikjg5e
	// {"$type":"app.bsky.feed.post","createdAt":"2026-11-22T00:00:00.000Z","text":"hello"}
}

// Events arrive on a subscription after their transaction commits.
func ExampleStore_Subscribe() {
	ctx := context.Background()
	s, _ := atlite.Open(":memory:", nil)
	defer s.Close()
	sub, _ := s.Subscribe(ctx, 0)
	defer sub.Close()

	did, _ := syntax.ParseDID("did:plc:ewvi7nxzyoun6zhxrhs64oiz")
	s.CreateRepo(ctx, did, &atlite.CreateRepoOptions{Handle: "bob.example"})
	for i := 0; i < 3; i++ {
		e := <-sub.Events()
		fmt.Println(e.Seq, e.Kind)
	}
	// Output:
	// 1 identity
	// 2 account
	// 3 commit
}

// Write a record from atproto JSON in one call, read it back as JSON, and
// put the same value again: a no-op that writes nothing.
func ExampleStore_PutRecordJSON() {
	ctx := context.Background()
	s, _ := atlite.Open(":memory:", nil)
	defer s.Close()
	did, _ := syntax.ParseDID("did:web:alice.example")
	key, _ := keys.K256FromSeed(2349872879569)
	s.CreateRepo(ctx, did, &atlite.CreateRepoOptions{SigningKey: key})

	post := []byte(`{"text":"hello","createdAt":"2026-11-22T00:00:00.000Z"}`) // $type filled in
	res, err := s.PutRecordJSON(ctx, did, "app.bsky.feed.post", "3jzfcijpj2z2a", post)
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Seq, res.Ops[0].Action, res.Ops[0].CID)

	rec, _ := s.GetRecord(ctx, did, "app.bsky.feed.post", "3jzfcijpj2z2a")
	j, _ := rec.JSON()
	fmt.Println(rec.URI())
	fmt.Println(string(j))

	again, _ := s.PutRecordJSON(ctx, did, "app.bsky.feed.post", "3jzfcijpj2z2a", post)
	fmt.Println(again.NoOp, again.Seq, again.CID == res.CID)

	recs, cursor, _ := s.ListRecords(ctx, did, "app.bsky.feed.post", &atlite.ListRecordsOptions{Limit: 10})
	fmt.Printf("%d record, cursor %q\n", len(recs), cursor)
	// Output:
	// 4 create bafyreidjvbc4ldqhlyjlcpehgjyfm4wmzj5fxnouvh7fbfskpi7gikjg5e
	// at://did:web:alice.example/app.bsky.feed.post/3jzfcijpj2z2a
	// {"$type":"app.bsky.feed.post","createdAt":"2026-11-22T00:00:00.000Z","text":"hello"}
	// true 0 true
	// 1 record, cursor ""
}

// A subscription ends with its context.
func ExampleStore_Subscribe_context() {
	s, _ := atlite.Open(":memory:", nil)
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	sub, _ := s.Subscribe(ctx, 0)
	cancel()
	_, open := <-sub.Events()
	fmt.Println(open, sub.Err())
	// Output: false context canceled
}

// A server that answers for active repos only reads with GetActiveRecord:
// once the repo is deactivated it gets an *InactiveRepoError, while
// GetRecord still reads the record.
func ExampleStore_GetActiveRecord() {
	ctx := context.Background()
	s, _ := atlite.Open(":memory:", nil)
	defer s.Close()
	did, _ := syntax.ParseDID("did:web:alice.example")
	key, _ := keys.K256FromSeed(2349872879569)
	s.CreateRepo(ctx, did, &atlite.CreateRepoOptions{SigningKey: key})
	post := []byte(`{"text":"hello","createdAt":"2026-11-22T00:00:00.000Z"}`)
	if _, err := s.PutRecordJSON(ctx, did, "app.bsky.feed.post", "3jzfcijpj2z2a", post); err != nil {
		panic(err)
	}

	rec, err := s.GetActiveRecord(ctx, did, "app.bsky.feed.post", "3jzfcijpj2z2a")
	fmt.Println(rec.CID, err)

	s.Deactivate(ctx, did)
	_, err = s.GetActiveRecord(ctx, did, "app.bsky.feed.post", "3jzfcijpj2z2a")
	var inactive *atlite.InactiveRepoError
	fmt.Println(errors.As(err, &inactive), inactive.Status)
	rec, err = s.GetRecord(ctx, did, "app.bsky.feed.post", "3jzfcijpj2z2a")
	fmt.Println(rec.CID, err)
	// Output:
	// bafyreidjvbc4ldqhlyjlcpehgjyfm4wmzj5fxnouvh7fbfskpi7gikjg5e <nil>
	// true deactivated
	// bafyreidjvbc4ldqhlyjlcpehgjyfm4wmzj5fxnouvh7fbfskpi7gikjg5e <nil>
}
