package atlite_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/syntax"
)

// Upload a blob, cite it from a record, read it back and list it.
func ExampleStore_UploadBlob() {
	ctx := context.Background()
	s, err := atlite.Open(":memory:", nil)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	did, _ := syntax.ParseDID("did:web:alice.example")
	if _, err := s.CreateRepo(ctx, did, nil); err != nil {
		panic(err)
	}

	b, err := s.UploadBlob(ctx, did, bytes.NewReader([]byte("blob contents")), "text/plain", nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(b.CID, b.Size, b.Refs)

	w, err := commit.NewWrite(commit.Create, "com.example.doc", "self", map[string]any{
		"file": map[string]any{"$type": "blob", "ref": b.CID, "mimeType": b.MIMEType, "size": b.Size},
	})
	if err != nil {
		panic(err)
	}
	if _, err := s.Commit(ctx, did, []commit.Write{w}, nil); err != nil {
		panic(err)
	}
	cids, _, err := s.ListBlobs(ctx, did, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(cids)

	r, err := s.OpenBlob(ctx, b.CID)
	if err != nil {
		panic(err)
	}
	defer r.Close()
	data, _ := io.ReadAll(r)
	fmt.Printf("%s\n", data)
	// Output:
	// bafkreicqpqncshdd27sgztqgzocd3zhhqnnsv6slvzhs5uz6f57cq6lmtq 13 0
	// [bafkreicqpqncshdd27sgztqgzocd3zhhqnnsv6slvzhs5uz6f57cq6lmtq]
	// blob contents
}

// Describe an image served elsewhere, as a blob object for a record.
func ExampleStore_RemoteBlob() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/gif")
		w.Write([]byte("GIF89a\x03\x00\x02\x00\x00\x00\x00;"))
	}))
	defer srv.Close()
	s, err := atlite.Open(":memory:", nil)
	if err != nil {
		panic(err)
	}
	defer s.Close()

	b, err := s.RemoteBlob(context.Background(), srv.URL+"/pixel.gif", &atlite.RemoteBlobOptions{
		Accept: []string{"image/*"}, MaxSize: 1_000_000,
		// The default client refuses loopback and private addresses; this
		// server is on loopback, so use its own client.
		Client: srv.Client(),
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(b.Width, b.Height)
	fmt.Println(b.AsObject())
	// Output:
	// 3 2
	// map[$type:blob mimeType:image/gif ref:bafkreify7ns2fugmfa2f6gdrmxti5ws7axltok7cq6vaehegy36pjnsg2q size:14]
}
