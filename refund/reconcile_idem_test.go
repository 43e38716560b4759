package refund_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/refundd/refundd/processor"
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

// declinesProcessor declines refunds of one amount and approves the rest.
type declinesProcessor struct {
	instantProcessor
	amount int64
}

func (p *declinesProcessor) Refund(ctx context.Context, req processor.Request) (processor.Result, error) {
	if req.Amount == p.amount {
		return processor.Result{Status: processor.Declined, ResponseCode: "05", Message: "do not honor"}, nil
	}
	return p.instantProcessor.Refund(ctx, req)
}

// A reconciliation's answer was stored after its transaction committed:
// a node stopping between the two left its corrections applied and no
// answer under its key, and a retry once the lease ran out reconciled
// again, the refund it corrected now matched, so the operator never saw
// the correction. Its results are kept with the key in its transaction:
// the retry answers them, the correction in them, with the unchecked
// days counted again; a retry after that answer is stored replays it.
func TestReconcile_StoppedBeforeItsAnswerAnswersItsResults(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &declinesProcessor{amount: 4_000}, nil)
		o := h.order(10_000)
		unlisted := h.mustRefund(o, 1_000) // succeeds on the 1st, in days no report covers
		declined := h.mustRefund(o, 4_000) // declined: the report shows it paid
		nov30 := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
		if _, err := h.svc.Reconcile(h.ctx, h.p, nil, refund.ReconcileOptions{From: nov30, To: nov30}); err != nil {
			t.Fatal(err)
		}
		h.clk.Advance(48 * time.Hour)
		dec3 := nov30.Add(3 * 24 * time.Hour)
		rows := []refund.ReportRow{{Line: 2, RefundID: declined.ID, Amount: 4_000, Currency: "KWD", Status: "settled", Date: dec3}}
		opt := refund.ReconcileOptions{From: dec3, To: dec3}
		c, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeRefundsReview, "recon-stops", "hash-s")
		if err != nil || c.Replay != nil {
			t.Fatalf("claim: %+v, %v", c, err)
		}
		first, err := h.svc.Reconcile(refund.WithClaim(h.ctx, c), h.p, rows, opt)
		if err != nil || len(first.Results) != 1 || !first.Results[0].Corrected || first.Kept {
			t.Fatalf("first run: %+v, %v; want the refund corrected", first, err)
		}
		if len(first.Unchecked) != 1 || first.Unchecked[0].Refunds != 1 {
			t.Fatalf("first run's unchecked days: %+v; want the 1st and 2nd, one refund", first.Unchecked)
		}
		// The node stops here: no CompleteIdempotent. The retry comes
		// once the lease has run out.
		h.clk.Advance(2 * time.Minute)
		again, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeRefundsReview, "recon-stops", "hash-s")
		if err != nil || again.Replay != nil || !again.Written() {
			t.Fatalf("retry's claim: %+v, %v; want the key taken over", again, err)
		}
		got, err := h.svc.Reconcile(refund.WithClaim(h.ctx, again), h.p, rows, opt)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Kept || len(got.Results) != 1 || got.Results[0] != first.Results[0] || got.Flagged != first.Flagged {
			t.Fatalf("retry: %+v; want the first run's results %+v", got, first.Results)
		}
		if len(got.Unchecked) != 1 || !got.Unchecked[0].Counted || got.Unchecked[0].Refunds != 1 || got.Unchecked[0].Totals["KWD"] != unlisted.Amount {
			t.Fatalf("retry's unchecked days: %+v; want them counted again, one refund", got.Unchecked)
		}
		if r := h.refund(declined.ID); r.Status != refund.StatusSucceeded {
			t.Fatalf("the refund is %s", r.Status)
		}
		h.svc.CompleteIdempotent(h.ctx, again, refund.Reply{Status: 200, ContentType: "application/json", Body: []byte(`{"kept":true}`)})
		last, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeRefundsReview, "recon-stops", "hash-s")
		if err != nil || last.Replay == nil || string(last.Replay.Body) != `{"kept":true}` {
			t.Fatalf("a retry once answered: %+v, %v; want that answer", last, err)
		}
	})
}

