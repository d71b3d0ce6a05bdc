package xrpc

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestRecordValidation: createRecord, putRecord and applyWrites check
// records against their lexicons as the validate input says, answer the
// validationStatus the reference PDS answers, and write nothing when they
// refuse.
func TestRecordValidation(t *testing.T) {
	e, s, _ := badEnv(t)
	const thing = "com.example.thing" // a collection no lexicon describes
	badPost := map[string]any{"$type": postNSID, "text": "hi", "createdAt": "2022-01-02T03:04:05Z",
		"embed": map[string]any{"$type": "app.bsky.embed.images", "images": []any{map[string]any{"alt": 5, "image": map[string]any{
			"$type": "blob", "ref": map[string]any{"$link": "bafkreifo7yhswpa4zun6ullnc4hqbzidwc7nfvk42uq7yltx7tx6462cvm"}, "mimeType": "image/png", "size": 13}}}}}
	badPostMsg := "Invalid app.bsky.feed.post record: Record/embed/images/0/alt must be a string"
	badProfile := map[string]any{"$type": "app.bsky.actor.profile", "displayName": "alice", "avatar": map[string]any{
		"$type": "blob", "ref": map[string]any{"$link": "bafkreifo7yhswpa4zun6ullnc4hqbzidwc7nfvk42uq7yltx7tx6462cvm"}, "mimeType": "text/plain", "size": 13}}

	// Accepted writes and their validationStatus ("" for none).
	accepted := []struct {
		name     string
		validate any // nil: unset
		coll     string
		record   any
		want     string
	}{
		{"valid post", nil, postNSID, post("valid"), "valid"},
		{"valid post, validate true", true, postNSID, post("valid too"), "valid"},
		{"unknown collection", nil, thing, map[string]any{"anything": []any{1}}, "unknown"},
		{"invalid post, validate false", false, postNSID, badPost, ""},
		{"unknown collection, validate false", false, thing, map[string]any{"x": 1}, ""},
	}
	for i, tt := range accepted {
		body := map[string]any{"repo": aliceHandle, "collection": tt.coll, "record": tt.record}
		if tt.validate != nil {
			body["validate"] = tt.validate
		}
		var got map[string]any
		b := e.ok("POST", "com.atproto.repo.createRecord", s.AccessJwt, body, &got)
		if status, _ := got["validationStatus"].(string); status != tt.want || (tt.want == "" && strings.Contains(string(b), "validationStatus")) {
			t.Errorf("createRecord %s = %s, want validationStatus %q", tt.name, b, tt.want)
		}
		// A TID: validate true checks the key against the lexicon's type.
		body["rkey"] = "3jzfcijpj2z" + string("abcdefghij"[i]) + "a"
		got = nil
		b = e.ok("POST", "com.atproto.repo.putRecord", s.AccessJwt, body, &got)
		if status, _ := got["validationStatus"].(string); status != tt.want || (tt.want == "" && strings.Contains(string(b), "validationStatus")) {
			t.Errorf("putRecord %s = %s, want validationStatus %q", tt.name, b, tt.want)
		}
	}

	// Refused writes: 400 InvalidRequest with the message, nothing written.
	refused := []struct {
		name     string
		validate any
		coll     string
		record   any
		want     string
	}{
		{"invalid post", nil, postNSID, badPost, badPostMsg},
		{"invalid post, validate true", true, postNSID, badPost, badPostMsg},
		{"unknown collection, validate true", true, thing, map[string]any{"x": 1}, "Unknown lexicon type: com.example.thing"},
		{"avatar not an image", nil, "app.bsky.actor.profile", badProfile, "Invalid app.bsky.actor.profile record: Record/avatar/mimeType must be one of (image/png|image/jpeg)"},
		{"post without createdAt", nil, postNSID, map[string]any{"text": "hi"}, `Invalid app.bsky.feed.post record: Record must have the property \"createdAt\"`},
	}
	for _, tt := range refused {
		for _, nsid := range []string{"com.atproto.repo.createRecord", "com.atproto.repo.putRecord"} {
			body := map[string]any{"repo": aliceHandle, "collection": tt.coll, "rkey": "self", "record": tt.record}
			if tt.validate != nil {
				body["validate"] = tt.validate
			}
			before := e.state()
			got, _, b := e.do("POST", nsid, s.AccessJwt, body)
			what := nsid + " " + tt.name
			e.refused(what, got, b, 400, "InvalidRequest", before)
			if !strings.Contains(string(b), tt.want) {
				t.Errorf("%s = %s, want the message %q", what, b, tt.want)
			}
		}
	}
	// The record key's type: checked with validate true, as the record key
	// spec defines it; with validate unset only its syntax, as the
	// reference PDS does.
	keys := []struct {
		name, coll, rkey string
		record           any
		want             string
	}{
		{"post not at a TID", postNSID, "hello", post("hi"), `Invalid record key: invalid record key \"hello\" for app.bsky.feed.post (key type tid)`},
		{"profile not at self", "app.bsky.actor.profile", "me", map[string]any{"$type": "app.bsky.actor.profile"}, `Invalid record key: invalid record key \"me\" for app.bsky.actor.profile (key type literal:self): must be \"self\"`},
	}
	for _, tt := range keys {
		body := map[string]any{"repo": aliceHandle, "collection": tt.coll, "rkey": tt.rkey, "record": tt.record, "validate": true}
		before := e.state()
		got, _, b := e.do("POST", "com.atproto.repo.putRecord", s.AccessJwt, body)
		e.refused("putRecord "+tt.name, got, b, 400, "InvalidRequest", before)
		if !strings.Contains(string(b), tt.want) {
			t.Errorf("putRecord %s = %s, want the message %q", tt.name, b, tt.want)
		}
		delete(body, "validate")
		var res map[string]any
		e.ok("POST", "com.atproto.repo.putRecord", s.AccessJwt, body, &res)
		if res["validationStatus"] != "valid" {
			t.Errorf("putRecord %s, validate unset = %v, want validationStatus valid", tt.name, res)
		}
	}

	// putRecord of an invalid record over a valid one leaves the valid one.
	e.ok("POST", "com.atproto.repo.putRecord", s.AccessJwt, map[string]any{"repo": aliceHandle, "collection": postNSID, "rkey": "kept", "record": post("kept")}, nil)
	before := e.state()
	got, _, b := e.do("POST", "com.atproto.repo.putRecord", s.AccessJwt, map[string]any{"repo": aliceHandle, "collection": postNSID, "rkey": "kept", "record": badPost})
	e.refused("putRecord invalid over valid", got, b, 400, "InvalidRequest", before)

	// applyWrites: each result has its own status; one invalid write
	// refuses the whole batch.
	create := func(coll string, rec any) map[string]any {
		return map[string]any{"$type": "com.atproto.repo.applyWrites#create", "collection": coll, "value": rec}
	}
	var res struct{ Results []map[string]any }
	e.ok("POST", "com.atproto.repo.applyWrites", s.AccessJwt, map[string]any{"repo": aliceHandle, "writes": []any{
		create(postNSID, post("a")), create(thing, map[string]any{"x": 1}),
		map[string]any{"$type": "com.atproto.repo.applyWrites#update", "collection": postNSID, "rkey": "kept", "value": post("kept, updated")},
	}}, &res)
	var statuses []any
	for _, r := range res.Results {
		statuses = append(statuses, r["validationStatus"])
	}
	if fmt.Sprint(statuses) != "[valid unknown valid]" {
		t.Errorf("applyWrites statuses = %v, want [valid unknown valid]", statuses)
	}
	for _, tt := range []struct {
		name     string
		validate any
		writes   []any
		want     string
	}{
		{"second write invalid", nil, []any{create(postNSID, post("fine")), create(postNSID, badPost)}, badPostMsg},
		{"update invalid", nil, []any{map[string]any{"$type": "com.atproto.repo.applyWrites#update", "collection": postNSID, "rkey": "kept", "value": badPost}}, badPostMsg},
		{"unknown collection, validate true", true, []any{create(postNSID, post("fine")), create(thing, map[string]any{"x": 1})}, "Unknown lexicon type: com.example.thing"},
	} {
		body := map[string]any{"repo": aliceHandle, "writes": tt.writes}
		if tt.validate != nil {
			body["validate"] = tt.validate
		}
		before := e.state()
		got, _, b := e.do("POST", "com.atproto.repo.applyWrites", s.AccessJwt, body)
		e.refused("applyWrites "+tt.name, got, b, 400, "InvalidRequest", before)
		if !strings.Contains(string(b), tt.want) {
			t.Errorf("applyWrites %s = %s, want the message %q", tt.name, b, tt.want)
		}
	}
	// With validate false, the same batch is written, without statuses.
	res.Results = nil
	b = e.ok("POST", "com.atproto.repo.applyWrites", s.AccessJwt, map[string]any{"repo": aliceHandle, "validate": false, "writes": []any{
		create(postNSID, badPost), create(thing, map[string]any{"x": 1})}}, &res)
	if len(res.Results) != 2 || strings.Contains(string(b), "validationStatus") {
		t.Errorf("applyWrites validate false = %s, want two results without validationStatus", b)
	}
	var list struct{ Records []json.RawMessage }
	e.ok("GET", "com.atproto.repo.listRecords?repo=alice.pds.test&collection=com.example.thing", "", nil, &list)
	if len(list.Records) != 6 {
		t.Errorf("%d records of %s, want 6", len(list.Records), thing)
	}
}
