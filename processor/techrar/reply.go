package techrar

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/refundd/refundd/money"
	"github.com/refundd/refundd/processor"
	"github.com/refundd/refundd/processor/upstream"
)

// invoiceReply is what the connector reads of the seed's refund invoice.
// Ids and amounts are kept raw so that an amount never passes through
// float64; a field of another type makes the answer unreadable, not zero.
type invoiceReply struct {
	ID              json.RawMessage `json:"id"`
	Type            string          `json:"type"`
	Status          string          `json:"status"`
	Serial          string          `json:"serial"`
	Currency        string          `json:"currency"`
	TotalAmount     json.RawMessage `json:"total_amount"`
	RefundedInvoice *struct {
		ID json.RawMessage `json:"id"`
	} `json:"refunded_invoice"`
	Transactions []transactionReply `json:"transactions"`
}

type transactionReply struct {
	Type            string          `json:"type"`
	Status          string          `json:"status"`
	Currency        string          `json:"currency"`
	ReceivedAmount  json.RawMessage `json:"received_amount"`
	CreatedAt       string          `json:"created_at"`
	ProviderStatus  string          `json:"provider_status"`
	ProviderDetails json.RawMessage `json:"provider_details"` // read leniently: only words come from it
}

// transactionStatuses is the one table from a refund transaction's status
// to the core's. Anything else is unreadable: the outcome stays unknown.
var transactionStatuses = map[string]processor.Status{
	"captured":  processor.Approved, // the seed's refunded transaction (provider_status REFUNDED)
	"pending":   processor.Pending,
	"failed":    processor.Declined,
	"canceled":  processor.Declined, // withdrawn before it reached the provider
	"cancelled": processor.Declined,
	"reversed":  processor.Reversed,
}

// invoiceStatuses stands in when the refund invoice lists no transaction.
var invoiceStatuses = map[string]processor.Status{
	"paid":    processor.Approved,
	"pending": processor.Pending,
	"void":    processor.Declined,
}

// readRefund turns the processor's answer to a refund into the core's
// terms (the table in the package documentation).
func readRefund(resp *upstream.Response, req processor.Request) (processor.Result, error) {
	if resp.Status == http.StatusOK {
		return readInvoice(resp.Body, req)
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
			Message: "the processor answered HTTP " + strconv.Itoa(resp.Status) + ": " + p.message}
	}
	decline := func(code string) (processor.Result, error) {
		return processor.Result{Status: processor.Declined, ResponseCode: p.or(code), Message: p.message}, nil
	}
	switch {
	case resp.Status >= 200 && resp.Status < 300:
		// Not the seed's 200: something was accepted, nothing says what.
		return unknown("unexpected_" + strconv.Itoa(resp.Status))
	case resp.Status == http.StatusConflict,
		p.code == "idempotency_key_reused", p.code == "idempotency_key_in_use", p.code == "merchant_reference_reused":
		// The key is another request's, or still running: whether this
		// refund was executed is not known.
		return unknown(p.or("conflict"))
	case resp.Status == http.StatusBadRequest:
		return decline("invalid_request")
	case resp.Status == http.StatusNotFound:
		// No such invoice, whatever the body calls it: the core does not
		// take that from a resubmission (processor.CodeNoSuchOrder); the
		// body's code stays in the message.
		msg := p.message
		if p.code != "" {
			msg = p.code + ": " + msg
		}
		return processor.Result{Status: processor.Declined, ResponseCode: processor.CodeNoSuchOrder, Message: msg}, nil
	case resp.Status >= 400 && resp.Status < 500:
		return decline("http_" + strconv.Itoa(resp.Status))
	}
	return unknown("unexpected_" + strconv.Itoa(resp.Status))
}

// readStatus reads the answer to a lookup of the refund invoice. Only a
// readable refund invoice is an answer about the refund: a refusal of the
// credentials, a missing invoice or a failure is an error (nothing known).
func readStatus(resp *upstream.Response, req processor.Request) (processor.Result, error) {
	if resp.Status == http.StatusOK {
		return readInvoice(resp.Body, req)
	}
	if _, err, ok := upstream.Classify(resp); ok && err != nil {
		return processor.Result{}, err
	}
	p := problemOf(resp.Body)
	code := "lookup_" + strconv.Itoa(resp.Status)
	switch resp.Status {
	case http.StatusUnauthorized, http.StatusForbidden:
		code = processor.CodeAuthFailed
	case http.StatusNotFound:
		code = "reference_not_found"
	}
	return processor.Result{}, &processor.TransientError{Code: code,
		Message: "looking up refund invoice " + req.Reference + ": HTTP " + strconv.Itoa(resp.Status) + ": " + p.message}
}

