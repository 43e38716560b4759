package storetest

import (
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

var discrepancyTests = []test{
	{"InsertOncePerRefundAndKind", func(t *testing.T, f *fixture) {
		m1, m2 := f.mustCreateMerchant(), f.mustCreateMerchant()
		o := f.mustCreateOrder(m1.ID)
		r := f.mustCreateRefund(o)
		newD := func(merchantID, refundID string, at time.Duration) *refund.Discrepancy {
			return &refund.Discrepancy{ID: f.id("dsc"), MerchantID: merchantID, Kind: refund.DiscrepancyExecutedNotRecorded,
				RefundID: refundID, OrderID: o.ID, Amount: 1000, Currency: "SAR", Detail: "executed after failed",
				CreatedAt: t0.Add(at)}
		}
		first := newD(m1.ID, r.ID, 0)
		insert := func(d *refund.Discrepancy) bool {
			var ok bool
			f.mustUpdate(func(tx refund.Tx) (err error) {
				ok, err = tx.InsertDiscrepancy(f.ctx, d)
				return err
			})
			return ok
		}
		if !insert(first) {
			t.Fatal("first InsertDiscrepancy reported nothing inserted")
		}
		if insert(newD(m1.ID, r.ID, time.Second)) {
			t.Fatal("a second discrepancy of the same kind for the same refund was inserted")
		}
		other := newD(m1.ID, f.mustCreateRefund(o).ID, 2*time.Second)
		if !insert(other) {
			t.Fatal("a discrepancy of another refund was not inserted")
		}
		var got []*refund.Discrepancy
		f.mustView(func(tx refund.Tx) (err error) {
			got, err = tx.ListDiscrepancies(f.ctx, refund.DiscrepancyFilter{MerchantID: m1.ID, Limit: 10})
			return err
		})
		if len(got) != 2 {
			t.Fatalf("listed %d discrepancies, want 2", len(got))
		}
		wantSame(t, "newest discrepancy", got[0], other)
		wantSame(t, "oldest discrepancy", got[1], first)
		f.mustView(func(tx refund.Tx) (err error) {
			got, err = tx.ListDiscrepancies(f.ctx, refund.DiscrepancyFilter{MerchantID: m1.ID, Cursor: other.ID, Limit: 10})
			return err
		})
		if len(got) != 1 || got[0].ID != first.ID {
			t.Fatalf("page after the cursor = %v, want only %s", got, first.ID)
		}
		f.mustView(func(tx refund.Tx) (err error) {
			got, err = tx.ListDiscrepancies(f.ctx, refund.DiscrepancyFilter{MerchantID: m2.ID, Limit: 10})
			return err
		})
		if len(got) != 0 {
			t.Fatalf("another merchant sees %d discrepancies", len(got))
		}
		var n int64
		f.mustView(func(tx refund.Tx) (err error) {
			n, err = tx.CountDiscrepancies(f.ctx)
			return err
		})
		if n != 2 {
			t.Fatalf("CountDiscrepancies = %d, want 2", n)
		}
	}},
	{"StoreClock", func(t *testing.T, f *fixture) {
		// The store's clock is a real clock: it moves forward and is near
		// this host's (both run on the test machine).
		a, err := f.store.Now(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, err := f.store.Now(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if b.Before(a) {
			t.Fatalf("store clock went back: %v then %v", a, b)
		}
		if d := time.Since(a); d < -time.Minute || d > time.Minute {
			t.Fatalf("store clock is %v away from this host's", d)
		}
	}},
}
