package refund_test

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/refundd/refundd/invoice"
	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/refund"
)

// A full refund of a split order that was partly voided or charged back
// must take from the vendors no more than it returns: the vendors' shares
// of it add up to its amount.
func TestFullRefundOfASplitOrderAfterAVoid(t *testing.T) {
	for _, kind := range []string{refund.AdjustmentVoid, refund.AdjustmentChargeback} {
		t.Run(kind, func(t *testing.T) {
			h := newHarness(t, &instantProcessor{}, nil)
			o, err := h.svc.CreateOrder(h.ctx, h.p, refund.OrderInput{Currency: "KWD", Amount: 1000, PaymentMethod: "card",
				Vendors: []refund.VendorInput{{ID: "a", Amount: 600}, {ID: "b", Amount: 400}}})
			if err != nil {
				t.Fatal(err)
			}
			adjust := h.svc.VoidOrder
			if kind == refund.AdjustmentChargeback {
				adjust = h.svc.ChargebackOrder
			}
			if _, _, err := adjust(h.ctx, h.p, o.ID, refund.AdjustmentInput{Amount: 300}); err != nil {
				t.Fatal(err)
			}
			r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID})
			if err != nil {
				t.Fatal(err)
			}
			var shares int64
			for _, v := range r.Vendors {
				shares += v.Amount
			}
			if r.Amount != 700 || shares != r.Amount {
				t.Fatalf("full refund after a %s of 300: amount %d, vendor shares %+v add up to %d", kind, r.Amount, r.Vendors, shares)
			}
			got, err := h.svc.GetOrder(h.ctx, h.p, o.ID)
			if err != nil {
				t.Fatal(err)
			}
			var vendors int64
			for _, v := range got.Vendors {
				vendors += v.RefundedAmount + v.PendingAmount
			}
			if vendors != got.RefundedAmount+got.PendingRefundAmount {
				t.Fatalf("vendors hold %d refunded, the order %d", vendors, got.RefundedAmount+got.PendingRefundAmount)
			}
		})
	}
}

// TestProperty_PartialRefundsAddUpToTheCapture runs random orders (lines
// of several quantities, rates and untaxed, shipping) in currencies of 0,
// 2 and 3 decimals through the Service on each store, with an invoicer: random
// refunds of line units, parts of lines and amounts, voids and
// chargebacks, each accepted exactly when the order, the line's units and
// the line's amount all have room for it; then a refund of what is left.
// Then nothing is lost or created: refunded + voided + charged back is the
// capture, every note states its refund's or adjustment's amount, no note
// has a negative figure, and the notes credit each line and the shipping
// of the tax invoice exactly: net, excluding tax and VAT.
//
// Under the race detector it walks the first 12 of its 60 orders (the
// same seed, so the same orders): the 60 took about a minute there, run
// one after the other. .ci/run walks all 60 without the race detector.
func TestProperty_PartialRefundsAddUpToTheCapture(t *testing.T) {
	orders := 60
	if raceEnabled {
		orders = 12
	}
	onEachStore(t, func(t *testing.T, open opener) {
		partialRefundsAddUp(t, newHarnessOn(t, open, &instantProcessor{}, func(c *refund.Config) { c.Invoicer = invoice.New(nil) }), orders)
	})
}

