package atlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/atlite-dev/atlite/internal/storage"
)

// BackupResult describes the snapshot [Store.Backup] wrote.
type BackupResult struct {
	// Path is the file written.
	Path string
	// Bytes is its size.
	Bytes int64
	// Seq is the last subscribeRepos seq the snapshot holds: every commit
	// up to it is in the copy, none after it.
	Seq int64
	// Duration is how long the snapshot took, from start to the renamed,
	// synced file.
	Duration time.Duration
}

// Backup writes a consistent snapshot of the whole store to dest, a new
// SQLite file, while writers and readers go on. The snapshot is what one
// read transaction sees: every commit before it, none after, with no WAL
// beside it. It is copied page for page (free pages too) with SQLite's
// online backup API, 1 MiB at a time with a pause after each step three
// times as long as the step, so that the copy takes at most about a quarter
// of a core and writers' commit latency stays near its usual value; it
// copies at about a quarter of the disk's and CPU's full speed (tens of
// MB/s). Cancelling ctx stops it between steps.
//
// dest must not exist: Backup never overwrites a file, and fails with an
// error wrapping fs.ErrExist. The copy is written to a temporary file in
// dest's directory, synced, then linked into place, so dest either holds a
// whole snapshot or does not exist, even after a crash. Restoring is opening
// the copy: [Open] it (or move it into the old file's place while no process
// has that open), and [Store.Check] passes on it.
//
// A PostgreSQL store has no Backup (back it up with pg_dump): the error
// wraps errors.ErrUnsupported.
func (s *Store) Backup(ctx context.Context, dest string) (*BackupResult, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	start := time.Now()
	b, ok := s.b.(storage.Backuper)
	if !ok {
		return nil, fmt.Errorf("backup: %w", errors.ErrUnsupported)
	}
	if dest == "" {
		return nil, errors.New("backup: empty destination path")
	}
	if _, err := os.Lstat(dest); err == nil {
		return nil, fmt.Errorf("backup: %s: %w", dest, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("backup: %w", err)
	}
	dir, base := filepath.Split(dest)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".partial-*")
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	tmpPath := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpPath) // after the link, the snapshot lives on as dest
	// The copy is written in a rollback-journal transaction; its journal is
	// gone when the copy is complete, but not after an error.
	defer os.Remove(tmpPath + "-journal")
	if err := b.Backup(ctx, tmpPath); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w (%v)", cerr, err)
		}
		return nil, fmt.Errorf("backup to %s: %w", dest, err)
	}
	size, err := syncFile(tmpPath)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	seq, err := snapshotSeq(ctx, tmpPath)
	if err != nil {
		return nil, fmt.Errorf("backup: reading the snapshot: %w", err)
	}
	// Link, not rename: it fails when dest appeared meanwhile, instead of
	// replacing it.
	if err := os.Link(tmpPath, dest); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return &BackupResult{Path: dest, Bytes: size, Seq: seq, Duration: time.Since(start)}, nil
}

// syncFile fsyncs the file at path and returns its size.
func syncFile(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// syncDir fsyncs a directory, so that a new name in it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// snapshotSeq opens the snapshot at path as a store and returns its last
// subscribeRepos seq.
func snapshotSeq(ctx context.Context, path string) (int64, error) {
	c, err := Open(path, &Options{NoCreate: true, ReadConns: 1})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LastSeq(ctx, SubscribeReposNSID)
}
