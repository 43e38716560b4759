// Package invoice builds refundd's tax invoices and refund invoices (credit
// notes) from core data, with Saudi VAT and the e-invoicing (ZATCA) parts:
// UBL 2.1 XML, the simplified-invoice QR payload, and reporting through a
// Reporter (Sandbox is the in-process one).
//
// Issuer implements refund.Invoicer: the refund Service calls it inside the
// transactions that create orders and move refunds and persists what it
// returns. Every amount is int64 minor units; the VAT-inclusive split is
// money.SplitInclusive, applied per line (10.33 at 15% is 8.98 + 1.35), and
// an invoice's totals are the sums of its lines, so they always add up.
//
// Where the seeds are silent:
//   - An untaxed order line (taxable false) is invoiced at 0%, VAT category
//     O (outside the scope of VAT, exemption code VATEX-SA-OOS); a taxed
//     line at 0% is category Z (VATEX-SA-32, export of goods, see
//     exemptionCode), any other rate S, unless the order line gives its
//     own exemption code (refund.Item.ExemptionCode): a Z code on a line
//     at 0%, or an E code (category E, exempt) or VATEX-SA-OOS on an
//     untaxed one. Each code's reason text is ZATCA's.
//   - The part of an order's amount its lines do not cover is invoiced as
//     shipping, taxed at the standard rate (refund.DefaultTaxRate), so the
//     tax invoice always totals what the customer paid.
//   - A refund invoice's line takes back the refunded amount of one order
//     line (VAT-inclusive) at that line's rate; it has no shipping and no
//     discount.
//   - An invoice's tax_percentage is its lines' rate, or the highest one
//     when they differ.
//
// It imports refund and money, no HTTP and no SQL.
package invoice

import (
	"context"
	"crypto/ecdsa"
	"fmt"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/refund"
)

// ErrParentNotReported is the invoice_error of a credit note whose tax
// invoice was never reported, word for word as the Techrar seed shows it.
const ErrParentNotReported = refund.ErrParentNotReported

// Issuer builds invoices and reports them with its Reporter.
type Issuer struct {
	reporter Reporter
	key      *ecdsa.PrivateKey // signs documents (Seal): SandboxKey unless WithKey
}

var _ refund.Invoicer = (*Issuer)(nil)

// New returns an Issuer reporting through r (Sandbox{} when nil).
func New(r Reporter) *Issuer {
	if r == nil {
		r = Sandbox{}
	}
	return &Issuer{reporter: r, key: SandboxKey()}
}

// Sale builds the tax invoice of o: one line per order line, the rest of
// the order amount as shipping, totals summed from the lines. Each line is
// split by money.SplitTaxed: VAT is ZATCA's net x rate, and the unit the
// split cannot place is the line's rounding.
func (is *Issuer) Sale(o *refund.Order, seller refund.Seller) (*refund.Invoice, error) {
	inv := &refund.Invoice{OrderID: o.ID, Currency: o.Currency, Seller: seller, Customer: o.Customer, PaymentMethod: o.PaymentMethod}
	var rates []money.Rate
	for _, it := range o.Items {
		rate := money.Rate(0)
		if it.Taxable {
			var err error
			if rate, err = money.ParseRate(it.TaxRate); err != nil {
				return nil, fmt.Errorf("invoice: order %s line %s: %w", o.ID, it.ID, err)
			}
			rates = append(rates, rate)
		}
		l := refund.InvoiceLine{ItemID: it.ID, SKU: it.SKU, NameEN: it.NameEN, NameAR: it.NameAR, Qty: it.Qty,
			UnitAmount: it.UnitAmount, Amount: it.Amount, NetAmount: it.Amount, TaxRate: rate.String(), Taxable: it.Taxable,
			ExemptionCode: itemExemption(&it, rate)}
		l.TotalExcludingTax, l.TaxAmount, _ = money.SplitTaxed(l.NetAmount, rate)
		inv.Lines = append(inv.Lines, l)
	}
	ship := o.Amount
	for _, l := range inv.Lines {
		ship -= l.NetAmount
	}
	if ship < 0 {
		return nil, fmt.Errorf("invoice: order %s lines add up to more than its amount", o.ID)
	}
	if ship > 0 {
		rate := standardRate()
		inv.ShippingAmount = ship
		inv.ShippingExcludingTax, inv.ShippingTaxAmount, _ = money.SplitTaxed(ship, rate)
		rates = append(rates, rate)
	}
	total(inv)
	inv.TaxRate = highest(rates).String()
	return inv, nil
}

