package client

import (
	"context"
	"fmt"
	"iter"
	"net/url"
	"time"
)

// Card is the payment source of an order.
type Card struct {
	Scheme      string `json:"scheme,omitempty"`
	FirstDigits string `json:"first_digits,omitempty"`
	LastDigits  string `json:"last_digits,omitempty"`
	Month       int    `json:"month,omitempty"`
	Year        int    `json:"year,omitempty"`
	Name        string `json:"name,omitempty"`
}

// Customer who paid.
type Customer struct {
	Name   string `json:"name,omitempty"`
	Email  string `json:"email,omitempty"`
	Mobile string `json:"mobile,omitempty"`
}

// CreateOrderParams tells refundd about a captured payment. Amounts are
// minor units of Currency.
type CreateOrderParams struct {
	Reference      string              `json:"reference"`
	Currency       string              `json:"currency"`
	Amount         int64               `json:"amount"`
	CapturedAmount *int64              `json:"captured_amount,omitempty"` // default: Amount
	PaymentMethod  string              `json:"payment_method,omitempty"`
	Source         Card                `json:"source"`
	Customer       Customer            `json:"customer"`
	Items          []OrderItemParams   `json:"items,omitempty"`
	Vendors        []OrderVendorParams `json:"vendors,omitempty"`
	Description    string              `json:"description,omitempty"`
	// Processor names the merchant's processor account (refundd processor
	// add --name) the order's refunds go to, with the order's id there;
	// empty: the merchant's default account, else the node's processor.
	Processor        string `json:"processor,omitempty"`
	ProcessorOrderID string `json:"processor_order_id,omitempty"`
	// IdempotencyKey is sent as the Idempotency-Key header; generated when
	// empty.
	IdempotencyKey string `json:"-"`
}

// OrderItemParams is one line of a new order; UnitAmount is VAT-inclusive.
type OrderItemParams struct {
	ID         string `json:"id"`
	SKU        string `json:"sku,omitempty"`
	NameEN     string `json:"name_en,omitempty"`
	NameAR     string `json:"name_ar,omitempty"`
	Qty        int64  `json:"qty"`
	UnitAmount int64  `json:"unit_amount"`
	TaxRate    string `json:"tax_rate,omitempty"` // percent, "15"
	Taxable    *bool  `json:"taxable,omitempty"`
	// TaxExemptionCode is ZATCA's reason a line at 0 % or untaxed is not
	// taxed (VATEX-SA-35, say); "" leaves refundd's default.
	TaxExemptionCode string `json:"tax_exemption_code,omitempty"`
}

// OrderVendorParams is one marketplace vendor's share of a new order.
type OrderVendorParams struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	IBAN   string `json:"iban,omitempty"`
	Amount int64  `json:"amount"`
}