// readInvoice reads a refund invoice: an answer only when it is a refund
// invoice of the tax invoice refunded, in the currency asked, and (unless
// it failed) of the amount asked; anything else may be a refund made on
// other terms, or none, so the outcome is unknown.
func readInvoice(body []byte, req processor.Request) (processor.Result, error) {
	unreadable := func(why string) (processor.Result, error) {
		return processor.Result{}, &processor.TransientError{Code: "unreadable_reply",
			Message: "the processor's refund invoice " + why}
	}
	var inv invoiceReply
	if err := json.Unmarshal(body, &inv); err != nil {
		return unreadable("is not the seed's JSON object")
	}
	id, ok := positive(inv.ID)
	if !ok {
		return unreadable("has no id")
	}
	if inv.Type != "refund" {
		return unreadable(id + " is not a refund invoice")
	}
	if inv.RefundedInvoice == nil {
		return unreadable(id + " names no refunded invoice")
	}
	if parent, _ := positive(inv.RefundedInvoice.ID); parent != req.ProcessorOrderID {
		return unreadable(id + " refunds another invoice")
	}
	var txn *transactionReply
	for i := range inv.Transactions {
		if inv.Transactions[i].Type == "refund" {
			if txn != nil {
				return unreadable(id + " lists more than one refund transaction")
			}
			txn = &inv.Transactions[i]
		}
	}
	status, ok := invoiceStatuses[inv.Status]
	cur, amount, created, code := inv.Currency, inv.TotalAmount, "", inv.Status
	if txn != nil {
		status, ok = transactionStatuses[txn.Status]
		amount, created, code = txn.ReceivedAmount, txn.CreatedAt, txn.Status
		if txn.Currency != "" {
			cur = txn.Currency
		}
		if txn.ProviderStatus != "" {
			code = txn.ProviderStatus
		}
	}
	if !ok {
		return unreadable(id + " has a status the connector does not know")
	}
	if cur != req.Currency {
		return processor.Result{}, &processor.TransientError{Code: "currency_mismatch",
			Message: "refund invoice " + id + " is in " + clip(cur, 8) + ", not " + req.Currency}
	}
	c, err := money.LookupCurrency(cur)
	if err != nil {
		return unreadable(id + " is in an unknown currency")
	}
	res := processor.Result{Status: status, Reference: id,
		Message: clip("refund invoice "+inv.Serial+" "+inv.Status+"; refund "+code, 300)}
	if status != processor.Declined {
		// A refund of another amount than asked moved other money.
		got, err := money.ParseDecimal(number(amount), c)
		if err != nil {
			return unreadable(id + " has no exact " + cur + " amount")
		}
		if got != req.Amount {
			return processor.Result{}, &processor.TransientError{Code: "amount_mismatch",
				Message: "refund invoice " + id + " refunds " + money.Format(got, c) + " " + cur + ", not " + money.Format(req.Amount, c)}
		}
	}
	switch status {
	case processor.Approved:
		res.ResponseCode = "00"
	case processor.Declined:
		res.ResponseCode = "failed"
		if printable(code) && len(code) <= 64 {
			res.ResponseCode = strings.ToLower(code)
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, created); err == nil && status != processor.Pending {
		res.ExecutedAt = t.UTC()
	}
	if txn != nil {
		res.RRN, res.AuthCode = gatewayReference(txn.ProviderDetails)
	}
	return res, nil
}

// gatewayReference reads the provider's references (MyFatoorah's
// GatewayReference) for the record; a body without them gives none.
func gatewayReference(raw json.RawMessage) (rrn, auth string) {
	var d struct {
		GatewayReference struct {
			ReferenceID   json.RawMessage `json:"ReferenceId"`
			TransactionID json.RawMessage `json:"TransactionId"`
		} `json:"GatewayReference"`
	}
	if json.Unmarshal(raw, &d) != nil {
		return "", ""
	}
	word := func(raw json.RawMessage) string {
		var s string
		if json.Unmarshal(raw, &s) != nil || len(s) > 64 || !printable(s) {
			return ""
		}
		return s
	}
	return word(d.GatewayReference.ReferenceID), word(d.GatewayReference.TransactionID)
}

// positive reads a positive JSON integer as its decimal text.
func positive(raw json.RawMessage) (string, bool) {
	s := number(raw)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || strconv.FormatInt(n, 10) != s {
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

// problem is what an error answer says: refundd's
// {"detail","code","field"}, or Django REST framework's {"detail"} and
// {"<field>":["<message>"]}.
type problem struct{ code, message string }

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
	var p problem
	if json.Unmarshal(m["code"], &p.code) != nil || len(p.code) > 64 || !printable(p.code) {
		p.code = ""
	}
	_ = json.Unmarshal(m["detail"], &p.message)
	if p.message == "" {
		// Field errors: the first field, in order, and its first message.
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			var msgs []string
			if json.Unmarshal(m[k], &msgs) == nil && len(msgs) > 0 {
				p.message = k + ": " + msgs[0]
				break
			}
		}
	}
	p.message = clip(p.message, 500)
	return p
}

// clip shortens s to n bytes of valid UTF-8 without control characters.
func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, ""))
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
