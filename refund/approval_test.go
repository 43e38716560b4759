package refund_test

import (
	"testing"
	"time"

	"github.com/refundd/refundd/processor/sandbox"
	"github.com/refundd/refundd/refund"
)

// TestApproval walks the maker-checker flow on a real store: a refund at
// or above the threshold waits with its amount reserved; its creator may
// not decide on it; another key with refunds:approve approves (it then
// succeeds at the processor) or rejects (the amount comes back); one
// nobody decides on expires; a refund below the threshold goes straight
// through.
func TestApproval(t *testing.T) {
	setup := func(t *testing.T) (*harness, *sandbox.Acquirer, refund.Principal, *refund.Order) {
		acq := sandbox.New(sandbox.Config{})
		h := newHarness(t, acq, nil)
		expiry := 2 * time.Hour
		return h, acq, h.approvals(refund.RefundPolicyInput{ApprovalExpiry: &expiry}), h.order(100_000)
	}
	big := func(t *testing.T, h *harness, o *refund.Order) *refund.Refund {
		t.Helper()
		amount := int64(60_000)
		r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &amount})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != refund.StatusRequiresApproval || r.Attempts != 0 {
			t.Fatalf("a refund over the threshold: %s, %d attempts", r.Status, r.Attempts)
		}
		if got := h.getOrder(o.ID); got.PendingRefundAmount != 60_000 || got.Refundable() != 40_000 {
			t.Fatalf("waiting for approval, the amount is not reserved: pending %d, refundable %d", got.PendingRefundAmount, got.Refundable())
		}
		// Nobody can over-refund meanwhile.
		more := int64(40_001)
		if _, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &more}); refund.ErrorCode(err) != refund.EAmountExceedsRefundable {
			t.Fatalf("over-refund while waiting: %v", err)
		}
		return r
	}

	t.Run("ApprovedBySomeoneElse", func(t *testing.T) {
		h, acq, checker, o := setup(t)
		r := big(t, h, o)
		if _, err := h.svc.ApproveRefund(h.ctx, h.p, r.ID); refund.ErrorCode(err) != refund.EForbidden {
			t.Fatalf("the creator approved its own refund: %v", err)
		}
		if n := len(acq.Executions()); n != 0 {
			t.Fatalf("the processor was called before approval: %d", n)
		}
		got, err := h.svc.ApproveRefund(h.ctx, checker, r.ID)
		if err != nil || got.Status != refund.StatusSucceeded {
			t.Fatalf("approved: %v %v", got, err)
		}
		if o := h.getOrder(o.ID); o.RefundedAmount != 60_000 || o.PendingRefundAmount != 0 || len(acq.Executions()) != 1 {
			t.Fatalf("after approval: refunded %d pending %d, %d executions", o.RefundedAmount, o.PendingRefundAmount, len(acq.Executions()))
		}
		if _, err := h.svc.ApproveRefund(h.ctx, checker, r.ID); refund.ErrorCode(err) != refund.ERefundNotAwaitingApproval {
			t.Fatalf("approved twice: %v", err)
		}
		wantTransitions(t, h, r.ID, "requires_approval", "pending", "processing", "succeeded")
	})
	t.Run("Rejected", func(t *testing.T) {
		h, acq, checker, o := setup(t)
		r := big(t, h, o)
		if _, err := h.svc.RejectRefund(h.ctx, h.p, r.ID, "mine"); refund.ErrorCode(err) != refund.EForbidden {
			t.Fatalf("the creator rejected its own refund: %v", err)
		}
		got, err := h.svc.RejectRefund(h.ctx, checker, r.ID, "not authorised by finance")
		if err != nil || got.Status != refund.StatusCanceled || got.FailureMessage != "not authorised by finance" {
			t.Fatalf("rejected: %+v %v", got, err)
		}
		if o := h.getOrder(o.ID); o.PendingRefundAmount != 0 || o.Refundable() != 100_000 || len(acq.Executions()) != 0 {
			t.Fatalf("after rejection: pending %d refundable %d", o.PendingRefundAmount, o.Refundable())
		}
		wantTransitions(t, h, r.ID, "requires_approval", "canceled")
	})
	t.Run("Expires", func(t *testing.T) {
		h, acq, _, o := setup(t)
		r := big(t, h, o)
		h.drive(60) // an hour: not yet
		if got := h.refund(r.ID); got.Status != refund.StatusRequiresApproval {
			t.Fatalf("after an hour: %s", got.Status)
		}
		h.drive(61)
		if got := h.refund(r.ID); got.Status != refund.StatusCanceled || got.FailureCode != "approval_expired" {
			t.Fatalf("after the expiry: %s %s", got.Status, got.FailureCode)
		}
		if o := h.getOrder(o.ID); o.PendingRefundAmount != 0 || len(acq.Executions()) != 0 {
			t.Fatalf("after the expiry: pending %d", o.PendingRefundAmount)
		}
	})
	t.Run("ExpiredStaysExpiredWhenClaimed", func(t *testing.T) {
		// The worker's claim moves the refund's next look a lease ahead;
		// the approval's deadline stays where it was. An approver between
		// the claim and the cancel is refused, and the cancel still comes.
		h, acq, checker, o := setup(t)
		r := big(t, h, o)
		h.clk.Advance(3 * time.Hour)
		if err := h.st.Update(h.ctx, func(tx refund.Tx) error {
			_, err := tx.ClaimDueRefunds(h.ctx, h.clk.Now(), time.Minute, 10)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if got, err := h.svc.ApproveRefund(h.ctx, checker, r.ID); refund.ErrorCode(err) != refund.ERefundNotAwaitingApproval {
			t.Fatalf("approved an hour after its approval expired: %v %v", got, err)
		}
		h.drive(2) // the claim's lease runs out
		if got := h.refund(r.ID); got.Status != refund.StatusCanceled || got.FailureCode != "approval_expired" {
			t.Fatalf("after the claim's lease: %s %s", got.Status, got.FailureCode)
		}
		if o := h.getOrder(o.ID); o.PendingRefundAmount != 0 || len(acq.Executions()) != 0 {
			t.Fatalf("after the expiry: pending %d, %d executions", o.PendingRefundAmount, len(acq.Executions()))
		}
	})
	t.Run("ClaimedEarlyWaitsForItsDeadline", func(t *testing.T) {
		// A refund made due before its deadline (a lease handed back)
		// is not expired by the claim: it waits again, and can be
		// approved until the deadline.
		h, _, checker, o := setup(t)
		r := big(t, h, o)
		if err := h.st.Update(h.ctx, func(tx refund.Tx) error {
			cur, err := tx.GetRefund(h.ctx, "", r.ID)
			if err != nil {
				return err
			}
			cur.NextAttemptAt = h.clk.Now()
			return tx.UpdateRefund(h.ctx, cur)
		}); err != nil {
			t.Fatal(err)
		}
		h.drive(1)
		got := h.refund(r.ID)
		if got.Status != refund.StatusRequiresApproval || !got.NextAttemptAt.Equal(r.ApprovalExpiresAt) {
			t.Fatalf("claimed before its deadline %v: %s, next look %v", r.ApprovalExpiresAt, got.Status, got.NextAttemptAt)
		}
		if got, err := h.svc.ApproveRefund(h.ctx, checker, r.ID); err != nil || got.Status != refund.StatusSucceeded {
			t.Fatalf("approved before its deadline: %v %v", got, err)
		}
	})
	t.Run("BelowThresholdGoesThrough", func(t *testing.T) {
		h, _, _, o := setup(t)
		amount := int64(49_999)
		r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &amount})
		if err != nil || r.Status != refund.StatusSucceeded {
			t.Fatalf("%v %v", r, err)
		}
	})
	t.Run("CheckerNeedsTheScope", func(t *testing.T) {
		h, _, _, o := setup(t)
		r := big(t, h, o)
		_, key, err := h.svc.CreateKey(h.ctx, h.p.MerchantID, "", []string{refund.ScopeRefundsWrite, refund.ScopeRefundsRead})
		if err != nil {
			t.Fatal(err)
		}
		other, _ := h.svc.Authenticate(h.ctx, key)
		if _, err := h.svc.ApproveRefund(h.ctx, other, r.ID); refund.ErrorCode(err) != refund.EForbidden {
			t.Fatalf("approved without refunds:approve: %v", err)
		}
	})
}