// Refund builds the credit note of r against parent, from what parent's
// lines and shipping have already credited (refund.InvoiceLine.Credited,
// refund.Invoice.CreditedShipping: the credit notes that are not void,
// less the debit notes).
//
// What r returns is placed on the tax invoice's lines: a refund that names
// lines credits those lines (Techrar, native line-item refunds); any other
// (an amount, vendor shares) is spread over what each line and the
// shipping still have to credit, in proportion, the units left over going
// to the largest fractions (earlier lines first on a tie). Then each line's
// credit is split by the line's cumulative position: once c of a line's
// VAT-inclusive amount is credited, the credited net and VAT are
// money.SplitTaxed(c), the same rule as the invoice's (so at the whole
// line, exactly what it invoiced). A credit takes the difference of two
// positions, so the credits of a line always add up to exactly what it
// invoiced, never more, and the last one takes exactly what is left. A
// credit's VAT differs from Tax(its own net) by at most one minor unit,
// and its rounding is -1, 0 or 1 unit. Nothing beyond what the invoice has
// left is credited. A credit ends at the split of its end position less
// what the live notes state (refund.InvoiceLine.CreditedExcludingTax and
// CreditedTax, kept with Credited), so a note voided after later ones were
// built (a refund in flight that failed or was canceled) does not leave
// the line's notes apart from the invoice; where that would take a credit
// ZATCA refuses, it closes what it may (fromStated), and the line's last
// credit may then carry a rounding of more than a unit.
func (is *Issuer) Refund(parent *refund.Invoice, r *refund.Refund, seller refund.Seller) (*refund.Invoice, error) {
	return credit(parent, r.Amount, r.Items, r.Reason, seller)
}

// Credit builds the credit note of amount against parent for what is no
// refund (a void or chargeback of the order): spread over the lines and
// shipping, and split, as Refund does a refund that names no lines.
func (is *Issuer) Credit(parent *refund.Invoice, amount int64, reason string, seller refund.Seller) (*refund.Invoice, error) {
	return credit(parent, amount, nil, reason, seller)
}

// credit builds a credit note of amount against parent, items being the
// lines a refund names (none: all of amount is spread); see Refund.
func credit(parent *refund.Invoice, amount int64, items []refund.RefundItem, reason string, seller refund.Seller) (*refund.Invoice, error) {
	inv := &refund.Invoice{OrderID: parent.OrderID, Currency: parent.Currency, Reason: reason, Seller: seller,
		Customer: parent.Customer, PaymentMethod: parent.PaymentMethod, BillingSerial: parent.Serial}
	done, doneShip := credited(parent)
	var rates []money.Rate
	add := func(pl *refund.InvoiceLine, qty, amount int64) error {
		rate, err := money.ParseRate(pl.TaxRate)
		if err != nil {
			return fmt.Errorf("invoice: tax invoice %s line %d: %w", parent.Serial, pl.ID, err)
		}
		c := done[pl.ID]
		amount = min(amount, pl.NetAmount-c)
		if amount <= 0 {
			return nil
		}
		excl, tax := fromStated(pl.NetAmount, pl.TotalExcludingTax, pl.TaxAmount, rate, c, c+amount, pl.CreditedExcludingTax, pl.CreditedTax)
		inv.Lines = append(inv.Lines, refund.InvoiceLine{ItemID: pl.ItemID, ParentLineID: pl.ID, SKU: pl.SKU, NameEN: pl.NameEN,
			NameAR: pl.NameAR, Qty: qty, UnitAmount: pl.UnitAmount, Amount: amount, NetAmount: amount,
			TotalExcludingTax: excl, TaxAmount: tax, TaxRate: pl.TaxRate, Taxable: pl.Taxable, ExemptionCode: lineExemption(pl, rate)})
		done[pl.ID] = c + amount
		if pl.Taxable {
			rates = append(rates, rate)
		}
		return nil
	}
	spread := amount
	if len(items) > 0 {
		for _, ri := range items {
			pl := lineOf(parent, ri.ItemID)
			if pl == nil {
				return nil, fmt.Errorf("invoice: tax invoice %s has no line for order line %q", parent.Serial, ri.ItemID)
			}
			if err := add(pl, ri.Qty, ri.Amount); err != nil {
				return nil, err
			}
		}
		// What a named line could not take (earlier amount-only credits
		// used its room) is spread over the rest, so the credit note
		// always states all the money the refund returns.
		spread = amount
		for _, l := range inv.Lines {
			spread -= l.NetAmount
		}
	}
	if spread > 0 {
		left := make([]int64, len(parent.Lines)+1) // the lines, then shipping
		for i, pl := range parent.Lines {
			left[i] = pl.NetAmount - done[pl.ID]
		}
		left[len(parent.Lines)] = parent.ShippingAmount - doneShip
		shares := money.Allocate(spread, left)
		for i := range parent.Lines {
			if err := add(&parent.Lines[i], 0, shares[i]); err != nil {
				return nil, err
			}
		}
		if ship := shares[len(parent.Lines)]; ship > 0 {
			rate := standardRate()
			inv.ShippingAmount = ship
			se := shippingExcl(parent)
			sv := parent.ShippingTaxAmount
			if legacyShipping(parent) {
				sv = parent.ShippingAmount - se
			}
			inv.ShippingExcludingTax, inv.ShippingTaxAmount = fromStated(parent.ShippingAmount, se, sv, rate, doneShip, doneShip+ship,
				parent.CreditedShippingExcludingTax, parent.CreditedShippingTax)
			rates = append(rates, rate)
		}
	}
	total(inv)
	inv.TaxRate = highest(rates).String()
	return inv, nil
}

