package refund

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Adjustment kinds: what reduces an order besides its refunds.
const (
	// AdjustmentVoid: part of the capture was voided before settlement.
	AdjustmentVoid = "void"
	// AdjustmentChargeback: the cardholder's bank took money back.
	AdjustmentChargeback = "chargeback"
)

// Order events.
const (
	EventOrderVoided      = "order.voided"
	EventOrderChargedBack = "order.charged_back"
	// EventOrderChargebackApplied: more of a chargeback applied, out of
	// the room a failed or reversed refund gave back (applyOwed).
	EventOrderChargebackApplied = "order.chargeback_applied"
	// EventOrderVoidApplied: more of a notified void applied, out of the
	// room a failed, reversed or canceled refund gave back (applyOwed).
	EventOrderVoidApplied = "order.void_applied"
)

// OrderAdjustment is one void or chargeback of an order.
type OrderAdjustment struct {
	ID         string
	MerchantID string
	OrderID    string
	Kind       string // AdjustmentVoid or AdjustmentChargeback
	Amount     int64  // what the processor reports
	// Applied is what the order had room for. A void asked for is
	// refused when it does not fit; one the processor notified is its
	// word, applied up to what is free and the rest listed as a
	// discrepancy (no refund is canceled for it). A chargeback is a
	// fact: refunds not sent yet are canceled to make room, and what
	// still does not fit had been sent to the processor, and is listed as
	// a discrepancy.
	Applied  int64
	Currency string
	Reason   string
	// ProcessorReference is the processor's id for it (webhook-id:<id>
	// when a notification gave none: its message's); a repeat with the
	// same one replays.
	ProcessorReference string
	CreatedAt          time.Time
}

// AdjustmentInput asks for a void or records a chargeback.
type AdjustmentInput struct {
	Amount             int64
	Reason             string
	ProcessorReference string
}

func (in *AdjustmentInput) validate() error {
	switch {
	case in.Amount <= 0:
		return Errorf(EInvalidAmount, "amount", "amount must be a positive integer in minor units")
	case CheckText("reason", in.Reason, 500) != nil:
		return CheckText("reason", in.Reason, 500)
	case in.ProcessorReference != "" && !refRE.MatchString(in.ProcessorReference):
		return Errorf(EInvalidRequest, "processor_reference", "processor_reference must be 1-255 letters, digits or _.:/#-")
	}
	return nil
}

// VoidOrder voids part of an order's capture: what is voided can no
// longer be refunded. A void larger than what is left to refund is
// refused, as a refund would be.
func (s *Service) VoidOrder(ctx context.Context, p Principal, orderID string, in AdjustmentInput) (*OrderAdjustment, *Order, error) {
	return s.adjustOrder(ctx, p, orderID, AdjustmentVoid, in)
}

// ChargebackOrder records a chargeback: the cardholder's bank took money
// back, which can then no longer be refunded, under the same guard as
// refunds, so a refund and a chargeback never together return more than
// was captured. When it does not fit, the order's refunds not sent to
// the processor yet are canceled, newest first, until it does; whatever
// part refunds sent had returned is recorded as a discrepancy (the
// customer was paid twice), with an event.
func (s *Service) ChargebackOrder(ctx context.Context, p Principal, orderID string, in AdjustmentInput) (*OrderAdjustment, *Order, error) {
	return s.adjustOrder(ctx, p, orderID, AdjustmentChargeback, in)
}

func (s *Service) adjustOrder(ctx context.Context, p Principal, orderID, kind string, in AdjustmentInput) (_ *OrderAdjustment, _ *Order, err error) {
	defer func() { noteTransient(ctx, err) }()
	if err := require(p, ScopeOrdersWrite); err != nil {
		return nil, nil, err
	}
	if err := in.validate(); err != nil {
		return nil, nil, err
	}
	ctx = s.keyedByOrder(ctx, p.MerchantID, orderID)
	var a *OrderAdjustment
	var o *Order
	err = s.write(ctx, func(tx Tx) (err error) {
		if id := claimedObject(ctx, p.MerchantID); id != "" {
			// An earlier run of this very request recorded it and died
			// before it answered: applying it again would void or charge
			// back the order twice.
			if a, err = tx.GetOrderAdjustmentByID(ctx, p.MerchantID, id); err != nil {
				return err
			}
			o, err = tx.GetOrder(ctx, p.MerchantID, a.OrderID)
			return err
		}
		if a, o, err = s.adjustIn(ctx, tx, p, orderID, kind, in); err != nil {
			return err
		}
		return s.linkClaim(ctx, tx, p.MerchantID, a.ID)
	})
	if err != nil {
		return nil, nil, err
	}
	return a, o, nil
}

