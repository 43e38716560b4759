package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

// CheckApprovalBackfill holds a store's backfill of when each waiting
// refund's approval runs out (migration 0024) to what refund.Service
// keeps: it makes a refund that waits for approval and one that does not,
// calls backfill, which must forget the kept deadlines and work them out
// again as the migration does, and compares.
func CheckApprovalBackfill(t *testing.T, st refund.Store, backfill func(ctx context.Context) error) {
	t.Helper()
	ctx := context.Background()
	svc, _ := newService(t, st, approver{}, nil)
	_, key, err := svc.CreateMerchant(ctx, refund.MerchantInput{Name: "Souq"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.Authenticate(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	limits := map[string]int64{"SAR": 5_000}
	if _, err := svc.PutRefundPolicy(ctx, p, refund.RefundPolicyInput{ApprovalThreshold: &limits}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, amount := range []int64{100, 6_000} { // succeeds; waits for approval
		o, err := svc.CreateOrder(ctx, p, refund.OrderInput{Currency: "SAR", Amount: 10_000})
		if err != nil {
			t.Fatal(err)
		}
		r, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Amount: &amount})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	deadlines := func() map[string]time.Time {
		got := map[string]time.Time{}
		err := st.View(ctx, func(tx refund.Tx) error {
			for _, id := range ids {
				r, err := tx.GetRefund(ctx, p.MerchantID, id)
				if err != nil {
					return err
				}
				got[id] = r.ApprovalExpiresAt
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	kept := deadlines()
	if !kept[ids[0]].IsZero() || kept[ids[1]].IsZero() {
		t.Fatalf("the Service kept %v: want a deadline for the waiting refund only", kept)
	}
	if err := backfill(ctx); err != nil {
		t.Fatalf("backfill: %v", err)
	}
	if got := deadlines(); fmt.Sprint(got) != fmt.Sprint(kept) {
		t.Fatalf("backfilled %v, the Service kept %v", got, kept)
	}
}

// ApprovalBackfill is what a store's backfill runs, one statement at a
// time: forget what the Service kept, then the UPDATE of migration
// 0024_approval_expires_at (migration, its text).
func ApprovalBackfill(migration string) []string {
	return backfill(migration, `UPDATE refunds SET approval_expires_at = NULL`)
}
