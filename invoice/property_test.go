package invoice_test

import (
	"encoding/xml"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/invoice"
	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/refund"
)

// checked is what one document's UBL says, read back from the XML.
type checked struct {
	TypeCode  string `xml:"InvoiceTypeCode"`
	TaxTotals []struct {
		Tax  string `xml:"TaxAmount"`
		Subs []struct {
			Taxable string `xml:"TaxableAmount"`
			Tax     string `xml:"TaxAmount"`
		} `xml:"TaxSubtotal"`
	} `xml:"TaxTotal"`
	LineExt   string `xml:"LegalMonetaryTotal>LineExtensionAmount"`
	Exclusive string `xml:"LegalMonetaryTotal>TaxExclusiveAmount"`
	Inclusive string `xml:"LegalMonetaryTotal>TaxInclusiveAmount"`
	Rounding  string `xml:"LegalMonetaryTotal>PayableRoundingAmount"`
	Payable   string `xml:"LegalMonetaryTotal>PayableAmount"`
	Lines     []struct {
		Qty     string `xml:"InvoicedQuantity"`
		Net     string `xml:"LineExtensionAmount"`
		Tax     string `xml:"TaxTotal>TaxAmount"`
		WithTax string `xml:"TaxTotal>RoundingAmount"`
		Percent string `xml:"Item>ClassifiedTaxCategory>Percent"`
		Price   string `xml:"Price>PriceAmount"`
		Base    string `xml:"Price>BaseQuantity"`
	} `xml:"InvoiceLine"`
}

// TestProperty_EveryDocumentAddsUp issues random tax invoices (lines of
// several quantities and rates, untaxed lines, shipping) in currencies of
// 0, 2 and 3 decimals, refunds each in random steps (line units, parts of
// lines, amounts spread over the invoice, some reversed and taken back by a
// debit note) until nothing is left, and checks every document as ZATCA
// reads it, from its XML:
//
//   - per line: quantity x price = net (with BaseQuantity when needed),
//     net + VAT = the line amount with VAT; on a tax invoice VAT = Tax(net)
//     exactly, on a credit within one minor unit of it;
//   - the document: line nets sum to LineExtension = TaxExclusive,
//     category subtotals sum to the VAT total, TaxInclusive = exclusive +
//     VAT, Payable = inclusive + rounding = what was paid or returned;
//   - across the notes: no line is ever credited beyond what it invoiced,
//     net or VAT, and once all is refunded the credits add up to exactly
//     the invoice, line by line.
//
// REFUNDD_PROPERTY_ORDERS=N runs more orders (default 400).
func TestProperty_EveryDocumentAddsUp(t *testing.T) {
	orders := 400
	if n, err := strconv.Atoi(os.Getenv("REFUNDD_PROPERTY_ORDERS")); err == nil && n > 0 {
		orders = n
	}
	currencies := []string{"SAR", "KWD", "JPY"}
	rates := []string{"15", "5", "0", "15", "15"}
	rng := rand.New(rand.NewPCG(20261203, 1))
	var docs, lines, credits, debits int
	for n := range orders {
		cur := currencies[n%len(currencies)]
		var items []refund.Item
		var sum int64
		for i := range 1 + rng.IntN(5) {
			qty, unit := int64(1+rng.IntN(6)), int64(1+rng.IntN(500_000))
			if rng.IntN(4) == 0 {
				unit = int64(1 + rng.IntN(20)) // tiny amounts: rounding at its worst
			}
			items = append(items, line(strconv.Itoa(i), qty, unit, rates[rng.IntN(len(rates))], rng.IntN(6) != 0))
			sum += qty * unit
		}
		amount := sum
		if rng.IntN(3) == 0 {
			amount += int64(rng.IntN(100_000)) // shipping
		}
		o := order(cur, amount, items...)
		parent := sale(t, o)
		checkDocument(t, parent, amount)
		docs++
		lines += len(parent.Lines)

		var notes []*refund.Invoice
		left := amount
		for step := 0; left > 0 && step < 40; step++ {
			r := &refund.Refund{ID: fmt.Sprintf("re_%d_%d", n, step), Reason: "r"}
			if rng.IntN(2) == 0 {
				// Units or part of one line.
				pl := parent.Lines[rng.IntN(len(parent.Lines))]
				rest := pl.NetAmount - creditedOf(notes, pl.ID)
				if rest <= 0 {
					continue
				}
				a := 1 + rng.Int64N(rest)
				qty := int64(0)
				if unit := pl.UnitAmount; rest >= unit && rng.IntN(2) == 0 {
					qty = 1 + rng.Int64N(rest/unit)
					a = qty * unit
				}
				r.Items = []refund.RefundItem{{ItemID: pl.ItemID, Qty: qty, Amount: a}}
				r.Amount = a
			} else {
				r.Amount = 1 + rng.Int64N(left)
				if rng.IntN(4) == 0 {
					r.Amount = left
				}
			}
			inv, err := invoice.New(nil).Refund(crediting(parent, notes...), r, seller)
			if err != nil {
				t.Fatal(err)
			}
			number(inv, parent, refund.InvoiceRefund, len(notes))
			checkDocument(t, inv, r.Amount)
			notes = append(notes, inv)
			credits++
			left -= inv.TotalAmount
			if rng.IntN(10) == 0 {
				// The processor reverses it: a debit note gives it back.
				d, err := invoice.New(nil).Debit(inv, seller)
				if err != nil {
					t.Fatal(err)
				}
				number(d, inv, refund.InvoiceDebit, len(notes))
				checkDocument(t, d, inv.TotalAmount)
				notes = append(notes, d)
				debits++
				left += d.TotalAmount
			}
			checkNeverBeyond(t, parent, notes)
		}
		// What is left, in one amount: the credits then add up exactly.
		if left > 0 {
			inv, err := invoice.New(nil).Refund(crediting(parent, notes...), &refund.Refund{ID: "last", Amount: left}, seller)
			if err != nil {
				t.Fatal(err)
			}
			number(inv, parent, refund.InvoiceRefund, len(notes))
			checkDocument(t, inv, left)
			notes = append(notes, inv)
			credits++
		}
		checkAllCredited(t, parent, notes)
	}
	docs += credits + debits
	t.Logf("%d documents (%d tax invoices with %d lines, %d credit notes, %d debit notes) in %d currencies (%s), all consistent",
		docs, orders, lines, credits, debits, len(currencies), strings.Join(currencies, ", "))
}