func partialRefundsAddUp(t *testing.T, h *harness, orders int) {
	rng := rand.New(rand.NewPCG(20261206, 7))
	currencies := []string{"SAR", "KWD", "BHD", "OMR", "JPY"}
	rates := []string{"15", "5", "0", "15", "15.5"}
	for n := range orders {
		cur := currencies[n%len(currencies)]
		var items []refund.ItemInput
		var sum int64
		for i := range 1 + rng.IntN(4) {
			unit := int64(1 + rng.IntN(50_000))
			if rng.IntN(3) == 0 {
				unit = int64(1 + rng.IntN(9)) // rounding at its worst
			}
			taxable := rng.IntN(6) != 0
			it := refund.ItemInput{ID: strconv.Itoa(i), NameEN: "x", Qty: int64(1 + rng.IntN(5)), UnitAmount: unit,
				TaxRate: rates[rng.IntN(len(rates))], Taxable: &taxable}
			items = append(items, it)
			sum += it.Qty * it.UnitAmount
		}
		amount := sum
		if rng.IntN(2) == 0 {
			amount += int64(1 + rng.IntN(3000)) // shipping
		}
		o, err := h.svc.CreateOrder(h.ctx, h.p, refund.OrderInput{Currency: cur, Amount: amount, PaymentMethod: "card", Items: items})
		if err != nil {
			t.Fatal(err)
		}
		qtyLeft, amtLeft := map[string]int64{}, map[string]int64{}
		for _, it := range items {
			qtyLeft[it.ID], amtLeft[it.ID] = it.Qty, it.Qty*it.UnitAmount
		}
		orderLeft := amount
		want := map[string]int64{} // refund or adjustment id: what its note states
		for step := 0; step < 12 && orderLeft > 0; step++ {
			it := items[rng.IntN(len(items))]
			in := refund.RefundInput{OrderID: o.ID}
			var amt int64
			fits := true
			switch op := rng.IntN(5); op {
			case 0, 1: // units of a line, or part of one
				qty := int64(1 + rng.IntN(int(it.Qty)))
				ri := refund.RefundItemInput{ItemID: it.ID, Qty: qty}
				amt = qty * it.UnitAmount
				if op == 1 {
					amt = 1 + rng.Int64N(it.Qty*it.UnitAmount)
					ri = refund.RefundItemInput{ItemID: it.ID, Amount: &amt}
					qty = 0
				}
				in.Items = []refund.RefundItemInput{ri}
				fits = qty <= qtyLeft[it.ID] && amt <= amtLeft[it.ID] && amt <= orderLeft
				if fits {
					qtyLeft[it.ID] -= qty
					amtLeft[it.ID] -= amt
				}
			case 2: // an amount
				amt = 1 + rng.Int64N(amount)
				in.Amount = &amt
				fits = amt <= orderLeft
			default: // a void or a chargeback
				amt = 1 + rng.Int64N(orderLeft)
				adjust := h.svc.VoidOrder
				if op == 4 {
					adjust = h.svc.ChargebackOrder
				}
				a, _, err := adjust(h.ctx, h.p, o.ID, refund.AdjustmentInput{Amount: amt})
				if err != nil {
					t.Fatalf("order %d step %d: adjustment of %d with %d left: %v", n, step, amt, orderLeft, err)
				}
				want[a.ID] = amt
				orderLeft -= amt
				continue
			}
			r, err := h.svc.CreateRefund(h.ctx, h.p, in)
			switch {
			case fits && err != nil:
				t.Fatalf("order %d step %d: refund %+v with %d left: %v", n, step, in, orderLeft, err)
			case !fits && refund.ErrorCode(err) != refund.EAmountExceedsRefundable:
				t.Fatalf("order %d step %d: refund %+v with %d left (line: %d units, %d): %v, want %s", n, step, in, orderLeft,
					qtyLeft[it.ID], amtLeft[it.ID], err, refund.EAmountExceedsRefundable)
			case fits:
				want[r.ID] = amt
				orderLeft -= amt
			}
		}
		if orderLeft > 0 {
			r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID})
			if err != nil {
				t.Fatalf("order %d: refund of the rest (%d): %v", n, orderLeft, err)
			}
			want[r.ID] = orderLeft
		}
		wantAllTaken(t, h, o.ID, fmt.Sprintf("order %d (%s)", n, cur))
		checkNotesCreditTheInvoice(t, h, o.ID, want)
	}
}

