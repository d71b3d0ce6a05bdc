// Package safehttp provides the HTTP client atlite uses for URLs it did not
// choose: remote blob URLs, did:web hosts and handle hosts. Such a URL can
// name, or redirect to, a service that only this host can reach (a
// database on loopback, an admin page on the private network, the cloud
// metadata service at 169.254.169.254): server-side request forgery.
//
// # Policy
//
// [NewClient] returns an *http.Client whose dialer checks the IP address of
// every connection just before making it, after DNS resolution, through a
// [net.Dialer] Control function. By default only addresses that
// [IsPublic] accepts pass; others fail with an error wrapping
// [ErrForbiddenAddress] that names the address and the reason. Because the
// check sees the address actually connected to, it covers redirects (each
// one dials again), host names resolving to private addresses ("localhost"),
// and DNS rebinding (a name answering a public address to a first lookup
// and a private one to the next).
//
// [Options.AllowPrivate] turns the check off, and [Options.Allow] replaces
// the policy with a predicate; tests use them to reach exactly the
// loopback servers they start. [CheckURL] applies the default policy to a
// URL whose host is an IP literal without connecting, so that callers can
// refuse it before recording anything.
//
// # Limits
//
// Only http and https URLs are fetched, redirects included
// ([ErrForbiddenScheme]); at most [DefaultMaxRedirects] redirects are
// followed ([ErrTooManyRedirects]); a request is bounded by
// [DefaultTimeout], connecting by [DialTimeout] and a TLS handshake by
// [TLSHandshakeTimeout]. Response sizes are left to callers.
//
// # Caveats
//
// The clients ignore proxy environment variables: through a proxy the
// address check would judge the proxy, and the proxy would resolve the
// target. The policy is about addresses, not names: a public address is
// accepted whatever name led to it. Clients are safe for concurrent use.
package safehttp
