package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

// ApprovalQueues are the shapes of a merchant's approvals queue as the API
// (GET /v1/refunds?status=requires_approval) and the console ask for it:
// oldest first (the console, those expire first) and newest first, a
// first page and a later one, for the stores' plan tests.
func ApprovalQueues(merchantID, cursor string) map[string]refund.RefundFilter {
	queue := refund.RefundFilter{MerchantID: merchantID, Status: refund.StatusRequiresApproval, Limit: refund.MaxPageSize + 1}
	oldest, later, oldestLater := queue, queue, queue
	oldest.OldestFirst = true
	later.Cursor = cursor
	oldestLater.OldestFirst, oldestLater.Cursor = true, cursor
	return map[string]refund.RefundFilter{"Newest": queue, "Oldest": oldest, "NewestLater": later, "OldestLater": oldestLater}
}

// SeedApprovalQueue gives merchantID an order with total refunds made a
// second apart, waiting of them (spread evenly through the history, the
// first one the oldest) waiting for approval and the others succeeded:
// a merchant whose approvals queue is short and whose history is long.
// It returns the ids of the waiting ones, oldest first.
func SeedApprovalQueue(tb testing.TB, st refund.Store, merchantID string, total, waiting int) []string {
	tb.Helper()
	ctx := context.Background()
	m := &refund.Merchant{ID: merchantID, Name: "Seeded", CreatedAt: t0}
	oid := "ord_" + merchantID
	o := &refund.Order{ID: oid, MerchantID: merchantID, Reference: "REF-" + oid, Currency: "SAR",
		Amount: 1 << 50, CapturedAmount: 1 << 50, PaymentMethod: "mada", CreatedAt: t0, UpdatedAt: t0,
		Transactions: []refund.Transaction{{ID: "txn_" + merchantID, OrderID: oid, Seq: 1, Type: refund.TxCapture,
			Status: refund.TxSucceeded, Amount: 1 << 50, CreatedAt: t0}}}
	err := st.Update(ctx, func(tx refund.Tx) error {
		if err := tx.CreateMerchant(ctx, m); err != nil {
			return err
		}
		return tx.CreateOrder(ctx, o)
	})
	if err != nil {
		tb.Fatal(err)
	}
	every := total / waiting
	var queue []string
	const chunk = 5_000
	for start := 0; start < total; start += chunk {
		err := st.Update(ctx, func(tx refund.Tx) error {
			for n := start; n < min(start+chunk, total); n++ {
				at := t0.Add(time.Duration(n) * time.Second)
				r := &refund.Refund{ID: fmt.Sprintf("re_%s_%07d", merchantID, n), MerchantID: merchantID, OrderID: oid, Seq: n + 1,
					Amount: 100, Currency: "SAR", Status: refund.StatusSucceeded, Surface: "native", Version: 1,
					NextAttemptAt: at, CreatedAt: at, UpdatedAt: at, SucceededAt: at}
				if n%every == 0 && len(queue) < waiting {
					r.Status, r.SucceededAt, r.ApprovalExpiresAt = refund.StatusRequiresApproval, time.Time{}, at.Add(72*time.Hour)
					queue = append(queue, r.ID)
				}
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
	return queue
}

// BenchmarkApprovalQueue lists the approvals queue of a merchant with
// 200,000 refunds of which 50 wait for approval, page by page (20 each) to
// its end, oldest first as the console does and newest first. Its cost
// must follow the queue, not the merchant's history: a walk of all the
// merchant's refunds for the few waiting took 0.11-0.18 s for 200,000
// on SQLite.
func BenchmarkApprovalQueue(b *testing.B, newStore func(b *testing.B) refund.Store) {
	st := newStore(b)
	ctx := context.Background()
	const total, waiting, page = 200_000, 50, 20
	SeedApprovalQueue(b, st, "mer_bench", total, waiting)
	for _, oldest := range []bool{true, false} {
		b.Run(map[bool]string{true: "Oldest", false: "Newest"}[oldest], func(b *testing.B) {
			for b.Loop() {
				found := 0
				err := st.View(ctx, func(tx refund.Tx) error {
					for cursor := ""; ; {
						rs, err := tx.ListRefunds(ctx, refund.RefundFilter{MerchantID: "mer_bench", Status: refund.StatusRequiresApproval,
							OldestFirst: oldest, Cursor: cursor, Limit: page})
						if err != nil {
							return err
						}
						found += len(rs)
						if len(rs) < page {
							return nil
						}
						cursor = rs[len(rs)-1].ID
					}
				})
				if err != nil {
					b.Fatal(err)
				}
				if found != waiting {
					b.Fatalf("listed %d refunds waiting for approval, want %d", found, waiting)
				}
			}
		})
	}
}
