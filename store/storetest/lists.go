package storetest

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

func (f *fixture) listOrders(filter refund.OrderFilter) []*refund.Order {
	f.t.Helper()
	var os []*refund.Order
	f.mustView(func(tx refund.Tx) (err error) {
		os, err = tx.ListOrders(f.ctx, filter)
		return err
	})
	return os
}

func (f *fixture) listRefunds(filter refund.RefundFilter) []*refund.Refund {
	f.t.Helper()
	var rs []*refund.Refund
	f.mustView(func(tx refund.Tx) (err error) {
		rs, err = tx.ListRefunds(f.ctx, filter)
		return err
	})
	return rs
}

func orderIDs(os []*refund.Order) []string {
	var ids []string
	for _, o := range os {
		ids = append(ids, o.ID)
	}
	return ids
}

var listTests = []test{
	{"RefundSummaryBeyondInt64", func(t *testing.T, f *fixture) {
		// Two refunds of orders of the largest amount on one day: their
		// sum is past an int64, which must neither fail the merchant's
		// overview nor wrap negative. It is capped.
		m := f.mustCreateMerchant()
		for range 2 {
			o := f.mustCreateOrder(m.ID, func(o *refund.Order) { o.Amount, o.CapturedAmount = math.MaxInt64, math.MaxInt64 })
			f.mustCreateRefund(o, func(r *refund.Refund) { r.Status, r.Amount = refund.StatusSucceeded, math.MaxInt64 })
		}
		var sum *refund.RefundSummary
		f.mustView(func(tx refund.Tx) (err error) {
			sum, err = tx.RefundSummary(f.ctx, m.ID, t0.Add(-time.Hour), 3*time.Hour)
			return err
		})
		if len(sum.Buckets) != 1 || sum.Buckets[0].Count != 2 || sum.Buckets[0].Amount != math.MaxInt64 {
			t.Fatalf("buckets %+v, want 2 refunds of at least %d", sum.Buckets, int64(math.MaxInt64))
		}
	}},
	{"RefundSummary", func(t *testing.T, f *fixture) {
		m, other := f.mustCreateMerchant(), f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID)
		offset := 3 * time.Hour
		day := func(at time.Time) time.Time { // the local day's start, in UTC
			l := at.Add(offset).UTC()
			return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, time.UTC).Add(-offset)
		}
		mk := func(at time.Time, st refund.Status, code string, amount int64) *refund.Refund {
			return f.mustCreateRefund(o, func(r *refund.Refund) {
				r.CreatedAt, r.UpdatedAt, r.Status, r.FailureCode, r.Amount = at, at, st, code, amount
			})
		}
		mk(t0.Add(-48*time.Hour), refund.StatusSucceeded, "", 999) // before since: not in the buckets
		mk(t0, refund.StatusSucceeded, "", 100)
		mk(t0.Add(time.Minute), refund.StatusSucceeded, "", 50)
		mk(t0.Add(time.Hour), refund.StatusFailed, "51", 200)
		late := t0.Add(15 * time.Hour) // 00:30 the next local day
		open := mk(late, refund.StatusProcessing, "", 300)
		mk(late.Add(time.Hour), refund.StatusRequiresApproval, "", 400)
		f.mustCreateRefund(f.mustCreateOrder(other.ID))
		var sum *refund.RefundSummary
		f.mustView(func(tx refund.Tx) (err error) {
			sum, err = tx.RefundSummary(f.ctx, m.ID, t0.Add(-time.Hour), offset)
			return err
		})
		type key struct {
			day    int64
			status refund.Status
			code   string
		}
		got := map[key][2]int64{}
		for _, b := range sum.Buckets {
			if b.Currency != o.Currency {
				t.Fatalf("bucket currency %s", b.Currency)
			}
			got[key{b.Day.Unix(), b.Status, b.FailureCode}] = [2]int64{b.Count, b.Amount}
		}
		want := map[key][2]int64{
			{day(t0).Unix(), refund.StatusSucceeded, ""}:          {2, 150},
			{day(t0).Unix(), refund.StatusFailed, "51"}:           {1, 200},
			{day(late).Unix(), refund.StatusProcessing, ""}:       {1, 300},
			{day(late).Unix(), refund.StatusRequiresApproval, ""}: {1, 400},
		}
		if day(late).Equal(day(t0)) || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("buckets %v, want %v", got, want)
		}
		if sum.Open[refund.StatusProcessing] != 1 || sum.Open[refund.StatusRequiresApproval] != 1 || len(sum.Open) != 2 ||
			sum.OldestID != open.ID || !sum.OldestOpen.Equal(late) {
			t.Fatalf("open %v, oldest %s %v", sum.Open, sum.OldestID, sum.OldestOpen)
		}
	}},
	{"OrdersNewestFirst", func(t *testing.T, f *fixture) {
		m1, m2 := f.mustCreateMerchant(), f.mustCreateMerchant()
		o1 := f.mustCreateOrder(m1.ID, withItemsAndVendors)
		f.mustCreateOrder(m2.ID)
		o2 := f.mustCreateOrder(m1.ID, func(o *refund.Order) { o.RefundCount = 2 })
		f.mustAdjust(refund.Balances{OrderID: o2.ID, Amount: 700}, refund.Reserve)
		got := f.listOrders(refund.OrderFilter{MerchantID: m1.ID})
		wantSame(t, "ids", orderIDs(got), []string{o2.ID, o1.ID})
		// Rows carry the order's own fields and counters, not its lines,
		// vendors or transactions.
		want2, want1 := *o2, *o1
		want2.PendingRefundAmount = 700
		for _, w := range []*refund.Order{&want2, &want1} {
			w.Items, w.Vendors, w.Transactions = nil, nil, nil
		}
		wantSame(t, "rows", got, []*refund.Order{&want2, &want1})
	}},
	{"CursorPagination", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		var orders []string
		for range 5 {
			orders = append(orders, f.mustCreateOrder(m.ID).ID)
		}
		o := f.mustGetOrder(orders[0])
		var refunds []string
		for i := range 7 {
			refunds = append(refunds, f.mustCreateRefund(o, func(r *refund.Refund) { r.Seq = i + 1 }).ID)
		}

		// Walk the refunds three at a time, newest first, each page
		// starting below the last id of the one before; and oldest first
		// (an approvals queue), each page after it.
		walk := func(oldest bool) [][]string {
			var pages [][]string
			for cursor := ""; ; {
				rs := f.listRefunds(refund.RefundFilter{MerchantID: m.ID, OldestFirst: oldest, Cursor: cursor, Limit: 3})
				if len(rs) == 0 {
					return pages
				}
				var page []string
				for _, r := range rs {
					page = append(page, r.ID)
				}
				pages = append(pages, page)
				cursor = page[len(page)-1]
			}
		}
		wantSame(t, "refund pages", walk(false), [][]string{
			{refunds[6], refunds[5], refunds[4]}, {refunds[3], refunds[2], refunds[1]}, {refunds[0]},
		})
		wantSame(t, "refund pages oldest first", walk(true), [][]string{
			{refunds[0], refunds[1], refunds[2]}, {refunds[3], refunds[4], refunds[5]}, {refunds[6]},
		})

		var pages [][]string
		for cursor := ""; ; {
			page := orderIDs(f.listOrders(refund.OrderFilter{MerchantID: m.ID, Cursor: cursor, Limit: 2}))
			if len(page) == 0 {
				break
			}
			pages = append(pages, page)
			cursor = page[len(page)-1]
		}
		wantSame(t, "order pages", pages, [][]string{{orders[4], orders[3]}, {orders[2], orders[1]}, {orders[0]}})
	}},
	{"ApprovalsQueue", func(t *testing.T, f *fixture) {
		// The queue is the merchant's refunds waiting for approval (their
		// own index on both stores): one approved leaves it, other
		// statuses and other merchants' refunds are not in it, and it
		// pages both ways.
		m, other := f.mustCreateMerchant(), f.mustCreateMerchant()
		o, oo := f.mustCreateOrder(m.ID), f.mustCreateOrder(other.ID)
		waiting := func(r *refund.Refund) { r.Status = refund.StatusRequiresApproval }
		var queue []string
		for i := range 5 {
			r := f.mustCreateRefund(o, waiting, func(r *refund.Refund) { r.Seq = 2*i + 1 })
			queue = append(queue, r.ID)
			f.mustCreateRefund(o, func(r *refund.Refund) { r.Seq, r.Status = 2*i+2, refund.StatusSucceeded })
		}
		f.mustCreateRefund(oo, waiting)
		approved := f.mustGetRefund(queue[1])
		approved.Status = refund.StatusPending
		f.mustUpdate(func(tx refund.Tx) error { return tx.UpdateRefund(f.ctx, approved) })
		queue = append(queue[:1], queue[2:]...)
		for _, oldest := range []bool{true, false} {
			var got []string
			for cursor := ""; ; {
				rs := f.listRefunds(refund.RefundFilter{MerchantID: m.ID, Status: refund.StatusRequiresApproval,
					OldestFirst: oldest, Cursor: cursor, Limit: 3})
				for _, r := range rs {
					got = append(got, r.ID)
				}
				if len(rs) < 3 {
					break
				}
				cursor = rs[len(rs)-1].ID
			}
			want := slices.Clone(queue)
			if !oldest {
				slices.Reverse(want)
			}
			wantSame(t, fmt.Sprintf("the queue, oldest first %v", oldest), got, want)
		}
	}},
	{"DefaultLimit", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		o := f.mustCreateOrder(m.ID)
		f.mustUpdate(func(tx refund.Tx) error {
			for i := range 105 {
				if err := tx.CreateRefund(f.ctx, f.newRefund(o, func(r *refund.Refund) { r.Seq = i + 1 })); err != nil {
					return err
				}
			}
			return nil
		})
		if got := len(f.listRefunds(refund.RefundFilter{MerchantID: m.ID})); got != 100 {
			t.Fatalf("ListRefunds without a limit returned %d refunds, want 100", got)
		}
	}},
	{"RefundFilters", func(t *testing.T, f *fixture) {
		m1, m2 := f.mustCreateMerchant(), f.mustCreateMerchant()
		oa, ob, oc := f.mustCreateOrder(m1.ID), f.mustCreateOrder(m1.ID), f.mustCreateOrder(m2.ID)
		n := 0
		mk := func(o *refund.Order, s refund.Status, created time.Time) string {
			n++
			return f.mustCreateRefund(o, func(r *refund.Refund) {
				r.Status, r.CreatedAt, r.UpdatedAt = s, created, created
				r.Amount, r.Surface = int64(n*100), []string{"native", "sgate"}[n%2]
			}).ID
		}
		r1 := mk(oa, refund.StatusPending, t0)                  // 100, sgate
		r2 := mk(oa, refund.StatusSucceeded, t0.Add(time.Hour)) // 200, native
		r3 := mk(ob, refund.StatusPending, t0.Add(2*time.Hour)) // 300, sgate
		r4 := mk(ob, refund.StatusFailed, t0.Add(3*time.Hour))  // 400, native
		mk(oc, refund.StatusPending, t0.Add(time.Hour))         // m2's
		for _, tc := range []struct {
			name   string
			filter refund.RefundFilter
			want   []string
		}{
			{"Merchant", refund.RefundFilter{}, []string{r4, r3, r2, r1}},
			{"Order", refund.RefundFilter{OrderID: oa.ID}, []string{r2, r1}},
			{"Status", refund.RefundFilter{Status: refund.StatusPending}, []string{r3, r1}},
			{"CreatedAfterInclusive", refund.RefundFilter{CreatedAfter: t0.Add(time.Hour)}, []string{r4, r3, r2}},
			{"CreatedBeforeExclusive", refund.RefundFilter{CreatedBefore: t0.Add(2 * time.Hour)}, []string{r2, r1}},
			{"CreatedBetween", refund.RefundFilter{CreatedAfter: t0.Add(time.Hour), CreatedBefore: t0.Add(3 * time.Hour)}, []string{r3, r2}},
			{"OrderAndStatus", refund.RefundFilter{OrderID: ob.ID, Status: refund.StatusFailed}, []string{r4}},
			{"OtherMerchantsOrder", refund.RefundFilter{OrderID: oc.ID}, nil},
			{"StatusAndLimit", refund.RefundFilter{Status: refund.StatusPending, Limit: 1}, []string{r3}},
			{"Cursor", refund.RefundFilter{Cursor: r3}, []string{r2, r1}},
			{"CursorAndStatus", refund.RefundFilter{Cursor: r3, Status: refund.StatusPending}, []string{r1}},
			{"Surface", refund.RefundFilter{Surface: "sgate"}, []string{r3, r1}},
			{"Currency", refund.RefundFilter{Currency: oa.Currency}, []string{r4, r3, r2, r1}},
			{"OtherCurrency", refund.RefundFilter{Currency: "XXX"}, nil},
			{"AmountRange", refund.RefundFilter{MinAmount: 200, MaxAmount: 300}, []string{r3, r2}},
			{"MinAmount", refund.RefundFilter{MinAmount: 301}, []string{r4}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := f.sub(t)
				tc.filter.MerchantID = m1.ID
				wantIDs(t, "ListRefunds", f.listRefunds(tc.filter), tc.want...)
			})
		}
	}},
	{"OrderFilters", func(t *testing.T, f *fixture) {
		m1, m2 := f.mustCreateMerchant(), f.mustCreateMerchant()
		a := f.mustCreateOrder(m1.ID, func(o *refund.Order) { o.Reference = "ORD-A" })
		b := f.mustCreateOrder(m1.ID, func(o *refund.Order) { o.Reference = "ORD-B" })
		f.mustCreateOrder(m2.ID, func(o *refund.Order) { o.Reference = "ORD-A" })
		for _, tc := range []struct {
			name   string
			filter refund.OrderFilter
			want   []string
		}{
			{"Merchant", refund.OrderFilter{MerchantID: m1.ID}, []string{b.ID, a.ID}},
			{"Reference", refund.OrderFilter{MerchantID: m1.ID, Reference: "ORD-A"}, []string{a.ID}},
			{"UnknownReference", refund.OrderFilter{MerchantID: m1.ID, Reference: "ORD-C"}, nil},
			{"OtherMerchant", refund.OrderFilter{MerchantID: m2.ID, Reference: "ORD-B"}, nil},
			{"Limit", refund.OrderFilter{MerchantID: m1.ID, Limit: 1}, []string{b.ID}},
			{"ID", refund.OrderFilter{MerchantID: m1.ID, ID: a.ID}, []string{a.ID}},
			{"OtherMerchantsID", refund.OrderFilter{MerchantID: m2.ID, ID: a.ID}, nil},
			{"UnknownID", refund.OrderFilter{MerchantID: m1.ID, ID: "ord_unknown"}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := f.sub(t)
				wantSame(t, "ListOrders", orderIDs(f.listOrders(tc.filter)), tc.want)
			})
		}
	}},
}

