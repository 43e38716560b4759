package refund_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/refund"
)

// The processor notifies a void of 50.00 SAR on a 100.00 order of which
// refunds already returned 80.00: the void does not fit what is left, and
// the notification was refused (amount_exceeds_refundable, a 422), which
// the sender retries and at last gives up on: a void the processor says it
// made was nowhere in refundd, and nobody was told. A void asked for
// through the API is still refused; one the processor reports is its
// word: it is recorded, applied up to the 20.00 free (what it voided is not
// refundable; no refund is undone for it), the other 30.00 listed as a
// void_not_applied discrepancy with the refund.discrepancy event, and
// answered as received, so that the sender stops. A redelivery changes
// nothing more, and a later void finds nothing free.
func TestNotifications_VoidThatDoesNotFitIsKept(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, nil)
		o := sarOrder(t, h, 10_000)
		r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](8_000)})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, r, refund.StatusSucceeded)
		if _, _, err := h.svc.VoidOrder(h.ctx, h.p, o.ID, refund.AdjustmentInput{Amount: 5_000}); refund.ErrorCode(err) != refund.EAmountExceedsRefundable {
			t.Fatalf("a void asked for that does not fit: %v, want %s", err, refund.EAmountExceedsRefundable)
		}
		n := refund.Notification{ID: "msg_1", Type: refund.NotifyOrderVoided, OrderID: o.ID, Amount: 5_000, ProcessorReference: "VD-1"}
		var objects []string
		for i := range 2 { // delivered twice
			out, err := h.svc.ApplyNotification(h.ctx, n)
			if err != nil {
				t.Fatalf("delivery %d: %v; want it kept and answered", i+1, err)
			}
			if !out.Applied || out.Object == "" || !strings.Contains(out.Note, "void_not_applied") {
				t.Fatalf("delivery %d: %+v; want applied in part, naming the void kept and the rest's discrepancy", i+1, out)
			}
			objects = append(objects, out.Object)
		}
		if objects[0] != objects[1] {
			t.Errorf("the redelivery was kept as %s, the first delivery as %s; want one void", objects[1], objects[0])
		}
		got := h.getOrder(o.ID)
		if got.VoidedAmount != 2_000 || got.RefundedAmount != 8_000 || got.Refundable() != 0 {
			t.Errorf("order voided %d, refunded %d, refundable %d; want 2000, 8000, 0 (what was free applied)",
				got.VoidedAmount, got.RefundedAmount, got.Refundable())
		}
		adj, err := h.svc.ListOrderAdjustments(h.ctx, h.p, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(adj.Data) != 1 || adj.Data[0].ID != objects[0] || adj.Data[0].Kind != refund.AdjustmentVoid ||
			adj.Data[0].Amount != 5_000 || adj.Data[0].Applied != 2_000 || adj.Data[0].ProcessorReference != "VD-1" {
			t.Errorf("the order's adjustments: %+v; want the void of 5000, 2000 of it applied", adj.Data)
		}
		ds, err := h.svc.ListDiscrepancies(h.ctx, h.p, refund.DiscrepancyFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds.Data) != 1 || ds.Data[0].Kind != "void_not_applied" || ds.Data[0].OrderID != o.ID ||
			ds.Data[0].Amount != 3_000 || ds.Data[0].Currency != "SAR" || ds.Data[0].Reference != objects[0] {
			t.Fatalf("discrepancies: %+v; want one void_not_applied of 3000 SAR about the void", ds.Data)
		}
		evs, err := h.svc.ListEvents(h.ctx, h.p, refund.EventFilter{Type: refund.EventRefundDiscrepancy})
		if err != nil || len(evs.Data) != 1 {
			t.Fatalf("%d refund.discrepancy events (%v), want 1", len(evs.Data), err)
		}
		// Nothing is free now: a later void is kept, none of it applied.
		n = refund.Notification{ID: "msg_2", Type: refund.NotifyOrderVoided, OrderID: o.ID, Amount: 1_000, ProcessorReference: "VD-2"}
		if out, err := h.svc.ApplyNotification(h.ctx, n); err != nil || out.Applied || !strings.Contains(out.Note, "void_not_applied") {
			t.Fatalf("a void with nothing free: %+v, %v; want kept, not applied", out, err)
		}
		if got := h.getOrder(o.ID); got.VoidedAmount != 2_000 || got.Refundable() != 0 {
			t.Errorf("order voided %d, refundable %d after a void with nothing free; want 2000 and 0", got.VoidedAmount, got.Refundable())
		}
	})
}

