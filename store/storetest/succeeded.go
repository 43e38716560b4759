package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

// CheckSucceededBackfill holds a store's backfill of when each refund
// succeeded (migration 0022) to what refund.Service keeps: it makes
// refunds through the Service that succeed, succeed and are then reversed,
// wait, and are canceled, calls backfill, which must forget the kept times
// and work them out again from the refunds' transitions as the migration
// does, and compares.
func CheckSucceededBackfill(t *testing.T, st refund.Store, backfill func(ctx context.Context) error) {
	t.Helper()
	ctx := context.Background()
	svc, _ := newService(t, st, reverser{}, nil)
	_, key, err := svc.CreateMerchant(ctx, refund.MerchantInput{Name: "Souq"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.Authenticate(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	o, err := svc.CreateOrder(ctx, p, refund.OrderInput{Currency: "SAR", Amount: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	amount := func(v int64) *int64 { return &v }
	var ids []string
	for _, in := range []refund.RefundInput{
		{Amount: amount(100)},              // succeeded
		{Amount: amount(200)},              // succeeded, then reversed below
		{Amount: amount(300), Queue: true}, // pending
		{Amount: amount(400), Queue: true}, // canceled below
	} {
		in.OrderID = o.ID
		r, err := svc.CreateRefund(ctx, p, in)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	if r, err := svc.SyncRefund(ctx, p, ids[1]); err != nil || r.Status != refund.StatusReversed {
		t.Fatalf("sync: %v %v, want a reversed refund", r, err)
	}
	if _, err := svc.CancelRefund(ctx, p, ids[3]); err != nil {
		t.Fatal(err)
	}
	succeeded := func() map[string]time.Time {
		got := map[string]time.Time{}
		err := st.View(ctx, func(tx refund.Tx) error {
			for _, id := range ids {
				r, err := tx.GetRefund(ctx, p.MerchantID, id)
				if err != nil {
					return err
				}
				got[id] = r.SucceededAt
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	kept := succeeded()
	if kept[ids[0]].IsZero() || kept[ids[1]].IsZero() || !kept[ids[2]].IsZero() || !kept[ids[3]].IsZero() {
		t.Fatalf("the Service kept %v: want times for the succeeded and the reversed refund only", kept)
	}
	if err := backfill(ctx); err != nil {
		t.Fatalf("backfill: %v", err)
	}
	if got := succeeded(); fmt.Sprint(got) != fmt.Sprint(kept) {
		t.Fatalf("backfilled %v, the Service kept %v", got, kept)
	}
}

// SucceededBackfill is what a store's backfill runs, one statement at a
// time: forget what the Service kept, then the UPDATE of migration
// 0022_succeeded_at (migration, its text).
func SucceededBackfill(migration string) []string {
	return backfill(migration, `UPDATE refunds SET succeeded_at = NULL`)
}

// SeedSucceededRefunds gives merchantID an order with perDay refunds that
// succeeded on each of days days from t0, each made an hour before, for
// plans of the reconciliation's listing over a history.
func SeedSucceededRefunds(tb testing.TB, st refund.Store, merchantID string, days, perDay int) {
	tb.Helper()
	ctx := context.Background()
	m := &refund.Merchant{ID: merchantID, Name: "Seeded", CreatedAt: t0}
	oid := "ord_" + merchantID
	o := &refund.Order{ID: oid, MerchantID: merchantID, Reference: "REF-" + oid, Currency: "SAR",
		Amount: 1 << 40, CapturedAmount: 1 << 40, PaymentMethod: "mada", CreatedAt: t0, UpdatedAt: t0,
		Transactions: []refund.Transaction{{ID: "txn_" + merchantID, OrderID: oid, Seq: 1, Type: refund.TxCapture,
			Status: refund.TxSucceeded, Amount: 1 << 40, CreatedAt: t0}}}
	err := st.Update(ctx, func(tx refund.Tx) error {
		if err := tx.CreateMerchant(ctx, m); err != nil {
			return err
		}
		return tx.CreateOrder(ctx, o)
	})
	if err != nil {
		tb.Fatal(err)
	}
	for d := range days {
		err := st.Update(ctx, func(tx refund.Tx) error {
			for i := range perDay {
				n := d*perDay + i + 1
				at := t0.Add(time.Duration(d)*24*time.Hour + time.Duration(i)*time.Minute)
				r := &refund.Refund{ID: fmt.Sprintf("re_%s_%07d", merchantID, n), MerchantID: merchantID, OrderID: oid, Seq: n,
					Amount: 100, Currency: "SAR", Status: refund.StatusSucceeded, Surface: "native", Version: 1,
					CreatedAt: at.Add(-time.Hour), UpdatedAt: at, SucceededAt: at}
				if err := tx.CreateRefund(ctx, r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkReconcileDay asks which refunds succeeded on one day, as a
// reconciliation does, of a merchant with 60 days of 500 refunds a day,
// page by page (500 each) to the end: as it asked before 0022
// (ByCreation: ListRefunds of the day's succeeded refunds by creation
// time, newest first by id) and as it asks now (BySuccess:
// ListSucceededRefunds). The day is the 30th: the listing by id walks the
// merchant's history before and after it.
func BenchmarkReconcileDay(b *testing.B, newStore func(b *testing.B) refund.Store) {
	st := newStore(b)
	ctx := context.Background()
	const days, perDay = 60, 500
	SeedSucceededRefunds(b, st, "mer_bench", days, perDay)
	day := t0.Truncate(24 * time.Hour).Add(29 * 24 * time.Hour)
	for _, bc := range []struct {
		name string
		page func(tx refund.Tx, after *refund.Refund) ([]*refund.Refund, error)
	}{
		{"ByCreation", func(tx refund.Tx, after *refund.Refund) ([]*refund.Refund, error) {
			f := refund.RefundFilter{MerchantID: "mer_bench", Status: refund.StatusSucceeded,
				CreatedAfter: day, CreatedBefore: day.Add(24 * time.Hour), Limit: 500}
			if after != nil {
				f.Cursor = after.ID
			}
			return tx.ListRefunds(ctx, f)
		}},
		{"BySuccess", func(tx refund.Tx, after *refund.Refund) ([]*refund.Refund, error) {
			return tx.ListSucceededRefunds(ctx, refund.SucceededFilter{MerchantID: "mer_bench",
				From: day, To: day.Add(24 * time.Hour), After: after, Limit: 500})
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				found := 0
				err := st.View(ctx, func(tx refund.Tx) error {
					var after *refund.Refund
					for {
						page, err := bc.page(tx, after)
						if err != nil {
							return err
						}
						found += len(page)
						if len(page) < 500 {
							return nil
						}
						after = page[len(page)-1]
					}
				})
				if err != nil {
					b.Fatal(err)
				}
				if found != perDay {
					b.Fatalf("found %d refunds of the day, want %d", found, perDay)
				}
			}
		})
	}
}
