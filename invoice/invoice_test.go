package invoice_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/refundd/refundd/invoice"
	"github.com/refundd/refundd/refund"
)

var seller = refund.Seller{Name: "Souq Al Waha Trading", VATNumber: "310122393500003"}

func order(currency string, amount int64, items ...refund.Item) *refund.Order {
	return &refund.Order{ID: "ord_1", MerchantID: "mer_1", Currency: currency, Amount: amount, PaymentMethod: "mada",
		Customer: refund.Customer{Name: "Noura"}, Items: items}
}

func line(id string, qty, unit int64, rate string, taxable bool) refund.Item {
	return refund.Item{ID: id, NameEN: "Item " + id, Qty: qty, UnitAmount: unit, TaxRate: rate, Taxable: taxable, Amount: qty * unit}
}

// sale issues the tax invoice of o as the core would: ids, serial, time.
func sale(t *testing.T, o *refund.Order) *refund.Invoice {
	t.Helper()
	inv, err := invoice.New(nil).Sale(o, seller)
	if err != nil {
		t.Fatal(err)
	}
	inv.ID, inv.MerchantID, inv.Type, inv.Status, inv.Serial, inv.Number = 1, o.MerchantID, refund.InvoiceSale, refund.InvoicePaid, "INV-202600001", 1
	inv.IssuedAt = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for i := range inv.Lines {
		inv.Lines[i].ID = int64(10 + i)
	}
	return inv
}

func credit(t *testing.T, parent *refund.Invoice, reason string, items ...refund.RefundItem) *refund.Invoice {
	t.Helper()
	inv, err := invoice.New(nil).Refund(parent, &refund.Refund{ID: "re_1", Reason: reason, Items: items}, seller)
	if err != nil {
		t.Fatal(err)
	}
	inv.ID, inv.MerchantID, inv.Type, inv.Status, inv.Serial, inv.Number = 2, parent.MerchantID, refund.InvoiceRefund, refund.InvoicePaid, "INV-202600002", 2
	inv.ParentID, inv.ParentSerial, inv.IssuedAt = parent.ID, parent.Serial, parent.IssuedAt.Add(time.Hour)
	return inv
}

// totals is what a test checks of an invoice: net, excl., tax, rate.
type totals struct {
	Net, Excl, Tax int64
	Rate           string
}

func totalsOf(inv *refund.Invoice) totals {
	return totals{inv.TotalAmount, inv.TotalExcludingTax, inv.TaxAmount, inv.TaxRate}
}

