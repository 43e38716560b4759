package refund_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

// TestReconcile_RefundsAnOlderNodeFinished: during a rolling upgrade a
// node older than migration 0022 finishes refunds without recording when
// they succeeded. Reconciliation fills that in from their transitions
// before it asks which refunds succeeded in the report's days, so such a
// refund missing from its report is still found.
func TestReconcile_RefundsAnOlderNodeFinished(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		st := open(t)
		now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
		ids := 0
		svc, err := refund.NewService(refund.Config{Store: st, Processor: reversingProcessor{}, Now: func() time.Time { return now },
			NewID: func(p string) string { ids++; return fmt.Sprintf("%s_%04d", p, ids) }})
		if err != nil {
			t.Fatal(err)
		}
		_, key, err := svc.CreateMerchant(ctx, refund.MerchantInput{Name: "M"})
		if err != nil {
			t.Fatal(err)
		}
		p, err := svc.Authenticate(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		p.Scopes = append(p.Scopes, refund.ScopeRefundsReview)
		o, err := svc.CreateOrder(ctx, p, refund.OrderInput{Currency: "SAR", Amount: 10_000})
		if err != nil {
			t.Fatal(err)
		}
		var made []*refund.Refund
		for range 2 {
			one := int64(100)
			r, err := svc.CreateRefund(ctx, p, refund.RefundInput{OrderID: o.ID, Amount: &one})
			if err != nil || r.Status != refund.StatusSucceeded {
				t.Fatalf("refund: %v %v", r, err)
			}
			made = append(made, r)
			now = now.Add(time.Hour)
		}
		// The second as an older node leaves it: succeeded, no time.
		err = st.Update(ctx, func(tx refund.Tx) error {
			r, err := tx.GetRefund(ctx, p.MerchantID, made[1].ID)
			if err != nil {
				return err
			}
			r.SucceededAt = time.Time{}
			return tx.UpdateRefund(ctx, r)
		})
		if err != nil {
			t.Fatal(err)
		}
		rows := []refund.ReportRow{{Line: 2, RefundID: made[0].ID, Amount: 100, Currency: "SAR", Status: "approved", Date: now}}
		rec, err := svc.Reconcile(ctx, p, rows, refund.ReconcileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var missing []string
		for _, res := range rec.Results {
			if res.Kind == refund.ReconMissingAtProcessor {
				missing = append(missing, res.RefundID)
			}
		}
		if fmt.Sprint(missing) != fmt.Sprint([]string{made[1].ID}) {
			t.Fatalf("missing at the processor: %v, want the refund the older node finished (%s)", missing, made[1].ID)
		}
		var got *refund.Refund
		err = st.View(ctx, func(tx refund.Tx) (err error) {
			got, err = tx.GetRefund(ctx, p.MerchantID, made[1].ID)
			return err
		})
		if err != nil || !got.SucceededAt.Equal(made[1].CreatedAt) {
			t.Fatalf("recovered succeeded time %v (%v), want %v, when its transition says it succeeded", got.SucceededAt, err, made[1].CreatedAt)
		}
	})
}
