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

// TestXML_OrderLineExemptionCode: an order line that says why it is not
// taxed (refund.Item.ExemptionCode) gets that code, its text and its
// category (E for an exempt code) on the tax invoice, on the credit note
// that corrects it and on a debit note of that credit note, each code in a
// VAT breakdown of its own; a line without one keeps the code it has
// always had (VATEX-SA-32, VATEX-SA-OOS).
func TestXML_OrderLineExemptionCode(t *testing.T) {
	block := func(cat, code, text string) string {
		return `TaxCategory><cbc:ID>` + cat + `</cbc:ID><cbc:Percent>0.00</cbc:Percent>` +
			`<cbc:TaxExemptionReasonCode>` + code + `</cbc:TaxExemptionReasonCode>` +
			`<cbc:TaxExemptionReason>` + text + `</cbc:TaxExemptionReason>`
	}
	want := []string{
		block("Z", "VATEX-SA-35", "Medicines and medical equipment"),
		block("E", "VATEX-SA-29", "Financial services mentioned in Article 29 of the VAT Regulations"),
		block("Z", "VATEX-SA-32", "Export of goods"),
		block("O", "VATEX-SA-OOS", "Not subject to VAT"),
	}
	med, fin := line("med", 1, 1000, "0", true), line("fin", 1, 500, "0", false)
	med.ExemptionCode, fin.ExemptionCode = "VATEX-SA-35", "VATEX-SA-29"
	parent := sale(t, order("SAR", 5533, line("a", 1, 1033, "15", true), med, fin, line("box", 1, 1000, "0", true), line("gift", 1, 2000, "0", false)))
	cn := credit(t, parent, "all", refund.RefundItem{ItemID: "med", Qty: 1, Amount: 1000}, refund.RefundItem{ItemID: "fin", Qty: 1, Amount: 500},
		refund.RefundItem{ItemID: "box", Qty: 1, Amount: 1000}, refund.RefundItem{ItemID: "gift", Qty: 1, Amount: 2000})
	dn, err := invoice.New(nil).Debit(cn, seller)
	if err != nil {
		t.Fatal(err)
	}
	dn.ID, dn.Type, dn.Serial = 3, refund.InvoiceDebit, "INV-202600003"
	squeeze := regexp.MustCompile(`>\s+<`)
	for _, inv := range []*refund.Invoice{parent, cn, dn} {
		t.Run(string(inv.Type), func(t *testing.T) {
			b, err := invoice.XML(inv)
			if err != nil {
				t.Fatal(err)
			}
			x := squeeze.ReplaceAllString(string(b), "><")
			for _, w := range want {
				// Once in its line (ClassifiedTaxCategory), once in its
				// VAT breakdown (TaxCategory).
				if n := strings.Count(x, w); n != 2 {
					t.Fatalf("%s is in the XML %d times, want 2 (line and breakdown):\n%s", w, n, b)
				}
			}
		})
	}
}
