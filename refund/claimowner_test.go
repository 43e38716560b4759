package refund_test

import (
	"testing"
	"time"

	"github.com/refundd/refundd/refund"
)

// A request whose lease ran out (slow, or its node cut off) while a retry
// took its key over wrote its row as it had last seen it, over the new
// owner's: its answer replaced the one the retry gave and stored, and its
// release (an answer not kept) wiped that answer or, the retry still
// running, let a third request take the key over beside it. The row is
// written only as its writer last saw it: the late request changes
// nothing.
func TestIdempotentClaims_LateOwnerLeavesTheKeyAlone(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, nil)
		in := refund.OrderInput{Currency: "SAR", Amount: 500, PaymentMethod: "card"}
		ours := refund.Reply{Status: 201, ContentType: "application/json", Body: []byte(`{"by":"retry"}`)}
		for _, tc := range []struct {
			name string
			// done: the retry has stored its answer before the late
			// request answers.
			done bool
			late refund.Reply
		}{
			{"LateAnswer", true, refund.Reply{Status: 201, ContentType: "application/json", Body: []byte(`{"by":"late"}`)}},
			{"LateRelease", true, refund.Reply{Status: 503, ContentType: "application/json", Body: []byte(`{}`)}},
			{"LateReleaseWhileTheRetryRuns", false, refund.Reply{Status: 503, ContentType: "application/json", Body: []byte(`{}`)}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				key := "late-" + tc.name
				late, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeOrdersWrite, key, "hash")
				if err != nil {
					t.Fatal(err)
				}
				o, err := h.svc.CreateOrder(refund.WithClaim(h.ctx, late), h.p, in)
				if err != nil {
					t.Fatal(err)
				}
				h.clk.Advance(2 * time.Minute) // past its lease
				retry, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeOrdersWrite, key, "hash")
				if err != nil || retry.Replay != nil || !retry.Written() {
					t.Fatalf("the retry's claim: %+v, %v; want the key taken over", retry, err)
				}
				if o2, err := h.svc.CreateOrder(refund.WithClaim(h.ctx, retry), h.p, in); err != nil || o2.ID != o.ID {
					t.Fatalf("the retry: %v, %v; want the order %s", o2, err, o.ID)
				}
				if tc.done {
					h.svc.CompleteIdempotent(h.ctx, retry, ours)
				}
				h.svc.CompleteIdempotent(h.ctx, late, tc.late)
				next, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeOrdersWrite, key, "hash")
				switch {
				case !tc.done && refund.ErrorCode(err) != refund.EIdempotencyKeyInUse:
					t.Fatalf("a request while the retry holds the key: %+v, %v; want %s", next, err, refund.EIdempotencyKeyInUse)
				case tc.done && (err != nil || next.Replay == nil || string(next.Replay.Body) != string(ours.Body)):
					t.Fatalf("a request once the retry answered: %+v, %v; want the retry's answer %s", next, err, ours.Body)
				}
			})
		}
	})
}

