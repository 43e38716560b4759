package webhook_test

import (
	"context"
	"testing"

	"github.com/refundd/refundd/webhook"
)

// TestCheckTarget_EmbeddedAndReservedAddresses: an IPv6 address that
// carries a private IPv4 address (NAT64 64:ff9b::/96 and 64:ff9b:1::/48,
// 6to4 2002::/16, IPv4-compatible ::/96) reaches that IPv4 address through
// the network's translator or relay, and the IANA special-purpose IPv4
// blocks are not public receivers. Each is refused like the address it
// stands for, at registration and (the same check) at dial time.
func TestCheckTarget_EmbeddedAndReservedAddresses(t *testing.T) {
	t.Parallel()
	check := webhook.CheckTarget(false)
	for _, tc := range []struct {
		name, url string
		ok        bool
	}{
		{"NAT64Metadata", "http://[64:ff9b::a9fe:a9fe]/latest/meta-data", false},   // 169.254.169.254
		{"NAT64Loopback", "http://[64:ff9b::7f00:1]/x", false},                     // 127.0.0.1
		{"NAT64Private", "http://[64:ff9b::a00:1]/x", false},                       // 10.0.0.1
		{"NAT64LocalPrefix", "http://[64:ff9b:1::a00:1]/x", false},                 // RFC 8215
		{"NAT64LocalPrefix48", "http://[64:ff9b:1:a9fe:a9:fe00:808:808]/x", false}, // 169.254.169.254 at /48's place
		{"IPv4Translated", "http://[::ffff:0:a9fe:a9fe]/x", false},                 // RFC 2765
		{"Teredo", "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/x", false},       // a relay
		{"SixToFourPrivate", "http://[2002:a00:1::1]/x", false},                    // 10.0.0.1
		{"IPv4Compatible", "http://[::a00:1]/x", false},                            // 10.0.0.1
		{"ThisNetwork", "http://0.1.2.3/x", false},                                 // 0.0.0.0/8
		{"Benchmarking", "http://198.18.0.1/x", false},                             // 198.18.0.0/15
		{"Reserved", "http://240.0.0.1/x", false},                                  // 240.0.0.0/4
		{"NAT64Public", "http://[64:ff9b::5db8:d70e]/x", true},                     // 93.184.215.14
		{"Public", "https://93.184.215.14/hooks", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := check(context.Background(), tc.url)
			if (err == nil) != tc.ok {
				t.Errorf("%s: want ok=%v, got err %v", tc.url, tc.ok, err)
			}
		})
	}
}
