// Package sgate is refundd's connector to a processor that speaks SGate's
// refund API (the 002 seed), as its client:
//
//	POST {URL}/orders/{ProcessorOrderID}/refunds
//	     {"amount":"1.35","reason":"...","merchantRefundId":"<refundd's refund id>"}
//	GET  {URL}/orders/{ProcessorOrderID}/refunds/{SGate refund id}   one refund
//	GET  {URL}/orders/{ProcessorOrderID}/refunds                     the order's refunds
//	Authorization: Bearer {Credential}
//
// Each answer is SGate's refund object; its status maps success →
// Approved, fail → Declined, pending → Pending, and Result.Reference is
// SGate's refund id ("<order>_R1"). SGate's refund object carries no
// response code or decline message, so ResponseCode is its status word
// ("success", "fail"). A
// reply is taken as this refund's only when its merchantRefundId is the
// refund id and its amount is exactly this refund's; otherwise the outcome
// is unknown. Error answers ({"code","message","field"}):
//
//	401, 403                                  Declined auth_failed
//	400 invalid_amount, invalid_request       Declined with that code
//	404 order_not_found                       Declined order_not_found
//	4xx without a code (a proxy's page)       outcome unknown (a lookup's 404 too: never ErrNotFound)
//	422 amount_exceeds_refundable             Declined amount_exceeds_refundable
//	409 merchant_reference_reused             the refund id made another refund: looked up;
//	                                          its result when it is this refund, else unknown
//	409 conflict, idempotency_key_in_use      outcome unknown (TransientError in_progress)
//	429                                       TransientError, not executed, Retry-After honoured
//	5xx, transport failure, unreadable reply  TransientError, outcome unknown
//
// Capabilities:
//
//	| idempotent | status by key  | status by reference | partial | vendors | lines |
//	| yes        | yes (StatusOf) | yes                 | yes     | no      | no    |
//
// Why:
//   - Idempotent: merchantRefundId is unique per merchant. The same id with
//     the same request answers the first refund as it stands now; with
//     another request it is refused (409). refundd's SGate surface keeps
//     it so; the connector sends exactly the same body on every attempt.
//   - Status by key: the order's refund list carries merchantRefundId, so
//     StatusOf finds the refund by refundd's refund id, and its absence
//     from the list proves the refund was not executed (ErrNotFound); only
//     a JSON list (not null) none of whose refunds names another order
//     proves it, any other answer is unknown. The
//     lookup needs the order, which Status(key) alone does not have: it
//     answers ErrNoStatus, and the core calls StatusOf.
//   - Status by reference: with Request.Reference (SGate's refund id from
//     an earlier answer) StatusOf reads that one refund.
//   - Partial: any amount up to what is left.
//   - No vendors or lines: the request names only an amount; a request
//     naming them is declined before it is sent (unsupported_request).
//
// Account: URL is the SGate API's base URL (http or https, no user info);
// Credential is the API key sent as a Bearer token; the kind takes no
// options. Request.ProcessorOrderID must hold the payment's id at SGate
// (the seed's ORDER_ID, e.g. M948164T2023072607034709567189).
//
// Amounts: "a floating point string, up to two decimal places". The
// connector writes the exact decimal of the minor units (money.Format)
// and drops trailing zeros past the second place, so 1.230 KWD goes as
// "1.23"; an amount the API cannot write (1.235 KWD) is declined before it
// is sent (amount_not_representable), never rounded. The reply's amount, a
// JSON number, is read exactly by money.ParseDecimal. The reason is
// Request.Reason (its first 255 bytes), or "Refund" when it is empty (SGate
// requires one).
package sgate

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/upstream"
)

// Kind is the account kind this package serves.
const Kind = "sgate"

// Connector calls one SGate account.
type Connector struct {
	c *upstream.Client
}

