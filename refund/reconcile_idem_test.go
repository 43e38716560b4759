package refund_test

import (
	"context"
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

// slowStore is a store whose reconciliations take an hour of the fake
// clock: the long report, read row by row in one transaction.
type slowStore struct {
	refund.Store
	clk **fakeClock // the harness's, once it has one
}

func (s slowStore) Update(ctx context.Context, fn func(tx refund.Tx) error) error {
	return s.Store.Update(ctx, func(tx refund.Tx) error { return fn(slowTx{tx, s.clk}) })
}

type slowTx struct {
	refund.Tx
	clk **fakeClock
}

func (t slowTx) RecordReport(ctx context.Context, r *refund.SettlementReport) error {
	(*t.clk).Advance(time.Hour)
	return t.Tx.RecordReport(ctx, r)
}

// A reconciliation's key was leased from when its transaction began: one
// that ran longer than the lease (a long report) committed with its key
// free to take over, so a retry arriving before its answer was stored
// (a client that timed out and sent it again) ran the report again, its
// corrections now matched, and that answer could become the key's. The
// lease runs from the commit: the retry is told the first is still
// running.
func TestReconcile_LongRunKeepsItsKey(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		var clk *fakeClock
		h := newHarnessOn(t, func(t *testing.T) refund.Store { return slowStore{Store: open(t), clk: &clk} }, &instantProcessor{}, nil)
		clk = h.clk
		rows := []refund.ReportRow{{Line: 2, RefundID: "re_not_ours", Amount: 100, Currency: "SAR", Status: "approved",
			Date: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)}}
		c, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeRefundsReview, "recon-long", "hash-r")
		if err != nil || c.Replay != nil {
			t.Fatalf("claim: %+v, %v", c, err)
		}
		if _, err := h.svc.Reconcile(refund.WithClaim(h.ctx, c), h.p, rows, refund.ReconcileOptions{}); err != nil {
			t.Fatal(err)
		}
		// Committed, its answer not stored yet: a retry now.
		if _, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeRefundsReview, "recon-long", "hash-r"); refund.ErrorCode(err) != refund.EIdempotencyKeyInUse {
			t.Fatalf("a retry just after the long run committed: %v; want %s", err, refund.EIdempotencyKeyInUse)
		}
		h.svc.CompleteIdempotent(h.ctx, c, refund.Reply{Status: 200, ContentType: "application/json", Body: []byte(`{"first":true}`)})
		again, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeRefundsReview, "recon-long", "hash-r")
		if err != nil || again.Replay == nil || string(again.Replay.Body) != `{"first":true}` {
			t.Fatalf("a retry once answered: %+v, %v; want the first answer", again, err)
		}
	})
}
