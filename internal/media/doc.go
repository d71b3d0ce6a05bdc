// Package media reads the few facts about an image or a video that AT
// Protocol blob objects and lexicon checks need: its format, its width and
// height in pixels, and a video's duration.
//
// [Probe] and [ProbeReader] recognise PNG, JPEG, GIF and WebP images (the
// header only, through image/png, image/jpeg, image/gif and
// golang.org/x/image/webp DecodeConfig: no pixels are decoded) and ISO base
// media files (MP4, M4V, QuickTime MOV), whose boxes are walked by a small
// streaming parser of this package.
//
// # Video metadata
//
// Of an ISO base media file only the movie header (moov/mvhd), the track
// headers (trak/tkhd), the media headers (trak/mdia/mdhd, trak/mdia/hdlr)
// and the movie-extends header (moov/mvex/mehd) are read. The width and
// height are those of the first video track's tkhd. The duration is, in
// order of preference, that video track's tkhd duration (in the movie's
// timescale: the presentation length after edit lists), its mdhd duration,
// the mvhd duration, then the mehd fragment duration. Boxes other than these
// are skipped by reading and discarding them, so a file whose moov follows
// a large mdat is read to its moov but never held in memory: memory use is
// bounded by a few KiB whatever the input.
//
// The parser is written here rather than taken from github.com/abema/go-mp4
// because that package needs an io.ReadSeeker (the whole body buffered or
// spooled to disk for a streamed download) and we read five small boxes.
//
// # Errors
//
// Input is untrusted: any byte string gives either an [Info] or an error
// wrapping [ErrUnknownFormat] or [ErrMalformed], never a panic, and never
// a partly filled Info with an error.
//
// # Concurrency
//
// The package has no state; its functions are safe for concurrent use.
package media