func TestSale(t *testing.T) {
	tests := []struct {
		name     string
		o        *refund.Order
		want     totals
		shipping int64
		lines    []totals
	}{
		{"SeedLine", order("SAR", 1033, line("a", 1, 1033, "15", true)), totals{1033, 898, 135, "15"}, 0,
			[]totals{{1033, 898, 135, "15"}}},
		// 20.66 cannot be a net plus its 15% VAT: 17.96 + 2.69 and a
		// rounding of 0.01.
		{"SplitPerLineTotal", order("SAR", 2066, line("a", 2, 1033, "15", true)), totals{2066, 1796, 269, "15"}, 0,
			[]totals{{2066, 1796, 269, "15"}}},
		{"UntaxedLine", order("SAR", 3033, line("a", 1, 1033, "15", true), line("b", 1, 2000, "15", false)),
			totals{3033, 2898, 135, "15"}, 0, []totals{{1033, 898, 135, "15"}, {2000, 2000, 0, "0"}}},
		{"MixedRates", order("SAR", 2000, line("a", 1, 1000, "5", true), line("b", 1, 1000, "15", true)),
			totals{2000, 952 + 869, 48 + 130, "15"}, 0, []totals{{1000, 952, 48, "5"}, {1000, 869, 130, "15"}}},
		{"RestIsShipping", order("SAR", 2033, line("a", 1, 1033, "15", true)), totals{2033, 898 + 869, 135 + 130, "15"}, 1000,
			[]totals{{1033, 898, 135, "15"}}},
		{"KWDThreeDecimals", order("KWD", 1005, line("a", 1, 1005, "15", true)), totals{1005, 874, 131, "15"}, 0,
			[]totals{{1005, 874, 131, "15"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := sale(t, tc.o)
			if got := totalsOf(inv); got != tc.want {
				t.Fatalf("totals = %+v, want %+v", got, tc.want)
			}
			if r := inv.TotalAmount - inv.TotalExcludingTax - inv.TaxAmount; inv.ShippingAmount != tc.shipping || inv.NetAmount != inv.TotalAmount || r < 0 || r > int64(len(inv.Lines))+1 {
				t.Fatalf("shipping %d net %d total %d", inv.ShippingAmount, inv.NetAmount, inv.TotalAmount)
			}
			for i, l := range inv.Lines {
				if got := (totals{l.NetAmount, l.TotalExcludingTax, l.TaxAmount, l.TaxRate}); got != tc.lines[i] {
					t.Fatalf("line %d = %+v, want %+v", i, got, tc.lines[i])
				}
			}
		})
	}
}

func TestRefund(t *testing.T) {
	parent := sale(t, order("SAR", 3099, line("a", 2, 1033, "15", true), line("b", 1, 1033, "0", true)))
	tests := []struct {
		name  string
		items []refund.RefundItem
		want  totals
	}{
		{"OneUnit", []refund.RefundItem{{ItemID: "a", Qty: 1, Amount: 1033}}, totals{1033, 898, 135, "15"}},
		{"PartOfALine", []refund.RefundItem{{ItemID: "a", Amount: 500}}, totals{500, 435, 65, "15"}},
		{"TwoLines", []refund.RefundItem{{ItemID: "a", Qty: 2, Amount: 2066}, {ItemID: "b", Qty: 1, Amount: 1033}},
			totals{3099, 1796 + 1033, 269, "15"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := credit(t, parent, "damaged", tc.items...)
			if got := totalsOf(inv); got != tc.want {
				t.Fatalf("totals = %+v, want %+v", got, tc.want)
			}
			for i, l := range inv.Lines {
				if l.ParentLineID != parent.Lines[i].ID && l.ItemID == parent.Lines[i].ItemID {
					t.Fatalf("line %d links to %d, want %d", i, l.ParentLineID, parent.Lines[i].ID)
				}
			}
			if inv.Reason != "damaged" || inv.ShippingAmount != 0 {
				t.Fatalf("reason %q shipping %d", inv.Reason, inv.ShippingAmount)
			}
		})
	}
	t.Run("UnknownLine", func(t *testing.T) {
		if _, err := invoice.New(nil).Refund(parent, &refund.Refund{Items: []refund.RefundItem{{ItemID: "zz", Qty: 1, Amount: 1}}}, seller); err == nil {
			t.Fatal("a refund of a line the invoice does not have was invoiced")
		}
	})
}

// ublDoc is what the tests read back from the XML.
type ublDoc struct {
	XMLName  xml.Name `xml:"urn:oasis:names:specification:ubl:schema:xsd:Invoice-2 Invoice"`
	ID       string   `xml:"urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2 ID"`
	UUID     string   `xml:"urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2 UUID"`
	TypeCode struct {
		Name  string `xml:"name,attr"`
		Value string `xml:",chardata"`
	} `xml:"urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2 InvoiceTypeCode"`
	IssueDate string `xml:"IssueDate"`
	IssueTime string `xml:"IssueTime"`
	Note      string `xml:"urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2 Note"`
	Billing   string `xml:"BillingReference>InvoiceDocumentReference>ID"`
	VAT       string `xml:"AccountingSupplierParty>Party>PartyTaxScheme>CompanyID"`
	Seller    string `xml:"AccountingSupplierParty>Party>PartyLegalEntity>RegistrationName"`
	Reason    string `xml:"PaymentMeans>InstructionNote"`
	Refs      []struct {
		ID     string `xml:"ID"`
		Object string `xml:"Attachment>EmbeddedDocumentBinaryObject"`
	} `xml:"AdditionalDocumentReference"`
	TaxTotals []struct {
		Tax  string `xml:"TaxAmount"`
		Subs []struct {
			Taxable  string `xml:"TaxableAmount"`
			Category string `xml:"TaxCategory>ID"`
		} `xml:"TaxSubtotal"`
	} `xml:"TaxTotal"`
	Payable   string `xml:"LegalMonetaryTotal>PayableAmount"`
	Rounding  string `xml:"LegalMonetaryTotal>PayableRoundingAmount"`
	Inclusive string `xml:"LegalMonetaryTotal>TaxInclusiveAmount"`
	Lines     []struct {
		Qty      string `xml:"InvoicedQuantity"`
		Net      string `xml:"LineExtensionAmount"`
		Tax      string `xml:"TaxTotal>TaxAmount"`
		Category string `xml:"Item>ClassifiedTaxCategory>ID"`
		Percent  string `xml:"Item>ClassifiedTaxCategory>Percent"`
	} `xml:"InvoiceLine"`
}

func parseXML(t *testing.T, inv *refund.Invoice) ublDoc {
	t.Helper()
	b, err := invoice.XML(inv)
	if err != nil {
		t.Fatal(err)
	}
	var doc ublDoc
	dec := xml.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("not well-formed: %v\n%s", err, b)
	}
	return doc
}

