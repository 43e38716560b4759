package refund

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/refundd/refundd/processor"
)

// submit calls the processor for a refund this caller owns (status
// processing at version r.Version) and applies the answer. Once the refund
// row is committed nothing here answers an error: if the answer cannot be
// recorded (even by a commit of unknown outcome) the refund is returned as
// it stands, processing, and the worker finishes it after its lease, asking
// the processor first. A client that got an error would retry, and on a
// surface without deduplication a retry is a second refund.
//
// rt is r's order and processor when the caller has just read them in the
// reservation; nil reads them.
func (s *Service) submit(ctx context.Context, r *Refund, idemKey string, rt *route) *Refund {
	res, callErr := s.callRefund(ctx, r, rt)
	// The answer is recorded even if the caller has gone meanwhile: its
	// statements too run on a context that is not canceled, or a client
	// hanging up after the call would leave the refund processing until
	// the worker's lease runs out.
	ctx = context.WithoutCancel(ctx)
	var out *Refund
	var stored, keyMoved bool
	result := func(tx Tx) error {
		var err error
		stored = false
		out, err = s.apply(ctx, tx, r.ID, r.Version, res, callErr, "refund")
		if err != nil {
			return err
		}
		if !keyMoved {
			if stored, err = s.storeReply(ctx, tx, out); err != nil {
				return err
			}
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
	}
	err := s.tracedUpdate(ctx, "result", result)
	if ErrorCode(err) == EIdempotencyKeyInUse && !keyMoved {
		// The request's key moved on: its lease ran out while the call
		// was out and a retry took the key over. Its answer is not the
		// key's; the processor's is recorded all the same.
		s.log.Warn("a refund's key moved on while its processor call was out (the call outlasted the key's lease); its answer is recorded without storing it as the key's",
			"refund", r.ID)
		keyMoved = true
		err = s.tracedUpdate(ctx, "result", result)
	}
	if err != nil {
		s.log.Error("could not record the processor's answer; the worker will ask again", "refund", r.ID, "err", err)
		return r
	}
	if stored {
		markStored(ctx, r.MerchantID)
	}
	return out
}

func (s *Service) request(r *Refund, o *Order) processor.Request {
	req := processor.Request{IdempotencyKey: r.ID, MerchantID: r.MerchantID, OrderID: r.OrderID,
		Amount: r.Amount, Currency: r.Currency, CaptureRef: r.CaptureID, Reason: r.Reason, Reference: r.ProcessorReference}
	if o == nil {
		return req
	}
	req.PaymentMethod, req.CardLast4 = o.PaymentMethod, o.Source.LastDigits
	req.ProcessorOrderID, req.OrderAmount = o.ProcessorOrderID, o.CapturedAmount
	// What the order's other refunds took (r's own reservation is in
	// pending while it is being submitted).
	req.Refunded = o.RefundedAmount + o.PendingRefundAmount
	if !r.Status.Final() && r.Status != StatusCanceled {
		req.Refunded -= r.Amount
	}
	req.Refunded = max(req.Refunded, 0)
	req.CustomerName, req.CustomerEmail, req.CustomerPhone = o.Customer.Name, o.Customer.Email, o.Customer.Mobile
	for _, v := range r.Vendors {
		req.Vendors = append(req.Vendors, processor.VendorPart{VendorID: v.VendorID, Amount: v.Amount})
	}
	for _, it := range r.Items {
		lp := processor.LinePart{ItemID: it.ItemID, Qty: it.Qty, Amount: it.Amount}
		for _, oi := range o.Items {
			if oi.ID == it.ItemID {
				lp.SKU = oi.SKU
			}
		}
		req.Lines = append(req.Lines, lp)
	}
	return req
}

// routeFor is known, r's route when the caller has read it, or else reads
// it.
func (s *Service) routeFor(ctx context.Context, r *Refund, known *route) (route, error) {
	if known != nil && known.order != nil {
		return *known, nil
	}
	return s.routeOf(ctx, r)
}

// callRefund submits r under ProcessorTimeout to its order's processor.
// It loads the order for the request outside any transaction. An error
// before the call is made (no route, no call slot) is a TransientError
// with NotExecuted: nothing reached the processor.
func (s *Service) callRefund(ctx context.Context, r *Refund, known *route) (processor.Result, error) {
	rt, err := s.routeFor(ctx, r, known)
	if err != nil {
		return processor.Result{}, &processor.TransientError{Code: "no_route", Message: err.Error(), NotExecuted: true}
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ProcessorTimeout)
	defer cancel()
	queued := time.Now()
	if err := s.acquireCall(cctx); err != nil {
		return processor.Result{}, err
	}
	defer func() { <-s.inflight }()
	traceSince(ctx, "processor_queue", queued)
	req := s.request(r, rt.order)
	req.RequestID = RequestFrom(ctx).ID
	defer traceSince(ctx, "processor", time.Now())
	return answered(rt.proc.Refund(cctx, req))
}

// callStatus asks r's processor what became of it: by the request when the
// connector needs more than the key, by the key otherwise. known is r's
// route when the caller has read it; nil reads it.
func (s *Service) callStatus(ctx context.Context, r *Refund, known *route) (processor.Result, error) {
	rt, err := s.routeFor(ctx, r, known)
	if err != nil {
		return processor.Result{}, &processor.TransientError{Code: "no_route", Message: err.Error()}
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ProcessorTimeout)
	defer cancel()
	if err := s.acquireCall(cctx); err != nil {
		return processor.Result{}, err
	}
	defer func() { <-s.inflight }()
	if rs, ok := rt.proc.(processor.RequestStatuser); ok {
		return answered(rs.StatusOf(cctx, s.request(r, rt.order)))
	}
	return answered(rt.proc.Status(cctx, r.ID))
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
		return &processor.TransientError{Code: "busy", Message: "too many processor calls in flight", NotExecuted: true}
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
	if r.Status == StatusFailed && callErr == nil && res.Status == processor.Approved {
		// Failed while this call was out (a person resolved it, another
		// answer came first), and now the processor says it executed: the
		// money has left, and dropped here nobody would look again.
		return s.reviveIfExecuted(ctx, tx, r, res)
	}
	if r.Status != StatusProcessing && r.Status != StatusRequiresReview {
		return r, nil
	}
	if r.Version != version && (callErr != nil || res.Status != processor.Approved) {
		// Someone took the refund over since this call began. Only an
		// approval is worth applying anyway: it is the processor's final
		// word on the key, and a processor without status lookup would
		// never say it again.
		return r, nil
	}
	now := s.now()
	var te *processor.TransientError
	if callErr != nil && call == "refund" && errors.As(callErr, &te) && te.NotExecuted {
		return r, s.notSent(ctx, tx, r, te, now)
	}
	if callErr == nil && res.Status == processor.Declined && res.ResponseCode == processor.CodeAuthFailed &&
		(call == "status" || call == "void" || call == "refund" && r.Attempts > 1) {
		// Refused at the door this time; that says nothing of an earlier
		// attempt whose answer was lost, nor, asked by a lookup or a void,
		// of the refund itself. Keep it open, ask again later. (A
		// notification is the processor's own word: no door was knocked.)
		callErr = &processor.TransientError{Code: res.ResponseCode, Message: res.Message}
	}
	if callErr == nil && res.Status == processor.Declined && (res.ResponseCode == processor.CodeNothingLeft || res.ResponseCode == processor.CodeNoSuchOrder) &&
		call == "refund" && r.Attempts > 1 {
		// No room left, said to a resubmission: the earlier submission,
		// whose answer was lost, may be what took it (a processor that
		// does not deduplicate as it claims); no such order: the order
		// exists if that submission refunded it, so something other than
		// the processor answered. Released, the amount could be refunded
		// twice: kept, asked again, and after the last attempt left for
		// review.
		callErr = &processor.TransientError{Code: res.ResponseCode, Message: res.Message}
	}
	if callErr != nil {
		// Outcome unknown: keep it reserved and look again later; the next
		// look starts with a status check, never a blind resubmit.
		switch {
		case errors.As(callErr, &te):
			r.ResponseCode, r.FailureMessage = text(te.Code), te.Message
		case errors.Is(callErr, processor.ErrNotFound):
			r.FailureMessage = "the processor has not executed it"
		case errors.Is(callErr, processor.ErrNoStatus):
			r.FailureMessage = "the processor offers no way to ask what became of it"
		default:
			r.FailureMessage = "processor did not answer: " + callErr.Error()
		}
		r.FailureMessage = clip(text(r.FailureMessage), maxMessage) // an error's text: storable saw only the answer
		s.log.Info("refund outcome unknown", "refund", r.ID, "attempt", r.Attempts, "call", call, "err", callErr)
		proc, err := s.processorIn(ctx, tx, r)
		if err != nil {
			return nil, err
		}
		caps := processor.CapabilitiesOf(proc)
		_, canVoid := proc.(processor.Voider)
		if r.Status == StatusProcessing && call == "refund" && !caps.IdempotentSubmit && !caps.StatusByKey && !caps.StatusByReference {
			// Nothing can ever tell us, and a second submission could pay
			// twice: a person decides.
			return r, s.toReview(ctx, tx, r, "no answer from a processor that can neither be asked nor safely sent the refund again", now)
		}
		if r.Status == StatusProcessing && r.Attempts >= s.cfg.MaxAttempts && !(canVoid && call == "refund") {
			// A processor that can void gets one more look after the last
			// submission: "not executed" then ends in a void, not a review.
			return r, s.toReview(ctx, tx, r, fmt.Sprintf("no definite answer after %d attempts", r.Attempts), now)
		}
		r.NextAttemptAt = s.nextLook(r, now)
		if call != "refund" && r.Status == StatusProcessing {
			// A look that fails counts no attempt, so backoff(Attempts)
			// alone would ask a processor that is down at one pace for as
			// long as it is down, every such refund of it. A failed look
			// waits an eighth of the refund's age instead, up to RetryMax:
			// the longer its outcome has been unknown, the less a minute
			// matters. The age, not the last wait, since nothing records
			// that, and a node that was down would read its downtime as
			// one.
			if grown := now.Add(min(now.Sub(r.CreatedAt)/8, s.cfg.RetryMax).Truncate(time.Millisecond)); grown.After(r.NextAttemptAt) {
				r.NextAttemptAt = grown
			}
		}
		r.UpdatedAt = now
		if te != nil && te.RetryAfter > 0 && r.NextAttemptAt.Before(now.Add(te.RetryAfter)) {
			r.NextAttemptAt = now.Add(te.RetryAfter)
		}
		return r, tx.UpdateRefund(ctx, r)
	}
	if res.Reference != "" {
		r.ProcessorReference = res.Reference
	}
	recordAnswer(r, res)
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
	case processor.Voided:
		// The processor guarantees the key will never execute: the one
		// answer besides a decline that may release the money.
		r.FailureCode = EProcessorUnavailable
		r.FailureMessage = fmt.Sprintf("the processor did not execute the refund after %d attempts and voided it", r.Attempts)
		return r, s.finish(ctx, tx, r, StatusFailed, "processor voided the unexecuted refund", Release, now)
	case processor.Pending:
		if call == "refund" && r.Attempts > 1 && r.Status == StatusProcessing {
			proc, err := s.processorIn(ctx, tx, r)
			if err != nil {
				return nil, err
			}
			if caps := processor.CapabilitiesOf(proc); caps.IdempotentSubmit && !caps.StatusByKey && !caps.StatusByReference {
				// Sent again only to learn what became of the key (the
				// processor has no lookup): "pending" says it holds it.
				// That was a look, not an attempt; counted, looks would
				// send a refund being paid to review as not executed.
				r.Attempts--
			}
		}
		r.NextAttemptAt, r.UpdatedAt = s.nextLook(r, now), now
		if r.Status == StatusProcessing {
			r.NextAttemptAt = now.Add(s.cfg.PollInterval)
		}
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

// processorIn answers r's processor inside a transaction.
func (s *Service) processorIn(ctx context.Context, tx Tx, r *Refund) (processor.Processor, error) {
	o, err := tx.GetOrderForRefund(ctx, r.MerchantID, r.OrderID)
	if err != nil {
		return nil, err
	}
	return s.processorOf(ctx, tx, o)
}

// notSent records an attempt the processor provably did not execute (it
// refused it before reading it, it asked us to slow down, the circuit was
// open, no call slot was free): the attempt is given back. A refund none
// of whose attempts reached the processor waits as pending again; one with
// an earlier attempt of unknown outcome stays processing, and its next look
// still starts by asking.
func (s *Service) notSent(ctx context.Context, tx Tx, r *Refund, te *processor.TransientError, now time.Time) error {
	r.Attempts = max(r.Attempts-1, 0)
	r.ResponseCode, r.FailureMessage = text(te.Code), clip(text(te.Message), maxMessage)
	wait := max(te.RetryAfter, s.backoff(r.Attempts+1))
	r.NextAttemptAt, r.UpdatedAt = now.Add(wait), now
	if r.Attempts > 0 || r.Status != StatusProcessing {
		return tx.UpdateRefund(ctx, r)
	}
	r.Status = StatusPending
	if err := tx.UpdateRefund(ctx, r); err != nil {
		return err
	}
	if err := tx.InsertTransition(ctx, Transition{RefundID: r.ID, From: StatusProcessing, To: StatusPending,
		Cause: fmt.Sprintf("not executed by the processor (%s: %s); submitted again in %s", r.ResponseCode, r.FailureMessage, wait.Round(time.Second)), At: now}); err != nil {
		return err
	}
	// A chargeback that came while it was at the processor counted it as
	// sent, and is owed what it holds. Provably never sent, it gives way
	// as the chargeback's own cancels do; sent again, it would pay the
	// cardholder a second time. A void owed cancels no refund (which to
	// undo is a person's call): it takes the room once one gives it back.
	owed, err := tx.ListOwedAdjustments(ctx, r.OrderID)
	if err != nil {
		return err
	}
	for _, a := range owed {
		if a.Kind == AdjustmentChargeback {
			return s.chargedBack(ctx, tx, Principal{MerchantID: r.MerchantID, Worker: true}, r, a.ID, now)
		}
	}
	return nil
}

// nextLook is when a refund whose outcome is still open is asked about
// again: with backoff while it is processing, and on the review schedule
// once it waits for review.
func (s *Service) nextLook(r *Refund, now time.Time) time.Time {
	if r.Status != StatusRequiresReview {
		return now.Add(s.backoff(r.Attempts))
	}
	if now.Before(r.CreatedAt.Add(s.cfg.ReviewWindow)) {
		return now.Add(s.cfg.ReviewPoll)
	}
	return now.Add(24 * time.Hour)
}

// toReview parks a processing refund whose outcome the processor has not
// settled: the amount stays reserved, nothing is submitted again, and it
// is polled on the review schedule until a definite answer or a person
// settles it.
func (s *Service) toReview(ctx context.Context, tx Tx, r *Refund, cause string, now time.Time) error {
	from := r.Status
	if !CanTransition(from, StatusRequiresReview) {
		return Errorf(EConflict, "", "refund %s cannot move from %s to %s", r.ID, from, StatusRequiresReview)
	}
	r.Status, r.UpdatedAt = StatusRequiresReview, now
	r.NextAttemptAt = s.nextLook(r, now)
	if err := tx.UpdateRefund(ctx, r); err != nil {
		return err
	}
	if err := tx.InsertTransition(ctx, Transition{RefundID: r.ID, From: from, To: StatusRequiresReview, Cause: cause, At: now}); err != nil {
		return err
	}
	return s.event(ctx, tx, EventRefundRequiresReview, r, now)
}

// recordTransaction writes the processor's final answer as a refund
// transaction on the order.
func (s *Service) recordTransaction(ctx context.Context, tx Tx, r *Refund, status string, res processor.Result, now time.Time) error {
	// The references are r's: the answer's, or, when it names none, those
	// r kept from an earlier one (recordAnswer).
	return tx.InsertTransaction(ctx, &Transaction{ID: s.cfg.NewID("txn"), OrderID: r.OrderID, Type: TxRefund,
		Status: status, Amount: r.Amount, RefundID: r.ID, ResponseCode: res.ResponseCode, Message: res.Message,
		RRN: r.RRN, STAN: r.STAN, AuthCode: r.AuthCode, CreatedAt: now})
}

// ProcessDue is one pass of the worker: it claims due refunds (queued ones,
// and processing ones whose owner's lease or backoff ran out) and moves each
// one step: a status check first, then a submission only if the processor
// never executed it. It returns how many refunds it claimed.
func (s *Service) ProcessDue(ctx context.Context, limit, parallel int) (int, error) {
	s.syncClockIfStale(ctx)
	var claimed []*Refund
	err := s.write(ctx, func(tx Tx) (err error) {
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
// is recorded as a transient failure with its backoff (apply), and the
// next attempt asks the processor for its status first.
func (s *Service) releaseLease(ctx context.Context, r *Refund) {
	// ctx is the pass's, canceled by the shutdown that makes the release:
	// on it the write would fail and the refund sit out its lease.
	ctx = context.WithoutCancel(ctx)
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
	ctx = WithOrderKey(ctx, r.MerchantID, r.OrderID)
	switch r.Status {
	case StatusRequiresApproval:
		return s.expireApproval(ctx, r) // claimed: its approval's time ran out
	case StatusRequiresReview:
		return s.review(ctx, r)
	case StatusSucceeded:
		return s.sweep(ctx, r)
	}
	if r.Status == StatusProcessing && r.Attempts > 0 {
		// Whether it may be sent again is what its own processor can
		// prove: unread, nothing is assumed and the refund waits for the
		// next pass, its lease running out.
		rt, err := s.routeOf(ctx, r)
		if err != nil {
			return fmt.Errorf("reading the processor of refund %s: %w", r.ID, err)
		}
		caps, proc := rt.caps, rt.proc
		res, err := s.callStatus(ctx, r, &rt)
		switch {
		case err == nil:
			return s.record(ctx, r, res, nil, "status")
		case errors.Is(err, processor.ErrNoStatus) && !caps.IdempotentSubmit:
			// Nobody can tell whether the last attempt executed, and a
			// second one could execute again: never resubmit.
			return s.settleUnexecuted(ctx, r, proc, "its processor cannot say whether it executed, and cannot be sent it again safely")
		case errors.Is(err, processor.ErrNoStatus):
			// No lookup, but the processor answers a second submission of
			// the key with the first one's result: that is the lookup.
		case !errors.Is(err, processor.ErrNotFound):
			return s.record(ctx, r, res, err, "status")
		case !caps.IdempotentSubmit:
			// "Not found" now is no proof that the lost attempt will not
			// execute later, and this processor would execute a second
			// submission as a second refund.
			return s.settleUnexecuted(ctx, r, proc, "not executed yet, and its processor cannot be sent it again safely")
		}
		if r.Attempts >= s.cfg.MaxAttempts {
			// Out of attempts. "Not found" is no proof that the last
			// submission will never execute: only a void is.
			return s.settleUnexecuted(ctx, r, proc, fmt.Sprintf("not executed after %d attempts, and the processor cannot guarantee it never will", r.Attempts))
		}
	}
	var moved bool
	var took *Refund
	err := s.update(ctx, func(tx Tx) error {
		cur, err := tx.GetRefund(ctx, "", r.ID)
		if err != nil {
			return err
		}
		if cur.Version != r.Version || cur.Status.Final() {
			moved = true // somebody else moved it; they own it now
			return nil
		}
		now := s.now()
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
		took = cur // r stays as it was until this commits: fn may run again
		return nil
	})
	if err != nil || moved {
		return err
	}
	r = took
	res, callErr := s.callRefund(ctx, r, nil)
	return s.record(ctx, r, res, callErr, "refund")
}

// record applies a processor answer to r in a transaction of its own.
func (s *Service) record(ctx context.Context, r *Refund, res processor.Result, callErr error, call string) error {
	return s.update(ctx, func(tx Tx) error {
		_, err := s.apply(ctx, tx, r.ID, r.Version, res, callErr, call)
		return err
	})
}

// settleUnexecuted ends a refund the processor reports not executed after
// its last attempt. A processor that can void the key makes that answer
// final and the money is released; any other goes to review, its amount
// still reserved, because its last submission may yet execute.
func (s *Service) settleUnexecuted(ctx context.Context, r *Refund, proc processor.Processor, why string) error {
	if v, ok := proc.(processor.Voider); ok {
		res, err := s.callVoid(ctx, v, r)
		if err == nil {
			return s.record(ctx, r, res, nil, "void")
		}
		s.log.Info("could not void an unexecuted refund", "refund", r.ID, "err", err)
	}
	return s.update(ctx, func(tx Tx) error {
		cur, err := tx.GetRefund(ctx, "", r.ID)
		if err != nil || cur.Version != r.Version || cur.Status != StatusProcessing {
			return err
		}
		return s.toReview(ctx, tx, cur, why, s.now())
	})
}

// review polls a refund waiting for review: a definite answer settles it;
// "not executed" settles it only through a void; anything else leaves it
// waiting, its amount reserved, until the next look.
func (s *Service) review(ctx context.Context, r *Refund) error {
	// Only r's own processor may void its key; unread, the refund waits
	// for the next look, its lease running out.
	rt, err := s.routeOf(ctx, r)
	if err != nil {
		return fmt.Errorf("reading the processor of refund %s: %w", r.ID, err)
	}
	res, err := s.callStatus(ctx, r, &rt)
	if errors.Is(err, processor.ErrNotFound) {
		if v, ok := rt.proc.(processor.Voider); ok {
			if res, err = s.callVoid(ctx, v, r); err == nil {
				return s.record(ctx, r, res, nil, "void")
			}
		}
	}
	return s.record(ctx, r, res, err, "status")
}

// sweep asks the processor again about a succeeded refund, at the ages in
// Config.SweepAges: a reversal the processor never notified becomes
// reversed here. A look that gets no answer is made again later without
// counting. A refund whose processor account was removed has nobody left
// to ask, for good (an order names its account by an id no later account
// gets): its sweeps end, or it would be claimed and fail every RetryMax
// for ever. A reversal of it can still be found by a settlement report.
func (s *Service) sweep(ctx context.Context, r *Refund) error {
	rt, err := s.routeOf(ctx, r)
	gone := ErrorCode(err) == EProcessorAccountNotFound
	var res processor.Result
	var callErr error
	switch {
	case gone:
		s.log.Warn("the processor account of a succeeded refund was removed; its status sweeps end", "refund", r.ID, "sweeps_left", r.SweepsLeft)
	case err != nil:
		callErr = &processor.TransientError{Code: "no_route", Message: err.Error()}
	default:
		res, callErr = s.callStatus(ctx, r, &rt)
	}
	return s.update(ctx, func(tx Tx) error {
		cur, err := tx.GetRefund(ctx, "", r.ID)
		if err != nil || cur.Version != r.Version || cur.Status != StatusSucceeded {
			return err
		}
		now := s.now()
		if !gone && callErr == nil && failedAfterSuccess(res, "sweep") {
			if err := s.contradicted(ctx, tx, cur, res, "sweep", now); err != nil {
				return err
			}
		}
		switch {
		case gone:
			cur.SweepsLeft = 0
		case callErr == nil && res.Status == processor.Reversed:
			return s.finish(ctx, tx, cur, StatusReversed, "processor reported the refund reversed (status sweep)", Reverse, now)
		case callErr != nil && !errors.Is(callErr, processor.ErrNotFound) && !errors.Is(callErr, processor.ErrNoStatus):
			cur.NextAttemptAt = now.Add(s.cfg.RetryMax)
		default:
			cur.SweepsLeft--
			gap := 24 * time.Hour // a schedule that changed since this refund succeeded
			if done := len(s.cfg.SweepAges) - cur.SweepsLeft; done >= 1 && done < len(s.cfg.SweepAges) {
				gap = s.cfg.SweepAges[done] - s.cfg.SweepAges[done-1]
			}
			cur.NextAttemptAt = now.Add(gap)
		}
		return tx.UpdateRefund(ctx, cur)
	})
}

func (s *Service) callVoid(ctx context.Context, v processor.Voider, r *Refund) (processor.Result, error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ProcessorTimeout)
	defer cancel()
	if err := s.acquireCall(cctx); err != nil {
		return processor.Result{}, err
	}
	defer func() { <-s.inflight }()
	return answered(v.Void(cctx, r.ID))
}

// maxMessage is how much of a processor's message a refund keeps.
const maxMessage = 300

// answered is a processor call's answer, its text storable.
func answered(res processor.Result, err error) (processor.Result, error) { return storable(res), err }

// storable is a processor's answer (to a call, or in a notification) with
// text a store can keep: UTF-8 without NUL (PostgreSQL refuses anything
// else, and the answer would never be recorded), its message at most
// maxMessage bytes. A Reference that is not such text is dropped, not
// cleaned: a lookup by the cleaned id would ask for another refund, and
// its "not found" could read as never executed; without one, lookups go
// by refundd's own id. An ARN or RRN longer than MaxReportReference is
// dropped too: PostgreSQL's index on each cannot hold one of a few kB, so
// the answer would never be recorded, and no report row names one so
// long. The codes are cut to that length: shown and sent in webhooks,
// kilobytes of one say no more than its first two hundred characters.
func storable(res processor.Result) processor.Result {
	for _, f := range []*string{&res.ResponseCode, &res.RRN, &res.STAN, &res.AuthCode, &res.ARN} {
		*f = text(*f)
	}
	for _, f := range []*string{&res.RRN, &res.ARN} {
		if utf8.RuneCountInString(*f) > MaxReportReference {
			*f = ""
		}
	}
	for _, f := range []*string{&res.ResponseCode, &res.STAN, &res.AuthCode} {
		*f = cutChars(*f, MaxReportReference)
	}
	if text(res.Reference) != res.Reference {
		res.Reference = ""
	}
	res.Message = clip(text(res.Message), maxMessage)
	return res
}

// text is s as UTF-8 without NUL.
func text(s string) string {
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
}

// cutChars cuts s to at most n characters.
func cutChars(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// clip cuts s to at most n bytes between letters: a cut inside one leaves
// text that is not UTF-8.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func (s *Service) update(ctx context.Context, fn func(tx Tx) error) error {
	return s.write(context.WithoutCancel(ctx), fn)
}

// SyncRefund asks the processor about a refund now, whatever its state,
// and applies the answer: a processing refund or one waiting for review
// moves on, a succeeded one the processor reports reversed becomes
// reversed, and a failed one the processor reports executed is revived or
// listed as a discrepancy. This repairs a lost processor notification.
func (s *Service) SyncRefund(ctx context.Context, p Principal, id string) (*Refund, error) {
	if err := require(p, ScopeRefundsWrite); err != nil {
		return nil, err
	}
	r, err := s.GetRefund(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if r.Status == StatusPending || r.Status == StatusCanceled || r.Status == StatusRequiresApproval ||
		(r.Status == StatusProcessing && r.Attempts == 0) {
		return r, nil // never reached the processor: nothing to ask
	}
	ctx = WithOrderKey(ctx, r.MerchantID, r.OrderID)
	rt, err := s.routeOf(ctx, r)
	if ErrorCode(err) == EProcessorAccountNotFound {
		// Gone for good (no later account gets its id): "unavailable"
		// would send the operator to a processor that is fine, to retry.
		return nil, accountRemoved(r)
	}
	if err != nil {
		// As the processor's route answers: a node without the key is
		// unavailable for now, a credential no node opens is an internal
		// error (called "unavailable, try again", it was so for ever).
		return nil, err
	}
	res, callErr := s.callStatus(ctx, r, &rt)
	if errors.Is(callErr, processor.ErrNotFound) && r.Status == StatusProcessing {
		// Not executed yet: let the worker take it now rather than wait
		// out the lease (it submits again, or settles it if out of
		// attempts).
		var moved *Refund
		err = s.update(ctx, func(tx Tx) error {
			cur, err := tx.GetRefund(ctx, "", id)
			if err != nil || cur.Version != r.Version {
				return err
			}
			cur.NextAttemptAt = s.now()
			moved = cur // r stays as it was until this commits: fn may run again
			return tx.UpdateRefund(ctx, cur)
		})
		if err == nil && moved != nil {
			r = moved
		}
		return r, err
	}
	if callErr != nil && r.Status != StatusProcessing && r.Status != StatusRequiresReview {
		if errors.Is(callErr, processor.ErrNotFound) || errors.Is(callErr, processor.ErrNoStatus) {
			return r, nil
		}
		// The processor's own wait when it gave one (a 5xx's or 429's
		// Retry-After, an open circuit's rest), else the default.
		var te *processor.TransientError
		var wait time.Duration
		if errors.As(callErr, &te) {
			wait = te.RetryAfter
		}
		return nil, retryLater(Errorf(EProcessorUnavailable, "", "the processor could not be asked: %v", callErr), wait)
	}
	var out *Refund
	err = s.update(ctx, func(tx Tx) error {
		// A final refund takes the answer as it stands now: a sweep that
		// claimed it and recorded its look meanwhile (it heard "approved"
		// just before a reversal) only moved its version, and fenced by
		// the read above, the reversal this sync heard was dropped and the
		// refund answered succeeded. An open one is another's to move
		// (its owner's call may be out): only an approval passes the
		// fence of the read (apply).
		cur, err := tx.GetRefund(ctx, "", r.ID)
		if err != nil {
			return err
		}
		switch {
		case cur.Status == StatusSucceeded:
			out, err = s.reverseIfReported(ctx, tx, cur, res, "status")
		case cur.Status == StatusFailed:
			out, err = s.reviveIfExecuted(ctx, tx, cur, res)
		case cur.Status.Final():
			out = cur
		default:
			out, err = s.apply(ctx, tx, r.ID, r.Version, res, callErr, "status")
		}
		if err != nil || out == nil {
			return err
		}
		return s.audit(ctx, tx, p, "refund.sync", "refund", r.ID, string(cur.Status), string(out.Status), "", s.now())
	})
	return out, err
}

// accountRemoved is SyncRefund's answer for a refund whose order's
// processor account was removed: nobody is left to ask, and what the
// operator can do instead.
func accountRemoved(r *Refund) error {
	todo := "whatever that processor did since shows in its settlement report: reconcile it (refundd reconcile, POST /v1/reconciliations)"
	if !r.Status.Final() {
		todo = "settle it by hand from that processor's settlement report or its support desk with POST /v1/refunds/" + r.ID +
			"/resolve once it waits for review (requires_review)"
	}
	return Errorf(EProcessorAccountRemoved, "", "the processor account of this refund's order was removed, so there is nobody left to ask about it; "+
		"the refund stays %s, as recorded: %s", r.Status, todo)
}

// reverseIfReported applies the processor's word on a succeeded refund,
// from a notification or a lookup (call): reversed gives the amount back;
// failed contradicts what was recorded and is listed (contradicted).
func (s *Service) reverseIfReported(ctx context.Context, tx Tx, r *Refund, res processor.Result, call string) (*Refund, error) {
	if failedAfterSuccess(res, call) {
		return r, s.contradicted(ctx, tx, r, res, call, s.now())
	}
	if res.Status != processor.Reversed {
		return r, nil
	}
	cur, err := tx.GetRefund(ctx, "", r.ID)
	if err != nil || cur.Version != r.Version {
		return cur, err
	}
	return cur, s.finish(ctx, tx, cur, StatusReversed, "processor reported the refund reversed", Reverse, s.now())
}

// failedAfterSuccess reports whether res, heard by call about a refund
// recorded succeeded, says the refund failed. A lookup refused at the door
// (auth_failed) says nothing of the refund; a notification is the
// processor's own word, whatever its code.
func failedAfterSuccess(res processor.Result, call string) bool {
	return res.Status == processor.Declined && (call == "notification" || res.ResponseCode != processor.CodeAuthFailed)
}

// contradicted lists the processor's word, heard by call, that a refund
// recorded succeeded failed (a reversal some APIs can only call a failure,
// a late decline, a mistake on either side). Which is right only the
// processor's records can tell, so a person looks: the refund stays
// succeeded meanwhile, since released, its amount could be refunded again
// while the money may have left. Listed once per refund, with an event.
func (s *Service) contradicted(ctx context.Context, tx Tx, r *Refund, res processor.Result, call string, now time.Time) error {
	return s.listRefund(ctx, tx, r, ReconStatusMismatch, fmt.Sprintf(
		"the processor reports it failed (%s) %s after refundd recorded it succeeded; it stays succeeded (its money may have left): check it with the processor",
		saidBy(res), map[string]string{"notification": "in a notification", "status": "when asked", "sweep": "in a status sweep"}[call]), now)
}

// saidBy is what the processor said: its code and message.
func saidBy(res processor.Result) string {
	if res.Message == "" {
		return res.ResponseCode
	}
	return res.ResponseCode + ": " + res.Message
}

// listRefund lists a discrepancy of kind about refund r, once per refund
// and kind, with its event and a warning in the log: what no rule settles
// is never silence.
func (s *Service) listRefund(ctx context.Context, tx Tx, r *Refund, kind, detail string, now time.Time) error {
	d := &Discrepancy{ID: s.cfg.NewID("dsc"), MerchantID: r.MerchantID, Kind: kind, RefundID: r.ID, OrderID: r.OrderID,
		Amount: r.Amount, Currency: r.Currency, CreatedAt: now, Detail: clip(text(detail), maxMessage)}
	inserted, err := tx.InsertDiscrepancy(ctx, d)
	if err != nil || !inserted {
		return err
	}
	s.log.Warn("listed as a discrepancy", "refund", r.ID, "kind", kind, "discrepancy", d.ID, "detail", d.Detail)
	return s.event(ctx, tx, EventRefundDiscrepancy, r, now)
}

// reviveIfExecuted applies evidence that a failed refund was executed
// after all. The money has left: if the order still has room, the refund
// becomes succeeded under the same guarded reservation as a new refund;
// if not (other refunds took that room meanwhile: the customer was paid
// twice), it stays failed and is listed as a discrepancy, with an event.
// Never silence.
func (s *Service) reviveIfExecuted(ctx context.Context, tx Tx, r *Refund, res processor.Result) (*Refund, error) {
	if res.Status != processor.Approved {
		return r, nil
	}
	cur, err := tx.GetRefund(ctx, "", r.ID)
	if err != nil || cur.Version != r.Version || cur.Status != StatusFailed {
		return cur, err
	}
	now := s.now()
	b := BalancesOf(cur)
	b.At = now
	err = tx.AdjustBalances(ctx, b, Reserve)
	if ErrorCode(err) == EAmountExceedsRefundable {
		return cur, s.listRefund(ctx, tx, cur, DiscrepancyExecutedNotRecorded, fmt.Sprintf(
			"the processor executed this refund (%s) after refundd recorded it failed, and the order has no room left for it", res.ResponseCode), now)
	}
	if err != nil {
		return nil, err
	}
	cur.FailureCode, cur.FailureMessage = "", ""
	recordAnswer(cur, res)
	if err := s.finish(ctx, tx, cur, StatusSucceeded, fmt.Sprintf("processor reports it executed (%s) after it was recorded failed", res.ResponseCode), Commit, now); err != nil {
		return nil, err
	}
	return cur, s.recordTransaction(ctx, tx, cur, TxSucceeded, res, now)
}

// recordAnswer records on r the processor's answer res: its response code,
// the latest answer's, and each reference (RRN, STAN, auth code, ARN) res
// carries. One it does not carry keeps r's: a notification, a report or a
// lookup that names none says nothing about them, and a report naming the
// refund by its RRN alone must still find it.
func recordAnswer(r *Refund, res processor.Result) {
	r.ResponseCode = res.ResponseCode
	for _, ref := range []struct {
		to   *string
		from string
	}{{&r.RRN, res.RRN}, {&r.STAN, res.STAN}, {&r.AuthCode, res.AuthCode}, {&r.ARN, res.ARN}} {
		if ref.from != "" {
			*ref.to = ref.from
		}
	}
}

// ResolveInput settles a refund waiting for review.
type ResolveInput struct {
	Outcome Status // StatusSucceeded or StatusFailed
	Note    string
}

// ResolveRefund lets a person settle a refund waiting for review, on
// evidence refundd could not get from the processor itself (a settlement
// report, the acquirer's support desk): succeeded counts the money as
// refunded, failed releases it. Needs scope refunds:review; audited with
// the note. Should the processor later report otherwise, a sync applies
// that evidence like any other.
func (s *Service) ResolveRefund(ctx context.Context, p Principal, id string, in ResolveInput) (_ *Refund, err error) {
	defer func() { noteTransient(ctx, err) }()
	if err := require(p, ScopeRefundsReview); err != nil {
		return nil, err
	}
	switch {
	case in.Outcome != StatusSucceeded && in.Outcome != StatusFailed:
		return nil, Errorf(EInvalidRequest, "outcome", "outcome must be succeeded or failed")
	case CheckText("note", in.Note, 500) != nil:
		return nil, CheckText("note", in.Note, 500)
	}
	ctx = s.keyedByRefund(ctx, p.MerchantID, id)
	var r *Refund
	err = s.write(ctx, func(tx Tx) (err error) {
		var done bool
		if r, done, err = decidedBefore(ctx, tx, p.MerchantID, id); done || err != nil {
			return err
		}
		if r, err = tx.GetRefund(ctx, p.MerchantID, id); err != nil {
			return err
		}
		if r.Status != StatusRequiresReview {
			return Errorf(ERefundNotReviewable, "", "only a refund waiting for review can be resolved; this one is %s", r.Status)
		}
		if err := s.linkClaim(ctx, tx, p.MerchantID, r.ID); err != nil {
			return err
		}
		now := s.now()
		cause := "resolved by " + p.Display()
		if in.Note != "" {
			cause += ": " + in.Note
		}
		if err := s.audit(ctx, tx, p, "refund.resolve", "refund", r.ID, string(r.Status), string(in.Outcome)+" "+in.Note, "", now); err != nil {
			return err
		}
		if in.Outcome == StatusFailed {
			r.FailureCode, r.FailureMessage = "resolved_failed", in.Note
			return s.finish(ctx, tx, r, StatusFailed, cause, Release, now)
		}
		r.FailureCode, r.FailureMessage = "", ""
		if err := s.finish(ctx, tx, r, StatusSucceeded, cause, Commit, now); err != nil {
			return err
		}
		return s.recordTransaction(ctx, tx, r, TxSucceeded, processor.Result{Message: "resolved by review"}, now)
	})
	return r, err
}

// ListDiscrepancies lists the caller's discrepancies, newest first.
func (s *Service) ListDiscrepancies(ctx context.Context, p Principal, f DiscrepancyFilter) (Page[*Discrepancy], error) {
	if err := require(p, ScopeRefundsRead); err != nil {
		return Page[*Discrepancy]{}, err
	}
	if f.Kind != "" && !slices.Contains(DiscrepancyKinds, f.Kind) {
		// A typo would list nothing, as if all were well.
		return Page[*Discrepancy]{}, Errorf(EInvalidRequest, "kind", "unknown discrepancy kind %q (one of %s)", f.Kind, strings.Join(DiscrepancyKinds, ", "))
	}
	if f.Status != "" && f.Status != DiscrepancyOpen && f.Status != DiscrepancyResolved {
		return Page[*Discrepancy]{}, Errorf(EInvalidRequest, "status", "unknown discrepancy status %q (one of %s, %s)", f.Status, DiscrepancyOpen, DiscrepancyResolved)
	}
	limit, err := pageLimit(f.Limit)
	if err != nil {
		return Page[*Discrepancy]{}, err
	}
	f.MerchantID, f.Limit = p.MerchantID, limit+1
	var rows []*Discrepancy
	err = s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		rows, err = tx.ListDiscrepancies(ctx, f)
		return err
	})
	if err != nil {
		return Page[*Discrepancy]{}, err
	}
	return paginate(rows, limit, func(d *Discrepancy) string { return d.ID }), nil
}

// maxResolutionNote bounds a discrepancy's resolution note, as a refund's
// reason and a review's note are bounded.
const maxResolutionNote = 500

// ResolveDiscrepancy closes the merchant's discrepancy id once a person
// has settled it outside refundd (refunded the customer by hand, confirmed
// with the processor): it stays listed, as resolved, with who, when and
// note. Needs scope refunds:review; note is required; audited. Returns
// EDiscrepancyNotFound, and EDiscrepancyResolved for one resolved before:
// a second resolution is refused rather than replayed or overwritten, so
// that the first person's note stands and the second learns someone else
// settled it. A retry of the same request with its Idempotency-Key gets
// the first answer instead.
func (s *Service) ResolveDiscrepancy(ctx context.Context, p Principal, id, note string) (_ *Discrepancy, err error) {
	defer func() { noteTransient(ctx, err) }()
	if err := require(p, ScopeRefundsReview); err != nil {
		return nil, err
	}
	note = strings.TrimSpace(note)
	switch {
	case note == "":
		return nil, Errorf(EInvalidRequest, "note", "note is required: say how the discrepancy was settled")
	case CheckText("note", note, maxResolutionNote) != nil:
		return nil, CheckText("note", note, maxResolutionNote)
	case CheckLookup("id", id) != nil:
		return nil, CheckLookup("id", id)
	}
	var d *Discrepancy
	err = s.write(ctx, func(tx Tx) (err error) {
		if d, err = tx.GetDiscrepancy(ctx, p.MerchantID, id); err != nil {
			return err
		}
		if d.ResolvedAt != nil && claimedObject(ctx, p.MerchantID) == d.ID {
			// An earlier run of this request resolved it and died before
			// its answer was stored: answer the resolution, not a refusal.
			return nil
		}
		if d.ResolvedAt != nil {
			return Errorf(EDiscrepancyResolved, "", "discrepancy %q was resolved at %s by %s", d.ID, d.ResolvedAt.UTC().Format(time.RFC3339), d.ResolvedBy)
		}
		if err := s.linkClaim(ctx, tx, p.MerchantID, d.ID); err != nil {
			return err
		}
		now := s.now()
		d.ResolvedAt, d.ResolvedBy, d.Resolution = &now, p.Actor(), note
		if d.ResolvedBy == "" {
			// A principal with neither key nor user: the CLI, as audit
			// names it.
			d.ResolvedBy = "admin"
		}
		if err := tx.ResolveDiscrepancy(ctx, d); err != nil {
			return err
		}
		return s.audit(ctx, tx, p, "discrepancy.resolve", "discrepancy", d.ID, DiscrepancyOpen, DiscrepancyResolved+" "+note, "", now)
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Housekeep deletes expired idempotency keys, then failed sign-ins that
// can no longer count towards a lock, Config.HousekeepStep at a time, each
// step its own transaction.
func (s *Service) Housekeep(ctx context.Context) (int, error) {
	housekeepStep := s.cfg.HousekeepStep
	total := 0
	for {
		var n int
		err := s.write(ctx, func(tx Tx) (err error) {
			n, err = tx.DeleteExpiredIdempotency(ctx, s.now(), housekeepStep)
			return err
		})
		total += n
		if err != nil {
			return total, err
		}
		if n < housekeepStep {
			break
		}
	}
	// Failed sign-ins are kept while they can still count towards a lock.
	for {
		var n int
		err := s.write(ctx, func(tx Tx) (err error) {
			now := s.now()
			n, err = tx.DeleteStaleSignInFailures(ctx, now.Add(-LockoutFor), now, housekeepStep)
			return err
		})
		total += n
		if err != nil || n < housekeepStep {
			return total, err
		}
	}
}
