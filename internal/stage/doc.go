// Package stage is the scratch file of a CAR being read: a private SQLite
// file (modernc.org/sqlite) in a temporary directory, never an atlite
// database, made whatever the store's backend is (VerifyCAR makes one with
// no store at all).
//
// A [File] holds, for a walk of a CAR's tree:
//   - the blocks read ahead of the walk (raw), when the CAR is not in the
//     walk's order;
//   - the CIDs of the blocks read, once there are too many for memory
//     ([Seen]);
//   - for an import, what the import will store: the blocks the repo reaches
//     (keep), its record index (recs) and the blobs its records cite (refs).
//
// After [File.Seal] the staged rows are read back in a stream
// ([File.ForEachBlock], [File.ForEachRecord], [File.ForEachBlobRef]), or a
// SQLite store attaches the file ([File.URI]) and copies them with the
// statements of [Copy].
//
// # On disk
//
// The file lives in a new directory under os.TempDir, with journaling and
// syncing off: it is scratch, removed by [File.Close], and never read by
// another build.
//
// # Concurrency
//
// A File is used by one goroutine at a time. Slices passed to the callbacks
// of the ForEach methods are the callee's to keep.
package stage