// number makes inv a stored document of its type, child of parent.
func number(inv, parent *refund.Invoice, typ refund.InvoiceType, n int) {
	inv.ID, inv.MerchantID, inv.Type, inv.Status = int64(100+n), parent.MerchantID, typ, refund.InvoicePaid
	inv.Serial, inv.Number, inv.ParentID, inv.ParentSerial = fmt.Sprintf("INV-2026%05d", 100+n), int64(100+n), parent.ID, parent.Serial
	inv.IssuedAt = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
}

// creditedOf is what notes credited of a line, less what debit notes gave
// back.
func creditedOf(notes []*refund.Invoice, lineID int64) int64 {
	var c int64
	for _, n := range notes {
		for _, l := range n.Lines {
			if l.ParentLineID == lineID {
				if n.Type == refund.InvoiceDebit {
					c -= l.NetAmount
				} else {
					c += l.NetAmount
				}
			}
		}
	}
	return c
}

type lineSums struct{ net, excl, vat int64 }

func sums(parent *refund.Invoice, notes []*refund.Invoice) (map[int64]lineSums, lineSums) {
	out := map[int64]lineSums{}
	var ship lineSums
	for _, n := range notes {
		sign := int64(1)
		if n.Type == refund.InvoiceDebit {
			sign = -1
		}
		for _, l := range n.Lines {
			s := out[l.ParentLineID]
			out[l.ParentLineID] = lineSums{s.net + sign*l.NetAmount, s.excl + sign*l.TotalExcludingTax, s.vat + sign*l.TaxAmount}
		}
		ship = lineSums{ship.net + sign*n.ShippingAmount, ship.excl + sign*n.ShippingExcludingTax, ship.vat + sign*n.ShippingTaxAmount}
	}
	return out, ship
}

func checkNeverBeyond(t *testing.T, parent *refund.Invoice, notes []*refund.Invoice) {
	t.Helper()
	got, ship := sums(parent, notes)
	for _, pl := range parent.Lines {
		s := got[pl.ID]
		if s.net > pl.NetAmount || s.excl > pl.TotalExcludingTax || s.vat > pl.TaxAmount || s.net < 0 || s.excl < 0 || s.vat < 0 {
			t.Fatalf("line %d credited %+v of %d = %d + %d", pl.ID, s, pl.NetAmount, pl.TotalExcludingTax, pl.TaxAmount)
		}
	}
	if ship.net > parent.ShippingAmount || ship.excl > parent.ShippingExcludingTax || ship.vat > parent.ShippingTaxAmount {
		t.Fatalf("shipping credited %+v of %d", ship, parent.ShippingAmount)
	}
}

