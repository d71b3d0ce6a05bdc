package atlite_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/commit"
	"github.com/atlite-dev/atlite/internal/testutil"
)

// TestBackup restores a snapshot taken while two writers commit: the copy
// passes Check, holds every commit up to its seq and none after, and each
// head equals the source's head at that seq.
func TestBackup(t *testing.T) {
	testutil.SQLiteOnly(t, "a PostgreSQL store is backed up with pg_dump")
	s, _ := testutil.MustOpenFileStore(t, nil)
	dids := []string{"did:web:a.example", "did:web:b.example"}
	heads := map[string][]*atlite.CommitResult{} // each repo's commits in order
	for _, d := range dids {
		seedRepo(t, s, d, 120)
	}
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, d := range dids {
		wg.Add(1)
		go func(d string) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				w := mustWrite(t, commit.Create, "app.bsky.feed.post", fmt.Sprintf("3m%011d", i), map[string]any{"text": "during backup", "i": int64(i)})
				res, err := s.Commit(ctx, mustDID(t, d), []commit.Write{w}, nil)
				if err != nil {
					t.Errorf("Commit(%s) = %v", d, err)
					return
				}
				mu.Lock()
				heads[d] = append(heads[d], res)
				mu.Unlock()
			}
		}(d)
	}
	// Let the writers run a little before and during the snapshot: each
	// repo has 10 commits before it (20 in all could be one repo's alone,
	// when the other writer lost every race for the write lock).
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := min(len(heads[dids[0]]), len(heads[dids[1]]))
		mu.Unlock()
		if n >= 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s, one repo has only %d commits", n)
		}
	}
	dest := filepath.Join(t.TempDir(), "copy.db")
	res, err := s.Backup(ctx, dest)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("Backup = %v", err)
	}
	fi, err := os.Stat(dest)
	if err != nil || fi.Size() != res.Bytes || res.Path != dest {
		t.Fatalf("Backup = %+v; stat = %v, %v", res, fi, err)
	}
	last, err := s.LastSeq(ctx, atlite.SubscribeReposNSID)
	if err != nil {
		t.Fatal(err)
	}
	if res.Seq <= 0 || res.Seq >= last {
		t.Errorf("snapshot seq %d, want between 0 and the source's last %d (writers went on after)", res.Seq, last)
	}
	entries, _ := os.ReadDir(filepath.Dir(dest))
	if len(entries) != 1 {
		t.Errorf("the backup's directory holds %d entries, want only the copy (no partial file left)", len(entries))
	}

	c, err := atlite.Open(dest, &atlite.Options{NoCreate: true})
	if err != nil {
		t.Fatalf("Open(copy) = %v", err)
	}
	defer c.Close()
	if err := c.Check(ctx); err != nil {
		t.Fatalf("Check(copy) = %v", err)
	}
	if got, _ := c.LastSeq(ctx, atlite.SubscribeReposNSID); got != res.Seq {
		t.Errorf("copy's last seq = %d, want %d", got, res.Seq)
	}
	for _, d := range dids {
		var want cid.Cid
		for _, r := range heads[d] {
			if r.Seq <= res.Seq {
				want = r.CID
			}
		}
		if !want.Defined() {
			t.Fatalf("%s: no commit before the snapshot; the test waited for 10 of each", d)
		}
		r, err := c.LoadRepo(ctx, mustDID(t, d).AtIdentifier())
		if err != nil || r.Head != want {
			t.Errorf("copy's head of %s = %v, %v, want %s (the source's at seq %d)", d, r, err, want, res.Seq)
		}
	}
	// Every event up to the snapshot's seq, and none after, byte for byte.
	srcEvents, gotEvents := allEvents(t, s), allEvents(t, c)
	if len(gotEvents) != int(res.Seq) || len(srcEvents) < len(gotEvents) {
		t.Fatalf("copy holds %d events, source %d, want %d", len(gotEvents), len(srcEvents), res.Seq)
	}
	for i, g := range gotEvents {
		e := srcEvents[i]
		if g.seq != int64(i+1) || g.seq != e.seq || g.key != e.key || !bytes.Equal(g.car, e.car) {
			t.Fatalf("copy's event %d = seq %d %s (%d bytes), want seq %d %s (%d bytes)", i, g.seq, g.key, len(g.car), e.seq, e.key, len(e.car))
		}
	}
}

// TestBackupRefusesExisting checks that Backup never overwrites a file.
func TestBackupRefusesExisting(t *testing.T) {
	testutil.SQLiteOnly(t, "a PostgreSQL store is backed up with pg_dump")
	s := testutil.MustOpenStore(t, nil)
	seedRepo(t, s, "did:web:a.example", 3)
	dest := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(dest, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Backup(ctx, dest); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Backup(existing) = %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(dest); string(b) != "keep me" {
		t.Errorf("existing file now holds %q", b)
	}
	if entries, _ := os.ReadDir(filepath.Dir(dest)); len(entries) != 1 {
		t.Errorf("%d entries beside it, want none", len(entries)-1)
	}
	// An in-memory store backs up to a file too.
	mem := filepath.Join(t.TempDir(), "mem.db")
	res, err := s.Backup(ctx, mem)
	if want, _ := s.LastSeq(ctx, atlite.SubscribeReposNSID); err != nil || res.Seq != want || want == 0 {
		t.Errorf("Backup(in-memory store) = %+v, %v, want seq %d", res, err, want)
	}
	if _, err := s.Backup(ctx, ""); err == nil {
		t.Error("Backup(\"\") = nil, want an error")
	}
	if _, err := s.Backup(ctx, filepath.Join(t.TempDir(), "no", "such", "dir.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Backup(missing dir) = %v, want fs.ErrNotExist", err)
	}
}

// TestBackupPostgres checks that a PostgreSQL store says it has no Backup.
func TestBackupPostgres(t *testing.T) {
	if testutil.Backend() != testutil.BackendPostgres {
		t.Skip("PostgreSQL only")
	}
	s := testutil.MustOpenStore(t, nil)
	dest := filepath.Join(t.TempDir(), "copy.db")
	if _, err := s.Backup(ctx, dest); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Backup = %v, want errors.ErrUnsupported", err)
	}
	if _, err := os.Stat(dest); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stat(dest) = %v, want nothing written", err)
	}
}

// TestBackupCancelled checks that a cancelled Backup leaves nothing behind.
func TestBackupCancelled(t *testing.T) {
	testutil.SQLiteOnly(t, "a PostgreSQL store is backed up with pg_dump")
	s := testutil.MustOpenStore(t, nil)
	seedRepo(t, s, "did:web:a.example", 3)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	dest := filepath.Join(t.TempDir(), "copy.db")
	if _, err := s.Backup(cctx, dest); !errors.Is(err, context.Canceled) {
		t.Errorf("Backup(cancelled) = %v, want context.Canceled", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(dest)); len(entries) != 0 {
		t.Errorf("%d entries left, want none", len(entries))
	}
}
