package atlite

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/atlite-dev/atlite/datamodel"
	"github.com/atlite-dev/atlite/internal/media"
	"github.com/atlite-dev/atlite/internal/safehttp"
	"github.com/atlite-dev/atlite/internal/storage"
	"github.com/atlite-dev/atlite/syntax"
)

// Remote blob defaults.
const (
	// DefaultBlobRefetchAge is how long a fetched remote blob of a
	// refetched type is trusted before it is fetched again (arroba's
	// BLOB_REFETCH_DAYS, 7).
	DefaultBlobRefetchAge = 7 * 24 * time.Hour
	// DefaultBlobRefetchType is the MIME major type whose remote blobs are
	// refetched when older than the refetch age (arroba's
	// BLOB_REFETCH_TYPES); blobs of other types are fetched once.
	DefaultBlobRefetchType = "image"
	// DefaultBlobFetchTimeout is the timeout of the HTTP client used when
	// [RemoteBlobOptions.Client] is nil.
	DefaultBlobFetchTimeout = time.Minute
	// RemoteBlobInactive is the [RemoteBlob.Status] of a blob whose URL
	// answered 4xx, or failed before the blob was ever fetched.
	RemoteBlobInactive = "inactive"
)

// RemoteBlob is a blob served from a public URL that this host does not
// store: what was learnt when it was last fetched.
type RemoteBlob struct {
	URL      string
	CID      cid.Cid // raw-codec CID; cid.Undef until fetched
	Size     int64   // bytes; 0 when unknown
	MIMEType string  // the Content-Type header verbatim, else guessed
	// Width and Height are an image's or a video's size in pixels; 0 when
	// unknown.
	Width, Height int
	// Duration is a video's length, with millisecond precision; 0 when
	// unknown or not a video.
	Duration time.Duration
	// Status is "" (active) or RemoteBlobInactive.
	Status      string
	LastFetched time.Time // zero if never fetched
	Repos       []syntax.DID
	Created     time.Time
	Updated     time.Time
}

// AsObject returns the atproto blob object for the blob,
// {"$type": "blob", "ref": CID, "mimeType": ..., "size": ...}, ready for
// [datamodel.Marshal]; nil when the blob has not been fetched.
func (b *RemoteBlob) AsObject() map[string]any {
	if !b.CID.Defined() {
		return nil
	}
	return map[string]any{"$type": "blob", "ref": b.CID, "mimeType": b.MIMEType, "size": b.Size}
}

// RemoteBlobOptions configure [Store.RemoteBlob]. A nil pointer, and every
// zero field, mean the documented default.
type RemoteBlobOptions struct {
	// Client fetches the blob. Default: a client with a
	// DefaultBlobFetchTimeout timeout that connects only to public
	// addresses, checked when connecting (after DNS resolution, on every
	// redirect): a URL whose host is, or resolves to, a loopback, private,
	// link-local, CGNAT, multicast, unspecified or other non-public address
	// fails with [ErrForbiddenAddress] (and [ErrBlobFetch]), so that a URL
	// taken from a record cannot reach services only this host can reach.
	// A client given here is used as is, without that check: it is the
	// opt-out for blobs served on a private network, and for tests against
	// loopback servers. Whatever the client, redirects to schemes other than
	// http and https are refused.
	Client *http.Client
	// Repo, when set, is added to the DIDs that reference the blob.
	Repo syntax.DID
	// MaxSize is a lexicon's maxSize for the blob field. Default: none.
	MaxSize int64
	// Accept is a lexicon's accept list: MIME types, "type/*" wildcards or
	// "*/*". Default: every type.
	Accept []string
	// MaxBytes is the largest blob fetched; a larger Content-Length is
	// refused before the body is read. Default: DefaultBlobMaxBytes.
	MaxBytes int64
	// RefetchTypes are the MIME major types ("image", "video", ...) of the
	// blobs fetched again once older than RefetchAge; others are fetched
	// once. Default: []string{DefaultBlobRefetchType}.
	RefetchTypes []string
	// RefetchAge is how long a fetch of a refetched type is trusted.
	// Default: DefaultBlobRefetchAge. Negative: never refetch.
	RefetchAge time.Duration
	// Now returns the current time. Default: the store's [Options.Now].
	Now func() time.Time
}

