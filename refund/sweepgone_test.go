package refund_test

import (
	"testing"
	"time"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/refund"
)

// A succeeded refund whose processor account the operator removed
// afterwards (allowed: its refunds are all final): its status sweeps had
// nobody to ask, each look failed as "no route", and a failed look is
// made again RetryMax later without counting, so the worker claimed it,
// read its missing route and logged an error every 10 minutes for ever.
// The account is gone for good (orders name it by id, which no new
// account gets), so the refund's sweeps end at the first look that finds
// it gone; a refund of an account that still exists, and one of the
// node's own processor, keep theirs.
func TestSweep_RemovedProcessorAccount(t *testing.T) {
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) {
			conn := &instantProcessor{}
			h := newHarnessOn(t, k.open, &instantProcessor{}, func(c *refund.Config) {
				c.Sealer = plainSealer{}
				c.Connect = func(processor.Account) (processor.Processor, error) { return conn, nil }
				c.SweepAges = []time.Duration{time.Hour, 24 * time.Hour}
				c.RetryMax = 10 * time.Minute
			})
			for _, name := range []string{"gone", "kept"} {
				if _, err := h.svc.AddProcessorAccount(h.ctx, h.p.MerchantID, refund.ProcessorAccountInput{Name: name, Kind: "acquirer",
					URL: "https://" + name + ".example.com", Credential: "tok"}); err != nil {
					t.Fatal(err)
				}
			}
			refundAt := func(account string) *refund.Refund {
				t.Helper()
				o, err := h.svc.CreateOrder(h.ctx, h.p, refund.OrderInput{Currency: "SAR", Amount: 10000, PaymentMethod: "card",
					Processor: account, ProcessorOrderID: "pay_" + account})
				if err != nil {
					t.Fatal(err)
				}
				r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](4000)})
				if err != nil {
					t.Fatal(err)
				}
				wantStatus(t, r, refund.StatusSucceeded)
				return r
			}
			gone, kept, own := refundAt("gone"), refundAt("kept"), refundAt("")
			if _, err := h.svc.RemoveProcessorAccount(h.ctx, h.p.MerchantID, "gone"); err != nil {
				t.Fatal(err)
			}

			h.clk.Advance(61 * time.Minute)
			if n, err := h.svc.ProcessDue(h.ctx, 10, 1); n != 3 || err != nil {
				t.Fatalf("the first sweeps claimed %d refunds (%v), want 3", n, err)
			}
			if got := h.refund(gone.ID); got.SweepsLeft != 0 || got.Status != refund.StatusSucceeded {
				t.Errorf("refund of the removed account: %s with %d sweeps left, want succeeded with none", got.Status, got.SweepsLeft)
			}
			for _, r := range []*refund.Refund{kept, own} {
				if got := h.refund(r.ID); got.SweepsLeft != 1 {
					t.Errorf("refund %s of an existing processor has %d sweeps left after its first, want 1", r.ID, got.SweepsLeft)
				}
			}
			// A day of passes: only the other two refunds' second sweeps.
			claims := 0
			for range 24 * 6 {
				h.clk.Advance(10 * time.Minute)
				n, err := h.svc.ProcessDue(h.ctx, 10, 1)
				if err != nil {
					t.Fatal(err)
				}
				claims += n
			}
			if claims != 2 {
				t.Errorf("a day of worker passes claimed %d refunds, want 2 (the last sweeps of the refunds whose processor exists)", claims)
			}
			for _, r := range []*refund.Refund{gone, kept, own} {
				if got := h.refund(r.ID); got.SweepsLeft != 0 || got.Status != refund.StatusSucceeded {
					t.Errorf("refund %s: %s with %d sweeps left, want succeeded with none", r.ID, got.Status, got.SweepsLeft)
				}
			}
		})
	}
}
