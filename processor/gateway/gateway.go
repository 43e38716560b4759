// Package gateway is refundd's connector to an acquirer gateway that speaks
// the 001 seed's API, as its client:
//
//	POST {URL}/v1/orders/{ProcessorOrderID}/refund   {"amount": <minor units>}
//	Authorization: Bearer {Credential}
//	Idempotency-Key: {refundd's refund id}
//
// The gateway answers 200 with the whole order, whose transactions list
// each refund with its status, response code, message, RRN, STAN and auth
// code. The connector takes the newest refund transaction as its own (see
// below) and maps it: approved → Approved (Result.Reference is the
// transaction id), declined → Declined with the transaction's response
// code and message, anything still open → Pending. A 200 naming another
// order (its id is not ProcessorOrderID) or another currency is an unknown
// outcome (order_mismatch, currency_mismatch). Other answers:
//
//	401, 403                                 Declined auth_failed
//	400 "Initial request is still processing." outcome unknown (TransientError in_progress): a
//	                                         request with this key, or another refund of the order,
//	                                         is still running
//	404 {"message"}                          Declined order_not_found
//	404 without that body (a proxy's page)   outcome unknown (TransientError unexpected_404)
//	422 errors.amount                        Declined amount_exceeds_refundable or invalid_amount
//	422 errors["Idempotency-Key"]            outcome unknown: the key already made another refund
//	other 422                                Declined validation_failed, with the fields' messages
//	422 without {"message"}                  outcome unknown (TransientError unreadable_reply)
//	other 4xx {"message"}                    Declined http_<status> (408, 409, 425: unknown)
//	other 4xx without {"message"} (a proxy's outcome unknown (TransientError unexpected_<status>)
//	page, {}, null, another JSON shape)
//	429                                      TransientError, not executed, Retry-After honoured
//	5xx, transport failure, unreadable reply TransientError, outcome unknown
//
// Capabilities:
//
//	| idempotent | status by key | status by reference | partial | vendors | lines |
//	| yes        | no            | no                  | yes     | no      | no    |
//
// Why:
//   - Idempotent: the gateway deduplicates on Idempotency-Key, as the
//     seed's 400 "Initial request is still processing." shows (the answer
//     to a second request with a key whose first is still running).
//     refundd's own gateway surface replays the first answer for a key and,
//     because it records the key as the refund's merchant reference, finds
//     the refund by it for ever after.
//   - No status lookup: the seed's API has no way to read a refund or an
//     order, so Status answers processor.ErrNoStatus and the connector is
//     not a RequestStatuser.
//   - Partial: the amount is any integer >= 1.
//   - No vendors or lines: the seed's refund names only an amount (and the
//     capture); a request naming vendors or lines is declined before it is
//     sent (unsupported_request), never sent as a plain refund.
//
// Account: URL is the gateway's base URL (http or https, no user info);
// Credential is the API key sent as a Bearer token; the kind takes no
// options. Request.ProcessorOrderID must hold the order's id at the
// gateway (the seed's :id, e.g. 0191f5a7-44d3-7430-8739-2d80821416bf).
// The amount is sent as integer minor units, as the seed asks, whatever
// the currency's decimals (1.235 KWD is 1235). transaction_id is not sent:
// the forwarding side knows only its own capture's id, not the gateway's,
// and the gateway picks the capture itself.
//
// Which transaction is ours: the seed's reply does not name the refund the
// request made. The gateway runs an order's refunds one at a time (hence
// its 400), so right after the request the newest refund transaction is
// the one it made, provided it is not older than the order's last change
// (updated_at) and has this refund's amount. When the newest one fails
// either test, the refund is still open at the gateway (or the reply is
// not the one our request made) and the connector answers Pending, which
// settles nothing: the money stays reserved. The one case it cannot tell
// apart: this refund still open, and the order's previous refund of the
// very same amount finished within the same second (the seed's times are
// whole seconds) as this one was accepted.
package gateway

import (
	"context"
	"net/http"
	"net/url"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/upstream"
)

// Kind is the account kind this package serves.
const Kind = "gateway"

// Connector calls one gateway account.
type Connector struct {
	c *upstream.Client
}

var (
	_ processor.Processor = (*Connector)(nil)
	_ processor.Capable   = (*Connector)(nil)
)

// New returns a connector for acct, or an error naming what is wrong with
// the account (never quoting its credential).
func New(acct processor.Account) (*Connector, error) {
	if err := upstream.CheckAccount(Kind, acct.URL, acct.Credential, acct.Options); err != nil {
		return nil, err
	}
	auth := "Bearer " + acct.Credential
	return &Connector{c: upstream.New(acct.URL, func(h http.Header) { h.Set("Authorization", auth) })}, nil
}

// capabilities: see the package documentation for why.
var capabilities = processor.Capabilities{IdempotentSubmit: true, Partial: true}

// Capabilities reports what the gateway's API can prove.
func (c *Connector) Capabilities() processor.Capabilities { return capabilities }

// Refund submits req with its refund id as the Idempotency-Key.
func (c *Connector) Refund(ctx context.Context, req processor.Request) (processor.Result, error) {
	if res, refused := check(req); refused {
		return res, nil
	}
	resp, err := c.c.Do(ctx, http.MethodPost, "/v1/orders/"+url.PathEscape(req.ProcessorOrderID)+"/refund",
		refundBody{Amount: req.Amount}, req.IdempotencyKey)
	if err != nil {
		return processor.Result{}, err
	}
	return read(resp, req)
}

// Status answers processor.ErrNoStatus: the gateway's API cannot look a
// refund up.
func (c *Connector) Status(context.Context, string) (processor.Result, error) {
	return processor.Result{}, processor.ErrNoStatus
}

// check refuses, before anything is sent, a request this API cannot carry.
func check(req processor.Request) (processor.Result, bool) {
	refuse := func(code, msg string) (processor.Result, bool) {
		return processor.Result{Status: processor.Declined, ResponseCode: code, Message: "gateway: " + msg + "; nothing was sent"}, true
	}
	switch {
	case req.IdempotencyKey == "" || len(req.IdempotencyKey) > 255:
		return refuse("invalid_request", "the refund id (Idempotency-Key) must be 1-255 characters")
	case req.ProcessorOrderID == "":
		return refuse("invalid_request", "the order has no id at the gateway (ProcessorOrderID)")
	case req.Amount < 1:
		return refuse("invalid_amount", "the amount must be at least 1 minor unit")
	case len(req.Vendors) > 0:
		return refuse("unsupported_request", "the gateway's refund cannot name vendor splits")
	case len(req.Lines) > 0:
		return refuse("unsupported_request", "the gateway's refund cannot name order lines")
	}
	if _, err := money.LookupCurrency(req.Currency); err != nil {
		return refuse("invalid_request", err.Error())
	}
	return processor.Result{}, false
}
