package refund

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/processor"
)

// RefundInput asks for a refund. Amount nil refunds the whole remainder
// (of the order, or of the named items or vendors).
type RefundInput struct {
	OrderID           string // refundd's order id (dialects resolve references with FindOrder first)
	Amount            *int64
	Reason            string
	MerchantReference string // unique per merchant; a repeat with the same request replays
	CaptureID         string // which capture transaction to refund; default: one that covers the amount
	Items             []RefundItemInput
	Vendors           []RefundVendor
	NotifyURL         string
	// Queue leaves the refund pending for the worker instead of submitting
	// it during the request; it can be canceled for Config.QueueHold.
	Queue bool
	// IdempotencyKey makes retries safe: the same key and request replays
	// the first answer for at least 24 hours.
	IdempotencyKey string
	Surface        string // native, gateway, sgate, ... (recorded, not hashed)
	// AwaitInFlight runs the order's refunds one at a time: before
	// reserving, wait up to Config.InFlightWait for the order's refunds in
	// flight (pending or processing) to settle, and answer
	// ERefundInProgressOnOrder if they do not. Not hashed: it changes when
	// the refund runs, not what it does.
	AwaitInFlight bool
}

// RefundItemInput refunds Qty units of an order line; Amount defaults to
// Qty * the line's unit amount.
type RefundItemInput struct {
	ItemID string `json:"item_id"`
	Qty    int64  `json:"qty"`
	Amount *int64 `json:"amount,omitempty"`
}