// remoteBlobOf converts a row to a RemoteBlob (without its repos).
func remoteBlobOf(r *storage.RemoteBlobRow) (*RemoteBlob, error) {
	b := &RemoteBlob{URL: r.URL, MIMEType: r.MIMEType, Created: time.UnixMicro(r.Created).UTC(), Updated: time.UnixMicro(r.Updated).UTC()}
	if r.CID != nil {
		c, err := datamodel.CIDFromBytes(r.CID)
		if err != nil {
			return nil, fmt.Errorf("stored remote blob %s: %w", r.URL, err)
		}
		b.CID = c
	}
	b.Size = deref(r.Size)
	b.Width, b.Height = int(deref(r.Width)), int(deref(r.Height))
	b.Duration = time.Duration(deref(r.DurationMS)) * time.Millisecond
	if r.Status != nil {
		b.Status = *r.Status
	}
	if r.LastFetched != nil {
		b.LastFetched = time.UnixMicro(*r.LastFetched).UTC()
	}
	return b, nil
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// RemoteBlob gets or creates the remote blob at rawURL, fetching it when
// the refetch policy asks, and validates it against opts. In order:
//
//  1. The blob's row is created if new, and opts.Repo added to its repos.
//     Before that, with the default client, a URL whose host is a
//     non-public IP literal is refused with [ErrForbiddenAddress] and
//     [ErrBlobFetch], recording nothing; a host name that resolves to such
//     an address fails the same way when the fetch connects, as any failed
//     fetch does.
//  2. An inactive blob returns [ErrBlobInactive] without a fetch.
//  3. A blob already fetched whose MIME major type is not in RefetchTypes is
//     not fetched again (videos are fetched once); otherwise one fetched
//     less than RefetchAge ago is not either. Otherwise it is fetched: the
//     body is streamed (never held in memory) to compute its raw CID and
//     size and read the dimensions and duration of PNG, JPEG, GIF, WebP
//     and MP4 files. A Content-Length over MaxBytes is refused
//     ([ErrBlobTooLarge]) before the body is read, as is a body that turns
//     out longer. A 4xx response marks the blob inactive, as does any
//     failure before it was ever fetched; the failure returns
//     [ErrBlobFetch]. The fetch time is recorded in all these cases.
//  4. The blob, fetched now or before, is validated ([RemoteBlob.Validate]).
//
// With ErrBlobInactive, ErrBlobFetch and the validation errors the blob is
// returned too, as now stored; other errors return nil. The fetch runs
// outside any transaction, so the write lock is never held over the network:
// the row is written before and after it (two short transactions), and two
// concurrent calls for one URL may both fetch it. A cancelled ctx stops the
// fetch and records nothing about it.
func (s *Store) RemoteBlob(ctx context.Context, rawURL string, opts *RemoteBlobOptions) (*RemoteBlob, error) {
	// No enter() for the whole call: Close must not wait for a fetch. The
	// transactions before and after it enter on their own.
	o := remoteBlobDefaults(opts, s.now)
	if err := checkBlobURL(rawURL, o.guarded); err != nil {
		return nil, err
	}

	b, err := s.remoteBlobGetOrCreate(ctx, rawURL, o)
	if err != nil {
		return nil, fmt.Errorf("remote blob %s: %w", rawURL, err)
	}
	if b.Status != "" {
		return b, fmt.Errorf("remote blob %s: %w", rawURL, ErrBlobInactive)
	}
	if o.shouldFetch(b) {
		f := fetchBlob(ctx, o.Client, rawURL, o.MaxBytes)
		ferr := f.err
		if ferr != nil && ctx.Err() != nil {
			return nil, fmt.Errorf("remote blob %s: %w", rawURL, ctx.Err())
		}
		f.apply(b, o.Now().UTC())
		if err := s.updateOpen(ctx, func(tx storage.WriteTx) error { return saveRemoteBlob(ctx, tx, b) }); err != nil {
			return nil, fmt.Errorf("remote blob %s: %w", rawURL, err)
		}
		if ferr != nil {
			return b, fmt.Errorf("remote blob %s: %w", rawURL, ferr)
		}
	}
	if err := b.Validate(opts); err != nil {
		return b, fmt.Errorf("remote blob %s: %w", rawURL, err)
	}
	return b, nil
}

// Validate checks the blob against a lexicon's constraints in opts
// (MaxSize, Accept and MaxBytes; opts may be nil): its MIME type must be
// accepted ([ErrBlobType]; any type passes when Accept is empty or holds
// "*/*"), its size at most MaxBytes and MaxSize ([ErrBlobTooLarge]), and a
// video at most [MaxVideoDuration] long ([ErrBlobTooLong]).
func (b *RemoteBlob) Validate(opts *RemoteBlobOptions) error {
	var o RemoteBlobOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultBlobMaxBytes
	}
	return validateBlob(b.MIMEType, b.Size, b.Duration, o.MaxSize, o.MaxBytes, o.Accept)
}

