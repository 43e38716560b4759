package paylink

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/upstream"
)

// refundReply is the seed's answer. Every field is read from its raw JSON
// so that the amount never passes through float64 and a field of another
// type makes the answer unreadable instead of zero.
type refundReply struct {
	ID             json.RawMessage `json:"id"`
	OrderNumber    json.RawMessage `json:"orderNumber"`
	Amount         json.RawMessage `json:"amount"`
	Currency       json.RawMessage `json:"currency"`
	CreateDatetime json.RawMessage `json:"createDatetime"`
}

// readRefund turns the processor's answer to a refund into the core's
// terms (the table in the package documentation).
func readRefund(resp *upstream.Response, req processor.Request) (processor.Result, error) {
	if resp.Status == http.StatusOK {
		return readApproved(resp.Body, req)
	}
	if res, err, ok := upstream.Classify(resp); ok {
		if res != nil {
			return *res, nil
		}
		return processor.Result{}, err
	}
	p := problemOf(resp.Body)
	unknown := func(code string) (processor.Result, error) {
		return processor.Result{}, &processor.TransientError{Code: code,
			Message: "the processor answered HTTP " + itoa(resp.Status) + ": " + p.message}
	}
	switch {
	case resp.Status >= 200 && resp.Status < 300:
		// Not the seed's 200: something was accepted, nothing says what.
		return unknown("unexpected_" + itoa(resp.Status))
	case resp.Status == http.StatusConflict,
		p.code == "idempotency_key_reused", p.code == "idempotency_key_in_use", p.code == "merchant_reference_reused":
		// The key is another request's, or still running: whether this
		// refund was executed is not known.
		return unknown(p.or("conflict"))
	case resp.Status == http.StatusUnprocessableEntity && p.code == "refund_declined":
		return processor.Result{Status: processor.Declined, ResponseCode: p.code, Message: p.message,
			Reference: p.id}, nil
	case p.code == processor.CodeNothingLeft || alreadyRefunded(p.message):
		// Nothing left to refund: perhaps because an earlier submission of
		// this very refund, whose answer was lost, executed. Not a decline.
		return unknown(p.or("nothing_left"))
	case !p.json:
		// Not Paylink's answer: a proxy's page (400, 404, 405, 413 ...)
		// says nothing about a refund an earlier, unanswered submission
		// may have made.
		return unknown("unexpected_" + itoa(resp.Status))
	case resp.Status == http.StatusBadRequest:
		return decline(p, "invalid_request"), nil
	case resp.Status == http.StatusNotFound:
		// Whatever the body calls it (route_not_found, a merchant not
		// found): no such order, which the core does not take from a
		// resubmission (processor.CodeNoSuchOrder); the body's code stays
		// in the message.
		return processor.Result{Status: processor.Declined, ResponseCode: processor.CodeNoSuchOrder, Message: withCode(p)}, nil
	case resp.Status >= 400 && resp.Status < 500:
		return decline(p, "http_"+itoa(resp.Status)), nil
	}
	// 1xx, 3xx: not an answer this API gives.
	return unknown("unexpected_" + itoa(resp.Status))
}

// withCode is p's message, led by its code when it has one.
func withCode(p problem) string {
	if p.code == "" {
		return p.message
	}
	return p.code + ": " + p.message
}

func decline(p problem, code string) processor.Result {
	return processor.Result{Status: processor.Declined, ResponseCode: p.or(code), Message: p.message}
}