// hash identifies the request for idempotency: every field that changes
// what the refund does, and nothing else.
func (in *RefundInput) hash() string {
	b, _ := json.Marshal(struct {
		OrderID, Reason, Ref, Capture, Notify string
		Amount                                *int64
		Items                                 []RefundItemInput
		Vendors                               []RefundVendor
		Queue                                 bool
	}{in.OrderID, in.Reason, in.MerchantReference, in.CaptureID, in.NotifyURL, in.Amount, in.Items, in.Vendors, in.Queue})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// refundReason is the reason a refund keeps: a reason of only whitespace
// is none, so that its credit note's note (KSA-10) and instruction note
// fall back to what a refund without one gets, whatever the surface. Every
// surface's refund is made here; a reason with text is kept as given (the
// dialects echo it back). The request's hash (idempotency) is of the
// reason as sent.
func refundReason(reason string) string {
	if strings.TrimSpace(reason) == "" {
		return ""
	}
	return reason
}

func (in *RefundInput) validate() error {
	switch {
	case in.OrderID == "":
		return Errorf(EInvalidRequest, "order_id", "order_id is required")
	case CheckLookup("order_id", in.OrderID) != nil:
		return CheckLookup("order_id", in.OrderID)
	case in.Amount != nil && *in.Amount <= 0:
		return Errorf(EInvalidAmount, "amount", "amount must be a positive integer in minor units")
	case CheckText("reason", in.Reason, 500) != nil:
		return CheckText("reason", in.Reason, 500)
	case in.MerchantReference != "" && !refRE.MatchString(in.MerchantReference):
		return Errorf(EInvalidRequest, "merchant_reference", "merchant_reference must be 1-255 letters, digits or _.:/#-")
	case len(in.IdempotencyKey) > 255:
		return Errorf(EInvalidRequest, "Idempotency-Key", "Idempotency-Key is at most 255 characters")
	case len(in.Items) > 500 || len(in.Vendors) > 100:
		return Errorf(EInvalidRequest, "items", "too many items or vendors")
	}
	for i, it := range in.Items {
		p := "items[" + itoa(i) + "]"
		if it.ItemID == "" {
			return Errorf(EInvalidRequest, p+".item_id", "item_id is required")
		}
		if it.Qty < 0 || (it.Amount != nil && *it.Amount < 0) || (it.Qty == 0 && (it.Amount == nil || *it.Amount == 0)) {
			return Errorf(EInvalidRequest, p+".qty", "an item refund needs a positive qty or amount, never negative")
		}
	}
	for i, v := range in.Vendors {
		if v.VendorID == "" {
			return Errorf(EInvalidRequest, "vendors["+itoa(i)+"].vendor_id", "vendor_id is required")
		}
		if v.Amount <= 0 {
			return Errorf(EInvalidAmount, "vendors["+itoa(i)+"].amount", "a vendor amount must be positive")
		}
	}
	return nil
}

// CreateRefund reserves the amount and records the refund in one
// transaction, then (unless queued) submits it to the processor within
// ProcessorTimeout. A final answer is applied before returning; otherwise
// the refund is returned processing and the worker carries on.
func (s *Service) CreateRefund(ctx context.Context, p Principal, in RefundInput) (_ *Refund, err error) {
	defer func() { noteTransient(ctx, err) }()
	if err := require(p, ScopeRefundsWrite); err != nil {
		return nil, err
	}
	if err := in.validate(); err != nil {
		return nil, err
	}
	if in.NotifyURL != "" {
		if err := s.checkTargetURL(ctx, "notify_url", in.NotifyURL); err != nil {
			return nil, err
		}
	}
	if in.AwaitInFlight {
		if err := s.awaitInFlight(ctx, p.MerchantID, in.OrderID); err != nil {
			return nil, err
		}
	}
	if in.Surface == "" {
		in.Surface = "native"
	}
	hash := in.hash()
	ctx = WithOrderKey(ctx, p.MerchantID, in.OrderID)
	var r *Refund
	var replay bool
	var rt route
	var stored bool
	reserve := func() error {
		rt.explain = nil // an earlier run's, if this one never reaches fn
		return s.tracedUpdate(ctx, "reserve", func(tx Tx) error {
			var err error
			if r, replay, err = s.reserve(ctx, tx, p, &in, hash, &rt); err != nil {
				return err
			}
			stored = false
			if !replay && (in.Queue || r.Status == StatusRequiresApproval) {
				// The request ends here: its answer goes in with the refund.
				stored, err = s.storeReply(ctx, tx, r)
			}
			return err
		})
	}
	err = reserve()
	if ErrorCode(err) == EMerchantReferenceReused {
		// Two identical requests raced past the lookup and the loser's
		// insert hit the unique merchant reference (possible on backends
		// with concurrent writers). Run it again: the lookup now finds the
		// winner and replays it, or reports a genuinely different request.
		err = reserve()
	}
	if err != nil {
		if rt.explain != nil {
			err = rt.explain(err)
		}
		return nil, err
	}
	if stored {
		markStored(ctx, p.MerchantID)
	}
	if replay || in.Queue || r.Status == StatusRequiresApproval {
		return r, nil
	}
	return s.submit(ctx, r, in.IdempotencyKey, &rt), nil
}

// reserve is the transaction of CreateRefund: idempotency, allocation,
// guarded reservation, refund row, transitions, event. It leaves in rt the
// order as the reservation left it and its processor, for the call that
// follows: the order is read once per refund.
func (s *Service) reserve(ctx context.Context, tx Tx, p Principal, in *RefundInput, hash string, rt *route) (*Refund, bool, error) {
	rt.explain = nil // fn may run again (a store retries it)
	now := s.now()
	if id := claimedObject(ctx, p.MerchantID); id != "" {
		// An earlier run of this very request created it and died before
		// it answered.
		r, err := tx.GetRefund(ctx, p.MerchantID, id)
		return r, err == nil, err
	}
	var idem *IdempotencyRecord
	if in.IdempotencyKey != "" {
		rec, err := tx.GetIdempotency(ctx, p.MerchantID, in.IdempotencyKey)
		switch {
		case err == nil:
			r, err := s.replayKey(ctx, tx, rec, hash, now)
			return r, err == nil, err
		case ErrorCode(err) != ENotFound:
			return nil, false, err
		}
		idem = &IdempotencyRecord{MerchantID: p.MerchantID, Key: in.IdempotencyKey, RequestHash: hash,
			LockedUntil: now.Add(s.cfg.Lease), CreatedAt: now, ExpiresAt: now.Add(s.cfg.IdempotencyTTL)}
		if err := tx.InsertIdempotency(ctx, idem); err != nil {
			return nil, false, err
		}
	}
	if in.MerchantReference != "" {
		prev, err := tx.GetRefundByMerchantReference(ctx, p.MerchantID, in.Surface, in.MerchantReference)
		switch {
		case err == nil && prev.RequestHash == hash:
			if answering(prev, now) {
				return nil, false, Errorf(EIdempotencyKeyInUse, "merchant_reference", "Initial request is still processing.")
			}
			if err := s.linkClaim(ctx, tx, p.MerchantID, prev.ID); err != nil {
				return nil, false, err
			}
			return prev, true, s.linkKey(ctx, tx, idem, prev.ID, true, now)
		case err == nil:
			return nil, false, Errorf(EMerchantReferenceReused, "merchant_reference",
				"merchant_reference %q was used for a different refund", in.MerchantReference)
		case ErrorCode(err) != ERefundNotFound:
			return nil, false, err
		}
	}
	o, err := tx.GetOrderForRefund(ctx, p.MerchantID, in.OrderID)
	if err != nil {
		return nil, false, err
	}
	r, err := allocate(o, in)
	if err != nil {
		return nil, false, err
	}
	proc, err := s.processorOf(ctx, tx, o)
	if err != nil {
		return nil, false, err
	}
	if err := canExpress(processor.CapabilitiesOf(proc), o, r); err != nil {
		return nil, false, err
	}
	b := BalancesOf(r)
	b.At = now
	if r.Seq, err = tx.ReserveRefund(ctx, b); err != nil {
		return nil, false, exceedsMessage(err, o, r)
	}
	// The store may answer a refusal later (Tx.ReserveRefund): from a
	// later statement or from Update, explained the same way against the
	// order as the reservation found it.
	asked, found := r, *o
	rt.explain = func(err error) error { return exceedsMessage(err, &found, asked) }
	r.ID = s.cfg.NewID("re")
	r.MerchantID, r.Currency, r.Status = p.MerchantID, o.Currency, StatusPending
	r.Reason, r.MerchantReference, r.NotifyURL, r.Surface = refundReason(in.Reason), in.MerchantReference, in.NotifyURL, in.Surface
	r.RequestHash, r.Version, r.CreatedAt, r.UpdatedAt, r.CreatedBy = hash, 1, now, now, p.Actor()
	r.NextAttemptAt = now.Add(s.cfg.QueueHold) // queued: cancelable until then
	pol, err := refundPolicy(ctx, tx, p.MerchantID)
	if err != nil {
		return nil, false, err
	}
	approval, why := pol.needsApproval(o, r.Amount, now)
	switch {
	case approval:
		// Maker-checker: reserved, not submitted, until someone else
		// approves it or the approval expires.
		r.Status, r.ApprovalExpiresAt = StatusRequiresApproval, now.Add(pol.ApprovalExpiry)
		r.NextAttemptAt = r.ApprovalExpiresAt // when the worker expires it
	case !in.Queue:
		// Submitted during this request: the request owns it for one lease,
		// after which the worker takes over (asking the processor first).
		r.Status, r.Attempts, r.NextAttemptAt = StatusProcessing, 1, now.Add(s.cfg.Lease)
	}
	if err := tx.CreateRefund(ctx, r); err != nil {
		return nil, false, err
	}
	if err := s.issueRefundInvoice(ctx, tx, o, r, now); err != nil {
		return nil, false, err
	}
	first, cause := StatusPending, "created via "+in.Surface
	if approval {
		first, cause = StatusRequiresApproval, cause+"; waits for approval: "+why
	}
	ts := []Transition{{RefundID: r.ID, To: first, Cause: cause, At: now}}
	if r.Status == StatusProcessing {
		ts = append(ts, Transition{RefundID: r.ID, From: StatusPending, To: StatusProcessing, Cause: "submitted to processor (attempt 1)", At: now})
	}
	if err := tx.InsertTransition(ctx, ts...); err != nil {
		return nil, false, err
	}
	if err := s.event(ctx, tx, "refund.created", r, now); err != nil {
		return nil, false, err
	}
	if approval {
		if err := s.event(ctx, tx, EventRefundRequiresApproval, r, now); err != nil {
			return nil, false, err
		}
	}
	if err := s.audit(ctx, tx, p, "refund.create", "refund", r.ID, "", string(r.Status), in.Surface, now); err != nil {
		return nil, false, err
	}
	if err := s.linkClaim(ctx, tx, p.MerchantID, r.ID); err != nil {
		return nil, false, err
	}
	o.PendingRefundAmount += r.Amount // as the guarded update left it
	rt.proc, rt.caps, rt.order = proc, processor.CapabilitiesOf(proc), o
	// A queued refund's request, and one waiting for approval, ends here:
	// complete its key now, not when the worker submits it.
	return r, false, s.linkKey(ctx, tx, idem, r.ID, in.Queue || approval, now)
}

// answering reports whether the request that created r may still be
// running: it submitted r and owns it for one lease (reserve), and nothing
// has written r since. A repeat of that request by merchant reference is
// then refused as in use, as a repeat by Idempotency-Key is (replayKey),
// not answered with a refund its first request has not answered yet.
func answering(r *Refund, now time.Time) bool {
	return r.Status == StatusProcessing && r.Version == 1 && now.Before(r.NextAttemptAt)
}

// replayKey answers a request whose idempotency key was seen before.
func (s *Service) replayKey(ctx context.Context, tx Tx, rec *IdempotencyRecord, hash string, now time.Time) (*Refund, error) {
	if rec.RequestHash != hash {
		return nil, Errorf(EIdempotencyKeyReused, "Idempotency-Key", keyReusedMessage)
	}
	if rec.ObjectID == "" || (rec.CompletedAt == nil && now.Before(rec.LockedUntil)) {
		return nil, Errorf(EIdempotencyKeyInUse, "Idempotency-Key", "Initial request is still processing.")
	}
	return tx.GetRefund(ctx, rec.MerchantID, rec.ObjectID)
}

// linkKey links a refund to the key of the request that created it (or
// replayed it, by merchant reference); complete marks the request done.
func (s *Service) linkKey(ctx context.Context, tx Tx, rec *IdempotencyRecord, refundID string, complete bool, now time.Time) error {
	if rec == nil {
		return nil
	}
	rec.ObjectID = refundID
	if complete {
		rec.CompletedAt = &now
	}
	return tx.UpdateIdempotency(ctx, rec)
}

// allocate decides what a refund takes from which counters. It reads the
// order only to resolve defaults; the guarded update enforces the limits.
func allocate(o *Order, in *RefundInput) (*Refund, error) {
	r := &Refund{OrderID: o.ID, CaptureID: in.CaptureID}
	var itemsTotal, vendorsTotal int64
	for i, it := range in.Items {
		line := o.item(it.ItemID)
		if line == nil {
			return nil, Errorf(EInvalidRequest, "items["+itoa(i)+"].item_id", "order has no item %q", it.ItemID)
		}
		// Qty is checked before it multiplies: a huge qty must not wrap
		// into a small amount.
		if it.Qty > line.Qty {
			return nil, Errorf(EAmountExceedsRefundable, "items["+itoa(i)+"]", "item %q sold %d for %s", line.ID, line.Qty, fmtMoney(line.Amount, o.Currency))
		}
		amt := it.Qty * line.UnitAmount
		if it.Amount != nil {
			amt = *it.Amount
		}
		if amt > line.Amount {
			return nil, Errorf(EAmountExceedsRefundable, "items["+itoa(i)+"]", "item %q sold %d for %s", line.ID, line.Qty, fmtMoney(line.Amount, o.Currency))
		}
		r.Items = append(r.Items, RefundItem{ItemID: it.ItemID, Qty: it.Qty, Amount: amt})
		var ok bool
		if itemsTotal, ok = money.Add(itemsTotal, amt); !ok {
			return nil, Errorf(EInvalidAmount, "items", "item amounts add up to more than any order holds")
		}
	}
	for i, v := range in.Vendors {
		if o.vendor(v.VendorID) == nil {
			return nil, Errorf(EInvalidRequest, "vendors["+itoa(i)+"].vendor_id", "order has no vendor %q", v.VendorID)
		}
		r.Vendors = append(r.Vendors, v)
		var ok bool
		if vendorsTotal, ok = money.Add(vendorsTotal, v.Amount); !ok {
			return nil, Errorf(EInvalidAmount, "vendors", "vendor amounts add up to more than any order holds")
		}
	}
	switch {
	case in.Amount != nil:
		r.Amount = *in.Amount
	case len(in.Vendors) > 0:
		r.Amount = vendorsTotal
	case len(in.Items) > 0:
		r.Amount = itemsTotal
	default:
		r.Amount = o.Refundable()
		if r.Amount <= 0 {
			return nil, Errorf(EAmountExceedsRefundable, "amount", "nothing is left to refund on this order")
		}
		if len(o.Vendors) > 0 && len(in.Vendors) == 0 {
			// A full refund of a split order takes what is left of each
			// share; when voids or chargebacks (which name no vendor) took
			// part of the order, the shares left add up to more than the
			// refund, which then takes from each in proportion.
			left := make([]int64, len(o.Vendors))
			for i, v := range o.Vendors {
				left[i] = v.Refundable()
			}
			for i, share := range money.Allocate(r.Amount, left) {
				if share > 0 {
					r.Vendors = append(r.Vendors, RefundVendor{VendorID: o.Vendors[i].ID, Amount: share})
					vendorsTotal += share
				}
			}
		}
	}
	if len(r.Vendors) > 0 && vendorsTotal != r.Amount {
		return nil, Errorf(EInvalidAmount, "vendors", "vendor amounts add up to %s, the refund is %s", fmtMoney(vendorsTotal, o.Currency), fmtMoney(r.Amount, o.Currency))
	}
	if len(o.Vendors) > 0 && len(r.Vendors) == 0 {
		return nil, Errorf(EInvalidRequest, "vendors", "this order is split between vendors: say how much each vendor refunds")
	}
	if len(r.Items) > 0 && itemsTotal != r.Amount {
		return nil, Errorf(EInvalidAmount, "items", "item amounts add up to %s, the refund is %s", fmtMoney(itemsTotal, o.Currency), fmtMoney(r.Amount, o.Currency))
	}
	if r.CaptureID == "" {
		r.CaptureID = o.captureFor(r.Amount)
	} else if c := o.transaction(r.CaptureID); c == nil || c.Type != TxCapture {
		return nil, Errorf(EInvalidRequest, "transaction_id", "order has no capture transaction %q", r.CaptureID)
	}
	return r, nil
}

// exceedsMessage says how much was refundable when a reservation failed,
// for the order or for the vendor share (Param "vendors[<id>]") that had
// too little, in the order's currency rather than in minor units.
func exceedsMessage(err error, o *Order, r *Refund) error {
	if ErrorCode(err) != EAmountExceedsRefundable {
		return err
	}
	param := ErrorParam(err)
	if param == "amount" {
		return Errorf(EAmountExceedsRefundable, "amount", "refund of %s exceeds the refundable %s",
			fmtMoney(r.Amount, o.Currency), fmtMoney(max(o.Refundable(), 0), o.Currency))
	}
	if id, ok := strings.CutPrefix(param, "vendors["); ok {
		id = strings.TrimSuffix(id, "]")
		v := o.vendor(id)
		if v == nil {
			return err
		}
		var asked int64
		for _, rv := range r.Vendors {
			if rv.VendorID == id {
				asked += rv.Amount
			}
		}
		return Errorf(EAmountExceedsRefundable, param, "refund of %s from vendor %q exceeds its refundable %s",
			fmtMoney(asked, o.Currency), id, fmtMoney(max(v.Refundable(), 0), o.Currency))
	}
	if id, ok := strings.CutPrefix(param, "items["); ok {
		// The guard names the order line; the request knows it by its
		// position, as the checks before the reservation do.
		id = strings.TrimSuffix(id, "]")
		it := o.item(id)
		for i, ri := range r.Items {
			if ri.ItemID == id && it != nil {
				return Errorf(EAmountExceedsRefundable, "items["+itoa(i)+"]", "item %q has %d units and %s left to refund",
					id, max(it.Qty-it.RefundedQty-it.PendingQty, 0), fmtMoney(max(it.Amount-it.RefundedAmount-it.PendingAmount, 0), o.Currency))
			}
		}
	}
	return err
}

func fmtMoney(minor int64, currency string) string {
	c, err := money.LookupCurrency(currency)
	if err != nil {
		return itoa(int(minor)) + " " + currency
	}
	return money.Format(minor, c) + " " + currency
}

func (o *Order) item(id string) *Item {
	for i := range o.Items {
		if o.Items[i].ID == id {
			return &o.Items[i]
		}
	}
	return nil
}

func (o *Order) vendor(id string) *Vendor {
	for i := range o.Vendors {
		if o.Vendors[i].ID == id {
			return &o.Vendors[i]
		}
	}
	return nil
}

func (o *Order) transaction(id string) *Transaction {
	for i := range o.Transactions {
		if o.Transactions[i].ID == id {
			return &o.Transactions[i]
		}
	}
	return nil
}

// captureFor picks the first capture with room for amount, or else the one
// with the most room (whose guarded update then reports the shortfall).
func (o *Order) captureFor(amount int64) string {
	best, bestLeft := "", int64(-1)
	for _, t := range o.Transactions {
		if t.Type != TxCapture {
			continue
		}
		left := t.Amount - t.RefundedAmount - t.PendingAmount
		if left >= amount {
			return t.ID
		}
		if left > bestLeft {
			best, bestLeft = t.ID, left
		}
	}
	return best
}

// GetRefund returns one of the caller's refunds.
func (s *Service) GetRefund(ctx context.Context, p Principal, id string) (*Refund, error) {
	if err := require(p, ScopeRefundsRead); err != nil {
		return nil, err
	}
	var r *Refund
	err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		r, err = tx.GetRefund(ctx, p.MerchantID, id)
		return err
	})
	return r, err
}