// AcceptsMIMEType reports whether a lexicon's accept list admits mimeType:
// an empty list or "*/*" admits everything, "type/*" every subtype of type,
// and any other entry the exact type. An empty mimeType is admitted only by
// an empty list or "*/*".
func AcceptsMIMEType(accept []string, mimeType string) bool {
	if len(accept) == 0 {
		return true
	}
	major, _, _ := strings.Cut(mimeType, "/")
	for _, a := range accept {
		if a == "*/*" {
			return true
		}
		if mimeType != "" && (a == mimeType || a == major+"/*") {
			return true
		}
	}
	return false
}

func validateBlob(mimeType string, size int64, d time.Duration, maxSize, maxBytes int64, accept []string) error {
	if !AcceptsMIMEType(accept, mimeType) {
		return fmt.Errorf("%w: %q is not one of %q", ErrBlobType, mimeType, accept)
	}
	if size > maxBytes {
		return fmt.Errorf("%w: %d bytes, at most %d allowed", ErrBlobTooLarge, size, maxBytes)
	}
	if maxSize > 0 && size > maxSize {
		return fmt.Errorf("%w: %d bytes, the lexicon allows at most %d", ErrBlobTooLarge, size, maxSize)
	}
	if d > MaxVideoDuration {
		return fmt.Errorf("%w: %v, at most %v allowed", ErrBlobTooLong, d, MaxVideoDuration)
	}
	return nil
}

// remoteBlobOpts are RemoteBlobOptions with the defaults filled in.
type remoteBlobOpts struct {
	RemoteBlobOptions
	guarded bool // Client is the default, address-checking client
}

func remoteBlobDefaults(opts *RemoteBlobOptions, now func() time.Time) remoteBlobOpts {
	var o RemoteBlobOptions
	if opts != nil {
		o = *opts
	}
	guarded := o.Client == nil
	if guarded {
		o.Client = safehttp.NewClient(&safehttp.Options{Timeout: DefaultBlobFetchTimeout})
	}
	o.Client = httpOnly(o.Client)
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultBlobMaxBytes
	}
	if o.RefetchTypes == nil {
		o.RefetchTypes = []string{DefaultBlobRefetchType}
	}
	if o.RefetchAge == 0 {
		o.RefetchAge = DefaultBlobRefetchAge
	}
	if o.Now == nil {
		o.Now = now
	}
	return remoteBlobOpts{o, guarded}
}

// shouldFetch applies the refetch policy to b.
func (o remoteBlobOpts) shouldFetch(b *RemoteBlob) bool {
	fetched := b.CID.Defined() || !b.LastFetched.IsZero()
	if !fetched {
		return true
	}
	major, _, _ := strings.Cut(b.MIMEType, "/")
	if o.RefetchAge < 0 || !containsFold(o.RefetchTypes, major) {
		return false
	}
	return o.Now().Sub(b.LastFetched) >= o.RefetchAge
}

func containsFold(list []string, s string) bool {
	for _, e := range list {
		if strings.EqualFold(strings.TrimSpace(e), s) {
			return true
		}
	}
	return false
}