func TestXML(t *testing.T) {
	parent := sale(t, order("SAR", 4066, line("a", 2, 1033, "15", true), line("b", 1, 1000, "15", false)))
	inv := credit(t, parent, "first refund", refund.RefundItem{ItemID: "a", Qty: 1, Amount: 1033})
	t.Run("TaxInvoice", func(t *testing.T) {
		doc := parseXML(t, parent)
		if doc.ID != "INV-202600001" || doc.TypeCode.Value != invoice.TypeCodeTaxInvoice || doc.TypeCode.Name != "0200000" || doc.Billing != "" ||
			doc.Note != "" || doc.VAT != seller.VATNumber || doc.Seller != seller.Name || doc.IssueDate != "2026-03-01" ||
			doc.Payable != "40.66" || doc.UUID != invoice.UUID(parent) {
			t.Fatalf("tax invoice XML: %+v", doc)
		}
		// Lines: 2 x 10.33 at 15% (17.96 + 2.69), 10.00 untaxed, 10.00 of
		// shipping at 15% (8.69 + 1.30); 0.02 that ZATCA's VAT rule cannot
		// place is the rounding, so 36.64 + 0.02 is what was paid.
		if len(doc.Lines) != 3 || doc.Lines[0].Net != "17.96" || doc.Lines[0].Tax != "2.69" || doc.Lines[0].Qty != "2" ||
			doc.Lines[1].Category != "O" || doc.Lines[2].Net != "8.69" || doc.Lines[2].Tax != "1.30" || doc.Lines[2].Category != "S" {
			t.Fatalf("lines: %+v", doc.Lines)
		}
		if doc.Inclusive != "40.64" || doc.Rounding != "0.02" {
			t.Fatalf("totals: inclusive %s, rounding %s", doc.Inclusive, doc.Rounding)
		}
		// Per category: S at 15% (the line and shipping), O (untaxed).
		if subs := doc.TaxTotals[1].Subs; len(doc.TaxTotals) != 2 || doc.TaxTotals[1].Tax != "3.99" || len(subs) != 2 ||
			subs[0].Category != "S" || subs[0].Taxable != "26.65" || subs[1].Category != "O" || subs[1].Taxable != "10.00" {
			t.Fatalf("tax totals: %+v", doc.TaxTotals)
		}
	})
	t.Run("CreditNote", func(t *testing.T) {
		doc := parseXML(t, inv)
		if doc.ID != "INV-202600002" || doc.TypeCode.Value != invoice.TypeCodeCreditNote || doc.Billing != "INV-202600001" ||
			doc.Note != "first refund" || doc.Reason != "first refund" || doc.VAT != seller.VATNumber || doc.Payable != "10.33" {
			t.Fatalf("credit note XML: %+v", doc)
		}
		if len(doc.Lines) != 1 || doc.Lines[0].Net != "8.98" || doc.Lines[0].Tax != "1.35" || doc.Lines[0].Percent != "15.00" {
			t.Fatalf("lines: %+v", doc.Lines)
		}
		qr, _ := invoice.QR(inv)
		if len(doc.Refs) != 2 || doc.Refs[1].ID != "QR" || doc.Refs[1].Object != qr {
			t.Fatalf("the QR payload is not embedded: %+v", doc.Refs)
		}
	})
	t.Run("EscapesText", func(t *testing.T) {
		evil := credit(t, parent, `</cbc:Note><x>&"'`, refund.RefundItem{ItemID: "a", Qty: 1, Amount: 1033})
		if doc := parseXML(t, evil); doc.Note != `</cbc:Note><x>&"'` {
			t.Fatalf("note = %q", doc.Note)
		}
	})
}