// The processor notifies a chargeback of 30.00 under CB-1, then CB-1 again
// as 20.00 (twice). The second was refused, 409 merchant_reference_reused,
// which the sender retries until it gives up: the processor's new word was
// nowhere. It is answered as received, the chargeback stays as first heard
// (applying a guess would move money), and the new amount is listed once as
// an adjustment_amount_changed discrepancy with its event. The API still
// refuses a reference reused with another amount.
func TestNotifications_AdjustmentNotifiedAgainWithAnotherAmount(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, nil)
		o := sarOrder(t, h, 10_000)
		first := refund.Notification{ID: "msg_1", Type: refund.NotifyOrderChargeback, OrderID: o.ID, Amount: 3_000, ProcessorReference: "CB-1"}
		out, err := h.svc.ApplyNotification(h.ctx, first)
		if err != nil || !out.Applied {
			t.Fatalf("the first chargeback: %+v, %v", out, err)
		}
		cb := out.Object
		again := refund.Notification{ID: "msg_2", Type: refund.NotifyOrderChargeback, OrderID: o.ID, Amount: 2_000, ProcessorReference: "CB-1"}
		for i := range 2 {
			out, err := h.svc.ApplyNotification(h.ctx, again)
			if err != nil {
				t.Fatalf("delivery %d of the other amount: %v; want it kept and answered", i+1, err)
			}
			if out.Applied || out.Object != cb || !strings.Contains(out.Note, "adjustment_amount_changed") {
				t.Fatalf("delivery %d of the other amount: %+v; want not applied, naming the chargeback and the discrepancy", i+1, out)
			}
		}
		if got := h.getOrder(o.ID); got.ChargedBackAmount != 3_000 || got.Refundable() != 7_000 {
			t.Errorf("order charged back %d, refundable %d; want 3000 and 7000 (as first heard)", got.ChargedBackAmount, got.Refundable())
		}
		ds, err := h.svc.ListDiscrepancies(h.ctx, h.p, refund.DiscrepancyFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds.Data) != 1 || ds.Data[0].Kind != "adjustment_amount_changed" || ds.Data[0].OrderID != o.ID ||
			ds.Data[0].Amount != 1_000 || ds.Data[0].Currency != "SAR" || !strings.HasPrefix(ds.Data[0].Reference, cb) {
			t.Fatalf("discrepancies: %+v; want one adjustment_amount_changed of 1000 SAR about the chargeback", ds.Data)
		}
		evs, err := h.svc.ListEvents(h.ctx, h.p, refund.EventFilter{Type: refund.EventRefundDiscrepancy})
		if err != nil || len(evs.Data) != 1 {
			t.Fatalf("%d refund.discrepancy events (%v), want 1", len(evs.Data), err)
		}
		// The first amount again is the same chargeback: nothing new.
		if out, err := h.svc.ApplyNotification(h.ctx, first); err != nil || !out.Applied || out.Object != cb {
			t.Fatalf("the first amount again: %+v, %v", out, err)
		}
		if _, _, err := h.svc.ChargebackOrder(h.ctx, h.p, o.ID, refund.AdjustmentInput{Amount: 2_000, ProcessorReference: "CB-1"}); refund.ErrorCode(err) != refund.EMerchantReferenceReused {
			t.Fatalf("the API with the reference and another amount: %v, want %s", err, refund.EMerchantReferenceReused)
		}
	})
}

