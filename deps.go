//go:build tools

package atlite

import (
	_ "github.com/decred/dcrd/dcrec/secp256k1/v4"
	_ "github.com/fxamacker/cbor/v2"
	_ "github.com/ipfs/go-cid"
	_ "github.com/jmoiron/sqlx"
	_ "github.com/mr-tron/base58"
	_ "github.com/multiformats/go-multibase"
	_ "github.com/multiformats/go-multihash"
	_ "github.com/multiformats/go-varint"
	_ "modernc.org/sqlite"
)
