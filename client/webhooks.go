package client

import (
	"context"
	"encoding/json"
	"iter"
	"net/url"
	"time"
)

// Event is something that happened to a refund (refund.created,
// refund.succeeded, ...), as webhooks deliver it.
type Event struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	RefundID  string          `json:"refund_id"`
	OrderID   string          `json:"order_id"`
	Data      json.RawMessage `json:"data"` // the refund as it was then
	CreatedAt time.Time       `json:"created_at"`
}

// ListEventsParams filters and pages GET /v1/events.
type ListEventsParams struct {
	Type     string // e.g. "refund.succeeded"
	RefundID string
	Limit    int
	Cursor   string
}

// GetEvent returns one event (GET /v1/events/{id}).
func (c *Client) GetEvent(ctx context.Context, id string) (*Event, error) {
	esc, err := pathID("event", id)
	if err != nil {
		return nil, err
	}
	var e Event
	if err := c.do(ctx, request{method: "GET", path: "/v1/events/" + esc}, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// ListEvents returns one page of events, newest first (GET /v1/events).
func (c *Client) ListEvents(ctx context.Context, p ListEventsParams) (*Page[Event], error) {
	q := url.Values{}
	setString(q, "type", p.Type)
	setString(q, "refund_id", p.RefundID)
	setInt(q, "limit", p.Limit)
	setString(q, "cursor", p.Cursor)
	var page Page[Event]
	if err := c.do(ctx, request{method: "GET", path: "/v1/events", query: q}, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// AllEvents iterates over every event matching p, newest first. It stops
// at the first error, which it yields.
func (c *Client) AllEvents(ctx context.Context, p ListEventsParams) iter.Seq2[*Event, error] {
	return all(p.Cursor, func(cursor string) (*Page[Event], error) {
		q := p // each fetch its own copy: ranges may run at once
		q.Cursor = cursor
		return c.ListEvents(ctx, q)
	})
}

// WebhookEndpoint receives signed event deliveries (Standard Webhooks).
type WebhookEndpoint struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	Description string    `json:"description"`
	Events      []string  `json:"events"` // ["*"] for every event
	Disabled    bool      `json:"disabled"`
	Secret      string    `json:"secret"` // whsec_...; only in CreateWebhookEndpoint's reply
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// CreateWebhookEndpointParams registers an endpoint. Events nil or empty
// (left out of the request) means every event, as ["*"] does.
type CreateWebhookEndpointParams struct {
	URL         string   `json:"url"`
	Description string   `json:"description,omitempty"`
	Events      []string `json:"events,omitempty"`
	// IdempotencyKey is sent as the Idempotency-Key header; generated when
	// empty.
	IdempotencyKey string `json:"-"`
}

// UpdateWebhookEndpointParams changes the fields that are not nil.
type UpdateWebhookEndpointParams struct {
	URL         *string `json:"url,omitempty"`
	Description *string `json:"description,omitempty"`
	// Events, when set, must name at least one type (["*"]: every
	// event); the server refuses an empty list.
	Events   *[]string `json:"events,omitempty"`
	Disabled *bool     `json:"disabled,omitempty"`
}

// DeliveryAttempt is one try at delivering an event to an endpoint.
type DeliveryAttempt struct {
	ID          string     `json:"id"`
	DeliveryID  string     `json:"delivery_id"`
	EventID     string     `json:"event_id"`
	EventType   string     `json:"event_type"`
	URL         string     `json:"url"`
	Attempt     int        `json:"attempt"`
	StatusCode  int        `json:"status_code"` // 0 when no HTTP answer came
	LatencyMS   int64      `json:"latency_ms"`
	Error       string     `json:"error"`
	At          time.Time  `json:"at"`
	NextRetryAt *time.Time `json:"next_retry_at"`
}

// ListDeliveriesParams pages GET /v1/webhook_endpoints/{id}/deliveries.
type ListDeliveriesParams struct {
	Limit  int
	Cursor string
}

// CreateWebhookEndpoint registers an endpoint; the reply carries its
// signing secret, shown only this once (POST /v1/webhook_endpoints).
func (c *Client) CreateWebhookEndpoint(ctx context.Context, p CreateWebhookEndpointParams) (*WebhookEndpoint, error) {
	var e WebhookEndpoint
	err := c.do(ctx, request{method: "POST", path: "/v1/webhook_endpoints", body: p, idemKey: c.idempotencyKey(p.IdempotencyKey)}, &e)
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// ListWebhookEndpoints returns the merchant's endpoints
// (GET /v1/webhook_endpoints; the server answers them all at once).
func (c *Client) ListWebhookEndpoints(ctx context.Context) ([]WebhookEndpoint, error) {
	var page Page[WebhookEndpoint]
	if err := c.do(ctx, request{method: "GET", path: "/v1/webhook_endpoints"}, &page); err != nil {
		return nil, err
	}
	return page.Data, nil
}

// GetWebhookEndpoint returns one endpoint, without its secret
// (GET /v1/webhook_endpoints/{id}).
func (c *Client) GetWebhookEndpoint(ctx context.Context, id string) (*WebhookEndpoint, error) {
	return c.endpointCall(ctx, "GET", id, nil)
}

// UpdateWebhookEndpoint changes an endpoint (PATCH /v1/webhook_endpoints/{id}).
func (c *Client) UpdateWebhookEndpoint(ctx context.Context, id string, p UpdateWebhookEndpointParams) (*WebhookEndpoint, error) {
	return c.endpointCall(ctx, "PATCH", id, p)
}

func (c *Client) endpointCall(ctx context.Context, method, id string, body any) (*WebhookEndpoint, error) {
	esc, err := pathID("webhook endpoint", id)
	if err != nil {
		return nil, err
	}
	var e WebhookEndpoint
	if err := c.do(ctx, request{method: method, path: "/v1/webhook_endpoints/" + esc, body: body}, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// DeleteWebhookEndpoint removes an endpoint (DELETE /v1/webhook_endpoints/{id}).
// A retry after a lost reply that finds the endpoint gone is the delete
// done; a first attempt that finds it gone is webhook_endpoint_not_found.
func (c *Client) DeleteWebhookEndpoint(ctx context.Context, id string) error {
	esc, err := pathID("webhook endpoint", id)
	if err != nil {
		return err
	}
	return c.do(ctx, request{method: "DELETE", path: "/v1/webhook_endpoints/" + esc, goneIsDone: "webhook_endpoint_not_found"}, nil)
}

// TestWebhookEndpoint queues a test event for the endpoint and returns it
// (POST /v1/webhook_endpoints/{id}/test).
func (c *Client) TestWebhookEndpoint(ctx context.Context, id string) (*Event, error) {
	esc, err := pathID("webhook endpoint", id)
	if err != nil {
		return nil, err
	}
	var e Event
	err = c.do(ctx, request{method: "POST", path: "/v1/webhook_endpoints/" + esc + "/test", idemKey: c.newKey()}, &e)
	if err != nil {
		return nil, err
	}
	return &e, nil
}

// ListWebhookDeliveries returns one page of an endpoint's delivery
// attempts, newest first (GET /v1/webhook_endpoints/{id}/deliveries).
func (c *Client) ListWebhookDeliveries(ctx context.Context, endpointID string, p ListDeliveriesParams) (*Page[DeliveryAttempt], error) {
	esc, err := pathID("webhook endpoint", endpointID)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	setInt(q, "limit", p.Limit)
	setString(q, "cursor", p.Cursor)
	var page Page[DeliveryAttempt]
	if err := c.do(ctx, request{method: "GET", path: "/v1/webhook_endpoints/" + esc + "/deliveries", query: q}, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// AllWebhookDeliveries iterates over every delivery attempt of an
// endpoint, newest first. It stops at the first error, which it yields.
func (c *Client) AllWebhookDeliveries(ctx context.Context, endpointID string, p ListDeliveriesParams) iter.Seq2[*DeliveryAttempt, error] {
	return all(p.Cursor, func(cursor string) (*Page[DeliveryAttempt], error) {
		q := p // each fetch its own copy: ranges may run at once
		q.Cursor = cursor
		return c.ListWebhookDeliveries(ctx, endpointID, q)
	})
}
