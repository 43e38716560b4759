package refund_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/refund"
)

// saysProcessor approves at once and answers every later status lookup
// with later.
type saysProcessor struct {
	instantProcessor
	later processor.Result
}

func (p *saysProcessor) Status(context.Context, string) (processor.Result, error) {
	return p.later, nil
}

// A lookup of a succeeded refund that hears it failed (a reversal SGate or
// Techrar can only call "fail" or "void", a late decline, a mistake on
// either side) was dropped without a trace: the refund said succeeded,
// the processor failed, and nobody was told. It is now listed once as a
// status_mismatch discrepancy with an event, from a forced sync or a
// status sweep alike, and the refund stays succeeded: released, its
// amount could be refunded again while the money may have left. A lookup
// refused at the door (auth_failed) says nothing of the refund.
func TestLookup_FailureAfterSuccessIsListed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		later  processor.Result
		listed bool
	}{
		{"Declined", processor.Result{Status: processor.Declined, ResponseCode: "fail", Message: "sgate: fail"}, true},
		{"RefusedAtTheDoor", processor.Result{Status: processor.Declined, ResponseCode: processor.CodeAuthFailed, Message: "bad key"}, false},
		{"Approved", processor.Result{Status: processor.Approved, ResponseCode: "00"}, false},
	} {
		for _, look := range []string{"sync", "sweep"} {
			for _, k := range storeKinds {
				t.Run(tc.name+"/"+look+"/"+k.name, func(t *testing.T) {
					proc := &saysProcessor{}
					h := newHarnessOn(t, k.open, proc, func(c *refund.Config) { c.SweepAges = []time.Duration{time.Hour, 2 * time.Hour} })
					o := sarOrder(t, h, 10000)
					r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](4000)})
					if err != nil {
						t.Fatal(err)
					}
					wantStatus(t, r, refund.StatusSucceeded)
					proc.later = tc.later
					// Twice: a repeated look lists nothing more.
					for i := range 2 {
						switch look {
						case "sync":
							got, err := h.svc.SyncRefund(h.ctx, h.p, r.ID)
							if err != nil {
								t.Fatalf("sync %d: %v", i, err)
							}
							wantStatus(t, got, refund.StatusSucceeded)
						case "sweep":
							h.clk.Advance(61 * time.Minute)
							if n, err := h.svc.ProcessDue(h.ctx, 10, 1); n != 1 || err != nil {
								t.Fatalf("sweep %d claimed %d refunds: %v", i, n, err)
							}
						}
					}
					got := h.refund(r.ID)
					wantStatus(t, got, refund.StatusSucceeded)
					if look == "sweep" && got.SweepsLeft != 0 {
						t.Fatalf("after two sweeps %d are left; a listed failure must not stop or repeat them", got.SweepsLeft)
					}
					if ord := h.getOrder(o.ID); ord.RefundedAmount != 4000 || ord.PendingRefundAmount != 0 {
						t.Fatalf("order refunded %d, pending %d; want the succeeded 4000 kept", ord.RefundedAmount, ord.PendingRefundAmount)
					}
					page, err := h.svc.ListDiscrepancies(h.ctx, h.p, refund.DiscrepancyFilter{})
					if err != nil {
						t.Fatal(err)
					}
					want := 0
					if tc.listed {
						want = 1
					}
					if len(page.Data) != want {
						t.Fatalf("%d discrepancies (%+v), want %d", len(page.Data), page.Data, want)
					}
					if want == 1 {
						d := page.Data[0]
						if d.Kind != refund.ReconStatusMismatch || d.RefundID != r.ID || d.Amount != 4000 || !strings.Contains(d.Detail, tc.later.Message) {
							t.Fatalf("discrepancy %+v; want status_mismatch of the refund's 4000 with the processor's words", d)
						}
					}
					events := h.eventsOf()
					if events[r.ID+" refund.discrepancy"] != want {
						t.Fatalf("events %v; want %d refund.discrepancy", events, want)
					}
				})
			}
		}
	}
}

