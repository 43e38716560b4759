package invoice_test

import (
	"testing"
	"time"

	"github.com/refundd/refundd/invoice"
	"github.com/refundd/refundd/refund"
)

// TestCredit_AsAnAmountOnlyRefund: a void's or chargeback's credit note
// (Credit: an amount, no refund) is spread over the lines and shipping,
// and split into net and VAT, exactly as a refund that names no lines is:
// the same lines, amounts, splits and totals, from wherever earlier notes
// left the invoice, and never beyond what it has left.
func TestCredit_AsAnAmountOnlyRefund(t *testing.T) {
	parent := sale(t, order("SAR", 5500, line("a", 2, 1033, "15", true), line("b", 1, 2934, "5", true))) // 5.00 shipping
	earlier := credit(t, parent, "a", refund.RefundItem{ItemID: "a", Qty: 1, Amount: 1033})
	tests := []struct {
		name    string
		earlier []*refund.Invoice
		amount  int64
	}{
		{"OneUnit", nil, 1},
		{"Part", nil, 1000},
		{"Remainders", nil, 7},
		{"Everything", nil, 5500},
		{"AfterALineCredit", []*refund.Invoice{earlier}, 2000},
		{"AllThatIsLeft", []*refund.Invoice{earlier}, 5500 - 1033},
		{"MoreThanIsLeft", []*refund.Invoice{earlier}, 5500}, // the rest is not placed
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := crediting(parent, tc.earlier...)
			got, err := invoice.New(nil).Credit(p, tc.amount, "chargeback: fraud", seller)
			if err != nil {
				t.Fatal(err)
			}
			want, err := invoice.New(nil).Refund(p, &refund.Refund{ID: "re_x", Amount: tc.amount}, seller)
			if err != nil {
				t.Fatal(err)
			}
			if got.Reason != "chargeback: fraud" || totalsOf(got) != totalsOf(want) || got.ShippingAmount != want.ShippingAmount ||
				got.ShippingExcludingTax != want.ShippingExcludingTax || got.ShippingTaxAmount != want.ShippingTaxAmount ||
				len(got.Lines) != len(want.Lines) {
				t.Fatalf("credit %+v (reason %q), an amount-only refund's %+v", totalsOf(got), got.Reason, totalsOf(want))
			}
			for i, l := range got.Lines {
				w := want.Lines[i]
				if l.ParentLineID != w.ParentLineID || l.NetAmount != w.NetAmount || l.TotalExcludingTax != w.TotalExcludingTax || l.TaxAmount != w.TaxAmount {
					t.Fatalf("line %d: %+v, an amount-only refund's %+v", i, l, w)
				}
			}
			left := p.TotalAmount - p.CreditedShipping
			for _, l := range p.Lines {
				left -= l.Credited
			}
			if got.TotalAmount != min(tc.amount, left) {
				t.Fatalf("credited %d of %d with %d left", got.TotalAmount, tc.amount, left)
			}
		})
	}
}

// TestXML_AdjustmentNote: a void's or chargeback's credit note is a credit
// note (381) naming its tax invoice, its reason (void or chargeback) the
// note and the payment instruction note (KSA-10), as a refund's is.
func TestXML_AdjustmentNote(t *testing.T) {
	parent := sale(t, order("SAR", 2066, line("a", 2, 1033, "15", true)))
	for _, reason := range []string{"void", "chargeback: fraud"} {
		t.Run(reason, func(t *testing.T) {
			inv, err := invoice.New(nil).Credit(parent, 1033, reason, seller)
			if err != nil {
				t.Fatal(err)
			}
			inv.ID, inv.MerchantID, inv.Type, inv.Status, inv.Serial, inv.Number = 2, parent.MerchantID, refund.InvoiceRefund, refund.InvoicePaid, "INV-202600002", 2
			inv.ParentID, inv.ParentSerial, inv.IssuedAt = parent.ID, parent.Serial, parent.IssuedAt.Add(time.Hour)
			doc := parseXML(t, inv)
			if doc.TypeCode.Value != invoice.TypeCodeCreditNote || doc.Billing != parent.Serial || doc.Note != reason ||
				doc.Reason != reason || doc.Payable != "10.33" || len(doc.Lines) != 1 || doc.Lines[0].Net != "8.98" || doc.Lines[0].Tax != "1.35" {
				t.Fatalf("credit note XML: %+v", doc)
			}
		})
	}
}
