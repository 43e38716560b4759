package sgate

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/upstream"
)

// refundBody is the seed's request: amount "string, Yes, floating point
// string, up to two decimal places"; reason "string, Yes";
// merchantRefundId "string, No".
type refundBody struct {
	Amount           string `json:"amount"`
	Reason           string `json:"reason"`
	MerchantRefundID string `json:"merchantRefundId"`
}

// refundReply is the seed's refund object. Amount is "a numeric type": its
// JSON text is kept and parsed exactly, never through float64.
type refundReply struct {
	Amount           json.Number `json:"amount"`
	Status           string      `json:"status"`
	ID               string      `json:"id"`
	OrderID          string      `json:"orderId"`
	MerchantRefundID string      `json:"merchantRefundId"`
	Currency         string      `json:"currency"`
	UpdatedAt        string      `json:"updatedAt"`
}

// errorReply is the error body of refundd's SGate surface (the seed shows
// none): {"code","message","field"}.
type errorReply struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

// statusOf maps SGate's "pending: Refund in progress, success: Refund
// completed, fail: Refund failed". Anything else is not understood: the
// outcome is unknown, never approved.
var statusOf = map[string]processor.Status{
	"success": processor.Approved,
	"fail":    processor.Declined,
	"pending": processor.Pending,
}

// maxListed is how many refunds refundd's SGate surface lists for an
// order at most; a list that long may be cut short, so not finding the
// refund in it proves nothing.
const maxListed = 1000

// referenceConflict is SGate's 409 merchant_reference_reused: the refund
// id already named a refund. Refund looks it up.
type referenceConflict struct{ msg string }

func (e *referenceConflict) Error() string { return "sgate: merchantRefundId already used: " + e.msg }

// readRefund turns SGate's answer to a refund request into the core's
// terms (see the package documentation for the table).
func readRefund(r *upstream.Response, req processor.Request, cur money.Currency) (processor.Result, error) {
	if res, err, ok := upstream.Classify(r); ok {
		if res != nil {
			return *res, nil
		}
		return processor.Result{}, err
	}
	if r.Status >= 200 && r.Status < 300 {
		var rr refundReply
		if err := r.Decode(&rr); err != nil {
			return processor.Result{}, unreadable(err.Error())
		}
		return mapRefund(rr, req, cur)
	}
	var e errorReply
	_ = json.Unmarshal(r.Body, &e)
	msg := clip(or(e.Message, http.StatusText(r.Status)))
	switch {
	case r.Status >= 400 && r.Status < 500 && e.Code == "" && r.Status != http.StatusConflict &&
		r.Status != http.StatusRequestTimeout && r.Status != http.StatusTooEarly:
		// Not SGate's error body: a proxy's page (400, 404, 405, 413 ...)
		// says nothing about a refund an earlier, unanswered attempt may
		// have made.
		return processor.Result{}, upstream.NotTheAPIs("sgate", r.Status)
	case r.Status == http.StatusBadRequest:
		return declined(e.Code, msg), nil
	case r.Status == http.StatusNotFound:
		return declined(e.Code, msg), nil
	case r.Status == http.StatusConflict && e.Code == "merchant_reference_reused":
		return processor.Result{}, &referenceConflict{msg}
	case r.Status == http.StatusConflict || r.Status == http.StatusRequestTimeout || r.Status == http.StatusTooEarly:
		// Another request with this refund id, or on this order, is still
		// running: it may yet execute.
		return processor.Result{}, &processor.TransientError{Code: "in_progress", Message: fmt.Sprintf("sgate answered %d: %s", r.Status, msg)}
	case r.Status == http.StatusUnprocessableEntity && e.Code == "idempotency_key_reused":
		return processor.Result{}, &processor.TransientError{Code: e.Code, Message: "sgate: " + msg}
	case r.Status == http.StatusUnprocessableEntity:
		return declined(or(e.Code, "unprocessable"), msg), nil
	case r.Status >= 400 && r.Status < 500:
		return declined(or(e.Code, fmt.Sprintf("http_%d", r.Status)), msg), nil
	}
	return processor.Result{}, &processor.TransientError{Code: "unexpected_reply", Message: fmt.Sprintf("sgate answered HTTP %d", r.Status)}
}

// readLookup reads the answer to GET one refund. ErrNotFound: SGate has no
// refund under that id (or no such order).
func readLookup(r *upstream.Response, req processor.Request, cur money.Currency) (processor.Result, error) {
	if err := lookupFailed(r); err != nil {
		return processor.Result{}, err
	}
	var rr refundReply
	if err := r.Decode(&rr); err != nil {
		return processor.Result{}, unreadable(err.Error())
	}
	return mapRefund(rr, req, cur)
}