// A processor's word that it executed a refund refundd canceled (one sent
// back to pending by a 429 may have reached it before a chargeback
// canceled it) was a note in the answer only: the refund's amount had been
// released and money had left that the books did not show. It is now
// listed once as executed_not_recorded, with an event; the refund stays
// canceled (canceled is final) and the order's balances as they were.
// The word about a refund refundd holds unsent, its amount reserved, was
// dropped without a trace: the worker would send it again (paying twice
// where the processor does not deduplicate) and a rejection, expiry or
// cancel would release money that has left. It applies now, as any answer
// does, and is listed (executed_not_recorded): one that waited for
// approval passed the control by, and a pending one's "not executed"
// answer was wrong or something else sent it.
func TestNotification_ExecutedAfterCancelIsListed(t *testing.T) {
	for _, tc := range []struct {
		name              string
		before, after     refund.Status
		refunded, pending int64 // the order's after
		listed            bool
		prepare           func(h *harness, r *refund.Refund)
	}{
		{"Canceled", refund.StatusCanceled, refund.StatusCanceled, 0, 0, true, func(h *harness, r *refund.Refund) {
			if _, err := h.svc.CancelRefund(h.ctx, h.p, r.ID); err != nil {
				h.t.Fatal(err)
			}
		}},
		{"Pending", refund.StatusPending, refund.StatusSucceeded, 4000, 0, true, func(*harness, *refund.Refund) {}},
		{"RequiresApproval", refund.StatusRequiresApproval, refund.StatusSucceeded, 4000, 0, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			onEachStore(t, func(t *testing.T, open opener) {
				h := newHarnessOn(t, open, &instantProcessor{}, nil)
				o := sarOrder(t, h, 10000)
				in := refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](4000), Queue: true}
				if tc.prepare == nil {
					if _, err := h.svc.PutRefundPolicy(h.ctx, h.p, refund.RefundPolicyInput{ApprovalThreshold: &map[string]int64{"SAR": 1000}}); err != nil {
						t.Fatal(err)
					}
					in.Queue = false
				}
				r, err := h.svc.CreateRefund(h.ctx, h.p, in)
				if err != nil {
					t.Fatal(err)
				}
				if tc.prepare != nil {
					tc.prepare(h, r)
				}
				wantStatus(t, h.refund(r.ID), tc.before)
				for i := range 2 {
					out, err := h.svc.ApplyNotification(h.ctx, refund.Notification{ID: "msg_late", Type: refund.NotifyRefundSucceeded,
						RefundID: r.ID, ResponseCode: "00", Message: "Approved"})
					applied := i == 0 && tc.after != tc.before
					if err != nil || out.Applied != applied || out.Status != string(tc.after) ||
						tc.after == refund.StatusCanceled && !strings.Contains(out.Note, refund.DiscrepancyExecutedNotRecorded) {
						t.Fatalf("notification %d: %+v, %v; want applied %v, the refund %s", i, out, err, applied, tc.after)
					}
				}
				wantStatus(t, h.refund(r.ID), tc.after)
				if got := h.getOrder(o.ID); got.RefundedAmount != tc.refunded || got.PendingRefundAmount != tc.pending {
					t.Fatalf("order refunded %d, pending %d; want %d and %d", got.RefundedAmount, got.PendingRefundAmount, tc.refunded, tc.pending)
				}
				page, err := h.svc.ListDiscrepancies(h.ctx, h.p, refund.DiscrepancyFilter{})
				if err != nil {
					t.Fatal(err)
				}
				if !tc.listed {
					if len(page.Data) != 0 || h.eventsOf()[r.ID+" refund.discrepancy"] != 0 {
						t.Fatalf("discrepancies %+v; want none", page.Data)
					}
					return
				}
				if len(page.Data) != 1 || page.Data[0].Kind != refund.DiscrepancyExecutedNotRecorded || page.Data[0].RefundID != r.ID ||
					page.Data[0].Amount != 4000 || !strings.Contains(page.Data[0].Detail, "00: Approved") {
					t.Fatalf("discrepancies %+v; want one executed_not_recorded of the refund's 4000", page.Data)
				}
				if n := h.eventsOf()[r.ID+" refund.discrepancy"]; n != 1 {
					t.Fatalf("%d refund.discrepancy events, want 1", n)
				}
			})
		})
	}
}
