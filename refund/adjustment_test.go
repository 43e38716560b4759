package refund_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/sandbox"
	"github.com/refundd/refundd/refund"
)

func sarOrder(t *testing.T, h *harness, amount int64) *refund.Order {
	t.Helper()
	o, err := h.svc.CreateOrder(h.ctx, h.p, refund.OrderInput{Currency: "SAR", Amount: amount, PaymentMethod: "card",
		Source: refund.Card{Scheme: "visa", LastDigits: "4444"}})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// A chargeback of 50.00 on a 100.00 order leaves 50.00 to refund: 60.00 is
// refused, 50.00 succeeds, and the books never add up to more than was
// captured.
func TestChargeback_ReducesWhatCanBeRefunded(t *testing.T) {
	h := newHarness(t, &instantProcessor{}, nil)
	o := sarOrder(t, h, 10000)
	cb, got, err := h.svc.ChargebackOrder(h.ctx, h.p, o.ID, refund.AdjustmentInput{Amount: 5000, Reason: "fraud", ProcessorReference: "CB-1"})
	if err != nil {
		t.Fatal(err)
	}
	if cb.Applied != 5000 || got.ChargedBackAmount != 5000 || got.Refundable() != 5000 {
		t.Fatalf("chargeback %+v, order charged back %d refundable %d", cb, got.ChargedBackAmount, got.Refundable())
	}
	sixty, fifty := int64(6000), int64(5000)
	if _, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &sixty}); refund.ErrorCode(err) != refund.EAmountExceedsRefundable {
		t.Fatalf("refund of 60.00 after a 50.00 chargeback: %v, want %s", err, refund.EAmountExceedsRefundable)
	}
	r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &fifty})
	if err != nil || r.Status != refund.StatusSucceeded {
		t.Fatalf("refund of 50.00: %+v %v", r, err)
	}
	// The same chargeback again (a notification repeated) changes nothing.
	again, got, err := h.svc.ChargebackOrder(h.ctx, h.p, o.ID, refund.AdjustmentInput{Amount: 5000, Reason: "fraud", ProcessorReference: "CB-1"})
	if err != nil || again.ID != cb.ID || got.ChargedBackAmount != 5000 {
		t.Fatalf("repeated chargeback: %+v %v, charged back %d", again, err, got.ChargedBackAmount)
	}
	if _, _, err := h.svc.ChargebackOrder(h.ctx, h.p, o.ID, refund.AdjustmentInput{Amount: 4000, ProcessorReference: "CB-1"}); refund.ErrorCode(err) != refund.EMerchantReferenceReused {
		t.Fatalf("CB-1 with another amount: %v", err)
	}
	page, _ := h.svc.ListDiscrepancies(h.ctx, h.p, refund.DiscrepancyFilter{})
	if len(page.Data) != 0 {
		t.Fatalf("%d discrepancies, want none", len(page.Data))
	}
}

// A chargeback after refunds already returned the money: what fits is
// charged back, the rest is a discrepancy (the customer was paid twice),
// with an event; the order still never goes over its capture.
func TestChargeback_AfterRefundsIsADiscrepancy(t *testing.T) {
	h := newHarness(t, &instantProcessor{}, nil)
	o := sarOrder(t, h, 10000)
	eighty := int64(8000)
	if _, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &eighty}); err != nil {
		t.Fatal(err)
	}
	cb, got, err := h.svc.ChargebackOrder(h.ctx, h.p, o.ID, refund.AdjustmentInput{Amount: 5000, ProcessorReference: "CB-9"})
	if err != nil {
		t.Fatal(err)
	}
	if cb.Applied != 2000 || got.ChargedBackAmount != 2000 || got.RefundedAmount+got.ChargedBackAmount != 10000 {
		t.Fatalf("chargeback %+v; order refunded %d charged back %d", cb, got.RefundedAmount, got.ChargedBackAmount)
	}
	page, err := h.svc.ListDiscrepancies(h.ctx, h.p, refund.DiscrepancyFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].Kind != refund.DiscrepancyChargebackAfterRefund || page.Data[0].Amount != 3000 {
		t.Fatalf("discrepancies %+v, want one chargeback_after_refund of 3000", page.Data)
	}
	for _, typ := range []string{refund.EventOrderChargedBack, refund.EventRefundDiscrepancy} {
		evs, err := h.svc.ListEvents(h.ctx, h.p, refund.EventFilter{Type: typ})
		if err != nil || len(evs.Data) != 1 {
			t.Fatalf("%s events: %d, %v", typ, len(evs.Data), err)
		}
	}
}

