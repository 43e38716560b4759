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
//     O (outside the scope of VAT); a taxed line at 0% is category Z, any
//     other rate S.
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
	"fmt"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/refund"
)

// ErrParentNotReported is the invoice_error of a refund invoice whose tax
// invoice was never reported, word for word as the Techrar seed shows it.
const ErrParentNotReported = "Parent invoice must be successfully published before creating a return invoice."

// Issuer builds invoices and reports them with its Reporter.
type Issuer struct {
	reporter Reporter
}

var _ refund.Invoicer = (*Issuer)(nil)

// New returns an Issuer reporting through r (Sandbox{} when nil).
func New(r Reporter) *Issuer {
	if r == nil {
		r = Sandbox{}
	}
	return &Issuer{reporter: r}
}

// Sale builds the tax invoice of o: one line per order line, the rest of
// the order amount as shipping, totals summed from the lines.
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
		}
		l := refund.InvoiceLine{ItemID: it.ID, SKU: it.SKU, NameEN: it.NameEN, NameAR: it.NameAR, Qty: it.Qty,
			UnitAmount: it.UnitAmount, Amount: it.Amount, NetAmount: it.Amount, TaxRate: rate.String(), Taxable: it.Taxable}
		l.TotalExcludingTax, l.TaxAmount = money.SplitInclusive(l.NetAmount, rate)
		inv.Lines = append(inv.Lines, l)
		inv.SubTotalAmount += l.NetAmount
		inv.TotalExcludingTax += l.TotalExcludingTax
		inv.TaxAmount += l.TaxAmount
		if it.Taxable {
			rates = append(rates, rate)
		}
	}
	if ship := o.Amount - inv.SubTotalAmount; ship > 0 {
		rate := standardRate()
		excl, tax := money.SplitInclusive(ship, rate)
		inv.ShippingAmount = ship
		inv.TotalExcludingTax += excl
		inv.TaxAmount += tax
		rates = append(rates, rate)
	} else if ship < 0 {
		return nil, fmt.Errorf("invoice: order %s lines add up to more than its amount", o.ID)
	}
	inv.NetAmount = inv.SubTotalAmount + inv.ShippingAmount - inv.DiscountAmount
	inv.TotalAmount = inv.NetAmount
	inv.TaxRate = highest(rates).String()
	return inv, nil
}

// Refund builds the refund invoice of r against parent: one line per
// refunded order line, at the rate parent charged for it.
func (is *Issuer) Refund(parent *refund.Invoice, r *refund.Refund, seller refund.Seller) (*refund.Invoice, error) {
	inv := &refund.Invoice{OrderID: parent.OrderID, Currency: parent.Currency, Reason: r.Reason, Seller: seller,
		Customer: parent.Customer, PaymentMethod: parent.PaymentMethod}
	var rates []money.Rate
	for _, ri := range r.Items {
		pl := lineOf(parent, ri.ItemID)
		if pl == nil {
			return nil, fmt.Errorf("invoice: tax invoice %s has no line for order line %q", parent.Serial, ri.ItemID)
		}
		rate, err := money.ParseRate(pl.TaxRate)
		if err != nil {
			return nil, fmt.Errorf("invoice: tax invoice %s line %d: %w", parent.Serial, pl.ID, err)
		}
		l := refund.InvoiceLine{ItemID: ri.ItemID, ParentLineID: pl.ID, SKU: pl.SKU, NameEN: pl.NameEN, NameAR: pl.NameAR,
			Qty: ri.Qty, UnitAmount: pl.UnitAmount, Amount: ri.Amount, NetAmount: ri.Amount, TaxRate: pl.TaxRate, Taxable: pl.Taxable}
		l.TotalExcludingTax, l.TaxAmount = money.SplitInclusive(l.NetAmount, rate)
		inv.Lines = append(inv.Lines, l)
		inv.SubTotalAmount += l.NetAmount
		inv.TotalExcludingTax += l.TotalExcludingTax
		inv.TaxAmount += l.TaxAmount
		if pl.Taxable {
			rates = append(rates, rate)
		}
	}
	inv.NetAmount = inv.SubTotalAmount
	inv.TotalAmount = inv.NetAmount
	inv.TaxRate = highest(rates).String()
	return inv, nil
}

// Report reports a final invoice. A refund invoice whose tax invoice was
// not reported is aborted without being sent. A reporter that cannot be
// reached leaves the invoice not_submitted, with the reason.
func (is *Issuer) Report(ctx context.Context, inv, parent *refund.Invoice) (refund.ZATCAStatus, string) {
	if inv.Type == refund.InvoiceRefund && (parent == nil || parent.ZATCAStatus != refund.ZATCAReported) {
		return refund.ZATCAAborted, ErrParentNotReported
	}
	doc, err := NewDocument(inv)
	if err != nil {
		return refund.ZATCARejected, err.Error()
	}
	res, err := is.reporter.Report(ctx, doc)
	if err != nil {
		return refund.ZATCANotSubmitted, "reporting failed: " + err.Error()
	}
	return res.Status, res.Message
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
