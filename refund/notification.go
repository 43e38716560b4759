package refund

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/refundd/refundd/processor"
)

// Notification types a processor sends.
const (
	NotifyRefundSucceeded = "refund.succeeded"
	NotifyRefundFailed    = "refund.failed"
	NotifyRefundReversed  = "refund.reversed"
	NotifyOrderVoided     = "order.voided"
	NotifyOrderChargeback = "order.charged_back"
)

// Notification is what a processor told refundd on its own initiative,
// already authenticated by the surface that received it (a signature).
type Notification struct {
	// ID is the sender's message id (Standard Webhooks' webhook-id), the
	// same on every redelivery: a void or chargeback without a processor
	// reference is kept once per ID.
	ID   string
	Type string // one of the Notify* types
	// Refund notifications name the refund by its idempotency key (the
	// refund id refundd sent), and may name its Amount and Currency: one
	// naming others is about another refund (a key that two installations
	// sending to one processor share) and changes nothing.
	RefundID     string
	ResponseCode string
	Message      string
	RRN, ARN     string
	// Order notifications name the order (refundd's id) and the void's
	// or chargeback's amount and processor reference, and may name its
	// Currency: one naming another than the order's changes nothing.
	OrderID            string
	Amount             int64
	Currency           string
	Reason             string
	ProcessorReference string
}

// NotificationOutcome says what a notification changed.
type NotificationOutcome struct {
	// Applied is false for a refund notification that changes nothing (a
	// repeat, or out of order) and for one about nothing refundd knows. A
	// void or chargeback delivered again is answered as its first
	// delivery was, so the sender reads the same answer however often it
	// retries; that nothing changed the second time shows in the books.
	Applied bool
	Object  string // the refund, void or chargeback id
	Status  string // the refund's status after it, or the adjustment kind
	Note    string // why nothing changed
}

// ApplyNotification applies what the processor reports. It is safe to
// apply twice and in any order: a refund moves only along its state
// machine (a "succeeded" that arrives after "reversed" changes nothing, a
// repeated one finds the refund already there), and a void or chargeback
// is kept once per processor reference, or, without one, once per message
// ID. A void or chargeback with neither is refused (EInvalidRequest).
func (s *Service) ApplyNotification(ctx context.Context, n Notification) (NotificationOutcome, error) {
	switch n.Type {
	case NotifyRefundSucceeded, NotifyRefundFailed, NotifyRefundReversed:
		return s.notifyRefund(ctx, n)
	case NotifyOrderVoided, NotifyOrderChargeback:
		return s.notifyOrder(ctx, n)
	}
	return NotificationOutcome{}, Errorf(EInvalidRequest, "type", "unknown notification type %q", n.Type)
}