var (
	_ processor.Processor       = (*Connector)(nil)
	_ processor.Capable         = (*Connector)(nil)
	_ processor.RequestStatuser = (*Connector)(nil)
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
var capabilities = processor.Capabilities{IdempotentSubmit: true, StatusByKey: true, StatusByReference: true, Partial: true}

// Capabilities reports what SGate's API can prove.
func (c *Connector) Capabilities() processor.Capabilities { return capabilities }

// defaultReason is sent when the refund has none: SGate requires a reason.
const defaultReason = "Refund"

// Refund submits req with its refund id as merchantRefundId.
func (c *Connector) Refund(ctx context.Context, req processor.Request) (processor.Result, error) {
	cur, amount, res, refused := check(req)
	if refused {
		return res, nil
	}
	body := refundBody{Amount: amount, Reason: defaultReason, MerchantRefundID: req.IdempotencyKey}
	if strings.TrimSpace(req.Reason) != "" {
		body.Reason = reason(req.Reason)
	}
	resp, err := c.c.Do(ctx, http.MethodPost, refundsPath(req.ProcessorOrderID), body, "")
	if err != nil {
		return processor.Result{}, err
	}
	res, err = readRefund(resp, req, cur)
	var conflict *referenceConflict
	if errors.As(err, &conflict) {
		// The refund id already named a refund there: what became of it
		// is this refund's answer if it is this refund.
		res, err := c.StatusOf(ctx, req)
		var te *processor.TransientError
		switch {
		case errors.Is(err, processor.ErrNotFound) || errors.Is(err, processor.ErrNoStatus):
			return processor.Result{}, &processor.TransientError{Code: "reference_conflict", Message: conflict.Error() +
				"; the refund is not found under it"}
		case errors.As(err, &te) && te.NotExecuted:
			// The lookup was not made (429, refused); the submission was,
			// and SGate holds a refund under the id: not "not executed".
			return processor.Result{}, &processor.TransientError{Code: "reference_conflict", RetryAfter: te.RetryAfter,
				Message: conflict.Error() + "; looking it up under it was refused: " + te.Message}
		}
		return res, err
	}
	return res, err
}

// Status answers processor.ErrNoStatus: SGate finds a refund only under
// its order, which the key alone does not name. The core calls StatusOf.
func (c *Connector) Status(context.Context, string) (processor.Result, error) {
	return processor.Result{}, processor.ErrNoStatus
}

// StatusOf reads the refund by SGate's id when an earlier answer gave one
// (req.Reference), else finds it by refundd's refund id in the order's
// refund list. ErrNotFound means the list, complete, does not hold it: the
// refund was not executed.
func (c *Connector) StatusOf(ctx context.Context, req processor.Request) (processor.Result, error) {
	cur, err := money.LookupCurrency(req.Currency)
	if err != nil || req.ProcessorOrderID == "" || req.IdempotencyKey == "" {
		return processor.Result{}, processor.ErrNoStatus
	}
	if req.Reference != "" {
		resp, err := c.c.Do(ctx, http.MethodGet, refundsPath(req.ProcessorOrderID)+"/"+url.PathEscape(req.Reference), nil, "")
		if err != nil {
			return processor.Result{}, err
		}
		res, err := readLookup(resp, req, cur)
		if !errors.Is(err, processor.ErrNotFound) {
			return res, err
		}
		// Not under that id: look for the refund id in the list.
	}
	resp, err := c.c.Do(ctx, http.MethodGet, refundsPath(req.ProcessorOrderID), nil, "")
	if err != nil {
		return processor.Result{}, err
	}
	return readList(resp, req, cur)
}

func refundsPath(orderID string) string {
	return "/orders/" + url.PathEscape(orderID) + "/refunds"
}

// maxReason bounds the reason sent: the seed gives no limit, refundd's
// SGate surface refuses more than 500 bytes, and a refund must not fail
// for its note. Cut the same way on every attempt, it keeps the body the
// same.
const maxReason = 255

func reason(s string) string {
	if len(s) <= maxReason {
		return s
	}
	return strings.ToValidUTF8(s[:maxReason], "")
}

// check refuses, before anything is sent, a request this API cannot
// carry, and writes the amount.
func check(req processor.Request) (money.Currency, string, processor.Result, bool) {
	refuse := func(code, msg string) (money.Currency, string, processor.Result, bool) {
		return money.Currency{}, "", processor.Result{Status: processor.Declined, ResponseCode: code,
			Message: "sgate: " + msg + "; nothing was sent"}, true
	}
	cur, err := money.LookupCurrency(req.Currency)
	switch {
	case req.IdempotencyKey == "" || len(req.IdempotencyKey) > 255:
		return refuse("invalid_request", "the refund id (merchantRefundId) must be 1-255 characters")
	case req.ProcessorOrderID == "":
		return refuse("invalid_request", "the order has no id at SGate (ProcessorOrderID)")
	case err != nil:
		return refuse("invalid_request", err.Error())
	case req.Amount < 1:
		return refuse("invalid_amount", "the amount must be at least 1 minor unit")
	case len(req.Vendors) > 0:
		return refuse("unsupported_request", "SGate's refund cannot name vendor splits")
	case len(req.Lines) > 0:
		return refuse("unsupported_request", "SGate's refund cannot name order lines")
	}
	amount, ok := amountText(req.Amount, cur)
	if !ok {
		return refuse("amount_not_representable", money.Format(req.Amount, cur)+" "+cur.Code+
			" has more than the two decimal places SGate's amount allows")
	}
	return cur, amount, processor.Result{}, false
}

// amountText writes minor units as SGate's decimal string: exact, with at
// most two decimal places. ok is false when that would need rounding.
func amountText(minor int64, cur money.Currency) (string, bool) {
	s := money.Format(minor, cur)
	whole, frac, dot := strings.Cut(s, ".")
	if !dot {
		return s, true
	}
	for len(frac) > 2 && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	if len(frac) > 2 {
		return "", false
	}
	return whole + "." + frac, true
}