// ListOrderAdjustments returns the voids and chargebacks of one of the
// caller's orders, newest first, up to MaxPageSize (HasMore says whether
// there are more): what took the room refunds no longer have. Another
// merchant's order is EOrderNotFound.
func (s *Service) ListOrderAdjustments(ctx context.Context, p Principal, orderID string) (Page[*OrderAdjustment], error) {
	if err := require(p, ScopeOrdersRead); err != nil {
		return Page[*OrderAdjustment]{}, err
	}
	var rows []*OrderAdjustment
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		o, err := tx.GetOrder(ctx, p.MerchantID, orderID)
		if err != nil {
			return err
		}
		rows, err = tx.ListOrderAdjustments(ctx, o.MerchantID, o.ID, MaxPageSize+1)
		return err
	})
	if err != nil {
		return Page[*OrderAdjustment]{}, err
	}
	return paginate(rows, MaxPageSize, func(a *OrderAdjustment) string { return a.ID }), nil
}

// adjustIn is adjustOrder's transaction (also a processor notification's).
func (s *Service) adjustIn(ctx context.Context, tx Tx, p Principal, orderID, kind string, in AdjustmentInput) (*OrderAdjustment, *Order, error) {
	if kind == AdjustmentChargeback {
		if err := lockUnsent(ctx, tx, p.MerchantID, orderID, in.Amount); err != nil {
			return nil, nil, err
		}
	}
	o, err := lockOrder(ctx, tx, p.MerchantID, orderID)
	if err != nil {
		return nil, nil, err
	}
	if in.ProcessorReference != "" {
		prev, err := tx.GetOrderAdjustment(ctx, o.ID, kind, in.ProcessorReference)
		switch {
		case err == nil && prev.Amount == in.Amount:
			return prev, o, nil // the same one again: nothing changes
		case err == nil && p.Processor:
			// The processor now gives its void or chargeback another
			// amount. Refused, the sender retried until it gave up and
			// nobody heard of it; applied, a guess would move money. Kept
			// for a person (once per amount heard), the first as it was.
			return prev, o, s.adjustmentConflict(ctx, tx, o, prev, in.Amount)
		case err == nil:
			return nil, nil, Errorf(EMerchantReferenceReused, "processor_reference",
				"processor_reference %q was recorded with another amount", in.ProcessorReference)
		case ErrorCode(err) != ENotFound:
			return nil, nil, err
		}
	}
	now := s.now()
	a := &OrderAdjustment{ID: s.cfg.NewID(map[string]string{AdjustmentVoid: "void", AdjustmentChargeback: "cb"}[kind]),
		MerchantID: o.MerchantID, OrderID: o.ID, Kind: kind, Amount: in.Amount, Applied: in.Amount, Currency: o.Currency,
		Reason: in.Reason, ProcessorReference: in.ProcessorReference, CreatedAt: now}
	room := max(o.Refundable(), 0)
	switch {
	case kind == AdjustmentChargeback && a.Amount > room:
		// Refunds not sent yet hold part of the order but paid nothing:
		// the chargeback goes first, and they give way.
		if o, err = s.cancelUnsent(ctx, tx, p, o, a, now); err != nil {
			return nil, nil, err
		}
		room = max(o.Refundable(), 0)
		a.Applied = min(a.Amount, room)
	case kind == AdjustmentVoid && p.Processor && a.Amount > room:
		// The processor says it voided more than refundd has left: the
		// books and the processor disagree. Refused, the notification
		// was retried by its sender until it gave up, and the void was
		// nowhere. It is kept, and takes what is free (no refund is
		// canceled for it: which of them to undo is a person's call),
		// since what the processor says it voided is not refundable:
		// doubt never frees money. The rest is a discrepancy.
		a.Applied = room
	}
	if a.Applied > 0 {
		if err := tx.AdjustOrder(ctx, o.ID, kind, a.Applied, now); err != nil {
			if ErrorCode(err) == EAmountExceedsRefundable {
				return nil, nil, Errorf(EAmountExceedsRefundable, "amount", "a %s of %s exceeds the %s left on the order",
					kind, fmtMoney(a.Amount, o.Currency), fmtMoney(room, o.Currency))
			}
			return nil, nil, err
		}
	}
	if err := tx.InsertOrderAdjustment(ctx, a); err != nil {
		return nil, nil, err
	}
	if err := s.issueAdjustmentNote(ctx, tx, o, a, a.Applied, now); err != nil {
		return nil, nil, err
	}
	if o, err = tx.GetOrder(ctx, o.MerchantID, o.ID); err != nil {
		return nil, nil, err
	}
	// A consumer books order.voided as money the order can no longer
	// refund: a notified void with nothing free voided nothing here, and
	// its refund.discrepancy below is the event that tells of it. A part
	// applied is told with the part (applied_amount). A chargeback always
	// has its event: the card network took the money, and what was not
	// applied yet is owed (order.chargeback_applied when it is).
	typ := map[string]string{AdjustmentVoid: EventOrderVoided, AdjustmentChargeback: EventOrderChargedBack}[kind]
	if kind == AdjustmentChargeback || a.Applied > 0 {
		if err := s.orderEvent(ctx, tx, typ, o, a, now); err != nil {
			return nil, nil, err
		}
	}
	if excess := a.Amount - a.Applied; excess > 0 {
		d := &Discrepancy{ID: s.cfg.NewID("dsc"), MerchantID: o.MerchantID, Kind: DiscrepancyChargebackAfterRefund,
			OrderID: o.ID, Amount: excess, Currency: o.Currency, Reference: a.ID, CreatedAt: now,
			Detail: fmt.Sprintf("chargeback %s of %s: refunds had already returned %s of it", a.ID,
				fmtMoney(a.Amount, o.Currency), fmtMoney(excess, o.Currency))}
		if kind == AdjustmentVoid {
			d.Kind = DiscrepancyVoidNotApplied
			d.Detail = fmt.Sprintf("void %s of %s (processor reference %s) notified by the processor is more than the %s left on the order; %s of it is not applied",
				a.ID, fmtMoney(a.Amount, o.Currency), a.ProcessorReference, fmtMoney(a.Applied, o.Currency), fmtMoney(excess, o.Currency))
		}
		if _, err := tx.InsertDiscrepancy(ctx, d); err != nil {
			return nil, nil, err
		}
		s.log.Warn("void or chargeback beyond what the order has left; listed as a discrepancy", "order", o.ID, "kind", d.Kind, "discrepancy", d.ID)
		if err := s.orderEvent(ctx, tx, EventRefundDiscrepancy, o, a, now); err != nil {
			return nil, nil, err
		}
	}
	return a, o, s.audit(ctx, tx, p, "order."+kind, "order", o.ID, "", fmt.Sprintf("%s %d", kind, a.Applied), "", now)
}