// A refund request whose processor call outlasted its lease, while a
// retry took its key over and answered the refund as it stood, stored its
// own answer over the retry's when the call came back. The key keeps the
// retry's answer, and the processor's answer is recorded all the same.
func TestIdempotentClaims_LateRefundAnswerIsRecordedNotKept(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		proc := &stallingProcessor{entered: make(chan struct{}), release: make(chan struct{}), executed: map[string]bool{}}
		h := newHarnessOn(t, open, proc, nil)
		o := h.order(10_000)
		in := refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](4_000)}
		render := func(r *refund.Refund) refund.Reply {
			return refund.Reply{Status: 201, ContentType: "application/json", Body: []byte(`{"id":"` + r.ID + `","status":"` + string(r.Status) + `"}`)}
		}
		first, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeRefundsWrite, "slow-1", "hash")
		if err != nil {
			t.Fatal(err)
		}
		var late *refund.Refund
		done := make(chan error)
		go func() {
			var err error
			late, err = h.svc.CreateRefund(refund.WithReply(refund.WithClaim(h.ctx, first), render), h.p, in)
			done <- err
		}()
		<-proc.entered // the first request's call is out
		h.clk.Advance(2 * time.Minute)
		retry, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeRefundsWrite, "slow-1", "hash")
		if err != nil || retry.Replay != nil {
			t.Fatalf("the retry's claim: %+v, %v; want the key taken over", retry, err)
		}
		r, err := h.svc.CreateRefund(refund.WithReply(refund.WithClaim(h.ctx, retry), render), h.p, in)
		if err != nil {
			t.Fatal(err)
		}
		ours := render(r)
		h.svc.CompleteIdempotent(h.ctx, retry, ours)
		close(proc.release)
		if err := <-done; err != nil || late.ID != r.ID {
			t.Fatalf("the first request: %v, %v; want the refund %s", late, err, r.ID)
		}
		h.svc.CompleteIdempotent(h.ctx, first, render(late))
		if late.Status != refund.StatusSucceeded || h.refund(r.ID).Status != refund.StatusSucceeded {
			t.Fatalf("the first request answered %s, the refund is %s; want the processor's approval recorded", late.Status, h.refund(r.ID).Status)
		}
		// Recorded once: one event, the order's money moved once.
		if n := h.eventsOf()[r.ID+" refund.succeeded"]; n != 1 {
			t.Fatalf("%d refund.succeeded events; want 1", n)
		}
		if got := h.getOrder(o.ID); got.RefundedAmount != 4_000 || got.PendingRefundAmount != 0 {
			t.Fatalf("the order: refunded %d, pending %d; want 4000 and 0", got.RefundedAmount, got.PendingRefundAmount)
		}
		next, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeRefundsWrite, "slow-1", "hash")
		if err != nil || next.Replay == nil || string(next.Replay.Body) != string(ours.Body) {
			t.Fatalf("a request once both answered: %+v, %v; want the retry's answer %s", next, err, ours.Body)
		}
	})
}

// A request that took a key over (its row passed over: a 403 kept by an
// earlier release) created a refund, and the answer to its commit was
// lost: it answered 500 and released the key with the row as it had read
// it, unlinked, so a retry took the key over again and refunded a second
// time. Its release now finds the row moved on and leaves it: the retry,
// once the lease has run out, finds the first refund.
func TestIdempotentClaims_LostCommitAnswerKeepsTheRefund(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		var st *failAfterStore
		h := newHarnessOn(t, func(t *testing.T) refund.Store { st = &failAfterStore{Store: open(t)}; return st }, &instantProcessor{}, nil)
		o := h.order(10_000)
		now := h.clk.Now()
		err := h.st.Update(h.ctx, func(tx refund.Tx) error {
			return tx.InsertIdempotency(h.ctx, &refund.IdempotencyRecord{MerchantID: h.p.MerchantID, Key: "lost-1", RequestHash: "hash",
				Reply: refund.Reply{Status: 403, Body: []byte(`{}`)}, LockedUntil: now, CompletedAt: &now, CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
		})
		if err != nil {
			t.Fatal(err)
		}
		in := refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](4_000)}
		first, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeRefundsWrite, "lost-1", "hash")
		if err != nil || first.Replay != nil || !first.Written() {
			t.Fatalf("the first claim: %+v, %v; want the key taken over", first, err)
		}
		st.mu.Lock()
		st.arm = st.n + 1 // the reservation commits, its answer lost
		st.mu.Unlock()
		if _, err := h.svc.CreateRefund(refund.WithClaim(h.ctx, first), h.p, in); err == nil {
			t.Fatal("the refund whose commit's answer was lost answered no error")
		}
		h.svc.CompleteIdempotent(h.ctx, first, refund.Reply{Status: 500, ContentType: "application/json", Body: []byte(`{}`)})
		rs := refundsOf(t, h, o.ID)
		if len(rs) != 1 {
			t.Fatalf("%d refunds after the lost answer, want the one committed", len(rs))
		}
		h.clk.Advance(2 * time.Minute) // past the first request's lease
		retry, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeRefundsWrite, "lost-1", "hash")
		if err != nil || retry.Replay != nil {
			t.Fatalf("the retry's claim: %+v, %v", retry, err)
		}
		r, err := h.svc.CreateRefund(refund.WithClaim(h.ctx, retry), h.p, in)
		if err != nil || r.ID != rs[0].ID {
			t.Fatalf("the retry: %v, %v; want the refund %s", r, err, rs[0].ID)
		}
		if rs := refundsOf(t, h, o.ID); len(rs) != 1 {
			t.Fatalf("%d refunds of the order after the retry; want one", len(rs))
		}
	})
}

