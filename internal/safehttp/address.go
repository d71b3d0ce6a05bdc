package safehttp

import "net/netip"

// special4 are the IPv4 ranges refused besides those that netip classifies
// (loopback, RFC 1918, link-local, multicast, unspecified), from the IANA
// special-purpose address registry. Order matters: the first match names
// the reason.
var special4 = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this network"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (CGNAT)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("192.88.99.0/24"), "6to4 relay anycast"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("255.255.255.255/32"), "broadcast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
}

// special6 are the IPv6 ranges inside global unicast (2000::/3) that are
// refused anyway.
var special6 = []struct {
	prefix netip.Prefix
	why    string
}{
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("2001::/23"), "IETF protocol assignment"}, // Teredo, benchmarking, ORCHID
	{netip.MustParsePrefix("3fff::/20"), "documentation"},
}

var (
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
	nat64          = netip.MustParsePrefix("64:ff9b::/96") // the last 32 bits are an IPv4 address
	sixToFour      = netip.MustParsePrefix("2002::/16")    // bits 16 to 47 are an IPv4 address
)

// IsPublic reports whether addr is a public unicast address, the only kind
// a client with the default policy connects to. An IPv4-mapped IPv6 address
// (::ffff:a.b.c.d) is unmapped first, and the IPv4 address embedded in a
// NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address is judged in its place.
// Not public are the invalid zero Addr and:
//
//   - unspecified (0.0.0.0, ::) and loopback (127.0.0.0/8, ::1) addresses;
//   - private ones (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7);
//   - link-local ones (169.254.0.0/16, cloud metadata 169.254.169.254
//     included, fe80::/10) and all multicast (224.0.0.0/4, ff00::/8);
//   - the IPv4 special-purpose ranges: 0.0.0.0/8, CGNAT 100.64.0.0/10,
//     192.0.0.0/24, the documentation ranges, 192.88.99.0/24,
//     198.18.0.0/15, 240.0.0.0/4 and the broadcast address;
//   - IPv6 outside global unicast 2000::/3 (IPv4-compatible ::/96,
//     site-local fec0::/10, discard 100::/64, ...), and inside it
//     2001::/23 (Teredo included) and the documentation ranges
//     2001:db8::/32 and 3fff::/20.
func IsPublic(addr netip.Addr) bool { return reason(addr) == "" }

// reason returns why addr is not public, or "" if it is.
func reason(addr netip.Addr) string {
	if !addr.IsValid() {
		return "invalid"
	}
	a := addr.WithZone("").Unmap()
	switch {
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate():
		return "private"
	case a.IsLinkLocalUnicast():
		return "link-local"
	case a.IsMulticast():
		return "multicast"
	}
	if a.Is4() {
		for _, s := range special4 {
			if s.prefix.Contains(a) {
				return s.why
			}
		}
		return ""
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		return embedded(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(a):
		return embedded(netip.AddrFrom4([4]byte(b[2:6])))
	case !globalUnicast6.Contains(a):
		return "not global unicast"
	}
	for _, s := range special6 {
		if s.prefix.Contains(a) {
			return s.why
		}
	}
	return ""
}

// embedded judges the IPv4 address v4 carried by an IPv6 address.
func embedded(v4 netip.Addr) string {
	if r := reason(v4); r != "" {
		return "embeds " + v4.String() + ", " + r
	}
	return ""
}
