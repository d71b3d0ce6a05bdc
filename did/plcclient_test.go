package did_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atlite-dev/atlite/did"
	"github.com/atlite-dev/atlite/did/didtest"
	"github.com/atlite-dev/atlite/keys"
	"github.com/atlite-dev/atlite/syntax"
)

// fakeClock is a settable clock for the fake directory.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newDirectory(t *testing.T) (*didtest.Directory, *did.PLCClient, *fakeClock) {
	t.Helper()
	dir := didtest.NewDirectory()
	t.Cleanup(dir.Close)
	clock := &fakeClock{t: t0}
	dir.SetClock(clock.now)
	c, err := did.NewPLCClient(&did.PLCOptions{URL: dir.URL(), HTTPClient: dir.Client(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return dir, c, clock
}

func TestPLCClientEndToEnd(t *testing.T) {
	ctx := context.Background()
	dir, c, clock := newDirectory(t)
	rot, rot2, sig := k256(t, seedRepo), k256(t, seedOther), p256(t, seedThird)

	g, err := did.NewGenesis([]keys.PublicKey{rot.PublicKey()}, k256(t, seedRepo).PublicKey(), "han.dull", "https://localhost:8080")
	if err != nil {
		t.Fatal(err)
	}
	signed(t, g, rot)
	d, err := c.Create(ctx, g)
	if err != nil || d != genesisDID {
		t.Fatalf("Create() = %s, %v; want %s", d, err, genesisDID)
	}
	doc, err := c.Resolve(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, doc); got != genesisDoc {
		t.Errorf("Resolve() = %s\nwant %s", got, genesisDoc)
	}
	// The posted operation is exactly the one we signed.
	ops, err := c.Log(ctx, d)
	if err != nil || len(ops) != 1 || !reflect.DeepEqual(ops[0], g) {
		t.Fatalf("Log() = %v, %v", ops, err)
	}

	clock.advance(time.Minute)
	up, err := c.Update(ctx, d, did.Update{Handle: "new.ie", PDSEndpoint: "http://sur.vur", SigningKey: sig.PublicKey(), RotationKeys: []keys.PublicKey{rot2.PublicKey(), rot.PublicKey()}}, rot)
	if err != nil {
		t.Fatalf("Update() = %v", err)
	}
	if *up.Prev != genesisCID {
		t.Errorf("Update().Prev = %s, want %s", *up.Prev, genesisCID)
	}
	data, err := c.Data(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	wantData := &did.State{
		DID:                 d,
		VerificationMethods: map[string]string{"atproto": sig.PublicKey().DIDKey()},
		RotationKeys:        []string{rot2.PublicKey().DIDKey(), repoDIDKey},
		AlsoKnownAs:         []string{"at://new.ie"},
		Services:            map[string]did.Service{"atproto_pds": {Type: "AtprotoPersonalDataServer", Endpoint: "http://sur.vur"}},
	}
	if !reflect.DeepEqual(data, wantData) {
		t.Errorf("Data() = %+v\nwant %+v", data, wantData)
	}

	// An update that changes one thing keeps the rest; the new first
	// rotation key signs it.
	clock.advance(time.Minute)
	if _, err := c.Update(ctx, d, did.Update{Handle: "third.ie"}, rot2); err != nil {
		t.Fatalf("Update(handle) = %v", err)
	}
	doc, err = c.Resolve(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	pds, _ := doc.PDSEndpoint()
	key, _ := doc.SigningKey()
	h, _ := doc.Handle()
	if h != "third.ie" || pds != "http://sur.vur" || !key.Equal(sig.PublicKey()) {
		t.Errorf("after handle update: handle %s, pds %s, key %v", h, pds, key)
	}

	// Roll back one operation: the state of the first update returns.
	clock.advance(time.Minute)
	if _, err := c.Rollback(ctx, d, 1, rot); err != nil {
		t.Fatalf("Rollback() = %v", err)
	}
	if data2, err := c.Data(ctx, d); err != nil || !reflect.DeepEqual(data2, wantData) {
		t.Errorf("Data() after rollback = %+v, %v\nwant %+v", data2, err, wantData)
	}

	log, err := c.AuditLog(ctx, d)
	if err != nil || len(log) != 4 {
		t.Fatalf("AuditLog() = %d entries, %v", len(log), err)
	}
	if _, err := did.VerifyAuditLog(d, log); err != nil {
		t.Errorf("VerifyAuditLog(served log) = %v", err)
	}
	if ops, err := c.Log(ctx, d); err != nil || did.VerifyChain(d, ops) != nil || len(ops) != 4 {
		t.Errorf("Log() = %d ops, %v", len(ops), err)
	}
	wantDates := []syntax.Datetime{"2022-01-02T03:04:05.000Z", "2022-01-02T03:05:05.000Z", "2022-01-02T03:06:05.000Z", "2022-01-02T03:07:05.000Z"}
	for i, e := range log {
		if e.CreatedAt != wantDates[i] || e.DID != d || e.Nullified {
			t.Errorf("entry %d = %s %s %t", i, e.DID, e.CreatedAt, e.Nullified)
		}
	}

	// A key that is not a rotation key: refused before anything is posted.
	posted, _ := dir.Posts()
	if _, err := c.Update(ctx, d, did.Update{Handle: "evil.ie"}, k256(t, seedFour)); !errors.Is(err, did.ErrBadSignature) {
		t.Errorf("Update(stranger key) = %v, want ErrBadSignature", err)
	}
	if _, err := c.Rollback(ctx, d, 1, k256(t, seedFour)); !errors.Is(err, did.ErrBadSignature) {
		t.Errorf("Rollback(stranger key) = %v, want ErrBadSignature", err)
	}
	if _, err := c.Rollback(ctx, d, 4, rot); !errors.Is(err, did.ErrInvalidOperation) {
		t.Errorf("Rollback(4) = %v, want ErrInvalidOperation", err)
	}
	if now, _ := dir.Posts(); now != posted {
		t.Errorf("%d operations posted by refused calls", now-posted)
	}

	// Tombstone: the DID is gone.
	clock.advance(time.Minute)
	if _, err := c.Tombstone(ctx, d, rot); err != nil {
		t.Fatalf("Tombstone() = %v", err)
	}
	if _, err := c.Resolve(ctx, d); !errors.Is(err, did.ErrDeactivated) {
		t.Errorf("Resolve(tombstoned) = %v, want ErrDeactivated", err)
	}
	if _, err := c.Data(ctx, d); !errors.Is(err, did.ErrDeactivated) {
		t.Errorf("Data(tombstoned) = %v, want ErrDeactivated", err)
	}
	if _, err := c.Update(ctx, d, did.Update{}, rot); !errors.Is(err, did.ErrInvalidOperation) {
		t.Errorf("Update(tombstoned) = %v, want ErrInvalidOperation", err)
	}
}

func TestPLCDirectoryRefusals(t *testing.T) {
	ctx := context.Background()
	dir, c, clock := newDirectory(t)
	a, b := k256(t, seedRepo), k256(t, seedOther)
	g, d := genesis(t, a, a, b)
	if _, err := c.Create(ctx, g); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Hour)
	unknown := genesisCID
	badPrev := next(t, g, "x.test", a)
	badPrev.Prev = &unknown
	signed(t, badPrev, a)
	wrongDID, _ := genesis(t, a, a)

	tests := []struct {
		name string
		d    syntax.DID
		op   *did.Operation
	}{
		{"wrong rotation key", d, next(t, g, "x.test", k256(t, seedThird))},
		{"broken prev", d, badPrev},
		{"genesis again", d, g},
		{"genesis under another did", d, wrongDID},
		{"update of unknown did", genesisDID, next(t, g, "x.test", a)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, refusedBefore := dir.Posts()
			err := c.Submit(ctx, tt.d, tt.op)
			if !errors.Is(err, did.ErrRejected) {
				t.Errorf("Submit() = %v, want ErrRejected", err)
			}
			if posted, refused := dir.Posts(); posted != before+1 || refused != refusedBefore+1 {
				t.Errorf("directory counted %d posts, %d refusals; want 1 and 1", posted-before, refused-refusedBefore)
			}
			if n := len(dir.AuditLog(d)); n != 1 {
				t.Errorf("audit log has %d entries, want 1", n)
			}
		})
	}

	// A bad signature never reaches the directory: Submit validates first.
	bad := next(t, g, "x.test", a)
	bad.Sig = "not-a-signature"
	before, _ := dir.Posts()
	if err := c.Submit(ctx, d, bad); !errors.Is(err, did.ErrBadSignature) {
		t.Errorf("Submit(bad sig) = %v, want ErrBadSignature", err)
	}
	if after, _ := dir.Posts(); after != before {
		t.Error("Submit posted an invalid operation")
	}

	// Recovery through the directory: b's update is nullified by a.
	if err := c.Submit(ctx, d, next(t, g, "by-b.test", b)); err != nil {
		t.Fatal(err)
	}
	clock.advance(did.RecoveryWindow + time.Second)
	if err := c.Submit(ctx, d, next(t, g, "late.test", a)); !errors.Is(err, did.ErrRejected) || !strings.Contains(err.Error(), "recovery") {
		t.Errorf("Submit(late recovery) = %v, want ErrRejected mentioning recovery", err)
	}
	clock.advance(-2 * time.Second)
	if err := c.Submit(ctx, d, next(t, g, "rec.test", a)); err != nil {
		t.Fatalf("Submit(recovery) = %v", err)
	}
	log, err := c.AuditLog(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	var flags []bool
	for _, e := range log {
		flags = append(flags, e.Nullified)
	}
	if !reflect.DeepEqual(flags, []bool{false, true, false}) {
		t.Errorf("nullified flags = %v, want [false true false]", flags)
	}
	if _, err := did.VerifyAuditLog(d, log); err != nil {
		t.Errorf("VerifyAuditLog = %v", err)
	}
	if _, err := c.Resolve(ctx, genesisDID); !errors.Is(err, did.ErrNotFound) {
		t.Errorf("Resolve(unknown) = %v, want ErrNotFound", err)
	}
}

func TestPLCClientURL(t *testing.T) {
	tests := []struct {
		opt, env, want string
	}{
		{"", "", "https://plc.directory"},
		{"", "plc.bsky-sandbox.dev", "https://plc.bsky-sandbox.dev"},
		{"", "http://localhost:2582/", "http://localhost:2582"},
		{"https://plc.example", "plc.bsky-sandbox.dev", "https://plc.example"},
	}
	for _, tt := range tests {
		t.Run(tt.opt+"|"+tt.env, func(t *testing.T) {
			t.Setenv("PLC_HOST", tt.env)
			c, err := did.NewPLCClient(&did.PLCOptions{URL: tt.opt})
			if err != nil || c.URL() != tt.want {
				t.Errorf("URL() = %v, %v; want %s", c, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"ftp://plc.example", "https://", "https://plc.example?x=1"} {
		if c, err := did.NewPLCClient(&did.PLCOptions{URL: bad}); err == nil {
			t.Errorf("NewPLCClient(%q) = %v, want an error", bad, c.URL())
		}
	}
	c, _ := did.NewPLCClient(nil)
	if _, err := c.Resolve(context.Background(), "did:web:example.com"); !errors.Is(err, did.ErrUnsupportedMethod) {
		t.Errorf("Resolve(did:web) = %v, want ErrUnsupportedMethod", err)
	}
}

// TestPLCClientBadServers checks the HTTP safety limits against servers
// that misbehave.
func TestPLCClientBadServers(t *testing.T) {
	ctx := context.Background()
	big := strings.Repeat("x", 2048)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    error
	}{
		{"content-length over limit", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "2048")
			w.Write([]byte(big))
		}, did.ErrResponseTooLarge},
		{"chunked body over limit", func(w http.ResponseWriter, r *http.Request) {
			for range 4 {
				w.Write([]byte(big[:600]))
				w.(http.Flusher).Flush()
			}
		}, did.ErrResponseTooLarge},
		{"slow", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, context.DeadlineExceeded},
		{"slow body", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("["))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}, context.DeadlineExceeded},
		{"server error", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "boom", http.StatusInternalServerError)
		}, did.ErrHTTPStatus},
		{"not json", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("<html>"))
		}, did.ErrInvalidOperation},
		{"redirect to file", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		}, did.ErrRedirect},
		{"redirect loop", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.Path, http.StatusFound)
		}, did.ErrRedirect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			timeout := 5 * time.Second
			if strings.HasPrefix(tt.name, "slow") {
				timeout = 200 * time.Millisecond
			}
			// One attempt: these are the limits of a single request; retries
			// are TestPLCClientRetry's.
			c, err := did.NewPLCClient(&did.PLCOptions{URL: srv.URL, HTTPClient: srv.Client(), Timeout: timeout, MaxResponseBytes: 1024, MaxAttempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			log, err := c.AuditLog(ctx, genesisDID)
			if log != nil || !errors.Is(err, tt.want) {
				t.Errorf("AuditLog() = %v, %v; want %v", log, err, tt.want)
			}
			if el := time.Since(start); el > 4*time.Second {
				t.Errorf("AuditLog took %s", el)
			}
		})
	}
}
