package datamodel_test

import (
	"errors"
	"testing"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/internal/dagcbor"
)

// TestValidateMap checks the check-only decoder on a valid map and on
// each kind of refusal, with the error UnmarshalMap gives.
func TestValidateMap(t *testing.T) {
	for _, tt := range []struct {
		hex  string
		want error
	}{
		{"a163666f6f63626172", nil},                   // {"foo": "bar"}
		{"a2616101616202", nil},                       // {"a": 1, "b": 2}
		{"a16161" + "82" + "4101" + "f5", nil},        // {"a": [h'01', true]}
		{"01", datamodel.ErrNotMap},                   // 1
		{"", datamodel.ErrTruncated},                  // nothing
		{"a2616201616102", datamodel.ErrNonCanonical}, // keys out of order
		{"a2616101616102", datamodel.ErrDuplicateKey},
		{"a1616101ff", datamodel.ErrTrailingBytes},
		{"a16161fb3ff0000000000000", datamodel.ErrFloat},
		{"a1616162ffff", datamodel.ErrInvalidUTF8},
	} {
		b := unhex(t, tt.hex)
		err := dagcbor.ValidateMap(b)
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("ValidateMap(%s) = %v, want %v", tt.hex, err, tt.want)
		}
		if _, merr := datamodel.UnmarshalMap(b); (err == nil) != (merr == nil) || err != nil && err.Error() != merr.Error() {
			t.Errorf("ValidateMap(%s) = %v, UnmarshalMap: %v", tt.hex, err, merr)
		}
	}
}