// The processor notifies a void of the whole 100.00 SAR order while a
// refund of 60.00 holds its room (sent and not answered yet, or queued):
// 40.00 of the void is applied and 60.00 listed as void_not_applied. Then
// the refund gives its room back (the processor declines it, reverses it,
// or the merchant cancels it). That room was freed to refund again,
// though the processor says it voided it, and a new refund of it was
// taken and sent: doubt freed money. The rest of the void now takes the
// room the refund gave back, as a chargeback owed does, its discrepancy
// goes down by as much, and nothing is left to refund.
func TestNotifications_VoidNotAppliedTakesTheRoomARefundGivesBack(t *testing.T) {
	for _, tc := range []struct {
		name  string
		queue bool
		end   processor.Status // the processor's answer; "" cancels the queued refund
	}{
		{name: "declined", end: processor.Declined},
		{name: "reversed", end: processor.Reversed},
		{name: "canceled", queue: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			onEachStore(t, func(t *testing.T, open opener) {
				proc := newLateProcessor()
				h := newHarnessOn(t, open, proc, nil)
				o := sarOrder(t, h, 10_000)
				r, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](6_000), Queue: tc.queue})
				if err != nil {
					t.Fatal(err)
				}
				if tc.end == processor.Reversed {
					proc.execute(r.ID)
					if r, err = h.svc.SyncRefund(h.ctx, h.p, r.ID); err != nil {
						t.Fatal(err)
					}
					wantStatus(t, r, refund.StatusSucceeded)
				}
				out, err := h.svc.ApplyNotification(h.ctx, refund.Notification{ID: "msg_1", Type: refund.NotifyOrderVoided,
					OrderID: o.ID, Amount: 10_000, ProcessorReference: "VD-1"})
				if err != nil || !out.Applied {
					t.Fatalf("the void: %+v, %v", out, err)
				}
				if got := h.getOrder(o.ID); got.VoidedAmount != 4_000 || got.Refundable() != 0 {
					t.Fatalf("order voided %d, refundable %d; want 4000 and 0", got.VoidedAmount, got.Refundable())
				}
				switch tc.end {
				case "":
					if _, err := h.svc.CancelRefund(h.ctx, h.p, r.ID); err != nil {
						t.Fatal(err)
					}
				default:
					proc.mu.Lock()
					proc.results[r.ID] = processor.Result{Status: tc.end, ResponseCode: "05"}
					proc.mu.Unlock()
					if r, err = h.svc.SyncRefund(h.ctx, h.p, r.ID); err != nil || r.Status == refund.StatusProcessing || r.Status == refund.StatusSucceeded {
						t.Fatalf("%v %v, want the refund ended", r, err)
					}
				}
				got := h.getOrder(o.ID)
				if got.VoidedAmount != 10_000 || got.Refundable() != 0 {
					t.Errorf("after the refund gave its room back: order voided %d, refunded %d, pending %d, refundable %d; want the whole void applied and nothing refundable",
						got.VoidedAmount, got.RefundedAmount, got.PendingRefundAmount, got.Refundable())
				}
				if _, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](1)}); refund.ErrorCode(err) != refund.EAmountExceedsRefundable {
					t.Fatalf("a refund after the void took everything: %v, want %s", err, refund.EAmountExceedsRefundable)
				}
				adj, err := h.svc.ListOrderAdjustments(h.ctx, h.p, o.ID)
				if err != nil || len(adj.Data) != 1 || adj.Data[0].Applied != 10_000 {
					t.Fatalf("the order's adjustments: %+v, %v; want the void of 10000 applied whole", adj.Data, err)
				}
				ds, err := h.svc.ListDiscrepancies(h.ctx, h.p, refund.DiscrepancyFilter{Kind: refund.DiscrepancyVoidNotApplied})
				if err != nil || len(ds.Data) != 1 || ds.Data[0].Amount != 0 || ds.Data[0].Status() != refund.DiscrepancyResolved || ds.Data[0].ResolvedBy != refund.ResolvedByRefundd {
					t.Fatalf("void_not_applied discrepancies: %+v, %v; want the void's, down to 0 and resolved by refundd (nothing left for a person)", ds.Data, err)
				}
				if ov, err := h.svc.Overview(h.ctx, h.p); err != nil || ov.Discrepancies != 0 {
					t.Fatalf("overview: %+v, %v; want no open discrepancy", ov, err)
				}
				evs, err := h.svc.ListEvents(h.ctx, h.p, refund.EventFilter{Type: refund.EventOrderVoidApplied})
				if err != nil || len(evs.Data) != 1 {
					t.Fatalf("%d %s events, %v; want one", len(evs.Data), refund.EventOrderVoidApplied, err)
				}
			})
		})
	}
}