func (s *Service) notifyRefund(ctx context.Context, n Notification) (NotificationOutcome, error) {
	if n.RefundID == "" || len(n.RefundID) > 128 {
		return NotificationOutcome{}, Errorf(EInvalidRequest, "idempotency_key", "idempotency_key names the refund")
	}
	if err := CheckLookup("idempotency_key", n.RefundID); err != nil {
		return NotificationOutcome{}, err // as on every store, not "unknown" on one and refused on another
	}
	if n.Amount < 0 {
		return NotificationOutcome{}, Errorf(EInvalidRequest, "amount", "amount is the refund's, in minor units")
	}
	res := storable(processor.Result{Status: map[string]processor.Status{NotifyRefundSucceeded: processor.Approved,
		NotifyRefundFailed: processor.Declined, NotifyRefundReversed: processor.Reversed}[n.Type],
		ResponseCode: n.ResponseCode, Message: n.Message, RRN: n.RRN, ARN: n.ARN})
	if res.ARN == "" && n.ARN != "" || res.RRN == "" && n.RRN != "" {
		// Applied all the same: the processor's word on the refund is
		// kept whatever its references (a refusal, redelivered until the
		// sender gives up, would lose it).
		s.log.Warn("processor notification with an ARN or RRN that cannot be kept; applied without it", "notification", n.ID,
			"refund", n.RefundID, "arn_characters", utf8.RuneCountInString(n.ARN), "rrn_characters", utf8.RuneCountInString(n.RRN))
	}
	var r *Refund
	var elsewhere bool
	err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		if r, err = tx.GetRefund(ctx, "", n.RefundID); err != nil {
			return err
		}
		o, err := tx.GetOrderForRefund(ctx, r.MerchantID, r.OrderID)
		elsewhere = err == nil && o.ProcessorAccountID != ""
		return err
	})
	if err == nil && elsewhere {
		// This node's processor sends these; the refund was executed at a
		// processor account's, which this sender cannot speak for.
		s.log.Warn("processor notification about a refund executed at a processor account; ignored", "notification", n.ID, "refund", n.RefundID)
		return NotificationOutcome{Note: "the refund is executed at another processor"}, nil
	}
	if ErrorCode(err) == ERefundNotFound {
		s.log.Warn("processor notification about a refund refundd does not know", "notification", n.ID, "refund", n.RefundID)
		return NotificationOutcome{Note: "unknown refund"}, nil
	}
	if err != nil {
		return NotificationOutcome{}, err
	}
	if n.Amount != 0 && n.Amount != r.Amount || n.Currency != "" && !strings.EqualFold(n.Currency, r.Currency) {
		// Applied, another refund's success would book this one paid.
		s.log.Warn("processor notification names another amount than its refund's; ignored", "notification", n.ID,
			"refund", r.ID, "amount", n.Amount, "currency", n.Currency)
		return NotificationOutcome{Object: r.ID, Status: string(r.Status),
			Note: "the notification names another amount or currency than the refund's " + fmtMoney(r.Amount, r.Currency)}, nil
	}
	ctx = WithOrderKey(ctx, r.MerchantID, r.OrderID)
	var out, cur *Refund
	err = s.update(ctx, func(tx Tx) (err error) {
		// The processor's word applies to the refund as it stands now, not
		// as the read above found it: it was asked under no lease that
		// another could take over. Fenced by that read, it was lost to
		// whatever moved the version meanwhile (a worker's claim, a
		// sweep's look that heard "approved" just before the reversal)
		// and answered as applied nowhere.
		if cur, err = tx.GetRefund(ctx, "", r.ID); err != nil {
			return err
		}
		switch {
		case cur.Status == StatusSucceeded:
			out, err = s.reverseIfReported(ctx, tx, cur, res, "notification")
		case cur.Status == StatusFailed:
			out, err = s.reviveIfExecuted(ctx, tx, cur, res)
		case cur.Status == StatusProcessing || cur.Status == StatusRequiresReview:
			out, err = s.apply(ctx, tx, cur.ID, cur.Version, res, nil, "notification")
		case cur.Status == StatusCanceled && res.Status == processor.Approved:
			// Canceled refunds were never to reach the processor (one sent
			// back to pending by a 429 may have, and a chargeback can cancel
			// it), and their amount was released: money left that the books
			// do not show.
			out = cur
			err = s.listRefund(ctx, tx, cur, DiscrepancyExecutedNotRecorded, fmt.Sprintf(
				"the processor reports it executed (%s) after refundd canceled it and released its amount", saidBy(res)), s.now())
		case slices.Contains(unsent, cur.Status) && res.Status == processor.Approved:
			out, err = s.executedUnsent(ctx, tx, cur, res)
		default:
			out = cur // pending (never sent) or final: nothing a notification may change
		}
		if err != nil || out == nil || out.Status == cur.Status {
			return err
		}
		return s.audit(ctx, tx, Principal{MerchantID: r.MerchantID, Processor: true}, "refund.notification", "refund", r.ID,
			string(cur.Status), string(out.Status), "", s.now())
	})
	if err != nil {
		return NotificationOutcome{}, err
	}
	o := NotificationOutcome{Applied: out.Status != cur.Status, Object: r.ID, Status: string(out.Status)}
	if !o.Applied {
		o.Note = fmt.Sprintf("the refund is %s; a %s notification changes nothing", cur.Status, n.Type)
		switch {
		case cur.Status == StatusSucceeded && failedAfterSuccess(res, "notification"):
			o.Note = fmt.Sprintf("the refund is succeeded; the failure is listed at GET /v1/discrepancies (%s)", ReconStatusMismatch)
		case cur.Status == StatusCanceled && res.Status == processor.Approved:
			o.Note = fmt.Sprintf("the refund is canceled; its execution is listed at GET /v1/discrepancies (%s)", DiscrepancyExecutedNotRecorded)
		}
	}
	return o, nil
}

// executedUnsent records the processor's word that it executed r, which
// refundd holds unsent: pending (a "not executed" answer that was wrong) or
// waiting for approval (sent by someone else). Its amount is reserved, so
// the word applies as any answer does: left unsent, the worker would send
// it again (a processor without deduplication pays it twice), and a
// rejection, an expiry or a cancel would release money that has left. It
// is listed as well (executed_not_recorded): executed before a second
// person approved it, the control was passed by; pending, a "not
// executed" answer the retries rely on was wrong, or something other
// than refundd's worker sent it, which someone must find out.
func (s *Service) executedUnsent(ctx context.Context, tx Tx, r *Refund, res processor.Result) (*Refund, error) {
	now := s.now()
	from := r.Status
	u := *r // the caller's r stays as it was read
	r = &u
	r.Status, r.NextAttemptAt, r.UpdatedAt = StatusProcessing, now, now
	if err := tx.UpdateRefund(ctx, r); err != nil {
		return nil, err
	}
	if err := tx.InsertTransition(ctx, Transition{RefundID: r.ID, From: from, To: StatusProcessing,
		Cause: fmt.Sprintf("the processor reports it executed (%s) before refundd sent it", saidBy(res)), At: now}); err != nil {
		return nil, err
	}
	out, err := s.apply(ctx, tx, r.ID, r.Version, res, nil, "notification")
	if err != nil {
		return out, err
	}
	detail := fmt.Sprintf("the processor reports it executed (%s) while refundd held it unsent, pending: "+
		"an earlier \"not executed\" answer was wrong, or something other than refundd sent it", saidBy(res))
	if from == StatusRequiresApproval {
		detail = fmt.Sprintf("the processor reports it executed (%s) while it waited for a second person's approval", saidBy(res))
	}
	return out, s.listRefund(ctx, tx, out, DiscrepancyExecutedNotRecorded, detail, now)
}