// TestChargeback_RacingRefundsOnAnotherNodeRecords: a chargeback of the
// whole order on one node while refunds run on the other always records,
// applying what the refunds left and listing the rest, and the order adds
// up to its capture. It reads the order under the order's lock: read
// unlocked on PostgreSQL, a refund took the room before its guarded update
// and the chargeback was refused as exceeding what was left.
func TestChargeback_RacingRefundsOnAnotherNodeRecords(t *testing.T) {
	ctx := context.Background()
	for _, k := range twoNodes {
		t.Run(k.name, func(t *testing.T) {
			var n atomic.Int64
			var svcs [2]*refund.Service
			var ps [2]refund.Principal
			for i, st := range k.open(t) {
				svc, err := refund.NewService(refund.Config{Store: st, Processor: &instantProcessor{},
					NewID: func(p string) string { return fmt.Sprintf("%s_%012d", p, n.Add(1)) }})
				if err != nil {
					t.Fatal(err)
				}
				svcs[i] = svc
			}
			_, key, err := svcs[0].CreateMerchant(ctx, refund.MerchantInput{Name: "Souq"})
			if err != nil {
				t.Fatal(err)
			}
			for i, svc := range svcs {
				if ps[i], err = svc.Authenticate(ctx, key); err != nil {
					t.Fatal(err)
				}
			}
			for round := range 30 {
				o, err := svcs[0].CreateOrder(ctx, ps[0], refund.OrderInput{Currency: "SAR", Amount: 10000})
				if err != nil {
					t.Fatal(err)
				}
				var wg sync.WaitGroup
				var a *refund.OrderAdjustment
				var cbErr error
				for i := range 4 {
					wg.Go(func() {
						if i == 3 {
							a, _, cbErr = svcs[1].ChargebackOrder(ctx, ps[1], o.ID, refund.AdjustmentInput{Amount: 10000, ProcessorReference: "CB"})
							return
						}
						amount := int64(100)
						// Refused once the chargeback took the order: either
						// outcome is fine, the sums below are what count.
						svcs[0].CreateRefund(ctx, ps[0], refund.RefundInput{OrderID: o.ID, Amount: &amount})
					})
				}
				wg.Wait()
				if cbErr != nil {
					t.Fatalf("round %d: chargeback refused: %v", round, cbErr)
				}
				got, err := svcs[0].GetOrder(ctx, ps[0], o.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.ChargedBackAmount != a.Applied || got.RefundedAmount+got.PendingRefundAmount+got.ChargedBackAmount != got.CapturedAmount {
					t.Fatalf("round %d: chargeback applied %d; order refunded %d pending %d charged back %d of %d", round,
						a.Applied, got.RefundedAmount, got.PendingRefundAmount, got.ChargedBackAmount, got.CapturedAmount)
				}
			}
		})
	}
}

// TestChargeback_CancelsARefundWaitingForApproval: a chargeback of the
// whole order cancels a refund still waiting for approval (it paid
// nothing yet) and applies in full; the approver then finds nothing to
// approve and the processor is never called. Counted as already paid, the
// refund was left waiting, and approving it paid the cardholder twice.
func TestChargeback_CancelsARefundWaitingForApproval(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		acq := sandbox.New(sandbox.Config{})
		h := newHarnessOn(t, open, acq, nil)
		checker := h.approvals(refund.RefundPolicyInput{})
		o := h.order(100_000)
		amount := int64(60_000)
		r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &amount})
		if err != nil || r.Status != refund.StatusRequiresApproval {
			t.Fatalf("%v %v, want a refund waiting for approval", r, err)
		}
		cb, got, err := h.svc.ChargebackOrder(h.ctx, h.p, o.ID, refund.AdjustmentInput{Amount: 100_000, ProcessorReference: "CB-1"})
		if err != nil {
			t.Fatal(err)
		}
		if cb.Applied != 100_000 || got.ChargedBackAmount != 100_000 || got.PendingRefundAmount != 0 {
			t.Fatalf("chargeback applied %d; order charged back %d pending %d", cb.Applied, got.ChargedBackAmount, got.PendingRefundAmount)
		}
		if got := h.refund(r.ID); got.Status != refund.StatusCanceled || got.FailureCode != "charged_back" {
			t.Fatalf("the waiting refund after the chargeback: %s %s", got.Status, got.FailureCode)
		}
		if _, err := h.svc.ApproveRefund(h.ctx, checker, r.ID); refund.ErrorCode(err) != refund.ERefundNotAwaitingApproval || len(acq.Executions()) > 0 {
			t.Fatalf("approved after a full chargeback: %v, %d executions", err, len(acq.Executions()))
		}
		wantTransitions(t, h, r.ID, "requires_approval", "canceled")
		page, _ := h.svc.ListDiscrepancies(h.ctx, h.p, refund.DiscrepancyFilter{})
		if len(page.Data) != 0 {
			t.Fatalf("%d discrepancies, want none: nothing was paid twice", len(page.Data))
		}
	})
}