// readList finds the refund id in the answer to GET the order's refunds.
func readList(r *upstream.Response, req processor.Request, cur money.Currency) (processor.Result, error) {
	if err := lookupFailed(r); err != nil {
		return processor.Result{}, err
	}
	var list []refundReply
	if err := r.Decode(&list); err != nil {
		return processor.Result{}, unreadable(err.Error())
	}
	if list == nil {
		// JSON null decodes as no list without an error; only a list
		// (an empty one included) can show the refund id is not there.
		return processor.Result{}, unreadable("the order's refunds are null, not a list")
	}
	for _, rr := range list {
		if rr.OrderID != "" && rr.OrderID != req.ProcessorOrderID {
			// Another order's refunds (a proxy's cached answer, replies
			// mixed up): the refund id's absence from them proves nothing.
			return processor.Result{}, mismatch(fmt.Sprintf("the list of order %q's refunds, not %q's", clip(rr.OrderID), clip(req.ProcessorOrderID)))
		}
	}
	for _, rr := range list {
		if rr.MerchantRefundID == req.IdempotencyKey {
			return mapRefund(rr, req, cur)
		}
	}
	if len(list) >= maxListed {
		return processor.Result{}, processor.ErrNoStatus
	}
	return processor.Result{}, processor.ErrNotFound
}

// lookupFailed reads a lookup's answer other than 200. A refusal of the
// credentials here says nothing about the refund, so it is an error, never
// a decline.
func lookupFailed(r *upstream.Response) error {
	switch {
	case r.Status == http.StatusOK:
		return nil
	case r.Status == http.StatusNotFound:
		// Proof of "not there" only from SGate's own error body: a proxy's
		// 404 page proves nothing, and ErrNotFound lets the core resubmit.
		var e errorReply
		if json.Unmarshal(r.Body, &e) != nil || e.Code == "" {
			return upstream.NotTheAPIs("sgate", r.Status)
		}
		return processor.ErrNotFound
	case r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden:
		return &processor.TransientError{Code: processor.CodeAuthFailed,
			Message: fmt.Sprintf("sgate refused the account's credentials (HTTP %d) when asked for the refund", r.Status)}
	}
	if _, err, ok := upstream.Classify(r); ok && err != nil {
		return err
	}
	return &processor.TransientError{Code: "unexpected_reply", Message: fmt.Sprintf("sgate answered the lookup with HTTP %d", r.Status)}
}

// mapRefund maps a refund object that must be this refund: its
// merchantRefundId is the refund id, and its amount and currency are
// exactly the refund's. Any other object leaves the outcome unknown.
func mapRefund(rr refundReply, req processor.Request, cur money.Currency) (processor.Result, error) {
	if rr.MerchantRefundID != req.IdempotencyKey {
		return processor.Result{}, mismatch(fmt.Sprintf("merchantRefundId %q, not the refund id", clip(rr.MerchantRefundID)))
	}
	if rr.Currency != req.Currency {
		return processor.Result{}, mismatch(fmt.Sprintf("currency %q, not %s", clip(rr.Currency), req.Currency))
	}
	amount, err := money.ParseDecimal(rr.Amount.String(), cur)
	if err != nil || amount != req.Amount {
		return processor.Result{}, mismatch(fmt.Sprintf("amount %s, not %s", clip(rr.Amount.String()), money.Format(req.Amount, cur)))
	}
	st, ok := statusOf[rr.Status]
	if !ok || rr.ID == "" {
		return processor.Result{}, unreadable(fmt.Sprintf("refund %q has status %q", clip(rr.ID), clip(rr.Status)))
	}
	res := processor.Result{Status: st, Reference: rr.ID, Message: "sgate: refund " + clip(rr.ID) + " " + rr.Status}
	if st != processor.Pending {
		// SGate's refund object has no response code: its status word is
		// all it says ("success", "fail").
		res.ResponseCode = rr.Status
	}
	if t, err := time.Parse(time.RFC3339, rr.UpdatedAt); err == nil && st != processor.Pending {
		res.ExecutedAt = t
	}
	return res, nil
}

func declined(code, msg string) processor.Result {
	return processor.Result{Status: processor.Declined, ResponseCode: clip(code), Message: "sgate: " + msg}
}

func unreadable(msg string) error {
	return &processor.TransientError{Code: "unreadable_reply", Message: "sgate's reply is not the seed's refund object: " + clip(msg)}
}

func mismatch(msg string) error {
	return &processor.TransientError{Code: "reply_mismatch", Message: "sgate answered another refund: " + msg}
}

func or(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

// clip bounds text taken from a reply before it is stored as a message.
func clip(s string) string {
	if len(s) > 300 {
		return strings.ToValidUTF8(s[:300], "") + "…"
	}
	return s
}
