package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/atlite-dev/atlite"
	"github.com/atlite-dev/atlite/xrpc"
)

// shutdownTimeout bounds a graceful shutdown: requests in flight and
// firehose connections get this long to finish.
const shutdownTimeout = 10 * time.Second

func cmdServe(fl *flag.FlagSet, e *env) runner {
	addr := fl.String("addr", "127.0.0.1:2583", "listen on this `ADDRESS` (host:port; port 0 picks a free one)")
	public := fl.String("public-url", "", "the server's public base `URL` (default http://ADDRESS)")
	domains := fl.String("handle-domains", "", "comma-separated handle `DOMAINS` served here, e.g. .pds.example")
	invite := fl.String("invite-code", "", "allow com.atproto.server.createAccount with this `CODE` (default: no sign-ups)")
	appview := fl.String("appview", "", "forward the app.bsky.* methods to this AppView `URL`, e.g. https://api.bsky.app (default: 501)")
	appviewDID := fl.String("appview-did", "", "the AppView's service `DID`, e.g. did:web:api.bsky.app#bsky_appview (default: did:web of its host)")
	chat := fl.String("chat", "", "forward the chat.bsky.* methods to this chat service `URL`, e.g. https://api.bsky.chat (default: 501)")
	retention := fl.Duration("event-retention", xrpc.DefaultFirehoseRetention, "keep firehose events this `LONG` (the backfill window; older ones are pruned every few minutes, keeping at least the newest 1000); 0 keeps every event")
	fl.BoolVar(&e.extCheckpoints, "external-checkpoints", false, "never checkpoint the WAL: leave it to the process replicating the file (Litestream, see the README); $ATLITE_EXTERNAL_CHECKPOINTS=1 does the same for every command")
	chatDID := fl.String("chat-did", "", "the chat service's `DID`, e.g. did:web:api.bsky.chat#bsky_chat (default: did:web of its host)")
	var relays []string
	fl.Func("relay", "once listening, ask the relay at this `URL` to crawl the server, e.g. https://bsky.network (repeatable, or comma-separated)", func(v string) error {
		for _, r := range strings.Split(v, ",") {
			if r = strings.TrimSpace(r); r != "" {
				relays = append(relays, r)
			}
		}
		return nil
	})
	return func(ctx context.Context, _ []string) error {
		s, err := e.open(ctx)
		if err != nil {
			return err
		}
		defer s.Close()
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			return err
		}
		url := *public
		if url == "" {
			url = "http://" + ln.Addr().String()
		}
		var hd []string
		for _, d := range strings.Split(*domains, ",") {
			if d = strings.TrimSpace(d); d != "" {
				if !strings.HasPrefix(d, ".") {
					d = "." + d
				}
				hd = append(hd, d)
			}
		}
		log := slog.New(slog.NewTextHandler(e.stderr, nil))
		window := *retention
		if window <= 0 {
			window = -1 // every stored event
		}
		srv, err := xrpc.New(s, &xrpc.Options{PublicURL: url, HandleDomains: hd, InviteCode: *invite, Logger: log,
			AppViewURL: *appview, AppViewDID: *appviewDID, ChatURL: *chat, ChatDID: *chatDID, Relays: relays,
			Firehose: xrpc.FirehoseOptions{Retention: window}})
		if err != nil {
			ln.Close()
			return err
		}
		hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		served := make(chan error, 1)
		go func() { served <- hs.Serve(ln) }()
		fmt.Fprintf(e.stderr, "listening on http://%s\n", ln.Addr())
		cctx, stopCrawl := context.WithCancel(ctx)
		crawled := make(chan struct{})
		go func() {
			defer close(crawled)
			srv.RequestCrawl(cctx) // logs its failures; they are not fatal
		}()
		defer func() { stopCrawl(); <-crawled }()
		if *retention > 0 {
			pruned := make(chan struct{})
			go func() {
				defer close(pruned)
				pruneLoop(cctx, s, *retention, pruneInterval, log)
			}()
			defer func() { stopCrawl(); <-pruned }()
		}
		select {
		case err := <-served:
			srv.Close()
			return err
		case <-ctx.Done():
		}
		fmt.Fprintln(e.stderr, "shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		ferr := srv.Shutdown(sctx) // firehose connections first: they never end on their own
		if err := hs.Shutdown(sctx); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return ferr
	}
}

func cmdPasswd(fl *flag.FlagSet, e *env) runner {
	return func(ctx context.Context, pos []string) error {
		id, err := parseRepoID(pos[0])
		if err != nil {
			return err
		}
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if err != nil && line == "" {
			return usagef("give the new password as one line on stdin")
		}
		password := strings.TrimRight(line, "\r\n")
		s, r, err := e.openRepo(ctx, id)
		if err != nil {
			return err
		}
		defer s.Close()
		if err := s.SetPassword(ctx, r.DID, password); err != nil {
			return err
		}
		if e.json {
			return writeJSON(e.stdout, map[string]any{"did": r.DID, "password": "set"})
		}
		_, err = fmt.Fprintf(e.stdout, "password of %s set\n", r.DID)
		return err
	}
}

// pruneInterval is how often serve prunes the events older than its
// retention window.
var pruneInterval = 5 * time.Minute

// gcInterval is the least time between two block GCs of serve's prune
// loop: the first runs after the first round that prunes events, the next
// after a later round that does, once gcInterval has passed.
const gcInterval = time.Hour

// gcDue reports whether the prune loop runs a GC now: events were pruned
// since the last one, which ran at lastGC (zero: never), gcInterval ago or
// more.
func gcDue(pruned int64, lastGC, now time.Time) bool {
	return pruned > 0 && (lastGC.IsZero() || now.Sub(lastGC) >= gcInterval)
}

// pruneLoop deletes the events older than retention now and then every
// interval, in bounded steps, until ctx ends. Each round also deletes the
// uploaded blobs no record cites after the grace period (Store.GCBlobs),
// and a round after events were deleted collects the blocks that only they
// kept (Store.GC, at most once every gcInterval). Failures are logged: the
// next round tries again.
func pruneLoop(ctx context.Context, s *atlite.Store, retention, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var pruned int64     // events pruned since the last GC
	var lastGC time.Time // zero: none yet
	for {
		var deleted int64
		for ctx.Err() == nil {
			r, err := s.PruneEvents(ctx, &atlite.PruneEventsOptions{Before: time.Now().Add(-retention)})
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("prune events", "err", err)
				}
				break
			}
			deleted += r.Deleted
			if !r.More {
				if deleted > 0 {
					log.Info("pruned events", "deleted", deleted, "oldest", r.Oldest)
				}
				break
			}
		}
		// Uploaded blobs that no record cites after the grace period.
		if n, err := s.GCBlobs(ctx, atlite.DefaultBlobGracePeriod); err != nil && ctx.Err() == nil {
			log.Warn("gc blobs", "err", err)
		} else if n > 0 {
			log.Info("gc blobs", "deleted", n)
		}
		// The pruned events' blocks may now be garbage: collect them, at
		// most once every gcInterval (a GC marks every tree of the file),
		// paced to at most a quarter of a core so commits keep theirs.
		pruned += deleted
		if gcDue(pruned, lastGC, time.Now()) && ctx.Err() == nil {
			r, err := s.GC(ctx, &atlite.GCOptions{Pace: 3})
			switch {
			case err != nil && ctx.Err() == nil:
				log.Warn("gc", "err", err)
			case err == nil:
				pruned, lastGC = 0, time.Now()
				log.Info("gc", "deleted", r.Deleted, "bytes", r.DeletedBytes, "live", r.Live)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