// TestChargeback_CancelsQueuedRefundsUntilItFits: a chargeback that does
// not fit cancels the order's queued refunds, newest first, only until it
// does, each audited with its event; one that fits cancels none. A queued
// refund left standing could be canceled and asked for again, paying the
// cardholder a second time.
func TestChargeback_CancelsQueuedRefundsUntilItFits(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, nil)
		o := sarOrder(t, h, 10000)
		queue := func(amount int64) *refund.Refund {
			t.Helper()
			r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &amount, Queue: true})
			if err != nil || r.Status != refund.StatusPending {
				t.Fatalf("%v %v, want a queued refund", r, err)
			}
			return r
		}
		older, newer := queue(3000), queue(4000)
		chargeback := func(ref string, amount, applied int64, canceled ...string) {
			t.Helper()
			cb, _, err := h.svc.ChargebackOrder(h.ctx, h.p, o.ID, refund.AdjustmentInput{Amount: amount, ProcessorReference: ref})
			if err != nil || cb.Applied != applied {
				t.Fatalf("chargeback %s of %d: %+v %v, want %d applied", ref, amount, cb, err, applied)
			}
			evs, err := h.svc.ListEvents(h.ctx, h.p, refund.EventFilter{Type: "refund.canceled"})
			if err != nil || len(evs.Data) != len(canceled) {
				t.Fatalf("after chargeback %s: %d refund.canceled events, %v; want %d", ref, len(evs.Data), err, len(canceled))
			}
			audit, err := h.svc.ListAudit(h.ctx, h.p, refund.AuditFilter{Action: "refund.cancel"})
			if err != nil || len(audit.Data) != len(canceled) {
				t.Fatalf("after chargeback %s: %d refund.cancel audit entries, %v; want %d", ref, len(audit.Data), err, len(canceled))
			}
			for _, id := range canceled {
				if got := h.refund(id); got.Status != refund.StatusCanceled || got.FailureCode != "charged_back" {
					t.Fatalf("after chargeback %s, refund %s: %s %s", ref, id, got.Status, got.FailureCode)
				}
			}
		}
		chargeback("CB-1", 1000, 1000)                     // 3000 left: fits
		chargeback("CB-2", 4000, 4000, newer.ID)           // 2000 left: the newer one gives way
		chargeback("CB-3", 5000, 5000, newer.ID, older.ID) // 5000 left after the older one too
		if got := h.refund(older.ID); got.Status != refund.StatusCanceled {
			t.Fatalf("older refund: %s", got.Status)
		}
		if _, err := h.svc.CancelRefund(h.ctx, h.p, older.ID); refund.ErrorCode(err) != refund.ERefundNotCancelable {
			t.Fatalf("canceled a refund the chargeback canceled: %v", err)
		}
		if r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID}); refund.ErrorCode(err) != refund.EAmountExceedsRefundable {
			t.Fatalf("refund after a full chargeback: %v %v", r, err)
		}
		if got := h.getOrder(o.ID); got.ChargedBackAmount != 10000 || got.PendingRefundAmount != 0 || got.RefundedAmount != 0 {
			t.Fatalf("order charged back %d pending %d refunded %d", got.ChargedBackAmount, got.PendingRefundAmount, got.RefundedAmount)
		}
		page, _ := h.svc.ListDiscrepancies(h.ctx, h.p, refund.DiscrepancyFilter{})
		if len(page.Data) != 0 {
			t.Fatalf("%d discrepancies, want none: nothing was paid twice", len(page.Data))
		}
	})
}

