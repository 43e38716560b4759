package refund_test

import (
	"math"
	"testing"
	"time"

	"github.com/refundd/refundd/processor/sandbox"
	"github.com/refundd/refundd/refund"
)

// TestOverview_AmountsBeyondInt64: refunds of orders of the largest amount,
// two on one day and one the next, add up past an int64 both in the store
// (one day's sum) and across the days (the week's figure). The overview is
// still read, its totals capped at the largest int64, never an error or a
// negative amount.
func TestOverview_AmountsBeyondInt64(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, sandbox.New(sandbox.Config{}), nil)
		refundWhole := func() {
			o := h.order(math.MaxInt64)
			if r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID}); err != nil || r.Status != refund.StatusSucceeded {
				t.Fatalf("refund of %s: %+v, %v", o.ID, r, err)
			}
		}
		refundWhole()
		refundWhole()
		h.clk.Advance(24 * time.Hour)
		refundWhole()
		ov, err := h.svc.Overview(h.ctx, h.p)
		if err != nil {
			t.Fatalf("Overview: %v", err)
		}
		if got := ov.Today.Amounts["KWD"][refund.StatusSucceeded]; got != math.MaxInt64 {
			t.Errorf("today's succeeded KWD = %d, want %d", got, int64(math.MaxInt64))
		}
		if got := ov.Week.Amounts["KWD"][refund.StatusSucceeded]; ov.Week.Count != 3 || got != math.MaxInt64 {
			t.Errorf("the week: %d refunds, succeeded KWD = %d; want 3 and %d", ov.Week.Count, got, int64(math.MaxInt64))
		}
	})
}