// Debit builds the debit note that takes back credit, a credit note whose
// refund the processor reversed: the same lines and amounts, so the tax
// invoice's lines are owed again exactly as they were credited.
//
// Its billing reference (BT-25) is the tax invoice credit corrects, not
// credit: ZATCA's Data Dictionary reads BT-25 on a credit or debit note
// as the original invoice (its BT-1) the note is related to, and a debit
// note raises what that supply's tax invoice is owed (BR-KSA-56 wants the
// reference on both kinds of note). Its reason (KSA-10, BR-KSA-17) names
// the credit note it takes back.
func (is *Issuer) Debit(credit *refund.Invoice, seller refund.Seller) (*refund.Invoice, error) {
	original := credit.BillingSerial
	if original == "" {
		original = credit.ParentSerial // a credit note issued before BillingSerial: its parent is the tax invoice
	}
	reason := "refund reversed by the processor"
	if credit.Serial != "" {
		reason += ": takes back credit note " + credit.Serial
	}
	inv := &refund.Invoice{OrderID: credit.OrderID, Currency: credit.Currency, Reason: reason, BillingSerial: original,
		Seller: seller, Customer: credit.Customer, PaymentMethod: credit.PaymentMethod, TaxRate: credit.TaxRate,
		ShippingAmount: credit.ShippingAmount, ShippingExcludingTax: credit.ShippingExcludingTax, ShippingTaxAmount: credit.ShippingTaxAmount}
	for _, l := range credit.Lines {
		l.ID = 0
		rate, err := money.ParseRate(l.TaxRate)
		if err != nil {
			return nil, fmt.Errorf("invoice: credit note %s: %w", credit.Serial, err)
		}
		l.ExemptionCode = lineExemption(&l, rate)
		inv.Lines = append(inv.Lines, l)
	}
	total(inv)
	return inv, nil
}

// itemExemption is the exemption code the tax invoice's line of it
// takes: the one its order line gives (refund.Item.ExemptionCode, checked
// against the line's category when the order was recorded), else the one
// every such line gets (exemptionCode).
func itemExemption(it *refund.Item, rate money.Rate) string {
	if it.ExemptionCode != "" && (!it.Taxable || rate == 0) {
		return it.ExemptionCode
	}
	return exemptionCode(it.Taxable, rate)
}

// lineExemption is the exemption code a note's line takes from l, the
// line it corrects: l's own, or, when l was issued before codes were
// kept, the one it would get now (exemptionCode), so every new note
// states its reason text.
func lineExemption(l *refund.InvoiceLine, rate money.Rate) string {
	if l.ExemptionCode != "" {
		return l.ExemptionCode
	}
	return exemptionCode(l.Taxable, rate)
}

