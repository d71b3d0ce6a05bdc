// Package car reads and writes CAR v1 (Content Addressable aRchive) streams,
// the format atproto uses to export repositories and to carry the blocks of
// firehose commits.
//
// A CAR v1 stream is a header section followed by block sections. Each
// section is an unsigned varint length followed by that many bytes. The
// header section holds the DAG-CBOR map {"roots": [CID, ...], "version": 1};
// each block section holds a binary CID followed by the block's bytes.
//
// # Reading
//
// [NewReader] reads and validates the header; [Reader.Next] then returns one
// [Block] at a time and io.EOF at the clean end of the stream. [ReadAll]
// loads a whole (small) CAR. The reader is strict, so that every CAR it
// accepts is rewritten byte for byte by a [Writer] given the same roots and
// blocks:
//
//   - the header must be canonical DAG-CBOR with exactly the keys "roots"
//     and "version", version 1 and at least one root ([ErrInvalidHeader],
//     [ErrUnsupportedVersion]);
//   - varints must be minimally encoded and sections non-empty
//     ([ErrInvalidSection]);
//   - block CIDs must be CIDv1 (any codec); CIDv0 is rejected;
//   - every block is hashed and compared with its CID ([ErrHashMismatch]);
//     only SHA-256 CIDs can be checked ([ErrUnsupportedHash]), unless
//     [ReaderOptions].SkipHashCheck is set;
//   - a stream that stops inside a section returns an error wrapping
//     io.ErrUnexpectedEOF.
//
// Length fields are checked against [ReaderOptions] limits
// ([DefaultMaxHeaderSize], [DefaultMaxBlockSize]) before any memory is
// allocated, so a hostile stream cannot make the reader allocate more than
// the limits.
//
// # Writing
//
// [NewWriter] writes the header, [Writer.WriteBlock] appends blocks in the
// order given, and [Writer.Flush] must be called at the end: the Writer
// buffers its output. The Writer does not hash blocks.
//
// # Ownership and concurrency
//
// Each [Block] returned by [Reader.Next] has a freshly allocated Data slice
// that the caller owns; nothing is reused between calls. [Writer.WriteBlock]
// does not retain its data argument after it returns. Readers and Writers
// are not safe for concurrent use; use one per goroutine.
//
// # Caveats
//
// The reader wraps its source in a bufio.Reader, so it may consume bytes
// past the end of the CAR data. CARv2 files are rejected with
// [ErrUnsupportedVersion]. CARs with an empty roots array are rejected,
// as arroba (the reference) and go-car do, and [NewWriter] refuses to write
// them.
package car
