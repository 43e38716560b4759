package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

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
					if err := tx.AdjustBalances(ctx, refund.BalancesOf(r), refund.Reserve); err != nil {
						return err
					}
					seq, err := tx.NextRefundSeq(ctx, o.ID)
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
