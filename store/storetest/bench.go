package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundd/refundd/invoice"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/refund"
)

// Benchmark measures the store's share of a refund, the same on every
// backend: the guarded reservation on the order and its capture plus the
// refund insert, in one Update. Serial runs one writer; Parallel runs
// GOMAXPROCS*4 writers on distinct orders (spread) and on one order (hot).
// newStore returns a fresh, migrated, empty store closed when b ends.
func Benchmark(b *testing.B, newStore func(b *testing.B) refund.Store) {
	for _, bc := range []struct {
		name     string
		parallel bool
		hot      bool
	}{{"Serial", false, false}, {"ParallelSpread", true, false}, {"ParallelHot", true, true}} {
		b.Run(bc.name, func(b *testing.B) {
			st := newStore(b)
			ctx := context.Background()
			var n atomic.Int64
			id := func(prefix string) string { return fmt.Sprintf("%s_%012d", prefix, n.Add(1)) }
			m := &refund.Merchant{ID: id("mer"), Name: "Bench", CreatedAt: t0}
			if err := st.Update(ctx, func(tx refund.Tx) error { return tx.CreateMerchant(ctx, m) }); err != nil {
				b.Fatal(err)
			}
			// Orders big enough that no reservation is refused.
			newOrder := func() *refund.Order {
				oid := id("ord")
				o := &refund.Order{ID: oid, MerchantID: m.ID, Reference: "REF-" + oid, Currency: "SAR",
					Amount: 1 << 40, CapturedAmount: 1 << 40, PaymentMethod: "card", CreatedAt: t0, UpdatedAt: t0,
					Transactions: []refund.Transaction{{ID: id("txn"), OrderID: oid, Type: refund.TxCapture,
						Status: refund.TxSucceeded, Amount: 1 << 40, CreatedAt: t0}}}
				if err := st.Update(ctx, func(tx refund.Tx) error { return tx.CreateOrder(ctx, o) }); err != nil {
					b.Fatal(err)
				}
				return o
			}
			hot := newOrder()
			refundOnce := func(o *refund.Order) error {
				return st.Update(ctx, func(tx refund.Tx) error {
					r := &refund.Refund{ID: id("ref"), MerchantID: m.ID, OrderID: o.ID, CaptureID: o.Transactions[0].ID,
						Amount: 100, Currency: "SAR", Status: refund.StatusProcessing, Surface: "bench",
						NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0}
					seq, err := tx.ReserveRefund(ctx, refund.BalancesOf(r))
					if err != nil {
						return err
					}
					r.Seq = seq
					return tx.CreateRefund(ctx, r)
				})
			}
			b.ReportAllocs()
			if !bc.parallel {
				for b.Loop() {
					if err := refundOnce(hot); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				o := hot
				if !bc.hot {
					o = newOrder()
				}
				for pb.Next() {
					if err := refundOnce(o); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// historyRefunds is how many earlier refunds BenchmarkRefundHistory gives
// its order: a hot order after a busy day.
const historyRefunds = 10_000

// BenchmarkRefundHistory measures one whole refund as refund.Service makes
// it on this store (reservation, processor call, result: each step in its
// own committed transaction, the processor approving at once), one at a
// time, on a fresh order and on an order that already has 10,000 refunds.
// The two must cost the same: nothing a refund reads may grow with the
// refunds its order already had. On the fresh order the refunds of the run
// itself are its whole history (a few hundred at -benchtime 300x).
func BenchmarkRefundHistory(b *testing.B, newStore func(b *testing.B) refund.Store) {
	for _, bc := range []struct {
		name    string
		history int
	}{{"Fresh", 0}, {"History10k", historyRefunds}} {
		b.Run(bc.name, func(b *testing.B) {
			st := newStore(b)
			ctx := context.Background()
			svc, id := newService(b, st, approver{}, nil)
			m := &refund.Merchant{ID: id("mer"), Name: "Bench", CreatedAt: t0}
			if err := st.Update(ctx, func(tx refund.Tx) error { return tx.CreateMerchant(ctx, m) }); err != nil {
				b.Fatal(err)
			}
			o := seedOrder(b, st, m.ID, id, bc.history)
			p := refund.Principal{MerchantID: m.ID, KeyPrefix: "bench", Scopes: []string{refund.ScopeRefundsWrite}}
			one := int64(1)
			b.ReportAllocs()
			for b.Loop() {
				r, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o, Amount: &one})
				if err != nil {
					b.Fatal(err)
				}
				if r.Status != refund.StatusSucceeded {
					b.Fatalf("refund %s is %s", r.ID, r.Status)
				}
			}
		})
	}
}

// seedOrder creates an order that can never run out and gives it history
// earlier refunds of 1 unit, stored as refund.Service leaves a succeeded
// refund: the refund row, its transitions, its refund transaction on the
// order and the order's and capture's counters. It returns the order's id.
func seedOrder(b *testing.B, st refund.Store, merchantID string, id func(string) string, history int) string {
	b.Helper()
	ctx := context.Background()
	const amount = 1 << 50
	oid, capture := id("ord"), id("txn")
	o := &refund.Order{ID: oid, MerchantID: merchantID, Reference: "REF-" + oid, Currency: "SAR",
		Amount: amount, CapturedAmount: amount, RefundedAmount: int64(history), RefundCount: history,
		PaymentMethod: "card", CreatedAt: t0, UpdatedAt: t0,
		Transactions: []refund.Transaction{{ID: capture, OrderID: oid, Seq: 1, Type: refund.TxCapture,
			Status: refund.TxSucceeded, Amount: amount, RefundedAmount: int64(history), CreatedAt: t0}}}
	var refunds []*refund.Refund
	for i := range history {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		r := &refund.Refund{ID: id("re"), MerchantID: merchantID, OrderID: oid, Seq: i + 1, Amount: 1, Currency: "SAR",
			Status: refund.StatusSucceeded, CaptureID: capture, Surface: "native", Attempts: 1, NextAttemptAt: at,
			RequestHash: "hash", Version: 3, CreatedAt: at, UpdatedAt: at, CreatedBy: "bench"}
		refunds = append(refunds, r)
		o.Transactions = append(o.Transactions, refund.Transaction{ID: id("txn"), OrderID: oid, Seq: i + 2,
			Type: refund.TxRefund, Status: refund.TxSucceeded, Amount: 1, RefundID: r.ID, ResponseCode: "00",
			Message: "Approved", CreatedAt: at})
	}
	if err := st.Update(ctx, func(tx refund.Tx) error { return tx.CreateOrder(ctx, o) }); err != nil {
		b.Fatal(err)
	}
	const chunk = 500
	for len(refunds) > 0 {
		part := refunds[:min(chunk, len(refunds))]
		refunds = refunds[len(part):]
		err := st.Update(ctx, func(tx refund.Tx) error {
			for _, r := range part {
				if err := tx.CreateRefund(ctx, r); err != nil {
					return err
				}
				for _, tr := range []refund.Transition{
					{RefundID: r.ID, To: refund.StatusPending, Cause: "created via native", At: r.CreatedAt},
					{RefundID: r.ID, From: refund.StatusPending, To: refund.StatusProcessing, Cause: "submitted", At: r.CreatedAt},
					{RefundID: r.ID, From: refund.StatusProcessing, To: refund.StatusSucceeded, Cause: "approved", At: r.CreatedAt},
				} {
					if err := tx.InsertTransition(ctx, tr); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return oid
}

// newService is a refund.Service on st, its ids from a counter (returned),
// with no sweeps: what the benchmarks and checks that go through the core
// start from. inv nil: no invoicing.
func newService(tb testing.TB, st refund.Store, proc processor.Processor, inv refund.Invoicer) (*refund.Service, func(string) string) {
	tb.Helper()
	var n atomic.Int64
	id := func(prefix string) string { return fmt.Sprintf("%s_%012d", prefix, n.Add(1)) }
	svc, err := refund.NewService(refund.Config{Store: st, Processor: proc, Invoicer: inv, NewID: id, SweepAges: []time.Duration{}})
	if err != nil {
		tb.Fatal(err)
	}
	return svc, id
}

// approver is a processor that approves every refund at once.
type approver struct{}

func (approver) Refund(context.Context, processor.Request) (processor.Result, error) {
	return processor.Result{Status: processor.Approved, ResponseCode: "00", Message: "Approved", RRN: "000000000001"}, nil
}

func (approver) Status(context.Context, string) (processor.Result, error) {
	return processor.Result{Status: processor.Approved, ResponseCode: "00", Message: "Approved"}, nil
}

// invoiceHistory is how many invoices of other orders
// BenchmarkInvoiceHistory gives its merchant.
const invoiceHistory = 10_000

// BenchmarkInvoiceHistory measures one whole refund of an invoiced order
// (reservation with its pending credit note, processor call, result
// settling the note), one at a time: for a fresh merchant, for one with
// 10,000 invoices of other orders, and on an order that already has
// 10,000 credit notes. The three must cost the same: a refund's invoice
// lookups are by order or refund, never a walk through the merchant's
// invoices, and a credit note starts from what its tax invoice says it
// has credited, not from every note before it.
func BenchmarkInvoiceHistory(b *testing.B, newStore func(b *testing.B) refund.Store) {
	for _, bc := range []struct {
		name     string
		invoices int // of other orders
		notes    int // of the order
	}{{"Fresh", 0, 0}, {"Merchant10k", invoiceHistory, 0}, {"Order10k", 0, invoiceHistory}} {
		b.Run(bc.name, func(b *testing.B) {
			st := newStore(b)
			ctx := context.Background()
			svc, id := newService(b, st, approver{}, invoice.New(invoice.Sandbox{}))
			m := &refund.Merchant{ID: id("mer"), Name: "Bench", VATNumber: "310122393500003", CreatedAt: t0}
			if err := st.Update(ctx, func(tx refund.Tx) error { return tx.CreateMerchant(ctx, m) }); err != nil {
				b.Fatal(err)
			}
			seedInvoices(b, st, m.ID, id, bc.invoices)
			p := refund.Principal{MerchantID: m.ID, KeyPrefix: "bench",
				Scopes: []string{refund.ScopeOrdersWrite, refund.ScopeRefundsWrite}}
			o, err := svc.CreateOrder(ctx, p, refund.OrderInput{Reference: "REF-BENCH", Currency: "SAR", Amount: 1 << 40,
				PaymentMethod: "card", Items: []refund.ItemInput{{ID: "line-1", SKU: "SKU-1", NameEN: "Dates", Qty: 1, UnitAmount: 1 << 40}}})
			if err != nil {
				b.Fatal(err)
			}
			seedNotes(b, st, m.ID, o.ID, bc.notes)
			one := int64(1)
			b.ReportAllocs()
			for b.Loop() {
				r, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Amount: &one})
				if err != nil {
					b.Fatal(err)
				}
				if r.Status != refund.StatusSucceeded {
					b.Fatalf("refund %s is %s", r.ID, r.Status)
				}
			}
			b.StopTimer()
			err = st.View(ctx, func(tx refund.Tx) error {
				notes, err := tx.ListInvoices(ctx, refund.InvoiceFilter{MerchantID: m.ID, OrderID: o.ID, Type: refund.InvoiceRefund, Limit: 1})
				if err == nil && len(notes) == 0 {
					err = fmt.Errorf("no credit note issued for order %s", o.ID)
				}
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		})
	}
}

// seedNotes gives order orderID count paid credit notes of one unit of
// its tax invoice's first line, and counts them as credited, as
// refund.Service leaves them.
func seedNotes(b *testing.B, st refund.Store, merchantID, orderID string, count int) {
	b.Helper()
	if count == 0 {
		return
	}
	ctx := context.Background()
	var sale *refund.Invoice
	err := st.View(ctx, func(tx refund.Tx) error {
		invs, err := tx.ListInvoices(ctx, refund.InvoiceFilter{MerchantID: merchantID, OrderID: orderID, Type: refund.InvoiceSale})
		if err == nil && len(invs) == 1 {
			sale = invs[0]
		}
		return err
	})
	if err != nil || sale == nil {
		b.Fatalf("tax invoice of %s: %v", orderID, err)
	}
	pl := sale.Lines[0]
	const chunk = 500
	for done := 0; done < count; {
		part := min(chunk, count-done)
		err := st.Update(ctx, func(tx refund.Tx) error {
			for i := range part {
				n := done + i + 1
				note := &refund.Invoice{MerchantID: merchantID, OrderID: orderID, RefundID: fmt.Sprintf("re_old_%06d", n),
					ParentID: sale.ID, ParentSerial: sale.Serial, Serial: fmt.Sprintf("CN-OLD-%06d", n), Number: int64(n),
					Type: refund.InvoiceRefund, Status: refund.InvoicePaid, Currency: sale.Currency, Seller: sale.Seller,
					Customer: sale.Customer, PaymentMethod: sale.PaymentMethod,
					Lines: []refund.InvoiceLine{{ItemID: pl.ItemID, ParentLineID: pl.ID, SKU: pl.SKU, NameEN: pl.NameEN, Qty: 0,
						UnitAmount: pl.UnitAmount, Amount: 1, NetAmount: 1, TotalExcludingTax: 1, TaxRate: pl.TaxRate, Taxable: pl.Taxable}},
					SubTotalAmount: 1, NetAmount: 1, TotalExcludingTax: 1, TotalAmount: 1, TaxRate: pl.TaxRate,
					ZATCAStatus: refund.ZATCAReported, IssuedAt: t0, CreatedAt: t0, UpdatedAt: t0}
				if err := tx.CreateInvoice(ctx, note); err != nil {
					return err
				}
			}
			return tx.AddCredited(ctx, sale.ID, map[int64]refund.Credit{pl.ID: {Amount: int64(part), ExcludingTax: int64(part)}}, refund.Credit{})
		})
		if err != nil {
			b.Fatal(err)
		}
		done += part
	}
}

// SeedInvoices creates merchantID and count orders of it, each with its
// tax invoice, as a merchant has after a while.
func SeedInvoices(tb testing.TB, st refund.Store, merchantID string, count int) {
	tb.Helper()
	ctx := context.Background()
	m := &refund.Merchant{ID: merchantID, Name: "Seeded", VATNumber: "310122393500003", CreatedAt: t0}
	if err := st.Update(ctx, func(tx refund.Tx) error { return tx.CreateMerchant(ctx, m) }); err != nil {
		tb.Fatal(err)
	}
	var n int
	id := func(prefix string) string { n++; return fmt.Sprintf("%s_%s_%06d", prefix, merchantID, n) }
	seedInvoices(tb, st, merchantID, id, count)
}

// seedInvoices gives merchantID count orders, each with its tax invoice.
func seedInvoices(tb testing.TB, st refund.Store, merchantID string, id func(string) string, count int) {
	tb.Helper()
	ctx := context.Background()
	const chunk = 500
	for done := 0; done < count; {
		part := min(chunk, count-done)
		err := st.Update(ctx, func(tx refund.Tx) error {
			for i := range part {
				oid := id("ord")
				o := &refund.Order{ID: oid, MerchantID: merchantID, Reference: "REF-" + oid, Currency: "SAR",
					Amount: 30000, CapturedAmount: 30000, PaymentMethod: "mada", CreatedAt: t0, UpdatedAt: t0,
					Transactions: []refund.Transaction{{ID: id("txn"), OrderID: oid, Seq: 1, Type: refund.TxCapture,
						Status: refund.TxSucceeded, Amount: 30000, CreatedAt: t0}}}
				if err := tx.CreateOrder(ctx, o); err != nil {
					return err
				}
				inv := newSaleInvoice(o, int64(done+i+1))
				inv.Serial = fmt.Sprintf("OLD-%06d", done+i+1)
				if err := tx.CreateInvoice(ctx, inv); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
		done += part
	}
}