// TestChargeback_OwedPartAppliesWhenASentRefundGivesBackItsRoom: the part
// of a chargeback that refunds sent to the processor had returned is owed,
// not forgotten. When one of those refunds then fails or is reversed, the
// room it frees goes to the chargeback first, oldest first; left free, a
// new refund could pay the cardholder again what the bank already took
// back.
func TestChargeback_OwedPartAppliesWhenASentRefundGivesBackItsRoom(t *testing.T) {
	cases := []struct {
		name            string
		refunds         []int64 // sent before the chargeback; the first one ends as end says
		end             processor.Status
		chargeback      int64
		applied, owed   int64 // the chargeback's applied amount before, and after the first refund ends
		wantRefundable  int64
		wantChargebacks int // order.charged_back events
	}{
		{name: "declined after the chargeback", refunds: []int64{8000}, end: processor.Declined,
			chargeback: 10000, applied: 2000, owed: 10000, wantRefundable: 0, wantChargebacks: 2},
		{name: "reversed after the chargeback", refunds: []int64{8000}, end: processor.Reversed,
			chargeback: 10000, applied: 2000, owed: 10000, wantRefundable: 0, wantChargebacks: 2},
		{name: "reversal frees more than is owed", refunds: []int64{8000}, end: processor.Reversed,
			chargeback: 5000, applied: 2000, owed: 5000, wantRefundable: 5000, wantChargebacks: 2},
		{name: "reversal frees less than is owed", refunds: []int64{3000, 5000}, end: processor.Reversed,
			chargeback: 10000, applied: 2000, owed: 5000, wantRefundable: 0, wantChargebacks: 2},
		{name: "nothing owed", refunds: []int64{3000}, end: processor.Reversed,
			chargeback: 5000, applied: 5000, owed: 5000, wantRefundable: 5000, wantChargebacks: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			onEachStore(t, func(t *testing.T, open opener) {
				proc := newLateProcessor()
				h := newHarnessOn(t, open, proc, nil)
				o := sarOrder(t, h, 10000)
				var sent []*refund.Refund
				for _, amount := range tc.refunds {
					r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &amount})
					if err != nil || r.Status != refund.StatusProcessing {
						t.Fatalf("%v %v, want a refund sent without an answer", r, err)
					}
					sent = append(sent, r)
				}
				if tc.end == processor.Reversed {
					for _, r := range sent {
						proc.execute(r.ID)
						if r, err := h.svc.SyncRefund(h.ctx, h.p, r.ID); err != nil || r.Status != refund.StatusSucceeded {
							t.Fatalf("%v %v, want succeeded", r, err)
						}
					}
				}
				in := refund.AdjustmentInput{Amount: tc.chargeback, ProcessorReference: "CB-1"}
				cb, _, err := h.svc.ChargebackOrder(h.ctx, h.p, o.ID, in)
				if err != nil || cb.Applied != tc.applied {
					t.Fatalf("chargeback: %+v %v, want %d applied", cb, err, tc.applied)
				}
				proc.mu.Lock()
				proc.results[sent[0].ID] = processor.Result{Status: tc.end, ResponseCode: "05"}
				proc.mu.Unlock()
				if r, err := h.svc.SyncRefund(h.ctx, h.p, sent[0].ID); err != nil || r.Status == refund.StatusProcessing || r.Status == refund.StatusSucceeded {
					t.Fatalf("%v %v, want the refund ended", r, err)
				}
				if cb, _, err = h.svc.ChargebackOrder(h.ctx, h.p, o.ID, in); err != nil || cb.Applied != tc.owed {
					t.Fatalf("the chargeback after the refund ended: %+v %v, want %d applied", cb, err, tc.owed)
				}
				got := h.getOrder(o.ID)
				if got.ChargedBackAmount != tc.owed || got.Refundable() != tc.wantRefundable ||
					got.RefundedAmount+got.PendingRefundAmount+got.ChargedBackAmount+got.Refundable() != got.CapturedAmount {
					t.Fatalf("order charged back %d refunded %d pending %d refundable %d; want %d charged back, %d refundable",
						got.ChargedBackAmount, got.RefundedAmount, got.PendingRefundAmount, got.Refundable(), tc.owed, tc.wantRefundable)
				}
				over := tc.wantRefundable + 1
				if r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &over}); refund.ErrorCode(err) != refund.EAmountExceedsRefundable {
					t.Fatalf("a refund of %d after the refund ended: %v %v; the chargeback took that money back", over, r, err)
				}
				evs, err := h.svc.ListEvents(h.ctx, h.p, refund.EventFilter{Type: refund.EventOrderChargedBack})
				if err != nil || len(evs.Data) != 1 {
					t.Fatalf("%d order.charged_back events, %v; want one: one chargeback", len(evs.Data), err)
				}
				evs, err = h.svc.ListEvents(h.ctx, h.p, refund.EventFilter{Type: refund.EventOrderChargebackApplied})
				if err != nil || len(evs.Data) != tc.wantChargebacks-1 {
					t.Fatalf("%d order.chargeback_applied events, %v; want %d", len(evs.Data), err, tc.wantChargebacks-1)
				}
				// What refunds have returned of the chargeback, and no more,
				// is still a discrepancy.
				page, err := h.svc.ListDiscrepancies(h.ctx, h.p, refund.DiscrepancyFilter{Kind: refund.DiscrepancyChargebackAfterRefund})
				if err != nil {
					t.Fatal(err)
				}
				switch paid := tc.chargeback - tc.owed; {
				case tc.applied == tc.chargeback: // it fit: nothing was paid twice
					if len(page.Data) != 0 {
						t.Fatalf("discrepancies %+v; want none", page.Data)
					}
				case len(page.Data) != 1 || page.Data[0].Amount != paid:
					t.Fatalf("discrepancies %+v; want one of %d, what refunds still have returned of the chargeback", page.Data, paid)
				case paid == 0 && (page.Data[0].Status() != refund.DiscrepancyResolved || page.Data[0].ResolvedBy != refund.ResolvedByRefundd):
					t.Fatalf("discrepancy %+v: all of it came back; want it resolved by refundd", page.Data[0])
				case paid > 0 && page.Data[0].Status() != refund.DiscrepancyOpen:
					t.Fatalf("discrepancy %+v: %d still paid twice; want it open", page.Data[0], paid)
				}
				audit, err := h.svc.ListAudit(h.ctx, h.p, refund.AuditFilter{Action: "order.chargeback_applied"})
				if err != nil || len(audit.Data) != tc.wantChargebacks-1 {
					t.Fatalf("%d order.chargeback_applied audit entries, %v; want %d", len(audit.Data), err, tc.wantChargebacks-1)
				}
			})
		})
	}
}

// heldRefusal holds the first refund call until released and then
// answers that nothing was executed (a 429); later calls approve.
type heldRefusal struct {
	entered, release chan struct{}
	calls            atomic.Int32
}

func (p *heldRefusal) Refund(ctx context.Context, req processor.Request) (processor.Result, error) {
	if p.calls.Add(1) > 1 {
		return processor.Result{Status: processor.Approved, ResponseCode: "00"}, nil
	}
	p.entered <- struct{}{}
	<-p.release
	return processor.Result{}, &processor.TransientError{Code: "rate_limited", Message: "slow down", NotExecuted: true}
}

func (p *heldRefusal) Status(context.Context, string) (processor.Result, error) {
	return processor.Result{}, processor.ErrNotFound
}

