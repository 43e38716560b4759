// Package upayments is refundd's connector to a processor that speaks
// UPayments' refund API (the 003 seed), as its client:
//
//	POST {URL}/api/v1/create-refund
//	     {"orderId":"<ProcessorOrderID>","totalPrice":12.345,"reference":"<refundd's refund id>",
//	      ["customerFirstName","customerEmail","customerMobileNumber"]}
//	POST {URL}/api/v1/create-multivendor-refund
//	     {"orderId","refundPayload":[{"refundRequestId","amountToRefund"}],"reference"}
//	Authorization: Bearer {Credential}
//
// A refund that names no vendors goes to create-refund. One that names
// vendors (Request.Vendors) goes through the seed's two steps: create-refund
// on a split order moves no money and answers each vendor's
// refundRequestId; the connector then sends each vendor's share to the
// multi-vendor endpoint (at the account's URL: the endpoint the answer
// names is not followed, so the credential never goes to a host the
// account does not name). If the processor answers create-refund with a
// refund, the order was not split there and that refund of the whole
// amount is the answer. A refund without vendors on a split order is
// declined (vendors_required): nothing moved.
//
// Answers {"status","message","data":{"orderId","refundOrderId","refundArn"}}
// map: status true with a refundArn → Approved (Result.Reference is
// refundOrderId, Result.ARN the refundArn); status true without one →
// Pending (accepted, not yet executed: refundd's UPayments surface answers
// so for a refund still in flight or waiting for approval); status false
// with a refundOrderId (HTTP 422 from refundd) → Declined, its code the
// one in parentheses in the message ("declined the refund (51): ...") or
// "declined". Other answers:
//
//	401, 403                                 Declined auth_failed
//	400                                      Declined invalid_request
//	404                                      Declined order_not_found
//	4xx not UPayments' JSON (a proxy's page) outcome unknown (TransientError unexpected_<status>)
//	422 without a refund                     Declined amount_exceeds_refundable
//	2xx status false without a refund        Declined refused
//	409                                      outcome unknown (TransientError conflict): the reference
//	                                         is taken by another request, or one is still running
//	429                                      TransientError, not executed, Retry-After honoured
//	5xx, transport failure, unreadable reply TransientError, outcome unknown
//
// Capabilities:
//
//	| idempotent | status by key | status by reference | partial | vendors | lines |
//	| yes        | no            | no                  | yes     | yes     | no    |
//
// Why:
//   - Idempotent: the refund id goes as "reference", which refundd's
//     UPayments surface keeps unique per merchant: the same reference with
//     the same request answers the first refund as it stands now, and
//     moves no money again. Every attempt sends the same body.
//   - No status lookup: the seed has no refund status endpoint (its "Get
//     Payment Status API" is the payment's), so Status answers
//     processor.ErrNoStatus. A resubmission with the same reference is the
//     only way to learn what became of a refund.
//   - Partial: totalPrice is any amount up to what is left.
//   - Vendors: the multi-vendor endpoint above.
//   - No lines: the request names no order lines; a request naming them is
//     declined before it is sent (unsupported_request).
//
// Account: URL is the API's base URL (e.g. https://apiv2api.upayments.com;
// http or https, no user info); Credential is the merchant's API token,
// sent as "Authorization: Bearer {Token}" as the seed says; the kind takes
// no options. Request.ProcessorOrderID must hold the payment's orderId at
// UPayments (the one its Get Payment Status API answers). Each
// Request.Vendors[i].VendorID names a vendor as the processor knows it:
// its refundRequestId, its IBAN, or, at a refundd processor (whose
// refundRequestId is base64 of "<order id>/<vendor id>"), its vendor id.
//
// Amounts are JSON numbers written from the exact decimal (money.Format):
// 1.235 KWD is sent as 1.235, never through float64.
package upayments

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/mail"
	"regexp"
	"strings"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/upstream"
)

// Kind is the account kind this package serves.
const Kind = "upayments"

const (
	createPath      = "/api/v1/create-refund"
	multivendorPath = "/api/v1/create-multivendor-refund"
)

// Connector calls one UPayments account.
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
var capabilities = processor.Capabilities{IdempotentSubmit: true, Partial: true, Vendors: true}

// Capabilities reports what UPayments' API can prove.
func (c *Connector) Capabilities() processor.Capabilities { return capabilities }

// Refund submits req with its refund id as the reference.
func (c *Connector) Refund(ctx context.Context, req processor.Request) (processor.Result, error) {
	cur, res, refused := check(req)
	if refused {
		return res, nil
	}
	resp, err := c.c.Do(ctx, http.MethodPost, createPath, createBody(req, cur), "")
	if err != nil {
		return processor.Result{}, err
	}
	res, payload, err := readCreate(resp)
	if err != nil || payload == nil {
		return res, err
	}
	// A split order: nothing moved yet; each vendor's share goes to the
	// multi-vendor endpoint.
	if len(req.Vendors) == 0 {
		return declined("vendors_required", "the order is split between vendors at UPayments: the refund must say "+
			"how much each vendor refunds; nothing was refunded"), nil
	}
	body, res, refused := multivendorBody(req, cur, payload)
	if refused {
		return res, nil
	}
	if resp, err = c.c.Do(ctx, http.MethodPost, multivendorPath, body, ""); err != nil {
		return processor.Result{}, err
	}
	return readMultivendor(resp, cur, body.RefundPayload)
}