// credited is how much of each tax invoice line (by line id), and of its
// shipping, its credit notes have credited, less what debit notes gave
// back: what parent says (refund.InvoiceLine.Credited).
func credited(parent *refund.Invoice) (map[int64]int64, int64) {
	done := make(map[int64]int64, len(parent.Lines))
	for _, l := range parent.Lines {
		done[l.ID] = l.Credited
	}
	return done, parent.CreditedShipping
}

// Position is the part of a line that invoiced total (net excl, VAT vat)
// credited between positions from and to (0 <= from <= to <= total): the
// net and VAT of a credit of to-from. The line's position after c is
// money.SplitTaxed(c), never past the invoiced split, and exactly it at
// total. See Refund.
func Position(total, excl, vat int64, rate money.Rate, from, to int64) (net, tax int64) {
	full := vat // what the invoice stated, whatever rule it was split by then
	at := func(c int64) (int64, int64) {
		if c >= total {
			return excl, full
		}
		e, v, _ := money.SplitTaxed(c, rate)
		// An invoice split by an older rule may have less: never pass it.
		return min(e, excl), min(v, full)
	}
	e1, v1 := at(from)
	e2, v2 := at(to)
	return e2 - e1, v2 - v1
}

// fromStated is the net and VAT of a credit that takes a line of invoiced
// total (net excl, VAT vat) to position to, when its live notes state
// net statedExcl and VAT statedVAT (refund.InvoiceLine.CreditedTax): the
// split at to less what they state, so once more the notes state exactly
// the split at to (the invoice's at the whole line) even after notes
// before them were voided.
//
// That target must still be a credit ZATCA takes (ok): nothing negative,
// VAT within a unit of its net x rate (BR-KSA-50), a rounding of at most
// a unit (any on the line's last credit, which must end the notes at the
// invoice), and the line's notes never past what it invoiced. Voids can
// leave the live notes further from the split than one credit can make
// up; the credit then comes as close to the target as such a credit may,
// from the position's own split, so that the notes after it close the
// rest. VAT counts double in how close: a last credit can take a gap in
// net as rounding, not one in VAT. When no such credit is near (the own
// split would pass what the line invoiced), the credit with the least
// rounding that is otherwise one ZATCA takes: the target itself could
// state VAT two units off its net (BR-KSA-50).
func fromStated(total, excl, vat int64, rate money.Rate, from, to, statedExcl, statedVAT int64) (net, tax int64) {
	e, v := Position(total, excl, vat, rate, 0, to)
	tn, tt := e-statedExcl, v-statedVAT
	last := to == total
	amount := to - from
	ok := func(n, t int64) bool {
		d, r := money.Tax(n, rate)-t, amount-n-t
		return n >= 0 && t >= 0 && d >= -1 && d <= 1 && (last || r >= -1 && r <= 1) &&
			statedExcl+n <= excl && statedVAT+t <= vat
	}
	if ok(tn, tt) {
		return tn, tt
	}
	on, ot := Position(total, excl, vat, rate, from, to)
	// Steps from the own split toward the target, a few units each way:
	// past that, a credit's rounding or VAT would be off anyway.
	const most = 3
	se, st := sign(tn-on), sign(tt-ot)
	far := func(n, t int64) int64 { return abs(tn-n) + 2*abs(tt-t) }
	best := int64(-1)
	for i := int64(0); i <= min(abs(tn-on), most); i++ {
		for j := int64(0); j <= min(abs(tt-ot), most); j++ {
			n, t := on+i*se, ot+j*st
			if d := far(n, t); (best < 0 || d < best) && ok(n, t) {
				net, tax, best = n, t, d
			}
		}
	}
	if best >= 0 {
		return net, tax
	}
	// None on that way (the own split would pass what the line invoiced):
	// the credit with the least rounding past a unit, then nearest the
	// target, among those with each VAT a few units around the target's
	// and the own split's, whose VAT is within a unit of its net x rate
	// and which never pass the line. Taking the target instead would
	// state VAT two units off (a note ZATCA refuses, BR-KSA-50).
	// firstNet is the least net whose VAT is at least x (excl+1: none).
	firstNet := func(x int64) int64 {
		lo, hi := int64(0), max(excl, 0)+1
		for lo < hi {
			if m := lo + (hi-lo)/2; money.Tax(m, rate) >= x {
				hi = m
			} else {
				lo = m + 1
			}
		}
		return lo
	}
	for t := max(min(tt, ot)-most, 0); t <= min(max(tt, ot)+most, vat-statedVAT); t++ {
		lo, hi := max(firstNet(t-1), 0), min(firstNet(t+2)-1, excl-statedExcl)
		if lo > hi {
			continue
		}
		// Within [lo, hi], the net nearest the one that rounds to nothing
		// and, among those within a unit of it, nearest the target's.
		n := min(max(tn, max(lo, amount-t-1)), min(hi, amount-t+1))
		n = min(max(n, lo), hi)
		d := max(abs(amount-n-t)-1, 0)*(abs(tn)+2*abs(tt)+abs(amount)+1) + far(n, t)
		if best < 0 || d < best {
			net, tax, best = n, t, d
		}
	}
	if best >= 0 {
		return net, tax
	}
	if tn >= 0 && tt >= 0 {
		return tn, tt // never past the line
	}
	return on, ot
}

