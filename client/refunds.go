package client

import (
	"context"
	"iter"
	"net/url"
	"time"
)

// RefundStatus is the state of a refund:
//
//	pending -> processing -> succeeded | failed
//	pending -> canceled
//	processing -> requires_review -> succeeded | failed
//	succeeded -> reversed
//	failed -> succeeded (the processor executed it after all)
//	requires_approval -> pending (approved) | canceled (rejected, expired)
type RefundStatus string

// Refund statuses.
const (
	StatusPending    RefundStatus = "pending"
	StatusProcessing RefundStatus = "processing"
	// StatusRequiresReview: the processor has not settled the refund after
	// the last attempt; its amount stays reserved until it or a person
	// does.
	StatusRequiresReview RefundStatus = "requires_review"
	// StatusRequiresApproval: the merchant's refund policy holds the
	// refund for a second person's approval until ApprovalExpiresAt; its
	// amount is reserved and nothing is sent to the processor.
	StatusRequiresApproval RefundStatus = "requires_approval"
	StatusSucceeded        RefundStatus = "succeeded"
	StatusFailed           RefundStatus = "failed"
	StatusCanceled         RefundStatus = "canceled"
	StatusReversed         RefundStatus = "reversed"
)

// Final reports whether s no longer changes (short of a later reversal).
func (s RefundStatus) Final() bool {
	switch s {
	case StatusSucceeded, StatusFailed, StatusCanceled, StatusReversed:
		return true
	}
	return false
}

// CreateRefundParams asks for a refund of an order. Amount nil refunds
// whatever is left (of the order, or of the named items or vendors).
type CreateRefundParams struct {
	OrderID string `json:"order_id"`
	Amount  *int64 `json:"amount,omitempty"` // minor units of the order's currency
	Reason  string `json:"reason,omitempty"`
	// MerchantReference is unique per merchant: repeating it with the same
	// request answers the first refund, with another request is an error.
	MerchantReference string             `json:"merchant_reference,omitempty"`
	TransactionID     string             `json:"transaction_id,omitempty"` // which capture to refund
	Items             []RefundItemParams `json:"items,omitempty"`
	Vendors           []RefundVendor     `json:"vendors,omitempty"`
	NotifyURL         string             `json:"notify_url,omitempty"`
	// Queue holds the refund pending for a while, cancelable, instead of
	// sending it to the processor during the request.
	Queue bool `json:"queue,omitempty"`
	// IdempotencyKey is sent as the Idempotency-Key header; generated when
	// empty.
	IdempotencyKey string `json:"-"`
}

// RefundItemParams refunds Qty units of an order line; Amount defaults to
// Qty times the line's unit amount.
type RefundItemParams struct {
	ItemID string `json:"item_id"`
	Qty    int64  `json:"qty"`
	Amount *int64 `json:"amount,omitempty"`
}

// RefundItem is a refund's share of an order line.
type RefundItem struct {
	ItemID string `json:"item_id"`
	Qty    int64  `json:"qty"`
	Amount int64  `json:"amount"`
}

// RefundVendor is a refund's share of a vendor split.
type RefundVendor struct {
	VendorID string `json:"vendor_id"`
	Amount   int64  `json:"amount"`
}

