package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/upstream"
)

// refundBody is the seed's request: "amount integer required, >= 1".
type refundBody struct {
	Amount int64 `json:"amount"`
}

// orderReply is what the connector reads of the seed's 200 reply (the
// whole order). Integers decode exactly: encoding/json parses an int64
// field from its literal and refuses fractions and exponents.
type orderReply struct {
	ID           string        `json:"id"`
	Currency     string        `json:"currency"`
	UpdatedAt    string        `json:"updated_at"`
	Transactions []transaction `json:"transactions"`
}

type transaction struct {
	ID                 string  `json:"id"`
	Status             string  `json:"status"`
	Type               string  `json:"type"`
	Message            string  `json:"message"`
	ResponseCode       string  `json:"response_code"`
	RetrievalReference string  `json:"retrieval_reference"`
	STAN               string  `json:"stan"`
	AuthCode           *string `json:"auth_code"`
	Amount             int64   `json:"amount"`
	CreatedAt          string  `json:"created_at"`
}

// errorReply is the seed's 400, 401, 403 and 422 body.
type errorReply struct {
	Message string              `json:"message"`
	Errors  map[string][]string `json:"errors"`
}

// statusOf maps a refund transaction's status to the core's. A status not
// here is not understood: the outcome is unknown, never approved.
var statusOf = map[string]processor.Status{
	"approved":   processor.Approved,
	"declined":   processor.Declined,
	"reversed":   processor.Reversed,
	"pending":    processor.Pending,
	"processing": processor.Pending,
}

// read turns the gateway's answer to a refund request into the core's
// terms (see the package documentation for the table).
func read(r *upstream.Response, req processor.Request) (processor.Result, error) {
	if res, err, ok := upstream.Classify(r); ok {
		if res != nil {
			return *res, nil
		}
		return processor.Result{}, err
	}
	switch {
	case r.Status >= 200 && r.Status < 300:
		return readOrder(r, req)
	case r.Status == http.StatusBadRequest:
		// The seed's only 400: a request with this key is still running
		// (or gave up retrying); it may yet execute.
		var e errorReply
		_ = json.Unmarshal(r.Body, &e)
		return processor.Result{}, &processor.TransientError{Code: "in_progress",
			Message: "gateway answered 400: " + clip(or(e.Message, "no message"))}
	case r.Status == http.StatusRequestTimeout || r.Status == http.StatusConflict || r.Status == http.StatusTooEarly:
		return processor.Result{}, &processor.TransientError{Code: fmt.Sprintf("http_%d", r.Status),
			Message: fmt.Sprintf("gateway answered HTTP %d", r.Status)}
	case r.Status >= 400 && r.Status < 500:
		e, ok := seedError(r.Body)
		if !ok && r.Status == http.StatusUnprocessableEntity {
			return processor.Result{}, &processor.TransientError{Code: "unreadable_reply",
				Message: "gateway answered 422 with a body that is not the seed's"}
		}
		if !ok {
			// Not the gateway's refusal: a proxy's page or JSON ({}, null,
			// another shape) says nothing about a refund an earlier,
			// unanswered attempt may have made.
			return processor.Result{}, upstream.NotTheAPIs("gateway", r.Status)
		}
		switch r.Status {
		case http.StatusNotFound:
			return declined(processor.CodeNoSuchOrder, "the gateway has no such order"), nil
		case http.StatusUnprocessableEntity:
			return readInvalid(e)
		}
		return declined(fmt.Sprintf("http_%d", r.Status), e.Message), nil
	}
	return processor.Result{}, &processor.TransientError{Code: "unexpected_reply",
		Message: fmt.Sprintf("gateway answered HTTP %d", r.Status)}
}

