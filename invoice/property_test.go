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

// TestProperty_NotesAfterVoidsStayReportable builds credit notes of random
// tax invoices in SAR, KWD, JPY and BHD while earlier notes are voided
// (their refunds failed or were canceled) and others taken back by debit
// notes, then credits the rest. A void leaves the live notes a unit or two
// from the line's split, and each later note closes what it can of that:
//
//   - no line is ever credited beyond what it invoiced;
//   - every note is one ZATCA takes: each line's VAT within a unit of its
//     net x rate (BR-KSA-50, as Sandbox checks), its rounding within a
//     unit except on a line's last credit, which may carry more so that
//     the notes end at the invoice;
//   - once all is credited the notes add up to the invoice exactly, but
//     for the few lines where that would take a last note whose VAT is
//     two units off its net (a void just before it): those stay a unit
//     or a few apart (under one order in a hundred).
func TestProperty_NotesAfterVoidsStayReportable(t *testing.T) {
	rng := rand.New(rand.NewPCG(20261207, 3))
	currencies := []string{"SAR", "KWD", "JPY", "BHD"}
	const orders = 3000
	apart, unreportable := 0, 0
	for n := range orders {
		cur := currencies[n%len(currencies)]
		var items []refund.Item
		var sum int64
		for i := range 1 + rng.IntN(3) {
			qty, unit := int64(1+rng.IntN(4)), int64(1+rng.IntN(3000))
			if rng.IntN(3) == 0 {
				unit = int64(1 + rng.IntN(30)) // tiny amounts: rounding at its worst
			}
			items = append(items, line(strconv.Itoa(i), qty, unit, []string{"15", "5", "0"}[rng.IntN(3)], rng.IntN(6) != 0))
			sum += qty * unit
		}
		amount := sum + int64(rng.IntN(3))*int64(rng.IntN(300))
		parent := sale(t, order(cur, amount, items...))
		var live []*refund.Invoice
		debited := map[*refund.Invoice]bool{} // neither voided nor debited again
		left := amount
		issue := func(inv *refund.Invoice, err error, step int) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			number(inv, parent, refund.InvoiceRefund, n*100+step)
			if !reportable(t, parent, live, inv) {
				unreportable++
			}
			live = append(live, inv)
			left -= inv.TotalAmount
			checkNeverBeyond(t, parent, live)
		}
		for step := 0; step < 12 && left > 0; step++ {
			switch op := rng.IntN(5); {
			case op <= 2:
				r := &refund.Refund{ID: fmt.Sprint(step), Amount: 1 + rng.Int64N(left)}
				if rng.IntN(2) == 0 {
					pl := parent.Lines[rng.IntN(len(parent.Lines))]
					rest := pl.NetAmount - creditedOf(live, pl.ID)
					if rest <= 0 {
						continue
					}
					r.Amount = 1 + rng.Int64N(rest)
					r.Items = []refund.RefundItem{{ItemID: pl.ItemID, Amount: r.Amount}}
				}
				inv, err := invoice.New(nil).Refund(crediting(parent, live...), r, seller)
				issue(inv, err, step)
			case len(live) > 0:
				i := rng.IntN(len(live))
				if live[i].Type == refund.InvoiceDebit || debited[live[i]] {
					continue
				}
				if op == 3 { // void
					left += live[i].TotalAmount
					live = append(live[:i:i], live[i+1:]...)
					continue
				}
				debited[live[i]] = true
				d, err := invoice.New(nil).Debit(live[i], seller)
				if err != nil {
					t.Fatal(err)
				}
				number(d, live[i], refund.InvoiceDebit, n*100+step+50)
				live = append(live, d)
				left += d.TotalAmount
			}
		}
		if left > 0 {
			inv, err := invoice.New(nil).Refund(crediting(parent, live...), &refund.Refund{ID: "last", Amount: left}, seller)
			issue(inv, err, 99)
		}
		got, ship := sums(parent, live)
		for _, pl := range parent.Lines {
			if s := got[pl.ID]; s.net != pl.NetAmount {
				t.Fatalf("order %d: line %d credited %+v of %d", n, pl.ID, s, pl.NetAmount)
			} else if s != (lineSums{pl.NetAmount, pl.TotalExcludingTax, pl.TaxAmount}) {
				apart++
			}
		}
		if ship != (lineSums{parent.ShippingAmount, parent.ShippingExcludingTax, parent.ShippingTaxAmount}) {
			apart++
		}
	}
	t.Logf("%d orders with voids and debit notes: %d lines a unit apart from the invoice once all was credited, %d notes ZATCA would refuse",
		orders, apart, unreportable)
	if apart > orders/100 || unreportable > 0 {
		t.Fatalf("of %d orders, %d lines do not add up to the invoice and %d notes would be refused", orders, apart, unreportable)
	}
}

// reportable says whether note's lines and shipping are credits ZATCA
// takes (see TestProperty_NotesAfterVoidsStayReportable), logging what is
// not; live are the notes before it.
func reportable(t *testing.T, parent *refund.Invoice, live []*refund.Invoice, note *refund.Invoice) bool {
	t.Helper()
	ok := true
	check := func(what string, amount, excl, vat int64, rate money.Rate, last bool) {
		t.Helper()
		d, r := money.Tax(excl, rate)-vat, amount-excl-vat
		if d < -1 || d > 1 || !last && (r < -1 || r > 1) {
			t.Logf("note %s %s: %d = %d + %d: VAT %d off net x rate, rounding %d", note.Serial, what, amount, excl, vat, d, r)
			ok = false
		}
	}
	for _, l := range note.Lines {
		rate, err := money.ParseRate(l.TaxRate)
		if err != nil {
			t.Fatal(err)
		}
		pl := lineOf(parent, l.ParentLineID)
		check("line", l.NetAmount, l.TotalExcludingTax, l.TaxAmount, rate, creditedOf(live, l.ParentLineID)+l.NetAmount == pl.NetAmount)
	}
	if note.ShippingAmount > 0 {
		var before int64
		for _, n := range live {
			if n.Type == refund.InvoiceDebit {
				before -= n.ShippingAmount
			} else {
				before += n.ShippingAmount
			}
		}
		check("shipping", note.ShippingAmount, note.ShippingExcludingTax, note.ShippingTaxAmount, 1500, before+note.ShippingAmount == parent.ShippingAmount)
	}
	return ok
}

func lineOf(inv *refund.Invoice, id int64) *refund.InvoiceLine {
	for i := range inv.Lines {
		if inv.Lines[i].ID == id {
			return &inv.Lines[i]
		}
	}
	return nil
}
