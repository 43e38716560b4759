package refund

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/refundd/refundd/money"
)

// RefundPolicy is a merchant's maker-checker policy: which refunds wait for
// a second person's approval before they go to the processor.
type RefundPolicy struct {
	MerchantID string
	// ApprovalThreshold: a refund that takes the order's refunds (refunded,
	// pending and this one) to at least this many minor units of the
	// currency waits for approval; a currency not named never does.
	ApprovalThreshold map[string]int64
	// OlderThanDays, when positive: every refund of an order captured more
	// than this many days ago waits for approval.
	OlderThanDays int
	// ApprovalExpiry is how long a refund waits for approval before it is
	// canceled and its amount released (default 72 hours).
	ApprovalExpiry time.Duration
	UpdatedAt      time.Time
}

// DefaultApprovalExpiry is how long an approval may wait unless the
// policy says otherwise.
const DefaultApprovalExpiry = 72 * time.Hour

// maxApprovalExpiry bounds the expiry: money should not stay reserved for
// a month waiting for a click.
const maxApprovalExpiry = 30 * 24 * time.Hour

// PolicyTx is the refund-policy part of a transaction.
type PolicyTx interface {
	// GetRefundPolicy returns ENotFound when the merchant never set one.
	GetRefundPolicy(ctx context.Context, merchantID string) (*RefundPolicy, error)
	// PutRefundPolicy inserts or replaces the merchant's policy.
	PutRefundPolicy(ctx context.Context, p *RefundPolicy) error
}

// RefundPolicyInput replaces a merchant's policy; nil fields keep their
// value.
type RefundPolicyInput struct {
	ApprovalThreshold *map[string]int64
	// Thresholds changes single currencies' thresholds, after
	// ApprovalThreshold: a value sets that currency's, nil removes it, and
	// the others stay (the CLI's --threshold).
	Thresholds     map[string]*int64
	OlderThanDays  *int
	ApprovalExpiry *time.Duration
}

// refundPolicy returns the merchant's policy, or the default: no approval.
func refundPolicy(ctx context.Context, tx Tx, merchantID string) (*RefundPolicy, error) {
	p, err := tx.GetRefundPolicy(ctx, merchantID)
	if ErrorCode(err) == ENotFound {
		return &RefundPolicy{MerchantID: merchantID, ApprovalThreshold: map[string]int64{}, ApprovalExpiry: DefaultApprovalExpiry}, nil
	}
	return p, err
}

// needsApproval says whether a refund of amount on o waits for approval,
// and why.
func (pol *RefundPolicy) needsApproval(o *Order, amount int64, now time.Time) (bool, string) {
	// The order's refunds so far count too: splitting a large refund into
	// small ones does not get past the threshold.
	if limit, ok := pol.ApprovalThreshold[o.Currency]; ok && o.RefundedAmount+o.PendingRefundAmount+amount >= limit {
		return true, fmt.Sprintf("%s with the order's earlier refunds is at least the approval threshold of %s",
			fmtMoney(o.RefundedAmount+o.PendingRefundAmount+amount, o.Currency), fmtMoney(limit, o.Currency))
	}
	if pol.OlderThanDays > 0 && now.Sub(o.CreatedAt) > time.Duration(pol.OlderThanDays)*24*time.Hour {
		return true, fmt.Sprintf("the order is more than %d days old", pol.OlderThanDays)
	}
	return false, ""
}

// GetRefundPolicy returns the caller's refund policy (the default, no
// approvals, when never set).
func (s *Service) GetRefundPolicy(ctx context.Context, p Principal) (*RefundPolicy, error) {
	if err := require(p, ScopeRefundsRead); err != nil {
		return nil, err
	}
	var pol *RefundPolicy
	err := s.cfg.Store.View(ctx, func(tx Tx) (err error) {
		pol, err = refundPolicy(ctx, tx, p.MerchantID)
		return err
	})
	return pol, err
}

