package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/refundd/refundd/invoice"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/refund"
)

// CheckCreditedBackfill checks a store's backfill of what tax invoices
// have credited (migrations 0019 and 0030: the amounts, then the net and
// VAT the notes state of them) against what refund.Service keeps: it
// issues credit notes through the Service (paid, pending, voided by a
// cancel, taken back by a debit note), calls backfill, which must forget
// the kept values and work them out again from the notes as the
// migration does, and compares.
func CheckCreditedBackfill(t *testing.T, st refund.Store, backfill func(ctx context.Context) error) {
	t.Helper()
	ctx := context.Background()
	svc, _ := newService(t, st, reverser{}, invoice.New(nil))
	_, key, err := svc.CreateMerchant(ctx, refund.MerchantInput{Name: "Souq", VATNumber: "310122393500003"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.Authenticate(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	amount := func(v int64) *int64 { return &v }
	var sales []int64
	for range 2 {
		o, err := svc.CreateOrder(ctx, p, refund.OrderInput{Currency: "SAR", Amount: 5500, // 500 of shipping
			Items: []refund.ItemInput{{ID: "a", Qty: 2, UnitAmount: 1033}, {ID: "b", Qty: 1, UnitAmount: 2934, TaxRate: "5"}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range []refund.RefundInput{
			{Amount: amount(699)},
			{Items: []refund.RefundItemInput{{ItemID: "a", Qty: 1}}},
			{Amount: amount(333), Queue: true}, // pending
			{Amount: amount(250), Queue: true}, // canceled below: void
		} {
			in.OrderID = o.ID
			r, err := svc.CreateRefund(ctx, p, in)
			if err != nil {
				t.Fatal(err)
			}
			if in.Amount != nil && *in.Amount == 250 {
				if _, err := svc.CancelRefund(ctx, p, r.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		r, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Items: []refund.RefundItemInput{{ItemID: "b", Qty: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		if r, err = svc.SyncRefund(ctx, p, r.ID); err != nil || r.Status != refund.StatusReversed {
			t.Fatalf("sync: %v %v, want a reversed refund (and its debit note)", r, err)
		}
		var sale *refund.Invoice
		err = st.View(ctx, func(tx refund.Tx) error {
			invs, err := tx.ListInvoices(ctx, refund.InvoiceFilter{MerchantID: p.MerchantID, OrderID: o.ID, Type: refund.InvoiceSale})
			if err == nil && len(invs) == 1 {
				sale = invs[0]
			}
			return err
		})
		if err != nil || sale == nil {
			t.Fatalf("tax invoice of %s: %v", o.ID, err)
		}
		sales = append(sales, sale.ID)
	}
	credited := func() map[int64][]int64 {
		got := map[int64][]int64{}
		err := st.View(ctx, func(tx refund.Tx) error {
			for _, id := range sales {
				inv, err := tx.GetInvoice(ctx, p.MerchantID, id)
				if err != nil {
					return err
				}
				got[id] = append(got[id], inv.CreditedShipping, inv.CreditedShippingExcludingTax, inv.CreditedShippingTax)
				for _, l := range inv.Lines {
					got[id] = append(got[id], l.Credited, l.CreditedExcludingTax, l.CreditedTax)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	kept := credited()
	if err := backfill(ctx); err != nil {
		t.Fatalf("backfill: %v", err)
	}
	if got := credited(); fmt.Sprint(got) != fmt.Sprint(kept) {
		t.Fatalf("backfilled (shipping, lines...) %v, the Service kept %v", got, kept)
	}
	for _, c := range kept {
		for i, v := range c[:9] { // shipping and the first line: amount, net, VAT
			if v == 0 {
				t.Fatalf("nothing credited to check at %d: %v", i, kept)
			}
		}
	}
}

// reverser approves every refund and, asked later, reports it reversed.
type reverser struct{}

func (reverser) Refund(context.Context, processor.Request) (processor.Result, error) {
	return processor.Result{Status: processor.Approved, ResponseCode: "00"}, nil
}

func (reverser) Status(context.Context, string) (processor.Result, error) {
	return processor.Result{Status: processor.Reversed, ResponseCode: "00"}, nil
}

// CreditedBackfill is what a store's backfill runs, one statement at a
// time: forget what the Service kept, then the UPDATEs of migration
// 0019_credited (migration, its text).
func CreditedBackfill(migration string) []string {
	return backfill(migration, `UPDATE invoice_lines SET credited_amount = 0`, `UPDATE invoices SET credited_shipping = 0`)
}

// CreditedSplitBackfill is CreditedBackfill for migration
// 0030_credited_split: the net and VAT the notes state.
func CreditedSplitBackfill(migration string) []string {
	return backfill(migration, `UPDATE invoice_lines SET credited_excluding_tax = 0, credited_tax = 0`,
		`UPDATE invoices SET credited_shipping_excluding_tax = 0, credited_shipping_tax = 0`)
}

// backfill is the statements forget, then the UPDATEs of migration.
func backfill(migration string, forget ...string) []string {
	stmts := forget
	for _, s := range strings.Split(migration, ";") {
		if i := strings.Index(s, "UPDATE "); i >= 0 {
			stmts = append(stmts, s[i:])
		}
	}
	return stmts
}
