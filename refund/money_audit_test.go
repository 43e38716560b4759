package refund_test

import (
	"testing"

	"github.com/refundd/refundd/refund"
)

// A full refund of a split order that was partly voided or charged back
// must take from the vendors no more than it returns: the vendors' shares
// of it add up to its amount.
func TestFullRefundOfASplitOrderAfterAVoid(t *testing.T) {
	for _, kind := range []string{refund.AdjustmentVoid, refund.AdjustmentChargeback} {
		t.Run(kind, func(t *testing.T) {
			h := newHarness(t, &instantProcessor{}, nil)
			o, err := h.svc.CreateOrder(h.ctx, h.p, refund.OrderInput{Currency: "KWD", Amount: 1000, PaymentMethod: "card",
				Vendors: []refund.VendorInput{{ID: "a", Amount: 600}, {ID: "b", Amount: 400}}})
			if err != nil {
				t.Fatal(err)
			}
			adjust := h.svc.VoidOrder
			if kind == refund.AdjustmentChargeback {
				adjust = h.svc.ChargebackOrder
			}
			if _, _, err := adjust(h.ctx, h.p, o.ID, refund.AdjustmentInput{Amount: 300}); err != nil {
				t.Fatal(err)
			}
			r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID})
			if err != nil {
				t.Fatal(err)
			}
			var shares int64
			for _, v := range r.Vendors {
				shares += v.Amount
			}
			if r.Amount != 700 || shares != r.Amount {
				t.Fatalf("full refund after a %s of 300: amount %d, vendor shares %+v add up to %d", kind, r.Amount, r.Vendors, shares)
			}
			got, err := h.svc.GetOrder(h.ctx, h.p, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			var vendors int64
			for _, v := range got.Vendors {
				vendors += v.RefundedAmount + v.PendingAmount
			}
			if vendors != got.RefundedAmount+got.PendingRefundAmount {
				t.Fatalf("vendors hold %d refunded, the order %d", vendors, got.RefundedAmount+got.PendingRefundAmount)
			}
		})
	}
}
