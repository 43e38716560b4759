package refund

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/refundd/refundd/processor"
)

// submit calls the processor for a refund this caller owns (status
// processing at version r.Version) and applies the answer.
func (s *Service) submit(ctx context.Context, r *Refund, idemKey string) (*Refund, error) {
	res, callErr := s.callRefund(ctx, r)
	var out *Refund
	err := s.cfg.Store.Update(context.WithoutCancel(ctx), func(tx Tx) error {
		var err error
		out, err = s.apply(ctx, tx, r.ID, r.Version, res, callErr, "refund")
		if err != nil {
			return err
		}
		if idemKey != "" {
			rec, err := tx.GetIdempotency(ctx, r.MerchantID, idemKey)
			if err != nil {
				return err
			}
			now := s.now()
			rec.CompletedAt = &now
			return tx.UpdateIdempotency(ctx, rec)
		}
		return nil
	})
	return out, err
}

func (s *Service) request(r *Refund, o *Order) processor.Request {
	req := processor.Request{IdempotencyKey: r.ID, MerchantID: r.MerchantID, OrderID: r.OrderID,
		Amount: r.Amount, Currency: r.Currency, CaptureRef: r.CaptureID}
	if o != nil {
		req.PaymentMethod, req.CardLast4 = o.PaymentMethod, o.Source.LastDigits
	}
	return req
}

// callRefund submits r under ProcessorTimeout. It loads the order for the
// payment source outside any transaction.
func (s *Service) callRefund(ctx context.Context, r *Refund) (processor.Result, error) {
	var o *Order
	if err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		o, err = tx.GetOrderForRefund(ctx, r.MerchantID, r.OrderID)
		return err
	}); err != nil {
		return processor.Result{}, err
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ProcessorTimeout)
	defer cancel()
	if err := s.acquireCall(cctx); err != nil {
		return processor.Result{}, err
	}
	defer func() { <-s.inflight }()
	req := s.request(r, o)
	req.RequestID = RequestFrom(ctx).ID
	return s.cfg.Processor.Refund(cctx, req)
}

func (s *Service) callStatus(ctx context.Context, r *Refund) (processor.Result, error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ProcessorTimeout)
	defer cancel()
	if err := s.acquireCall(cctx); err != nil {
		return processor.Result{}, err
	}
	defer func() { <-s.inflight }()
	return s.cfg.Processor.Status(cctx, r.ID)
}

// acquireCall takes one of the MaxInFlight processor call slots, waiting
// at most until ctx's deadline. A call that finds no slot is a transient
// failure: the refund stays processing and the worker tries again, so a
// slow processor cannot pile up unbounded calls.
func (s *Service) acquireCall(ctx context.Context) error {
	select {
	case s.inflight <- struct{}{}:
		return nil
	case <-ctx.Done():
		return &processor.TransientError{Code: "busy", Message: "too many processor calls in flight"}
	}
}

// apply records a processor answer for refund id if nobody touched the
// refund since version (the fencing token of whoever made the call). A
// stale answer changes nothing: the processor is idempotent on the refund
// id, so whoever owns the refund now will read the same outcome.
func (s *Service) apply(ctx context.Context, tx Tx, id string, version int64, res processor.Result, callErr error, call string) (*Refund, error) {
	r, err := tx.GetRefund(ctx, "", id)
	if err != nil {
		return nil, err
	}
	if r.Version != version || r.Status != StatusProcessing {
		return r, nil
	}
	now := s.now()
	if callErr != nil {
		// Outcome unknown: keep it processing and look again later; the
		// next look starts with a status check, never a blind resubmit.
		var te *processor.TransientError
		if errors.As(callErr, &te) {
			r.ResponseCode, r.FailureMessage = te.Code, te.Message
		} else {
			r.FailureMessage = "processor did not answer: " + callErr.Error()
		}
		if len(r.FailureMessage) > 300 {
			r.FailureMessage = r.FailureMessage[:300]
		}
		r.NextAttemptAt, r.UpdatedAt = now.Add(s.backoff(r.Attempts)), now
		s.log.Info("refund outcome unknown", "refund", r.ID, "attempt", r.Attempts, "call", call, "err", callErr)
		return r, tx.UpdateRefund(ctx, r)
	}
	r.ResponseCode, r.RRN, r.STAN, r.AuthCode, r.ARN = res.ResponseCode, res.RRN, res.STAN, res.AuthCode, res.ARN
	switch res.Status {
	case processor.Approved:
		r.FailureCode, r.FailureMessage = "", ""
		if err := s.finish(ctx, tx, r, StatusSucceeded, fmt.Sprintf("processor approved (%s)", res.ResponseCode), Commit, now); err != nil {
			return nil, err
		}
		return r, s.recordTransaction(ctx, tx, r, TxSucceeded, res, now)
	case processor.Declined:
		r.FailureCode, r.FailureMessage = res.ResponseCode, res.Message
		if err := s.finish(ctx, tx, r, StatusFailed, fmt.Sprintf("processor declined (%s)", res.ResponseCode), Release, now); err != nil {
			return nil, err
		}
		return r, s.recordTransaction(ctx, tx, r, TxFailed, res, now)
	case processor.Pending:
		r.NextAttemptAt, r.UpdatedAt = now.Add(s.cfg.PollInterval), now
		return r, tx.UpdateRefund(ctx, r)
	case processor.Reversed:
		// Executed and already reversed by the time we asked: record both
		// steps, so the money moved out and back in the books as it did.
		r.FailureCode, r.FailureMessage = "", ""
		if err := s.finish(ctx, tx, r, StatusSucceeded, fmt.Sprintf("processor approved (%s)", res.ResponseCode), Commit, now); err != nil {
			return nil, err
		}
		if err := s.recordTransaction(ctx, tx, r, TxSucceeded, res, now); err != nil {
			return nil, err
		}
		return r, s.finish(ctx, tx, r, StatusReversed, "processor reported the refund reversed", Reverse, now)
	}
	return nil, fmt.Errorf("refund: processor answered unknown status %q", res.Status)
}