// ListRefunds lists the caller's refunds, newest first.
func (s *Service) ListRefunds(ctx context.Context, p Principal, f RefundFilter) (Page[*Refund], error) {
	if err := require(p, ScopeRefundsRead); err != nil {
		return Page[*Refund]{}, err
	}
	limit, err := pageLimit(f.Limit)
	if err != nil {
		return Page[*Refund]{}, err
	}
	switch {
	case f.Status != "" && !f.Status.Valid():
		return Page[*Refund]{}, Errorf(EInvalidRequest, "status", "unknown status %q", f.Status)
	case f.MinAmount < 0 || f.MaxAmount < 0 || (f.MaxAmount > 0 && f.MinAmount > f.MaxAmount):
		return Page[*Refund]{}, Errorf(EInvalidAmount, "amount", "the amount range is empty or negative")
	}
	f.MerchantID, f.Limit = p.MerchantID, limit+1
	var rows []*Refund
	err = s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		rows, err = tx.ListRefunds(ctx, f)
		return err
	})
	if err != nil {
		return Page[*Refund]{}, err
	}
	return paginate(rows, limit, func(r *Refund) string { return r.ID }), nil
}

// Transitions returns the recorded history of one of the caller's refunds.
func (s *Service) Transitions(ctx context.Context, p Principal, id string) ([]Transition, error) {
	if err := require(p, ScopeRefundsRead); err != nil {
		return nil, err
	}
	var ts []Transition
	err := s.cfg.Store.View(ctx, func(tx Tx) error {
		if _, err := tx.GetRefund(ctx, p.MerchantID, id); err != nil {
			return err
		}
		var err error
		ts, err = tx.ListTransitions(ctx, id)
		return err
	})
	return ts, err
}