// checkNotesCreditTheInvoice fails t unless the order's paid credit notes
// are one per entry of want stating its amount, none negative, and
// together credit the tax invoice exactly, line by line and shipping.
func checkNotesCreditTheInvoice(t *testing.T, h *harness, orderID string, want map[string]int64) {
	t.Helper()
	page, err := h.svc.ListInvoices(h.ctx, h.p, refund.InvoiceFilter{OrderID: orderID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	type split struct{ net, excl, tax int64 }
	credited := map[int64]split{}
	var ship split
	var sale *refund.Invoice
	notes := 0
	for _, v := range page.Data {
		inv := v.Invoice
		if inv.Type == refund.InvoiceSale {
			sale = inv
			continue
		}
		if inv.Type == refund.InvoiceRefund && inv.Status == refund.InvoiceVoid && want[inv.RefundID+inv.AdjustmentID] == 0 {
			continue // a canceled refund's
		}
		if inv.Type != refund.InvoiceRefund || inv.Status != refund.InvoicePaid {
			t.Fatalf("order %s: invoice %s is %s %s", orderID, inv.Serial, inv.Type, inv.Status)
		}
		notes++
		owner := inv.RefundID + inv.AdjustmentID
		// Each line's and the shipping's rounding is -1, 0 or 1 unit.
		rounding, parts := inv.TotalAmount-inv.TotalExcludingTax-inv.TaxAmount, int64(len(inv.Lines)+1)
		if inv.TotalAmount != want[owner] || rounding < -parts || rounding > parts || inv.TotalExcludingTax < 0 || inv.TaxAmount < 0 ||
			inv.ShippingExcludingTax < 0 || inv.ShippingTaxAmount < 0 {
			t.Fatalf("order %s: note %s of %s states %d (excl %d, VAT %d, shipping %d = %d + %d), want %d", orderID, inv.Serial, owner,
				inv.TotalAmount, inv.TotalExcludingTax, inv.TaxAmount, inv.ShippingAmount, inv.ShippingExcludingTax, inv.ShippingTaxAmount, want[owner])
		}
		checkNoteDocument(t, inv)
		for _, l := range inv.Lines {
			if l.NetAmount <= 0 || l.TotalExcludingTax < 0 || l.TaxAmount < 0 {
				t.Fatalf("order %s: note %s line %+v", orderID, inv.Serial, l)
			}
			c := credited[l.ParentLineID]
			credited[l.ParentLineID] = split{c.net + l.NetAmount, c.excl + l.TotalExcludingTax, c.tax + l.TaxAmount}
		}
		ship = split{ship.net + inv.ShippingAmount, ship.excl + inv.ShippingExcludingTax, ship.tax + inv.ShippingTaxAmount}
	}
	if testing.Verbose() {
		for _, v := range page.Data {
			t.Logf("%s %s %s ref=%s adj=%s total=%d excl=%d tax=%d ship=%d", v.Serial, v.Type, v.Status, v.RefundID, v.AdjustmentID, v.TotalAmount, v.TotalExcludingTax, v.TaxAmount, v.ShippingAmount)
			for _, l := range v.Lines {
				t.Logf("   line %d parent %d net %d = %d + %d", l.ID, l.ParentLineID, l.NetAmount, l.TotalExcludingTax, l.TaxAmount)
			}
		}
	}
	if sale == nil || notes != len(want) {
		t.Fatalf("order %s: tax invoice %v, %d notes, want %d", orderID, sale != nil, notes, len(want))
	}
	for _, l := range sale.Lines {
		if c := credited[l.ID]; c != (split{l.NetAmount, l.TotalExcludingTax, l.TaxAmount}) {
			t.Fatalf("order %s: line %s (%d = %d + %d at %s%%) credited %d = %d + %d", orderID, l.ItemID,
				l.NetAmount, l.TotalExcludingTax, l.TaxAmount, l.TaxRate, c.net, c.excl, c.tax)
		}
	}
	if ship != (split{sale.ShippingAmount, sale.ShippingExcludingTax, sale.ShippingTaxAmount}) {
		t.Fatalf("order %s: shipping %d = %d + %d credited %+v", orderID, sale.ShippingAmount, sale.ShippingExcludingTax, sale.ShippingTaxAmount, ship)
	}
}

// checkNoteDocument fails t unless inv's UBL totals and its QR's TLV
// totals, read back as amounts of its currency, are its own figures.
func checkNoteDocument(t *testing.T, inv *refund.Invoice) {
	t.Helper()
	doc, err := invoice.NewDocument(inv)
	if err != nil {
		t.Fatal(err)
	}
	var ubl struct {
		Exclusive string `xml:"LegalMonetaryTotal>TaxExclusiveAmount"`
		Inclusive string `xml:"LegalMonetaryTotal>TaxInclusiveAmount"`
		Rounding  string `xml:"LegalMonetaryTotal>PayableRoundingAmount"`
		Payable   string `xml:"LegalMonetaryTotal>PayableAmount"`
	}
	if err := xml.Unmarshal(doc.XML, &ubl); err != nil {
		t.Fatal(err)
	}
	b, err := base64.StdEncoding.DecodeString(doc.QR)
	if err != nil {
		t.Fatal(err)
	}
	qr := map[byte]string{}
	for len(b) >= 2 && len(b) >= 2+int(b[1]) {
		qr[b[0]], b = string(b[2:2+int(b[1])]), b[2+int(b[1]):]
	}
	c, err := money.LookupCurrency(inv.Currency)
	if err != nil {
		t.Fatal(err)
	}
	amount := func(s string) int64 {
		neg := strings.HasPrefix(s, "-")
		v, err := money.ParseDecimal(strings.TrimPrefix(s, "-"), c)
		if err != nil {
			t.Fatalf("note %s: %q: %v", inv.Serial, s, err)
		}
		if neg {
			return -v
		}
		return v
	}
	incl := inv.TotalExcludingTax + inv.TaxAmount
	rounding := int64(0)
	if ubl.Rounding != "" {
		rounding = amount(ubl.Rounding)
	}
	if amount(ubl.Exclusive) != inv.TotalExcludingTax || amount(ubl.Inclusive) != incl || rounding != inv.TotalAmount-incl ||
		amount(ubl.Payable) != inv.TotalAmount || amount(qr[invoice.TagTotal]) != incl || amount(qr[invoice.TagVAT]) != inv.TaxAmount {
		t.Fatalf("note %s (%s): %d = %d + %d + rounding; UBL %+v, QR total %q VAT %q", inv.Serial, inv.Currency,
			inv.TotalAmount, inv.TotalExcludingTax, inv.TaxAmount, ubl, qr[invoice.TagTotal], qr[invoice.TagVAT])
	}
}

// TestProperty_ChargebacksOverQueuedRefunds: chargebacks that take more
// than an order has left cancel its queued refunds to make room; after
// random queued and immediate refunds, voids and chargebacks, the worker's
// pass and a refund of the rest, refunded + voided + charged back is the
// capture, and the notes of the refunds that went through and of the
// adjustments credit the tax invoice exactly.
//
// Under the race detector it walks the first 10 of its 40 orders (the same
// seed, so the same orders); .ci/run walks all 40 without it.
func TestProperty_ChargebacksOverQueuedRefunds(t *testing.T) {
	orders := 40
	if raceEnabled {
		orders = 10
	}
	h := newHarness(t, &instantProcessor{}, func(c *refund.Config) { c.Invoicer = invoice.New(nil) })
	rng := rand.New(rand.NewPCG(20261206, 9))
	for n := range orders {
		cur := []string{"SAR", "KWD", "JPY", "BHD"}[n%4]
		var items []refund.ItemInput
		var amount int64
		for i := range 1 + rng.IntN(3) {
			it := refund.ItemInput{ID: strconv.Itoa(i), NameEN: "x", Qty: int64(1 + rng.IntN(4)), UnitAmount: int64(1 + rng.IntN(2000))}
			items = append(items, it)
			amount += it.Qty * it.UnitAmount
		}
		amount += int64(rng.IntN(500))
		o, err := h.svc.CreateOrder(h.ctx, h.p, refund.OrderInput{Currency: cur, Amount: amount, PaymentMethod: "card", Items: items})
		if err != nil {
			t.Fatal(err)
		}
		var refunds []string
		adjustments := map[string]bool{}
		for range 8 {
			switch rng.IntN(4) {
			case 0, 1:
				amt := 1 + rng.Int64N(amount)
				in := refund.RefundInput{OrderID: o.ID, Amount: &amt, Queue: rng.IntN(2) == 0}
				if rng.IntN(2) == 0 {
					it := items[rng.IntN(len(items))]
					amt = 1 + rng.Int64N(it.Qty*it.UnitAmount)
					in.Amount, in.Items = nil, []refund.RefundItemInput{{ItemID: it.ID, Amount: &amt}}
				}
				r, err := h.svc.CreateRefund(h.ctx, h.p, in)
				if refund.ErrorCode(err) == refund.EAmountExceedsRefundable {
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				refunds = append(refunds, r.ID)
			default:
				adjust := h.svc.ChargebackOrder
				if rng.IntN(3) == 0 {
					adjust = h.svc.VoidOrder
				}
				a, _, err := adjust(h.ctx, h.p, o.ID, refund.AdjustmentInput{Amount: 1 + rng.Int64N(amount/2+1)})
				if refund.ErrorCode(err) == refund.EAmountExceedsRefundable {
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				adjustments[a.ID] = true
			}
		}
		h.drive(3)
		if got, err := h.svc.GetOrder(h.ctx, h.p, o.ID); err != nil {
			t.Fatal(err)
		} else if got.Refundable() > 0 {
			r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID})
			if err != nil {
				t.Fatal(err)
			}
			refunds = append(refunds, r.ID)
		}
		wantAllTaken(t, h, o.ID, fmt.Sprintf("order %d (%s)", n, cur))
		want := map[string]int64{}
		for _, id := range refunds {
			r, err := h.svc.GetRefund(h.ctx, h.p, id)
			if err != nil {
				t.Fatal(err)
			}
			switch r.Status {
			case refund.StatusSucceeded:
				want[id] = r.Amount
			case refund.StatusCanceled:
			default:
				t.Fatalf("order %d: refund %s is %s", n, id, r.Status)
			}
		}
		adjs, err := h.svc.ListOrderAdjustments(h.ctx, h.p, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range adjs.Data {
			if adjustments[a.ID] && a.Applied > 0 {
				want[a.ID] = a.Applied
			}
		}
		checkNotesCreditTheInvoice(t, h, o.ID, want)
	}
}

// A credit note voided after a later note of the same line was built (a
// queued refund canceled after another refund) must not leave the line's
// notes a unit apart from the tax invoice once all is refunded.
func TestCreditNotes_AddUpAfterAnEarlierNoteIsVoided(t *testing.T) {
	for _, c := range []struct {
		currency      string
		unit          int64
		first, second int64
	}{
		{"SAR", 1033, 1, 3},
		{"KWD", 10330, 1, 10},
		{"BHD", 3826, 1, 18},
	} {
		t.Run(c.currency, func(t *testing.T) {
			onEachStore(t, func(t *testing.T, open opener) {
				h := newHarnessOn(t, open, &instantProcessor{}, func(cfg *refund.Config) { cfg.Invoicer = invoice.New(nil) })
				o, err := h.svc.CreateOrder(h.ctx, h.p, refund.OrderInput{Currency: c.currency, Amount: c.unit, PaymentMethod: "card",
					Items: []refund.ItemInput{{ID: "1", NameEN: "x", Qty: 1, UnitAmount: c.unit}}})
				if err != nil {
					t.Fatal(err)
				}
				queued, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &c.first, Queue: true})
				if err != nil {
					t.Fatal(err)
				}
				second, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &c.second})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := h.svc.CancelRefund(h.ctx, h.p, queued.ID); err != nil {
					t.Fatal(err)
				}
				rest, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID})
				if err != nil {
					t.Fatal(err)
				}
				checkNotesCreditTheInvoice(t, h, o.ID, map[string]int64{second.ID: c.second, rest.ID: c.unit - c.second})
			})
		})
	}
}