// recordTransaction writes the processor's final answer as a refund
// transaction on the order.
func (s *Service) recordTransaction(ctx context.Context, tx Tx, r *Refund, status string, res processor.Result, now time.Time) error {
	return tx.InsertTransaction(ctx, &Transaction{ID: s.cfg.NewID("txn"), OrderID: r.OrderID, Type: TxRefund,
		Status: status, Amount: r.Amount, RefundID: r.ID, ResponseCode: res.ResponseCode, Message: res.Message,
		RRN: res.RRN, STAN: res.STAN, AuthCode: res.AuthCode, CreatedAt: now})
}

// ProcessDue is one pass of the worker: it claims due refunds (queued ones,
// and processing ones whose owner's lease or backoff ran out) and moves each
// one step: a status check first, then a submission only if the processor
// never executed it. It returns how many refunds it claimed.
func (s *Service) ProcessDue(ctx context.Context, limit, parallel int) (int, error) {
	var claimed []*Refund
	err := s.cfg.Store.Update(ctx, func(tx Tx) (err error) {
		claimed, err = tx.ClaimDueRefunds(ctx, s.now(), s.cfg.Lease, limit)
		return err
	})
	if err != nil || len(claimed) == 0 {
		return 0, err
	}
	sem := make(chan struct{}, max(parallel, 1))
	var wg sync.WaitGroup
	for _, r := range claimed {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if ctx.Err() != nil {
				// Shutting down: hand the refund back rather than let it
				// sit out the lease.
				s.releaseLease(ctx, r)
				return
			}
			if err := s.advance(ctx, r); err != nil {
				s.log.Error("worker could not advance refund", "refund", r.ID, "err", err)
			}
		})
	}
	wg.Wait()
	return len(claimed), nil
}

// releaseLease makes a claimed refund due again at once, unless somebody
// changed it since the claim (version fencing). A refund interrupted in
// the middle of a processor call needs no release: the interrupted call
// is recorded as a transient failure with a short backoff, and the next
// attempt asks the processor for its status first.
func (s *Service) releaseLease(ctx context.Context, r *Refund) {
	err := s.update(ctx, func(tx Tx) error {
		cur, err := tx.GetRefund(ctx, "", r.ID)
		if err != nil || cur.Version != r.Version || cur.Status.Final() {
			return err
		}
		cur.NextAttemptAt = s.now()
		return tx.UpdateRefund(ctx, cur)
	})
	if err != nil {
		s.log.Warn("could not hand back a claimed refund; its lease will run out", "refund", r.ID, "err", err)
	}
}