// readInvalid reads the seed's 422 {"message","errors":{field:[...]}}: the
// refund was refused before it executed, except when the key is the field
// at fault: then a refund with this key exists (with another request), and
// what became of it is unknown.
func readInvalid(e errorReply) (processor.Result, error) {
	fields := make([]string, 0, len(e.Errors))
	for f := range e.Errors {
		fields = append(fields, f)
	}
	slices.Sort(fields)
	var parts []string
	for _, f := range fields {
		parts = append(parts, f+": "+strings.Join(e.Errors[f], " "))
	}
	msg := clip(strings.Join(append([]string{or(e.Message, "validation failed")}, parts...), "; "))
	if _, ok := e.Errors["Idempotency-Key"]; ok {
		return processor.Result{}, &processor.TransientError{Code: "idempotency_key_reused", Message: "gateway: " + msg}
	}
	if texts, ok := e.Errors["amount"]; ok {
		t := strings.ToLower(strings.Join(texts, " "))
		if strings.Contains(t, "less than or equal") || strings.Contains(t, "exceeds") {
			return declined(processor.CodeNothingLeft, msg), nil
		}
		return declined("invalid_amount", msg), nil
	}
	return declined("validation_failed", msg), nil
}

// seedError reads the seed's error body: a JSON object with a message.
// ok is false for anything else ({}, null, a page, another shape), which
// is no refusal by the gateway.
func seedError(body []byte) (e errorReply, ok bool) {
	if json.Unmarshal(body, &e) != nil || strings.TrimSpace(e.Message) == "" {
		return errorReply{}, false
	}
	return e, true
}

// readOrder finds this request's refund in the 200 reply (the whole order)
// and maps it.
func readOrder(r *upstream.Response, req processor.Request) (processor.Result, error) {
	var o orderReply
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	if err := dec.Decode(&o); err != nil {
		return processor.Result{}, &processor.TransientError{Code: "unreadable_reply",
			Message: "gateway answered 200 with a body that is not the seed's order: " + clip(err.Error())}
	}
	if o.ID != req.ProcessorOrderID {
		// Another order's reply (a proxy's cached answer, replies mixed
		// up): its transactions say nothing about this refund.
		return processor.Result{}, &processor.TransientError{Code: "order_mismatch",
			Message: fmt.Sprintf("gateway answered with order %q, the refund is of %q", clip(o.ID), clip(req.ProcessorOrderID))}
	}
	if o.Currency != req.Currency {
		// The order at the gateway is not the one refundd's request named:
		// the amount meant something else there.
		return processor.Result{}, &processor.TransientError{Code: "currency_mismatch",
			Message: fmt.Sprintf("gateway's order is in %q, the refund in %s", clip(o.Currency), req.Currency)}
	}
	tx := ours(o, req.Amount)
	if tx == nil {
		return processor.Result{Status: processor.Pending, Message: "gateway accepted the refund; " +
			"its reply shows no result for it yet"}, nil
	}
	st, ok := statusOf[tx.Status]
	if !ok {
		return processor.Result{}, &processor.TransientError{Code: "unreadable_reply",
			Message: fmt.Sprintf("gateway answered an unknown refund status %q", clip(tx.Status))}
	}
	res := processor.Result{Status: st, ResponseCode: tx.ResponseCode, Message: tx.Message,
		RRN: tx.RetrievalReference, STAN: tx.STAN, Reference: tx.ID}
	if tx.AuthCode != nil {
		res.AuthCode = *tx.AuthCode
	}
	if t, err := time.Parse(time.RFC3339, tx.CreatedAt); err == nil && st != processor.Pending {
		res.ExecutedAt = t
	}
	if st == processor.Declined && res.ResponseCode == "" {
		res.ResponseCode = "declined"
	}
	return res, nil
}

// ours is the order's newest refund transaction when it can be this
// request's: an id, this amount, and not older than the order's last
// change. nil otherwise (see the package documentation).
func ours(o orderReply, amount int64) *transaction {
	for i := len(o.Transactions) - 1; i >= 0; i-- {
		t := &o.Transactions[i]
		if t.Type != "refund" {
			continue
		}
		if t.ID == "" || t.Amount != amount {
			return nil
		}
		created, err1 := time.Parse(time.RFC3339, t.CreatedAt)
		updated, err2 := time.Parse(time.RFC3339, o.UpdatedAt)
		if err1 != nil || err2 != nil || created.Before(updated) {
			return nil
		}
		return t
	}
	return nil
}

func declined(code, msg string) processor.Result {
	return processor.Result{Status: processor.Declined, ResponseCode: code, Message: "gateway: " + msg}
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
