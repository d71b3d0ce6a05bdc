package datamodel_test

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/ipfs/go-cid"
)

const blobCID = "bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity"

// nestedJSON returns depth arrays nested inside each other inside a
// top-level object, so that the innermost array is at level depth+1.
func nestedJSON(depth int, inner string) string {
	return `{"a":` + strings.Repeat("[", depth) + inner + strings.Repeat("]", depth) + `}`
}

func TestFromJSON(t *testing.T) {
	tests := []struct {
		name string
		json string
		want any
	}{
		{"empty", `{}`, map[string]any{}},
		{"scalars", `{"n":null,"t":true,"f":false,"s":"x","i":-7}`,
			map[string]any{"n": nil, "t": true, "f": false, "s": "x", "i": int64(-7)}},
		{"whitespace", " \n{ \"a\" : [ ] }\t", map[string]any{"a": []any{}}},
		{"escapes", `{"s":"\u00e9\n\"\\\ud83d\ude00"}`, map[string]any{"s": "é\n\"\\😀"}},
		{"integer-like float", `{"a":123.0}`, map[string]any{"a": int64(123)}},
		{"exponent", `{"a":1e2,"b":1.5E1,"c":-2.50e+2}`, map[string]any{"a": int64(100), "b": int64(15), "c": int64(-250)}},
		{"negative zero", `{"a":-0.0}`, map[string]any{"a": int64(0)}},
		{"zero huge exponent", `{"a":0e99999999999999999999}`, map[string]any{"a": int64(0)}},
		{"max int64", `{"a":9223372036854775807}`, map[string]any{"a": int64(math.MaxInt64)}},
		{"min int64", `{"a":-9223372036854775808}`, map[string]any{"a": int64(math.MinInt64)}},
		{"min int64 exponent", `{"a":-9.223372036854775808e18}`, map[string]any{"a": int64(math.MinInt64)}},
		{"link", `{"l":{"$link":"` + blobCID + `"}}`, map[string]any{"l": cid.MustParse(blobCID)}},
		{"cidv0 link", `{"l":{"$link":"QmY7Yh4UquoXHLPFo2XbhXkhBvFoPwmQUSa92pxnxjQuPU"}}`,
			map[string]any{"l": cid.MustParse("QmY7Yh4UquoXHLPFo2XbhXkhBvFoPwmQUSa92pxnxjQuPU")}},
		{"bytes", `{"b":{"$bytes":"AQID"}}`, map[string]any{"b": []byte{1, 2, 3}}},
		{"bytes no padding", `{"b":{"$bytes":"AQ"}}`, map[string]any{"b": []byte{1}}},
		{"bytes padding tolerated", `{"b":{"$bytes":"AQ=="}}`, map[string]any{"b": []byte{1}}},
		{"empty bytes", `{"b":{"$bytes":""}}`, map[string]any{"b": []byte{}}},
		{"blob", `{"$type":"blob","ref":{"$link":"` + blobCID + `"},"mimeType":"image/png","size":0}`,
			map[string]any{"$type": "blob", "ref": cid.MustParse(blobCID), "mimeType": "image/png", "size": int64(0)}},
		{"typed record", `{"$type":"app.bsky.feed.like"}`, map[string]any{"$type": "app.bsky.feed.like"}},
		{"max depth", nestedJSON(datamodel.MaxDepth-1, ""), map[string]any{"a": nested(datamodel.MaxDepth - 1)}},
		{"link at max depth", nestedJSON(datamodel.MaxDepth-1, `{"$link":"`+blobCID+`"}`),
			map[string]any{"a": nestedWith(datamodel.MaxDepth-1, cid.MustParse(blobCID))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := datamodel.FromJSON([]byte(tt.json))
			if err != nil {
				t.Fatalf("FromJSON(%s) error: %v", tt.json, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("FromJSON(%s) = %#v, want %#v", tt.json, got, tt.want)
			}
		})
	}
}

// nestedWith returns depth arrays nested inside each other, the innermost
// holding v.
func nestedWith(depth int, v any) any {
	out := []any{v}
	for i := 1; i < depth; i++ {
		out = []any{out}
	}
	return out
}

func TestFromJSONErrors(t *testing.T) {
	tests := []struct {
		name string
		json string
		want error // besides ErrInvalidJSON; nil for none
	}{
		{"empty input", ``, nil},
		{"array", `[]`, nil},
		{"string", `"blah"`, nil},
		{"null", `null`, nil},
		{"syntax", `{"a":}`, nil},
		{"unterminated", `{"a":1`, nil},
		{"trailing object", `{} {}`, nil},
		{"trailing garbage", `{}x`, nil},
		{"duplicate key", `{"a":1,"a":1}`, nil},
		{"invalid utf-8", "{\"a\":\"\xff\"}", datamodel.ErrInvalidUTF8},
		{"float", `{"a":1.5}`, datamodel.ErrFloat},
		{"small float", `{"a":1e-1}`, datamodel.ErrFloat},
		{"tiny exponent", `{"a":1e-99999999999999999999}`, datamodel.ErrFloat},
		{"too big", `{"a":9223372036854775808}`, datamodel.ErrIntegerRange},
		{"too small", `{"a":-9223372036854775809}`, datamodel.ErrIntegerRange},
		{"too big exponent", `{"a":1e19}`, datamodel.ErrIntegerRange},
		{"huge exponent", `{"a":1e99999999999999999999}`, datamodel.ErrIntegerRange},
		{"link not canonical", `{"l":{"$link":"B` + strings.ToUpper(blobCID[1:]) + `"}}`, datamodel.ErrInvalidCID},
		{"link null", `{"l":{"$link":null}}`, nil},
		{"link object", `{"l":{"$link":{"$link":"` + blobCID + `"}}}`, nil},
		{"bytes bad base64", `{"b":{"$bytes":"!!"}}`, nil},
		{"bytes null", `{"b":{"$bytes":null}}`, nil},
		{"type empty", `{"$type":""}`, nil},
		{"type bool", `{"$type":true}`, nil},
		{"blob ref string", `{"$type":"blob","ref":"` + blobCID + `","mimeType":"a/b","size":1}`, nil},
		{"blob no mimeType", `{"$type":"blob","ref":{"$link":"` + blobCID + `"},"size":1}`, nil},
		{"blob negative size", `{"$type":"blob","ref":{"$link":"` + blobCID + `"},"mimeType":"a/b","size":-1}`, nil},
		{"blob no size", `{"$type":"blob","ref":{"$link":"` + blobCID + `"},"mimeType":"a/b"}`, nil},
		{"too deep", nestedJSON(datamodel.MaxDepth, ""), datamodel.ErrTooDeep},
		{"too deep object", nestedJSON(datamodel.MaxDepth-1, "{}"), datamodel.ErrTooDeep},
		{"far too deep", nestedJSON(100000, ""), datamodel.ErrTooDeep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := datamodel.FromJSON([]byte(tt.json))
			if !errors.Is(err, datamodel.ErrInvalidJSON) || got != nil {
				t.Fatalf("FromJSON(%.80s) = %v, %v; want nil, %v", tt.json, got, err, datamodel.ErrInvalidJSON)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("FromJSON(%.80s) error = %v, want %v", tt.json, err, tt.want)
			}
		})
	}
}