// adjustmentConflict lists a void or chargeback the processor notified
// again under its reference with amount, not prev.Amount, as an
// adjustment_amount_changed discrepancy about prev, once per amount, with
// the refund.discrepancy event; prev and the order stay as they are.
func (s *Service) adjustmentConflict(ctx context.Context, tx Tx, o *Order, prev *OrderAdjustment, amount int64) error {
	now := s.now()
	d := &Discrepancy{ID: s.cfg.NewID("dsc"), MerchantID: o.MerchantID, Kind: DiscrepancyAdjustmentAmountChanged,
		OrderID: o.ID, Amount: max(amount-prev.Amount, prev.Amount-amount), Currency: o.Currency,
		Reference: fmt.Sprintf("%s@%d", prev.ID, amount), CreatedAt: now,
		Detail: fmt.Sprintf("the processor notified %s %s (reference %s) again as %s; it stays at %s (%s applied) until a person settles it",
			prev.Kind, prev.ID, prev.ProcessorReference, fmtMoney(amount, o.Currency), fmtMoney(prev.Amount, o.Currency),
			fmtMoney(prev.Applied, o.Currency))}
	inserted, err := tx.InsertDiscrepancy(ctx, d)
	if err != nil || !inserted {
		return err
	}
	s.log.Warn("the processor notified a void or chargeback again with another amount; listed as a discrepancy",
		"order", o.ID, "adjustment", prev.ID, "amount", amount, "discrepancy", d.ID)
	return s.orderEvent(ctx, tx, EventRefundDiscrepancy, o, prev, now)
}

