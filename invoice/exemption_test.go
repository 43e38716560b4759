package invoice_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/refundd/refundd/invoice"
	"github.com/refundd/refundd/refund"
)

// TestXML_ExemptionReasons: a zero-rated (Z) or untaxed (O) line's VAT
// breakdown states its exemption reason code and the text ZATCA's code
// list gives that code (BR-KSA-CL-04, BR-KSA-69, BR-KSA-24, BR-KSA-83),
// on the tax invoice and on the notes that correct it, a debit note of a
// credit note issued without one included; an untaxed line's rate is 0.00
// (ZATCA's BR-KSA-11 replaces EN 16931's BR-O-05 with "0, if present", and
// BR-48 wants a rate in each breakdown).
func TestXML_ExemptionReasons(t *testing.T) {
	const (
		zero = `<cac:TaxCategory>
            <cbc:ID>Z</cbc:ID>
            <cbc:Percent>0.00</cbc:Percent>
            <cbc:TaxExemptionReasonCode>VATEX-SA-32</cbc:TaxExemptionReasonCode>
            <cbc:TaxExemptionReason>Export of goods</cbc:TaxExemptionReason>`
		outside = `<cac:TaxCategory>
            <cbc:ID>O</cbc:ID>
            <cbc:Percent>0.00</cbc:Percent>
            <cbc:TaxExemptionReasonCode>VATEX-SA-OOS</cbc:TaxExemptionReasonCode>
            <cbc:TaxExemptionReason>Not subject to VAT</cbc:TaxExemptionReason>`
	)
	parent := sale(t, order("SAR", 4033, line("a", 1, 1033, "15", true), line("b", 1, 1000, "0", true), line("c", 1, 2000, "15", false)))
	cn := credit(t, parent, "all", refund.RefundItem{ItemID: "b", Qty: 1, Amount: 1000}, refund.RefundItem{ItemID: "c", Qty: 1, Amount: 2000})
	// A credit note issued before lines kept their exemption code.
	old := *cn
	old.Lines = append([]refund.InvoiceLine(nil), cn.Lines...)
	for i := range old.Lines {
		old.Lines[i].ExemptionCode = ""
	}
	dn, err := invoice.New(nil).Debit(&old, seller)
	if err != nil {
		t.Fatal(err)
	}
	dn.ID, dn.Type, dn.Serial = 3, refund.InvoiceDebit, "INV-202600003"
	for _, inv := range []*refund.Invoice{parent, cn, dn} {
		t.Run(string(inv.Type), func(t *testing.T) {
			b, err := invoice.XML(inv)
			if err != nil {
				t.Fatal(err)
			}
			squeeze := regexp.MustCompile(`>\s+<`)
			for _, want := range []string{zero, outside} {
				if !strings.Contains(squeeze.ReplaceAllString(string(b), "><"), squeeze.ReplaceAllString(want, "><")) {
					t.Fatalf("the VAT breakdown lacks\n%s\nin:\n%s", want, b)
				}
			}
		})
	}
}
