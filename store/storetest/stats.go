package storetest

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

var statsTests = []test{
	{"Empty", func(t *testing.T, f *fixture) {
		f.mustView(func(tx refund.Tx) error {
			st, err := tx.Stats(f.ctx)
			if err == nil && (len(st.Refunds) != 0 || st.Pending != 0 || st.Processing != 0 || !st.Oldest.IsZero() || len(st.Deliveries) != 0 || !st.FirstDue.IsZero()) {
				t.Fatalf("Stats of an empty store = %+v", st)
			}
			return err
		})
	}},
	{"CountsAcrossMerchants", func(t *testing.T, f *fixture) {
		m1, m2 := f.mustCreateMerchant(), f.mustCreateMerchant()
		o1, o2 := f.mustCreateOrder(m1.ID), f.mustCreateOrder(m2.ID)
		set := func(st refund.Status, surface, code string, created time.Time) func(*refund.Refund) {
			return func(r *refund.Refund) {
				r.Status, r.Surface, r.FailureCode, r.Amount, r.CreatedAt = st, surface, code, 100, created
			}
		}
		f.mustCreateRefund(o1, set(refund.StatusSucceeded, "native", "", t0))
		f.mustCreateRefund(o2, set(refund.StatusSucceeded, "native", "", t0))
		f.mustCreateRefund(o1, set(refund.StatusFailed, "sgate", "51", t0))
		f.mustCreateRefund(o1, set(refund.StatusProcessing, "gateway", "", t0.Add(time.Minute)))
		f.mustCreateRefund(o2, set(refund.StatusProcessing, "native", "", t0.Add(-time.Minute)))
		f.mustCreateRefund(o2, set(refund.StatusPending, "native", "", t0))
		ev := f.mustCreateEvent(m1.ID, refund.EventRefundCreated, "", t0)
		f.mustCreateDelivery(ev, f.mustCreateEndpoint(m1.ID).ID, t0)
		f.mustCreateDelivery(ev, f.mustCreateEndpoint(m2.ID).ID, t0.Add(-time.Hour))
		done := f.mustCreateDelivery(ev, f.mustCreateEndpoint(m2.ID).ID, t0.Add(-2*time.Hour))
		f.mustUpdate(func(tx refund.Tx) error {
			done.Status = refund.DeliverySucceeded
			return tx.UpdateDelivery(f.ctx, done)
		})

		var st *refund.Stats
		f.mustView(func(tx refund.Tx) (err error) {
			st, err = tx.Stats(f.ctx)
			return err
		})
		want := []refund.RefundCount{
			{Surface: "gateway", Status: refund.StatusProcessing, Currency: "SAR", Count: 1, Amount: 100},
			{Surface: "native", Status: refund.StatusPending, Currency: "SAR", Count: 1, Amount: 100},
			{Surface: "native", Status: refund.StatusProcessing, Currency: "SAR", Count: 1, Amount: 100},
			{Surface: "native", Status: refund.StatusSucceeded, Currency: "SAR", Count: 2, Amount: 200},
			{Surface: "sgate", Status: refund.StatusFailed, FailureCode: "51", Currency: "SAR", Count: 1, Amount: 100},
		}
		if !slices.Equal(st.Refunds, want) {
			t.Fatalf("Refunds = %+v\nwant      %+v", st.Refunds, want)
		}
		if st.Pending != 1 || st.Processing != 2 || !st.Oldest.Equal(t0.Add(-time.Minute)) {
			t.Fatalf("queue = %d pending, %d processing, oldest %v", st.Pending, st.Processing, st.Oldest)
		}
		if !slices.Equal(st.Deliveries, []refund.DeliveryCount{{Status: refund.DeliveryPending, Count: 2}, {Status: refund.DeliverySucceeded, Count: 1}}) {
			t.Fatalf("Deliveries = %+v", st.Deliveries)
		}
		if !st.FirstDue.Equal(t0.Add(-time.Hour)) { // the pending one due first; not the delivered one
			t.Fatalf("first due %v, want %v", st.FirstDue, t0.Add(-time.Hour))
		}
	}},
	{"AmountsBeyondInt64", func(t *testing.T, f *fixture) {
		// Refunds of orders of the largest amount, from two merchants:
		// their sum is past an int64, which must neither fail Stats (and
		// every scrape of /metrics with it) nor wrap negative. It is capped.
		for range 2 {
			o := f.mustCreateOrder(f.mustCreateMerchant().ID, func(o *refund.Order) { o.Amount, o.CapturedAmount = math.MaxInt64, math.MaxInt64 })
			f.mustCreateRefund(o, func(r *refund.Refund) { r.Status, r.Amount = refund.StatusSucceeded, math.MaxInt64 })
		}
		var st *refund.Stats
		f.mustView(func(tx refund.Tx) (err error) {
			st, err = tx.Stats(f.ctx)
			return err
		})
		if len(st.Refunds) != 1 || st.Refunds[0].Count != 2 || st.Refunds[0].Amount != math.MaxInt64 {
			t.Fatalf("Refunds = %+v, want 2 refunds of at least %d", st.Refunds, int64(math.MaxInt64))
		}
	}},
}