// readApproved reads a 200: approved only when it names the refund and
// states the amount and currency that were asked; anything else may be a
// refund made on other terms, or none, so the outcome is unknown.
func readApproved(body []byte, req processor.Request) (processor.Result, error) {
	unreadable := func(why string) (processor.Result, error) {
		return processor.Result{}, &processor.TransientError{Code: "unreadable_reply",
			Message: "the processor answered 200 but " + why}
	}
	var r refundReply
	if err := json.Unmarshal(body, &r); err != nil {
		return unreadable("not with the seed's JSON object")
	}
	id, ok := idText(r.ID)
	if !ok {
		return unreadable("without the refund's id")
	}
	var cur string
	if json.Unmarshal(r.Currency, &cur) != nil || cur == "" {
		return unreadable("without its currency")
	}
	if cur != req.Currency {
		return processor.Result{}, &processor.TransientError{Code: "currency_mismatch",
			Message: "the processor refunded in " + clip(cur, 8) + ", not " + req.Currency + " (refund " + id + ")"}
	}
	c, err := money.LookupCurrency(cur)
	if err != nil {
		return unreadable("in an unknown currency")
	}
	amount, err := money.ParseDecimal(number(r.Amount), c)
	if err != nil {
		return unreadable("its amount is not an exact " + cur + " amount")
	}
	if amount != req.Amount {
		return processor.Result{}, &processor.TransientError{Code: "amount_mismatch",
			Message: "the processor refunded " + money.Format(amount, c) + " " + cur + ", not " +
				money.Format(req.Amount, c) + " (refund " + id + ")"}
	}
	var order string
	if len(r.OrderNumber) > 0 && string(r.OrderNumber) != "null" &&
		(json.Unmarshal(r.OrderNumber, &order) != nil || order != req.ProcessorOrderID) {
		return unreadable("for another order")
	}
	res := processor.Result{Status: processor.Approved, ResponseCode: "00", Reference: id,
		Message: "refunded " + money.Format(amount, c) + " " + cur}
	if ms, err := strconv.ParseInt(number(r.CreateDatetime), 10, 64); err == nil && ms > 0 && ms < 1<<50 {
		res.ExecutedAt = time.UnixMilli(ms).UTC()
	}
	return res, nil
}

// idText reads the refund's id: the seed's integer, or a string.
func idText(raw json.RawMessage) (string, bool) {
	if s := number(raw); s != "" {
		if _, err := strconv.ParseUint(s, 10, 64); err == nil {
			return s, true
		}
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil || s == "" || len(s) > 255 || !printable(s) {
		return "", false
	}
	return s, true
}

// number returns a JSON number's literal, "" when raw is not a number.
func number(raw json.RawMessage) string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var n json.Number
	if dec.Decode(&n) != nil {
		return ""
	}
	return n.String()
}

// problem is what an error answer says: refundd's {"code","message","id"},
// or a Spring-style {"title","detail","message"}.
type problem struct {
	code, message, id string
	json              bool // the body was a JSON object with a code or a message
}

func (p problem) or(code string) string {
	if p.code != "" {
		return p.code
	}
	return code
}

// problemOf reads an error body leniently: it is only ever used for words.
func problemOf(body []byte) problem {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return problem{message: clip(strings.TrimSpace(string(body)), 200)}
	}
	str := func(names ...string) string {
		for _, n := range names {
			var s string
			if json.Unmarshal(m[n], &s) == nil && s != "" {
				return s
			}
		}
		return ""
	}
	p := problem{code: str("code"), message: clip(str("message", "detail", "title", "error"), 500)}
	if len(p.code) > 64 || !printable(p.code) {
		p.code = ""
	}
	// An object that says nothing ({}, null, a status alone) is no
	// refusal by Paylink: it may be a proxy's or an API gateway's.
	p.json = p.code != "" || strings.TrimSpace(p.message) != ""
	if id, ok := idText(m["id"]); ok {
		p.id = id
	}
	return p
}

// clip shortens s to n bytes of valid UTF-8 without control characters.
func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	s = strings.ToValidUTF8(s, "")
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// printable: visible ASCII only, as a code, id or token must be.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func itoa(i int) string { return strconv.Itoa(i) }

// alreadyRefunded reports whether a refusal's message says, or may say,
// that the order has no refundable amount left: any mention of it being
// refunded ("already been refunded", "fully refunded", "refunded
// before"). A wording missed here is a decline that releases the money of
// a refund its own lost first submission paid; one caught too many is
// only an unknown outcome, for review.
func alreadyRefunded(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "refunded") || strings.Contains(m, "nothing left") ||
		strings.Contains(m, "more than is left") || strings.Contains(m, "exceeds")
}
