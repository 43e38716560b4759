package refund_test

import (
	"strings"
	"testing"

	"github.com/refundd/refundd/processor/sandbox"
	"github.com/refundd/refundd/refund"
)

// TestNotification_OtherAmountNoteInTheCurrency: a notification naming
// another amount than its refund's is ignored, and its note states the
// refund's amount in the currency's decimals (10.330 KWD), as every other
// note does, never as minor units beside the code ("10330 KWD" reads as
// ten thousand dinars).
func TestNotification_OtherAmountNoteInTheCurrency(t *testing.T) {
	h := newHarness(t, sandbox.New(sandbox.Config{}), nil)
	o := h.order(50_000)
	r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](10_330)})
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.svc.ApplyNotification(h.ctx, refund.Notification{ID: "msg_1", Type: refund.NotifyRefundSucceeded,
		RefundID: r.ID, Amount: 10_331, Currency: "KWD"})
	if err != nil || out.Applied {
		t.Fatalf("ApplyNotification: %+v, %v; want it ignored", out, err)
	}
	if !strings.HasSuffix(out.Note, "the refund's 10.330 KWD") {
		t.Fatalf("note %q, want the refund's amount as 10.330 KWD", out.Note)
	}
}
