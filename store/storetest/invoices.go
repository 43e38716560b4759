package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

// newSaleInvoice returns the tax invoice of a withItemsAndVendors order:
// its two lines at 15% and 0%, serial INV-2025<number>.
func newSaleInvoice(o *refund.Order, number int64) *refund.Invoice {
	return &refund.Invoice{MerchantID: o.MerchantID, OrderID: o.ID, Serial: fmt.Sprintf("INV-2025%05d", number), Number: number,
		Type: refund.InvoiceSale, Status: refund.InvoicePaid, Currency: o.Currency,
		Seller:   refund.Seller{Name: "Souq", VATNumber: "310122393500003"},
		Customer: refund.Customer{Name: "Noura", Email: "noura@example.com", Mobile: "+966512345678"}, PaymentMethod: "mada",
		Lines: []refund.InvoiceLine{
			{ItemID: "line-1", SKU: "SKU-1", NameEN: "Dates", NameAR: "تمر", Qty: 2, UnitAmount: 5000, Amount: 10000,
				NetAmount: 10000, TotalExcludingTax: 8696, TaxAmount: 1304, TaxRate: "15", Taxable: true},
			{ItemID: "line-2", SKU: "SKU-2", NameEN: "Coffee", NameAR: "قهوة", Qty: 4, UnitAmount: 5000, Amount: 20000,
				NetAmount: 20000, TotalExcludingTax: 20000, TaxRate: "0", ExemptionCode: "VATEX-SA-OOS"},
		},
		SubTotalAmount: 30000, NetAmount: 30000, TotalExcludingTax: 28696, TaxAmount: 1304, TotalAmount: 30000, TaxRate: "15",
		ZATCAStatus: refund.ZATCAReported, IssuedAt: t0, CreatedAt: t0, UpdatedAt: t0}
}

// newRefundInvoice returns a pending refund invoice of one unit of
// parent's first line.
func newRefundInvoice(parent *refund.Invoice, refundID string, number int64) *refund.Invoice {
	return &refund.Invoice{MerchantID: parent.MerchantID, OrderID: parent.OrderID, RefundID: refundID, ParentID: parent.ID,
		ParentSerial: parent.Serial, BillingSerial: parent.Serial, Serial: fmt.Sprintf("INV-2025%05d", number), Number: number, Type: refund.InvoiceRefund,
		Status: refund.InvoicePending, Currency: parent.Currency, Reason: "damaged", Seller: parent.Seller, Customer: parent.Customer,
		PaymentMethod: parent.PaymentMethod,
		Lines: []refund.InvoiceLine{{ItemID: "line-1", ParentLineID: parent.Lines[0].ID, SKU: "SKU-1", NameEN: "Dates", Qty: 1,
			UnitAmount: 5000, Amount: 5000, NetAmount: 5000, TotalExcludingTax: 4348, TaxAmount: 652, TaxRate: "15", Taxable: true}},
		SubTotalAmount: 5000, NetAmount: 5000, TotalExcludingTax: 4348, TaxAmount: 652, TotalAmount: 5000, TaxRate: "15",
		ZATCAStatus: refund.ZATCANotSubmitted, IssuedAt: t0.Add(time.Minute), CreatedAt: t0.Add(time.Minute), UpdatedAt: t0.Add(time.Minute)}
}

func (f *fixture) mustCreateInvoice(inv *refund.Invoice) {
	f.t.Helper()
	f.mustUpdate(func(tx refund.Tx) error { return tx.CreateInvoice(f.ctx, inv) })
}

func (f *fixture) mustGetInvoice(id int64) *refund.Invoice {
	f.t.Helper()
	var inv *refund.Invoice
	f.mustView(func(tx refund.Tx) (err error) {
		inv, err = tx.GetInvoice(f.ctx, "", id)
		return err
	})
	return inv
}

func (f *fixture) listInvoices(filter refund.InvoiceFilter) []*refund.Invoice {
	f.t.Helper()
	var out []*refund.Invoice
	f.mustView(func(tx refund.Tx) (err error) {
		out, err = tx.ListInvoices(f.ctx, filter)
		return err
	})
	return out
}

// tri is what AddCredited adds for amount a in the conformance tests: a
// net of 2a and VAT of 3a, so a column swapped or left out shows.
func tri(a int64) refund.Credit { return refund.Credit{Amount: a, ExcludingTax: 2 * a, Tax: 3 * a} }

// credits is tri of each line's amount.
func credits(lines map[int64]int64) map[int64]refund.Credit {
	out := map[int64]refund.Credit{}
	for id, a := range lines {
		out[id] = tri(a)
	}
	return out
}

func invoiceIDs(invs []*refund.Invoice) []int64 {
	var ids []int64
	for _, inv := range invs {
		ids = append(ids, inv.ID)
	}
	return ids
}

