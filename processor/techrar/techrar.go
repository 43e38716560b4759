// Package techrar is refundd's connector to a processor that speaks
// Techrar's merchant invoice API (seed 000): a refund names lines of the
// order's tax invoice and Techrar answers with a refund invoice carrying
// the provider's refund transaction.
//
//	POST {URL}/order/v1/merchant/invoices/{invoice_id}/refund/
//	     Authorization: Bearer <credential>, app-id: <app_id>, Idempotency-Key: <refundd's refund id>
//	     {"comments","refunded_items":[{"id","qty","amount"}]} -> the refund invoice
//	GET  {URL}/order/v1/merchant/invoices/{refund_invoice_id}/   (status by reference)
//	GET  {URL}/order/v1/merchant/invoices/{invoice_id}/          (status by key: its refunds,
//	     each refund invoice's refund_reason carrying the marker)
//
// What it declares, and why:
//
//	idempotent submit    no   the seed documents no deduplication
//	status by key        yes  the comments (a refund invoice's refund_reason) end with
//	                          the marker "[refundd <refund id>]"; the tax invoice lists
//	                          every refund invoice, so "none carries it" is complete
//	                          (only from the tax invoice asked for, with its refunds
//	                          listed, and each refund invoice answered as itself: any
//	                          other answer is unknown, never "not found")
//	status by reference  yes  the refund invoice, by the id its answer gave
//	partial              yes  any lines, any part of a line
//	vendors              no
//	line items           yes, required: refunded_items is the request
//
// The Idempotency-Key header (refundd's refund id) is sent too: a refundd
// serving this API deduplicates on it and keeps it as the refund's
// merchant_reference, but a real Techrar is not known to, so the core
// never relies on it. The refund id travels in the comments instead, which
// Techrar keeps as the refund invoice's refund_reason: after a lost answer
// StatusOf finds the refund invoice by it among the tax invoice's refunds.
// "Not there" then proves only that it has not executed yet; the core,
// which may not resubmit to a processor that does not deduplicate, sends
// such a refund to review.
//
// Account:
//   - URL: the API's base, https://api.techrar.com.
//   - Credential: the merchant's API token, sent as a bearer token (the
//     seed's permission can_write_order; on a refundd, a merchant key with
//     refunds:write and orders:read).
//   - Options: app_id (required), the merchant's integer app id, sent as
//     the seed's app-id header.
//
// Request.ProcessorOrderID holds the id of the order's tax invoice at
// Techrar (the {invoice_id} refunded). Each of Request.Lines names a line
// of that invoice: ItemID is the invoice line's integer id (items[].id),
// Qty how many units, and Amount, in minor units VAT included, how much of
// the line (a Qty of 0 refunds part of a line's value); the Amounts must
// add up to Request.Amount. Amounts are sent as exact JSON numbers in the
// currency's decimals. Result.Reference is the refund invoice's id.
//
// The answers, in the core's terms (see readInvoice and readRefund):
//
//	200 refund invoice of this tax invoice, amount and currency asked:
//	    transaction captured  approved      pending   pending
//	    failed, canceled      declined      reversed  reversed
//	200 any other body                      unknown (TransientError): it may have been paid
//	400 (invalid request)                   declined with the body's code or invalid_request
//	404 (no such invoice)                   declined order_not_found (the body's code in the message)
//	422 amount_exceeds_refundable           declined
//	409, 422 idempotency_key_*, merchant_reference_reused  unknown: the key is another request's
//	other 4xx                               declined with the body's code or http_<status>
//	401, 403, 429, 5xx                      upstream.Classify
package techrar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/upstream"
)

// Kind is the name of this connector's kind of account.
const Kind = "techrar"

// OptAppID is the account option holding the merchant's app id.
const OptAppID = "app_id"

const (
	invoicesPath = "/order/v1/merchant/invoices/"
	// maxComments bounds the comments; refundd as the processor takes 500.
	maxComments = 500
	// maxLines is what refundd as the processor takes in one refund.
	maxLines = 500
)

// Connector refunds invoice lines at one Techrar account. It is safe for
// concurrent use.
type Connector struct {
	client *upstream.Client
}