func TestToJSON(t *testing.T) {
	c := cid.MustParse(blobCID)
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"null", nil, `null`},
		{"scalars", map[string]any{"t": true, "f": false, "i": int64(-3), "u": uint8(4), "n": nil},
			`{"f":false,"i":-3,"n":null,"t":true,"u":4}`},
		{"sorted bytewise", map[string]any{"b": int64(1), "aa": int64(2), "B": int64(3)}, `{"B":3,"aa":2,"b":1}`},
		{"escapes", "a\"b\\c\nd\re\tf\x01g<>&\u2028é😀", `"a\"b\\c\nd\re\tf\u0001g<>&` + "\u2028é😀\""},
		{"bytes", []byte{0xff, 0xfe}, `{"$bytes":"//4"}`},
		{"empty bytes", []byte{}, `{"$bytes":""}`},
		{"link", c, `{"$link":"` + blobCID + `"}`},
		{"list", []any{int64(1), "x", []any{}}, `[1,"x",[]]`},
		{"convenience types", map[string]any{"s": []string{"a"}, "m": map[string]string{"k": "v"}},
			`{"m":{"k":"v"},"s":["a"]}`},
		{"blob", map[string]any{"$type": "blob", "ref": c, "mimeType": "image/png", "size": int64(5)},
			`{"$type":"blob","mimeType":"image/png","ref":{"$link":"` + blobCID + `"},"size":5}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := datamodel.ToJSON(tt.v)
			if err != nil {
				t.Fatalf("ToJSON(%v) error: %v", tt.v, err)
			}
			if string(got) != tt.want {
				t.Errorf("ToJSON(%v) = %s, want %s", tt.v, got, tt.want)
			}
		})
	}
}

func TestToJSONErrors(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want error
	}{
		{"float", map[string]any{"a": 1.0}, datamodel.ErrFloat},
		{"struct", struct{}{}, datamodel.ErrUnsupportedType},
		{"invalid utf-8", "\xff", datamodel.ErrInvalidUTF8},
		{"undefined cid", cid.Undef, datamodel.ErrInvalidCID},
		{"$link key", map[string]any{"$link": "x"}, datamodel.ErrInvalidJSON},
		{"$bytes key", map[string]any{"$bytes": "x", "y": int64(1)}, datamodel.ErrInvalidJSON},
		{"empty $type", map[string]any{"$type": ""}, datamodel.ErrInvalidJSON},
		{"bad blob", map[string]any{"$type": "blob"}, datamodel.ErrInvalidJSON},
		{"bad blob in map of strings", map[string]string{"$type": "blob"}, datamodel.ErrInvalidJSON},
		{"too deep", nested(datamodel.MaxDepth + 1), datamodel.ErrTooDeep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := datamodel.ToJSON(tt.v)
			if !errors.Is(err, tt.want) || got != nil {
				t.Errorf("ToJSON(%v) = %s, %v; want nil, %v", tt.v, got, err, tt.want)
			}
		})
	}
}