// TestCreditNotes_ReportableAfterAnEarlierNoteIsVoided: a credit note
// voided after a later note of its line was built leaves the live notes a
// unit or two from the line's split; the next note must still be one the
// authority takes (each line's VAT within a unit of its net x rate,
// BR-KSA-50, which the sandbox reporter checks; it reports SAR notes, and
// a KWD order's are aborted with their refused tax invoice), and where one
// note can close the gap the notes then add up to the invoice exactly.
// Refunds in order, one queued and canceled after the one after it, then
// the rest.
func TestCreditNotes_ReportableAfterAnEarlierNoteIsVoided(t *testing.T) {
	for _, c := range []struct {
		name     string
		currency string
		unit     int64
		refunds  []int64
		canceled int // index in refunds: queued, canceled after the next
		addsUp   bool
	}{
		// The last note had to state 8.83 + 1.34: VAT two halalas off 8.83
		// x 15 % = 1.32, and the sandbox failed it.
		{"LastNoteVATWithinAUnit", "SAR", 1033, []int64{2, 10, 14}, 1, false},
		{"LastNoteAddsUp", "SAR", 1033, []int64{4, 1, 6}, 1, true},
		{"KWD", "KWD", 10330, []int64{4, 2, 13}, 1, true},
		// The last note's own split (9.46 + 1.42) would credit the line
		// more VAT than it invoiced, and the target (9.45 + 1.40) is VAT
		// two halalas off 9.45 x 15 % = 1.42.
		{"OwnSplitPastTheLine", "SAR", 1099, []int64{12, 6, 2}, 1, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			onEachStore(t, func(t *testing.T, open opener) {
				h := newHarnessOn(t, open, &instantProcessor{}, func(cfg *refund.Config) { cfg.Invoicer = invoice.New(nil) })
				vat := "310122393500003"
				if _, err := h.svc.UpdateInvoiceConfig(h.ctx, h.p, refund.InvoiceConfigInput{VATNumber: &vat}); err != nil {
					t.Fatal(err)
				}
				o, err := h.svc.CreateOrder(h.ctx, h.p, refund.OrderInput{Currency: c.currency, Amount: c.unit, PaymentMethod: "card",
					Items: []refund.ItemInput{{ID: "1", NameEN: "x", Qty: 1, UnitAmount: c.unit}}})
				if err != nil {
					t.Fatal(err)
				}
				want := map[string]int64{}
				var queued string
				for i, amt := range c.refunds {
					r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &amt, Queue: i == c.canceled})
					if err != nil {
						t.Fatal(err)
					}
					if i == c.canceled {
						queued = r.ID
					} else {
						want[r.ID] = amt
					}
					if i == c.canceled+1 {
						if _, err := h.svc.CancelRefund(h.ctx, h.p, queued); err != nil {
							t.Fatal(err)
						}
					}
				}
				rest, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID})
				if err != nil {
					t.Fatal(err)
				}
				want[rest.ID] = rest.Amount
				page, err := h.svc.ListInvoices(h.ctx, h.p, refund.InvoiceFilter{OrderID: o.ID, Type: refund.InvoiceRefund, Status: refund.InvoicePaid})
				if err != nil {
					t.Fatal(err)
				}
				// ZATCA takes only SAR documents (BR-KSA-EN16931-02, BR-DEC):
				// a KWD order's tax invoice is refused, so its notes are
				// aborted, and only their VAT is checked here.
				zatca := refund.ZATCAReported
				if c.currency != "SAR" {
					zatca = refund.ZATCAAborted
				}
				for _, inv := range page.Data {
					for _, l := range inv.Lines {
						rate, _ := money.ParseRate(l.TaxRate)
						if d := money.Tax(l.TotalExcludingTax, rate) - l.TaxAmount; d < -1 || d > 1 || inv.ZATCAStatus != zatca {
							t.Fatalf("note %s of %d: %d + %d, VAT %d off net x rate; %s %s", inv.Serial, inv.TotalAmount,
								l.TotalExcludingTax, l.TaxAmount, d, inv.ZATCAStatus, inv.InvoiceError)
						}
					}
				}
				if c.addsUp {
					checkNotesCreditTheInvoice(t, h, o.ID, want)
				}
			})
		})
	}
}