func (s *Service) notifyOrder(ctx context.Context, n Notification) (NotificationOutcome, error) {
	if n.OrderID == "" || len(n.OrderID) > 128 {
		return NotificationOutcome{}, Errorf(EInvalidRequest, "order_id", "order_id names the order")
	}
	if err := CheckLookup("order_id", n.OrderID); err != nil {
		return NotificationOutcome{}, err
	}
	ref := n.ProcessorReference
	if ref == "" {
		// A sender redelivers a message it is not sure arrived; without
		// the processor's reference, only the message's id tells the
		// repeat from a second void or chargeback.
		if n.ID == "" {
			return NotificationOutcome{}, Errorf(EInvalidRequest, "webhook-id",
				"a void or chargeback without a reference needs its message's webhook-id, to be kept once")
		}
		ref = messageReference(n.ID)
	}
	var o *Order
	err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		o, err = tx.GetOrder(ctx, "", n.OrderID)
		return err
	})
	if ErrorCode(err) == EOrderNotFound {
		s.log.Warn("processor notification about an order refundd does not know", "notification", n.ID, "order", n.OrderID)
		return NotificationOutcome{Note: "unknown order"}, nil
	}
	if err != nil {
		return NotificationOutcome{}, err
	}
	if o.ProcessorAccountID != "" {
		// As for refunds: this node's processor sends these, and the
		// order was paid through a processor account's, whose voids and
		// chargebacks this sender cannot speak for.
		s.log.Warn("processor notification about an order paid at a processor account; ignored", "notification", n.ID, "order", o.ID)
		return NotificationOutcome{Note: "the order is paid at another processor"}, nil
	}
	if n.Currency != "" && !strings.EqualFold(n.Currency, o.Currency) {
		// Applied, another currency's minor units would be taken as the
		// order's: 5000 fils charged back would count as 50.00 SAR.
		s.log.Warn("processor notification names another currency than its order's; ignored", "notification", n.ID,
			"order", o.ID, "amount", n.Amount, "currency", n.Currency)
		return NotificationOutcome{Object: o.ID, Note: fmt.Sprintf("the notification names another currency than the order's %s", o.Currency)}, nil
	}
	kind := AdjustmentVoid
	if n.Type == NotifyOrderChargeback {
		kind = AdjustmentChargeback
	}
	// The processor acts on the order's merchant's behalf.
	p := Principal{MerchantID: o.MerchantID, Scopes: []string{ScopeOrdersWrite}, Processor: true}
	a, _, err := s.adjustOrder(ctx, p, o.ID, kind, AdjustmentInput{Amount: n.Amount, Reason: n.Reason, ProcessorReference: ref})
	if err != nil {
		return NotificationOutcome{}, err
	}
	if a.Amount != n.Amount {
		// Answered as received: a refusal is retried by the sender, and
		// the difference is kept already.
		return NotificationOutcome{Object: a.ID, Status: kind, Note: fmt.Sprintf("this %s was notified before as %s; it stays so, and %s is listed as a %s discrepancy",
			kind, fmtMoney(a.Amount, a.Currency), fmtMoney(n.Amount, a.Currency), DiscrepancyAdjustmentAmountChanged)}, nil
	}
	if kind == AdjustmentVoid && a.Applied < a.Amount {
		// Answered as received all the same: a refusal is retried by the
		// sender, and the void is kept already.
		return NotificationOutcome{Applied: a.Applied > 0, Object: a.ID, Status: kind, Note: fmt.Sprintf("the void of %s is more than the %s left on the order; "+
			"%s of it is listed as a %s discrepancy", fmtMoney(a.Amount, a.Currency), fmtMoney(a.Applied, a.Currency),
			fmtMoney(a.Amount-a.Applied, a.Currency), DiscrepancyVoidNotApplied)}, nil
	}
	return NotificationOutcome{Applied: true, Object: a.ID, Status: kind}, nil
}

// messageReference is the processor reference a void or chargeback
// notified without one is kept under: its message id, or the id's hash
// when the id is no valid reference (a sender may use any characters).
// The prefix says where the reference came from.
func messageReference(id string) string {
	if ref := "webhook-id:" + id; refRE.MatchString(ref) {
		return ref
	}
	sum := sha256.Sum256([]byte(id))
	return "webhook-id-sha256:" + hex.EncodeToString(sum[:])
}