var invoiceTests = []test{
	{"Credited", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID, withItemsAndVendors)
		sale, other := newSaleInvoice(o, 1), newSaleInvoice(f.mustCreateOrder(m.ID, withItemsAndVendors), 2)
		f.mustCreateInvoice(sale)
		f.mustCreateInvoice(other)
		note := newRefundInvoice(sale, f.mustCreateRefund(o).ID, 3)
		f.mustCreateInvoice(note)
		l1, l2 := sale.Lines[0].ID, sale.Lines[1].ID
		// Each amount a credits a net of 2a and VAT of 3a: not a real
		// split, but each of the three adds up on its own.
		add := func(id int64, lines map[int64]int64, shipping int64) error {
			return f.update(func(tx refund.Tx) error { return tx.AddCredited(f.ctx, id, credits(lines), tri(shipping)) })
		}
		check := func(step string, want1, want2, ship int64) {
			t.Helper()
			got := f.mustGetInvoice(sale.ID)
			listed := f.listInvoices(refund.InvoiceFilter{MerchantID: m.ID, OrderID: o.ID, Type: refund.InvoiceSale})
			if len(listed) != 1 {
				t.Fatalf("%s: listed %+v", step, listed)
			}
			for how, inv := range map[string]*refund.Invoice{"read": got, "listed": listed[0]} {
				l1, l2 := inv.Lines[0], inv.Lines[1]
				gotC := []refund.Credit{{Amount: l1.Credited, ExcludingTax: l1.CreditedExcludingTax, Tax: l1.CreditedTax},
					{Amount: l2.Credited, ExcludingTax: l2.CreditedExcludingTax, Tax: l2.CreditedTax},
					{Amount: inv.CreditedShipping, ExcludingTax: inv.CreditedShippingExcludingTax, Tax: inv.CreditedShippingTax}}
				if want := []refund.Credit{tri(want1), tri(want2), tri(ship)}; !slices.Equal(gotC, want) {
					t.Fatalf("%s: %s credited (lines, shipping) %v, want %v", step, how, gotC, want)
				}
			}
		}
		check("issued", 0, 0, 0)
		if err := add(sale.ID, map[int64]int64{l1: 5000, l2: 700}, 300); err != nil {
			t.Fatal(err)
		}
		check("added", 5000, 700, 300)
		if err := add(sale.ID, map[int64]int64{l1: -5000}, -300); err != nil {
			t.Fatal(err)
		}
		check("taken back", 0, 700, 0)
		// A note of shipping only names no line.
		for _, lines := range []map[int64]int64{{}, nil} {
			if err := add(sale.ID, lines, 50); err != nil {
				t.Fatalf("shipping only (%v lines): %v", lines, err)
			}
		}
		if err := add(sale.ID, nil, -100); err != nil {
			t.Fatal(err)
		}
		check("shipping only", 0, 700, 0)
		// Within one transaction the second add sees the first.
		f.mustUpdate(func(tx refund.Tx) error {
			for range 2 {
				if err := tx.AddCredited(f.ctx, sale.ID, credits(map[int64]int64{l2: 1}), refund.Credit{}); err != nil {
					return err
				}
			}
			inv, err := tx.GetInvoice(f.ctx, m.ID, sale.ID)
			if err == nil && inv.Lines[1].Credited != 702 {
				err = fmt.Errorf("inside the transaction: %d, want 702", inv.Lines[1].Credited)
			}
			return err
		})
		check("twice in one transaction", 0, 702, 0)
		for _, bad := range []struct {
			name  string
			id    int64
			lines map[int64]int64
		}{
			{"AnotherInvoicesLine", sale.ID, map[int64]int64{l1: 1, other.Lines[0].ID: 1}},
			{"NotATaxInvoice", note.ID, map[int64]int64{note.Lines[0].ID: 1}},
			{"NoSuchInvoice", 1 << 40, nil},
		} {
			if err := add(bad.id, bad.lines, 1); refund.ErrorCode(err) != refund.EInvoiceNotFound {
				t.Fatalf("%s: %v, want %s", bad.name, err, refund.EInvoiceNotFound)
			}
			check(bad.name, 0, 702, 0)
		}
		if got := f.mustGetInvoice(other.ID); got.Lines[0].Credited != 0 || got.CreditedShipping != 0 {
			t.Fatalf("the other invoice changed: %+v", got)
		}
	}},
	{"LinesByCount", func(t *testing.T, f *fixture) {
		// Invoices of 1 to 12 lines read back whole and in order, and so
		// do their notes' lines with their parents (a store may write a
		// few rows one way and many another); crediting every line
		// credits each, and one line that is not the invoice's refuses
		// them all.
		m := f.mustCreateMerchant()
		for i, n := range []int{1, 3, 8, 9, 12} {
			o := f.mustCreateOrder(m.ID, withItemsAndVendors)
			sale := newSaleInvoice(o, int64(10+i))
			sale.Lines = nil
			for k := range n {
				l := refund.InvoiceLine{ItemID: fmt.Sprintf("line-%d", k+1), SKU: fmt.Sprintf("SKU-%d", k), NameEN: fmt.Sprintf("Item %d", k),
					NameAR: "تمر", Qty: int64(k + 1), UnitAmount: 1000, Amount: int64(k+1) * 1000, NetAmount: int64(k+1) * 1000,
					TotalExcludingTax: int64(k+1) * 1000, TaxRate: "0"}
				if k%2 == 0 {
					l.Discount, l.NetAmount = 100, l.Amount-100
					l.TotalExcludingTax = l.NetAmount * 100 / 115
					l.TaxAmount, l.TaxRate, l.Taxable = l.NetAmount-l.TotalExcludingTax, "15", true
				}
				sale.Lines = append(sale.Lines, l)
			}
			f.mustCreateInvoice(sale)
			got := f.mustGetInvoice(sale.ID)
			wantSame(t, fmt.Sprintf("%d lines read back", n), got.Lines, sale.Lines)
			// A note whose lines name the sale's, parents set.
			note := newRefundInvoice(sale, f.mustCreateRefund(o).ID, int64(100+i))
			note.Lines = nil
			credit := map[int64]int64{}
			for k, pl := range sale.Lines {
				note.Lines = append(note.Lines, refund.InvoiceLine{ItemID: pl.ItemID, ParentLineID: pl.ID, SKU: pl.SKU, NameEN: pl.NameEN,
					Qty: 1, UnitAmount: 1000, Amount: 1000, NetAmount: 1000, TotalExcludingTax: 1000, TaxRate: "0"})
				credit[pl.ID] = int64(k + 1)
			}
			f.mustCreateInvoice(note)
			wantSame(t, fmt.Sprintf("a note of %d lines read back", n), f.mustGetInvoice(note.ID).Lines, note.Lines)
			if err := f.update(func(tx refund.Tx) error { return tx.AddCredited(f.ctx, sale.ID, credits(credit), refund.Credit{}) }); err != nil {
				t.Fatalf("%d lines credited: %v", n, err)
			}
			for k, l := range f.mustGetInvoice(sale.ID).Lines {
				if l.Credited != int64(k+1) {
					t.Fatalf("%d lines: line %d credited %d, want %d", n, k, l.Credited, k+1)
				}
			}
			// One line that is not the sale's refuses them all.
			credit[note.Lines[0].ID] = 1
			if err := f.update(func(tx refund.Tx) error { return tx.AddCredited(f.ctx, sale.ID, credits(credit), refund.Credit{}) }); refund.ErrorCode(err) != refund.EInvoiceNotFound {
				t.Fatalf("%d lines and a stranger: %v, want %s", n, err, refund.EInvoiceNotFound)
			}
			if l := f.mustGetInvoice(sale.ID).Lines[0]; l.Credited != 1 {
				t.Fatalf("%d lines: a refused credit changed line 0 to %d", n, l.Credited)
			}
		}
	}},
	{"Chain", func(t *testing.T, f *fixture) {
		m, other := f.mustCreateMerchant(), f.mustCreateMerchant()
		next := func(merchantID, setHead string) (int64, string) {
			var icv int64
			var prev string
			f.mustUpdate(func(tx refund.Tx) (err error) {
				if icv, prev, err = tx.NextInvoiceChain(f.ctx, merchantID); err != nil {
					return err
				}
				return tx.SetInvoiceChainHead(f.ctx, merchantID, setHead)
			})
			return icv, prev
		}
		for i, want := range []struct {
			merchant string
			icv      int64
			prev     string
		}{
			{m.ID, 1, refund.InitialInvoiceHash}, {m.ID, 2, "h1"}, {other.ID, 1, refund.InitialInvoiceHash}, {m.ID, 3, "h2"},
		} {
			icv, prev := next(want.merchant, fmt.Sprintf("h%d", want.icv))
			if icv != want.icv || prev != want.prev {
				t.Fatalf("step %d: %d %q, want %d %q", i, icv, prev, want.icv, want.prev)
			}
		}
		// A rolled back transaction gives its link back.
		f.update(func(tx refund.Tx) error {
			if _, _, err := tx.NextInvoiceChain(f.ctx, m.ID); err != nil {
				return err
			}
			return refund.Errorf(refund.EConflict, "", "roll back")
		})
		if icv, prev := next(m.ID, "h4"); icv != 4 || prev != "h3" {
			t.Fatalf("after a rollback: %d %q", icv, prev)
		}
	}},
	{"ClaimReports", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		due := newSaleInvoice(f.mustCreateOrder(m.ID, withItemsAndVendors), 1)
		due.ZATCAStatus, due.ZATCANextAt, due.ZATCAAttempts, due.ShippingExcludingTax, due.ShippingTaxAmount = refund.ZATCAPending, t0, 2, 0, 0
		later := newSaleInvoice(f.mustCreateOrder(m.ID, withItemsAndVendors), 2)
		later.ZATCAStatus, later.ZATCANextAt = refund.ZATCAPending, t0.Add(time.Hour)
		done := newSaleInvoice(f.mustCreateOrder(m.ID, withItemsAndVendors), 3) // reported
		for _, inv := range []*refund.Invoice{due, later, done} {
			f.mustCreateInvoice(inv)
		}
		wantSame(t, "a pending invoice read back", f.mustGetInvoice(due.ID), due)
		claim := func(now time.Time) []*refund.Invoice {
			var out []*refund.Invoice
			f.mustUpdate(func(tx refund.Tx) (err error) {
				out, err = tx.ClaimInvoiceReports(f.ctx, now, now.Add(time.Minute), 10)
				return err
			})
			return out
		}
		got := claim(t0)
		if len(got) != 1 || got[0].ID != due.ID || len(got[0].Lines) != 2 || !got[0].ZATCANextAt.Equal(t0.Add(time.Minute)) {
			t.Fatalf("claimed %+v", got)
		}
		if again := claim(t0); len(again) != 0 {
			t.Fatalf("a claimed invoice was claimed again before its lease ran out: %d", len(again))
		}
		if both := claim(t0.Add(2 * time.Hour)); len(both) != 2 || both[0].ID != due.ID || both[1].ID != later.ID {
			t.Fatalf("after the lease: %d claimed", len(both))
		}
		// Settled: no longer claimed, and the schedule is cleared.
		due.ZATCAStatus, due.ZATCANextAt, due.ZATCAAttempts = refund.ZATCAReported, time.Time{}, 3
		f.mustUpdate(func(tx refund.Tx) error { return tx.UpdateInvoice(f.ctx, due) })
		if got := f.mustGetInvoice(due.ID); got.ZATCAStatus != refund.ZATCAReported || got.ZATCAAttempts != 3 || !got.ZATCANextAt.IsZero() {
			t.Fatalf("updated: %s %d %v", got.ZATCAStatus, got.ZATCAAttempts, got.ZATCANextAt)
		}
		if n := claim(t0.Add(48 * time.Hour)); len(n) != 1 || n[0].ID != later.ID {
			t.Fatalf("after settling: %d claimed", len(n))
		}
	}},
	{"RoundTrip", func(t *testing.T, f *fixture) {
		m, other := f.mustCreateMerchant(), f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID, withItemsAndVendors)
		inv := newSaleInvoice(o, 1)
		f.mustCreateInvoice(inv)
		if inv.ID <= 0 || inv.Lines[0].ID <= 0 || inv.Lines[1].ID <= 0 || inv.Lines[0].ID == inv.Lines[1].ID {
			t.Fatalf("CreateInvoice assigned ids %d, lines %d and %d", inv.ID, inv.Lines[0].ID, inv.Lines[1].ID)
		}
		wantSame(t, "GetInvoice", f.mustGetInvoice(inv.ID), inv)
		f.mustView(func(tx refund.Tx) error {
			got, err := tx.GetInvoice(f.ctx, m.ID, inv.ID)
			if err != nil {
				return err
			}
			wantSame(t, "GetInvoice by its merchant", got, inv)
			_, err = tx.GetInvoice(f.ctx, other.ID, inv.ID)
			wantCode(t, err, refund.EInvoiceNotFound)
			_, err = tx.GetInvoice(f.ctx, "", inv.ID+1000)
			wantCode(t, err, refund.EInvoiceNotFound)
			return nil
		})
		// A credit note and its debit note: the debit note's parent is the
		// credit note, its billing reference (BillingSerial) the tax
		// invoice; a note without one (issued before it was kept) reads
		// back without one.
		cn := newRefundInvoice(inv, f.mustCreateRefund(o).ID, 2)
		f.mustCreateInvoice(cn)
		wantSame(t, "GetInvoice of a credit note", f.mustGetInvoice(cn.ID), cn)
		dn := newRefundInvoice(cn, cn.RefundID, 3)
		dn.Type, dn.Status, dn.BillingSerial, dn.Reason = refund.InvoiceDebit, refund.InvoicePaid, inv.Serial, "reversed"
		f.mustCreateInvoice(dn)
		if got := f.mustGetInvoice(dn.ID); got.BillingSerial != inv.Serial || got.ParentSerial != cn.Serial {
			t.Fatalf("debit note billing serial %q, parent serial %q; want %q and %q", got.BillingSerial, got.ParentSerial, inv.Serial, cn.Serial)
		}
		wantSame(t, "GetInvoice of a debit note", f.mustGetInvoice(dn.ID), dn)
		old := newRefundInvoice(inv, f.mustCreateRefund(o).ID, 4)
		old.BillingSerial = ""
		f.mustCreateInvoice(old)
		wantSame(t, "GetInvoice of a note issued before BillingSerial", f.mustGetInvoice(old.ID), old)
		// A document keeps the seller's CRN and address it was issued
		// with; one without (the documents before they were kept) reads
		// back without, as above.
		addressed := newRefundInvoice(inv, f.mustCreateRefund(o).ID, 5)
		addressed.Seller.CRN = "1010010000"
		addressed.Seller.Address = refund.Address{Street: "King Fahd Road", BuildingNumber: "2322", District: "Al Olaya",
			City: "الرياض", PostalCode: "12214"}
		f.mustCreateInvoice(addressed)
		wantSame(t, "GetInvoice of a note with the seller's address", f.mustGetInvoice(addressed.ID), addressed)
		if got := f.mustGetInvoice(inv.ID); got.Seller.CRN != "" || !got.Seller.Address.IsZero() {
			t.Fatalf("a document issued without the seller's CRN and address reads back with %+v", got.Seller)
		}
	}},
	{"AdjustmentNotes", func(t *testing.T, f *fixture) {
		// A void's or chargeback's credit notes name it and no refund; a
		// chargeback applied in parts has one per part. AdjustmentID
		// lists one adjustment's notes, its merchant's only.
		m := f.mustCreateMerchant()
		o, other := f.mustCreateOrder(m.ID, withItemsAndVendors), f.mustCreateOrder(m.ID, withItemsAndVendors)
		adjust := func(o *refund.Order, kind string) *refund.OrderAdjustment {
			a := &refund.OrderAdjustment{ID: f.id(kind), MerchantID: m.ID, OrderID: o.ID, Kind: kind,
				Amount: 1000, Applied: 1000, Currency: o.Currency, Reason: kind, CreatedAt: t0}
			f.mustUpdate(func(tx refund.Tx) error { return tx.InsertOrderAdjustment(f.ctx, a) })
			return a
		}
		cb, void, elsewhere := adjust(o, refund.AdjustmentChargeback), adjust(o, refund.AdjustmentVoid), adjust(other, refund.AdjustmentVoid)
		number := int64(0)
		note := func(sale *refund.Invoice, a *refund.OrderAdjustment) *refund.Invoice {
			number++
			n := newRefundInvoice(sale, "", number)
			n.AdjustmentID, n.Status, n.Reason = a.ID, refund.InvoicePaid, a.Kind
			f.mustCreateInvoice(n)
			return n
		}
		sale := newSaleInvoice(o, 100)
		f.mustCreateInvoice(sale)
		otherSale := newSaleInvoice(other, 101)
		f.mustCreateInvoice(otherSale)
		var notes []*refund.Invoice
		for range 2 {
			n := note(sale, cb)
			wantSame(t, "GetInvoice", f.mustGetInvoice(n.ID), n)
			notes = append(notes, n)
		}
		voidNote, elsewhereNote := note(sale, void), note(otherSale, elsewhere)
		r := f.mustCreateRefund(o)
		refundNote := newRefundInvoice(sale, r.ID, 50)
		f.mustCreateInvoice(refundNote)

		listed := f.listInvoices(refund.InvoiceFilter{MerchantID: m.ID, OrderID: o.ID, Type: refund.InvoiceRefund})
		if len(listed) != 4 || listed[1].AdjustmentID != void.ID || listed[2].AdjustmentID != cb.ID || listed[2].RefundID != "" ||
			listed[0].AdjustmentID != "" {
			t.Fatalf("listed %+v", listed)
		}
		if sale := f.mustGetInvoice(sale.ID); sale.AdjustmentID != "" {
			t.Fatalf("the tax invoice names adjustment %q", sale.AdjustmentID)
		}
		wantSame(t, "ListInvoices", listed[2], notes[1])
		for _, tc := range []struct {
			name   string
			filter refund.InvoiceFilter
			want   []int64
		}{
			{"PartsOfAChargeback", refund.InvoiceFilter{MerchantID: m.ID, AdjustmentID: cb.ID}, []int64{notes[1].ID, notes[0].ID}},
			{"Void", refund.InvoiceFilter{MerchantID: m.ID, AdjustmentID: void.ID}, []int64{voidNote.ID}},
			{"AnotherOrdersAdjustment", refund.InvoiceFilter{MerchantID: m.ID, AdjustmentID: elsewhere.ID}, []int64{elsewhereNote.ID}},
			{"WithItsOrder", refund.InvoiceFilter{MerchantID: m.ID, OrderID: o.ID, AdjustmentID: void.ID, Type: refund.InvoiceRefund}, []int64{voidNote.ID}},
			{"WithAnotherOrder", refund.InvoiceFilter{MerchantID: m.ID, OrderID: other.ID, AdjustmentID: void.ID}, nil},
			{"Cursor", refund.InvoiceFilter{MerchantID: m.ID, AdjustmentID: cb.ID, Cursor: notes[1].ID}, []int64{notes[0].ID}},
			{"Unknown", refund.InvoiceFilter{MerchantID: m.ID, AdjustmentID: "cb_missing"}, nil},
			{"OtherMerchant", refund.InvoiceFilter{MerchantID: f.mustCreateMerchant().ID, AdjustmentID: cb.ID}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				sf := f.sub(t)
				if got := invoiceIDs(sf.listInvoices(tc.filter)); !slices.Equal(got, tc.want) {
					t.Fatalf("ListInvoices = %v, want %v", got, tc.want)
				}
				var n int
				sf.mustView(func(tx refund.Tx) (err error) {
					n, err = tx.CountInvoices(f.ctx, tc.filter)
					return err
				})
				want := len(tc.want)
				if tc.filter.Cursor != 0 {
					want = 2 // Count ignores the cursor
				}
				if n != want {
					t.Fatalf("CountInvoices = %d, want %d", n, want)
				}
			})
		}
	}},
	{"Resplit", func(t *testing.T, f *fixture) {
		// Only a void note outside the chain takes a new VAT split; its
		// amounts and everything else stay.
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID, withItemsAndVendors)
		sale := newSaleInvoice(o, 1)
		f.mustCreateInvoice(sale)
		r := f.mustCreateRefund(o)
		note := newRefundInvoice(sale, r.ID, 2)
		f.mustCreateInvoice(note)
		resplit := func(inv *refund.Invoice) error {
			return f.update(func(tx refund.Tx) error { return tx.ResplitInvoice(f.ctx, inv) })
		}
		split := *note
		split.Lines = slices.Clone(note.Lines)
		split.TotalExcludingTax, split.TaxAmount, split.Lines[0].TotalExcludingTax, split.Lines[0].TaxAmount = 4347, 653, 4347, 653
		wantCode(t, resplit(&split), refund.EConflict) // pending
		note.Status = refund.InvoiceVoid
		f.mustUpdate(func(tx refund.Tx) error { return tx.UpdateInvoice(f.ctx, note) })
		split.Status = note.Status
		if err := resplit(&split); err != nil {
			t.Fatal(err)
		}
		wantSame(t, "resplit note", f.mustGetInvoice(note.ID), &split)
		wantCode(t, resplit(sale), refund.EConflict) // not void
		chained := split
		chained.ICV = 7
		f.mustUpdate(func(tx refund.Tx) error { return tx.UpdateInvoice(f.ctx, &chained) })
		wantCode(t, resplit(&chained), refund.EConflict)
		// Sealed outside the chain (a non-SAR order's document): ICV 0,
		// but sealed all the same.
		sealed := split
		sealed.ICV, sealed.Hash = 0, "c2VhbGVk"
		f.mustUpdate(func(tx refund.Tx) error { return tx.UpdateInvoice(f.ctx, &sealed) })
		wantCode(t, resplit(&sealed), refund.EConflict)
	}},
	{"ParentLink", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID, withItemsAndVendors)
		parent := newSaleInvoice(o, 1)
		f.mustCreateInvoice(parent)
		r := f.mustCreateRefund(o)
		child := newRefundInvoice(parent, r.ID, 2)
		f.mustCreateInvoice(child)
		got := f.mustGetInvoice(child.ID)
		wantSame(t, "refund invoice", got, child)
		if got.ParentID != parent.ID || got.Lines[0].ParentLineID != parent.Lines[0].ID {
			t.Fatalf("parent link = invoice %d line %d, want %d and %d", got.ParentID, got.Lines[0].ParentLineID, parent.ID, parent.Lines[0].ID)
		}
		for _, tc := range []struct {
			name   string
			filter refund.InvoiceFilter
			want   []int64
		}{
			{"Merchant", refund.InvoiceFilter{MerchantID: m.ID}, []int64{child.ID, parent.ID}},
			{"Order", refund.InvoiceFilter{MerchantID: m.ID, OrderID: o.ID}, []int64{child.ID, parent.ID}},
			{"Parent", refund.InvoiceFilter{MerchantID: m.ID, ParentID: parent.ID}, []int64{child.ID}},
			{"Refund", refund.InvoiceFilter{MerchantID: m.ID, RefundID: r.ID}, []int64{child.ID}},
			{"TypeSale", refund.InvoiceFilter{MerchantID: m.ID, Type: refund.InvoiceSale}, []int64{parent.ID}},
			{"StatusPending", refund.InvoiceFilter{MerchantID: m.ID, Status: refund.InvoicePending}, []int64{child.ID}},
			{"ZATCAReported", refund.InvoiceFilter{MerchantID: m.ID, ZATCAStatus: refund.ZATCAReported}, []int64{parent.ID}},
			{"Serial", refund.InvoiceFilter{MerchantID: m.ID, Serial: parent.Serial}, []int64{parent.ID}},
			{"Cursor", refund.InvoiceFilter{MerchantID: m.ID, Cursor: child.ID}, []int64{parent.ID}},
			{"Offset", refund.InvoiceFilter{MerchantID: m.ID, Offset: 1, Limit: 5}, []int64{parent.ID}},
			{"Limit", refund.InvoiceFilter{MerchantID: m.ID, Limit: 1}, []int64{child.ID}},
			{"OtherMerchant", refund.InvoiceFilter{MerchantID: f.mustCreateMerchant().ID}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				sf := f.sub(t)
				if got := invoiceIDs(sf.listInvoices(tc.filter)); !slices.Equal(got, tc.want) {
					t.Fatalf("ListInvoices = %v, want %v", got, tc.want)
				}
				var n int
				sf.mustView(func(tx refund.Tx) (err error) {
					n, err = tx.CountInvoices(f.ctx, tc.filter)
					return err
				})
				// Count ignores cursor, offset and limit.
				want := len(tc.want)
				if tc.filter.Cursor != 0 || tc.filter.Offset != 0 || tc.filter.Limit != 0 {
					want = 2
				}
				if n != want {
					t.Fatalf("CountInvoices = %d, want %d", n, want)
				}
			})
		}
		lists := f.listInvoices(refund.InvoiceFilter{MerchantID: m.ID})
		wantSame(t, "listed refund invoice", lists[0], child)
		wantSame(t, "listed tax invoice", lists[1], parent)
	}},
	{"Unique", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID, withItemsAndVendors)
		parent := newSaleInvoice(o, 1)
		f.mustCreateInvoice(parent)
		r := f.mustCreateRefund(o)
		f.mustCreateInvoice(newRefundInvoice(parent, r.ID, 2))
		for _, tc := range []struct {
			name string
			inv  *refund.Invoice
		}{
			{"SecondTaxInvoiceOfOrder", newSaleInvoice(o, 3)},
			{"SecondRefundInvoiceOfRefund", newRefundInvoice(parent, r.ID, 4)},
			{"SerialReused", newRefundInvoice(parent, f.mustCreateRefund(o, func(r *refund.Refund) { r.Seq = 2 }).ID, 1)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := f.update(func(tx refund.Tx) error { return tx.CreateInvoice(f.ctx, tc.inv) })
				wantCode(t, err, refund.EConflict)
			})
		}
		if got := invoiceIDs(f.listInvoices(refund.InvoiceFilter{MerchantID: m.ID})); len(got) != 2 {
			t.Fatalf("refused invoices were stored: %v", got)
		}
	}},
	{"Update", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID, withItemsAndVendors)
		parent := newSaleInvoice(o, 1)
		f.mustCreateInvoice(parent)
		child := newRefundInvoice(parent, f.mustCreateRefund(o).ID, 2)
		f.mustCreateInvoice(child)
		child.Status, child.ZATCAStatus, child.InvoiceError, child.UpdatedAt = refund.InvoicePaid, refund.ZATCAAborted, "parent not reported", t0.Add(time.Hour)
		child.IssuedAt = t0.Add(time.Hour) // a credit note is issued when its refund succeeds
		f.mustUpdate(func(tx refund.Tx) error { return tx.UpdateInvoice(f.ctx, child) })
		wantSame(t, "updated invoice", f.mustGetInvoice(child.ID), child)
		err := f.update(func(tx refund.Tx) error {
			return tx.UpdateInvoice(f.ctx, &refund.Invoice{ID: child.ID + 1000, Status: refund.InvoiceVoid, ZATCAStatus: refund.ZATCANotSubmitted})
		})
		wantCode(t, err, refund.EInvoiceNotFound)
	}},
	{"NumbersPerMerchantAndYear", func(t *testing.T, f *fixture) {
		m, other := f.mustCreateMerchant(), f.mustCreateMerchant()
		next := func(merchant string, year int) int64 {
			var n int64
			f.mustUpdate(func(tx refund.Tx) (err error) {
				n, err = tx.NextInvoiceNumber(f.ctx, merchant, year)
				return err
			})
			return n
		}
		got := []int64{next(m.ID, 2025), next(m.ID, 2025), next(other.ID, 2025), next(m.ID, 2026), next(m.ID, 2025)}
		if want := []int64{1, 2, 1, 1, 3}; !slices.Equal(got, want) {
			t.Fatalf("NextInvoiceNumber = %v, want %v", got, want)
		}
		// A rolled-back transaction gives its number back.
		err := f.update(func(tx refund.Tx) error {
			if _, err := tx.NextInvoiceNumber(f.ctx, m.ID, 2025); err != nil {
				return err
			}
			return refund.Errorf(refund.EConflict, "", "roll back")
		})
		wantCode(t, err, refund.EConflict)
		if n := next(m.ID, 2025); n != 4 {
			t.Fatalf("after a rollback NextInvoiceNumber = %d, want 4", n)
		}
	}},
	{"SerialsGaplessUnderConcurrency", func(t *testing.T, f *fixture) {
		// Concurrent transactions each take a number and issue an invoice;
		// every third one then fails and rolls back. The committed serials
		// are 1..n with no hole, and in the order of the invoices' ids.
		m := f.mustCreateMerchant()
		const n = 30
		orders := make([]*refund.Order, n)
		for i := range orders {
			orders[i] = f.mustCreateOrder(m.ID, withItemsAndVendors)
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				errs[i] = f.update(func(tx refund.Tx) error {
					num, err := tx.NextInvoiceNumber(f.ctx, m.ID, 2025)
					if err != nil {
						return err
					}
					if err := tx.CreateInvoice(f.ctx, newSaleInvoice(orders[i], num)); err != nil {
						return err
					}
					if i%3 == 2 {
						return refund.Errorf(refund.EConflict, "", "fail after issuing")
					}
					return nil
				})
			})
		}
		wg.Wait()
		committed := 0
		for i, err := range errs {
			if i%3 == 2 {
				wantCode(t, err, refund.EConflict)
				continue
			}
			if err != nil {
				t.Fatalf("transaction %d: %v", i, err)
			}
			committed++
		}
		invs := f.listInvoices(refund.InvoiceFilter{MerchantID: m.ID})
		slices.Reverse(invs) // oldest first
		if len(invs) != committed {
			t.Fatalf("%d invoices stored, want %d", len(invs), committed)
		}
		for i, inv := range invs {
			if want := fmt.Sprintf("INV-2025%05d", i+1); inv.Number != int64(i+1) || inv.Serial != want {
				t.Fatalf("invoice %d (id %d) has number %d serial %s, want %d %s", i, inv.ID, inv.Number, inv.Serial, i+1, want)
			}
		}
	}},
	{"Config", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		f.mustView(func(tx refund.Tx) error {
			_, err := tx.GetInvoiceConfig(f.ctx, m.ID)
			wantCode(t, err, refund.ENotFound)
			return nil
		})
		for _, c := range []*refund.InvoiceConfig{
			{MerchantID: m.ID, SerialPrefix: "SOUQ-", SellerName: "Souq Trading", VATNumber: "310122393500003", ZATCAEnabled: true, UpdatedAt: t0},
			{MerchantID: m.ID, SerialPrefix: "INV-", ZATCAEnabled: false, UpdatedAt: t0.Add(time.Hour)},
			// The seller's CRN and address, then cleared again.
			{MerchantID: m.ID, SerialPrefix: "INV-", ZATCAEnabled: true, UpdatedAt: t0.Add(2 * time.Hour), CRN: "1010010000",
				Address: refund.Address{Street: "King Fahd Road", BuildingNumber: "2322", District: "Al Olaya", City: "Riyadh", PostalCode: "12214"}},
			{MerchantID: m.ID, SerialPrefix: "INV-", ZATCAEnabled: true, UpdatedAt: t0.Add(3 * time.Hour)},
		} {
			f.mustUpdate(func(tx refund.Tx) error { return tx.PutInvoiceConfig(f.ctx, c) })
			f.mustView(func(tx refund.Tx) error {
				got, err := tx.GetInvoiceConfig(f.ctx, m.ID)
				if err != nil {
					return err
				}
				wantSame(t, "GetInvoiceConfig", got, c)
				return nil
			})
		}
	}},
}

