package refund

import (
	"context"
	"time"
)

// awaitInFlight waits until the order has no refund in flight, or answers
// ERefundInProgressOnOrder after Config.InFlightWait. It polls the store
// because the refund in flight may be owned by another node. The order's
// pending refund amount is the sum of its pending and processing refunds'
// reservations, so it is zero exactly when none is in flight.
//
// The wait is measured in real time, like ProcessorTimeout: it bounds a
// request, it is not business time.
func (s *Service) awaitInFlight(ctx context.Context, merchantID, orderID string) error {
	deadline := time.Now().Add(s.cfg.InFlightWait)
	delay := 5 * time.Millisecond
	for {
		var o *Order
		var waiting []*Refund
		err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
			if o, err = tx.GetOrderForRefund(ctx, merchantID, orderID); err != nil || o.PendingRefundAmount == 0 {
				return err
			}
			waiting, err = tx.ListRefunds(ctx, RefundFilter{MerchantID: merchantID, OrderID: o.ID, Status: StatusRequiresApproval, Limit: 1})
			return err
		})
		if err != nil {
			return err
		}
		if o.PendingRefundAmount == 0 {
			return nil
		}
		if c := claimFrom(ctx, merchantID); c != nil && !c.Written() && !c.lookedBusy {
			// A retry whose key was never looked up (ClaimIdempotent) must
			// not wait for its own first run to settle: if the key has a
			// row, end here and let the key answer (a replay, a refusal).
			c.lookedBusy = true
			switch _, err := s.cfg.Store.LookupIdempotency(ctx, merchantID, c.key); {
			case err == nil:
				return Errorf(EIdempotencyKeyInUse, "Idempotency-Key", "Initial request is still processing.")
			case ErrorCode(err) != ENotFound:
				return err
			}
		}
		if len(waiting) > 0 {
			// Waiting for a person may take hours: do not hold the request.
			return Errorf(ERefundInProgressOnOrder, "", "a refund of this order is waiting for approval; try again once it is approved or rejected")
		}
		left := time.Until(deadline)
		if left <= 0 {
			return Errorf(ERefundInProgressOnOrder, "", "another refund of this order is still being processed; try again once it has settled")
		}
		t := time.NewTimer(min(delay, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}