var timeTests = []test{
	{"RoundTripUTC", func(t *testing.T, f *fixture) {
		riyadh := time.FixedZone("AST", 3*60*60)
		at := t0.In(riyadh).Add(123456 * time.Microsecond)
		m := f.mustCreateMerchant(func(m *refund.Merchant) { m.CreatedAt = at })
		o := f.mustCreateOrder(m.ID, func(o *refund.Order) { o.CreatedAt, o.UpdatedAt = at, at.Add(time.Microsecond) })
		r := f.mustCreateRefund(o, func(r *refund.Refund) {
			r.CreatedAt, r.UpdatedAt, r.NextAttemptAt = at, at.Add(time.Second), at.Add(time.Hour)
			r.Status, r.SucceededAt = refund.StatusSucceeded, at.Add(2*time.Hour)
		})
		var gm *refund.Merchant
		f.mustView(func(tx refund.Tx) (err error) {
			gm, err = tx.GetMerchant(f.ctx, m.ID)
			return err
		})
		wantTime(t, "Merchant.CreatedAt", gm.CreatedAt, at)
		got := f.mustGetOrder(o.ID)
		wantTime(t, "Order.CreatedAt", got.CreatedAt, at)
		wantTime(t, "Order.UpdatedAt", got.UpdatedAt, at.Add(time.Microsecond))
		wantTime(t, "Transaction.CreatedAt", got.Transactions[0].CreatedAt, t0)
		gr := f.mustGetRefund(r.ID)
		wantTime(t, "Refund.CreatedAt", gr.CreatedAt, at)
		wantTime(t, "Refund.UpdatedAt", gr.UpdatedAt, at.Add(time.Second))
		wantTime(t, "Refund.NextAttemptAt", gr.NextAttemptAt, at.Add(time.Hour))
		wantTime(t, "Refund.SucceededAt", gr.SucceededAt, at.Add(2*time.Hour))
	}},
	{"ZeroTimes", func(t *testing.T, f *fixture) {
		m := f.mustCreateMerchant()
		r := f.mustCreateRefund(f.mustCreateOrder(m.ID), func(r *refund.Refund) { r.NextAttemptAt, r.UpdatedAt = time.Time{}, time.Time{} })
		got := f.mustGetRefund(r.ID)
		if !got.NextAttemptAt.IsZero() || !got.UpdatedAt.IsZero() || !got.SucceededAt.IsZero() {
			t.Fatalf("zero times read back as %v, %v and %v", got.NextAttemptAt, got.UpdatedAt, got.SucceededAt)
		}
		rec := f.newIdempotency(m.ID, "key-1", func(r *refund.IdempotencyRecord) { r.LockedUntil = time.Time{} })
		f.mustInsertIdempotency(rec)
		gotRec, err := f.getIdempotency(m.ID, "key-1")
		if err != nil {
			t.Fatal(err)
		}
		if !gotRec.LockedUntil.IsZero() || gotRec.CompletedAt != nil {
			t.Fatalf("LockedUntil = %v, CompletedAt = %v; want zero and nil", gotRec.LockedUntil, gotRec.CompletedAt)
		}
	}},
}
