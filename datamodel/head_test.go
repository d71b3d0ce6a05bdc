package datamodel_test

import (
	"errors"
	"testing"

	"github.com/atlite-dev/atlite/datamodel"
)

// TestHeadErrors: each way a CBOR head can be wrong, with its error and
// the exact message.
func TestHeadErrors(t *testing.T) {
	tests := []struct {
		in   []byte
		want error
		msg  string
	}{
		{[]byte{}, datamodel.ErrTruncated, "invalid dag-cbor: unexpected EOF at offset 0: missing value"},
		{[]byte{0x81}, datamodel.ErrTruncated, "invalid dag-cbor: unexpected EOF at offset 0: array of length 1 with 0 bytes left"},
		{[]byte{0x18}, datamodel.ErrTruncated, "invalid dag-cbor: unexpected EOF at offset 0: 1-byte argument"},
		{[]byte{0x19, 0x01}, datamodel.ErrTruncated, "invalid dag-cbor: unexpected EOF at offset 0: 2-byte argument"},
		{[]byte{0x1a, 0, 0, 1}, datamodel.ErrTruncated, "invalid dag-cbor: unexpected EOF at offset 0: 4-byte argument"},
		{[]byte{0x1b, 0, 0, 0, 0, 0, 0, 1}, datamodel.ErrTruncated, "invalid dag-cbor: unexpected EOF at offset 0: 8-byte argument"},
		{[]byte{0x18, 0x17}, datamodel.ErrNonCanonical, "invalid dag-cbor: non-canonical encoding at offset 0: argument 23 in 1 byte"},
		{[]byte{0x19, 0x00, 0xff}, datamodel.ErrNonCanonical, "invalid dag-cbor: non-canonical encoding at offset 0: argument 255 in 2 bytes"},
		{[]byte{0x1a, 0, 0, 0xff, 0xff}, datamodel.ErrNonCanonical, "invalid dag-cbor: non-canonical encoding at offset 0: argument 65535 in 4 bytes"},
		{[]byte{0x1b, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, datamodel.ErrNonCanonical, "invalid dag-cbor: non-canonical encoding at offset 0: argument 4294967295 in 8 bytes"},
		{[]byte{0x1c}, datamodel.ErrInvalidCBOR, "invalid dag-cbor at offset 0: reserved additional information 28"},
		{[]byte{0x1f}, datamodel.ErrInvalidCBOR, "invalid dag-cbor at offset 0: additional information 31 for major type 0"},
		{[]byte{0xdf}, datamodel.ErrInvalidCBOR, "invalid dag-cbor at offset 0: additional information 31 for major type 6"},
		{[]byte{0x5f}, datamodel.ErrIndefiniteLength, "invalid dag-cbor: indefinite length at offset 0: major type 2"},
		{[]byte{0x9f}, datamodel.ErrIndefiniteLength, "invalid dag-cbor: indefinite length at offset 0: major type 4"},
		{[]byte{0xff}, datamodel.ErrIndefiniteLength, "invalid dag-cbor: indefinite length at offset 0: unexpected break"},
	}
	for _, tt := range tests {
		_, err := datamodel.Unmarshal(tt.in)
		if !errors.Is(err, tt.want) {
			t.Errorf("Unmarshal(% x) = %v, want %v", tt.in, err, tt.want)
			continue
		}
		if err.Error() != tt.msg {
			t.Errorf("Unmarshal(% x) = %q, want %q", tt.in, err, tt.msg)
		}
	}
}