// PutRefundPolicy changes the caller's refund policy (scope
// settings:write); refunds already waiting keep their expiry.
func (s *Service) PutRefundPolicy(ctx context.Context, p Principal, in RefundPolicyInput) (*RefundPolicy, error) {
	if err := require(p, ScopeSettingsWrite); err != nil {
		return nil, err
	}
	checkThreshold := func(cur string, v *int64) error {
		if _, err := money.LookupCurrency(cur); err != nil {
			return Errorf(EInvalidRequest, "approval_threshold."+cur, "%q is not an ISO 4217 currency", cur)
		}
		if v != nil && *v < 1 {
			return Errorf(EInvalidAmount, "approval_threshold."+cur, "a threshold is a positive number of minor units")
		}
		return nil
	}
	if in.ApprovalThreshold != nil {
		for _, cur := range slices.Sorted(maps.Keys(*in.ApprovalThreshold)) {
			if err := checkThreshold(cur, new((*in.ApprovalThreshold)[cur])); err != nil {
				return nil, err
			}
		}
	}
	for _, cur := range slices.Sorted(maps.Keys(in.Thresholds)) {
		if err := checkThreshold(cur, in.Thresholds[cur]); err != nil {
			return nil, err
		}
	}
	if in.OlderThanDays != nil && (*in.OlderThanDays < 0 || *in.OlderThanDays > 3650) {
		return nil, Errorf(EInvalidRequest, "older_than_days", "older_than_days must be between 0 (off) and 3650")
	}
	if in.ApprovalExpiry != nil && (*in.ApprovalExpiry < time.Minute || *in.ApprovalExpiry > maxApprovalExpiry) {
		return nil, Errorf(EInvalidRequest, "approval_expiry", "approval_expiry must be between 1 minute and 30 days")
	}
	var pol *RefundPolicy
	err := s.write(ctx, func(tx Tx) (err error) {
		// The policy is read, changed and written back whole: under the
		// merchant's lock, or two changes at once each write back what
		// they read, and the first one's thresholds are lost.
		if err := tx.LockMerchant(ctx, p.MerchantID); err != nil {
			return err
		}
		if pol, err = refundPolicy(ctx, tx, p.MerchantID); err != nil {
			return err
		}
		before := pol.auditText()
		if in.ApprovalThreshold != nil {
			pol.ApprovalThreshold = maps.Clone(*in.ApprovalThreshold)
		}
		if len(in.Thresholds) > 0 && pol.ApprovalThreshold == nil {
			pol.ApprovalThreshold = map[string]int64{}
		}
		for cur, v := range in.Thresholds {
			if v == nil {
				delete(pol.ApprovalThreshold, cur)
			} else {
				pol.ApprovalThreshold[cur] = *v
			}
		}
		if in.OlderThanDays != nil {
			pol.OlderThanDays = *in.OlderThanDays
		}
		if in.ApprovalExpiry != nil {
			pol.ApprovalExpiry = *in.ApprovalExpiry
		}
		now := s.now()
		pol.UpdatedAt = now
		if err := tx.PutRefundPolicy(ctx, pol); err != nil {
			return err
		}
		return s.audit(ctx, tx, p, "refund_policy.update", "refund_policy", p.MerchantID, before, pol.auditText(), "", now)
	})
	return pol, err
}

// auditText is the policy as its audit entries show it, in the API's
// names: a control loosened (a threshold raised or removed) must be
// traceable to who did it and from what.
func (pol *RefundPolicy) auditText() string {
	t := pol.ApprovalThreshold
	if t == nil {
		t = map[string]int64{}
	}
	b, _ := json.Marshal(map[string]any{"approval_threshold": t, "older_than_days": pol.OlderThanDays,
		"approval_expiry_seconds": int64(pol.ApprovalExpiry / time.Second)}) // keys sorted
	return string(b)
}

// Events of the maker-checker flow.
const (
	EventRefundRequiresApproval = "refund.requires_approval"
	EventRefundApproved         = "refund.approved"
	EventRefundRejected         = "refund.rejected"
)

// checker loads a refund waiting for approval for p to decide on: p needs
// refunds:approve and must not be whoever created it.
func checker(ctx context.Context, tx Tx, p Principal, id string) (*Refund, error) {
	if err := require(p, ScopeRefundsApprove); err != nil {
		return nil, err
	}
	r, err := tx.GetRefund(ctx, p.MerchantID, id)
	if err != nil {
		return nil, err
	}
	if r.Status != StatusRequiresApproval {
		return nil, Errorf(ERefundNotAwaitingApproval, "", "only a refund waiting for approval can be approved or rejected; this one is %s", r.Status)
	}
	if r.CreatedBy != "" && r.CreatedBy == p.Actor() {
		return nil, Errorf(EForbidden, "", "a refund must be approved or rejected by someone other than who asked for it")
	}
	return r, nil
}

// ApprovalDeadline is when r's approval runs out, zero unless r waits for
// one. A refund made by a node older than migration 0024 has no deadline
// of its own: its NextAttemptAt is the deadline until a claim moves it,
// and a claim only takes it once that has passed.
func (r *Refund) ApprovalDeadline() time.Time {
	if r.Status != StatusRequiresApproval {
		return time.Time{}
	}
	if r.ApprovalExpiresAt.IsZero() {
		return r.NextAttemptAt
	}
	return r.ApprovalExpiresAt
}

// checkNotExpired refuses to approve or reject a refund whose approval ran
// out while the worker has not canceled it yet.
func checkNotExpired(r *Refund, now time.Time) error {
	if !now.Before(r.ApprovalDeadline()) {
		return Errorf(ERefundNotAwaitingApproval, "", "this refund's approval expired; it is being canceled")
	}
	return nil
}

