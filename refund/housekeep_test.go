package refund_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

// TestHousekeep_InSteps: more expired keys than one step deletes are all
// deleted, in several transactions, and a key not yet expired is kept.
func TestHousekeep_InSteps(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		st := open(t)
		now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
		ids := 0
		// A step of 50 rather than the default 5000: the steps are what
		// is checked, and 12,346 keys inserted took seconds.
		const step = 50
		svc, err := refund.NewService(refund.Config{Store: st, Processor: &gateProcessor{}, Now: func() time.Time { return now },
			NewID: func(p string) string { ids++; return fmt.Sprintf("%s_%d", p, ids) }, HousekeepStep: step})
		if err != nil {
			t.Fatal(err)
		}
		m, _, err := svc.CreateMerchant(ctx, refund.MerchantInput{Name: "M"})
		if err != nil {
			t.Fatal(err)
		}
		const expired = 2*step + 23 // more than two steps
		err = st.Update(ctx, func(tx refund.Tx) error {
			for i := range expired + 1 {
				r := &refund.IdempotencyRecord{MerchantID: m.ID, Key: fmt.Sprintf("k%d", i), RequestHash: "h",
					CreatedAt: now.Add(-48 * time.Hour), ExpiresAt: now.Add(-time.Duration(i+1) * time.Second)}
				if i == expired {
					r.Key, r.ExpiresAt = "fresh", now.Add(time.Hour)
				}
				if err := tx.InsertIdempotency(ctx, r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		before := st.(refund.CountingStore).Counts()
		n, err := svc.Housekeep(ctx)
		if err != nil || n != expired {
			t.Fatalf("Housekeep = %d, %v; want %d", n, err, expired)
		}
		if txs := st.(refund.CountingStore).Counts().Transactions - before.Transactions; txs < 3 {
			t.Errorf("Housekeep took %d transactions for %d keys, want one per bounded step (at least 3)", txs, expired)
		}
		err = st.View(ctx, func(tx refund.Tx) error {
			if _, err := tx.GetIdempotency(ctx, m.ID, "fresh"); err != nil {
				return fmt.Errorf("the key not yet expired: %w", err)
			}
			if _, err := tx.GetIdempotency(ctx, m.ID, "k0"); refund.ErrorCode(err) != refund.ENotFound {
				return fmt.Errorf("an expired key: %v, want it deleted", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