// tlv decodes a QR payload back into its records.
func tlv(t *testing.T, payload string) map[byte]string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	out := map[byte]string{}
	for len(b) > 0 {
		if len(b) < 2 || len(b) < 2+int(b[1]) {
			t.Fatalf("truncated TLV record: %x", b)
		}
		out[b[0]], b = string(b[2:2+int(b[1])]), b[2+int(b[1]):]
	}
	return out
}

func TestQR(t *testing.T) {
	parent := sale(t, order("SAR", 1033, line("a", 1, 1033, "15", true)))
	got := tlv(t, mustQR(t, parent))
	want := map[byte]string{invoice.TagSeller: seller.Name, invoice.TagVATNumber: seller.VATNumber,
		invoice.TagTimestamp: "2026-03-01T12:00:00", invoice.TagTotal: "10.33", invoice.TagVAT: "1.35"}
	if len(got) != len(want) {
		t.Fatalf("QR = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("tag %d = %q, want %q", k, got[k], v)
		}
	}
	t.Run("LongArabicNameCutOnACharacter", func(t *testing.T) {
		long := *parent
		long.Seller.Name = strings.Repeat("سوق", 60) // 360 bytes
		name := tlv(t, mustQR(t, &long))[invoice.TagSeller]
		if len(name) > 255 || !utf8.ValidString(name) || !strings.HasPrefix(long.Seller.Name, name) {
			t.Fatalf("name cut to %d bytes, valid %v", len(name), utf8.ValidString(name))
		}
	})
}

// TestQR_TimestampIsTheIssueDateAndTime: ZATCA checks the QR's time
// (tag 3) against the document's IssueDate and IssueTime (KSA-25) and
// warns invoiceTimeStamp_QRCODE_INVALID when they differ. The XML states
// Saudi time, so the QR must state that same wall-clock time, also across
// midnight and the new year, for every kind of document.
func TestQR_TimestampIsTheIssueDateAndTime(t *testing.T) {
	tests := []struct {
		name   string
		issued time.Time
		want   string
	}{
		{"Morning", time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), "2026-03-01T12:00:00"},
		{"AfterSaudiMidnight", time.Date(2026, 3, 1, 22, 15, 7, 0, time.UTC), "2026-03-02T01:15:07"},
		{"NewYearInRiyadhOnly", time.Date(2026, 12, 31, 21, 30, 0, 0, time.UTC), "2027-01-01T00:30:00"},
		{"GivenInAnotherZone", time.Date(2026, 6, 1, 8, 0, 0, 0, time.FixedZone("GST", 4*3600)), "2026-06-01T07:00:00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := sale(t, order("SAR", 2066, line("a", 2, 1033, "15", true)))
			parent.IssuedAt = tc.issued
			note := credit(t, parent, "damaged", refund.RefundItem{ItemID: "a", Qty: 1, Amount: 1033})
			note.IssuedAt = tc.issued
			for _, inv := range []*refund.Invoice{parent, note} {
				doc := parseXML(t, inv)
				got := tlv(t, mustQR(t, inv))[invoice.TagTimestamp]
				if xmlTime := doc.IssueDate + "T" + doc.IssueTime; got != tc.want || got != xmlTime {
					t.Fatalf("%s: QR time %q, XML issue date and time %q, want both %q", inv.Type, got, xmlTime, tc.want)
				}
			}
		})
	}
}

func mustQR(t *testing.T, inv *refund.Invoice) string {
	t.Helper()
	qr, err := invoice.QR(inv)
	if err != nil {
		t.Fatal(err)
	}
	return qr
}

type failingReporter struct{}

func (failingReporter) Report(context.Context, invoice.Document) (invoice.Result, error) {
	return invoice.Result{}, errors.New("connection refused")
}