// lockUnsent locks, before the order, the refunds a chargeback of amount
// may cancel (cancelUnsent): those of the order not sent to the processor,
// when an unlocked read of the order says the chargeback will not fit. A
// cancel, and every other change of a refund, takes the refund's row and
// then the order's (its release); a chargeback that took the order's first
// and then the refund's deadlocked with a cancel of that refund on
// PostgreSQL, which the server breaks only after deadlock_timeout (a
// second) by failing one, whose batch then runs again. Two orders remain
// where a chargeback can still meet the reverse, each needing the same
// moment: a refund made between this read and the order's lock is read
// locked after the order, by cancelUnsent; and a PostgreSQL node batching
// a reservation on the order (the order's row) before a cancel of one of
// its refunds holds the order first. Either deadlock is broken by the
// server and its loser's batch runs again; nothing is applied twice.
func lockUnsent(ctx context.Context, tx Tx, merchantID, idOrReference string, amount int64) error {
	o, err := tx.GetOrder(ctx, merchantID, idOrReference)
	if ErrorCode(err) == EOrderNotFound {
		o, err = tx.GetOrderByReference(ctx, merchantID, idOrReference)
	}
	if err != nil || amount <= max(o.Refundable(), 0) {
		return err
	}
	_, err = tx.LockOrderRefunds(ctx, o.MerchantID, o.ID, unsent...)
	return err
}

// cancelUnsent cancels o's refunds that never reached the processor
// (waiting for approval, or pending), newest first, until a fits or none
// is left, and returns the order as it is then. The chargeback took the
// money back: one of them paid out after it would pay the cardholder a
// second time. Each is canceled as a merchant's cancel is, audited, with
// its event. A refund is canceled whole even when the chargeback needs
// only part of what it holds: its amount is what the merchant asked and
// the processor would be sent, and the rest of its room is free to refund
// again.
//
// The order is locked already (lockOrder), and so are the refunds, taken
// before it (lockUnsent), as a cancel takes them; read again here, one
// made since lockUnsent's read is locked now, after the order.
func (s *Service) cancelUnsent(ctx context.Context, tx Tx, p Principal, o *Order, a *OrderAdjustment, now time.Time) (*Order, error) {
	waiting, err := tx.LockOrderRefunds(ctx, o.MerchantID, o.ID, unsent...)
	if err != nil {
		return nil, err
	}
	slices.Reverse(waiting) // newest first
	for _, r := range waiting {
		cur, err := tx.GetRefund(ctx, o.MerchantID, r.ID)
		if err != nil {
			return nil, err
		}
		if !cancelable(cur) {
			continue // sent meanwhile
		}
		if err := s.chargedBack(ctx, tx, p, cur, a.ID, now); err != nil {
			return nil, err
		}
		// Read the room again rather than add up what was freed: an
		// older chargeback still owed takes it first (applyOwed).
		if o, err = tx.GetOrderForRefund(ctx, o.MerchantID, o.ID); err != nil {
			return nil, err
		}
		if o.Refundable() >= a.Amount {
			break
		}
	}
	return o, nil
}

// chargedBack cancels r, which never reached the processor, as a
// merchant's cancel is (audited, with its event), for chargeback cbID,
// which took back the money r would have refunded.
func (s *Service) chargedBack(ctx context.Context, tx Tx, p Principal, r *Refund, cbID string, now time.Time) error {
	why := "chargeback " + cbID + " took back the money it would have refunded"
	r.FailureCode, r.FailureMessage = "charged_back", why
	return s.cancelIn(ctx, tx, p, r, string(StatusCanceled)+" chargeback "+cbID, "canceled: "+why, now)
}

