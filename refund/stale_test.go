package refund_test

import (
	"context"
	"testing"
	"time"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/refund"
)

// hookedProcessor is a lateProcessor that runs onStatus (once) while a
// status call is at the processor: what another caller does meanwhile.
type hookedProcessor struct {
	*lateProcessor
	onStatus func()
}

func (p *hookedProcessor) Status(ctx context.Context, key string) (processor.Result, error) {
	if f := p.onStatus; f != nil {
		p.onStatus = nil
		f()
	}
	return p.lateProcessor.Status(ctx, key)
}

// A person resolved a refund waiting for review as failed while the
// worker's review look was at the processor, which answered that it had
// executed the refund. That answer was dropped because the refund was no
// longer waiting: failed, its money released for another refund, and the
// customer paid. It is evidence like a sync's: the refund is revived, or,
// without room, listed as a discrepancy.
func TestReview_ApprovalAfterAResolveToFailedIsKept(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		proc := &hookedProcessor{lateProcessor: newLateProcessor()}
		h := newHarnessOn(t, open, proc, func(c *refund.Config) { c.ReviewPoll = 30 * time.Minute })
		o := h.order(5000)
		r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID})
		if err != nil {
			t.Fatal(err)
		}
		h.drive(20)
		wantStatus(t, h.refund(r.ID), refund.StatusRequiresReview)
		proc.execute(r.ID)
		proc.onStatus = func() {
			if _, err := h.svc.ResolveRefund(h.ctx, h.p, r.ID, refund.ResolveInput{Outcome: refund.StatusFailed, Note: "acquirer says no"}); err != nil {
				t.Error(err)
			}
		}
		h.drive(31)
		if proc.onStatus != nil {
			t.Fatal("the worker did not look at the refund")
		}
		wantStatus(t, h.refund(r.ID), refund.StatusSucceeded)
		if o := h.getOrder(o.ID); o.RefundedAmount != 5000 || o.PendingRefundAmount != 0 {
			t.Fatalf("order refunded %d pending %d; want the executed 5000 refunded", o.RefundedAmount, o.PendingRefundAmount)
		}
	})
}