// checkBlobURL accepts absolute http and https URLs; when guarded, not
// those whose host is a non-public IP literal.
func checkBlobURL(rawURL string, guarded bool) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("remote blob %q: %w: %v", rawURL, ErrBlobFetch, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("remote blob %q: %w: not an http or https URL", rawURL, ErrBlobFetch)
	}
	if guarded {
		if err := safehttp.CheckURL(u); err != nil {
			return fmt.Errorf("remote blob %q: %w: %w", rawURL, ErrBlobFetch, err)
		}
	}
	return nil
}

// httpOnly returns a copy of c that refuses redirects to schemes other
// than http and https, then applies c's own redirect policy.
func httpOnly(c *http.Client) *http.Client {
	cc := *c
	next := c.CheckRedirect
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
			return fmt.Errorf("redirect to %q: not an http or https URL", req.URL.Redacted())
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cc
}

// remoteBlobGetOrCreate reads the blob's row, creating it and adding
// o.Repo in a write transaction only when needed.
func (s *Store) remoteBlobGetOrCreate(ctx context.Context, rawURL string, o remoteBlobOpts) (*RemoteBlob, error) {
	var b *RemoteBlob
	err := s.viewOpen(ctx, func(tx storage.ReadTx) error {
		var err error
		b, err = readRemoteBlob(ctx, tx, rawURL)
		return err
	})
	if err == nil && (o.Repo == "" || hasDID(b.Repos, o.Repo)) {
		return b, nil
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	err = s.updateOpen(ctx, func(tx storage.WriteTx) error {
		now := o.Now().UTC().UnixMicro()
		if err := tx.InsertRemoteBlob(ctx, rawURL, now); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		if o.Repo != "" {
			if err := tx.AddRemoteBlobRepo(ctx, rawURL, o.Repo.String(), now); err != nil {
				return fmt.Errorf("add repo: %w", err)
			}
		}
		var err error
		b, err = readRemoteBlob(ctx, tx, rawURL)
		return err
	})
	return b, err
}

func hasDID(ds []syntax.DID, d syntax.DID) bool {
	for _, e := range ds {
		if e == d {
			return true
		}
	}
	return false
}

func readRemoteBlob(ctx context.Context, tx storage.ReadTx, rawURL string) (*RemoteBlob, error) {
	r, err := tx.RemoteBlob(ctx, rawURL)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("read: %w", err)
	}
	b, err := remoteBlobOf(&r)
	if err != nil {
		return nil, err
	}
	dids, err := tx.RemoteBlobRepos(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("read repos: %w", err)
	}
	for _, d := range dids {
		b.Repos = append(b.Repos, syntax.DID(d))
	}
	return b, nil
}

