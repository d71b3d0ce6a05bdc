package syntax_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atlite-dev/atlite/syntax"
)

const vectorDir = "../testdata/interop/syntax"

// vectorLine is one test string of a vector file and where it came from.
type vectorLine struct {
	name string // file:line, for t.Run
	s    string
}

// readVectors returns the test strings of a vector file: every line except
// blank lines and lines starting with '#', whitespace kept.
func readVectors(tb testing.TB, file string) []vectorLine {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(vectorDir, file))
	if err != nil {
		tb.Fatal(err)
	}
	var out []vectorLine
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, vectorLine{name: file + ":" + itoa(i+1), s: line})
	}
	if len(out) == 0 {
		tb.Fatalf("%s: no vectors", file)
	}
	return out
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// parseFunc adapts a ParseX function to a common signature.
type parseFunc func(string) (string, error)

func adapt[T ~string](f func(string) (T, error)) parseFunc {
	return func(s string) (string, error) {
		v, err := f(s)
		return string(v), err
	}
}

// vectorSuite maps each vector file to the parser it tests and the error kind
// an invalid line must produce.
var vectorSuite = []struct {
	file  string
	valid bool
	parse parseFunc
	kind  error
}{
	{"atidentifier_syntax_valid.txt", true, adapt(syntax.ParseAtIdentifier), syntax.ErrInvalidAtIdentifier},
	{"atidentifier_syntax_invalid.txt", false, adapt(syntax.ParseAtIdentifier), syntax.ErrInvalidAtIdentifier},
	{"aturi_syntax_valid.txt", true, adapt(syntax.ParseATURI), syntax.ErrInvalidATURI},
	{"aturi_syntax_invalid.txt", false, adapt(syntax.ParseATURI), syntax.ErrInvalidATURI},
	{"cid_syntax_valid.txt", true, adapt(syntax.ParseCIDString), syntax.ErrInvalidCID},
	{"cid_syntax_invalid.txt", false, adapt(syntax.ParseCIDString), syntax.ErrInvalidCID},
	{"datetime_syntax_valid.txt", true, adapt(syntax.ParseDatetime), syntax.ErrInvalidDatetime},
	{"datetime_syntax_invalid.txt", false, adapt(syntax.ParseDatetime), syntax.ErrInvalidDatetime},
	{"datetime_parse_invalid.txt", false, adapt(syntax.ParseDatetime), syntax.ErrInvalidDatetime},
	{"did_syntax_valid.txt", true, adapt(syntax.ParseDID), syntax.ErrInvalidDID},
	{"did_syntax_invalid.txt", false, adapt(syntax.ParseDID), syntax.ErrInvalidDID},
	{"handle_syntax_valid.txt", true, adapt(syntax.ParseHandle), syntax.ErrInvalidHandle},
	{"handle_syntax_invalid.txt", false, adapt(syntax.ParseHandle), syntax.ErrInvalidHandle},
	{"language_syntax_valid.txt", true, adapt(syntax.ParseLanguage), syntax.ErrInvalidLanguage},
	{"language_syntax_invalid.txt", false, adapt(syntax.ParseLanguage), syntax.ErrInvalidLanguage},
	{"language_parse_invalid.txt", false, adapt(syntax.ParseLanguage), syntax.ErrInvalidLanguage},
	{"nsid_syntax_valid.txt", true, adapt(syntax.ParseNSID), syntax.ErrInvalidNSID},
	{"nsid_syntax_invalid.txt", false, adapt(syntax.ParseNSID), syntax.ErrInvalidNSID},
	{"recordkey_syntax_valid.txt", true, adapt(syntax.ParseRecordKey), syntax.ErrInvalidRecordKey},
	{"recordkey_syntax_invalid.txt", false, adapt(syntax.ParseRecordKey), syntax.ErrInvalidRecordKey},
	{"tid_syntax_valid.txt", true, adapt(syntax.ParseTID), syntax.ErrInvalidTID},
	{"tid_syntax_invalid.txt", false, adapt(syntax.ParseTID), syntax.ErrInvalidTID},
	{"uri_syntax_valid.txt", true, adapt(syntax.ParseURI), syntax.ErrInvalidURI},
	{"uri_syntax_invalid.txt", false, adapt(syntax.ParseURI), syntax.ErrInvalidURI},
}

// TestVectors runs every line of every interop syntax vector file through its
// parser: valid lines must parse and print back unchanged, invalid lines must
// fail with the right error and a zero value.
func TestVectors(t *testing.T) {
	for _, vs := range vectorSuite {
		t.Run(vs.file, func(t *testing.T) {
			for _, v := range readVectors(t, vs.file) {
				t.Run(v.name, func(t *testing.T) {
					got, err := vs.parse(v.s)
					if vs.valid {
						if err != nil {
							t.Fatalf("Parse(%q) error = %v, want nil", v.s, err)
						}
						if got != v.s {
							t.Errorf("Parse(%q).String() = %q, want the input", v.s, got)
						}
						return
					}
					if err == nil {
						t.Fatalf("Parse(%q) = %q, want error", v.s, got)
					}
					if got != "" {
						t.Errorf("Parse(%q) = %q with error, want zero value", v.s, got)
					}
					if !errors.Is(err, vs.kind) || !errors.Is(err, syntax.ErrSyntax) {
						t.Errorf("Parse(%q) error = %v, want %v wrapping ErrSyntax", v.s, err, vs.kind)
					}
				})
			}
		})
	}
}

// TestVectorFilesCovered fails if a vector file has no entry in vectorSuite,
// so that new upstream files are not silently skipped.
func TestVectorFilesCovered(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(vectorDir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(vectorSuite) {
		t.Errorf("%d vector files, %d in vectorSuite", len(files), len(vectorSuite))
	}
	known := map[string]bool{}
	for _, vs := range vectorSuite {
		known[vs.file] = true
	}
	for _, f := range files {
		if !known[filepath.Base(f)] {
			t.Errorf("vector file %s is not tested", filepath.Base(f))
		}
	}
}
