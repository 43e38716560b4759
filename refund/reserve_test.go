package refund_test

import (
	"context"
	"testing"

	"github.com/refundd/refundd/refund"
)

// TestCreateRefund_RefusalsReadAlikeOnEachStore: a refund over what a
// counter has left is refused with the same code, param and words on both
// stores, whether the store answers the reservation at once (SQLite) or
// with the commit (PostgreSQL holds it behind the order's lock), and
// nothing of it stays reserved.
func TestCreateRefund_RefusalsReadAlikeOnEachStore(t *testing.T) {
	ctx := context.Background()
	amount := func(v int64) *int64 { return &v }
	type refusal struct{ code, param, message string }
	tests := []struct {
		name string
		in   refund.RefundInput
		want refusal
	}{
		{"Order", refund.RefundInput{Amount: amount(14001), Vendors: []refund.RefundVendor{{VendorID: "v1", Amount: 8000}, {VendorID: "v2", Amount: 6001}}},
			refusal{refund.EAmountExceedsRefundable, "amount", "refund of 14.001 KWD exceeds the refundable 14.000 KWD"}},
		{"Vendor", refund.RefundInput{Amount: amount(6001), Vendors: []refund.RefundVendor{{VendorID: "v2", Amount: 6001}}},
			refusal{refund.EAmountExceedsRefundable, "vendors[v2]", `refund of 6.001 KWD from vendor "v2" exceeds its refundable 6.000 KWD`}},
		{"Item", refund.RefundInput{Items: []refund.RefundItemInput{{ItemID: "b", Amount: amount(1)}, {ItemID: "a", Qty: 2}},
			Vendors: []refund.RefundVendor{{VendorID: "v1", Amount: 8000}, {VendorID: "v2", Amount: 2001}}},
			refusal{refund.EAmountExceedsRefundable, "items[1]", `item "a" has 1 units and 5.000 KWD left to refund`}},
	}
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, nil)
		o, err := h.svc.CreateOrder(ctx, h.p, refund.OrderInput{Currency: "KWD", Amount: 30000, PaymentMethod: "card",
			Source:  refund.Card{Scheme: "visa", LastDigits: "4444"},
			Items:   []refund.ItemInput{{ID: "a", Qty: 2, UnitAmount: 5000}, {ID: "b", Qty: 4, UnitAmount: 5000}},
			Vendors: []refund.VendorInput{{ID: "v1", Amount: 20000}, {ID: "v2", Amount: 10000}}})
		if err != nil {
			t.Fatal(err)
		}
		// 16.000 refunded: one unit of a; 12.000 of v1 (8.000 left), 4.000
		// of v2 (6.000 left).
		for _, in := range []refund.RefundInput{
			{Items: []refund.RefundItemInput{{ItemID: "a", Qty: 1}}, Vendors: []refund.RefundVendor{{VendorID: "v1", Amount: 5000}}},
			{Amount: amount(11000), Vendors: []refund.RefundVendor{{VendorID: "v1", Amount: 7000}, {VendorID: "v2", Amount: 4000}}},
		} {
			in.OrderID = o.ID
			if r, err := h.svc.CreateRefund(ctx, h.p, in); err != nil || r.Status != refund.StatusSucceeded {
				t.Fatalf("refund %+v: %v, %v", in, r, err)
			}
		}
		before := h.getOrder(o.ID)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				in := tc.in
				in.OrderID = o.ID
				_, err := h.svc.CreateRefund(ctx, h.p, in)
				got := refusal{refund.ErrorCode(err), refund.ErrorParam(err), refund.ErrorMessage(err)}
				if got != tc.want {
					t.Fatalf("refused as %+v, want %+v", got, tc.want)
				}
				after := h.getOrder(o.ID)
				if after.RefundCount != before.RefundCount || after.PendingRefundAmount != 0 ||
					after.RefundedAmount != before.RefundedAmount || after.Vendors[1].PendingAmount != 0 || after.Items[0].PendingQty != 0 {
					t.Fatalf("after the refusal the order is %+v, want it as before", after)
				}
			})
		}
	})
}