// TestChargeback_RefundAtTheProcessorThatNeverExecutedGivesWay: a
// chargeback that comes while a refund is at the processor counts it as
// sent, and owes what it holds. When the processor then answers that it
// executed nothing, the refund gives way (canceled, charged_back) and the
// chargeback takes its room; put back in the queue, it was sent again and
// paid the cardholder twice.
func TestChargeback_RefundAtTheProcessorThatNeverExecutedGivesWay(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		proc := &heldRefusal{entered: make(chan struct{}, 1), release: make(chan struct{})}
		h := newHarnessOn(t, open, proc, nil)
		o := sarOrder(t, h, 10000)
		amount := int64(8000)
		done := make(chan *refund.Refund, 1)
		go func() {
			r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &amount})
			if err != nil {
				t.Error(err)
			}
			done <- r
		}()
		waitFor(t, proc.entered, "the refund at the processor")
		cb, _, err := h.svc.ChargebackOrder(h.ctx, h.p, o.ID, refund.AdjustmentInput{Amount: 10000, ProcessorReference: "CB-1"})
		if err != nil || cb.Applied != 2000 {
			t.Fatalf("chargeback during the call: %+v %v, want 2000 applied", cb, err)
		}
		close(proc.release)
		r := <-done
		if r == nil {
			t.FailNow()
		}
		h.drive(10)
		got := h.refund(r.ID)
		if got.Status != refund.StatusCanceled || got.FailureCode != "charged_back" || proc.calls.Load() != 1 {
			t.Fatalf("refund %s %s after %d calls; want canceled, charged_back, never sent again", got.Status, got.FailureCode, proc.calls.Load())
		}
		wantTransitions(t, h, r.ID, "pending", "processing", "pending", "canceled")
		if got := h.getOrder(o.ID); got.ChargedBackAmount != 10000 || got.RefundedAmount != 0 || got.PendingRefundAmount != 0 {
			t.Fatalf("order charged back %d refunded %d pending %d", got.ChargedBackAmount, got.RefundedAmount, got.PendingRefundAmount)
		}
	})
}

// A void larger than what is left is refused and changes nothing; one
// that fits reduces what can be refunded.
func TestVoid(t *testing.T) {
	h := newHarness(t, &instantProcessor{}, nil)
	o := sarOrder(t, h, 10000)
	if _, _, err := h.svc.VoidOrder(h.ctx, h.p, o.ID, refund.AdjustmentInput{Amount: 10001}); refund.ErrorCode(err) != refund.EAmountExceedsRefundable {
		t.Fatalf("void over the capture: %v", err)
	}
	v, got, err := h.svc.VoidOrder(h.ctx, h.p, o.ID, refund.AdjustmentInput{Amount: 2500, Reason: "partial void"})
	if err != nil || v.Applied != 2500 || got.VoidedAmount != 2500 || got.Refundable() != 7500 {
		t.Fatalf("void: %+v %v, order voided %d", v, err, got.VoidedAmount)
	}
	if _, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID}); err != nil {
		t.Fatal(err)
	}
	if got = h.getOrder(o.ID); got.RefundedAmount != 7500 {
		t.Fatalf("full refund after the void refunded %d, want 7500", got.RefundedAmount)
	}
	for _, in := range []refund.AdjustmentInput{{Amount: 0}, {Amount: -5}, {Amount: 1, ProcessorReference: "bad ref!"}} {
		if _, _, err := h.svc.VoidOrder(h.ctx, h.p, o.ID, in); err == nil {
			t.Fatalf("void %+v accepted", in)
		}
	}
}

// lateReversal approves at once and reports a refund reversed once
// the test says so: a reversal nobody notified.
type lateReversal struct {
	instantProcessor
	reversed map[string]bool
}

func (p *lateReversal) Status(ctx context.Context, key string) (processor.Result, error) {
	p.mu.Lock()
	rev := p.reversed[key]
	p.mu.Unlock()
	if rev {
		return processor.Result{Status: processor.Reversed, ResponseCode: "00"}, nil
	}
	return p.instantProcessor.Status(ctx, key)
}

// A succeeded refund is asked about again at its sweep ages: a reversal
// the processor never notified is found without any manual sync, and
// once the ages are done the refund is left alone.
func TestSweeps_FindAReversalNobodyNotified(t *testing.T) {
	proc := &lateReversal{reversed: map[string]bool{}}
	h := newHarness(t, proc, func(c *refund.Config) { c.SweepAges = []time.Duration{time.Hour, 24 * time.Hour} })
	o := sarOrder(t, h, 10000)
	amount := int64(4000)
	r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &amount})
	if err != nil || r.Status != refund.StatusSucceeded || r.SweepsLeft != 2 {
		t.Fatalf("refund %+v %v", r, err)
	}
	other, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: &amount})
	if err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(59 * time.Minute)
	if n, _ := h.svc.ProcessDue(h.ctx, 10, 1); n != 0 {
		t.Fatalf("claimed %d refunds before the first sweep age", n)
	}
	h.clk.Advance(2 * time.Minute)
	if n, _ := h.svc.ProcessDue(h.ctx, 10, 1); n != 2 {
		t.Fatalf("claimed %d refunds at the first sweep age, want 2", n)
	}
	proc.mu.Lock()
	proc.reversed[r.ID] = true // reversed at the processor, nobody told refundd
	proc.mu.Unlock()
	h.clk.Advance(23 * time.Hour)
	h.svc.ProcessDue(h.ctx, 10, 1)
	if got := h.refund(r.ID); got.Status != refund.StatusReversed {
		t.Fatalf("refund is %s after the second sweep, want reversed", got.Status)
	}
	if got := h.refund(other.ID); got.Status != refund.StatusSucceeded || got.SweepsLeft != 0 {
		t.Fatalf("the other refund: %s with %d sweeps left", got.Status, got.SweepsLeft)
	}
	if got := h.getOrder(o.ID); got.RefundedAmount != amount {
		t.Fatalf("order refunded %d after one reversal, want %d", got.RefundedAmount, amount)
	}
	h.clk.Advance(30 * 24 * time.Hour)
	if n, _ := h.svc.ProcessDue(h.ctx, 10, 1); n != 0 {
		t.Fatalf("claimed %d refunds after every sweep was done", n)
	}
}