// New returns a connector for acct.
func New(acct processor.Account) (*Connector, error) {
	base, err := checkURL(acct.URL)
	if err != nil {
		return nil, err
	}
	token := acct.Credential
	if strings.TrimSpace(token) == "" || !printable(token) {
		return nil, errors.New("techrar: the credential must be the API token (visible ASCII, no spaces)")
	}
	for k := range acct.Options {
		if k != OptAppID {
			return nil, fmt.Errorf("techrar: unknown option %q (known: %s)", k, OptAppID)
		}
	}
	appID, err := strconv.ParseInt(acct.Options[OptAppID], 10, 64)
	if err != nil || appID <= 0 {
		return nil, fmt.Errorf("techrar: option %s must be the merchant's integer app id", OptAppID)
	}
	app := strconv.FormatInt(appID, 10)
	return &Connector{client: upstream.New(base, func(h http.Header) {
		h.Set("Authorization", "Bearer "+token)
		h.Set("app-id", app)
	})}, nil
}

// checkURL accepts an http or https base URL without user info, query or
// fragment, and returns it without a trailing slash.
func checkURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", errors.New("techrar: the account URL does not parse")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", errors.New("techrar: the account URL must be http or https")
	case u.Host == "":
		return "", errors.New("techrar: the account URL has no host")
	case u.User != nil:
		return "", errors.New("techrar: the account URL must not carry user info; the credential holds the token")
	case u.RawQuery != "" || u.Fragment != "":
		return "", errors.New("techrar: the account URL must not have a query or fragment")
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// Capabilities: see the package documentation.
func (c *Connector) Capabilities() processor.Capabilities {
	return processor.Capabilities{StatusByKey: true, StatusByReference: true, Partial: true, Lines: true, LinesRequired: true}
}

type refundBody struct {
	Comments      string         `json:"comments"`
	RefundedItems []refundedItem `json:"refunded_items"`
}

type refundedItem struct {
	ID     int64       `json:"id"`
	Qty    int64       `json:"qty"`
	Amount json.Number `json:"amount"` // exact decimal, never a float
}

// Refund refunds req.Lines of the tax invoice req.ProcessorOrderID.
func (c *Connector) Refund(ctx context.Context, req processor.Request) (processor.Result, error) {
	body, res, ok := build(req)
	if !ok {
		return res, nil
	}
	resp, err := c.client.Do(ctx, http.MethodPost, invoicesPath+req.ProcessorOrderID+"/refund/", body, req.IdempotencyKey)
	if err != nil {
		return processor.Result{}, err
	}
	return readRefund(resp, req)
}

// Status answers processor.ErrNoStatus: Techrar cannot find a refund by
// refundd's id. StatusOf looks it up by the refund invoice's id.
func (c *Connector) Status(context.Context, string) (processor.Result, error) {
	return processor.Result{}, processor.ErrNoStatus
}

// StatusOf reads the refund invoice req.Reference names; without one it
// answers processor.ErrNoStatus. A refusal of the credentials is an error
// here, never a decline: it says nothing about the refund.
func (c *Connector) StatusOf(ctx context.Context, req processor.Request) (processor.Result, error) {
	if req.Reference == "" {
		return c.statusByKey(ctx, req)
	}
	if _, err := strconv.ParseUint(req.Reference, 10, 63); err != nil {
		return processor.Result{}, fmt.Errorf("techrar: reference %q is not a refund invoice id", req.Reference)
	}
	resp, err := c.client.Do(ctx, http.MethodGet, invoicesPath+req.Reference+"/", nil, "")
	if err != nil {
		return processor.Result{}, err
	}
	return readStatus(resp, req)
}

// build makes the seed's body, or a decline when the request cannot be
// sent (nothing was sent, so the decline is final and safe).
func build(req processor.Request) (refundBody, processor.Result, bool) {
	no := func(code, format string, args ...any) (refundBody, processor.Result, bool) {
		return refundBody{}, processor.Result{Status: processor.Declined, ResponseCode: code,
			Message: "techrar: " + fmt.Sprintf(format, args...)}, false
	}
	if req.IdempotencyKey == "" {
		return no("invalid_request", "a refund needs its idempotency key")
	}
	if id, err := strconv.ParseInt(req.ProcessorOrderID, 10, 64); err != nil || id <= 0 ||
		strconv.FormatInt(id, 10) != req.ProcessorOrderID {
		return no("invalid_request", "ProcessorOrderID must be the order's Techrar tax invoice id, an integer")
	}
	cur, err := money.LookupCurrency(req.Currency)
	if err != nil {
		return no("invalid_request", "%v", err)
	}
	switch {
	case len(req.Vendors) > 0:
		return no("vendors_not_supported", "Techrar refunds cannot name vendor splits")
	case len(req.Lines) == 0:
		return no("lines_required", "a Techrar refund names the invoice lines it refunds")
	case len(req.Lines) > maxLines:
		return no("invalid_request", "at most %d lines in one refund", maxLines)
	case req.Amount <= 0:
		return no("invalid_amount", "the amount must be positive")
	}
	b := refundBody{Comments: comments(req)}
	var sum int64
	for i, l := range req.Lines {
		id, err := strconv.ParseInt(l.ItemID, 10, 64)
		if err != nil || id <= 0 {
			return no("invalid_request", "line %d: ItemID %q is not a Techrar invoice line id", i, l.ItemID)
		}
		if l.Qty < 0 || l.Amount <= 0 {
			return no("invalid_request", "line %d: an amount above zero and a quantity of zero or more are needed", i)
		}
		var ok bool
		if sum, ok = money.Add(sum, l.Amount); !ok {
			return no("invalid_amount", "the lines' amounts overflow")
		}
		b.RefundedItems = append(b.RefundedItems, refundedItem{ID: id, Qty: l.Qty, Amount: json.Number(money.Format(l.Amount, cur))})
	}
	if sum != req.Amount {
		return no("invalid_amount", "the lines add up to %s, the refund is %s %s",
			money.Format(sum, cur), money.Format(req.Amount, cur), cur.Code)
	}
	return b, processor.Result{}, true
}

