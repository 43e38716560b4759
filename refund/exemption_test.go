package refund_test

import (
	"context"
	"strings"
	"testing"

	"github.com/refundd/refundd/invoice"
	"github.com/refundd/refundd/refund"
)

// TestInvoice_ExemptionReasonsKept: the documents of an order with a
// zero-rated and an untaxed line state each one's exemption reason code
// and text, and read back from the store as they were sealed (the XML
// served hashes to the sealed hash), the tax invoice and its credit note.
func TestInvoice_ExemptionReasonsKept(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		svc, p := invoicing(t, open)
		untaxed := false
		o, err := svc.CreateOrder(ctx, p, refund.OrderInput{Currency: "SAR", Amount: 4033, Items: []refund.ItemInput{
			{ID: "a", Qty: 1, UnitAmount: 1033}, {ID: "b", Qty: 1, UnitAmount: 1000, TaxRate: "0"},
			{ID: "c", Qty: 1, UnitAmount: 2000, Taxable: &untaxed}}})
		if err != nil {
			t.Fatal(err)
		}
		r, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Items: []refund.RefundItemInput{{ItemID: "b", Qty: 1}, {ItemID: "c", Qty: 1}}})
		if err != nil || r.Status != refund.StatusSucceeded {
			t.Fatalf("refund %v, %v", r, err)
		}
		note := invoiceOfRefund(t, svc, p, r.ID)
		for _, inv := range []*refund.Invoice{note.Parent, note.Invoice} {
			x, err := invoice.XML(inv)
			if err != nil {
				t.Fatal(err)
			}
			h, err := invoice.HashXML(x)
			if err != nil || h != inv.Hash || inv.ZATCAStatus != refund.ZATCAReported {
				t.Fatalf("%s %s: served XML hashes to %s (%v), sealed %s; zatca %s %s", inv.Type, inv.Serial, h, err, inv.Hash, inv.ZATCAStatus, inv.InvoiceError)
			}
			for _, want := range []string{"<cbc:TaxExemptionReason>Export of goods</cbc:TaxExemptionReason>",
				"<cbc:TaxExemptionReason>Not subject to VAT</cbc:TaxExemptionReason>"} {
				if !strings.Contains(string(x), want) {
					t.Fatalf("%s %s lacks %s:\n%s", inv.Type, inv.Serial, want, x)
				}
			}
		}
	})
}
