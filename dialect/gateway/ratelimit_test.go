package gateway_test

import (
	"net/http"
	"testing"

	"github.com/refundd/refundd/internal/dialecttest"
	"github.com/refundd/refundd/server"
)

// TestRefund_RateLimited: past the key's rate (--rate-limit), the caller
// is told 429 with Retry-After, in the seed's {"message"} shape, not a
// 500 "Server Error" logged as an internal error; nothing is refunded.
func TestRefund_RateLimited(t *testing.T) {
	t.Parallel()
	// Start spends one of the burst authenticating its merchant.
	s := dialecttest.Start(t, func(c *server.Config) { c.RateLimit, c.RateBurst = 0.001, 2 })
	o := s.Order(sarOrder("ORD-RATE", "4444"))
	if r := s.Do("POST", refundPath("ORD-RATE"), s.Key, `{"amount":1000}`); r.Status != 200 {
		t.Fatalf("first request: %d %s", r.Status, r.Raw)
	}
	before := s.Snap(o.ID)
	r := s.Do("POST", refundPath("ORD-RATE"), s.Key, `{"amount":1000}`)
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || r.Str("message") == "" {
		t.Fatalf("want 429 with Retry-After and a message, got %d %v %s", r.Status, r.Header, r.Raw)
	}
	if after := s.Snap(o.ID); after != before {
		t.Fatalf("a refused request changed the order: %+v, was %+v", after, before)
	}
}