// comments is the refund's reason (or "Refund") followed by the marker
// that names the refund; the same on every attempt, so a retry is the
// same request.
func comments(req processor.Request) string {
	mark := marker(req.IdempotencyKey)
	r := strings.TrimSpace(req.Reason)
	if r == "" {
		r = "Refund"
	}
	if room := maxComments - len(mark) - 1; len(r) > room {
		r = strings.ToValidUTF8(r[:max(room, 0)], "")
	}
	return r + " " + mark
}

// marker names a refund in its comments.
func marker(key string) string { return "[refundd " + key + "]" }

// statusByKey finds the refund invoice whose refund_reason carries key's
// marker among the tax invoice's refund invoices, newest first.
func (c *Connector) statusByKey(ctx context.Context, req processor.Request) (processor.Result, error) {
	if _, err := strconv.ParseUint(req.ProcessorOrderID, 10, 63); err != nil || req.IdempotencyKey == "" {
		return processor.Result{}, processor.ErrNoStatus
	}
	resp, err := c.client.Do(ctx, http.MethodGet, invoicesPath+req.ProcessorOrderID+"/", nil, "")
	if err != nil {
		return processor.Result{}, err
	}
	if resp.Status != http.StatusOK {
		req.Reference = req.ProcessorOrderID
		return readStatus(resp, req)
	}
	var tax struct {
		ID      json.RawMessage `json:"id"`
		Refunds []struct {
			ID int64 `json:"id"`
		} `json:"refunds"`
	}
	if err := json.Unmarshal(resp.Body, &tax); err != nil {
		return processor.Result{}, &processor.TransientError{Code: "unreadable_reply", Message: "the tax invoice is not the seed's JSON object"}
	}
	if id, _ := positive(tax.ID); id != req.ProcessorOrderID || tax.Refunds == nil {
		// {}, null, another invoice, or one without its list of refunds:
		// no proof the refund is not among them.
		return processor.Result{}, &processor.TransientError{Code: "unreadable_reply",
			Message: "the answer for tax invoice " + req.ProcessorOrderID + " is not that invoice with its refunds"}
	}
	mark := marker(req.IdempotencyKey)
	for i := len(tax.Refunds) - 1; i >= 0; i-- {
		id := strconv.FormatInt(tax.Refunds[i].ID, 10)
		resp, err := c.client.Do(ctx, http.MethodGet, invoicesPath+id+"/", nil, "")
		if err != nil {
			return processor.Result{}, err
		}
		r := req
		r.Reference = id
		if resp.Status != http.StatusOK {
			return readStatus(resp, r)
		}
		var inv struct {
			ID           json.RawMessage `json:"id"`
			RefundReason *string         `json:"refund_reason"`
		}
		if err := json.Unmarshal(resp.Body, &inv); err != nil {
			return processor.Result{}, &processor.TransientError{Code: "unreadable_reply", Message: "refund invoice " + id + " is not the seed's JSON object"}
		}
		if got, _ := positive(inv.ID); got != id {
			// {}, null or another invoice: this one's reason is not known,
			// and it may be the refund's.
			return processor.Result{}, &processor.TransientError{Code: "unreadable_reply",
				Message: "the answer for refund invoice " + id + " is not that invoice"}
		}
		if inv.RefundReason != nil && strings.HasSuffix(*inv.RefundReason, mark) {
			return readInvoice(resp.Body, r)
		}
	}
	return processor.Result{}, processor.ErrNotFound
}
