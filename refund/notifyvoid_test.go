package refund_test

import (
	"testing"

	"github.com/refundd/refundd/refund"
)

// The processor notifies a void of 50.00 SAR on a 100.00 order of which
// refunds already returned 80.00: the void does not fit what is left, and
// the notification was refused (amount_exceeds_refundable, a 422), which
// the sender retries and at last gives up on: a void the processor says it
// made was nowhere in refundd, and nobody was told. A void asked for
// through the API is still refused; one the processor reports is its
// word: it is recorded, unapplied (the order's amounts stay as they were:
// which part of it to count is a person's call), listed as a
// void_not_applied discrepancy with the refund.discrepancy event, and
// answered as received, so that the sender stops. A redelivery changes
// nothing more.
func TestNotifications_VoidThatDoesNotFitIsKept(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, nil)
		o := sarOrder(t, h, 10_000)
		r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](8_000)})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, r, refund.StatusSucceeded)
		if _, _, err := h.svc.VoidOrder(h.ctx, h.p, o.ID, refund.AdjustmentInput{Amount: 5_000}); refund.ErrorCode(err) != refund.EAmountExceedsRefundable {
			t.Fatalf("a void asked for that does not fit: %v, want %s", err, refund.EAmountExceedsRefundable)
		}
		n := refund.Notification{ID: "msg_1", Type: refund.NotifyOrderVoided, OrderID: o.ID, Amount: 5_000, ProcessorReference: "VD-1"}
		var objects []string
		for i := range 2 { // delivered twice
			out, err := h.svc.ApplyNotification(h.ctx, n)
			if err != nil {
				t.Fatalf("delivery %d: %v; want it kept and answered", i+1, err)
			}
			if out.Applied || out.Object == "" || out.Note == "" {
				t.Fatalf("delivery %d: %+v; want not applied, naming the void kept and why", i+1, out)
			}
			objects = append(objects, out.Object)
		}
		if objects[0] != objects[1] {
			t.Errorf("the redelivery was kept as %s, the first delivery as %s; want one void", objects[1], objects[0])
		}
		got := h.getOrder(o.ID)
		if got.VoidedAmount != 0 || got.RefundedAmount != 8_000 || got.Refundable() != 2_000 {
			t.Errorf("order voided %d, refunded %d, refundable %d; want 0, 8000, 2000 (nothing applied)",
				got.VoidedAmount, got.RefundedAmount, got.Refundable())
		}
		adj, err := h.svc.ListOrderAdjustments(h.ctx, h.p, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(adj.Data) != 1 || adj.Data[0].ID != objects[0] || adj.Data[0].Kind != refund.AdjustmentVoid ||
			adj.Data[0].Amount != 5_000 || adj.Data[0].Applied != 0 || adj.Data[0].ProcessorReference != "VD-1" {
			t.Errorf("the order's adjustments: %+v; want the void of 5000, none of it applied", adj.Data)
		}
		ds, err := h.svc.ListDiscrepancies(h.ctx, h.p, refund.DiscrepancyFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds.Data) != 1 || ds.Data[0].Kind != "void_not_applied" || ds.Data[0].OrderID != o.ID ||
			ds.Data[0].Amount != 5_000 || ds.Data[0].Currency != "SAR" || ds.Data[0].Reference != objects[0] {
			t.Fatalf("discrepancies: %+v; want one void_not_applied of 5000 SAR about the void", ds.Data)
		}
		evs, err := h.svc.ListEvents(h.ctx, h.p, refund.EventFilter{Type: refund.EventRefundDiscrepancy})
		if err != nil || len(evs.Data) != 1 {
			t.Fatalf("%d refund.discrepancy events (%v), want 1", len(evs.Data), err)
		}
		// A void that fits is applied as ever.
		n = refund.Notification{ID: "msg_2", Type: refund.NotifyOrderVoided, OrderID: o.ID, Amount: 2_000, ProcessorReference: "VD-2"}
		if out, err := h.svc.ApplyNotification(h.ctx, n); err != nil || !out.Applied {
			t.Fatalf("a void that fits: %+v, %v", out, err)
		}
		if got := h.getOrder(o.ID); got.VoidedAmount != 2_000 || got.Refundable() != 0 {
			t.Errorf("order voided %d, refundable %d after a void of 2000 that fits; want 2000 and 0", got.VoidedAmount, got.Refundable())
		}
	})
}