// sign and abs are the sign and magnitude of a difference of amounts.
func sign(x int64) int64 {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// shippingExcl is the net of a tax invoice's shipping, for invoices issued
// before it was stored (split then with money.SplitInclusive).
func shippingExcl(inv *refund.Invoice) int64 {
	if !legacyShipping(inv) {
		return inv.ShippingExcludingTax
	}
	e, _ := money.SplitInclusive(inv.ShippingAmount, standardRate())
	return e
}

// legacyShipping says inv is a tax invoice issued before its shipping's
// split was stored (a credit's split may be 0 + 0 for a tiny amount).
func legacyShipping(inv *refund.Invoice) bool {
	return inv.Type == refund.InvoiceSale && inv.ShippingAmount > 0 && inv.ShippingExcludingTax == 0 && inv.ShippingTaxAmount == 0
}

// total sums an invoice's lines and shipping into its totals.
func total(inv *refund.Invoice) {
	inv.SubTotalAmount, inv.TotalExcludingTax, inv.TaxAmount = 0, inv.ShippingExcludingTax, inv.ShippingTaxAmount
	for _, l := range inv.Lines {
		inv.SubTotalAmount += l.NetAmount
		inv.TotalExcludingTax += l.TotalExcludingTax
		inv.TaxAmount += l.TaxAmount
	}
	inv.NetAmount = inv.SubTotalAmount + inv.ShippingAmount - inv.DiscountAmount
	inv.TotalAmount = inv.NetAmount
}

// Report reports a final document once: reported, failed with the
// reason the authority gave, or pending when it could not be handed over
// (the core's queue tries again). The core checks a credit or debit note's
// parent first.
func (is *Issuer) Report(ctx context.Context, inv, parent *refund.Invoice) (refund.ZATCAStatus, string) {
	doc, err := NewDocument(inv)
	if err != nil {
		return refund.ZATCAFailed, err.Error()
	}
	res, err := is.reporter.Report(ctx, doc)
	if err != nil {
		return refund.ZATCAPending, "reporting failed: " + err.Error()
	}
	return res.Status, res.Message
}

// Reportable says whether ZATCA can ever accept inv: a document in SAR.
// It refuses any other (BR-KSA-EN16931-02, see Sandbox), so the core
// keeps such a document out of the merchant's chain.
func (is *Issuer) Reportable(inv *refund.Invoice) bool {
	return notSAR(inv.Currency) == ""
}

// Inline says whether Report runs in-process (the sandbox), so the core
// may make the first attempt inside the transaction that issues a
// document; a reporter that calls out is only called by the queue.
func (is *Issuer) Inline() bool {
	_, ok := is.reporter.(Sandbox)
	return ok
}

func lineOf(inv *refund.Invoice, itemID string) *refund.InvoiceLine {
	for i := range inv.Lines {
		if inv.Lines[i].ItemID == itemID {
			return &inv.Lines[i]
		}
	}
	return nil
}

func standardRate() money.Rate {
	r, err := money.ParseRate(refund.DefaultTaxRate)
	if err != nil {
		panic("invoice: refund.DefaultTaxRate is not a rate: " + err.Error())
	}
	return r
}

func highest(rates []money.Rate) money.Rate {
	var h money.Rate
	for _, r := range rates {
		h = max(h, r)
	}
	return h
}
