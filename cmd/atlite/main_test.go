package main

import (
	"errors"
	"testing"
)

func TestFlagError(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"flag provided but not defined: -bogus", "unknown flag --bogus"},
		{"flag provided but not defined: -x", "unknown flag -x"},
		{"flag needs an argument: -o", "flag -o needs a value"},
		{"flag needs an argument: -limit", "flag --limit needs a value"},
		{`invalid value "x" for flag -limit: parse error`, `invalid value "x" for --limit: parse error`},
		{`invalid boolean value "x" for -json: parse error`, `invalid boolean value "x" for -json: parse error`},
	} {
		if got := flagError(errors.New(tc.in)); got != tc.want {
			t.Errorf("flagError(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTrimPrefixes(t *testing.T) {
	for _, tc := range []struct{ msg, name, want string }{
		{"import: invalid CAR: short", "verify", "invalid CAR: short"},
		{"export did:web:a.example: repo did:web:a.example is inactive (tombstoned)", "export", "repo did:web:a.example is inactive (tombstoned)"},
		{"commit to did:web:a.example: repo did:web:a.example is inactive", "create", "repo did:web:a.example is inactive"},
		{`set status of did:web:a.example to "": repo did:web:a.example is inactive`, "activate", "repo did:web:a.example is inactive"},
		// The DID is said once: the prefix stays.
		{"commit to did:web:a.example: create a.b.c/one: record exists", "create", "commit to did:web:a.example: create a.b.c/one: record exists"},
		{"plc publish: x", "plc publish", "x"},
	} {
		if got := trimPrefixes(tc.msg, tc.name); got != tc.want {
			t.Errorf("trimPrefixes(%q, %q) = %q, want %q", tc.msg, tc.name, got, tc.want)
		}
	}
}