func wantTransitions(t *testing.T, h *harness, id string, want ...string) {
	t.Helper()
	trs, err := h.svc.Transitions(h.ctx, h.p, id)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tr := range trs {
		got = append(got, string(tr.To))
	}
	if len(got) != len(want) {
		t.Fatalf("transitions %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("transitions %v, want %v", got, want)
		}
	}
}

// approvals sets the merchant's policy to in with an approval threshold
// of 500.000 KWD, and returns a second principal that may approve
// (refunds:approve and refunds:read), as maker-checker requires.
func (h *harness) approvals(in refund.RefundPolicyInput) refund.Principal {
	h.t.Helper()
	limits := map[string]int64{"KWD": 50_000}
	in.ApprovalThreshold = &limits
	if _, err := h.svc.PutRefundPolicy(h.ctx, h.p, in); err != nil {
		h.t.Fatal(err)
	}
	_, key, err := h.svc.CreateKey(h.ctx, h.p.MerchantID, "", []string{refund.ScopeRefundsApprove, refund.ScopeRefundsRead})
	if err != nil {
		h.t.Fatal(err)
	}
	checker, err := h.svc.Authenticate(h.ctx, key)
	if err != nil {
		h.t.Fatal(err)
	}
	return checker
}

// TestRefundFailure: a refund shows why it ended without paying when it
// failed, or was canceled by another than the merchant; a refund in
// flight, a merchant's own cancel and a success show nothing, whatever
// note an attempt left.
func TestRefundFailure(t *testing.T) {
	for _, tc := range []struct {
		status         refund.Status
		code, msg      string
		wantCode, want string
	}{
		{refund.StatusFailed, "51", "insufficient funds", "51", "insufficient funds"},
		{refund.StatusCanceled, "rejected", "duplicate", "rejected", "duplicate"},
		{refund.StatusCanceled, "approval_expired", "nobody approved it in time", "approval_expired", "nobody approved it in time"},
		{refund.StatusCanceled, "", "not executed by the processor", "", ""}, // the merchant's cancel after a retried attempt
		{refund.StatusPending, "", "not executed by the processor", "", ""},
		{refund.StatusSucceeded, "", "", "", ""},
		{refund.StatusRequiresReview, "05", "do not honour", "", ""},
	} {
		r := &refund.Refund{Status: tc.status, FailureCode: tc.code, FailureMessage: tc.msg}
		if code, msg := r.Failure(); code != tc.wantCode || msg != tc.want {
			t.Errorf("%s %q %q: Failure() = %q %q, want %q %q", tc.status, tc.code, tc.msg, code, msg, tc.wantCode, tc.want)
		}
	}
}