// Order is a captured payment and what has been refunded of it.
type Order struct {
	ID                  string        `json:"id"`
	Reference           string        `json:"reference"`
	Currency            string        `json:"currency"`
	Amount              int64         `json:"amount"`
	CapturedAmount      int64         `json:"captured_amount"`
	RefundedAmount      int64         `json:"refunded_amount"`
	PendingRefundAmount int64         `json:"pending_refund_amount"`
	VoidedAmount        int64         `json:"voided_amount"`
	ChargedBackAmount   int64         `json:"charged_back_amount"`
	RefundableAmount    int64         `json:"refundable_amount"`
	PaymentMethod       string        `json:"payment_method"`
	Source              Card          `json:"source"`
	Customer            Customer      `json:"customer"`
	Description         string        `json:"description"`
	RefundCount         int           `json:"refund_count"`
	Items               []OrderItem   `json:"items"`
	Vendors             []OrderVendor `json:"vendors"`
	Transactions        []Transaction `json:"transactions"`
	// Processor is the id of the processor account the order's refunds go
	// to, ProcessorOrderID the order's id there; "": the node's processor.
	Processor        string    `json:"processor"`
	ProcessorOrderID string    `json:"processor_order_id"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
}

// OrderItem is a line of an order with its refund counters.
type OrderItem struct {
	ID         string `json:"id"`
	SKU        string `json:"sku"`
	NameEN     string `json:"name_en"`
	NameAR     string `json:"name_ar"`
	Qty        int64  `json:"qty"`
	UnitAmount int64  `json:"unit_amount"`
	TaxRate    string `json:"tax_rate"`
	Taxable    bool   `json:"taxable"`
	// TaxExemptionCode is "" when the order gave none.
	TaxExemptionCode string `json:"tax_exemption_code"`
	Amount           int64  `json:"amount"`
	RefundedQty      int64  `json:"refunded_qty"`
	PendingQty       int64  `json:"pending_qty"`
	RefundedAmount   int64  `json:"refunded_amount"`
	PendingAmount    int64  `json:"pending_amount"`
}

// OrderVendor is a vendor's share of an order; IBAN comes back masked.
type OrderVendor struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	IBAN           string `json:"iban"`
	Amount         int64  `json:"amount"`
	RefundedAmount int64  `json:"refunded_amount"`
	PendingAmount  int64  `json:"pending_amount"`
}

// Transaction is one money movement on an order (capture, refund, void).
type Transaction struct {
	ID             string    `json:"id"`
	Type           string    `json:"type"`
	Status         string    `json:"status"`
	Amount         int64     `json:"amount"`
	RefundedAmount int64     `json:"refunded_amount"`
	RefundID       string    `json:"refund_id"`
	ResponseCode   string    `json:"response_code"`
	Message        string    `json:"message"`
	RRN            string    `json:"rrn"`
	STAN           string    `json:"stan"`
	AuthCode       string    `json:"auth_code"`
	CreatedAt      time.Time `json:"created_at"`
}

// ListOrdersParams filters and pages GET /v1/orders.
type ListOrdersParams struct {
	Reference string // the merchant's own order reference
	Limit     int    // page size, 1-100 (server default 10)
	Cursor    string
}

// CreateOrder records a captured payment (POST /v1/orders).
func (c *Client) CreateOrder(ctx context.Context, p CreateOrderParams) (*Order, error) {
	var o Order
	err := c.do(ctx, request{method: "POST", path: "/v1/orders", body: p, idemKey: c.idempotencyKey(p.IdempotencyKey)}, &o)
	if err != nil {
		return nil, err
	}
	return &o, nil
}

// GetOrder returns one order (GET /v1/orders/{id}).
func (c *Client) GetOrder(ctx context.Context, id string) (*Order, error) {
	esc, err := pathID("order", id)
	if err != nil {
		return nil, err
	}
	var o Order
	if err := c.do(ctx, request{method: "GET", path: "/v1/orders/" + esc}, &o); err != nil {
		return nil, err
	}
	return &o, nil
}

// ListOrders returns one page of orders, newest first (GET /v1/orders).
func (c *Client) ListOrders(ctx context.Context, p ListOrdersParams) (*Page[Order], error) {
	q := url.Values{}
	setString(q, "reference", p.Reference)
	setInt(q, "limit", p.Limit)
	setString(q, "cursor", p.Cursor)
	var page Page[Order]
	if err := c.do(ctx, request{method: "GET", path: "/v1/orders", query: q}, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// AllOrders iterates over every order matching p, fetching pages of
// p.Limit as it goes. It stops at the first error, which it yields.
func (c *Client) AllOrders(ctx context.Context, p ListOrdersParams) iter.Seq2[*Order, error] {
	return all(p.Cursor, func(cursor string) (*Page[Order], error) {
		q := p // each fetch its own copy: ranges may run at once
		q.Cursor = cursor
		return c.ListOrders(ctx, q)
	})
}

// all walks a cursor-paged list from start. Each range over the iterator
// walks it from start again: the cursor it moves is its own.
func all[T any](start string, fetch func(cursor string) (*Page[T], error)) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		cursor := start
		for {
			page, err := fetch(cursor)
			if err != nil {
				yield(nil, err)
				return
			}
			for i := range page.Data {
				if !yield(&page.Data[i], nil) {
					return
				}
			}
			if !page.HasMore {
				return
			}
			// A server that answers the same cursor again would loop
			// forever; say so instead.
			if page.NextCursor == "" || page.NextCursor == cursor {
				yield(nil, fmt.Errorf("client: list says has_more but gives no new cursor (%q)", page.NextCursor))
				return
			}
			cursor = page.NextCursor
		}
	}
}
