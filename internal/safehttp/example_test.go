package safehttp_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"

	"github.com/atlite-dev/atlite/internal/safehttp"
)

// A server on loopback is out of reach of the default client, and reached
// once the policy is opted out of.
func ExampleNewClient() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()

	_, err := safehttp.NewClient(nil).Get(srv.URL)
	fmt.Println(errors.Is(err, safehttp.ErrForbiddenAddress))

	resp, err := safehttp.NewClient(&safehttp.Options{AllowPrivate: true}).Get(srv.URL)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	// Output:
	// true
	// 200
}

func ExampleIsPublic() {
	for _, s := range []string{"93.184.215.14", "127.0.0.1", "10.0.0.1", "169.254.169.254", "100.64.0.1", "::ffff:192.168.0.1", "2606:4700:4700::1111", "fd00::1"} {
		fmt.Println(s, safehttp.IsPublic(netip.MustParseAddr(s)))
	}
	// Output:
	// 93.184.215.14 true
	// 127.0.0.1 false
	// 10.0.0.1 false
	// 169.254.169.254 false
	// 100.64.0.1 false
	// ::ffff:192.168.0.1 false
	// 2606:4700:4700::1111 true
	// fd00::1 false
}
