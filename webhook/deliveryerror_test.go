package webhook

import (
	"context"
	"net"
	"strings"
	"syscall"
	"testing"
)

// A failed delivery is explained without the node's own addresses (a DNS
// failure names the node's resolver).
func TestDeliveryErrorLeaksNoAddress(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&net.DNSError{Err: "no such host", Name: "hooks.example.invalid", Server: "10.0.0.53:53", IsNotFound: true}, "does not resolve"},
		{&net.DNSError{Err: "server misbehaving", Name: "hooks.example", Server: "10.0.0.53:53"}, "could not be resolved"},
		{&net.OpError{Op: "dial", Net: "tcp", Source: &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 51234},
			Addr: &net.TCPAddr{IP: net.IPv4(203, 0, 113, 9), Port: 443}, Err: syscall.ECONNREFUSED}, "refused"},
		{context.DeadlineExceeded, "did not answer in time"},
		{ErrPrivateTarget, ErrPrivateTarget.Error()},
	} {
		got := deliveryError(tc.err)
		if !strings.Contains(got, tc.want) || strings.Contains(got, "10.") || strings.Contains(got, ":53") {
			t.Errorf("deliveryError(%v) = %q, want it to say %q and name no address", tc.err, got, tc.want)
		}
	}
}
