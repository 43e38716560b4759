// Package paylink is refundd's connector to a processor that speaks the
// Paylink partner refund API (seed 004): refundd, holding a Paylink
// partner's credentials, refunds a merchant's order at Paylink.
//
//	POST {URL}/rest/partner/v2/auth
//	     {"apiId","secretKey","persistToken":false} -> {"id_token":"<JWT>"}
//	POST {URL}/rest/partner/v2/merchant/{merchant_key}/{merchant_value}/refund
//	     Authorization: Bearer <id_token>, Idempotency-Key: <refundd's refund id>
//	     {"orderNumber","refundReason"} -> {"id","orderNumber","amount","currency","refundReason","createDatetime"}
//
// What it declares, and why:
//
//	idempotent submit  yes  a whole-order refund executes at most once per order:
//	                        a second submission executes only if the first never did,
//	                        else finds nothing left, which is read as unknown
//	status lookup      no   the seed has no refund lookup (ErrNoStatus)
//	partial            no   the request has no amount: it refunds the order
//	vendors            no
//	line items         no
//
// The Idempotency-Key header (refundd's refund id) is sent too: a refundd
// serving this API deduplicates on it and keeps it as the refund's
// merchant_reference; a real Paylink is not known to. The seed's body has
// no reference field to carry it. After an unknown outcome (timeout, 5xx,
// an answer that cannot be read) the core submits again: the answer is
// the refund (it had not executed) or "nothing left", which stays unknown
// until the attempts run out and the refund waits for review.
//
// Account:
//   - URL: the API's base, https://restapi.paylink.sa (production) or
//     https://restpilot.paylink.sa (testing).
//   - Credential: "apiId:secretKey", the partner's API id and secret key
//     (split at the first colon, so the secret may hold colons).
//   - Options (both required): merchant_key, how Paylink finds the merchant
//     (cr, freelancer, mobile, email or accountNo), and merchant_value, its
//     license number, phone, email or account number.
//
// Request.ProcessorOrderID holds the payment's Paylink transactionNo, sent
// as orderNumber. A refund is sent only for the whole order: Amount equal
// to OrderAmount and nothing refunded before (the core already refuses
// other refunds for a processor without Partial).
//
// The partner token is cached until shortly before the expiry its JWT
// states (5 minutes when it states none). A 401 on a refund renews it
// once and repeats the call: the seed's 401 is "the provided token is
// invalid or expired", a refusal at authentication, before the refund is
// read, so nothing was executed. A second 401, or a 403 (no PARTNER role),
// is a decline with processor.CodeAuthFailed.
//
// The answers, in the core's terms (see readRefund):
//
//	200 with id, the request's amount and currency  approved, Reference = id
//	200 any other body                              unknown (TransientError): it may have been paid
//	400 nothing left to refund                      unknown: perhaps this refund's own lost first submission
//	400 (invalid request)                           declined with the body's code or invalid_request
//	404 (no such merchant or order)                 declined with the body's code or order_not_found
//	4xx not JSON (a proxy's page), or JSON with     unknown
//	no code and no message ({}, null)
//	422 refund_declined (a refundd's processor)     declined, Reference = the body's id
//	409, 422 idempotency_key_*, merchant_reference_reused  unknown: the key is another request's
//	other 4xx                                       declined with the body's code or http_<status>
//	401, 403, 429, 5xx                              upstream.Classify
package paylink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/upstream"
)

// Kind is the name of this connector's kind of account.
const Kind = "paylink"

// Account options.
const (
	OptMerchantKey   = "merchant_key"
	OptMerchantValue = "merchant_value"
)

// merchantKeys are the seed's merchant lookups.
var merchantKeys = map[string]bool{"cr": true, "freelancer": true, "mobile": true, "email": true, "accountNo": true}

const (
	authPath = "/rest/partner/v2/auth"
	// maxReason bounds refundReason; refundd as the processor takes 500.
	maxReason = 500
)

// Connector refunds orders at one Paylink account. It is safe for
// concurrent use.
type Connector struct {
	client     *upstream.Client
	apiID      string
	secretKey  string
	refundPath string
	tokens     tokenCache
}

// New returns a connector for acct.
func New(acct processor.Account) (*Connector, error) {
	base, err := checkURL(acct.URL)
	if err != nil {
		return nil, err
	}
	apiID, secret, ok := strings.Cut(acct.Credential, ":")
	if !ok || strings.TrimSpace(apiID) == "" || secret == "" {
		return nil, errors.New(`paylink: the credential must be "apiId:secretKey"`)
	}
	for k := range acct.Options {
		if k != OptMerchantKey && k != OptMerchantValue {
			return nil, fmt.Errorf("paylink: unknown option %q (known: %s, %s)", k, OptMerchantKey, OptMerchantValue)
		}
	}
	mk, mv := acct.Options[OptMerchantKey], acct.Options[OptMerchantValue]
	if !merchantKeys[mk] {
		return nil, fmt.Errorf("paylink: option %s must be cr, freelancer, mobile, email or accountNo, not %q", OptMerchantKey, mk)
	}
	if mv == "" || len(mv) > 254 {
		return nil, fmt.Errorf("paylink: option %s must be 1 to 254 characters", OptMerchantValue)
	}
	c := &Connector{client: upstream.New(base, nil), apiID: apiID, secretKey: secret,
		refundPath: "/rest/partner/v2/merchant/" + url.PathEscape(mk) + "/" + url.PathEscape(mv) + "/refund"}
	c.tokens.now = time.Now
	c.tokens.fetch = c.fetchToken
	return c, nil
}

