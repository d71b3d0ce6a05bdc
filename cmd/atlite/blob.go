package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"time"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/datamodel"
)

// blobJSON is the atproto blob object that blob put prints.
type blobJSON struct {
	Type     string            `json:"$type"`
	Ref      map[string]string `json:"ref"`
	MIMEType string            `json:"mimeType"`
	Size     int64             `json:"size"`
}

func cmdBlobPut(fl *flag.FlagSet, e *env) runner {
	mimeType := fl.String("mime", "", "the blob's MIME `TYPE` (default: from the file name's extension, else sniffed from its first bytes)")
	return func(ctx context.Context, pos []string) error {
		id, err := parseRepoID(pos[0])
		if err != nil {
			return err
		}
		s, r, err := e.openRepo(ctx, id)
		if err != nil {
			return err
		}
		defer s.Close()
		f, size, err := e.openInput(pos[1])
		if err != nil {
			return err
		}
		defer f.Close()
		br := bufio.NewReaderSize(f, 64<<10)
		mt := *mimeType
		if mt == "" && pos[1] != "-" {
			mt = mime.TypeByExtension(filepath.Ext(pos[1]))
		}
		if mt == "" {
			head, _ := br.Peek(512)
			mt = http.DetectContentType(head)
		}
		p := e.progress("blob put", size, "bytes")
		b, err := s.UploadBlob(ctx, r.DID, &countingReader{r: br, p: p}, mt, nil)
		p.Stop()
		if err != nil {
			return err
		}
		out := blobJSON{Type: "blob", Ref: map[string]string{"$link": b.CID.String()}, MIMEType: b.MIMEType, Size: b.Size}
		if e.json {
			return writeJSON(e.stdout, out)
		}
		_, err = fmt.Fprintf(e.stdout, "%s\t%s\t%d\n", b.CID, b.MIMEType, b.Size)
		return err
	}
}

func cmdBlobGet(fl *flag.FlagSet, e *env) runner {
	out := fl.String("o", "", "write the blob to `FILE` (through a temporary file renamed when complete) instead of stdout")
	force := fl.Bool("force", false, "overwrite the -o file if it exists")
	return func(ctx context.Context, pos []string) error {
		c, err := datamodel.ParseCID(pos[0])
		if err != nil {
			return usagef("%q is not a CID: %v", pos[0], err)
		}
		if e.json && (*out == "" || *out == "-") {
			return usagef("--json needs -o FILE: stdout holds the blob")
		}
		s, err := e.open(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		br, err := s.OpenBlob(ctx, c)
		if errors.Is(err, atlite.ErrNotFound) {
			return fmt.Errorf("no blob %s in %s", c, e.dbName())
		}
		if err != nil {
			return err
		}
		defer br.Close()
		o, err := e.createOutput(*out, *force, "a blob")
		if err != nil {
			return err
		}
		defer o.abort()
		p := e.progress("blob get", br.Size(), "bytes")
		n, err := io.Copy(&countingWriter{w: o.w, p: p}, br)
		p.Stop()
		if err != nil {
			return err
		}
		if err := o.commit(); err != nil {
			return err
		}
		if *out == "" || *out == "-" {
			return nil
		}
		b := br.Blob()
		if e.json {
			return writeJSON(e.stdout, map[string]any{"cid": c.String(), "mimeType": b.MIMEType, "size": n, "file": *out})
		}
		_, err = fmt.Fprintf(e.stdout, "wrote %s: %s, %d bytes\n", *out, b.MIMEType, n)
		return err
	}
}

func cmdBlobLs(fl *flag.FlagSet, e *env) runner {
	return func(ctx context.Context, pos []string) error {
		id, err := parseRepoID(pos[0])
		if err != nil {
			return err
		}
		s, r, err := e.openRepo(ctx, id)
		if err != nil {
			return err
		}
		defer s.Close()
		cursor := ""
		for {
			cids, next, err := s.ListBlobs(ctx, r.DID, &atlite.ListBlobsOptions{Cursor: cursor})
			if err != nil {
				return err
			}
			for _, c := range cids {
				if e.json {
					writeJSON(e.stdout, map[string]string{"cid": c.String()})
				} else {
					fmt.Fprintln(e.stdout, c)
				}
			}
			if next == "" {
				return nil
			}
			cursor = next
		}
	}
}

func cmdBlobGC(fl *flag.FlagSet, e *env) runner {
	grace := fl.Duration("grace", atlite.DefaultBlobGracePeriod, "keep the uncited blobs uploaded less than `DURATION` ago")
	return func(ctx context.Context, _ []string) error {
		if *grace < 0 {
			return usagef("--grace must not be negative")
		}
		s, err := e.open(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		n, err := s.GCBlobs(ctx, *grace)
		if err != nil {
			return err
		}
		if e.json {
			return writeJSON(e.stdout, map[string]int{"deleted": n})
		}
		_, err = fmt.Fprintf(e.stdout, "deleted %d blob(s) no record cites, uploaded more than %v ago\n", n, grace.Round(time.Second))
		return err
	}
}