func TestReport(t *testing.T) {
	reported := sale(t, order("SAR", 1033, line("a", 1, 1033, "15", true)))
	reported.ZATCAStatus = refund.ZATCAReported
	noVAT := *reported
	noVAT.Seller.VATNumber = ""
	child := credit(t, reported, "r", refund.RefundItem{ItemID: "a", Qty: 1, Amount: 1033})
	// VAT two halalas off net x rate, on an item line and on the shipping
	// line (10.00 of shipping: 8.69 + 1.30, stated 8.67 + 1.32): the XML
	// shows both as lines, and ZATCA checks every line (BR-KSA-50).
	shipped := sale(t, order("SAR", 2033, line("a", 1, 1033, "15", true)))
	lineOff, shipOff := *shipped, *shipped
	lineOff.Lines = slices.Clone(shipped.Lines)
	lineOff.Lines[0].TotalExcludingTax, lineOff.Lines[0].TaxAmount = 896, 137
	shipOff.ShippingExcludingTax, shipOff.ShippingTaxAmount = 867, 132
	for _, inv := range []*refund.Invoice{&lineOff, &shipOff} {
		inv.TotalExcludingTax, inv.TaxAmount = inv.Lines[0].TotalExcludingTax+inv.ShippingExcludingTax, inv.Lines[0].TaxAmount+inv.ShippingTaxAmount
	}
	// Documents of a KWD or JPY order state that currency as BT-5 and
	// BT-6, KWD with 3 decimals: ZATCA wants BT-6 SAR
	// (BR-KSA-EN16931-02) and at most 2 decimals (BR-DEC).
	kwd := sale(t, order("KWD", 10330, line("a", 1, 10330, "15", true)))
	kwd.ZATCAStatus = refund.ZATCAReported // as if it were: its note is checked on its own
	kwdNote := credit(t, kwd, "r", refund.RefundItem{ItemID: "a", Qty: 1, Amount: 10330})
	jpy := sale(t, order("JPY", 1033, line("a", 1, 1033, "15", true)))
	// The parent checks (a credit note of an unreported invoice is
	// aborted) are the core's: refund/invoice_test.go.
	tests := []struct {
		name        string
		reporter    invoice.Reporter
		inv, parent *refund.Invoice
		status      refund.ZATCAStatus
		message     string
	}{
		{"TaxInvoiceReported", nil, reported, nil, refund.ZATCAReported, ""},
		{"NoVATNumberRejected", nil, &noVAT, nil, refund.ZATCAFailed, "BR-KSA-39"},
		{"CreditNoteReported", nil, child, reported, refund.ZATCAReported, ""},
		{"ReporterDownStaysPending", failingReporter{}, reported, nil, refund.ZATCAPending, "connection refused"},
		{"LineVATOffRejected", nil, &lineOff, nil, refund.ZATCAFailed, "BR-KSA-50: line 1"},
		{"ShippingVATOffRejected", nil, &shipOff, nil, refund.ZATCAFailed, "BR-KSA-50: line 2"},
		{"ShippedReported", nil, shipped, nil, refund.ZATCAReported, ""},
		{"KWDRejected", nil, kwd, nil, refund.ZATCAFailed, "BR-KSA-EN16931-02: the VAT accounting currency code (BT-6) must be SAR, not KWD"},
		{"KWDThreeDecimalsRejected", nil, kwd, nil, refund.ZATCAFailed, "BR-DEC"},
		{"KWDCreditNoteRejected", nil, kwdNote, kwd, refund.ZATCAFailed, "BR-KSA-EN16931-02"},
		{"JPYRejected", nil, jpy, nil, refund.ZATCAFailed, "BR-KSA-EN16931-02: the VAT accounting currency code (BT-6) must be SAR, not JPY"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, msg := invoice.New(tc.reporter).Report(context.Background(), tc.inv, tc.parent)
			if status != tc.status || !strings.Contains(msg, tc.message) || (tc.message == "" && msg != "") {
				t.Fatalf("Report = %s %q, want %s %q", status, msg, tc.status, tc.message)
			}
		})
	}
}