// TestAdjustment_RetryAfterADeadRequestAppliesOnce: a void without a
// processor reference whose request died after it committed, before it
// answered, is found through its Idempotency-Key by the retry that takes
// the key over: the order is voided once, not twice.
func TestAdjustment_RetryAfterADeadRequestAppliesOnce(t *testing.T) {
	h := newHarness(t, &instantProcessor{}, nil)
	o := h.order(10_000)
	in := refund.AdjustmentInput{Amount: 3_000, Reason: "cancelled"}
	c, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeOrdersWrite, "void-1", "hash-void")
	if err != nil {
		t.Fatal(err)
	}
	first, _, err := h.svc.VoidOrder(refund.WithClaim(h.ctx, c), h.p, o.ID, in)
	if err != nil {
		t.Fatal(err)
	}
	// It dies here: no answer stored. After its lease a retry takes over.
	h.clk.Advance(time.Hour)
	again, err := h.svc.BeginIdempotent(h.ctx, h.p, refund.ScopeOrdersWrite, "void-1", "hash-void")
	if err != nil || again.Replay != nil || !again.Written() {
		t.Fatalf("take-over claim: %+v, %v", again, err)
	}
	second, got, err := h.svc.VoidOrder(refund.WithClaim(h.ctx, again), h.p, o.ID, in)
	if err != nil {
		t.Fatal(err)
	}
	if second.ID != first.ID || got.VoidedAmount != 3_000 {
		t.Fatalf("retry: adjustment %s (first %s), voided %d; want the first one and 3000", second.ID, first.ID, got.VoidedAmount)
	}
	if cur := h.getOrder(o.ID); cur.VoidedAmount != 3_000 {
		t.Fatalf("order voided %d, want 3000: the void applied twice", cur.VoidedAmount)
	}
}

// A processor's notifications arrive at least once: a Standard Webhooks
// sender retries a timeout or a 5xx with the same webhook-id. A void or
// chargeback notified without the processor's reference is kept once per
// message, as one with a reference is once per reference; another message
// is another void or chargeback. One with neither is refused rather than
// applied with nothing to recognise its repeat by.
func TestAdjustment_RedeliveredNotificationWithoutReferenceAppliesOnce(t *testing.T) {
	tests := []struct {
		name, typ, id string
	}{
		{"chargeback", refund.NotifyOrderChargeback, "msg_1"},
		{"void", refund.NotifyOrderVoided, "msg_1"},
		// Not itself a valid reference (a space, a non-ASCII letter).
		{"id with other characters", refund.NotifyOrderChargeback, "msg 1/\u00e9"},
	}
	onEachStore(t, func(t *testing.T, open opener) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				h := newHarnessOn(t, open, newLateProcessor(), nil)
				o := h.order(10_000)
				n := refund.Notification{ID: tc.id, Type: tc.typ, OrderID: o.ID, Amount: 3_000, Reason: "fraud"}
				var objects []string
				for range 2 { // the same message, delivered twice
					out, err := h.svc.ApplyNotification(h.ctx, n)
					if err != nil {
						t.Fatal(err)
					}
					objects = append(objects, out.Object)
				}
				got := h.getOrder(o.ID)
				if taken := got.ChargedBackAmount + got.VoidedAmount; taken != 3_000 || objects[0] != objects[1] {
					t.Fatalf("one %s of 3000 delivered twice took %d off the order as %v; want 3000, once", tc.typ, taken, objects)
				}
				n.ID += "-2" // another message: another one
				if _, err := h.svc.ApplyNotification(h.ctx, n); err != nil {
					t.Fatal(err)
				}
				if got = h.getOrder(o.ID); got.ChargedBackAmount+got.VoidedAmount != 6_000 {
					t.Fatalf("a second message took the order to %d, want 6000", got.ChargedBackAmount+got.VoidedAmount)
				}
				n.ID = ""
				if _, err := h.svc.ApplyNotification(h.ctx, n); refund.ErrorCode(err) != refund.EInvalidRequest {
					t.Fatalf("no reference and no message id: %v, want %s", err, refund.EInvalidRequest)
				}
				if got = h.getOrder(o.ID); got.ChargedBackAmount+got.VoidedAmount != 6_000 {
					t.Fatalf("a refused notification took the order to %d, want 6000", got.ChargedBackAmount+got.VoidedAmount)
				}
			})
		}
	})
}

