package invoice_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/refundd/refundd/invoice"
	"github.com/refundd/refundd/refund"
)

// issuedDocuments are documents as the stores hold them once issued by an
// earlier refundd: every field set by hand (not by Sale, Refund or Debit,
// whose output changes as rendering does), with none of what later
// releases keep beside them (no seller address or CRN, no line exemption
// code). A tax invoice with standard, zero-rated and untaxed lines and
// shipping, its credit note, and a debit note issued before its billing
// serial was kept.
func issuedDocuments() []*refund.Invoice {
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	s := refund.Seller{Name: "Souq Al Waha Trading", VATNumber: "310122393500003"}
	sale := &refund.Invoice{ID: 1, MerchantID: "mer_1", OrderID: "ord_1", Serial: "INV-202600001", Number: 1,
		Type: refund.InvoiceSale, Status: refund.InvoicePaid, Currency: "SAR", Seller: s, Customer: refund.Customer{Name: "Noura"},
		PaymentMethod: "mada", IssuedAt: at, ICV: 1, PreviousHash: refund.InitialInvoiceHash,
		Lines: []refund.InvoiceLine{
			{ID: 10, ItemID: "a", SKU: "DAT-500", NameEN: "Dates", Qty: 2, UnitAmount: 1033, Amount: 2066, NetAmount: 2066,
				TotalExcludingTax: 1796, TaxAmount: 269, TaxRate: "15", Taxable: true},
			{ID: 11, ItemID: "b", NameEN: "Export box", Qty: 1, UnitAmount: 1000, Amount: 1000, NetAmount: 1000,
				TotalExcludingTax: 1000, TaxAmount: 0, TaxRate: "0", Taxable: true},
			{ID: 12, ItemID: "c", NameEN: "Gift card", Qty: 1, UnitAmount: 2000, Amount: 2000, NetAmount: 2000,
				TotalExcludingTax: 2000, TaxAmount: 0, TaxRate: "0", Taxable: false},
		},
		SubTotalAmount: 5066, ShippingAmount: 1000, ShippingExcludingTax: 869, ShippingTaxAmount: 130,
		NetAmount: 6066, TotalExcludingTax: 5665, TaxAmount: 399, TotalAmount: 6066, TaxRate: "15",
		Hash: "c2FsZQ==", Signature: "c2ln", PublicKey: "a2V5"}
	cn := &refund.Invoice{ID: 2, MerchantID: "mer_1", OrderID: "ord_1", RefundID: "re_1", ParentID: 1, ParentSerial: sale.Serial,
		BillingSerial: sale.Serial, Serial: "INV-202600002", Number: 2, Type: refund.InvoiceRefund, Status: refund.InvoicePaid,
		Currency: "SAR", Reason: "damaged box", Seller: s, Customer: sale.Customer, PaymentMethod: "mada",
		IssuedAt: at.Add(time.Hour), ICV: 2, PreviousHash: sale.Hash,
		Lines: []refund.InvoiceLine{
			{ID: 20, ItemID: "a", ParentLineID: 10, NameEN: "Dates", Qty: 1, UnitAmount: 1033, Amount: 1033, NetAmount: 1033,
				TotalExcludingTax: 898, TaxAmount: 135, TaxRate: "15", Taxable: true},
			{ID: 21, ItemID: "b", ParentLineID: 11, NameEN: "Export box", Qty: 1, UnitAmount: 1000, Amount: 1000, NetAmount: 1000,
				TotalExcludingTax: 1000, TaxRate: "0", Taxable: true},
			{ID: 22, ItemID: "c", ParentLineID: 12, NameEN: "Gift card", Qty: 1, UnitAmount: 2000, Amount: 2000, NetAmount: 2000,
				TotalExcludingTax: 2000, TaxRate: "0", Taxable: false},
		},
		SubTotalAmount: 4033, NetAmount: 4033, TotalExcludingTax: 3898, TaxAmount: 135, TotalAmount: 4033, TaxRate: "15",
		Hash: "Y24=", Signature: "c2ln", PublicKey: "a2V5"}
	dn := &refund.Invoice{ID: 3, MerchantID: "mer_1", OrderID: "ord_1", RefundID: "re_1", ParentID: 2, ParentSerial: cn.Serial,
		Serial: "INV-202600003", Number: 3, Type: refund.InvoiceDebit, Status: refund.InvoicePaid, Currency: "SAR",
		Reason: "refund reversed by the processor", Seller: s, Customer: sale.Customer, PaymentMethod: "mada",
		IssuedAt: at.Add(2 * time.Hour), ICV: 3, PreviousHash: cn.Hash, Lines: cn.Lines,
		SubTotalAmount: 4033, NetAmount: 4033, TotalExcludingTax: 3898, TaxAmount: 135, TotalAmount: 4033, TaxRate: "15",
		Hash: "ZG4=", Signature: "c2ln", PublicKey: "a2V5"}
	return []*refund.Invoice{sale, cn, dn}
}

// TestXML_IssuedDocumentsUnchanged: a document refundd issued is never
// changed; its XML is rendered again from what the store keeps of it, so
// rendering must give an issued document the bytes it was sealed with
// (its hash, and every later document's PIH, depend on them). The digests
// are of the XML these documents rendered to when they were issued; what
// rendering adds for new documents (the seller's address and CRN,
// exemption reasons) must leave them as they are.
func TestXML_IssuedDocumentsUnchanged(t *testing.T) {
	want := map[string]string{
		"INV-202600001": "d9435137d7ec8c9aa665365928baab6c74bd66cc83cd1506c906c477487b7dab",
		"INV-202600002": "5fb63972abe8b8c0abe5632c17c57eef083248e5b1a46ed29f2702be3f7fcca9",
		"INV-202600003": "4053c8e7cf75f293ee8d234b78b4b8bd5aed397afd3fe242b4e6e46d304159c0",
	}
	for _, inv := range issuedDocuments() {
		b, err := invoice.XML(inv)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != want[inv.Serial] {
			t.Errorf("%s renders to %s, issued as %s:\n%s", inv.Serial, got, want[inv.Serial], b)
		}
	}
}
