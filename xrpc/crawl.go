package xrpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// requestCrawl defaults.
const (
	// CrawlAttempts is how many times RequestCrawl asks a relay before it
	// gives up on it.
	CrawlAttempts = 5
	// DefaultCrawlRetry is the wait before the first retry of a failed
	// requestCrawl; it doubles after each failure.
	DefaultCrawlRetry = 2 * time.Second
	// DefaultRelayTimeout bounds each requestCrawl call.
	DefaultRelayTimeout = 30 * time.Second
)

// RequestCrawlNSID is the relay method RequestCrawl calls.
const RequestCrawlNSID = "com.atproto.sync.requestCrawl"

// setupCrawl checks the relay URLs (a bare host means https) and fills in
// the defaults.
func (s *Server) setupCrawl() error {
	o := &s.opts
	relays := make([]string, 0, len(o.Relays))
	for _, r := range o.Relays {
		if r = strings.TrimSpace(r); r == "" {
			continue
		}
		if !strings.Contains(r, "://") {
			r = "https://" + r
		}
		u, err := url.Parse(r)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("xrpc: relay URL %q: want http(s)://host", r)
		}
		relays = append(relays, strings.TrimRight(r, "/"))
	}
	o.Relays = relays
	if o.RelayClient == nil {
		o.RelayClient = &http.Client{Timeout: DefaultRelayTimeout}
	}
	if o.CrawlRetry <= 0 {
		o.CrawlRetry = DefaultCrawlRetry
	}
	return nil
}

// crawlHost is the hostname relays are asked to crawl: the host of
// PublicURL (with its port, if it has one).
func (s *Server) crawlHost() string {
	if u, err := url.Parse(s.opts.PublicURL); err == nil && u.Host != "" {
		return u.Host
	}
	return s.opts.PublicURL
}

// RequestCrawl asks each of [Options.Relays], concurrently, to crawl this
// server: a POST of com.atproto.sync.requestCrawl with {"hostname": the
// host of PublicURL}. A relay that fails (no answer, 429 or a 5xx) is asked
// again after CrawlRetry, then twice as long each time, CrawlAttempts times
// in all; another 4xx answer is final. Each failure is logged as a warning,
// each success as info. RequestCrawl returns when every relay has accepted
// or been given up on, or when ctx is done; its error joins those of the
// relays that never accepted, and is nil when all did (or there are none).
// Call it once the server is reachable at PublicURL: relays connect back.
func (s *Server) RequestCrawl(ctx context.Context) error {
	errs := make([]error, len(s.opts.Relays))
	var wg sync.WaitGroup
	for i, relay := range s.opts.Relays {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.requestCrawl(ctx, relay)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// requestCrawl asks one relay, with retries.
func (s *Server) requestCrawl(ctx context.Context, relay string) error {
	host := s.crawlHost()
	wait := s.opts.CrawlRetry
	var err error
	for attempt := 1; ; attempt++ {
		var retry bool
		retry, err = s.crawlOnce(ctx, relay, host)
		if err == nil {
			s.log.Info("requestCrawl accepted", "relay", relay, "hostname", host, "attempt", attempt)
			return nil
		}
		if cerr := ctx.Err(); cerr != nil {
			s.log.Warn("requestCrawl failed: giving up", "relay", relay, "hostname", host, "attempt", attempt, "err", cerr)
			return fmt.Errorf("requestCrawl %s: %w (after %v)", relay, cerr, err)
		}
		if !retry || attempt == CrawlAttempts {
			s.log.Warn("requestCrawl failed: giving up", "relay", relay, "hostname", host, "attempt", attempt, "err", err)
			return fmt.Errorf("requestCrawl %s: %w", relay, err)
		}
		s.log.Warn("requestCrawl failed", "relay", relay, "hostname", host, "attempt", attempt, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			s.log.Warn("requestCrawl failed: giving up", "relay", relay, "hostname", host, "attempt", attempt, "err", ctx.Err())
			return fmt.Errorf("requestCrawl %s: %w (after %v)", relay, ctx.Err(), err)
		case <-t.C:
		}
		wait *= 2
	}
}

// crawlOnce makes one requestCrawl call; retry reports whether a failure
// may pass.
func (s *Server) crawlOnce(ctx context.Context, relay, host string) (retry bool, err error) {
	body, _ := json.Marshal(map[string]string{"hostname": host})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, relay+"/xrpc/"+RequestCrawlNSID, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "atlite/"+version())
	resp, err := s.opts.RelayClient.Do(req)
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 == 2 {
		return false, nil
	}
	err = fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	return resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500, err
}