// The node's processor sends notifications; about an order paid through
// a merchant's processor account it knows nothing, so neither a void or
// chargeback of that order nor a refund's outcome there is applied.
func TestNotifications_AboutAnotherProcessorsOrderAreIgnored(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		conn := newCaps(processor.Capabilities{StatusByKey: true, StatusByReference: true, Partial: true})
		h := newHarnessOn(t, open, newLateProcessor(), func(c *refund.Config) {
			c.Sealer = plainSealer{}
			c.Connect = func(processor.Account) (processor.Processor, error) { return conn, nil }
		})
		if _, err := h.svc.AddProcessorAccount(h.ctx, h.p.MerchantID, refund.ProcessorAccountInput{Name: "tr", Kind: "techrar",
			URL: "https://api.example.com", Credential: "tok"}); err != nil {
			t.Fatal(err)
		}
		o, err := h.svc.CreateOrder(h.ctx, h.p, refund.OrderInput{Currency: "KWD", Amount: 10_000, PaymentMethod: "card",
			Processor: "tr", ProcessorOrderID: "77"})
		if err != nil {
			t.Fatal(err)
		}
		r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](4_000)})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, r, refund.StatusProcessing) // its answer was lost
		for _, n := range []refund.Notification{
			{ID: "msg_1", Type: refund.NotifyOrderChargeback, OrderID: o.ID, Amount: 3_000, ProcessorReference: "CB-1"},
			{ID: "msg_2", Type: refund.NotifyOrderVoided, OrderID: o.ID, Amount: 3_000},
			{ID: "msg_3", Type: refund.NotifyRefundFailed, RefundID: r.ID, ResponseCode: "05"},
		} {
			out, err := h.svc.ApplyNotification(h.ctx, n)
			if err != nil || out.Applied {
				t.Fatalf("%s: %+v %v, want ignored", n.Type, out, err)
			}
		}
		got := h.getOrder(o.ID)
		if got.ChargedBackAmount != 0 || got.VoidedAmount != 0 || got.Refundable() != 6_000 {
			t.Fatalf("order after the ignored notifications: charged back %d, voided %d, refundable %d; want 0, 0, 6000",
				got.ChargedBackAmount, got.VoidedAmount, got.Refundable())
		}
		wantStatus(t, h.refund(r.ID), refund.StatusProcessing)
	})
}

// keyedStore records the key (merchant/order) of every Update.
type keyedStore struct {
	refund.Store
	mu   sync.Mutex
	keys []string
}

func (s *keyedStore) Update(ctx context.Context, fn func(refund.Tx) error) error {
	s.mu.Lock()
	s.keys = append(s.keys, refund.MerchantKey(ctx)+"/"+refund.OrderKey(ctx))
	s.mu.Unlock()
	return s.Store.Update(ctx, fn)
}