func TestUUID(t *testing.T) {
	a := sale(t, order("SAR", 1033, line("a", 1, 1033, "15", true)))
	b := *a
	b.Serial = "INV-202600002"
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(invoice.UUID(a)) {
		t.Fatalf("UUID %s is not a version 5 UUID", invoice.UUID(a))
	}
	if invoice.UUID(a) != invoice.UUID(a) || invoice.UUID(a) == invoice.UUID(&b) {
		t.Fatal("the UUID must be stable per invoice and differ between invoices")
	}
}

// TestRefund_OneUnitAtATime is the case that credited 2.70 VAT against
// 2.69: a line of 2 x 10.33 refunded one unit at a time. The second credit
// takes exactly what is left.
func TestRefund_OneUnitAtATime(t *testing.T) {
	parent := sale(t, order("SAR", 2066, line("a", 2, 1033, "15", true)))
	first := credit(t, parent, "one", refund.RefundItem{ItemID: "a", Qty: 1, Amount: 1033})
	second, err := invoice.New(nil).Refund(crediting(parent, first),
		&refund.Refund{ID: "re_2", Items: []refund.RefundItem{{ItemID: "a", Qty: 1, Amount: 1033}}}, seller)
	if err != nil {
		t.Fatal(err)
	}
	if got := totalsOf(first); got != (totals{1033, 898, 135, "15"}) {
		t.Fatalf("first credit %+v", got)
	}
	if got := totalsOf(second); got != (totals{1033, 898, 134, "15"}) {
		t.Fatalf("second credit %+v", got)
	}
	second.ID, second.Type, second.Status, second.ParentID = 3, refund.InvoiceRefund, refund.InvoicePending, parent.ID
	if vat := first.TaxAmount + second.TaxAmount; vat != parent.TaxAmount || vat != 269 {
		t.Fatalf("credited %d VAT against %d invoiced", vat, parent.TaxAmount)
	}
	// Nothing is left: a third credit is empty.
	third, err := invoice.New(nil).Refund(crediting(parent, first, second),
		&refund.Refund{ID: "re_3", Items: []refund.RefundItem{{ItemID: "a", Qty: 1, Amount: 1033}}}, seller)
	if err != nil || len(third.Lines) != 0 || third.TotalAmount != 0 {
		t.Fatalf("third credit %+v, %v", third, err)
	}
}

// TestRefund_AmountOnly: a refund that names no lines is spread over what
// each line and the shipping have left, in proportion, largest fractions
// first; earlier credits shrink a line's share.
func TestRefund_AmountOnly(t *testing.T) {
	parent := sale(t, order("SAR", 4000, line("a", 1, 1000, "15", true), line("b", 2, 1000, "5", true))) // 10.00 shipping
	tests := []struct {
		name    string
		earlier []*refund.Invoice
		amount  int64
		nets    []int64 // per line, then shipping
	}{
		{"Even", nil, 400, []int64{100, 200, 100}},
		{"Remainders", nil, 7, []int64{2, 3, 2}}, // 1.75, 3.5, 1.75: the two units left go to the .75s
		{"Everything", nil, 4000, []int64{1000, 2000, 1000}},
		{"AfterALineCredit", []*refund.Invoice{credit(t, parent, "a", refund.RefundItem{ItemID: "a", Qty: 1, Amount: 1000})},
			3000, []int64{0, 2000, 1000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := invoice.New(nil).Refund(crediting(parent, tc.earlier...), &refund.Refund{ID: "re_x", Amount: tc.amount}, seller)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]int64, 3)
			for _, l := range inv.Lines {
				for i, pl := range parent.Lines {
					if l.ParentLineID == pl.ID {
						got[i] = l.NetAmount
					}
				}
			}
			got[2] = inv.ShippingAmount
			if fmt.Sprint(got) != fmt.Sprint(tc.nets) || inv.TotalAmount != tc.amount {
				t.Fatalf("credited %v (total %d), want %v", got, inv.TotalAmount, tc.nets)
			}
		})
	}
}