// Results too large to keep with the key (gzipped, up to 1 MiB as an
// answer is kept: 4,000 rows take 28 kB, so the bound is lowered here)
// leave a retry after the first run stopped, or after its answer was too
// large to store, a definite refusal: run again, the report's
// corrections would read matched. Kept, the same rows are answered.
func TestReconcile_StoppedBeforeATooLargeAnswerIsRefused(t *testing.T) {
	refund.SetMaxKeptBytes(t, 16<<10)
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, nil)
		dec1 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		var rows []refund.ReportRow
		for i := range 4_000 {
			rows = append(rows, refund.ReportRow{Line: i + 2, RefundID: fmt.Sprintf("re_unknown_%06d", i), Amount: 100, Currency: "SAR",
				Status: "settled", Date: dec1})
		}
		c, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeRefundsReview, "recon-large", "hash-l")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.Reconcile(refund.WithClaim(h.ctx, c), h.p, rows, refund.ReconcileOptions{}); err != nil {
			t.Fatal(err)
		}
		h.clk.Advance(2 * time.Minute)
		again, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeRefundsReview, "recon-large", "hash-l")
		if err != nil || !again.Written() {
			t.Fatalf("retry's claim: %+v, %v", again, err)
		}
		got, err := h.svc.Reconcile(refund.WithClaim(h.ctx, again), h.p, rows, refund.ReconcileOptions{})
		if refund.ErrorCode(err) != refund.EReconciliationAnswerLost {
			t.Fatalf("retry: %v, %v; want %s", got, err, refund.EReconciliationAnswerLost)
		}
	})
}

// Results kept with the key that no longer read back (damaged, or a
// field whose type another release changed) leave the retry the same
// definite refusal as results too large to keep, not an internal error for
// as long as the key lives; nothing is reconciled again, the refusal is
// what the key answers from then on, and a new key reconciles afresh.
func TestReconcile_KeptResultsThatDoNotReadAreRefused(t *testing.T) {
	gz := func(s string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		if _, err := zw.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"NotGzip", []byte("not what was kept")},
		{"ATypeChanged", gz(`{"Results":"a text where rows were"}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			onEachStore(t, func(t *testing.T, open opener) {
				h := newHarnessOn(t, open, &declinesProcessor{amount: 4_000}, nil)
				o := h.order(10_000)
				declined := h.mustRefund(o, 4_000)
				dec1 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
				rows := []refund.ReportRow{{Line: 2, RefundID: declined.ID, Amount: 4_000, Currency: "KWD", Status: "settled", Date: dec1}}
				c, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeRefundsReview, "recon-damaged", "hash-d")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := h.svc.Reconcile(refund.WithClaim(h.ctx, c), h.p, rows, refund.ReconcileOptions{}); err != nil {
					t.Fatal(err)
				}
				err = h.st.Update(h.ctx, func(tx refund.Tx) error {
					rec, err := tx.GetIdempotency(h.ctx, h.p.MerchantID, "recon-damaged")
					if err != nil {
						return err
					}
					rec.Reply.Body = tc.body
					return tx.UpdateIdempotency(h.ctx, rec)
				})
				if err != nil {
					t.Fatal(err)
				}
				h.clk.Advance(2 * time.Minute)
				again, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeRefundsReview, "recon-damaged", "hash-d")
				if err != nil || !again.Written() {
					t.Fatalf("retry's claim: %+v, %v", again, err)
				}
				got, err := h.svc.Reconcile(refund.WithClaim(h.ctx, again), h.p, rows, refund.ReconcileOptions{})
				if refund.ErrorCode(err) != refund.EReconciliationAnswerLost {
					t.Fatalf("retry: %+v, %v; want %s", got, err, refund.EReconciliationAnswerLost)
				}
				// The surface stores the refusal as the key's answer (it is
				// not transient), and the key replays it.
				h.svc.CompleteIdempotent(h.ctx, again, refund.Reply{Status: 409, ContentType: "application/json", Body: []byte(`{"lost":true}`)})
				last, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeRefundsReview, "recon-damaged", "hash-d")
				if err != nil || last.Replay == nil || last.Replay.Status != 409 {
					t.Fatalf("a retry once refused: %+v, %v; want the refusal replayed", last, err)
				}
				fresh, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeRefundsReview, "recon-fresh", "hash-d")
				if err != nil {
					t.Fatal(err)
				}
				rerun, err := h.svc.Reconcile(refund.WithClaim(h.ctx, fresh), h.p, rows, refund.ReconcileOptions{})
				if err != nil || rerun.Kept || len(rerun.Results) != 1 || rerun.Results[0].Corrected {
					t.Fatalf("under a new key: %+v, %v; want the report reconciled again, the refund already corrected", rerun, err)
				}
			})
		})
	}
}