// ApproveRefund sends a refund waiting for approval on to the processor,
// as a refund created now would go (scope refunds:approve, by a principal
// other than its creator).
func (s *Service) ApproveRefund(ctx context.Context, p Principal, id string) (_ *Refund, err error) {
	defer func() { noteTransient(ctx, err) }()
	var r *Refund
	var decided bool
	err = s.write(ctx, func(tx Tx) (err error) {
		if r, decided, err = decidedBefore(ctx, tx, p.MerchantID, id); decided || err != nil {
			return err
		}
		if r, err = checker(ctx, tx, p, id); err != nil {
			return err
		}
		now := s.now()
		if err := checkNotExpired(r, now); err != nil {
			return err
		}
		if err := tx.InsertTransition(ctx, Transition{RefundID: r.ID, From: StatusRequiresApproval, To: StatusPending,
			Cause: "approved by " + p.Display(), At: now}); err != nil {
			return err
		}
		// Submitted by this request, which owns it for one lease.
		r.Status, r.Attempts, r.NextAttemptAt, r.UpdatedAt = StatusProcessing, 1, now.Add(s.cfg.Lease), now
		if err := tx.UpdateRefund(ctx, r); err != nil {
			return err
		}
		if err := tx.InsertTransition(ctx, Transition{RefundID: r.ID, From: StatusPending, To: StatusProcessing,
			Cause: "submitted to processor (attempt 1)", At: now}); err != nil {
			return err
		}
		if err := s.event(ctx, tx, EventRefundApproved, r, now); err != nil {
			return err
		}
		if err := s.audit(ctx, tx, p, "refund.approve", "refund", r.ID, string(StatusRequiresApproval), string(StatusProcessing), "", now); err != nil {
			return err
		}
		return s.linkClaim(ctx, tx, p.MerchantID, r.ID)
	})
	if err != nil {
		return nil, err
	}
	if decided {
		// Sent on by the run that died; the worker finishes it after
		// that run's lease.
		return r, nil
	}
	return s.submit(WithOrderKey(ctx, r.MerchantID, r.OrderID), r, "", nil), nil
}

// RejectRefund cancels a refund waiting for approval and releases its
// amount (scope refunds:approve, by a principal other than its creator).
func (s *Service) RejectRefund(ctx context.Context, p Principal, id, reason string) (_ *Refund, err error) {
	defer func() { noteTransient(ctx, err) }()
	if err := CheckText("reason", reason, 500); err != nil {
		return nil, err
	}
	if err := require(p, ScopeRefundsApprove); err != nil {
		return nil, err
	}
	ctx = s.keyedByRefund(ctx, p.MerchantID, id)
	var r *Refund
	err = s.write(ctx, func(tx Tx) (err error) {
		var done bool
		if r, done, err = decidedBefore(ctx, tx, p.MerchantID, id); done || err != nil {
			return err
		}
		if r, err = checker(ctx, tx, p, id); err != nil {
			return err
		}
		now := s.now()
		// Past the deadline nobody decides, either way: the expiry
		// cancels it, as approval_expired (expireApproval).
		if err := checkNotExpired(r, now); err != nil {
			return err
		}
		cause := "rejected by " + p.Display()
		if reason != "" {
			cause += ": " + reason
		}
		if err := s.audit(ctx, tx, p, "refund.reject", "refund", r.ID, string(r.Status), string(StatusCanceled)+" "+reason, "", now); err != nil {
			return err
		}
		r.FailureCode, r.FailureMessage = "rejected", reason
		if err := s.finish(ctx, tx, r, StatusCanceled, cause, Release, now); err != nil {
			return err
		}
		if err := s.event(ctx, tx, EventRefundRejected, r, now); err != nil {
			return err
		}
		return s.linkClaim(ctx, tx, p.MerchantID, r.ID)
	})
	return r, err
}

// expireApproval cancels a claimed refund whose approval waited too long.
// The deadline decides, not the claim: a refund claimed before it (made
// due early) waits for it again, and one still waiting after it is
// canceled whoever claimed it since. One without a deadline of its own
// (ApprovalDeadline) was claimed because its time had come.
func (s *Service) expireApproval(ctx context.Context, r *Refund) error {
	return s.update(ctx, func(tx Tx) error {
		cur, err := tx.GetRefund(ctx, "", r.ID)
		if err != nil || cur.Status != StatusRequiresApproval {
			return err // approved, rejected or canceled meanwhile
		}
		now := s.now()
		if now.Before(cur.ApprovalExpiresAt) {
			cur.NextAttemptAt = cur.ApprovalExpiresAt
			return tx.UpdateRefund(ctx, cur)
		}
		if err := s.audit(ctx, tx, Principal{MerchantID: cur.MerchantID, Worker: true}, "refund.approval_expired", "refund", cur.ID,
			string(cur.Status), string(StatusCanceled), "", now); err != nil {
			return err
		}
		cur.FailureCode, cur.FailureMessage = "approval_expired", "nobody approved it in time"
		if err := s.finish(ctx, tx, cur, StatusCanceled, "approval expired", Release, now); err != nil {
			return err
		}
		return s.event(ctx, tx, EventRefundRejected, cur, now)
	})
}
