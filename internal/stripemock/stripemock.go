// Package stripemock starts stripe-mock (github.com/stripe/stripe-mock), the
// Stripe API simulator, for tests: a test tool .ci/run installs, never a
// dependency of refundd.
//
// It is imported only by tests.
package stripemock

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Start starts stripe-mock (github.com/stripe/stripe-mock, a test tool
// installed by .ci/run) from $STRIPE_MOCK_BIN on a free port. With
// REFUNDD_STRIPE_MOCK=1 a missing binary fails the test; otherwise the
// test skips.
func Start(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("STRIPE_MOCK_BIN")
	if bin == "" {
		if os.Getenv("REFUNDD_STRIPE_MOCK") == "1" {
			t.Fatal("REFUNDD_STRIPE_MOCK=1 but STRIPE_MOCK_BIN is not set")
		}
		t.Skip("stripe-mock not installed: set STRIPE_MOCK_BIN (.ci/run installs it)")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("STRIPE_MOCK_BIN: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-http-addr", fmt.Sprintf("127.0.0.1:%d", port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest("GET", base+"/v1/refunds", nil)
		req.Header.Set("Authorization", "Bearer sk_test_123")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("stripe-mock did not answer within 30s")
		}
		time.Sleep(50 * time.Millisecond) // polling a process starting up
	}
}
