package did

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/atlite-dev/atlite/syntax"
)

// TestHandleHTTPSRefusesLoopback checks the well-known handle lookup with
// the Resolver's default client. It is internal because no valid handle
// with an allowed top-level domain names loopback without a real DNS
// answer: handleHTTPS is called with host names that the public path
// would refuse earlier.
func TestHandleHTTPSRefusesLoopback(t *testing.T) {
	r, err := NewResolver(&ResolverOptions{PLCURL: "https://plc.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []syntax.Handle{"localhost", "127.0.0.1", "[::1]"} {
		d, err := r.handleHTTPS(context.Background(), h)
		if d != "" || !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("handleHTTPS(%s) = %q, %v; want ErrForbiddenAddress", h, d, err)
			continue
		}
		if !strings.HasSuffix(err.Error(), ":443 (loopback)") {
			t.Errorf("handleHTTPS(%s) error = %q, want it to end with %q", h, err, ":443 (loopback)")
		}
	}
}
