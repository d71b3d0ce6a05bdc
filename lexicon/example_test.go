package lexicon_test

import (
	"errors"
	"fmt"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/lexicon"
)

func Example() {
	c := lexicon.Default()
	for _, js := range []string{
		`{"$type": "app.bsky.feed.post", "text": "hello", "createdAt": "2024-05-06T07:08:09Z"}`,
		`{"$type": "app.bsky.feed.post", "text": 5, "createdAt": "2024-05-06T07:08:09Z"}`,
		`{"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2024-05-06T07:08:09Z",
		  "embed": {"$type": "app.bsky.embed.images", "images": [{"alt": 5,
		    "image": {"$type": "blob", "ref": {"$link": "bafkreidak7xq6oo6slobmalhjgolbr5auw6xhbulkhp3zxzthxgogyukqm"}, "mimeType": "image/png", "size": 10}}]}}`,
	} {
		v, err := datamodel.FromJSON([]byte(js))
		if err != nil {
			panic(err)
		}
		err = c.ValidateRecord("app.bsky.feed.post", v.(map[string]any))
		fmt.Println(err, errors.Is(err, lexicon.ErrInvalidRecord))
	}
	err := c.ValidateRecord("com.example.thing", map[string]any{"$type": "com.example.thing"})
	fmt.Println(errors.Is(err, lexicon.ErrUnknownLexicon))
	// Output:
	// <nil> false
	// Record/text must be a string true
	// Record/embed/images/0/alt must be a string true
	// true
}

func ExampleCatalog_ValidateRecord() {
	c, err := lexicon.NewCatalog([]byte(`{
	  "lexicon": 1,
	  "id": "com.example.note",
	  "defs": {"main": {"type": "record", "key": "tid", "record": {
	    "type": "object", "required": ["body"],
	    "properties": {"body": {"type": "string", "maxGraphemes": 5}}}}}}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(c.ValidateRecord("com.example.note", map[string]any{"$type": "com.example.note", "body": "🇫🇷🇩🇪🇮🇹"}))
	fmt.Println(c.ValidateRecord("com.example.note", map[string]any{"$type": "com.example.note", "body": "too long"}))
	fmt.Println(c.ValidateRecord("com.example.note", map[string]any{"$type": "com.example.note"}))
	// Output:
	// <nil>
	// Record/body must not be longer than 5 graphemes
	// Record must have the property "body"
}