// refundsOf lists an order's refunds (a page holds them all here).
func refundsOf(t *testing.T, h *harness, orderID string) []*refund.Refund {
	t.Helper()
	page, err := h.svc.ListRefunds(h.ctx, h.p, refund.RefundFilter{OrderID: orderID, Limit: refund.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	return page.Data
}

// A reconciliation that took over a key left without kept results (by a
// node of an earlier release that stopped) kept its results with the key,
// and the answer to its commit was lost: its release wrote the row back
// as it had read it, the results gone, and the retry reconciled again,
// what the first run corrected now matched. The release finds the row
// moved on and leaves it: the retry answers the first run's results.
func TestReconcile_LostCommitAnswerKeepsItsResults(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		var st *failAfterStore
		h := newHarnessOn(t, func(t *testing.T) refund.Store { st = &failAfterStore{Store: open(t)}; return st },
			&declinesProcessor{amount: 4_000}, nil)
		o := h.order(10_000)
		declined := h.mustRefund(o, 4_000) // declined: the report shows it paid
		dec1 := h.clk.Now().Truncate(24 * time.Hour)
		rows := []refund.ReportRow{{Line: 2, RefundID: declined.ID, Amount: 4_000, Currency: "KWD", Status: "settled", Date: dec1}}
		opt := refund.ReconcileOptions{From: dec1, To: dec1}
		now := h.clk.Now()
		err := h.st.Update(h.ctx, func(tx refund.Tx) error {
			return tx.InsertIdempotency(h.ctx, &refund.IdempotencyRecord{MerchantID: h.p.MerchantID, Key: "recon-lost", RequestHash: "hash",
				LockedUntil: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
		})
		if err != nil {
			t.Fatal(err)
		}
		first, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeRefundsReview, "recon-lost", "hash")
		if err != nil || first.Replay != nil || !first.Written() {
			t.Fatalf("the first claim: %+v, %v; want the key taken over", first, err)
		}
		st.mu.Lock()
		st.arm = st.n + 1 // the reconciliation commits, its answer lost
		st.mu.Unlock()
		if _, err := h.svc.Reconcile(refund.WithClaim(h.ctx, first), h.p, rows, opt); err == nil {
			t.Fatal("the reconciliation whose commit's answer was lost answered no error")
		}
		h.svc.CompleteIdempotent(h.ctx, first, refund.Reply{Status: 500, ContentType: "application/json", Body: []byte(`{}`)})
		if r := h.refund(declined.ID); r.Status != refund.StatusSucceeded {
			t.Fatalf("the refund is %s; want the committed correction", r.Status)
		}
		h.clk.Advance(2 * time.Minute) // past the first run's lease
		retry, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeRefundsReview, "recon-lost", "hash")
		if err != nil || retry.Replay != nil {
			t.Fatalf("the retry's claim: %+v, %v", retry, err)
		}
		got, err := h.svc.Reconcile(refund.WithClaim(h.ctx, retry), h.p, rows, opt)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Kept || len(got.Results) != 1 || !got.Results[0].Corrected {
			t.Fatalf("the retry: %+v; want the first run's results, the refund corrected", got)
		}
	})
}