// checkURL accepts an http or https base URL without user info, query or
// fragment, and returns it without a trailing slash.
func checkURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", errors.New("paylink: the account URL does not parse")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", errors.New("paylink: the account URL must be http or https")
	case u.Host == "":
		return "", errors.New("paylink: the account URL has no host")
	case u.User != nil:
		return "", errors.New("paylink: the account URL must not carry user info; the credential holds the secrets")
	case u.RawQuery != "" || u.Fragment != "":
		return "", errors.New("paylink: the account URL must not have a query or fragment")
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// Capabilities: see the package documentation.
func (c *Connector) Capabilities() processor.Capabilities {
	// A Paylink refund is of the whole order, which can be refunded once:
	// a second submission either executes (the first never did) or finds
	// nothing left to refund, which readRefund reads as unknown, never as
	// a decline. So submitting again is safe, and is the only way to learn
	// what became of a lost answer.
	return processor.Capabilities{IdempotentSubmit: true}
}

// Status answers processor.ErrNoStatus: the API has no refund lookup.
func (c *Connector) Status(context.Context, string) (processor.Result, error) {
	return processor.Result{}, processor.ErrNoStatus
}

type refundBody struct {
	OrderNumber  string `json:"orderNumber"`
	RefundReason string `json:"refundReason"`
}

// Refund refunds the whole order req.ProcessorOrderID.
func (c *Connector) Refund(ctx context.Context, req processor.Request) (processor.Result, error) {
	if res, ok := refuse(req); !ok {
		return res, nil
	}
	body := refundBody{OrderNumber: req.ProcessorOrderID, RefundReason: reason(req)}
	resp, err := c.send(ctx, body, req.IdempotencyKey)
	var d *declined
	if errors.As(err, &d) {
		return d.res, nil
	}
	if err != nil {
		return processor.Result{}, err
	}
	return readRefund(resp, req)
}

// send posts the refund with the cached token; on a 401 it renews the
// token once and posts again (the 401 proves nothing was executed).
func (c *Connector) send(ctx context.Context, body refundBody, key string) (*upstream.Response, error) {
	tok, err := c.tokens.get(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := c.post(ctx, tok, body, key)
	if err != nil || resp.Status != http.StatusUnauthorized {
		return resp, err
	}
	c.tokens.drop(tok)
	if tok, err = c.tokens.get(ctx); err != nil {
		return nil, err
	}
	return c.post(ctx, tok, body, key)
}

func (c *Connector) post(ctx context.Context, token string, body refundBody, key string) (*upstream.Response, error) {
	cl := *c.client
	cl.Header = func(h http.Header) { h.Set("Authorization", "Bearer "+token) }
	resp, err := cl.Do(ctx, http.MethodPost, c.refundPath, body, key)
	if err == nil && token != "" {
		// The token is a credential too, for as long as it lives: a reply
		// that quotes it must not carry it into the refund's messages.
		resp.Body = bytes.ReplaceAll(resp.Body, []byte(token), []byte("[redacted]"))
	}
	return resp, err
}

// refuse checks what this API can do before anything is sent; ok false
// with a decline when it cannot (nothing was sent, so the decline is
// final and safe).
func refuse(req processor.Request) (processor.Result, bool) {
	no := func(code, msg string) (processor.Result, bool) {
		return processor.Result{Status: processor.Declined, ResponseCode: code, Message: "paylink: " + msg}, false
	}
	switch {
	case req.IdempotencyKey == "":
		return no("invalid_request", "a refund needs its idempotency key")
	case req.ProcessorOrderID == "" || len(req.ProcessorOrderID) > 255:
		return no("invalid_request", "the order's Paylink transactionNo (ProcessorOrderID) is required, at most 255 characters")
	case req.Amount <= 0 || req.Refunded != 0 || req.Amount != req.OrderAmount:
		return no("partial_not_supported", "Paylink refunds only a whole order with nothing refunded before")
	case len(req.Lines) > 0:
		return no("lines_not_supported", "Paylink refunds cannot name order lines")
	case len(req.Vendors) > 0:
		return no("vendors_not_supported", "Paylink refunds cannot name vendor splits")
	}
	if _, err := money.LookupCurrency(req.Currency); err != nil {
		return no("invalid_request", err.Error())
	}
	return processor.Result{}, true
}

// reason is the seed's required refundReason: the refund's reason, or one
// naming the refund; the same on every attempt, so a retry is the same
// request.
func reason(req processor.Request) string {
	r := strings.TrimSpace(req.Reason)
	if r == "" {
		r = "Refund " + req.IdempotencyKey
	}
	if len(r) > maxReason {
		r = strings.ToValidUTF8(r[:maxReason], "")
	}
	return r
}

// declined carries a final decline out of the token calls.
type declined struct{ res processor.Result }

func (d *declined) Error() string {
	return "paylink: declined " + d.res.ResponseCode + ": " + d.res.Message
}