// GetRemoteBlob returns the stored remote blob at rawURL without creating or
// fetching it, or ErrNotFound.
func (s *Store) GetRemoteBlob(ctx context.Context, rawURL string) (*RemoteBlob, error) {
	done, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	var b *RemoteBlob
	err = s.b.View(ctx, func(tx storage.ReadTx) error {
		b, err = readRemoteBlob(ctx, tx, rawURL)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("remote blob %s: %w", rawURL, err)
	}
	return b, nil
}

func saveRemoteBlob(ctx context.Context, tx storage.WriteTx, b *RemoteBlob) error {
	var c []byte
	if b.CID.Defined() {
		c = b.CID.Bytes()
	}
	fetched := b.LastFetched.UnixMicro()
	err := tx.SaveRemoteBlob(ctx, storage.RemoteBlobRow{URL: b.URL, CID: c, Size: optInt(b.Size), MIMEType: b.MIMEType,
		Width: optInt(int64(b.Width)), Height: optInt(int64(b.Height)), DurationMS: optInt(b.Duration.Milliseconds()),
		Status: optString(b.Status), LastFetched: &fetched, Updated: b.Updated.UnixMicro()})
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}

// optInt is n as a nullable column: nil for 0.
func optInt(n int64) *int64 {
	if n == 0 {
		return nil
	}
	return &n
}

// fetched is the outcome of a fetch.
type fetched struct {
	status   int    // HTTP status; 0 when there was no response
	mimeType string // "" when there was no 2xx response
	size     int64  // -1 when unknown
	cid      cid.Cid
	info     media.Info
	tooLarge bool // a 2xx response whose body is over the limit
	err      error
}

// apply records a fetch at now in b, following arroba's maybe_fetch: the
// MIME type and Content-Length of a 2xx response are kept even when the body
// then fails; a 4xx response, or any failure of a blob never fetched, marks
// it inactive; a body over the limit changes neither status nor CID.
func (f fetched) apply(b *RemoteBlob, now time.Time) {
	b.LastFetched, b.Updated = now, now
	if f.mimeType != "" {
		b.MIMEType = f.mimeType
		if f.size >= 0 {
			b.Size = f.size
		}
	}
	if f.tooLarge {
		return
	}
	if f.err != nil {
		if f.status >= 400 && f.status < 500 || !b.CID.Defined() {
			b.Status = RemoteBlobInactive
		}
		return
	}
	b.CID = f.cid
	b.Width, b.Height = f.info.Width, f.info.Height
	b.Duration = f.info.Duration.Truncate(time.Millisecond)
	b.Status = ""
}

// fetchBlob GETs rawURL and streams its body through SHA-256 and the media
// probe, reading at most maxBytes.
func fetchBlob(ctx context.Context, client *http.Client, rawURL string, maxBytes int64) (f fetched) {
	f.size = -1
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		f.err = fmt.Errorf("%w: %v", ErrBlobFetch, err)
		return f
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, ErrForbiddenAddress) {
			f.err = fmt.Errorf("%w: %w", ErrBlobFetch, err)
		} else {
			f.err = fmt.Errorf("%w: %v", ErrBlobFetch, err)
		}
		return f
	}
	defer resp.Body.Close()
	f.status = resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		f.err = fmt.Errorf("%w: HTTP status %s", ErrBlobFetch, resp.Status)
		return f
	}
	f.mimeType = resp.Header.Get("Content-Type")
	if f.mimeType == "" {
		f.mimeType = guessMIMEType(rawURL)
	}
	if resp.ContentLength >= 0 {
		f.size = resp.ContentLength
		if resp.ContentLength > maxBytes {
			f.tooLarge = true
			f.err = fmt.Errorf("%w: Content-Length %d is over %d", ErrBlobTooLarge, resp.ContentLength, maxBytes)
			return f
		}
	}
	h := sha256.New()
	var n int64
	body := io.TeeReader(io.LimitReader(resp.Body, maxBytes+1), writerFunc(func(p []byte) (int, error) {
		n += int64(len(p))
		return h.Write(p)
	}))
	info, _ := media.ProbeReader(body) // metadata errors are not fetch errors
	if _, err := io.Copy(io.Discard, body); err != nil {
		f.err = fmt.Errorf("%w: reading body: %v", ErrBlobFetch, err)
		return f
	}
	if n > maxBytes {
		f.size, f.tooLarge = n, true
		f.err = fmt.Errorf("%w: body is over %d bytes", ErrBlobTooLarge, maxBytes)
		return f
	}
	f.cid = rawCID(h.Sum(nil))
	f.size = n
	f.info = info
	return f
}

// rawCID is the raw-codec CIDv1 of the blob whose SHA-256 digest is sum.
func rawCID(sum []byte) cid.Cid {
	mh := append([]byte{multihash.SHA2_256, byte(len(sum))}, sum...)
	return cid.NewCidV1(datamodel.CodecRaw, mh)
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }

// mediaTypes are the extensions guessed first, so that the guess does not
// depend on the system's MIME tables.
var mediaTypes = map[string]string{
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
	".webp": "image/webp", ".avif": "image/avif", ".heic": "image/heic", ".svg": "image/svg+xml",
	".mp4": "video/mp4", ".m4v": "video/x-m4v", ".mov": "video/quicktime", ".webm": "video/webm",
	".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".ogg": "audio/ogg", ".wav": "audio/x-wav",
	".json": "application/json", ".pdf": "application/pdf", ".txt": "text/plain", ".html": "text/html",
}

// guessMIMEType guesses a MIME type from the extension of the URL's path,
// else returns application/octet-stream.
func guessMIMEType(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "application/octet-stream"
	}
	ext := strings.ToLower(path.Ext(u.Path))
	if t, ok := mediaTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); ext != "" && t != "" {
		return t
	}
	return "application/octet-stream"
}