// CancelRefund cancels a refund that has not reached the processor and
// releases its reservation. A cancel that lost a race to a concurrent
// change is no answer its Idempotency-Key keeps: the retry runs again.
func (s *Service) CancelRefund(ctx context.Context, p Principal, id string) (_ *Refund, err error) {
	defer func() { noteTransient(ctx, err) }()
	if err := require(p, ScopeRefundsWrite); err != nil {
		return nil, err
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
		if !cancelable(r) {
			return Errorf(ERefundNotCancelable, "", "only a pending refund, or one waiting for approval, can be canceled; this one is %s", r.Status)
		}
		if err := s.cancelIn(ctx, tx, p, r, string(StatusCanceled), "canceled by merchant", s.now()); err != nil {
			return err
		}
		return s.linkClaim(ctx, tx, p.MerchantID, r.ID)
	})
	return r, err
}

// unsent are the statuses of a refund that has not reached the processor
// (pending only while none of its attempts did): the ones it may be
// canceled in.
var unsent = []Status{StatusRequiresApproval, StatusPending}

func cancelable(r *Refund) bool { return slices.Contains(unsent, r.Status) }

// cancelIn cancels r, which is cancelable, in tx: audited as p's (to is
// the audit entry's new value), its reservation released.
func (s *Service) cancelIn(ctx context.Context, tx Tx, p Principal, r *Refund, to, cause string, now time.Time) error {
	if err := s.audit(ctx, tx, p, "refund.cancel", "refund", r.ID, string(r.Status), to, "", now); err != nil {
		return err
	}
	return s.finish(ctx, tx, r, StatusCanceled, cause, Release, now)
}