// TestProperty_VendorSharesFollowTheRefunds: random partial refunds of
// marketplace orders, naming vendor shares, with voids and chargebacks
// between them, then a refund of the rest: each refund is accepted exactly
// when the order and every vendor named have room, no vendor ever refunds
// more than its share, and the vendors' refunds add up to the order's.
//
// Under the race detector it walks the first 15 of its 60 orders (the same
// seed, so the same orders); .ci/run walks all 60 without it.
func TestProperty_VendorSharesFollowTheRefunds(t *testing.T) {
	orders := 60
	if raceEnabled {
		orders = 15
	}
	h := newHarness(t, &instantProcessor{}, nil)
	rng := rand.New(rand.NewPCG(20261206, 11))
	for n := range orders {
		var vendors []refund.VendorInput
		var amount int64
		for i := range 1 + rng.IntN(4) {
			v := refund.VendorInput{ID: "v" + strconv.Itoa(i), Amount: int64(1 + rng.IntN(5000))}
			vendors = append(vendors, v)
			amount += v.Amount
		}
		o, err := h.svc.CreateOrder(h.ctx, h.p, refund.OrderInput{Currency: []string{"KWD", "SAR", "JPY"}[n%3], Amount: amount,
			PaymentMethod: "card", Vendors: vendors})
		if err != nil {
			t.Fatal(err)
		}
		left := map[string]int64{}
		for _, v := range vendors {
			left[v.ID] = v.Amount
		}
		orderLeft := amount
		for step := 0; step < 8 && orderLeft > 0; step++ {
			if rng.IntN(4) == 0 {
				amt := 1 + rng.Int64N(orderLeft)
				adjust := h.svc.VoidOrder
				if rng.IntN(2) == 0 {
					adjust = h.svc.ChargebackOrder
				}
				if _, _, err := adjust(h.ctx, h.p, o.ID, refund.AdjustmentInput{Amount: amt}); err != nil {
					t.Fatal(err)
				}
				orderLeft -= amt
				continue
			}
			var shares []refund.RefundVendor
			var total int64
			fits := true
			for _, v := range vendors {
				if rng.IntN(2) == 0 {
					a := 1 + rng.Int64N(v.Amount)
					shares = append(shares, refund.RefundVendor{VendorID: v.ID, Amount: a})
					total += a
					fits = fits && a <= left[v.ID]
				}
			}
			if len(shares) == 0 {
				continue
			}
			fits = fits && total <= orderLeft
			_, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Vendors: shares})
			switch {
			case fits && err != nil:
				t.Fatalf("order %d: refund %+v (order left %d, vendors %v): %v", n, shares, orderLeft, left, err)
			case !fits && refund.ErrorCode(err) != refund.EAmountExceedsRefundable:
				t.Fatalf("order %d: refund %+v (order left %d, vendors %v): %v, want %s", n, shares, orderLeft, left, err, refund.EAmountExceedsRefundable)
			case fits:
				for _, s := range shares {
					left[s.VendorID] -= s.Amount
				}
				orderLeft -= total
			}
		}
		if orderLeft > 0 {
			if _, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID}); err != nil {
				t.Fatalf("order %d: refund of the rest (%d, vendors %v): %v", n, orderLeft, left, err)
			}
		}
		got, err := h.svc.GetOrder(h.ctx, h.p, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		var refunded int64
		for _, v := range got.Vendors {
			if v.RefundedAmount > v.Amount || v.PendingAmount != 0 {
				t.Fatalf("order %d: vendor %s refunded %d (pending %d) of %d", n, v.ID, v.RefundedAmount, v.PendingAmount, v.Amount)
			}
			refunded += v.RefundedAmount
		}
		if refunded != got.RefundedAmount || got.RefundedAmount+got.VoidedAmount+got.ChargedBackAmount != got.CapturedAmount {
			t.Fatalf("order %d: vendors refunded %d, the order %d (+ voided %d + charged back %d, captured %d)", n,
				refunded, got.RefundedAmount, got.VoidedAmount, got.ChargedBackAmount, got.CapturedAmount)
		}
	}
}

// wantAllTaken fails t unless what order id captured is all refunded,
// voided or charged back, none of it still pending.
func wantAllTaken(t *testing.T, h *harness, id, name string) {
	t.Helper()
	got, err := h.svc.GetOrder(h.ctx, h.p, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.RefundedAmount+got.VoidedAmount+got.ChargedBackAmount != got.CapturedAmount || got.PendingRefundAmount != 0 {
		t.Fatalf("%s: refunded %d + voided %d + charged back %d (pending %d), captured %d", name,
			got.RefundedAmount, got.VoidedAmount, got.ChargedBackAmount, got.PendingRefundAmount, got.CapturedAmount)
	}
}