// A void the processor notifies is booked by webhook consumers from its
// order.voided event. The event said the whole void was made when only
// part, or none, of it applied: a consumer booking it voided money refundd
// still counts as refunded. The event now comes only when something
// applied, its applied_amount (what the order's voided_amount grew by)
// beside the amount the processor reported; a void with nothing free sends
// no order.voided, only the refund.discrepancy event of its
// void_not_applied discrepancy (applied_amount 0).
func TestNotifications_VoidEventIsWhatApplied(t *testing.T) {
	onEachStore(t, func(t *testing.T, open opener) {
		h := newHarnessOn(t, open, &instantProcessor{}, nil)
		o := sarOrder(t, h, 10_000)
		if _, err := h.svc.CreateRefund(h.ctx, h.p, refund.RefundInput{OrderID: o.ID, Amount: ptr[int64](8_000)}); err != nil {
			t.Fatal(err)
		}
		type adjustment struct {
			Amount  int64 `json:"amount"`
			Applied int64 `json:"applied_amount"`
			Order   struct {
				Voided int64 `json:"voided_amount"`
			} `json:"order"`
		}
		events := func(typ string) []adjustment {
			t.Helper()
			evs, err := h.svc.ListEvents(h.ctx, h.p, refund.EventFilter{Type: typ})
			if err != nil {
				t.Fatal(err)
			}
			var out []adjustment
			for _, e := range evs.Data {
				var a adjustment
				if err := json.Unmarshal(e.Data, &a); err != nil {
					t.Fatal(err)
				}
				out = append(out, a)
			}
			return out
		}
		for _, tc := range []struct {
			ref           string
			amount        int64
			voided        []adjustment // order.voided events after it, newest first
			discrepancies int
		}{
			{"VD-1", 5_000, []adjustment{{Amount: 5_000, Applied: 2_000, Order: struct {
				Voided int64 `json:"voided_amount"`
			}{2_000}}}, 1},
			{"VD-2", 1_000, []adjustment{{Amount: 5_000, Applied: 2_000, Order: struct {
				Voided int64 `json:"voided_amount"`
			}{2_000}}}, 2},
		} {
			n := refund.Notification{ID: "msg_" + tc.ref, Type: refund.NotifyOrderVoided, OrderID: o.ID, Amount: tc.amount, ProcessorReference: tc.ref}
			if _, err := h.svc.ApplyNotification(h.ctx, n); err != nil {
				t.Fatal(err)
			}
			if got := events(refund.EventOrderVoided); fmt.Sprint(got) != fmt.Sprint(tc.voided) {
				t.Errorf("after %s: order.voided events %+v, want %+v", tc.ref, got, tc.voided)
			}
			if got := events(refund.EventRefundDiscrepancy); len(got) != tc.discrepancies || got[0].Amount != tc.amount {
				t.Errorf("after %s: refund.discrepancy events %+v, want %d, the newest of the void of %d", tc.ref, got, tc.discrepancies, tc.amount)
			}
		}
	})
}