// A void or chargeback may name its order by the merchant's reference; its
// Update is still keyed by the order's id, as every other Update of the
// order is: PostgreSQL runs a batch's Updates in the order of their keys,
// so that batches take orders' rows in one order, and lanes them by key.
func TestAdjustment_ByReferenceIsKeyedByTheOrder(t *testing.T) {
	ks := &keyedStore{}
	h := newHarnessOn(t, func(t *testing.T) refund.Store { ks.Store = openSQLite(t); return ks }, &instantProcessor{}, nil)
	o, err := h.svc.CreateOrder(h.ctx, h.p, refund.OrderInput{Reference: "ORD-9", Currency: "SAR", Amount: 10000, PaymentMethod: "card",
		Source: refund.Card{Scheme: "visa", LastDigits: "4444"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		call func(id string) error
	}{
		{"void", func(id string) error {
			_, _, err := h.svc.VoidOrder(h.ctx, h.p, id, refund.AdjustmentInput{Amount: 100, ProcessorReference: "V-" + id})
			return err
		}},
		{"chargeback", func(id string) error {
			_, _, err := h.svc.ChargebackOrder(h.ctx, h.p, id, refund.AdjustmentInput{Amount: 100, ProcessorReference: "CB-" + id})
			return err
		}},
	} {
		for _, id := range []string{o.ID, o.Reference} {
			ks.mu.Lock()
			ks.keys = nil
			ks.mu.Unlock()
			if err := c.call(id); err != nil {
				t.Fatalf("%s by %s: %v", c.name, id, err)
			}
			ks.mu.Lock()
			keys := slices.Clone(ks.keys)
			ks.mu.Unlock()
			if len(keys) == 0 {
				t.Fatalf("%s by %s: no Update", c.name, id)
			}
			for _, k := range keys {
				if k != o.MerchantID+"/"+o.ID {
					t.Errorf("%s by %s: an Update keyed %q, want %s/%s", c.name, id, k, o.MerchantID, o.ID)
				}
			}
		}
	}
	// An order that does not exist is refused as before.
	if _, _, err := h.svc.VoidOrder(h.ctx, h.p, "ORD-NONE", refund.AdjustmentInput{Amount: 100}); refund.ErrorCode(err) != refund.EOrderNotFound {
		t.Fatalf("void of an unknown order: %v, want %s", err, refund.EOrderNotFound)
	}
}

// keysOf runs call and returns the order keys of the Updates it made.
func (s *keyedStore) keysOf(t *testing.T, call func() error) []string {
	t.Helper()
	s.mu.Lock()
	s.keys = nil
	s.mu.Unlock()
	if err := call(); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.keys) == 0 {
		t.Fatal("no Update")
	}
	return slices.Clone(s.keys)
}

// Cancelling, rejecting and resolving name a refund, not its order, but
// may take the order's row (they release or commit its amount): their
// Updates are keyed by the refund's order too.
func TestRefundDecisions_AreKeyedByTheOrder(t *testing.T) {
	keyed := func(t *testing.T, proc processor.Processor) (*harness, *keyedStore) {
		ks := &keyedStore{}
		return newHarnessOn(t, func(t *testing.T) refund.Store { ks.Store = openSQLite(t); return ks }, proc, nil), ks
	}
	want := func(t *testing.T, keys []string, o *refund.Order) {
		t.Helper()
		for _, k := range keys {
			if k != o.MerchantID+"/"+o.ID {
				t.Errorf("an Update keyed %q, want %s/%s", k, o.MerchantID, o.ID)
			}
		}
	}
	t.Run("Cancel", func(t *testing.T) {
		h, ks := keyed(t, &instantProcessor{})
		o := h.order(10000)
		r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr(int64(100)), Queue: true})
		if err != nil {
			t.Fatal(err)
		}
		want(t, ks.keysOf(t, func() error { _, err := h.svc.CancelRefund(h.ctx, h.p, r.ID); return err }), o)
	})
	t.Run("Resolve", func(t *testing.T) {
		h, ks := keyed(t, newLateProcessor())
		o := h.order(7000)
		r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID})
		if err != nil {
			t.Fatal(err)
		}
		h.drive(20) // unanswered: waits for review
		want(t, ks.keysOf(t, func() error {
			_, err := h.svc.ResolveRefund(h.ctx, h.p, r.ID, refund.ResolveInput{Outcome: refund.StatusFailed})
			return err
		}), o)
	})
	t.Run("Reject", func(t *testing.T) {
		h, ks := keyed(t, &instantProcessor{})
		checker := h.approvals(refund.RefundPolicyInput{})
		o := h.order(100_000)
		r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr(int64(60_000))})
		if err != nil || r.Status != refund.StatusRequiresApproval {
			t.Fatalf("refund over the threshold: %+v %v", r, err)
		}
		want(t, ks.keysOf(t, func() error { _, err := h.svc.RejectRefund(h.ctx, checker, r.ID, "no"); return err }), o)
	})
}

// TestListOrderAdjustments: an order's voids and chargebacks, newest
// first, as recorded (a chargeback's amount and what of it applied); an
// order with none lists none; another merchant's key finds no order, a
// key without orders:read is refused.
func TestListOrderAdjustments(t *testing.T) {
	h := newHarness(t, &instantProcessor{}, nil)
	o, none := sarOrder(t, h, 10000), sarOrder(t, h, 10000)
	void, _, err := h.svc.VoidOrder(h.ctx, h.p, o.ID, refund.AdjustmentInput{Amount: 2500, Reason: "partial void"})
	if err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(time.Minute)
	if _, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID}); err != nil {
		t.Fatal(err)
	}
	cb, _, err := h.svc.ChargebackOrder(h.ctx, h.p, o.ID, refund.AdjustmentInput{Amount: 1000, Reason: "fraud", ProcessorReference: "CB-9"})
	if err != nil || cb.Applied != 0 {
		t.Fatalf("chargeback after a full refund: %+v %v", cb, err)
	}
	_, otherKey, err := h.svc.CreateMerchant(h.ctx, refund.MerchantInput{Name: "Other"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := h.svc.Authenticate(h.ctx, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	readsRefunds := refund.Principal{MerchantID: h.p.MerchantID, Scopes: []string{refund.ScopeRefundsRead}}
	for _, tc := range []struct {
		name  string
		p     refund.Principal
		order string
		want  []refund.OrderAdjustment
		code  string
	}{
		{"NewestFirst", h.p, o.ID, []refund.OrderAdjustment{*cb, *void}, ""},
		{"None", h.p, none.ID, nil, ""},
		{"OtherMerchant", other, o.ID, nil, refund.EOrderNotFound},
		{"NoReadScope", readsRefunds, o.ID, nil, refund.EForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page, err := h.svc.ListOrderAdjustments(h.ctx, tc.p, tc.order)
			if refund.ErrorCode(err) != tc.code || (tc.code == "") != (err == nil) {
				t.Fatalf("error %v, want code %q", err, tc.code)
			}
			var got []refund.OrderAdjustment
			for _, a := range page.Data {
				got = append(got, *a)
			}
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tc.want) || page.HasMore {
				t.Fatalf("listed %+v (more: %v), want %+v", got, page.HasMore, tc.want)
			}
		})
	}
}
