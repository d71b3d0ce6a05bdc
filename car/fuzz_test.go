package car_test

import (
	"bytes"
	"testing"

	"github.com/atlite-dev/atlite/car"
	"github.com/atlite-dev/atlite/datamodel"
)

func FuzzReader(f *testing.F) {
	f.Add(readFile(f, snarfed2))
	f.Add(goodHeader(f))
	f.Add(join(goodHeader(f), goodBlock()))
	f.Add(join(goodHeader(f), goodBlock(), goodBlock()))
	f.Add(join(goodHeader(f), section(datamodel.RawCID([]byte("hi")).Bytes(), []byte("hi"))))
	f.Add(join(goodHeader(f), section(blockCID.Bytes(), []byte("other"))))
	f.Add(join(goodHeader(f), []byte{0x80}))
	f.Fuzz(func(t *testing.T, in []byte) {
		opts := &car.ReaderOptions{MaxHeaderSize: 1 << 16, MaxBlockSize: 1 << 16}
		roots, blocks, err := car.ReadAll(bytes.NewReader(in), opts)
		if err != nil {
			if roots != nil || blocks != nil {
				t.Fatalf("ReadAll(%x) = %v, %v with error %v, want nil", in, roots, blocks, err)
			}
			return
		}
		if out := rewrite(t, roots, blocks); !bytes.Equal(out, in) {
			t.Fatalf("rewrite(ReadAll(%x)) = %x, want the input", in, out)
		}
	})
}