// applyOwed gives the room r's release or reversal freed to the order's
// voids and chargebacks applied in part, oldest first: what refunds sent
// to the processor had returned of a chargeback (its discrepancy) is
// owed, and so is what a notified void found held by refunds (its
// void_not_applied), and r has now given its part back. Left free, that
// room would let a new refund pay the cardholder again what the bank
// already took back, or pay out what the processor says it voided. r's
// transaction holds the order's row already (the release's update).
func (s *Service) applyOwed(ctx context.Context, tx Tx, r *Refund, now time.Time) error {
	owed, err := tx.ListOwedAdjustments(ctx, r.OrderID)
	if err != nil || len(owed) == 0 {
		return err
	}
	o, err := tx.GetOrderForRefund(ctx, r.MerchantID, r.OrderID)
	if err != nil {
		return err
	}
	worker := Principal{MerchantID: r.MerchantID, Worker: true}
	for _, a := range owed {
		n := min(a.Amount-a.Applied, o.Refundable())
		if n <= 0 {
			break
		}
		if err := tx.AdjustOrder(ctx, o.ID, a.Kind, n, now); err != nil {
			return err
		}
		if err := tx.ApplyOwedAdjustment(ctx, a.ID, n); err != nil {
			return err
		}
		if err := s.issueAdjustmentNote(ctx, tx, o, a, n, now); err != nil {
			return err
		}
		before := fmt.Sprintf("%s %d", a.Kind, a.Applied)
		a.Applied += n
		kind, typ := DiscrepancyChargebackAfterRefund, EventOrderChargebackApplied
		// Its discrepancy said the customer was paid twice that much:
		// that part came back.
		detail := fmt.Sprintf("chargeback %s of %s: refunds have returned %s of it; %s is applied now, refunds that had returned the rest having failed or been reversed",
			a.ID, fmtMoney(a.Amount, a.Currency), fmtMoney(a.Amount-a.Applied, a.Currency), fmtMoney(a.Applied, a.Currency))
		if a.Kind == AdjustmentVoid {
			o.VoidedAmount += n
			kind, typ = DiscrepancyVoidNotApplied, EventOrderVoidApplied
			detail = fmt.Sprintf("void %s of %s (processor reference %s) notified by the processor: %s is applied now, refunds that held the room having failed, been reversed or canceled; %s of it is not applied",
				a.ID, fmtMoney(a.Amount, a.Currency), a.ProcessorReference, fmtMoney(a.Applied, a.Currency), fmtMoney(a.Amount-a.Applied, a.Currency))
		} else {
			o.ChargedBackAmount += n
		}
		// One missing is no reason to keep the refund's outcome from
		// being recorded.
		d, err := tx.ReduceDiscrepancy(ctx, a.MerchantID, kind, a.ID, n, detail)
		switch {
		case ErrorCode(err) == ENotFound:
			s.log.Warn("void or chargeback applied further has no discrepancy to reduce", "adjustment", a.ID, "amount", n)
		case err != nil:
			return err
		case d.Amount == 0 && d.ResolvedAt == nil:
			// All of it came back: nothing is left for a person.
			d.ResolvedAt, d.ResolvedBy, d.Resolution = &now, ResolvedByRefundd, detail
			if err := tx.ResolveDiscrepancy(ctx, d); err != nil {
				return err
			}
		}
		if err := s.orderEvent(ctx, tx, typ, o, a, now); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, worker, typ, "order", o.ID, before,
			fmt.Sprintf("%s %d (%s %s gave back its %s)", a.Kind, a.Applied, r.ID, r.Status, fmtMoney(r.Amount, r.Currency)), "", now); err != nil {
			return err
		}
	}
	return nil
}

// lockOrder is findOrder read as a refund reads its order
// (GetOrderForRefund): locked until commit where the store locks, so that
// what is left to refund, which a chargeback applies up to, cannot shrink
// under it. Read unlocked, refunds on other nodes took the room between
// the read and the guarded update, and a chargeback that must always
// record was refused.
func lockOrder(ctx context.Context, tx Tx, merchantID, idOrReference string) (*Order, error) {
	o, err := tx.GetOrderForRefund(ctx, merchantID, idOrReference)
	if ErrorCode(err) != EOrderNotFound {
		return o, err
	}
	if o, err = tx.GetOrderByReference(ctx, merchantID, idOrReference); err != nil {
		return nil, err
	}
	return tx.GetOrderForRefund(ctx, merchantID, o.ID)
}

// orderEvent writes an outbox event about an order and one of its
// adjustments.
func (s *Service) orderEvent(ctx context.Context, tx Tx, typ string, o *Order, a *OrderAdjustment, now time.Time) error {
	data, err := json.Marshal(map[string]any{
		"id": a.ID, "object": a.Kind, "order_id": o.ID, "amount": a.Amount, "applied_amount": a.Applied,
		"currency": a.Currency, "reason": a.Reason, "processor_reference": orNull(a.ProcessorReference), "created_at": a.CreatedAt,
		"order": map[string]any{"id": o.ID, "reference": o.Reference, "captured_amount": o.CapturedAmount,
			"refunded_amount": o.RefundedAmount, "pending_refund_amount": o.PendingRefundAmount,
			"voided_amount": o.VoidedAmount, "charged_back_amount": o.ChargedBackAmount},
	})
	if err != nil {
		return err
	}
	ev := &Event{ID: s.cfg.NewID("evt"), MerchantID: o.MerchantID, Type: typ, OrderID: o.ID, Data: data,
		RequestID: RequestFrom(ctx).ID, CreatedAt: now}
	if err := tx.InsertEvent(ctx, ev); err != nil {
		return err
	}
	return s.fanOut(ctx, tx, ev, "")
}
