package safehttp

import (
	"net/netip"
	"testing"
)

// TestReason is internal so that it can check the reason given for each
// address, not only the verdict of IsPublic.
func TestReason(t *testing.T) {
	tests := []struct {
		addr string
		want string // "" for public
	}{
		// IPv4, public.
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"93.184.215.14", ""},
		{"100.63.255.255", ""}, // just below CGNAT
		{"100.128.0.0", ""},    // just above CGNAT
		{"172.15.255.255", ""},
		{"172.32.0.0", ""},
		{"169.253.255.255", ""},
		{"169.255.0.0", ""},
		{"223.255.255.255", ""},
		{"192.0.1.255", ""},
		// IPv4, refused.
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "this network"},
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"10.0.0.0", "private"},
		{"10.255.255.255", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"169.254.0.0", "link-local"},
		{"169.254.169.254", "link-local"},
		{"100.64.0.0", "shared address space (CGNAT)"},
		{"100.127.255.255", "shared address space (CGNAT)"},
		{"192.0.0.8", "IETF protocol assignment"},
		{"192.0.2.1", "documentation"},
		{"198.51.100.7", "documentation"},
		{"203.0.113.255", "documentation"},
		{"192.88.99.1", "6to4 relay anycast"},
		{"198.18.0.1", "benchmarking"},
		{"198.19.255.255", "benchmarking"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"240.0.0.1", "reserved"},
		{"255.255.255.254", "reserved"},
		{"255.255.255.255", "broadcast"},
		// IPv6, public.
		{"2606:4700:4700::1111", ""},
		{"2001:4860:4860::8888", ""},
		{"2a00:1450:4001:82b::200e", ""},
		{"2001:200::1", ""}, // just above 2001::/23
		// IPv6, refused.
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"febf:ffff::1", "link-local"},
		{"fc00::1", "private"},
		{"fd12:3456:789a::1", "private"},
		{"ff02::1", "multicast"},
		{"ff05::2", "multicast"},
		{"fec0::1", "not global unicast"}, // deprecated site-local
		{"100::1", "not global unicast"},  // discard prefix
		{"::127.0.0.1", "not global unicast"},
		{"::8.8.8.8", "not global unicast"}, // IPv4-compatible, deprecated
		{"64:ff9b:1::1", "not global unicast"},
		{"2001::1", "IETF protocol assignment"}, // Teredo
		{"2001:1ff:ffff::1", "IETF protocol assignment"},
		{"2001:db8::1", "documentation"},
		{"3fff::1", "documentation"},
		// IPv4-mapped IPv6: judged as the IPv4 address.
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:10.1.2.3", "private"},
		{"::ffff:169.254.169.254", "link-local"},
		{"::ffff:0.0.0.0", "unspecified"},
		{"::ffff:100.64.0.0", "shared address space (CGNAT)"},
		{"::ffff:8.8.8.8", ""},
		// NAT64 and 6to4: judged by the embedded IPv4 address.
		{"64:ff9b::808:808", ""},
		{"64:ff9b::7f00:1", "embeds 127.0.0.1, loopback"},
		{"64:ff9b::a9fe:a9fe", "embeds 169.254.169.254, link-local"},
		{"2002:808:808::1", ""},
		{"2002:7f00:1::1", "embeds 127.0.0.1, loopback"},
		{"2002:c0a8:101::", "embeds 192.168.1.1, private"},
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		if got := reason(a); got != tt.want {
			t.Errorf("reason(%s) = %q, want %q", tt.addr, got, tt.want)
		}
		if got, want := IsPublic(a), tt.want == ""; got != want {
			t.Errorf("IsPublic(%s) = %v, want %v", tt.addr, got, want)
		}
	}
	if IsPublic(netip.Addr{}) {
		t.Errorf("IsPublic(netip.Addr{}) = true, want false")
	}
	if got := reason(netip.Addr{}); got != "invalid" {
		t.Errorf("reason(netip.Addr{}) = %q, want %q", got, "invalid")
	}
}
