package api

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// TestClientAddr: behind a trusted proxy the client is the nearest
// forwarded address no trusted proxy holds; what the client wrote to the
// left of it is never taken (or any client could choose the address its
// failed sign-ins count against), and without trusted proxies the header
// is ignored.
func TestClientAddr(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("127.0.0.1/32")}
	for _, tc := range []struct {
		name    string
		remote  string
		xff     []string
		proxies []netip.Prefix
		want    string
	}{
		{"NoProxiesIgnoresTheHeader", "198.51.100.7:5000", []string{"203.0.113.9"}, nil, "198.51.100.7"},
		{"UntrustedPeerIgnoresTheHeader", "198.51.100.7:5000", []string{"203.0.113.9"}, proxies, "198.51.100.7"},
		{"OneProxy", "127.0.0.1:5000", []string{"203.0.113.9"}, proxies, "203.0.113.9"},
		{"TwoProxies", "10.0.0.3:5000", []string{"203.0.113.9, 10.0.0.8"}, proxies, "203.0.113.9"},
		{"ClientWroteItsOwn", "127.0.0.1:5000", []string{"1.2.3.4, 203.0.113.9"}, proxies, "203.0.113.9"},
		{"ClientWroteATrustedOne", "127.0.0.1:5000", []string{"10.0.0.9, 203.0.113.9"}, proxies, "203.0.113.9"},
		{"SeveralHeaderLines", "10.0.0.3:5000", []string{"1.2.3.4", "203.0.113.9", "10.0.0.8"}, proxies, "203.0.113.9"},
		{"WithAPort", "127.0.0.1:5000", []string{"203.0.113.9:4711"}, proxies, "203.0.113.9"},
		{"IPv6", "127.0.0.1:5000", []string{"2001:db8::1"}, proxies, "2001:db8::1"},
		{"IPv6WithAPort", "127.0.0.1:5000", []string{"[2001:db8::1]:4711"}, proxies, "2001:db8::1"},
		{"MappedIPv4", "127.0.0.1:5000", []string{"::ffff:203.0.113.9"}, proxies, "203.0.113.9"},
		// Not the last proxy's address: a proxy on the same host would make
		// every such client loopback.
		{"GarbageIsUnknown", "10.0.0.3:5000", []string{"203.0.113.9, not-an-address, 10.0.0.8"}, proxies, UnknownClient},
		{"AProxysUnknown", "127.0.0.1:5000", []string{"unknown"}, proxies, UnknownClient},
		{"BracketsWithoutAPort", "127.0.0.1:5000", []string{"[2001:db8::7]"}, proxies, UnknownClient},
		{"TooManyHops", "127.0.0.1:5000", []string{"203.0.113.9" + strings.Repeat(", 10.0.0.8", maxHops)}, proxies, UnknownClient},
		{"AsManyHopsAsAllowed", "127.0.0.1:5000", []string{"203.0.113.9" + strings.Repeat(", 10.0.0.8", maxHops-1)}, proxies, "203.0.113.9"},
		{"ZonedHopInATrustedRange", "[fe80::1%eth0]:5000", []string{"203.0.113.9, fe80::5%eth0"}, append(proxies, netip.MustParsePrefix("fe80::/10")), "203.0.113.9"},
		{"EmptyHeader", "127.0.0.1:5000", []string{""}, proxies, "127.0.0.1"},
		{"NoHeader", "127.0.0.1:5000", nil, proxies, "127.0.0.1"},
		{"AllTrusted", "127.0.0.1:5000", []string{"10.0.0.5"}, proxies, "10.0.0.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := ClientAddr(r, tc.proxies); got != tc.want {
				t.Fatalf("ClientAddr = %q, want %q", got, tc.want)
			}
		})
	}
}