// advance moves one claimed refund forward.
func (s *Service) advance(ctx context.Context, r *Refund) error {
	ctx = WithOrderKey(ctx, r.OrderID)
	if r.Status == StatusProcessing && r.Attempts > 0 {
		res, err := s.callStatus(ctx, r)
		switch {
		case err == nil:
			return s.update(ctx, func(tx Tx) error {
				_, err := s.apply(ctx, tx, r.ID, r.Version, res, nil, "status")
				return err
			})
		case !errors.Is(err, processor.ErrNotFound):
			return s.update(ctx, func(tx Tx) error {
				_, err := s.apply(ctx, tx, r.ID, r.Version, res, err, "status")
				return err
			})
		}
		// The processor never executed it: safe to submit (again).
	}
	var giveUp bool
	err := s.update(ctx, func(tx Tx) error {
		cur, err := tx.GetRefund(ctx, "", r.ID)
		if err != nil {
			return err
		}
		if cur.Version != r.Version || cur.Status.Final() {
			giveUp = true // somebody else moved it; they own it now
			return nil
		}
		now := s.now()
		if cur.Attempts >= s.cfg.MaxAttempts {
			// Confirmed never executed and out of attempts: fail it so the
			// reservation is released rather than left hanging.
			giveUp = true
			cur.FailureCode = EProcessorUnavailable
			cur.FailureMessage = fmt.Sprintf("processor did not take the refund after %d attempts", cur.Attempts)
			return s.finish(ctx, tx, cur, StatusFailed, "retries exhausted, processor confirmed not executed", Release, now)
		}
		from := cur.Status
		cur.Status, cur.Attempts, cur.NextAttemptAt, cur.UpdatedAt = StatusProcessing, cur.Attempts+1, now.Add(s.cfg.Lease), now
		if err := tx.UpdateRefund(ctx, cur); err != nil {
			return err
		}
		if from == StatusPending {
			if err := tx.InsertTransition(ctx, Transition{RefundID: cur.ID, From: from, To: StatusProcessing,
				Cause: fmt.Sprintf("submitted to processor (attempt %d)", cur.Attempts), At: now}); err != nil {
				return err
			}
		}
		r = cur
		return nil
	})
	if err != nil || giveUp {
		return err
	}
	res, callErr := s.callRefund(ctx, r)
	return s.update(ctx, func(tx Tx) error {
		_, err := s.apply(ctx, tx, r.ID, r.Version, res, callErr, "refund")
		return err
	})
}

func (s *Service) update(ctx context.Context, fn func(tx Tx) error) error {
	return s.cfg.Store.Update(context.WithoutCancel(ctx), fn)
}

// SyncRefund asks the processor about a refund now, whatever its state,
// and applies the answer: a processing refund moves on, a succeeded one the
// processor reports reversed becomes reversed. This repairs a lost
// processor notification.
func (s *Service) SyncRefund(ctx context.Context, p Principal, id string) (*Refund, error) {
	if err := require(p, ScopeRefundsWrite); err != nil {
		return nil, err
	}
	r, err := s.GetRefund(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if r.Status == StatusPending || r.Status == StatusCanceled || (r.Status == StatusProcessing && r.Attempts == 0) {
		return r, nil // never reached the processor: nothing to ask
	}
	res, callErr := s.callStatus(ctx, r)
	if errors.Is(callErr, processor.ErrNotFound) && r.Status == StatusProcessing {
		// Not executed yet: let the worker submit it now rather than wait
		// out the lease.
		err = s.update(ctx, func(tx Tx) error {
			cur, err := tx.GetRefund(ctx, "", id)
			if err != nil || cur.Version != r.Version {
				return err
			}
			cur.NextAttemptAt = s.now()
			r = cur
			return tx.UpdateRefund(ctx, cur)
		})
		return r, err
	}
	if callErr != nil && r.Status != StatusProcessing {
		return nil, Errorf(EProcessorUnavailable, "", "the processor could not be asked: %v", callErr)
	}
	var out *Refund
	err = s.update(ctx, func(tx Tx) error {
		switch {
		case r.Status == StatusSucceeded:
			out, err = s.reverseIfReported(ctx, tx, r, res)
		case r.Status.Final():
			out = r
		default:
			out, err = s.apply(ctx, tx, r.ID, r.Version, res, callErr, "status")
		}
		if err != nil || out == nil {
			return err
		}
		return s.audit(ctx, tx, p, "refund.sync", "refund", r.ID, string(r.Status), string(out.Status), "", s.now())
	})
	return out, err
}

func (s *Service) reverseIfReported(ctx context.Context, tx Tx, r *Refund, res processor.Result) (*Refund, error) {
	if res.Status != processor.Reversed {
		return r, nil
	}
	cur, err := tx.GetRefund(ctx, "", r.ID)
	if err != nil || cur.Version != r.Version {
		return cur, err
	}
	return cur, s.finish(ctx, tx, cur, StatusReversed, "processor reported the refund reversed", Reverse, s.now())
}

// Housekeep deletes expired idempotency keys.
func (s *Service) Housekeep(ctx context.Context) (int, error) {
	var n int
	err := s.cfg.Store.Update(ctx, func(tx Tx) (err error) {
		n, err = tx.DeleteExpiredIdempotency(ctx, s.now())
		return err
	})
	return n, err
}
