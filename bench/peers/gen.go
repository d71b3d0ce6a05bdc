package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/syntax"
)

// record is one generated record: where it goes and its DAG-CBOR bytes.
// Both engines are fed exactly these bytes under exactly this path.
type record struct {
	collection string
	rkey       string
	data       []byte
}

// path is the record's MST key.
func (r record) path() string { return r.collection + "/" + r.rkey }

// Collections of the generated repo. The last two are not app.bsky ones:
// neither engine may care what a collection means.
const (
	collProfile = "app.bsky.actor.profile"
	collPost    = "app.bsky.feed.post"
	collLike    = "app.bsky.feed.like"
	collRepost  = "app.bsky.feed.repost"
	collFollow  = "app.bsky.graph.follow"
	collOdd     = "com.example.peers.odd"
	collBlob    = "xyz.peers.bench.bytes"
)

// genSeed seeds the generator: the same N gives the same repo, byte for byte.
const genSeed = 0x5eed_a71e

// genRecords returns n records: the profile first, then posts (45%), likes
// (25%), reposts (10%), follows (12%) and odd data-model records (8%: posts
// with nested maps and arrays, bytes, links and long strings, and records of
// two unknown collections). Record keys are TIDs increasing from a fixed
// time, except the profile's ("self") and the unknown collections' (any
// string keys). Links point at records generated before.
func genRecords(n int) []record {
	rng := rand.New(rand.NewPCG(genSeed, uint64(n)))
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	out := make([]record, 0, n)
	var cids []cid.Cid
	add := func(coll, rkey string, v map[string]any) {
		v["$type"] = coll
		b, err := datamodel.Marshal(v)
		if err != nil {
			panic("peers: generated record does not encode: " + err.Error())
		}
		out = append(out, record{collection: coll, rkey: rkey, data: b})
		cids = append(cids, datamodel.CBORCID(b))
	}
	add(collProfile, "self", map[string]any{
		"displayName": "Peer Benchmark",
		"description": "a generated repo, the same for atlite and indigo",
		"createdAt":   base.Format(time.RFC3339Nano),
	})
	for i := 1; i < n; i++ {
		t := base.Add(time.Duration(i) * 1500 * time.Millisecond).Add(time.Duration(rng.IntN(1000)) * time.Microsecond)
		tid := syntax.NewTIDFromTime(t, uint(i%1024)).String()
		created := t.Format("2006-01-02T15:04:05.000Z")
		ref := func() map[string]any {
			j := rng.IntN(len(cids))
			return map[string]any{
				"uri": fmt.Sprintf("at://%s/%s/%s", peerDID, out[j].collection, out[j].rkey),
				"cid": cids[j].String(),
			}
		}
		switch p := rng.IntN(100); {
		case p < 45:
			v := map[string]any{
				"text":      postText(rng, 20+rng.IntN(200)),
				"createdAt": created,
				"langs":     []any{"en"},
			}
			if rng.IntN(5) == 0 {
				v["reply"] = map[string]any{"root": ref(), "parent": ref()}
			}
			add(collPost, tid, v)
		case p < 70:
			add(collLike, tid, map[string]any{"subject": ref(), "createdAt": created})
		case p < 80:
			add(collRepost, tid, map[string]any{"subject": ref(), "createdAt": created})
		case p < 92:
			add(collFollow, tid, map[string]any{
				"subject":   "did:plc:" + base32ish(rng, 24),
				"createdAt": created,
			})
		case p < 96:
			// A post carrying what the data model allows beyond the lexicon:
			// nested maps and arrays, bytes, links, integers, null, a long
			// string.
			raw := make([]byte, 16+rng.IntN(256))
			for k := range raw {
				raw[k] = byte(rng.Uint32())
			}
			add(collPost, tid, map[string]any{
				"text":      postText(rng, 280),
				"createdAt": created,
				"facets": []any{map[string]any{
					"index":    map[string]any{"byteStart": int64(0), "byteEnd": int64(5)},
					"features": []any{map[string]any{"$type": "app.bsky.richtext.facet#tag", "tag": "peers"}},
				}},
				"x-extra": map[string]any{
					"bytes":  raw,
					"link":   cids[rng.IntN(len(cids))],
					"nested": []any{[]any{int64(-1), int64(1) << 40, nil, true}, map[string]any{"a": []any{}, "bb": map[string]any{}}},
					"long":   strings.Repeat("long string. ", 100+rng.IntN(300)),
				},
			})
		case p < 98:
			add(collOdd, fmt.Sprintf("odd-%07d:%d", i, rng.IntN(100)), map[string]any{
				"links": []any{cids[rng.IntN(len(cids))], cids[rng.IntN(len(cids))]},
				"deep":  nest(rng, 1+rng.IntN(12)),
				"n":     int64(rng.Uint64() >> 1),
				"neg":   -int64(rng.Uint64() >> 1),
			})
		default:
			raw := make([]byte, 512+rng.IntN(4096))
			for k := range raw {
				raw[k] = byte(rng.Uint32())
			}
			add(collBlob, tid, map[string]any{"data": raw, "size": int64(len(raw))})
		}
	}
	return out
}

// base32ish returns n random characters of the did:plc alphabet.
func base32ish(rng *rand.Rand, n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

// nest returns a value nested depth levels deep, alternating maps and arrays.
func nest(rng *rand.Rand, depth int) any {
	if depth == 0 {
		return fmt.Sprintf("leaf %d", rng.IntN(1000))
	}
	if depth%2 == 0 {
		return []any{nest(rng, depth-1), int64(depth)}
	}
	return map[string]any{"k": nest(rng, depth-1), "d": int64(depth)}
}

var words = strings.Fields("atproto sqlite merkle search tree commit record repo relay firehose the a of to and in is it that for on with as was at by")

// postText returns about n characters of words.
func postText(rng *rand.Rand, n int) string {
	var sb strings.Builder
	for sb.Len() < n {
		if sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(words[rng.IntN(len(words))])
	}
	return sb.String()
}

// singlePost is the record of the i-th single-record commit.
func singlePost(i int) record {
	t := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(i) * time.Second)
	v := map[string]any{
		"$type":     collPost,
		"text":      fmt.Sprintf("single post %d: a typical short post about atproto, sqlite and merkle search trees", i),
		"createdAt": t.Format("2006-01-02T15:04:05.000Z"),
		"langs":     []any{"en"},
	}
	b, err := datamodel.Marshal(v)
	if err != nil {
		panic("peers: generated record does not encode: " + err.Error())
	}
	return record{collection: collPost, rkey: syntax.NewTIDFromTime(t, 7).String(), data: b}
}