// TestRefundUnpaid: a refund that ended without paying says why in words;
// one paid or on its way says nothing.
func TestRefundUnpaid(t *testing.T) {
	for _, tc := range []struct {
		r    refund.Refund
		want string
	}{
		{refund.Refund{Status: refund.StatusFailed, FailureCode: "51", FailureMessage: "insufficient funds"}, "the processor declined the refund (51): insufficient funds"},
		{refund.Refund{Status: refund.StatusCanceled, FailureCode: "rejected", FailureMessage: "duplicate"}, "the refund was canceled (rejected): duplicate"},
		{refund.Refund{Status: refund.StatusCanceled, FailureCode: "rejected"}, "the refund was canceled: rejected"},
		{refund.Refund{Status: refund.StatusCanceled, FailureMessage: "an attempt's note"}, "the refund was canceled"},
		{refund.Refund{Status: refund.StatusReversed}, "the processor reversed the refund after paying it"},
		{refund.Refund{Status: refund.StatusSucceeded}, ""},
		{refund.Refund{Status: refund.StatusRequiresApproval}, ""},
		{refund.Refund{Status: refund.StatusProcessing, FailureMessage: "timeout"}, ""},
	} {
		if got := tc.r.Unpaid(); got != tc.want {
			t.Errorf("%s %q %q: Unpaid() = %q, want %q", tc.r.Status, tc.r.FailureCode, tc.r.FailureMessage, got, tc.want)
		}
	}
}

// TestRefundPolicy_AuditNamesTheChange: each change of the refund policy
// is in the audit trail with the policy before and after it, so that the
// trail says who lowered or removed a currency's threshold and from what,
// or lengthened the expiry. Its entries said only "updated": a threshold
// removed, and the refunds that went out without a second person since,
// could not be traced to the change.
func TestRefundPolicy_AuditNamesTheChange(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, nil)
		day := 24 * time.Hour
		for _, tc := range []struct {
			name          string
			in            refund.RefundPolicyInput
			before, after string
		}{
			{"FirstPolicy", refund.RefundPolicyInput{ApprovalThreshold: &map[string]int64{"SAR": 50_000, "KWD": 20_000}},
				`{"approval_expiry_seconds":259200,"approval_threshold":{},"older_than_days":0}`,
				`{"approval_expiry_seconds":259200,"approval_threshold":{"KWD":20000,"SAR":50000},"older_than_days":0}`},
			{"ThresholdRemoved", refund.RefundPolicyInput{Thresholds: map[string]*int64{"SAR": nil}},
				`{"approval_expiry_seconds":259200,"approval_threshold":{"KWD":20000,"SAR":50000},"older_than_days":0}`,
				`{"approval_expiry_seconds":259200,"approval_threshold":{"KWD":20000},"older_than_days":0}`},
			{"AgeAndExpiry", refund.RefundPolicyInput{OlderThanDays: ptr(90), ApprovalExpiry: &day},
				`{"approval_expiry_seconds":259200,"approval_threshold":{"KWD":20000},"older_than_days":0}`,
				`{"approval_expiry_seconds":86400,"approval_threshold":{"KWD":20000},"older_than_days":90}`},
		} {
			if _, err := h.svc.PutRefundPolicy(h.ctx, h.p, tc.in); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			page, err := h.svc.ListAudit(h.ctx, h.p, refund.AuditFilter{Action: "refund_policy.update", Limit: 1})
			if err != nil || len(page.Data) != 1 {
				t.Fatalf("%s: audit %v %v", tc.name, page.Data, err)
			}
			if e := page.Data[0]; e.Before != tc.before || e.After != tc.after || e.ObjectID != h.p.MerchantID {
				t.Errorf("%s: audited %s %q -> %q, want %q -> %q", tc.name, e.ObjectID, e.Before, e.After, tc.before, tc.after)
			}
		}
	})
}