func checkAllCredited(t *testing.T, parent *refund.Invoice, notes []*refund.Invoice) {
	t.Helper()
	got, ship := sums(parent, notes)
	for _, pl := range parent.Lines {
		if s := got[pl.ID]; s != (lineSums{pl.NetAmount, pl.TotalExcludingTax, pl.TaxAmount}) {
			t.Fatalf("fully refunded line %d: credits %+v, invoiced %d = %d + %d", pl.ID, s, pl.NetAmount, pl.TotalExcludingTax, pl.TaxAmount)
		}
	}
	if ship != (lineSums{parent.ShippingAmount, parent.ShippingExcludingTax, parent.ShippingTaxAmount}) {
		t.Fatalf("fully refunded shipping: credits %+v, invoiced %d = %d + %d", ship, parent.ShippingAmount, parent.ShippingExcludingTax, parent.ShippingTaxAmount)
	}
}

// checkDocument reads inv's XML back and checks it as ZATCA would; paid is
// what the document must come to.
func checkDocument(t *testing.T, inv *refund.Invoice, paid int64) {
	t.Helper()
	cur, err := money.LookupCurrency(inv.Currency)
	if err != nil {
		t.Fatal(err)
	}
	b, err := invoice.XML(inv)
	if err != nil {
		t.Fatal(err)
	}
	var d checked
	if err := xml.Unmarshal(b, &d); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s %s (%s): %s\n%s", inv.Type, inv.Serial, inv.Currency, fmt.Sprintf(format, args...), b)
	}
	m := func(s string) int64 {
		t.Helper()
		if s == "" {
			return 0
		}
		sign := int64(1)
		if rest, ok := strings.CutPrefix(s, "-"); ok {
			s, sign = rest, -1 // a rounding amount may be negative
		}
		v, err := money.ParseDecimal(s, cur)
		v *= sign
		if err != nil {
			fail("amount %q: %v", s, err)
		}
		return v
	}
	var ext, vat int64
	for i, l := range d.Lines {
		net, tax, qty := m(l.Net), m(l.Tax), mustInt(t, l.Qty)
		base := int64(1)
		if l.Base != "" {
			base = mustInt(t, l.Base)
		}
		if m(l.Price)*qty != net*base {
			fail("line %d: %d x %s / %d is not %s", i+1, qty, l.Price, base, l.Net)
		}
		if m(l.WithTax) != net+tax {
			fail("line %d: amount with VAT %s is not %s + %s", i+1, l.WithTax, l.Net, l.Tax)
		}
		rate, err := money.ParseRate(l.Percent)
		if err != nil {
			fail("line %d: percent %q", i+1, l.Percent)
		}
		want := money.Tax(net, rate)
		if inv.Type == refund.InvoiceSale && tax != want || tax-want > 1 || want-tax > 1 {
			fail("line %d: VAT %s, ZATCA's net x rate is %s", i+1, l.Tax, money.Format(want, cur))
		}
		ext += net
		vat += tax
	}
	var subs int64
	for _, s := range d.TaxTotals[1].Subs {
		subs += m(s.Tax)
	}
	excl, incl, rounding, payable := m(d.Exclusive), m(d.Inclusive), m(d.Rounding), m(d.Payable)
	switch {
	case m(d.LineExt) != ext || excl != ext:
		fail("line nets %d, LineExtension %s, TaxExclusive %s", ext, d.LineExt, d.Exclusive)
	case m(d.TaxTotals[0].Tax) != vat || m(d.TaxTotals[1].Tax) != vat || subs != vat:
		fail("line VAT %d, tax totals %+v", vat, d.TaxTotals)
	case incl != excl+vat:
		fail("TaxInclusive %s is not %s + VAT", d.Inclusive, d.Exclusive)
	case payable != incl+rounding || payable != paid || payable != inv.TotalAmount:
		fail("Payable %s = %s + rounding %s, want %d", d.Payable, d.Inclusive, d.Rounding, paid)
	case rounding < -int64(len(d.Lines)) || rounding > int64(len(d.Lines)):
		fail("rounding %s is more than a unit per line", d.Rounding)
	}
	qr := tlv(t, mustQR(t, inv))
	if qr[invoice.TagTotal] != d.Inclusive || qr[invoice.TagVAT] != money.Format(vat, cur) {
		fail("QR total %s VAT %s", qr[invoice.TagTotal], qr[invoice.TagVAT])
	}
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("quantity %q", s)
	}
	return n
}