// InvoiceLookups are the invoice filters refund.Service reads one invoice,
// or one order's or refund's invoices, with: the sale invoice of an order,
// every invoice of an order (the API's list by order), its debit notes, a
// refund's credit note, a refund's invoices, a sale invoice's credit
// notes, a void's or chargeback's credit notes. A store serves each from an index that leads with the order, the
// refund or the parent, so none costs more as the merchant issues more
// invoices.
func InvoiceLookups() map[string]refund.InvoiceFilter {
	const m, o, r = "mer_1", "ord_1", "re_1"
	return map[string]refund.InvoiceFilter{
		"SaleOfOrder":       {MerchantID: m, OrderID: o, Type: refund.InvoiceSale, Limit: 1},
		"NotesOfOrder":      {MerchantID: m, OrderID: o, Limit: 1000},
		"DebitsOfOrder":     {MerchantID: m, OrderID: o, Type: refund.InvoiceDebit, Limit: 1000},
		"CreditOfRefund":    {MerchantID: m, RefundID: r, Type: refund.InvoiceRefund, Limit: 1},
		"InvoiceOfRefund":   {MerchantID: m, RefundID: r, Limit: 1},
		"CreditsOfInvoice":  {MerchantID: m, ParentID: 1, Limit: 1000},
		"NotesOfAdjustment": {MerchantID: m, AdjustmentID: "cb_1", Limit: 1000},
	}
}

// ByLookupIndex says whether a query plan reads invoices through an index
// that leads with the order, the refund or the parent (invoices_order,
// invoices_order_sale, invoices_refund, invoices_parent), the indexes
// InvoiceLookups must use.
func ByLookupIndex(plan string) bool {
	for _, ix := range []string{"invoices_order", "invoices_refund", "invoices_parent"} {
		if strings.Contains(plan, ix) {
			return true
		}
	}
	return false
}
