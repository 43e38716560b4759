package client

import (
	"context"
	"iter"
	"net/url"
	"time"
)

// Discrepancy is a difference between what the processor did and what
// refundd recorded that no rule could settle (GET /v1/discrepancies):
// open until a person resolves it. Amount is in Currency's minor units.
type Discrepancy struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"` // executed_not_recorded, status_mismatch, chargeback_after_refund, ...
	RefundID   *string    `json:"refund_id"`
	OrderID    *string    `json:"order_id"`
	Amount     int64      `json:"amount"`
	Currency   string     `json:"currency"`
	Detail     string     `json:"detail"`
	Reference  *string    `json:"reference"`
	CreatedAt  time.Time  `json:"created_at"`
	Status     string     `json:"status"` // open or resolved
	ResolvedAt *time.Time `json:"resolved_at"`
	ResolvedBy *string    `json:"resolved_by"`
	Resolution *string    `json:"resolution"`
}

// ListDiscrepanciesParams filters and pages discrepancies; zero values
// filter nothing.
type ListDiscrepanciesParams struct {
	Kind   string
	Status string // open or resolved; "" both
	Limit  int
	Cursor string
}

// ListDiscrepancies returns one page of discrepancies, newest first.
func (c *Client) ListDiscrepancies(ctx context.Context, p ListDiscrepanciesParams) (*Page[Discrepancy], error) {
	q := url.Values{}
	setString(q, "kind", p.Kind)
	setString(q, "status", p.Status)
	setInt(q, "limit", p.Limit)
	setString(q, "cursor", p.Cursor)
	var page Page[Discrepancy]
	if err := c.do(ctx, request{method: "GET", path: "/v1/discrepancies", query: q}, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// AllDiscrepancies iterates over every discrepancy matching p, newest
// first, fetching pages of p.Limit as it goes. It stops at the first
// error, which it yields.
func (c *Client) AllDiscrepancies(ctx context.Context, p ListDiscrepanciesParams) iter.Seq2[*Discrepancy, error] {
	return all(p.Cursor, func(cursor string) (*Page[Discrepancy], error) {
		q := p // each fetch its own copy: ranges may run at once
		q.Cursor = cursor
		return c.ListDiscrepancies(ctx, q)
	})
}

// ResolveDiscrepancyParams says how a person settled a discrepancy.
type ResolveDiscrepancyParams struct {
	Note string `json:"note"`
}

// ResolveDiscrepancy closes a discrepancy a person has settled, with a key
// holding refunds:review (POST /v1/discrepancies/{id}/resolve). Every
// retry carries one Idempotency-Key: one whose first reply was lost
// answers the resolution, not discrepancy_already_resolved.
func (c *Client) ResolveDiscrepancy(ctx context.Context, id string, p ResolveDiscrepancyParams) (*Discrepancy, error) {
	esc, err := pathID("discrepancy", id)
	if err != nil {
		return nil, err
	}
	var d Discrepancy
	if err := c.do(ctx, request{method: "POST", path: "/v1/discrepancies/" + esc + "/resolve", body: p, idemKey: c.idempotencyKey("")}, &d); err != nil {
		return nil, err
	}
	return &d, nil
}
