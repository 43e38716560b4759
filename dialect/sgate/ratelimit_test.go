package sgate_test

import (
	"net/http"
	"testing"

	"github.com/refundd/refundd/internal/dialecttest"
	"github.com/refundd/refundd/refund"
	"github.com/refundd/refundd/server"
)

// TestCreate_RateLimited: past the key's rate (--rate-limit), the caller
// is told 429 rate_limited with Retry-After, not a 500 internal error;
// nothing is refunded.
func TestCreate_RateLimited(t *testing.T) {
	t.Parallel()
	// Start spends one of the burst authenticating its merchant.
	s := dialecttest.Start(t, func(c *server.Config) { c.RateLimit, c.RateBurst = 0.001, 2 })
	o := s.Order(refund.OrderInput{Reference: "ORD-RATE", Currency: "SAR", Amount: 10000, PaymentMethod: "card"})
	body := `{"amount":"1.35","reason":"Return shipping fee"}`
	if r := s.Do("POST", "/orders/ORD-RATE/refunds", s.Key, body); r.Status != 200 {
		t.Fatalf("first request: %d %s", r.Status, r.Raw)
	}
	before := s.Snap(o.ID)
	r := s.Do("POST", "/orders/ORD-RATE/refunds", s.Key, body)
	if r.Status != http.StatusTooManyRequests || r.Str("code") != "rate_limited" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("want 429 rate_limited with Retry-After, got %d %v %s", r.Status, r.Header, r.Raw)
	}
	if after := s.Snap(o.ID); after != before {
		t.Fatalf("a refused request changed the order: %+v, was %+v", after, before)
	}
}