// TestDebit: a reversed refund's debit note (383) owes back exactly what
// its credit note credited, and its billing reference (BT-25) names the
// tax invoice both correct, as ZATCA reads BT-25 (the original invoice a
// credit or debit note is related to, BR-KSA-56); its reason (KSA-10)
// names the credit note it takes back.
func TestDebit(t *testing.T) {
	parent := sale(t, order("SAR", 2066, line("a", 2, 1033, "15", true)))
	cn := credit(t, parent, "one", refund.RefundItem{ItemID: "a", Qty: 1, Amount: 1033})
	dn, err := invoice.New(nil).Debit(cn, seller)
	if err != nil {
		t.Fatal(err)
	}
	dn.ID, dn.Type, dn.Status, dn.Serial, dn.ParentID, dn.ParentSerial = 3, refund.InvoiceDebit, refund.InvoicePaid, "INV-202600003", cn.ID, cn.Serial
	dn.IssuedAt = cn.IssuedAt.Add(time.Hour)
	if totalsOf(dn) != totalsOf(cn) || len(dn.Lines) != 1 || dn.Lines[0].ParentLineID != cn.Lines[0].ParentLineID {
		t.Fatalf("debit note %+v for credit note %+v", totalsOf(dn), totalsOf(cn))
	}
	doc := parseXML(t, dn)
	if doc.TypeCode.Value != invoice.TypeCodeDebitNote || doc.Billing != parent.Serial || doc.Payable != "10.33" ||
		!strings.Contains(doc.Reason, cn.Serial) || doc.Note != doc.Reason {
		t.Fatalf("debit note XML: billing reference %q (want the tax invoice %s), reason %q (naming credit note %s): %+v",
			doc.Billing, parent.Serial, doc.Reason, cn.Serial, doc)
	}
	// A credit note issued before BillingSerial was kept names its tax
	// invoice as its parent: its debit note's reference is that.
	older := *cn
	older.BillingSerial = ""
	if d, err := invoice.New(nil).Debit(&older, seller); err != nil || d.BillingSerial != parent.Serial {
		t.Fatalf("debit note of an earlier credit note: billing serial %q, want %q (%v)", d.BillingSerial, parent.Serial, err)
	}
	// A debit note issued before the billing reference was kept (no
	// BillingSerial) keeps the XML it was sealed with: its credit note's
	// serial.
	old := *dn
	old.BillingSerial, old.Reason = "", "refund reversed by the processor"
	if doc := parseXML(t, &old); doc.Billing != cn.Serial || doc.Reason != "refund reversed by the processor" {
		t.Fatalf("an earlier debit note's XML changed: billing reference %q, reason %q", doc.Billing, doc.Reason)
	}
	// After it, the whole line can be credited again.
	again, err := invoice.New(nil).Refund(crediting(parent, cn, dn), &refund.Refund{ID: "re_4", Amount: 2066}, seller)
	if err != nil || again.TotalAmount != 2066 || again.TaxAmount != 269 {
		t.Fatalf("credit after the debit note: %+v, %v", again, err)
	}
}

