package techrar_test

import (
	"testing"

	"github.com/refundd/refundd/internal/dialecttest"
)

// TestRefund_QuotedNumbersRefused: the seed's id, qty and amount are JSON
// numbers ({"id":0,"qty":0,"amount":0}); a number in a string is the
// wrong type and is refused like "ten", naming the field, changing
// nothing.
func TestRefund_QuotedNumbersRefused(t *testing.T) {
	t.Parallel()
	s := dialecttest.Start(t)
	o := s.Order(seedOrder("ORD-TYPES"))
	tax := taxInvoice(t, s, o.ID)
	tests := []struct{ name, body, field string }{
		{"QtyString", `{"refunded_items":[{"id":1,"qty":"1"}]}`, "refunded_items[0].qty"},
		{"IDString", `{"refunded_items":[{"id":"1","qty":1}]}`, "refunded_items[0].id"},
		{"AmountString", `{"refunded_items":[{"id":1,"qty":0,"amount":"10.33"}]}`, "refunded_items[0].amount"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Snap(o.ID)
			r := post(s, refundPath(tax.ID), tc.body)
			if r.Status != 400 || r.Str("field") != tc.field {
				t.Fatalf("want 400 naming %s, got %d %.200s", tc.field, r.Status, r.Raw)
			}
			if after := s.Snap(o.ID); after != before {
				t.Fatalf("a refused request changed the order: %+v, was %+v", after, before)
			}
		})
	}
}
