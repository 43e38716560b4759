package refund_test

import (
	"math"
	"testing"

	"github.com/refundd/refundd/refund"
)

// A rate limit that is no number of requests per second (NaN, negative)
// is refused when the Service is built: taken as it was, NaN made a
// limiter that never refuses and a negative one none at all, so a typo in
// --rate-limit turned the limit off without a word.
func TestNewService_RefusesBadRateLimit(t *testing.T) {
	h := newHarness(t, newLateProcessor(), nil)
	_, raw, err := h.svc.CreateKey(h.ctx, h.p.MerchantID, "", []string{refund.ScopeOrdersRead})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		rate float64
	}{{"ErrNaN", math.NaN()}, {"ErrNegative", -1}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := refund.Config{Store: h.st, Processor: newLateProcessor(), Now: h.clk.Now,
				NewID: func(p string) string { return p + "_x" }, RateLimit: tc.rate, RateBurst: 1}
			svc, err := refund.NewService(cfg)
			if err == nil {
				n := 0
				for range 100 {
					if _, err := svc.Authenticate(h.ctx, raw); err == nil {
						n++
					}
				}
				t.Fatalf("NewService took RateLimit %v; %d of 100 requests at one instant passed a burst of 1", tc.rate, n)
			}
		})
	}
}