// finish moves r to a final state, adjusts balances and records the
// transition and the event, all in tx.
func (s *Service) finish(ctx context.Context, tx Tx, r *Refund, to Status, cause string, op BalanceOp, now time.Time) error {
	from := r.Status
	if !CanTransition(from, to) {
		return Errorf(EConflict, "", "refund %s cannot move from %s to %s", r.ID, from, to)
	}
	r.Status, r.UpdatedAt, r.SweepsLeft = to, now, 0
	if to == StatusSucceeded {
		r.SucceededAt = now
	}
	if to == StatusSucceeded && len(s.cfg.SweepAges) > 0 {
		// Ask again later: a reversal is not always notified.
		r.SweepsLeft, r.NextAttemptAt = len(s.cfg.SweepAges), now.Add(s.cfg.SweepAges[0])
	}
	// The refund's row, then its counters: a store that pipelines sends
	// the two together. Either failing fails the transaction.
	if err := tx.UpdateRefund(ctx, r); err != nil {
		return err
	}
	b := BalancesOf(r)
	b.At = now
	if err := tx.AdjustBalances(ctx, b, op); err != nil {
		return err
	}
	if err := tx.InsertTransition(ctx, Transition{RefundID: r.ID, From: from, To: to, Cause: cause, At: now}); err != nil {
		return err
	}
	if err := s.settleInvoice(ctx, tx, r, now); err != nil {
		return err
	}
	// After r's credit note is voided or taken back: a chargeback owed
	// that takes r's room gets a credit note (issueAdjustmentNote), which
	// must find that room free on the tax invoice too.
	if op == Release || op == Reverse {
		if err := s.applyOwed(ctx, tx, r, now); err != nil {
			return err
		}
	}
	return s.event(ctx, tx, "refund."+string(to), r, now)
}