// Refund is one refund of an order.
type Refund struct {
	ID                string         `json:"id"`
	OrderID           string         `json:"order_id"`
	Sequence          int            `json:"sequence"` // n-th refund of the order
	Amount            int64          `json:"amount"`
	Currency          string         `json:"currency"`
	Status            RefundStatus   `json:"status"`
	Reason            string         `json:"reason"`
	MerchantReference string         `json:"merchant_reference"`
	TransactionID     string         `json:"transaction_id"`
	Items             []RefundItem   `json:"items"`
	Vendors           []RefundVendor `json:"vendors"`
	NotifyURL         string         `json:"notify_url"`
	FailureCode       string         `json:"failure_code"` // a failed refund, or one canceled by another than the merchant
	FailureMessage    string         `json:"failure_message"`
	ResponseCode      string         `json:"response_code"`
	RRN               string         `json:"rrn"`
	STAN              string         `json:"stan"`
	AuthCode          string         `json:"auth_code"`
	ARN               string         `json:"arn"`
	Attempts          int            `json:"attempts"`
	Surface           string         `json:"surface"`
	// ApprovalExpiresAt is, while Status is requires_approval, when the
	// approval runs out (zero otherwise).
	ApprovalExpiresAt time.Time `json:"approval_expires_at"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

// Transition is one recorded state change of a refund; From is "" for
// its creation.
type Transition struct {
	From  RefundStatus `json:"from"`
	To    RefundStatus `json:"to"`
	Cause string       `json:"cause"`
	At    time.Time    `json:"at"`
}

// ListRefundsParams filters and pages GET /v1/refunds.
type ListRefundsParams struct {
	OrderID       string
	Status        RefundStatus
	CreatedAfter  time.Time // inclusive (created_gte); zero: unbounded
	CreatedBefore time.Time // exclusive (created_lt); zero: unbounded
	// OldestFirst lists in the order the refunds were asked for
	// (order=oldest): a queue of refunds waiting for approval is worked
	// so, as the oldest expire first. Newest first otherwise.
	OldestFirst bool
	Limit       int // page size, 1-100 (server default 10)
	Cursor      string
}

// CreateRefund reserves and submits a refund (POST /v1/refunds). The reply
// is final when the processor answered in time; otherwise the refund is
// processing and the server follows it up.
func (c *Client) CreateRefund(ctx context.Context, p CreateRefundParams) (*Refund, error) {
	var r Refund
	err := c.do(ctx, request{method: "POST", path: "/v1/refunds", body: p, idemKey: c.idempotencyKey(p.IdempotencyKey)}, &r)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// GetRefund returns one refund (GET /v1/refunds/{id}).
func (c *Client) GetRefund(ctx context.Context, id string) (*Refund, error) {
	return c.refundCall(ctx, "GET", id, "")
}

// CancelRefund cancels a refund still pending (POST /v1/refunds/{id}/cancel).
// Its retries carry one Idempotency-Key, so one whose first reply was lost
// answers the cancel rather than refund_not_cancelable.
func (c *Client) CancelRefund(ctx context.Context, id string) (*Refund, error) {
	return c.decide(ctx, id, "/cancel", nil)
}

// ApproveRefund sends on a refund waiting for approval, with a key other
// than its creator's holding refunds:approve (POST /v1/refunds/{id}/approve):
// it answers as creating the refund would have. Retried under one
// Idempotency-Key, as CancelRefund is.
func (c *Client) ApproveRefund(ctx context.Context, id string) (*Refund, error) {
	return c.decide(ctx, id, "/approve", nil)
}

// RejectRefundParams is the reason a refund waiting for approval is
// rejected; it becomes the refund's failure message.
type RejectRefundParams struct {
	Reason string `json:"reason,omitempty"`
}

// RejectRefund cancels a refund waiting for approval and releases its
// amount (POST /v1/refunds/{id}/reject), as ApproveRefund's caller may.
func (c *Client) RejectRefund(ctx context.Context, id string, p RejectRefundParams) (*Refund, error) {
	return c.decide(ctx, id, "/reject", p)
}

// ResolveRefundParams settles a refund waiting for review: Outcome is
// StatusSucceeded or StatusFailed, Note the evidence (kept in its history).
type ResolveRefundParams struct {
	Outcome RefundStatus `json:"outcome"`
	Note    string       `json:"note,omitempty"`
}

// ResolveRefund settles a refund waiting for review on evidence from
// elsewhere, with a key holding refunds:review
// (POST /v1/refunds/{id}/resolve).
func (c *Client) ResolveRefund(ctx context.Context, id string, p ResolveRefundParams) (*Refund, error) {
	return c.decide(ctx, id, "/resolve", p)
}

// decide posts a decision on a refund. Every retry carries one
// Idempotency-Key: one whose first reply was lost answers the decision,
// not that the refund has moved on since.
func (c *Client) decide(ctx context.Context, id, action string, body any) (*Refund, error) {
	esc, err := pathID("refund", id)
	if err != nil {
		return nil, err
	}
	var r Refund
	if err := c.do(ctx, request{method: "POST", path: "/v1/refunds/" + esc + action, body: body, idemKey: c.idempotencyKey("")}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// SyncRefund asks the processor for the refund's status now, final
// refunds included (POST /v1/refunds/{id}/sync).
func (c *Client) SyncRefund(ctx context.Context, id string) (*Refund, error) {
	return c.refundCall(ctx, "POST", id, "/sync")
}

func (c *Client) refundCall(ctx context.Context, method, id, action string) (*Refund, error) {
	esc, err := pathID("refund", id)
	if err != nil {
		return nil, err
	}
	var r Refund
	if err := c.do(ctx, request{method: method, path: "/v1/refunds/" + esc + action}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// RefundTransitions returns a refund's whole history, oldest first
// (GET /v1/refunds/{id}/transitions), every page of it.
func (c *Client) RefundTransitions(ctx context.Context, id string) ([]Transition, error) {
	esc, err := pathID("refund", id)
	if err != nil {
		return nil, err
	}
	var out []Transition
	for t, err := range all("", func(cursor string) (*Page[Transition], error) {
		q := url.Values{}
		setString(q, "cursor", cursor)
		var page Page[Transition]
		err := c.do(ctx, request{method: "GET", path: "/v1/refunds/" + esc + "/transitions", query: q}, &page)
		return &page, err
	}) {
		if err != nil {
			return nil, err
		}
		out = append(out, *t)
	}
	return out, nil
}

// ListRefunds returns one page of refunds, newest first unless
// p.OldestFirst (GET /v1/refunds).
func (c *Client) ListRefunds(ctx context.Context, p ListRefundsParams) (*Page[Refund], error) {
	q := url.Values{}
	setString(q, "order_id", p.OrderID)
	setString(q, "status", string(p.Status))
	setTime(q, "created_gte", p.CreatedAfter)
	setTime(q, "created_lt", p.CreatedBefore)
	if p.OldestFirst {
		q.Set("order", "oldest")
	}
	setInt(q, "limit", p.Limit)
	setString(q, "cursor", p.Cursor)
	var page Page[Refund]
	if err := c.do(ctx, request{method: "GET", path: "/v1/refunds", query: q}, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// AllRefunds iterates over every refund matching p, in p's order, fetching
// pages of p.Limit as it goes. It stops at the first error, which it
// yields.
func (c *Client) AllRefunds(ctx context.Context, p ListRefundsParams) iter.Seq2[*Refund, error] {
	return all(p.Cursor, func(cursor string) (*Page[Refund], error) {
		q := p // each fetch its own copy: ranges may run at once
		q.Cursor = cursor
		return c.ListRefunds(ctx, q)
	})
}