// TestSeal chains three documents as the core does (counter, previous
// hash), seals them, and checks what a verifier would: the hash recomputed
// from the served XML, the signature against the public key, the QR's
// phase-2 tags; a changed figure breaks the hash.
func TestSeal(t *testing.T) {
	is := invoice.New(nil)
	parent := sale(t, order("SAR", 2066, line("a", 2, 1033, "15", true)))
	cn := credit(t, parent, "one", refund.RefundItem{ItemID: "a", Qty: 1, Amount: 1033})
	dn, err := is.Debit(cn, seller)
	if err != nil {
		t.Fatal(err)
	}
	dn.ID, dn.Type, dn.Status, dn.Serial, dn.ParentID, dn.ParentSerial, dn.IssuedAt = 3, refund.InvoiceDebit, refund.InvoicePaid, "INV-202600003", cn.ID, cn.Serial, cn.IssuedAt
	prev := refund.InitialInvoiceHash
	for i, inv := range []*refund.Invoice{parent, cn, dn} {
		inv.ICV, inv.PreviousHash = int64(i+1), prev
		if err := is.Seal(inv); err != nil {
			t.Fatal(err)
		}
		prev = inv.Hash
		b, err := invoice.XML(inv)
		if err != nil {
			t.Fatal(err)
		}
		if h, err := invoice.HashXML(b); err != nil || h != inv.Hash {
			t.Fatalf("%s: hash of the served XML %s (%v), sealed %s", inv.Serial, h, err, inv.Hash)
		}
		if !strings.Contains(string(b), fmt.Sprintf("<cbc:ID>ICV</cbc:ID>\n    <cbc:UUID>%d</cbc:UUID>", i+1)) || !strings.Contains(string(b), inv.PreviousHash) {
			t.Fatalf("%s: ICV or PIH missing:\n%s", inv.Serial, b)
		}
		raw, _ := base64.StdEncoding.DecodeString(inv.Hash)
		sig, _ := base64.StdEncoding.DecodeString(inv.Signature)
		der, _ := base64.StdEncoding.DecodeString(inv.PublicKey)
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			t.Fatal(err)
		}
		digest := sha256.Sum256(raw)
		if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest[:], sig) {
			t.Fatalf("%s: the signature does not verify", inv.Serial)
		}
		qr := tlv(t, mustQR(t, inv))
		if qr[invoice.TagHash] != inv.Hash || qr[invoice.TagSignature] != inv.Signature || qr[invoice.TagPublicKey] != string(der) {
			t.Fatalf("%s: QR phase-2 tags %q", inv.Serial, qr)
		}
		// A figure changed after sealing: the hash no longer matches.
		tampered := *inv
		tampered.TaxAmount++
		if b, _ := invoice.XML(&tampered); mustHash(t, b) == inv.Hash {
			t.Fatalf("%s: a changed document has the same hash", inv.Serial)
		}
	}
	if parent.PreviousHash != refund.InitialInvoiceHash || cn.PreviousHash != parent.Hash || dn.PreviousHash != cn.Hash {
		t.Fatal("the documents are not chained")
	}
}

func mustHash(t *testing.T, b []byte) string {
	t.Helper()
	h, err := invoice.HashXML(b)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestRefund_NamedLineSpills: a refund naming a line whose room earlier
// amount-only credits used still gets a credit note of all its money, the
// rest spread over the invoice.
func TestRefund_NamedLineSpills(t *testing.T) {
	parent := sale(t, order("SAR", 20000, line("a", 1, 10000, "15", true))) // 100.00 of line, 100.00 of shipping
	first, err := invoice.New(nil).Refund(parent, &refund.Refund{ID: "re_1", Amount: 15000}, seller)
	if err != nil {
		t.Fatal(err)
	}
	first.Type, first.Status, first.ParentID = refund.InvoiceRefund, refund.InvoicePaid, parent.ID
	second, err := invoice.New(nil).Refund(crediting(parent, first),
		&refund.Refund{ID: "re_2", Amount: 5000, Items: []refund.RefundItem{{ItemID: "a", Amount: 5000}}}, seller)
	if err != nil {
		t.Fatal(err)
	}
	if second.TotalAmount != 5000 || first.TotalAmount+second.TotalAmount != parent.TotalAmount {
		t.Fatalf("credit notes %d and %d for refunds of 150.00 and 50.00", first.TotalAmount, second.TotalAmount)
	}
}

// crediting returns a copy of parent whose lines and shipping have
// credited what notes state, as the refund Service keeps it
// (refund.InvoiceLine.Credited and its split): credit notes of parent
// that are not void add, debit notes take back.
func crediting(parent *refund.Invoice, notes ...*refund.Invoice) *refund.Invoice {
	p := *parent
	p.Lines = slices.Clone(parent.Lines)
	for _, n := range notes {
		sign := int64(0)
		switch {
		case n.Status == refund.InvoiceVoid:
		case n.Type == refund.InvoiceRefund && n.ParentID == parent.ID:
			sign = 1
		case n.Type == refund.InvoiceDebit:
			sign = -1
		}
		for _, l := range n.Lines {
			for i := range p.Lines {
				if pl := &p.Lines[i]; pl.ID == l.ParentLineID {
					pl.Credited += sign * l.NetAmount
					pl.CreditedExcludingTax += sign * l.TotalExcludingTax
					pl.CreditedTax += sign * l.TaxAmount
				}
			}
		}
		p.CreditedShipping += sign * n.ShippingAmount
		p.CreditedShippingExcludingTax += sign * n.ShippingExcludingTax
		p.CreditedShippingTax += sign * n.ShippingTaxAmount
	}
	return &p
}