// Status answers processor.ErrNoStatus: UPayments' API cannot look a
// refund up.
func (c *Connector) Status(context.Context, string) (processor.Result, error) {
	return processor.Result{}, processor.ErrNoStatus
}

// check refuses, before anything is sent, a request this API cannot carry.
func check(req processor.Request) (money.Currency, processor.Result, bool) {
	refuse := func(code, msg string) (money.Currency, processor.Result, bool) {
		return money.Currency{}, declined(code, msg+"; nothing was sent"), true
	}
	cur, err := money.LookupCurrency(req.Currency)
	switch {
	case req.IdempotencyKey == "" || len(req.IdempotencyKey) > 255:
		return refuse("invalid_request", "the refund id (reference) must be 1-255 characters")
	case req.ProcessorOrderID == "" || len(req.ProcessorOrderID) > 255:
		return refuse("invalid_request", "the order has no orderId at UPayments (ProcessorOrderID)")
	case err != nil:
		return refuse("invalid_request", err.Error())
	case req.Amount < 1:
		return refuse("invalid_amount", "the amount must be at least 1 minor unit")
	case len(req.Lines) > 0:
		return refuse("unsupported_request", "UPayments' refund cannot name order lines")
	}
	var sum int64
	for _, v := range req.Vendors {
		if v.VendorID == "" || v.Amount < 1 {
			return refuse("invalid_request", "every vendor share needs a vendor and a positive amount")
		}
		var ok bool
		if sum, ok = money.Add(sum, v.Amount); !ok {
			return refuse("invalid_amount", "the vendor shares overflow")
		}
	}
	if len(req.Vendors) > 0 && sum != req.Amount {
		return refuse("invalid_amount", "the vendor shares do not add up to the refund's amount")
	}
	return cur, processor.Result{}, false
}

// mobileRE is what UPayments (and refundd's surface) accept as a mobile
// number: an optional + and 6 to 15 digits.
var mobileRE = regexp.MustCompile(`^\+?[0-9]{6,15}$`)

// createBody is the seed's create-refund request. The customer fields are
// optional; one that would not pass the seed's checks is left out rather
// than have the refund refused for it.
func createBody(req processor.Request, cur money.Currency) createRequest {
	b := createRequest{OrderID: req.ProcessorOrderID, TotalPrice: json.Number(money.Format(req.Amount, cur)),
		Reference: req.IdempotencyKey}
	if f := strings.Fields(req.CustomerName); len(f) > 0 && len(f[0]) <= 255 {
		b.CustomerFirstName = f[0]
	}
	if a, err := mail.ParseAddress(req.CustomerEmail); err == nil && a.Address == req.CustomerEmail && len(a.Address) <= 250 {
		b.CustomerEmail = req.CustomerEmail
	}
	if mobileRE.MatchString(req.CustomerPhone) {
		b.CustomerMobileNumber = req.CustomerPhone
	}
	return b
}

// multivendorBody names each of the refund's vendor shares by the
// processor's refundRequestId, in the request's order.
func multivendorBody(req processor.Request, cur money.Currency, payload []vendorEntry) (multivendorRequest, processor.Result, bool) {
	body := multivendorRequest{OrderID: req.ProcessorOrderID, Reference: req.IdempotencyKey}
	used := map[string]bool{}
	for _, v := range req.Vendors {
		var match []string
		for _, e := range payload {
			if e.RefundRequestID != "" && names(req.ProcessorOrderID, e, v.VendorID) {
				match = append(match, e.RefundRequestID)
			}
		}
		switch {
		case len(match) == 0:
			return body, declined("vendor_not_found", "UPayments lists no vendor "+clip(v.VendorID)+" on the order; nothing was refunded"), true
		case len(match) > 1:
			return body, declined("vendor_ambiguous", "more than one of the order's vendors at UPayments is "+clip(v.VendorID)+"; nothing was refunded"), true
		case used[match[0]]:
			return body, declined("invalid_request", "two vendor shares name the same vendor at UPayments; nothing was refunded"), true
		}
		used[match[0]] = true
		body.RefundPayload = append(body.RefundPayload, vendorShare{RefundRequestID: match[0],
			AmountToRefund: json.Number(money.Format(v.Amount, cur))})
	}
	return body, processor.Result{}, false
}

// names reports whether payload entry e is the vendor refundd calls id: by
// its refundRequestId, its IBAN, or a refundd processor's
// base64("<order id>/<vendor id>").
func names(orderID string, e vendorEntry, id string) bool {
	if e.RefundRequestID == id || (e.IBANNumber != "" && e.IBANNumber == id) {
		return true
	}
	b, err := base64.StdEncoding.DecodeString(e.RefundRequestID)
	return err == nil && string(b) == orderID+"/"+id
}