// event writes an outbox event in tx.
func (s *Service) event(ctx context.Context, tx Tx, typ string, r *Refund, now time.Time) error {
	data, err := json.Marshal(EventData(r))
	if err != nil {
		return err
	}
	ev := &Event{ID: s.cfg.NewID("evt"), MerchantID: r.MerchantID, Type: typ,
		RefundID: r.ID, OrderID: r.OrderID, Data: data, RequestID: RequestFrom(ctx).ID, CreatedAt: now}
	if err := tx.InsertEvent(ctx, ev); err != nil {
		return err
	}
	return s.fanOut(ctx, tx, ev, r.NotifyURL)
}

// EventData is the refund snapshot carried by events. Values nobody set
// are null, as on the API's refund object, and a failure is shown as
// Failure says.
func EventData(r *Refund) map[string]any {
	d := map[string]any{
		"id": r.ID, "object": "refund", "order_id": r.OrderID, "amount": r.Amount, "currency": r.Currency,
		"status": r.Status, "merchant_reference": orNull(r.MerchantReference), "failure_code": nil,
		"failure_message": nil, "arn": orNull(r.ARN), "created_at": r.CreatedAt, "updated_at": r.UpdatedAt,
	}
	if code, msg := r.Failure(); code != "" || msg != "" {
		d["failure_code"], d["failure_message"] = orNull(code), orNull(msg)
	}
	if at := r.ApprovalDeadline(); !at.IsZero() {
		// Only while waiting: events recorded before it existed lack it,
		// so it cannot be a key every refund event has.
		d["approval_expires_at"] = at
	}
	return d
}
