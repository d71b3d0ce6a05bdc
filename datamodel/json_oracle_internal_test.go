package datamodel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"testing"
	"unicode/utf8"
)

// oracleFromJSON is fromJSON as it was written over encoding/json's
// Decoder.Token, kept as the oracle of FuzzFromJSONOracle: the scanner
// must accept exactly what it accepted, with the same values.
func oracleFromJSON(b []byte) (any, error) {
	if !utf8.Valid(b) {
		return nil, ErrInvalidUTF8
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('{') {
		return nil, errors.New("top-level value is not an object")
	}
	v, err := oracleObject(dec, 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the top-level object")
		}
		return nil, err
	}
	return v, nil
}

// jsonValue converts the JSON value starting with tok. depth is the nesting
// level a container starting at tok would have.
func oracleValue(dec *json.Decoder, tok json.Token, depth int) (any, error) {
	switch x := tok.(type) {
	case nil, bool, string:
		return x, nil
	case json.Number:
		return jsonInt(string(x))
	case json.Delim:
		switch x {
		case '{':
			return oracleObject(dec, depth)
		case '[':
			return oracleArray(dec, depth)
		}
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

func oracleArray(dec *json.Decoder, depth int) (any, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth)
	}
	a := []any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		v, err := oracleValue(dec, tok, depth+1)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
	}
	if _, err := dec.Token(); err != nil { // ']'
		return nil, err
	}
	return a, nil
}

// jsonObject converts an object whose '{' has been read. Objects one level
// deeper than MaxDepth are read so that a $link or $bytes object (which is
// not a container in the data model) may sit inside a container at
// MaxDepth.
func oracleObject(dec *json.Decoder, depth int) (any, error) {
	if depth > MaxDepth+1 {
		return nil, fmt.Errorf("%w: more than %d levels", ErrTooDeep, MaxDepth)
	}
	m := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("unexpected object key %v", tok)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("duplicate key %q", k)
		}
		if tok, err = dec.Token(); err != nil {
			return nil, err
		}
		if m[k], err = oracleValue(dec, tok, depth+1); err != nil {
			return nil, err
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, err
	}
	// What the data model makes of the object is shared with the
	// scanner: the oracle checks the reading of JSON, not these rules
	// (TestFromJSONErrors does).
	return finishObject(m, depth)
}

// jsonOracleSeeds are inputs at the edges of the scanner: escapes and
// surrogates, number forms, literals, whitespace and truncations.
var jsonOracleSeeds = []string{
	`{}`, ` {} `, "\t{\n}\r", `{"a":[]}`, `{"a":[1,2,[3]]}`, `{"a":{}}`,
	`{"a":"\"\\\/\b\f\n\r\t"}`, `{"a":"\u00e9\u4e2d"}`, `{"a":"\ud83d\ude00"}`,
	`{"a":"\ud83d"}`, `{"a":"\ud83dx"}`, `{"a":"\ud83d\u0041"}`, `{"a":"\ude00\ud83d"}`,
	`{"a":"\ud83d\ud83d\ude00"}`, `{"a":"\u12"}`, `{"a":"\u12g4"}`, `{"a":"\x"}`, `{"a":"\`,
	"{\"a\":\"\x01\"}", `{"a":"é"}`, `{"\u0061":1,"a":2}`,
	`{"a":0}`, `{"a":-0}`, `{"a":01}`, `{"a":-}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":1e+}`,
	`{"a":1E+2}`, `{"a":1.50e1}`, `{"a":-1.0}`, `{"a":+1}`, `{"a":1e-0}`, `{"a":123456789012345678901e-3}`,
	`{"a":true,"b":false,"c":null}`, `{"a":tru}`, `{"a":nul}`, `{"a":truex}`, `{"a":True}`,
	`{"a":1,}`, `{,"a":1}`, `{"a" 1}`, `{"a":1 "b":2}`, `{"a":[1,]}`, `{"a":[,1]}`, `{"a":[1 2]}`,
	`{a:1}`, `{"a":1}}`, `{"a":1}]`, `{"a":1} x`, `{"a":1}{}`, `[`, `{`, `{"`, `{"a"`, `{"a":`,
	`{"l":{"$link":"bafyreie2us2plv6enixo2nqcnablitraubg4buyfpjewln4xq4afvdypoe"}}`,
	`{"b":{"$bytes":"AQID"}}`, `{"b":{"$bytes":"AQ=="}}`, `{"$type":"x"}`, "\ufeff{}",
}

// FuzzFromJSONOracle checks the scanner against the Token-based parser it
// replaced: both accept the same inputs, with equal values.
func FuzzFromJSONOracle(f *testing.F) {
	for _, s := range jsonOracleSeeds {
		f.Add([]byte(s))
	}
	for _, name := range []string{"data-model-fixtures.json", "data-model-valid.json", "data-model-invalid.json"} {
		raw, err := os.ReadFile("../testdata/interop/data-model/" + name)
		if err != nil {
			f.Fatal(err)
		}
		var vs []struct {
			JSON json.RawMessage `json:"json"`
		}
		if err := json.Unmarshal(raw, &vs); err != nil {
			f.Fatal(err)
		}
		for _, v := range vs {
			f.Add([]byte(v.JSON))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := fromJSON(b)
		want, werr := oracleFromJSON(b)
		if (err == nil) != (werr == nil) {
			t.Fatalf("fromJSON(%q) error %v, the oracle's %v", b, err, werr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("fromJSON(%q) = %#v, the oracle's %#v", b, got, want)
		}
	})
}

// TestFromJSONOracleSeeds runs the seeds through both parsers and checks
// that the scanner names what it read: each seed's verdict is fixed.
func TestFromJSONOracleSeeds(t *testing.T) {
	valid := 0
	for _, s := range jsonOracleSeeds {
		got, err := fromJSON([]byte(s))
		want, werr := oracleFromJSON([]byte(s))
		if (err == nil) != (werr == nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("fromJSON(%q) = %#v, %v; the oracle's %#v, %v", s, got, err, want, werr)
		}
		if err == nil {
			valid++
		}
	}
	if valid != 26 {
		t.Errorf("%d seeds valid, want 26", valid)
	}
}
